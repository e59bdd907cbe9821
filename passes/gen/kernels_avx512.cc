// The generation kernel for AVX-512 machines (16 lanes; still no FMA contraction, so the same bits).
#define KERNEL_ISA avx512
#include "passes/gen/kernels_impl.inc"
