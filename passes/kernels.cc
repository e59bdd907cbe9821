#include "passes/kernels.h"

#include <algorithm>
#include <cstring>

namespace reinit {

namespace sse2 {
void GenerateChunk(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out);
}
namespace avx2 {
void GenerateChunk(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out);
}

namespace {
using ChunkFn = void (*)(const TensorRng&, Draw, float, uint64_t, float*);
ChunkFn Pick() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? &avx2::GenerateChunk : &sse2::GenerateChunk;
}
const ChunkFn kChunkFn = Pick();
}  // namespace

void GenerateChunkF32(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out) {
  kChunkFn(rng, draw, scale, chunk, out);
}

void GenerateChunkF32Baseline(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out) {
  sse2::GenerateChunk(rng, draw, scale, chunk, out);
}

void GenerateF32(const TensorRng& rng, Draw draw, float scale, uint64_t first, size_t n, float* out) {
  alignas(64) float scratch[kChunk];
  uint64_t i = first;
  const uint64_t end = first + n;
  while (i < end) {
    const uint64_t chunk = i / kChunk;
    const uint64_t offset = i % kChunk;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(kChunk - offset, end - i));
    if (offset == 0 && take == kChunk) {
      GenerateChunkF32(rng, draw, scale, chunk, out + (i - first));
    } else {
      GenerateChunkF32(rng, draw, scale, chunk, scratch);
      std::memcpy(out + (i - first), scratch + offset, take * sizeof(float));
    }
    i += take;
  }
}

}  // namespace reinit
