#include "passes/gen/rng.h"

#include <cmath>

namespace reinit {

namespace {
constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57;  // Philox4x32 multipliers
constexpr uint32_t kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;  // Weyl key increments (golden ratio, sqrt 3)

inline void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}
}  // namespace

PhiloxCounter Philox4x32_10(PhiloxCounter c, PhiloxKey k) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key schedule bumps the key before every round but the first
      k[0] += kW0;
      k[1] += kW1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(kM0, c[0], &hi0, &lo0);
    MulHiLo(kM1, c[2], &hi1, &lo1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  return c;
}

uint64_t NameHash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : name) {
    h ^= ch;
    h *= 0x100000001b3ULL;
  }
  return h;
}

TensorRng::TensorRng(uint64_t seed, const std::string& tensor_name)
    : key_{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}, name_hash_(NameHash(tensor_name)) {}

// Counter layout: words 0-1 the block number (element / 4), words 2-3 the tensor-name hash.
PhiloxCounter TensorRng::Block(uint64_t block) const {
  return Philox4x32_10({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                        static_cast<uint32_t>(name_hash_), static_cast<uint32_t>(name_hash_ >> 32)},
                       key_);
}

uint32_t TensorRng::Bits(uint64_t i) const { return Block(i / 4)[i % 4]; }

void TensorRng::Uniform(uint64_t first, size_t n, double lo, double hi, double* out) const {
  for (size_t j = 0; j < n; ++j) out[j] = lo + (hi - lo) * UnitOpen(Bits(first + j));
}

// Box-Muller over one Philox block: words (0,1) give elements 4b and 4b+1 (cos and sin),
// words (2,3) give 4b+2 and 4b+3. Element i still depends only on (seed, name, i).
void TensorRng::Normal(uint64_t first, size_t n, double stddev, double* out) const {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (size_t j = 0; j < n; ++j) {
    const uint64_t i = first + j;
    const PhiloxCounter b = Block(i / 4);
    const int lane = static_cast<int>(i % 4);
    const int pair = lane / 2 * 2;
    const double radius = std::sqrt(-2.0 * std::log(UnitOpen(b[pair])));
    const double angle = kTwoPi * UnitOpen(b[pair + 1]);
    out[j] = stddev * radius * (lane % 2 == 0 ? std::cos(angle) : std::sin(angle));
  }
}

void TensorRng::TruncatedNormal(uint64_t first, size_t n, double stddev, double* out) const {
  constexpr double kStdOfUnitTruncated = 0.87962566103423978;  // std of N(0, 1) cut at +-2
  constexpr uint64_t kRedrawStride = uint64_t{1} << 40;
  for (size_t j = 0; j < n; ++j) {
    double x = 0;
    for (uint64_t k = 0; k < 64; ++k) {
      Normal(first + j + k * kRedrawStride, 1, 1.0, &x);
      if (std::fabs(x) <= 2.0) break;  // accepted with probability 0.954; 64 misses never happen
    }
    out[j] = x * stddev / kStdOfUnitTruncated;
  }
}

}  // namespace reinit
