// The generation kernel for AVX2 machines (8 floats per vector; still no FMA, so the same bits).
#define KERNEL_ISA avx2
#include "passes/gen/kernels_impl.inc"
