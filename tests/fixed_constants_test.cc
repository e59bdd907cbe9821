// The fixed-constant detectors on values built here: STFT bases, mel/linear filterbanks and smoothing
// kernels as audio and vision code computes them (numpy/librosa/torchaudio formulas) must be
// recognized; weights as frameworks initialize them (Xavier, He, torch's default, orthogonal), as
// training leaves them (band-pass filters at learned frequencies, smooth blobs), and the look-alikes
// (identity, Dirac, moving-average and selection matrices) must not be.
#include "passes/graph/fixed_constants.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <Eigen/QR>
#include <cmath>
#include <random>

#include "onnx/onnx_pb.h"
#include "tests/signal_constants.h"

namespace reinit {
namespace {

using onnx::TensorProto;
using namespace test::signal;

// ---- what frameworks draw ----

std::mt19937_64& Rng() {
  static std::mt19937_64 rng(20261130);
  return rng;
}

Matrix Uniform(int64_t rows, int64_t cols, double bound) {
  std::uniform_real_distribution<double> u(-bound, bound);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(Rng());
  return F32(m);
}

Matrix Normal(int64_t rows, int64_t cols, double std) {
  std::normal_distribution<double> g(0, std);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = g(Rng());
  return F32(m);
}

Matrix Orthogonal(int64_t n) {
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(Normal(n, n, 1));
  return F32(Matrix(qr.householderQ()));
}

// Every way a framework or a training run leaves a [rows, cols] weight.
std::vector<std::pair<std::string, Matrix>> LearnedMatrices(int64_t rows, int64_t cols) {
  const double fan_in = static_cast<double>(cols), fan_avg = (rows + cols) / 2.0;
  std::vector<std::pair<std::string, Matrix>> m = {
      {"xavier uniform", Uniform(rows, cols, std::sqrt(3 / fan_avg))},
      {"he normal", Normal(rows, cols, std::sqrt(2 / fan_in))},
      {"torch default U(1/sqrt(fan_in))", Uniform(rows, cols, 1 / std::sqrt(fan_in))},
      {"trained-looking (low rank + noise)", F32(Normal(rows, 4, 1) * Normal(4, cols, 0.3) + Normal(rows, cols, 0.02))},
      {"zero", Matrix::Zero(rows, cols)},
  };
  if (rows == cols) {
    m.push_back({"orthogonal", Orthogonal(rows)});
    m.push_back({"identity", Matrix::Identity(rows, cols)});
  }
  return m;
}

// ---- DFT basis ----

TEST(DftBasis, StftBasisAsInModelsGraphs) {
  const Matrix m = StftBasis(64);  // [66, 64]: make_graphs.py's stft_basis
  const FixedFinding f = DetectDftBasis(Rows(m));
  ASSERT_EQ(f.kind, Fixed::kDftBasis) << f.seen;
  EXPECT_NE(f.seen.find("66 vectors of 64 samples"), std::string::npos) << f.seen;
  EXPECT_NE(f.seen.find("k/64 cycles per sample for k = 0..32, up to 2 per k, 2 all-zero"), std::string::npos) << f.seen;
}

TEST(DftBasis, WindowsLayoutsAndLengths) {
  struct Case {
    std::string name;
    Matrix m;
    bool columns;
    int64_t n_fft;
  };
  const Matrix basis512 = StftBasis(512, Window::kHannPeriodic, 400);
  const std::vector<Case> cases = {
      {"symmetric Hann", StftBasis(256, Window::kHannSymmetric), false, 256},
      {"Hamming", StftBasis(128, Window::kHamming), false, 128},
      {"Blackman", StftBasis(128, Window::kBlackman), false, 128},
      {"rectangular", StftBasis(64, Window::kRectangular), false, 64},
      {"Hann 400 centered in n_fft 512 (torch.stft)", basis512, false, 512},
      {"rows of 400 on the n_fft 512 grid (ConvSTFT)", StftBasis(512, Window::kHannPeriodic, 400, 400), false, 512},
      {"real part only", StftBasis(64, Window::kHannPeriodic, 0, 0, false), false, 64},
      {"n_fft 32, the smallest", StftBasis(32), false, 32},
      {"transposed: a MatMul X @ W [n_fft, 2F]", Matrix(basis512.transpose()), true, 512},
      {"n_fft 2048", StftBasis(2048), false, 2048},
  };
  for (const Case& c : cases) {
    const FixedFinding f = DetectDftBasis(c.columns ? Columns(c.m) : Rows(c.m));
    EXPECT_EQ(f.kind, Fixed::kDftBasis) << c.name << ": " << f.seen;
    EXPECT_NE(f.seen.find("k/" + std::to_string(c.n_fft) + " "), std::string::npos) << c.name << ": " << f.seen;
  }
}

TEST(DftBasis, RowsInAnyOrderAndFloat16) {
  Matrix m = StftBasis(128);
  // Interleaved cos/sin pairs, highest frequency first.
  Matrix shuffled(m.rows(), m.cols());
  const int64_t bins = m.rows() / 2;
  for (int64_t k = 0; k < bins; ++k) {
    shuffled.row(2 * k) = m.row(bins - 1 - k);
    shuffled.row(2 * k + 1) = m.row(2 * bins - 1 - k);
  }
  EXPECT_EQ(DetectDftBasis(Rows(shuffled)).kind, Fixed::kDftBasis);
  Matrix half = m;
  for (Eigen::Index i = 0; i < half.size(); ++i) half.data()[i] = static_cast<double>(Eigen::half(half.data()[i]));
  EXPECT_EQ(DetectDftBasis(Rows(half)).kind, Fixed::kDftBasis);
}

TEST(DftBasis, FrequencyOfOneVectorIsPreciseBetweenBins) {
  for (double f : {5.0, 10.3, 20.5, 47.9}) {
    Matrix v(1, 128);
    const std::vector<double> w = MakeWindow(Window::kHannPeriodic, 128);
    for (int64_t n = 0; n < 128; ++n) v(0, n) = w[n] * std::cos(2 * kPi * f * n / 128 + 0.3);
    const SinusoidFit fit = FitSinusoid(Rows(v), 0, 1e-12);
    EXPECT_FALSE(fit.null);
    EXPECT_GT(fit.concentration, 0.99);
    EXPECT_NEAR(fit.frequency, f, 0.06) << f;
  }
}

TEST(DftBasis, LearnedWeightsAreNot) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{66, 64}, {64, 64}, {514, 512}, {16, 400}}) {
    for (const auto& [name, m] : LearnedMatrices(rows, cols)) {
      EXPECT_EQ(DetectDftBasis(Rows(m)).kind, Fixed::kNone) << name << " [" << rows << "," << cols << "]";
      EXPECT_EQ(DetectDftBasis(Columns(m)).kind, Fixed::kNone) << name << " [" << rows << "," << cols << "] columns";
      // The probe already rejects them after two vectors (all zero cannot be told from two vectors).
      if (name != "zero") EXPECT_FALSE(MayBeDftBasis(Rows(Matrix(m.topRows(2))))) << name;
    }
  }
}

// Trained audio front ends: band-pass filters at frequencies the training chose (SincNet's sinc
// filters, LEAF's Gabor filters at mel-spaced centres). Windowed sinusoids, but not on one grid.
TEST(DftBasis, LearnedBandPassFilterbanksAreNot) {
  const int64_t n = 251, filters = 80;
  Matrix gabor(filters, n), sinc(filters, n);
  const std::vector<double> hamming = MakeWindow(Window::kHamming, n);
  // Where training left the centres: within a quarter of a bin of where they started.
  std::uniform_real_distribution<double> jitter(-0.25 / n, 0.25 / n);
  for (int64_t i = 0; i < filters; ++i) {
    const double center = SlaneyToHz(HzToSlaney(60) + (HzToSlaney(7600) - HzToSlaney(60)) * i / filters) / 16000;
    const double low = center * 0.8, high = center * 1.2 + 0.002, moved = jitter(Rng());
    for (int64_t t = 0; t < n; ++t) {
      const double x = t - (n - 1) / 2.0;
      gabor(i, t) = std::exp(-x * x / (2 * 40.0 * 40.0)) * std::cos(2 * kPi * (center + moved) * x);
      auto sinc_at = [&](double f) { return x == 0 ? 2 * f : std::sin(2 * kPi * f * x) / (kPi * x); };
      sinc(i, t) = (sinc_at(high) - sinc_at(low)) * hamming[t];
    }
  }
  EXPECT_EQ(DetectDftBasis(Rows(F32(gabor))).kind, Fixed::kNone);
  EXPECT_EQ(DetectDftBasis(Rows(F32(sinc))).kind, Fixed::kNone);
}

TEST(DftBasis, BasesThatAreOffTheGridAreNot) {
  // Frequencies (k + 1/2)/n_fft: a grid that is not anchored at DC.
  Matrix shifted(128, 128);
  const std::vector<double> w = MakeWindow(Window::kHannPeriodic, 128);
  for (int64_t k = 0; k < 64; ++k) {
    for (int64_t n = 0; n < 128; ++n) {
      shifted(2 * k, n) = w[n] * std::cos(2 * kPi * (k + 0.5) * n / 128);
      shifted(2 * k + 1, n) = w[n] * std::sin(2 * kPi * (k + 0.5) * n / 128);
    }
  }
  EXPECT_EQ(DetectDftBasis(Rows(F32(shifted))).kind, Fixed::kNone);
  // Log-spaced frequencies (nnAudio's freq_scale='log', a constant-Q bank): fixed too, but not a DFT basis.
  Matrix logspaced(80, 256);
  const std::vector<double> w256 = MakeWindow(Window::kHannPeriodic, 256);
  for (int64_t k = 0; k < 80; ++k) {
    const double f = 8 * std::pow(2.0, k / 24.0);
    for (int64_t n = 0; n < 256; ++n) logspaced(k, n) = w256[n] * std::cos(2 * kPi * f * n / 256);
  }
  EXPECT_EQ(DetectDftBasis(Rows(F32(logspaced))).kind, Fixed::kNone);
  // Every third bin only.
  const Matrix full = StftBasis(128, Window::kHannPeriodic, 0, 0, false);
  Matrix sparse(22, 128);
  for (int64_t k = 0; k < 22; ++k) sparse.row(k) = full.row(3 * k);
  EXPECT_EQ(DetectDftBasis(Rows(sparse)).kind, Fixed::kNone);
  // A basis with a hole (bins 20..24 missing).
  Matrix holed(60, 128);
  for (int64_t k = 0, r = 0; k < 65 && r < 60; ++k) {
    if (k < 20 || k > 24) holed.row(r++) = full.row(k);
  }
  EXPECT_EQ(DetectDftBasis(Rows(holed)).kind, Fixed::kNone);
  // Too short a row to tell.
  EXPECT_EQ(DetectDftBasis(Rows(StftBasis(16))).kind, Fixed::kNone);
}

// ---- filterbank ----

TEST(Filterbank, MelFilterbanksAsLibrosaTorchaudioAndKaldiBuildThem) {
  struct Case {
    std::string name;
    Matrix m;  // [bins, filters]: filters are columns
  };
  const std::vector<Case> cases = {
      {"Slaney, area-normalized (models/graphs mel_fb)", MelFilterbank(8000, 64, 16, Scale::kSlaney, true)},
      {"Slaney 80 mels, n_fft 400 (Whisper)", MelFilterbank(16000, 400, 80, Scale::kSlaney, true)},
      {"HTK, peak 1 (torchaudio default)", MelFilterbank(16000, 512, 40, Scale::kHtk, false)},
      {"HTK 128 mels, n_fft 2048", MelFilterbank(22050, 2048, 128, Scale::kHtk, false)},
      {"triangles on the mel axis (Kaldi fbank)", MelFilterbank(16000, 512, 23, Scale::kHtk, false, true)},
      {"linear triangles", MelFilterbank(16000, 256, 12, Scale::kLinear, false)},
      {"4 filters, the fewest", MelFilterbank(16000, 64, 4, Scale::kHtk, false)},
  };
  for (const Case& c : cases) {
    const FixedFinding f = DetectFilterbank(Columns(c.m));
    EXPECT_EQ(f.kind, Fixed::kFilterbank) << c.name << ": " << f.seen;
    // librosa's [n_mels, bins] orientation (mel @ S), and the filters in descending order.
    const Matrix t = c.m.transpose();
    EXPECT_EQ(DetectFilterbank(Rows(t)).kind, Fixed::kFilterbank) << c.name << " as rows";
    EXPECT_EQ(DetectFilterbank(Rows(Matrix(t.colwise().reverse()))).kind, Fixed::kFilterbank) << c.name << " descending";
  }
  const FixedFinding f = DetectFilterbank(Columns(cases[0].m));
  EXPECT_NE(f.seen.find("16 triangular filters over 33 bins"), std::string::npos) << f.seen;
}

TEST(Filterbank, LookAlikesAndLearnedWeightsAreNot) {
  const int64_t n = 33;
  Matrix moving = Matrix::Zero(n, n), cumsum = Matrix::Zero(n, n), onehot = Matrix::Zero(n, 16), perm = Matrix::Zero(n, n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = std::max<int64_t>(0, i - 2); j <= std::min<int64_t>(n - 1, i + 2); ++j) moving(i, j) = 0.2;
    for (int64_t j = i; j < n; ++j) cumsum(i, j) = 1;
    perm(i, (i * 7) % n) = 1;
  }
  for (int64_t j = 0; j < 16; ++j) onehot(2 * j, j) = 1;
  Matrix pruned = Normal(n, 16, 1).cwiseAbs();  // nonnegative and 60% zeros: a pruned, abs'ed weight
  for (Eigen::Index i = 0; i < pruned.size(); ++i) {
    if (i % 5 < 3) pruned.data()[i] = 0;
  }
  Matrix rand01 = Uniform(n, 16, 1).cwiseAbs();  // torch.rand
  const std::vector<std::pair<std::string, Matrix>> cases = {
      {"identity", Matrix::Identity(n, n)}, {"permutation", perm},         {"moving average (flat tops)", moving},
      {"cumulative sum", cumsum},           {"one-hot selection", onehot}, {"pruned nonnegative", pruned},
      {"torch.rand", rand01},
  };
  for (const auto& [name, m] : cases) {
    EXPECT_EQ(DetectFilterbank(Columns(m)).kind, Fixed::kNone) << name;
    EXPECT_EQ(DetectFilterbank(Rows(m)).kind, Fixed::kNone) << name;
  }
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{33, 16}, {257, 40}, {64, 64}}) {
    for (const auto& [name, m] : LearnedMatrices(rows, cols)) {
      EXPECT_EQ(DetectFilterbank(Columns(m)).kind, Fixed::kNone) << name;
      EXPECT_EQ(DetectFilterbank(Rows(m)).kind, Fixed::kNone) << name;
    }
  }
}

// ---- smoothing kernel ----

TEST(SmoothingKernel, BlursAsVisionCodeBuildsThem) {
  struct Case {
    std::string name;
    std::vector<double> values;
    std::vector<int64_t> shape;
    int32_t dtype = TensorProto::FLOAT;
  };
  std::vector<double> per_channel_full;  // a blur per channel written as a full [3, 3, 3, 3] conv
  const std::vector<double> binomial = Separable({1, 2, 1}, 1);
  for (int64_t m = 0; m < 3; ++m) {
    for (int64_t c = 0; c < 3; ++c) {
      for (double v : binomial) per_channel_full.push_back(m == c ? v : 0.0);
    }
  }
  std::vector<double> half = Separable(GaussianTaps(5, 1), 3);
  for (double& v : half) v = static_cast<double>(Eigen::half(v));
  const std::vector<Case> cases = {
      {"Gaussian 5x5, sigma 1 (models/graphs blur_kernel)", Separable(GaussianTaps(5, 1), 3), {3, 1, 5, 5}},
      {"binomial [1,2,1] (BlurPool)", Separable({1, 2, 1}, 16), {16, 1, 3, 3}},
      {"[1,3,3,1] (StyleGAN), even size", Separable({1, 3, 3, 1}, 8), {8, 1, 4, 4}},
      {"1-D [1,4,6,4,1]", Separable({1, 4, 6, 4, 1}, 4, 1), {4, 1, 5}},
      {"3-D Gaussian", Separable(GaussianTaps(3, 0.8), 2, 3), {2, 1, 3, 3, 3}},
      {"box 3x3 (AveragePool as a Conv)", Separable({1, 1, 1}, 3), {3, 1, 3, 3}},
      {"per-channel blur as a full conv", per_channel_full, {3, 3, 3, 3}},
      {"Gaussian stored as float16", half, {3, 1, 5, 5}, TensorProto::FLOAT16},
  };
  for (const Case& c : cases) {
    const FixedFinding f = DetectSmoothingKernel(c.values, c.shape, c.dtype);
    EXPECT_EQ(f.kind, Fixed::kSmoothingKernel) << c.name << ": " << f.seen;
  }
  EXPECT_NE(DetectSmoothingKernel(cases[5].values, cases[5].shape, TensorProto::FLOAT).seen.find("box"), std::string::npos);
  EXPECT_NE(DetectSmoothingKernel(cases[0].values, cases[0].shape, TensorProto::FLOAT).seen.find("peaked at the center"),
            std::string::npos);
}

TEST(SmoothingKernel, InitializedTrainedAndLookAlikeKernelsAreNot) {
  struct Case {
    std::string name;
    std::vector<double> values;
    std::vector<int64_t> shape;
  };
  auto flat = [](const Matrix& m) { return std::vector<double>(m.data(), m.data() + m.size()); };
  std::vector<double> dirac(4 * 4 * 9, 0.0), identity(4 * 4, 0.0);
  for (int64_t c = 0; c < 4; ++c) {
    dirac[(c * 4 + c) * 9 + 4] = 1;  // torch.nn.init.dirac_
    identity[c * 4 + c] = 1;         // a 1x1 conv initialized to the identity
  }
  std::vector<double> blob = flat(Normal(3, 9, 1).cwiseAbs());  // nonnegative, then normalized: not symmetric
  for (int64_t m = 0; m < 3; ++m) {
    double sum = 0;
    for (int64_t i = 0; i < 9; ++i) sum += blob[m * 9 + i];
    for (int64_t i = 0; i < 9; ++i) blob[m * 9 + i] /= sum;
  }
  std::vector<double> ring = {0.1, 0.15, 0.1, 0.15, 0, 0.15, 0.1, 0.15, 0.1};  // sums to 1, symmetric, a hole
  std::vector<double> unnormalized = Separable(GaussianTaps(5, 1), 3);
  for (double& v : unnormalized) v *= 4;  // a bilinear-upsampling-like kernel: sums to 4
  std::vector<double> almost = Separable(GaussianTaps(5, 1), 3);
  for (int64_t i = 0; i < 25; ++i) almost[i] *= 1.001;  // still symmetric, but sums to 1.001: training moved it
  const std::vector<Case> cases = {
      {"Dirac init", dirac, {4, 4, 3, 3}},
      {"identity 1x1", identity, {4, 4, 1, 1}},
      {"abs(normal) normalized", blob, {3, 1, 3, 3}},
      {"ring", ring, {1, 1, 3, 3}},
      {"sums to 4", unnormalized, {3, 1, 5, 5}},
      {"moved by training", almost, {3, 1, 5, 5}},
      {"Laplacian", {0, 1, 0, 1, -4, 1, 0, 1, 0}, {1, 1, 3, 3}},
      {"he uniform", flat(Uniform(8, 27, std::sqrt(6.0 / 27))), {8, 3, 3, 3}},
      {"torch default", flat(Uniform(16, 9, 1 / 3.0)), {16, 1, 3, 3}},
      {"xavier normal depthwise", flat(Normal(3, 25, std::sqrt(1.0 / 25))), {3, 1, 5, 5}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DetectSmoothingKernel(c.values, c.shape, TensorProto::FLOAT).kind, Fixed::kNone) << c.name;
  }
}

TEST(SmoothingKernel, FirstOutputProbe) {
  const std::vector<double> g = Separable(GaussianTaps(5, 1), 1);
  EXPECT_TRUE(FirstOutputMayBeSmoothing(g, TensorProto::FLOAT));
  std::vector<double> moved = g;
  moved[12] += 1e-4;
  EXPECT_FALSE(FirstOutputMayBeSmoothing(moved, TensorProto::FLOAT));
  std::vector<double> negative = g;
  negative[0] = -negative[0];
  negative[12] += 2 * g[0];
  EXPECT_FALSE(FirstOutputMayBeSmoothing(negative, TensorProto::FLOAT));
}

}  // namespace
}  // namespace reinit
