#include "passes/graph/fixed_constants.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <unsupported/Eigen/FFT>

#include "onnx/onnx_pb.h"
#include "passes/graph/numbers.h"

namespace reinit {

namespace {

FixedFinding No(const std::string& why) { return {Fixed::kNone, why}; }

// A share as a percentage, rounded down so 99.96% never shows as 100%.
std::string Percent(double share) { return FormatFixed(std::floor(share * 1000) / 10, 1) + "%"; }

// ---- DFT basis ------------------------------------------------------------------------------------
//
// Each vector of an STFT basis is w[n] * cos(2 pi f n + phi) (cos rows, sin rows): in its spectrum all
// energy sits in the window's main lobe around f. Learned filters, even band-pass ones, do not put
// their centre frequencies on one regular grid anchored at 0 with cos/sin pairs; random draws do not
// concentrate their energy at all.

// The main lobe's half-width: a rectangular window keeps an integer-bin sinusoid in one bin, periodic
// Hann/Hamming in +-1, Blackman or a symmetric Hann in +-2, a 400-sample Hann centered in a 512-sample
// row about +-2.6. Within +-3 bins of the peak, all of these keep >= 94.8% of their energy (the worst
// is the rectangular window: sinc sidelobes), hence 90%. A random vector of 32 values puts at most
// about 80% there (7 of 17 bins, the peak chosen among them), one of 64 about 40%.
constexpr double kLeakageBins = 3;
constexpr double kMinConcentration = 0.9;
// A sine row at DC or Nyquist is zero up to the rounding of sin(pi n), 1e-7 of the other rows' norm in
// float32 (exactly 0 in float16); a basis has at most these two.
constexpr double kNullNorm = 1e-4;
constexpr int64_t kMaxNullVectors = 2;
// Frequencies of cos and sin rows of one bin agree within 0.01 bin; grid spacings are >= 0.5 bin.
constexpr double kClusterGap = 0.2;
// Away from DC and Nyquist the refined frequency is within 0.06 bin of the truth (measured on periodic
// and symmetric Hann, rectangular, and Hann shorter than the row); a grid point within 15% of the
// spacing (0.075..0.15 bin) separates that from a grid that is not anchored at 0.
constexpr double kGridTolerance = 0.15;
// Rows are between half of n_fft and n_fft long (win_length <= n_fft, or the window padded to n_fft):
// the grid spacing is between 0.5 and 1 bin of the row's own length.
constexpr double kMinSpacing = 0.5, kMaxSpacing = 1.01;
constexpr int64_t kMinGridFrequencies = 8;
// cos and sin of each frequency, and in a two-sided basis the same again at n_fft - k.
constexpr int64_t kMaxVectorsPerFrequency = 4;

// 4x zero padding samples the spectrum at quarter bins, so the parabola through the log power around
// the peak places the frequency well within 0.06 bin; a power of two keeps the FFT O(P log P) whatever
// the vector's length.
int64_t PaddedLength(int64_t n) {
  int64_t p = 1;
  while (p < 4 * n) p *= 2;
  return p;
}

}  // namespace

SinusoidFit FitSinusoid(const Vectors& x, int64_t v, double null_norm) {
  SinusoidFit fit;
  const int64_t n = x.length, padded = PaddedLength(n);
  std::vector<double> samples(static_cast<size_t>(padded), 0.0);
  double energy = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double value = x.at(v, i);
    if (!std::isfinite(value)) return fit;  // not null, concentration 0
    samples[i] = value;
    energy += value * value;
  }
  if (std::sqrt(energy) <= null_norm) {
    fit.null = true;
    return fit;
  }
  thread_local Eigen::FFT<double> fft;
  fft.SetFlag(Eigen::FFT<double>::HalfSpectrum);
  std::vector<std::complex<double>> spectrum;
  fft.fwd(spectrum, samples);  // bins 0 .. padded/2
  const int64_t last = padded / 2;
  std::vector<double> power(static_cast<size_t>(last + 1));
  double total = 0;
  int64_t peak = 0;
  for (int64_t j = 0; j <= last; ++j) {
    power[j] = std::norm(spectrum[j]);
    total += (j == 0 || j == last ? 1 : 2) * power[j];  // one-sided: every other bin stands for two
    if (power[j] > power[peak]) peak = j;
  }
  const int64_t half_width = static_cast<int64_t>(kLeakageBins * padded / n);
  double near = 0;
  for (int64_t j = std::max<int64_t>(0, peak - half_width); j <= std::min(last, peak + half_width); ++j) {
    near += (j == 0 || j == last ? 1 : 2) * power[j];
  }
  fit.concentration = total > 0 ? near / total : 0;
  double offset = 0;
  if (peak > 0 && peak < last && power[peak - 1] > 0 && power[peak + 1] > 0) {
    const double a = std::log(power[peak - 1]), b = std::log(power[peak]), c = std::log(power[peak + 1]);
    const double curvature = a - 2 * b + c;
    if (curvature < 0) offset = std::clamp(0.5 * (a - c) / curvature, -0.5, 0.5);
  }
  fit.frequency = (static_cast<double>(peak) + offset) * static_cast<double>(n) / static_cast<double>(padded);
  return fit;
}

namespace {

// Whether a vector with this fit can belong to a DFT basis (all zero, or concentrated enough).
bool SinusoidLike(const SinusoidFit& fit) { return fit.null || fit.concentration >= kMinConcentration; }

// The norm of the largest vector (0 when any value is not finite: nothing is then a basis).
double LargestNorm(const Vectors& x) {
  double largest = 0;
  for (int64_t v = 0; v < x.count; ++v) {
    double energy = 0;
    for (int64_t i = 0; i < x.length; ++i) energy += x.at(v, i) * x.at(v, i);
    if (!std::isfinite(energy)) return 0;
    largest = std::max(largest, std::sqrt(energy));
  }
  return largest;
}

}  // namespace

bool MayBeDftBasis(const Vectors& first) {
  const double largest = LargestNorm(first);
  if (!(largest > 0)) return true;  // all zero so far: the rest decides
  for (int64_t v = 0; v < first.count; ++v) {
    if (!SinusoidLike(FitSinusoid(first, v, kNullNorm * largest))) return false;
  }
  return true;
}

FixedFinding DetectDftBasis(const Vectors& x) {
  if (x.length < kDftMinLength || x.count < kDftMinVectors) return No("too small for a DFT basis");
  const double largest = LargestNorm(x);
  if (!(largest > 0)) return No("all zero or not finite");
  // Every vector: a windowed sinusoid. Those near DC or Nyquist ("edge") are only checked for that:
  // there the mirror image of the negative frequency overlaps the lobe and moves the peak (by up to a
  // bin), so their frequency is not precise enough for the grid.
  int64_t nulls = 0;
  double weakest = 1;
  std::vector<double> interior, edge;
  for (int64_t v = 0; v < x.count; ++v) {
    const SinusoidFit fit = FitSinusoid(x, v, kNullNorm * largest);
    if (!SinusoidLike(fit)) {
      return No("vector " + std::to_string(v) + " has only " + Percent(fit.concentration) + " of its energy near one frequency");
    }
    if (fit.null) {
      ++nulls;
      continue;
    }
    weakest = std::min(weakest, fit.concentration);
    const bool near_edge = fit.frequency < kLeakageBins || fit.frequency > x.length / 2.0 - kLeakageBins;
    (near_edge ? edge : interior).push_back(fit.frequency);
  }
  if (nulls > kMaxNullVectors) return No(std::to_string(nulls) + " all-zero vectors");
  if (edge.size() > interior.size()) return No("most vectors are at DC or Nyquist");
  // The interior frequencies, grouped: one group per frequency (its cos and sin rows).
  std::sort(interior.begin(), interior.end());
  struct Group {
    double sum = 0;
    int64_t members = 0;
    double center() const { return sum / members; }
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < interior.size(); ++i) {
    if (i == 0 || interior[i] - interior[i - 1] > kClusterGap) groups.emplace_back();
    groups.back().sum += interior[i];
    ++groups.back().members;
  }
  if (static_cast<int64_t>(groups.size()) < kMinGridFrequencies) {
    return No("only " + std::to_string(groups.size()) + " distinct frequencies");
  }
  // The grid: spacing from the median gap, refined by least squares through 0 (anchored at DC).
  std::vector<double> gaps;
  for (size_t g = 1; g < groups.size(); ++g) gaps.push_back(groups[g].center() - groups[g - 1].center());
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  const double rough = gaps[gaps.size() / 2];
  double kf = 0, kk = 0;
  for (const Group& g : groups) {
    const double k = std::round(g.center() / rough);
    kf += k * g.center();
    kk += k * k;
  }
  const double spacing = kk > 0 ? kf / kk : 0;
  if (!(spacing >= kMinSpacing && spacing <= kMaxSpacing)) {
    return No("frequency spacing " + FormatNumber(spacing, 3) + " bins");
  }
  int64_t previous = -1, most = 0;
  for (const Group& g : groups) {
    const double k = std::round(g.center() / spacing);
    if (std::fabs(g.center() - k * spacing) > kGridTolerance * spacing) {
      return No("frequency " + FormatNumber(g.center(), 3) + " is off the grid of " + FormatNumber(spacing, 3) +
                " bins");
    }
    if (previous >= 0 && static_cast<int64_t>(k) != previous + 1) return No("the frequencies have gaps or repeats");
    if (g.members > kMaxVectorsPerFrequency) return No(std::to_string(g.members) + " vectors at one frequency");
    previous = static_cast<int64_t>(k);
    most = std::max(most, g.members);
  }
  // For the words: the whole range of k, edges included.
  int64_t k_low = static_cast<int64_t>(std::round(groups.front().center() / spacing)), k_high = previous;
  for (double f : edge) {
    const int64_t k = static_cast<int64_t>(std::round(f / spacing));
    k_low = std::min(k_low, k);
    k_high = std::max(k_high, k);
  }
  const int64_t n_fft = static_cast<int64_t>(std::round(x.length / spacing));
  std::string seen = std::to_string(x.count) + " vectors of " + std::to_string(x.length) +
                     " samples, each a windowed sinusoid (>= " + Percent(weakest) + " of its energy within " +
                     FormatNumber(kLeakageBins, 3) + " bins of its frequency), at k/" + std::to_string(n_fft) +
                     " cycles per sample for k = " + std::to_string(k_low) + ".." + std::to_string(k_high) +
                     ", up to " + std::to_string(most) + " per k";
  if (nulls > 0) seen += ", " + std::to_string(nulls) + " all-zero";
  return {Fixed::kDftBasis, seen};
}

// ---- triangular filterbank ------------------------------------------------------------------------
//
// A mel (Bark, linear) filterbank: filter i rises linearly from its lower edge to its centre and falls
// to its upper edge, which are the neighbours' centres. Nonnegative, mostly exact zeros, the filters
// ordered along the axis and overlapping. Trained and random weights have both signs and no exact
// zeros; an identity or selection matrix has no overlaps; averaging and cumulative-sum matrices have
// flat tops.

// A triangle has one peak; two bins equally far from the centre can tie at it.
constexpr int64_t kMaxPeakEntries = 2;
// Each filter is nonzero over about 2/F of the axis: 16 filters leave 89% zeros, 4 filters 60%.
constexpr double kMinZeroShare = 0.5;

FixedFinding DetectFilterbank(const Vectors& f) {
  if (f.count < kFilterbankMinFilters || f.length < kFilterbankMinLength) return No("too small for a filterbank");
  int64_t zeros = 0;
  for (int64_t v = 0; v < f.count; ++v) {
    for (int64_t i = 0; i < f.length; ++i) {
      const double x = f.at(v, i);
      if (!(x >= 0) || !std::isfinite(x)) return No("a negative or non-finite value");
      zeros += x == 0;
    }
  }
  const double zero_share = static_cast<double>(zeros) / static_cast<double>(f.count * f.length);
  if (zero_share < kMinZeroShare) return No("only " + Percent(zero_share) + " zeros");
  struct Support {
    int64_t start, peak, end;
  };
  std::vector<Support> filters;
  int64_t empty = 0;
  for (int64_t v = 0; v < f.count; ++v) {
    int64_t start = -1, end = -1, peak = -1;
    for (int64_t i = 0; i < f.length; ++i) {
      if (f.at(v, i) == 0) continue;
      if (start < 0) start = i;
      end = i;
      if (peak < 0 || f.at(v, i) > f.at(v, peak)) peak = i;
    }
    if (start < 0) {
      ++empty;  // too narrow to reach a bin (librosa warns of these); allowed, but not many
      continue;
    }
    const double top = f.at(v, peak);
    int64_t at_top = 0;
    for (int64_t i = start; i <= end; ++i) {
      const double x = f.at(v, i);
      if (x == 0) return No("filter " + std::to_string(v) + " has a gap");
      if (i < peak && f.at(v, i + 1) < x) return No("filter " + std::to_string(v) + " is not a rise then a fall");
      if (i > peak && x > f.at(v, i - 1)) return No("filter " + std::to_string(v) + " is not a rise then a fall");
      at_top += x >= top * (1 - 1e-6);
    }
    if (at_top > kMaxPeakEntries) return No("filter " + std::to_string(v) + " has a flat top");
    filters.push_back({start, peak, end});
  }
  if (static_cast<int64_t>(filters.size()) < kFilterbankMinFilters || empty * 4 > f.count) {
    return No("too many empty filters");
  }
  // Ordered along the axis, either way (listed from the highest frequency down: reversed).
  if (filters.back().peak < filters.front().peak) std::reverse(filters.begin(), filters.end());
  int64_t overlaps = 0, distinct_peaks = 1;
  for (size_t i = 1; i < filters.size(); ++i) {
    const Support &a = filters[i - 1], &b = filters[i];
    if (b.start < a.start || b.peak < a.peak || b.end < a.end) return No("the filters are not in order");
    if (b.start > a.end + 1) return No("the filters leave a gap");
    overlaps += b.start <= a.end;
    distinct_peaks += b.peak != a.peak;
  }
  const size_t pairs = filters.size() - 1;
  if (static_cast<size_t>(overlaps) * 2 < pairs) return No("neighbouring filters do not overlap");
  if (static_cast<size_t>(distinct_peaks) * 2 < filters.size()) return No("the filters share their peaks");
  std::string seen = std::to_string(filters.size()) + " triangular filters over " + std::to_string(f.length) +
                     " bins, nonnegative, " + Percent(zero_share) + " zeros, peaks ordered from bin " +
                     std::to_string(filters.front().peak) + " to " + std::to_string(filters.back().peak) +
                     ", neighbours overlapping, covering bins " + std::to_string(filters.front().start) + ".." +
                     std::to_string(filters.back().end);
  if (empty > 0) seen += ", " + std::to_string(empty) + " empty";
  return {Fixed::kFilterbank, seen};
}

// ---- smoothing kernel -----------------------------------------------------------------------------
//
// A Gaussian, binomial (BlurPool's [1,2,1]), StyleGAN's [1,3,3,1] or box blur: per output channel
// nonnegative and summing to 1, every kernel symmetric about its center and non-increasing away from
// it. Trained and randomly initialized kernels have both signs and do not sum to exactly 1. Not flagged:
// 1x1 kernels (an identity-initialized layer is nonnegative and sums to 1 per output, but there is
// nothing spatial to smooth), and a single nonzero per kernel (torch.nn.init.dirac_). A box kernel (an
// exporter's AveragePool written as a Conv, a moving average) is flagged: it is an average, not a
// learned weight, and re-initializing it removes the pooling.

namespace {

// Rounding each value of a kernel that sums to 1 to the tensor's type moves the sum by at most the
// unit roundoff u; 4u allows for normalizing in that type. n * 2^-24 bounds the error of a sum of n
// terms computed in float32 by whoever normalized it.
double UnitRoundoff(int32_t dtype) {
  switch (dtype) {
    case onnx::TensorProto::FLOAT16: return std::ldexp(1.0, -11);
    case onnx::TensorProto::BFLOAT16: return std::ldexp(1.0, -8);
    case onnx::TensorProto::DOUBLE: return std::ldexp(1.0, -53);
    default: return std::ldexp(1.0, -24);
  }
}

double SumTolerance(int32_t dtype, int64_t n) { return 4 * UnitRoundoff(dtype) + static_cast<double>(n) * std::ldexp(1.0, -24); }

// Symmetric and non-increasing away from the center along every axis, within `tol`. `dims` are the
// kernel's spatial sizes, `k` its values (row-major).
bool CenteredAndSymmetric(const double* k, const std::vector<int64_t>& dims, double tol) {
  const int64_t total = [&] {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }();
  int64_t stride = total;
  for (int64_t size : dims) {
    stride /= size;
    const double center = (size - 1) / 2.0;
    // Every line along this axis starts where the axis index is 0.
    for (int64_t start = 0; start < total; ++start) {
      if ((start / stride) % size != 0) continue;
      for (int64_t i = 0; i < size; ++i) {
        const double here = k[start + i * stride];
        if (std::fabs(here - k[start + (size - 1 - i) * stride]) > tol) return false;
        if (i + 1 < size) {
          const double next = k[start + (i + 1) * stride];
          if (i + 1 <= center && next < here - tol) return false;  // rising toward the center
          if (i >= center && next > here + tol) return false;      // falling away from it
        }
      }
    }
  }
  return true;
}

}  // namespace

bool FirstOutputMayBeSmoothing(const std::vector<double>& block, int32_t dtype) {
  double sum = 0;
  for (double x : block) {
    if (!(x >= 0) || !std::isfinite(x)) return false;
    sum += x;
  }
  return std::fabs(sum - 1) <= SumTolerance(dtype, static_cast<int64_t>(block.size()));
}

FixedFinding DetectSmoothingKernel(const std::vector<double>& values, const std::vector<int64_t>& shape,
                                   int32_t dtype) {
  if (shape.size() < 3 || shape[0] <= 0 || shape[1] <= 0) return No("not a convolution kernel");
  const std::vector<int64_t> dims(shape.begin() + 2, shape.end());
  int64_t area = 1;
  for (int64_t d : dims) area *= d;
  if (area <= 1) return No("a 1x1 kernel: nothing to smooth");
  const int64_t outputs = shape[0], inputs = shape[1], per_output = inputs * area;
  if (static_cast<int64_t>(values.size()) != outputs * per_output) return No("values do not match the shape");
  const double sum_tol = SumTolerance(dtype, per_output);
  double worst_sum = 0, peak = 0;
  bool box = true;
  for (int64_t m = 0; m < outputs; ++m) {
    const double* block = values.data() + m * per_output;
    double sum = 0;
    for (int64_t i = 0; i < per_output; ++i) {
      if (!(block[i] >= 0) || !std::isfinite(block[i])) return No("a negative or non-finite value");
      sum += block[i];
    }
    worst_sum = std::max(worst_sum, std::fabs(sum - 1));
    if (!(std::fabs(sum - 1) <= sum_tol)) {
      return No("output channel " + std::to_string(m) + " sums to " + FormatNumber(sum, 9));
    }
    for (int64_t c = 0; c < inputs; ++c) {
      const double* k = block + c * area;
      const double top = *std::max_element(k, k + area);
      if (top == 0) continue;  // this input does not feed that output (a per-channel blur as a full conv)
      const int64_t nonzero = std::count_if(k, k + area, [](double x) { return x != 0; });
      if (nonzero < 2) return No("a kernel with a single nonzero (an identity or Dirac init)");
      const double tol = top * (4 * UnitRoundoff(dtype) + 1e-6);
      if (!CenteredAndSymmetric(k, dims, tol)) return No("a kernel that is not symmetric and peaked at its center");
      for (int64_t i = 0; i < area; ++i) box = box && (k[i] == 0 || std::fabs(k[i] - top) <= tol);
      peak = std::max(peak, top);
    }
  }
  std::string size;
  for (size_t i = 0; i < dims.size(); ++i) size += (i ? "x" : "") + std::to_string(dims[i]);
  std::string seen = inputs == 1 ? std::to_string(outputs) + " kernels of " + size + " (one per channel)"
                                 : std::to_string(outputs) + " output channels of " + std::to_string(inputs) +
                                       " kernels of " + size;
  seen += std::string(", nonnegative, each output channel summing to ") +
          (worst_sum == 0 ? "exactly 1" : "1 (largest error " + FormatNumber(worst_sum, 2) + ")") + ", symmetric, " +
          (box ? "flat: a box (moving-average) filter" : "peaked at the center (" + FormatNumber(peak, 3) + ")");
  return {Fixed::kSmoothingKernel, seen};
}

std::string FixedWords(Fixed kind) {
  switch (kind) {
    case Fixed::kDftBasis: return "fixed DFT basis";
    case Fixed::kFilterbank: return "fixed triangular filterbank";
    case Fixed::kSmoothingKernel: return "fixed smoothing kernel";
    case Fixed::kNone: break;
  }
  return "not a fixed constant";
}

}  // namespace reinit
