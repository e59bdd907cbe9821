#include "passes/gen/kernels.h"

#include <cpuid.h>

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
REINIT_DECLARE_KERNEL(avx512)
#undef REINIT_DECLARE_KERNEL

namespace {
struct Kernel {
  decltype(&sse2::GenerateChunk) generate;
  decltype(&sse2::FillChunk) fill;
};
constexpr Kernel kKernels[] = {{sse2::GenerateChunk, sse2::FillChunk},
                               {avx2::GenerateChunk, avx2::FillChunk},
                               {avx512::GenerateChunk, avx512::FillChunk}};

// F16C from CPUID leaf 1 (ECX bit 29): not every compiler's __builtin_cpu_supports knows "f16c".
bool HasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

bool Supported(Isa isa) {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && HasF16c();
  switch (isa) {
    case Isa::kSse2: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  }
  return false;
}

const Kernel& Widest() {
  static const Kernel& kernel = kKernels[static_cast<int>(Supported(Isa::kAvx512) ? Isa::kAvx512
                                                           : Supported(Isa::kAvx2) ? Isa::kAvx2
                                                                                   : Isa::kSse2)];
  return kernel;
}
}  // namespace

bool IsaSupported(Isa isa) { return Supported(isa); }

void FillChunk(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, Storage storage, size_t len, void* out,
               ChunkStats* stats) {
  Widest().fill(rng, draw, scale, chunk, storage, len, out, stats);
}

void FillChunk(Isa isa, const TensorRng& rng, Draw draw, float scale, uint64_t chunk, Storage storage, size_t len,
               void* out, ChunkStats* stats) {
  kKernels[static_cast<int>(isa)].fill(rng, draw, scale, chunk, storage, len, out, stats);
}

void GenerateChunkF32(const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out) {
  Widest().generate(rng, draw, scale, chunk, out);
}

void GenerateChunkF32(Isa isa, const TensorRng& rng, Draw draw, float scale, uint64_t chunk, float* out) {
  kKernels[static_cast<int>(isa)].generate(rng, draw, scale, chunk, out);
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
