// Householder QR for AVX2+FMA machines. Eigen is compiled here under its own namespace name: its
// inline functions built with AVX2 must not be the copies the linker keeps for the baseline code.
#define Eigen reinit_eigen_avx2
#define KERNEL_ISA avx2
#include "passes/gen/orthogonal_impl.inc"
