// Fast float32 generation: Philox4x32-10 over arrays (with the CPU's even-lane multiply) and the uniform
// and Box-Muller transforms as loops of float arithmetic (log and sincos by Cephes' polynomials).
//
// Determinism: the stream is cut into fixed chunks of kChunk elements on a global grid, and every chunk
// is always computed whole by the same code, so element i of a tensor is the same whichever range,
// thread or offset asks for it. Element i uses Philox block i/4 (as TensorRng does): words 0,1 of the
// block make elements 4b and 4b+1 (r*cos, r*sin), words 2,3 make 4b+2 and 4b+3.
// The kernel is compiled for SSE2, AVX2 (+F16C) and AVX-512 and picked at run time; none uses FMA or
// contraction, so the same bytes come out on every x86-64 machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "passes/gen/rng.h"

namespace reinit {

inline constexpr size_t kChunk = 1024;

enum class Draw { kUniform, kNormal, kTruncatedNormal };

// How a tensor stores its values: float32, or the 16-bit patterns of float16 / bfloat16 (rounded to
// nearest even).
enum class Storage { kFloat32, kFloat16, kBFloat16 };

// Sums, min and max of the stored values of some chunks.
struct ChunkStats {
  double sum = 0, sum_sq = 0;
  float min = std::numeric_limits<float>::infinity(), max = -std::numeric_limits<float>::infinity();
};

// Elements [first, first + n) of the stream of `rng`: U(-scale, scale), N(0, scale^2), or the normal cut
// at +-2 sigma with sigma = scale / 0.8796 (std = scale).
void GenerateF32(const TensorRng& rng, Draw draw, float scale, uint64_t first, size_t n, float* out);

// The kernel's builds. The widest the CPU has is used; all give the same bits (the tests check it).
enum class Isa { kSse2, kAvx2, kAvx512 };
bool IsaSupported(Isa isa);

// One whole chunk (elements [chunk * kChunk, (chunk + 1) * kChunk)), with the widest instruction set the
// CPU has, or with the given one (which the CPU must support).
void GenerateChunkF32(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out);
void GenerateChunkF32(Isa isa, const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out);

// Generates chunk `chunk`, stores its first `len` (<= kChunk) elements at `out` as `storage` and adds
// what was stored to `stats`. The tensor fill's inner loop: one pass over the chunk while it is in cache.
void FillChunk(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, Storage storage, size_t len, void* out,
               ChunkStats* stats);
void FillChunk(Isa isa, const TensorRng& rng, Draw draw, float scale, uint64_t chunk, Storage storage, size_t len,
               void* out, ChunkStats* stats);

}  // namespace reinit
