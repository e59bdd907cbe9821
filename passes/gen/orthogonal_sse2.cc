// Householder QR for the x86-64 baseline (SSE2).
#define KERNEL_ISA sse2
#include "passes/gen/orthogonal_impl.inc"
