// Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, the Random123 generator).
// A stream is keyed by (seed, tensor name); element i of a tensor is a pure function of
// (seed, name, i), so output never depends on thread count, tensor order or chunking, and the same
// seed gives byte-identical tensors on every run. std::*_distribution is implementation defined and is
// never used for output data; the uniform and normal transforms below are our own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace reinit {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// One Philox4x32 block with 10 rounds. Checked against the Random123 known-answer vectors.
PhiloxCounter Philox4x32_10(PhiloxCounter counter, PhiloxKey key);

// 64-bit FNV-1a of a tensor name: the part of the counter that separates tensors.
uint64_t NameHash(const std::string& name);

class TensorRng {
 public:
  TensorRng(uint64_t seed, const std::string& tensor_name);

  // The 32 random bits of element `i`.
  uint32_t Bits(uint64_t i) const;
  // Elements [first, first+n) as U(lo, hi), strictly inside the interval.
  void Uniform(uint64_t first, size_t n, double lo, double hi, double* out) const;
  // Elements [first, first+n) as N(0, stddev^2), by the Box-Muller transform.
  void Normal(uint64_t first, size_t n, double stddev, double* out) const;
  // Elements [first, first+n) from N(0, sigma^2) cut at +-2 sigma, sigma = stddev / 0.8796 so that the
  // result has standard deviation `stddev`. Element i rejects and redraws from the normal stream at
  // i + k * 2^40 (k = 1, 2, ...): still a function of (seed, name, i) only.
  void TruncatedNormal(uint64_t first, size_t n, double stddev, double* out) const;

  const PhiloxKey& key() const { return key_; }
  uint64_t name_hash() const { return name_hash_; }

 private:
  PhiloxCounter Block(uint64_t block) const;
  PhiloxKey key_;
  uint64_t name_hash_;
};

// Maps 32 random bits to the open interval (0, 1): (x + 0.5) / 2^32.
inline double UnitOpen(uint32_t x) { return (static_cast<double>(x) + 0.5) * (1.0 / 4294967296.0); }

}  // namespace reinit
