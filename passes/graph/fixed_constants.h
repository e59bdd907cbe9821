// Fixed signal-processing constants: values the source framework registered as buffers, not learned
// parameters, that an exporter stores as ordinary Conv/MatMul weights. Each detector looks at the
// values only (never at names) and says what it saw, with numbers:
//
//   DFT basis             every vector a sinusoid under a window (>= 90% of its energy within 3 bins of
//                         one frequency), the frequencies on a grid k * delta anchored at 0, k contiguous,
//                         at most 4 vectors per frequency (cos/sin, and their mirror in a two-sided basis)
//   triangular filterbank nonnegative, >= 50% exact zeros, every filter one rise-then-fall run, the
//                         filters ordered along the frequency axis, overlapping their neighbours, no gaps
//   smoothing kernel      per output channel nonnegative and summing to 1, every kernel symmetric about
//                         its center and non-increasing away from it, with more than one nonzero
//
// A "vector" is what the layer contracts with its input: a Conv kernel, or the column (X*W) or row (W*X)
// of a MatMul/Gemm matrix along its input axis. The thresholds are explained where they are defined.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "passes/graph/param_table.h"

namespace reinit {

// What a detector saw: `kind` is Fixed::kNone when the values are not that constant; `seen` says what
// was seen (or, for kNone, the first thing that did not fit).
struct FixedFinding {
  Fixed kind = Fixed::kNone;
  std::string seen;
};

// `count` vectors of `length` values each; element i of vector v is data[v * vector_stride + i *
// element_stride] (rows of a row-major matrix: (length, 1); its columns: (1, count)).
struct Vectors {
  const double* data = nullptr;
  int64_t count = 0, length = 0;
  int64_t vector_stride = 0, element_stride = 1;
  double at(int64_t v, int64_t i) const { return data[v * vector_stride + i * element_stride]; }
};

// The smallest vector length and count the DFT detector looks at (see fixed_constants.cc).
inline constexpr int64_t kDftMinLength = 32;
inline constexpr int64_t kDftMinVectors = 8;
// The smallest number of filters and filter length the filterbank detector looks at.
inline constexpr int64_t kFilterbankMinFilters = 4;
inline constexpr int64_t kFilterbankMinLength = 8;

// A single vector as the DFT detector sees it: a windowed sinusoid, or not. `frequency` is in bins of
// the vector's own length (cycles per `length` samples), refined between bins.
struct SinusoidFit {
  bool null = false;         // (numerically) all zero: a sine at DC or Nyquist
  double concentration = 0;  // share of the energy within kDftLeakageBins of the peak frequency
  double frequency = 0;
};
SinusoidFit FitSinusoid(const Vectors& vectors, int64_t v, double null_norm);

// A cheap test on the first vectors of a weight only, before it is read whole: each is all zero or a
// windowed sinusoid.
bool MayBeDftBasis(const Vectors& first_vectors);

FixedFinding DetectDftBasis(const Vectors& vectors);
FixedFinding DetectFilterbank(const Vectors& filters);

// `values` of a Conv weight of `shape` [M, C/group, k1, ..., kn] (n >= 1) in the tensor's `dtype`
// (which sets the tolerance of "sums to 1").
FixedFinding DetectSmoothingKernel(const std::vector<double>& values, const std::vector<int64_t>& shape,
                                   int32_t dtype);
// The first output channel's values only: a cheap test that rejects most weights before they are read
// whole (nonnegative, summing to 1).
bool FirstOutputMayBeSmoothing(const std::vector<double>& block, int32_t dtype);

// "fixed DFT basis", "fixed triangular filterbank", "fixed smoothing kernel".
std::string FixedWords(Fixed kind);

}  // namespace reinit
