// Orthonormal columns by blocked Householder QR, the trailing updates and the forming of Q run on
// several threads. Compiled for the x86-64 baseline and for AVX2+FMA (picked at run time).
//
// Determinism: the parallel work is cut into column groups on a fixed grid and Eigen's product
// blocking is set from fixed cache sizes, so Q is the same for any thread count and on any machine
// with the same instruction set. Between AVX2+FMA and older CPUs the last bits of the doubles may
// differ (fused multiply-adds round once): orthogonality and distribution are the same.
#pragma once

#include <cstdint>

namespace reinit {

// a: rows x cols, column-major, rows >= cols; replaced by the Q of a = QR with the signs of diag(R)
// folded in (Q * sign(diag(R)), so Q of a Gaussian matrix is Haar distributed; Mezzadri 2007).
// `threads`: 0 is one per core.
void OrthonormalizeColumns(double* a, int64_t rows, int64_t cols, unsigned threads);

// The same with the baseline build, whatever the CPU (for tests).
void OrthonormalizeColumnsBaseline(double* a, int64_t rows, int64_t cols, unsigned threads);

}  // namespace reinit
