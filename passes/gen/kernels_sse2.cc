// The generation kernel for the x86-64 baseline (SSE2).
#define KERNEL_ISA sse2
#include "passes/gen/kernels_impl.inc"
