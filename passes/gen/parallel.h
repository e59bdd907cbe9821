// A parallel for over task indices, for kernels compiled for other instruction sets: a plain function
// pointer and context, so no std:: template is instantiated in those translation units (an inline
// function compiled there for AVX2 could be the copy the linker keeps for the whole program).
#pragma once

#include <cstdint>

namespace reinit {

// Runs fn(ctx, i) for i in [0, tasks) on up to `threads` threads (0: one per core), tasks taken in
// order as threads become free. The caller's thread works too. Results must not depend on which
// thread runs a task: callers cut their work on a fixed grid.
void ParallelFor(int64_t tasks, unsigned threads, void (*fn)(void* ctx, int64_t task), void* ctx);

// Threads meant by a --threads value: 0 is one per core.
unsigned ThreadCount(unsigned threads);

}  // namespace reinit
