// The note's formulas, and the fills that realise them over a row's tensor.
//   Xavier:  std = gain*sqrt(2/(n_in+n_out)),      bound = gain*sqrt(6/(n_in+n_out))
//   He:      std = gain*sqrt(2/((1+a^2)*n_in)),    bound = sqrt(3)*std    (a: leaky slope, 0 for ReLU)
//   LeCun:   std = gain*sqrt(1/n_in),              bound = gain*sqrt(3/n_in)
//   Orthogonal: QR of a Gaussian matrix, sign of diag(R) folded into Q, times gain.
#pragma once

#include <cstdint>
#include <vector>

#include "passes/graph/param_table.h"
#include "passes/graph/status.h"

namespace reinit {

double XavierStd(double fan_in, double fan_out, double gain = 1.0);
double XavierBound(double fan_in, double fan_out, double gain = 1.0);
double HeStd(double fan_in, double slope = 0.0, double gain = 1.0);
double HeBound(double fan_in, double slope = 0.0, double gain = 1.0);
double LeCunStd(double fan_in, double gain = 1.0);
double LeCunBound(double fan_in, double gain = 1.0);

// A uniform distribution with standard deviation `std` has bound sqrt(3)*std.
inline double UniformBoundForStd(double std) { return 1.7320508075688772 * std; }

// Generates the new values of `row`'s tensor (row.init.scheme, distribution, std/bound, gain, constant,
// and for orthogonal the gate-block layout) as doubles, in element order. `threads`: 0 is one per core.
Status GenerateValues(const ParamRow& row, uint64_t seed, unsigned threads, std::vector<double>* values);

// Preset proxy: elements [first, first + n) of `row` (row.init.proxy), element i = mean[c] + std[c] * z_i
// with c its channel and z_i the tensor's standard normal stream (the float32 kernel's, as every other
// draw), in double; the tensor's type rounds them once when they are stored.
void ProxyValues(const ParamRow& row, uint64_t seed, uint64_t first, size_t n, double* out);

// Fills `out` (rows x cols, row-major, starting at element `first` of the tensor's stream) with an
// orthogonal matrix times gain: rows orthonormal when rows <= cols, columns orthonormal otherwise.
// The same values for any `threads` (0: one per core).
void FillOrthogonal(uint64_t seed, const std::string& tensor_name, uint64_t first, int64_t rows, int64_t cols,
                    double gain, double* out, unsigned threads = 0);

}  // namespace reinit
