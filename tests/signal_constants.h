// Fixed signal-processing constants as audio and vision code computes them (numpy/librosa/torchaudio
// formulas), for the tests of the detectors and of the find-fixed-constants pass.
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "passes/graph/fixed_constants.h"

namespace reinit::test::signal {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

inline constexpr double kPi = 3.14159265358979323846;

// Rounds to float32, as the tensors store them.
inline Matrix F32(Matrix m) {
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(m.data()[i]);
  return m;
}

inline Vectors Rows(const Matrix& m) { return {m.data(), m.rows(), m.cols(), m.cols(), 1}; }
inline Vectors Columns(const Matrix& m) { return {m.data(), m.cols(), m.rows(), 1, m.cols()}; }

// ---- windows and bases ----

enum class Window { kHannPeriodic, kHannSymmetric, kHamming, kBlackman, kRectangular };

inline std::vector<double> MakeWindow(Window kind, int64_t n) {
  std::vector<double> w(n);
  for (int64_t i = 0; i < n; ++i) {
    const double periodic = 2 * kPi * i / n, symmetric = 2 * kPi * i / (n - 1);
    switch (kind) {
      case Window::kHannPeriodic: w[i] = 0.5 - 0.5 * std::cos(periodic); break;
      case Window::kHannSymmetric: w[i] = 0.5 - 0.5 * std::cos(symmetric); break;
      case Window::kHamming: w[i] = 0.54 - 0.46 * std::cos(periodic); break;
      case Window::kBlackman: w[i] = 0.42 - 0.5 * std::cos(periodic) + 0.08 * std::cos(2 * periodic); break;
      case Window::kRectangular: w[i] = 1; break;
    }
  }
  return w;
}

// An STFT basis as a Conv1d weight [2*(n_fft/2+1), row] (rows: cos for k = 0..n_fft/2, then -sin), with
// a window of `win` samples: centered and zero-padded to n_fft when row == n_fft (torch.stft), or
// filling the row when row == win < n_fft (the ConvSTFT of speech-enhancement models, e.g. DCCRN).
inline Matrix StftBasis(int64_t n_fft, Window kind = Window::kHannPeriodic, int64_t win = 0, int64_t row = 0, bool sin = true) {
  win = win ? win : n_fft;
  row = row ? row : n_fft;
  std::vector<double> w(row, 0.0);
  const std::vector<double> small = MakeWindow(kind, win);
  const int64_t pad = row == n_fft ? (n_fft - win) / 2 : 0;
  for (int64_t i = 0; i < win; ++i) w[pad + i] = small[i];
  const int64_t bins = n_fft / 2 + 1;
  Matrix m(sin ? 2 * bins : bins, row);
  for (int64_t k = 0; k < bins; ++k) {
    for (int64_t n = 0; n < row; ++n) {
      m(k, n) = w[n] * std::cos(2 * kPi * k * n / n_fft);
      if (sin) m(bins + k, n) = -w[n] * std::sin(2 * kPi * k * n / n_fft);
    }
  }
  return F32(m);
}

// ---- filterbanks ----

inline double HzToSlaney(double f) {
  const double f_sp = 200.0 / 3, min_log_hz = 1000, min_log_mel = 15, logstep = std::log(6.4) / 27;
  return f >= min_log_hz ? min_log_mel + std::log(f / min_log_hz) / logstep : f / f_sp;
}
inline double SlaneyToHz(double m) {
  const double f_sp = 200.0 / 3, min_log_hz = 1000, min_log_mel = 15, logstep = std::log(6.4) / 27;
  return m >= min_log_mel ? min_log_hz * std::exp(logstep * (m - min_log_mel)) : f_sp * m;
}
inline double HzToHtk(double f) { return 2595 * std::log10(1 + f / 700); }
inline double HtkToHz(double m) { return 700 * (std::pow(10, m / 2595) - 1); }

enum class Scale { kSlaney, kHtk, kLinear };

// [n_fft/2+1, n_mels] (librosa.filters.mel transposed, torchaudio.functional.melscale_fbanks): triangles
// in Hz between mel-spaced edges; `area` normalizes each to unit area (Slaney), `mel_domain` draws the
// triangles on the mel axis instead (Kaldi's fbank).
inline Matrix MelFilterbank(double sr, int64_t n_fft, int64_t n_mels, Scale scale, bool area, bool mel_domain = false) {
  auto to_mel = [&](double f) { return scale == Scale::kSlaney ? HzToSlaney(f) : scale == Scale::kHtk ? HzToHtk(f) : f; };
  auto to_hz = [&](double m) { return scale == Scale::kSlaney ? SlaneyToHz(m) : scale == Scale::kHtk ? HtkToHz(m) : m; };
  const int64_t bins = n_fft / 2 + 1;
  std::vector<double> edges(n_mels + 2);
  for (int64_t i = 0; i < n_mels + 2; ++i) edges[i] = to_hz(to_mel(0) + (to_mel(sr / 2) - to_mel(0)) * i / (n_mels + 1));
  Matrix m = Matrix::Zero(bins, n_mels);
  for (int64_t j = 0; j < n_mels; ++j) {
    for (int64_t b = 0; b < bins; ++b) {
      const double f = sr / 2 * b / (bins - 1);
      double lower, upper;
      if (mel_domain) {
        lower = (to_mel(f) - to_mel(edges[j])) / (to_mel(edges[j + 1]) - to_mel(edges[j]));
        upper = (to_mel(edges[j + 2]) - to_mel(f)) / (to_mel(edges[j + 2]) - to_mel(edges[j + 1]));
      } else {
        lower = (f - edges[j]) / (edges[j + 1] - edges[j]);
        upper = (edges[j + 2] - f) / (edges[j + 2] - edges[j + 1]);
      }
      m(b, j) = std::max(0.0, std::min(lower, upper));
    }
    if (area) m.col(j) *= 2.0 / (edges[j + 2] - edges[j]);
  }
  return F32(m);
}

// ---- kernels ----

// A separable kernel [channels, 1, k, ...] with `dims` spatial axes, flattened: the outer product of
// `taps` normalized to sum 1, rounded to float32, the same for every channel.
inline std::vector<double> Separable(const std::vector<double>& taps, int64_t channels, int dims = 2) {
  double sum = 0;
  for (double t : taps) sum += t;
  std::vector<double> one;
  for (double t : taps) one.push_back(t / sum);
  std::vector<double> kernel = one;
  for (int d = 1; d < dims; ++d) {
    std::vector<double> next;
    for (double a : kernel) {
      for (double b : one) next.push_back(a * b);
    }
    kernel = next;
  }
  std::vector<double> out;
  for (int64_t c = 0; c < channels; ++c) {
    for (double v : kernel) out.push_back(static_cast<float>(v));
  }
  return out;
}

// exp(-x^2 / (2 sigma^2)) at the `size` integer offsets around the center.
inline std::vector<double> GaussianTaps(int64_t size, double sigma) {
  std::vector<double> taps;
  for (int64_t i = 0; i < size; ++i) {
    const double x = i - (size - 1) / 2.0;
    taps.push_back(std::exp(-x * x / (2 * sigma * sigma)));
  }
  return taps;
}

}  // namespace reinit::test::signal
