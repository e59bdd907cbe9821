#include "passes/gen/rng.h"

#include "passes/gen/kernels.h"

#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>

#include <cmath>
#include <cstring>
#include <vector>

namespace reinit {
namespace {

// Random123's kat_vectors, the three philox4x32 10-round lines: counter, key -> output.
TEST(Philox, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(Philox4x32_10({0, 0, 0, 0}, {0, 0}), (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(TensorRng, ElementDependsOnlyOnSeedNameAndIndex) {
  const TensorRng a(42, "layer.weight");
  std::vector<double> whole(1000), part(100);
  a.Normal(0, whole.size(), 1.0, whole.data());
  // Any chunk, started anywhere (also mid-block), reproduces the same elements.
  a.Normal(517, part.size(), 1.0, part.data());
  for (size_t i = 0; i < part.size(); ++i) ASSERT_EQ(part[i], whole[517 + i]) << i;
  // A second generator with the same key gives the same stream.
  const TensorRng b(42, "layer.weight");
  EXPECT_EQ(b.Bits(999), a.Bits(999));
}

TEST(TensorRng, SeedAndNameChangeTheStream) {
  const TensorRng base(1, "w"), other_seed(2, "w"), other_name(1, "w2");
  int same_seed = 0, same_name = 0;
  for (uint64_t i = 0; i < 256; ++i) {
    same_seed += base.Bits(i) == other_seed.Bits(i);
    same_name += base.Bits(i) == other_name.Bits(i);
  }
  // Equal 32-bit words by chance: expected 256 / 2^32, so any match means the key is not used.
  EXPECT_EQ(same_seed, 0);
  EXPECT_EQ(same_name, 0);
}

// Sample mean and variance of n draws; tolerances are 6 standard errors, derived from n.
struct Moments {
  double mean = 0, var = 0;
};
Moments Measure(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= v.size();
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= v.size();
  return m;
}

TEST(TensorRng, UniformHasTheRightMoments) {
  const size_t n = 200000;
  const double b = 0.2;
  std::vector<double> v(n);
  TensorRng(7, "u").Uniform(0, n, -b, b, v.data());
  for (double x : v) ASSERT_TRUE(x > -b && x < b);
  const Moments m = Measure(v);
  const double var = b * b / 3;                            // variance of U(-b, b)
  const double var_of_var = (b * b * b * b / 5 - var * var) / n;  // (mu4 - sigma^4) / n
  EXPECT_NEAR(m.mean, 0.0, 6 * std::sqrt(var / n));
  EXPECT_NEAR(m.var, var, 6 * std::sqrt(var_of_var));
}

TEST(TensorRng, NormalHasTheRightMoments) {
  const size_t n = 200000;
  const double s = 0.5;
  std::vector<double> v(n);
  TensorRng(7, "n").Normal(0, n, s, v.data());
  const Moments m = Measure(v);
  const double var = s * s;
  EXPECT_NEAR(m.mean, 0.0, 6 * std::sqrt(var / n));
  EXPECT_NEAR(m.var, var, 6 * std::sqrt(2 * var * var / n));  // Var(s^2) = 2 sigma^4 / n
  // Tail mass beyond 2 sigma: 4.55% for a normal; binomial standard error from n.
  double tail = 0;
  for (double x : v) tail += std::fabs(x) > 2 * s;
  tail /= n;
  EXPECT_NEAR(tail, 0.0455, 6 * std::sqrt(0.0455 * (1 - 0.0455) / n));
}

// The float kernel computes the same function as the scalar reference: Box-Muller in double on the
// same Philox words (23-bit uniforms (2k + 1) / 2^24), to float precision.
TEST(Kernels, NormalMatchesTheDoublePrecisionReference) {
  const TensorRng rng(3, "kernel");
  std::vector<float> f(1 << 18);
  // From the start, and from far enough that the counter's high word is in use.
  for (const uint64_t first : {uint64_t{0}, uint64_t{1} << 42}) {
    GenerateF32(rng, Draw::kNormal, 1.0f, first, f.size(), f.data());
    double worst = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      const uint64_t b = (first + i) / 4;
      const int lane = static_cast<int>(i % 4), pair = lane / 2 * 2;
      const auto w = Philox4x32_10({static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32),
                                    static_cast<uint32_t>(rng.name_hash()), static_cast<uint32_t>(rng.name_hash() >> 32)},
                                   rng.key());
      const double u1 = (2.0 * (w[pair] >> 9) + 1) / 16777216.0, u2 = (2.0 * (w[pair + 1] >> 9) + 1) / 16777216.0;
      const double r = std::sqrt(-2 * std::log(u1)), a = 6.283185307179586 * u2;
      const double ref = r * (lane % 2 == 0 ? std::cos(a) : std::sin(a));
      worst = std::max(worst, std::fabs(ref - f[i]) / std::max(1.0, std::fabs(ref)));
    }
    EXPECT_LT(worst, 1e-6) << "from " << first;  // within 8 float ulps
  }
}

TEST(Kernels, AnyRangeGivesTheSameElements) {
  const TensorRng rng(8, "w");
  for (Draw draw : {Draw::kUniform, Draw::kNormal, Draw::kTruncatedNormal}) {
    std::vector<float> whole(5000), part(1777);
    GenerateF32(rng, draw, 0.3f, 0, whole.size(), whole.data());
    GenerateF32(rng, draw, 0.3f, 1001, part.size(), part.data());  // starts mid-chunk, ends mid-chunk
    for (size_t i = 0; i < part.size(); ++i) ASSERT_EQ(part[i], whole[1001 + i]) << i;
  }
}

TEST(Kernels, UniformAndTruncatedStayInRange) {
  const TensorRng rng(9, "w");
  const size_t n = 1 << 18;
  std::vector<float> u(n), t(n);
  GenerateF32(rng, Draw::kUniform, 0.2f, 0, n, u.data());
  GenerateF32(rng, Draw::kTruncatedNormal, 0.1f, 0, n, t.data());
  const double sigma = 0.1 / 0.87962566103423978;
  double sq = 0;
  for (size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(u[i] > -0.2f && u[i] < 0.2f) << u[i];
    ASSERT_LE(std::fabs(t[i]), 2 * sigma * (1 + 1e-6)) << t[i];
    sq += static_cast<double>(t[i]) * t[i];
  }
  // Truncated normal keeps the requested std (6 standard errors of the variance estimate).
  EXPECT_NEAR(sq / n, 0.01, 6 * std::sqrt(2.0 * 1e-4 / n));
}

TEST(Kernels, EveryInstructionSetGivesTheSameBits) {
  const TensorRng rng(4, "isa");
  for (const Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (Draw draw : {Draw::kUniform, Draw::kNormal, Draw::kTruncatedNormal}) {
      for (uint64_t chunk : {uint64_t{0}, uint64_t{1}, uint64_t{77777}, uint64_t{1} << 33}) {
        float a[kChunk], b[kChunk];
        GenerateChunkF32(isa, rng, draw, 0.7f, chunk, a);
        GenerateChunkF32(Isa::kSse2, rng, draw, 0.7f, chunk, b);
        ASSERT_EQ(std::memcmp(a, b, sizeof a), 0) << "isa " << static_cast<int>(isa) << " chunk " << chunk;
      }
    }
  }
}

// float16 / bfloat16 storage rounds to nearest even exactly as Eigen's types do, with both kernels, from
// subnormal halves (scale 1e-6) to overflow (scale 3e4), and the stats describe what was stored.
TEST(Kernels, StoredTypesRoundLikeEigenOnEveryInstructionSet) {
  const TensorRng rng(5, "store");
  for (const float scale : {1e-6f, 0.7f, 3e4f}) {
    for (const Storage storage : {Storage::kFloat16, Storage::kBFloat16}) {
      for (const uint64_t chunk : {uint64_t{0}, uint64_t{12345}}) {
        float ref[kChunk];
        GenerateChunkF32(Isa::kSse2, rng, Draw::kNormal, scale, chunk, ref);
        uint16_t expected[kChunk];
        double sum = 0;
        for (size_t j = 0; j < kChunk; ++j) {
          expected[j] = storage == Storage::kFloat16 ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(ref[j]))
                                                     : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(ref[j]));
          sum += storage == Storage::kFloat16 ? static_cast<double>(Eigen::half(ref[j]))
                                              : static_cast<double>(Eigen::bfloat16(ref[j]));
        }
        ChunkStats baseline;
        for (const Isa isa : {Isa::kSse2, Isa::kAvx2, Isa::kAvx512}) {
          if (!IsaSupported(isa)) continue;
          uint16_t bits[kChunk];
          ChunkStats stats;
          FillChunk(isa, rng, Draw::kNormal, scale, chunk, storage, kChunk, bits, &stats);
          for (size_t j = 0; j < kChunk; ++j) ASSERT_EQ(bits[j], expected[j]) << ref[j] << " isa " << static_cast<int>(isa);
          if (isa == Isa::kSse2) baseline = stats;
          EXPECT_EQ(std::memcmp(&stats, &baseline, sizeof stats), 0);
          if (std::isfinite(sum)) EXPECT_NEAR(stats.sum, sum, 1e-5 * kChunk * scale);
        }
      }
    }
  }
}

// Anywhere in a byte stream (a streamed tensor's bytes start after its field header): the same bytes
// and stats as at an aligned address, for every stored type.
TEST(Kernels, MisalignedOutputGetsTheSameBytes) {
  const TensorRng rng(7, "misaligned");
  for (const Storage storage : {Storage::kFloat32, Storage::kFloat16, Storage::kBFloat16}) {
    for (const size_t len : {kChunk, size_t{333}}) {
      alignas(64) char aligned[kChunk * 4 + 64], shifted[kChunk * 4 + 64];
      ChunkStats a, b;
      FillChunk(rng, Draw::kNormal, 0.3f, 5, storage, len, aligned, &a);
      FillChunk(rng, Draw::kNormal, 0.3f, 5, storage, len, shifted + 1, &b);
      const size_t bytes = len * (storage == Storage::kFloat32 ? 4 : 2);
      EXPECT_EQ(std::memcmp(aligned, shifted + 1, bytes), 0) << static_cast<int>(storage) << " " << len;
      EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
    }
  }
}

// A short last chunk writes only its own elements and measures only them.
TEST(Kernels, ShortChunkWritesAndMeasuresOnlyItsLength) {
  const TensorRng rng(6, "short");
  float whole[kChunk], part[kChunk];
  GenerateChunkF32(rng, Draw::kUniform, 1.0f, 3, whole);
  std::fill(part, part + kChunk, 42.0f);
  ChunkStats stats;
  FillChunk(rng, Draw::kUniform, 1.0f, 3, Storage::kFloat32, 100, part, &stats);
  double sum = 0;
  for (size_t j = 0; j < 100; ++j) {
    ASSERT_EQ(part[j], whole[j]);
    sum += whole[j];
  }
  for (size_t j = 100; j < kChunk; ++j) ASSERT_EQ(part[j], 42.0f);
  EXPECT_NEAR(stats.sum, sum, 1e-4);
  EXPECT_EQ(stats.max, *std::max_element(whole, whole + 100));
  EXPECT_EQ(stats.min, *std::min_element(whole, whole + 100));
}

}  // namespace
}  // namespace reinit
