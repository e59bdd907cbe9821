#include "passes/kernels.h"

#include <algorithm>
#include <cstring>

namespace reinit {

// Each instruction set's kernel (kernels_impl.inc) declares these two.
#define REINIT_DECLARE_KERNEL(isa)                                                                            \
  namespace isa {                                                                                             \
  void GenerateChunk(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out);               \
  void FillChunk(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, Storage storage, size_t len,    \
                 void* out, ChunkStats* stats);                                                               \
  }
REINIT_DECLARE_KERNEL(sse2)
REINIT_DECLARE_KERNEL(avx2)
#undef REINIT_DECLARE_KERNEL

namespace {
bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
}
const bool kAvx2 = HasAvx2();
}  // namespace

void FillChunk(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, Storage storage, size_t len, void* out,
               ChunkStats* stats) {
  (kAvx2 ? avx2::FillChunk : sse2::FillChunk)(rng, draw, scale, chunk, storage, len, out, stats);
}

void FillChunkBaseline(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, Storage storage, size_t len,
                       void* out, ChunkStats* stats) {
  sse2::FillChunk(rng, draw, scale, chunk, storage, len, out, stats);
}

void GenerateChunkF32(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out) {
  (kAvx2 ? avx2::GenerateChunk : sse2::GenerateChunk)(rng, draw, scale, chunk, out);
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
