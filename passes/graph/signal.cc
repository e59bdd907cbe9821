// The rules of signal propagation, by kind of op (forward: mean m and second moment q of a value's
// elements; backward: second moment g of the gradient). Sources: Poole et al. 2016 and Schoenholz et al.
// 2017 for layers and activations, He et al. 2015 for the backward dual, Ioffe & Szegedy 2015 for
// normalization, Vaswani et al. 2017 for attention.
//
//   layer y = W x + b (Gemm, MatMul, Conv,      m_y = n_in E[w] m_x + E[b]
//     ConvTranspose, n_in terms per output)      var_y = n_in (E[w^2] q_x - E[w]^2 m_x^2) + var(b)
//                                               g_x = n_out E[w^2] g_y       (n_out outputs per input)
//   recurrent (LSTM/GRU/RNN), one step, h0 = 0  gates z ~ N(0, n_in E[w^2] q_x + 2 E[b^2]);
//                                               LSTM h = o tanh(i g), GRU h = (1 - z) n, RNN h = tanh(z)
//   embedding Gather(E, ids)                    the table's moments
//   elementwise f (activations, Erf, Mul by a   kept as f(z) of the layer output z ~ N(m, var): moments
//     scalar, x * Sigmoid(x), ...)              E[f(z)], E[f(z)^2], g_z = E[f'(z)^2] g_f  (quadrature)
//   Add/Mul of a per-channel constant c         Gaussian again: m + E[c], var + var(c) / m E[c], q E[c^2]
//   Add of two computed values (residual)       independent: m1 + m2, q1 + q2 + 2 m1 m2; g to both
//   Mul of two computed values (gating)         independent: m1 m2, q1 q2;  g_1 = q_2 g
//   Concat                                      size-weighted mean of the inputs' moments; g to each;
//                                               along the channels the inputs stay apart (Part)
//   BatchNormalization (batch statistics)       N(E[B], E[s^2] + var(B));   g_x = E[s^2] / var_x g
//     with --bn inference                       y = a x + b per channel, a = s / sqrt(v + eps)
//   Layer/Instance/GroupNormalization,          as batch statistics (decomposed: unit output)
//     decomposed LayerNorm
//   Softmax                                     attention weights over L keys (mean 1 / L)
//   MatMul(attention, V)                        averaging: m_V, shared_V + (var_V - shared_V) E[sum p^2]
//   MatMul of two computed values (Q K^T)       K terms: q = K q1 q2;  g_1 = N q_2 g
//   GlobalAveragePool, ReduceMean over          q = m^2 + shared: each channel's offset stays, the rest
//     positions                                 averages away;  g / n^2
//   AveragePool, K taps                         shared + (var - shared) / K;  g / (K S)
//   MaxPool, K in-bounds taps                   f(max of K Gaussians) for a nondecreasing f;  g / S
//   data movement, Dropout, Cast, ...           identity
//   finite width (every source)                 var of z is var S, S log-normal, E[S] = 1, relative
//                                               variance v; moments of f(z) averaged over S. A layer's
//                                               output: v = v_x + kappa_x / n_in (see ScaleMixture)
//
// Besides m and q each value carries `shared`, the part of its variance every position of a channel
// shares: through a layer n E[w^2] (m_x^2 + shared_x) + var(b), through f the variance over a channel's
// offset c of E[f(c + e)], removed by batch norms. Feature maps also carry a per-axis profile of q
// (zero padding, see Profile below).
//   any other op                                identity of its first float input, counted as passed
//                                               through (the report lists them)
#include "passes/graph/signal.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <unordered_map>

#include "onnx/shape_inference/implementation.h"
#include "passes/graph/activations.h"
#include "passes/graph/gaussian_moments.h"
#include "passes/graph/tensor_values.h"

namespace reinit {

std::string SignalVerdict(double ratio) {
  if (!std::isfinite(ratio)) return "unknown";
  if (ratio < kStableLow) return "vanishing";
  if (ratio > kStableHigh) return "exploding";
  return "stable";
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Constants up to this many elements are read whole (scalars, per-channel scales, shape tensors).
constexpr int64_t kSmallConstant = 1 << 16;

double Sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

// How a feature map's second moment varies over positions, per spatial axis (mean 1 on each axis; the
// map is taken as their product). Zero padding leaves the border of a convolution's output weaker, and
// that deficit does not compound layer after layer the way an average would say: the interior keeps
// its level. Empty: uniform, or not a feature map.
using Profile = std::vector<std::vector<double>>;

// One spatial axis of a sliding window (Conv, pooling): output o reads input o * stride - begin + j * dilation
// for taps j < kernel, those inside [0, in).
struct AxisWindow {
  int64_t in = 0, out = 0, kernel = 1, stride = 1, dilation = 1, begin = 0;
};

// The windows of `node` over input spatial sizes `in` with kernel sizes `kernel` (pads, strides,
// dilations and auto_pad as the ONNX spec says); empty when a size is unknown.
std::vector<AxisWindow> Windows(const onnx::NodeProto& node, const std::vector<int64_t>& in,
                                const std::vector<int64_t>& kernel) {
  const size_t spatial = kernel.size();
  if (in.size() != spatial) return {};
  std::vector<int64_t> strides = IntsAttr(node, "strides"), dilations = IntsAttr(node, "dilations"),
                       pads = IntsAttr(node, "pads");
  if (strides.size() != spatial) strides.assign(spatial, 1);
  if (dilations.size() != spatial) dilations.assign(spatial, 1);
  if (pads.size() != 2 * spatial) pads.assign(2 * spatial, 0);
  const std::string auto_pad = StringAttr(node, "auto_pad", "NOTSET");
  std::vector<AxisWindow> windows;
  for (size_t a = 0; a < spatial; ++a) {
    AxisWindow w;
    w.in = in[a], w.kernel = kernel[a];
    w.stride = std::max<int64_t>(strides[a], 1), w.dilation = std::max<int64_t>(dilations[a], 1);
    if (w.in <= 0 || w.kernel <= 0) return {};
    const int64_t extent = (w.kernel - 1) * w.dilation + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      w.out = (w.in + w.stride - 1) / w.stride;
      const int64_t total = std::max<int64_t>((w.out - 1) * w.stride + extent - w.in, 0);
      w.begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    } else {
      const bool valid = auto_pad == "VALID";
      w.begin = valid ? 0 : pads[a];
      w.out = (w.in + w.begin + (valid ? 0 : pads[a + spatial]) - extent) / w.stride + 1;
    }
    if (w.out <= 0) return {};
    windows.push_back(w);
  }
  return windows;
}

// Calls visit(o, i) for every in-bounds tap: output o of the window reads input i.
template <typename Visit>
void ForEachTap(const AxisWindow& w, Visit visit) {
  for (int64_t o = 0; o < w.out; ++o) {
    for (int64_t j = 0; j < w.kernel; ++j) {
      const int64_t i = o * w.stride - w.begin + j * w.dilation;
      if (i >= 0 && i < w.in) visit(o, i);
    }
  }
}

// Forward along one axis: r(o) = sum of p over the taps of window o inside the input (p empty: 1).
std::vector<double> WindowSums(const AxisWindow& w, const std::vector<double>& p) {
  std::vector<double> r(static_cast<size_t>(w.out), 0.0);
  ForEachTap(w, [&](int64_t o, int64_t i) { r[o] += p.empty() ? 1.0 : p[i]; });
  return r;
}

// Backward along one axis: b(i) = sum of g over the windows that read input i (g empty: 1).
std::vector<double> WindowScatter(const AxisWindow& w, const std::vector<double>& g) {
  std::vector<double> b(static_cast<size_t>(w.in), 0.0);
  ForEachTap(w, [&](int64_t o, int64_t i) { b[i] += g.empty() ? 1.0 : g[o]; });
  return b;
}

// Divides v by its mean; returns the mean.
double Normalize(std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  const double mean = v.empty() ? 1 : sum / static_cast<double>(v.size());
  if (mean > 0) {
    for (double& x : v) x /= mean;
  }
  return mean;
}

// The profile of a sum of two maps of second moments q1 and q2 (per axis: their weighted mean).
Profile Blend(const Profile& a, double qa, const Profile& b, double qb) {
  if (a.empty() && b.empty()) return {};
  const Profile& shape = a.empty() ? b : a;
  if (!a.empty() && !b.empty() && a.size() != b.size()) return {};
  Profile out = shape;
  for (size_t ax = 0; ax < shape.size(); ++ax) {
    if (!a.empty() && !b.empty() && a[ax].size() != b[ax].size()) return {};
    for (size_t i = 0; i < shape[ax].size(); ++i) {
      const double pa = a.empty() ? 1 : a[ax][i], pb = b.empty() ? 1 : b[ax][i];
      out[ax][i] = (qa * pa + qb * pb) / std::max(qa + qb, 1e-300);
    }
  }
  return out;
}

// Finite width (the 1/width terms of the kernel recursion; Yaida 2019, "Non-Gaussian processes and neural
// networks at finite widths"; Roberts, Yaida & Hanin 2022). A layer's output for one sample is Gaussian
// over its weights with variance sigma_w^2 times the sample's mean square over the n inputs it sums, and
// that mean square is not the same for every sample: it is an average of n terms (relative variance
// kappa / n, kappa the fourth-moment excess of one term) of values whose own scale already varied. Mean
// field takes it as its expectation; a nonlinearity that is convex or concave in the variance (GELU under
// He: E[gelu(z)^2] goes from q/4 at small q to q/2 at large q) then drifts from it layer after layer: at
// width 256 and depth 20, a GELU MLP keeps 3x the std mean field says. So each source carries the
// relative variance of its scale S, taken as log-normal with mean 1, and moments of f(z) are averaged
// over S (with S = 1 every rule is mean field again). ReLU, leaky ReLU and linear maps are linear in
// the variance: for them the average changes nothing.
struct ScaleNode {
  double scale, weight;
};
constexpr int kNodes = 5;
constexpr double kNodeX[] = {-2.85697001387281, -1.35562617997427, 0, 1.35562617997427, 2.85697001387281};
constexpr double kNodeW[] = {0.0112574113277207, 0.222075922005613, 0.533333333333333, 0.222075922005613,
                             0.0112574113277207};
// `all`: the five nodes even for no spread (scales 1), so that parts of one source line up node by node.
std::vector<ScaleNode> ScaleMixture(double spread, bool all = false) {
  if (!(spread > 1e-9) && !all) return {{1.0, 1.0}};
  // Gauss-Hermite (probabilists') nodes and weights (kNodeX, kNodeW), 5 points, for log S ~ N(-s2/2, s2):
  // on the measured 20 x 256 GELU MLP (tests/audit/audit_measured.py) the deepest layer is 27.4% off with
  // 5 points, 26.9% with 8 and 46% with 3; 5 keep the audit of a 500-layer MLP near a third of a second.
  const double s2 = std::log1p(std::clamp(spread, 0.0, 4.0)), sd = std::sqrt(s2);
  std::vector<ScaleNode> nodes;
  double mean = 0;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back({std::exp(-0.5 * s2 + sd * kNodeX[i]), kNodeW[i]});
    mean += kNodeW[i] * nodes.back().scale;
  }
  // E[S] = 1 exactly, so that whatever is linear in the variance (ReLU, affine maps) is left as it was.
  for (ScaleNode& k : nodes) k.scale /= mean;
  return nodes;
}

// Backward under finite width: the gradient's second moment for a sample whose scale is at node k of the
// mixture, taken at the same node (quantile) at every layer. A sample whose forward signal stayed strong
// keeps steep slopes all the way back, so the expectation of the product of slopes is not the product
// of their expectations: on a 20 x 256 GELU MLP under He, sampled, the independent product says 0.31 of
// the first layer's gradient std and the per-node one 1.04. Total() is the expectation over samples.
using NodeValues = std::array<double, kNodes>;
double NodeWeight(int k) { return kNodeW[k]; }
NodeValues Uniform(double v) {
  NodeValues n;
  n.fill(v);
  return n;
}

struct Grad {
  NodeValues k{};
  static Grad Of(double g) { return Grad{Uniform(g)}; }
  double Total() const {
    double t = 0;
    for (int i = 0; i < kNodes; ++i) t += NodeWeight(i) * k[i];
    return t;
  }
  bool Finite() const {
    for (double v : k) {
      if (!std::isfinite(v)) return false;
    }
    return true;
  }
  Grad& operator+=(const Grad& o) {
    for (int i = 0; i < kNodes; ++i) k[i] += o.k[i];
    return *this;
  }
  Grad operator*(double f) const {
    Grad r = *this;
    for (double& v : r.k) v *= f;
    return r;
  }
  Grad Times(const NodeValues& slopes) const {
    Grad r = *this;
    for (int i = 0; i < kNodes; ++i) r.k[i] *= slopes[i];
    return r;
  }
  // Back through a layer whose output's log-scale is rho times its input's plus an independent part
  // (the inherited share of the output's spread, rho^2): node j of the input sees the output's nodes
  // with the weights of N(rho x_j, 1 - rho^2) on the nodes (Tauchen's discretization). rho = 1: node to
  // node; rho = 0: every input node sees the output's expectation.
  Grad Through(double rho) const {
    if (!(rho < 0.999)) return *this;
    rho = std::max(rho, 0.0);
    Grad r;
    for (int j = 0; j < kNodes; ++j) {
      double total = 0, sum = 0;
      for (int i = 0; i < kNodes; ++i) {
        const double d = kNodeX[i] - rho * kNodeX[j];
        const double p = kNodeW[i] * std::exp(-0.5 * d * d / (1 - rho * rho) + 0.5 * kNodeX[i] * kNodeX[i]);
        total += p, sum += p * k[i];
      }
      r.k[j] = sum / total;
    }
    return r;
  }
};

// E[x^4] - E[x^2]^2 of a Gaussian x of mean^2 `mean2` and variance `var` whose variance is scaled by a
// factor of relative variance `spread` (finite width), over samples.
double GaussianFourthExcess(double mean2, double var, double spread) {
  return 4 * mean2 * var + 2 * var * var * (1 + spread);
}

// The moments of a per-channel affine map y = a x + c over a range of channels, and what it does to the
// mean and second moment of x (a and c taken independent of x).
struct ChannelAffine {
  double a1 = 0, a2 = 0, ac = 0, c1 = 0, c2 = 0;
  double Mean(double m) const { return a1 * m + c1; }
  double Second(double q, double m) const { return a2 * q + 2 * ac * m + c2; }
};

// One input of a channel Concat, kept apart through the elementwise ops and per-channel affine maps that
// follow (DenseNet's BN-ReLU after each concatenation): `weight` channels of a Gaussian of their own.
// Lifted to one Gaussian of the pooled moments, a positive part (a MaxPool's output) and a centred one
// (a convolution's) would both be cut by ReLU as if centred a little above 0: 8% high in std per
// concatenation on DenseNet.
struct Part {
  double weight = 1, mean = 0, var = 0, shared = -1, spread = 0;
};

// A Gaussian that values are elementwise functions of: a layer's output (after its bias), a
// normalization's output, or an opaque value lifted to a Gaussian when an elementwise op meets it.
struct Source {
  double mean = 0, var = 0;
  Grad grad;  // backward: gradient second moment gathered at this Gaussian
  Profile grad_profile;  // ... and how it varies over positions (sums weighted by each share's grad)
  int layer = -1;   // the layer (index into layers) whose pre-activation this is, or -1
  // The part of var that every position of a channel shares (a channel's offset); -1: the value has no
  // positions (all of var is shared).
  double shared = -1;
  // Finite width: var is var * S for a scale S that differs from sample to sample (E[S] = 1, relative
  // variance `spread`); see ScaleMixture.
  double spread = 0;
  // A Concat's inputs (empty: one Gaussian): mean, var, shared and spread above are their pooled values.
  std::vector<Part> parts;
  std::vector<Grad> part_grad;  // backward: the gradient gathered at each part (grad is their mean)
};

// What is known of one value.
struct State {
  bool known = false;
  bool constant = false;
  std::optional<double> scalar;  // a constant whose elements are all this number
  std::vector<double> values;    // a small constant's values
  double mean = 0, second = 0;   // moments; for a source-derived value, filled by Materialize
  // y = f(z) of source `source`; f empty: y = a z + b.
  int source = -1;
  ScalarFunction f;
  double a = 1, b = 0;
  int depth = 0;
  double attention = 0;  // softmax output: E[sum_j p_j^2] over the axis (0: not attention weights)
  int64_t keys = 0;
  bool materialized = false;
  // The second moment the signal had where it entered this chain: the nearest layer's (or
  // normalization's) output upstream; -1: the model input's. --preserve-signal holds each layer to it.
  double level = -1;
  Profile profile;  // how the second moment varies over a feature map's positions
  // The part of the variance every position of a channel shares (-1: no positions, all of it). A layer
  // reading a positive-mean input gives each output channel a fixed offset of variance n E[w^2] m_x^2,
  // the same at every position: a global average keeps that part and averages the rest away.
  double shared = -1;
  // What a gradient reaching this value is multiplied by on its way back: an averaging pool hands each
  // input 1/(kernel * stride) of its output's gradient second moment, a max pool 1/stride.
  double grad_scale = 1;
  // Finite width: the relative variance, over samples, of the value's mean square (for a source-derived
  // value filled by Materialize from its source's spread), and E[x^4 | scale] - E[x^2 | scale]^2 averaged
  // over the scale, over q^2 (-1: not known; a Gaussian's is used).
  double spread = 0, fourth_excess = -1;
  std::vector<Part> parts;   // a channel Concat's inputs, for the Gaussian it is lifted to (see Part)
  bool parts_in_order = true;  // the parts still hold contiguous channel ranges, in order
  NodeValues node_slopes = Uniform(-1);  // E[f'(z)^2] at each node of the scale mixture (Grad)
  std::vector<NodeValues> part_slopes;   // ... per part of the source, filled by Materialize
};

// One op's elementwise function, from its attributes (and constant inputs).
using MakeFunction = std::function<std::optional<ScalarFunction>(const onnx::NodeProto&)>;

double Attr(const onnx::NodeProto& n, const char* name, double fallback) { return FloatAttr(n, name, static_cast<float>(fallback)); }

// clang-format off
const std::unordered_map<std::string, MakeFunction>& UnaryFunctions() {
  static const std::unordered_map<std::string, MakeFunction> table = {
    {"Relu",      [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return z > 0 ? z : 0; }; }},
    {"LeakyRelu", [](const onnx::NodeProto& n) -> std::optional<ScalarFunction> { double a = Attr(n, "alpha", 0.01); return [a](double z) { return z > 0 ? z : a * z; }; }},
    {"Elu",       [](const onnx::NodeProto& n) -> std::optional<ScalarFunction> { double a = Attr(n, "alpha", 1); return [a](double z) { return z > 0 ? z : a * std::expm1(z); }; }},
    {"Celu",      [](const onnx::NodeProto& n) -> std::optional<ScalarFunction> { double a = Attr(n, "alpha", 1); return [a](double z) { return z > 0 ? z : a * std::expm1(z / a); }; }},
    {"Selu",      [](const onnx::NodeProto& n) -> std::optional<ScalarFunction> {
        double a = Attr(n, "alpha", 1.67326319217681884765625), g = Attr(n, "gamma", 1.05070102214813232421875);
        return [a, g](double z) { return g * (z > 0 ? z : a * std::expm1(z)); }; }},
    {"Sigmoid",   [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return Sigmoid; }},
    {"HardSigmoid", [](const onnx::NodeProto& n) -> std::optional<ScalarFunction> {
        double a = Attr(n, "alpha", 0.2), b = Attr(n, "beta", 0.5);
        return [a, b](double z) { return std::clamp(a * z + b, 0.0, 1.0); }; }},
    {"HardSwish", [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return z * std::clamp(z / 6 + 0.5, 0.0, 1.0); }; }},
    {"Tanh",      [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return std::tanh(z); }; }},
    {"Erf",       [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return std::erf(z); }; }},
    {"Softplus",  [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return z > 30 ? z : std::log1p(std::exp(z)); }; }},
    {"Softsign",  [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return z / (1 + std::fabs(z)); }; }},
    {"Mish",      [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return z * std::tanh(z > 30 ? z : std::log1p(std::exp(z))); }; }},
    {"ThresholdedRelu", [](const onnx::NodeProto& n) -> std::optional<ScalarFunction> { double a = Attr(n, "alpha", 1); return [a](double z) { return z > a ? z : 0; }; }},
    {"Gelu",      [](const onnx::NodeProto& n) -> std::optional<ScalarFunction> {
        if (StringAttr(n, "approximate", "none") == "tanh") {
          return [](double z) { return 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z))); };
        }
        return [](double z) { return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0))); }; }},
    {"Neg",       [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return -z; }; }},
    {"Abs",       [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return std::fabs(z); }; }},
    {"Exp",       [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return std::exp(std::min(z, 80.0)); }; }},
    {"Sqrt",      [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return std::sqrt(std::max(z, 0.0)); }; }},
    {"Sin",       [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return std::sin(z); }; }},
    {"Cos",       [](const onnx::NodeProto&) -> std::optional<ScalarFunction> { return [](double z) { return std::cos(z); }; }},
  };
  return table;
}
// clang-format on

// Ops that move, select or resample values without changing their distribution (pooling and resizing
// approximately so): the output has the input's state. Input 0 carries it.
const std::set<std::string>& DataMovement() {
  static const std::set<std::string> ops = {
      "Identity", "Dropout", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Split",
      "Expand", "Tile", "Pad", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth", "MaxPool", "AveragePool",
      "GlobalAveragePool", "GlobalMaxPool", "Cast", "CastLike", "Gather", "GatherElements", "ReduceMax",
      "ReduceMean", "Compress", "ReverseSequence", "Trilu", "Where"};
  return ops;
}

// The ops whose outputs carry no signal (shapes, sizes, comparisons): no state, no gradient.
const std::set<std::string>& NoSignal() {
  static const std::set<std::string> ops = {"Shape", "Size", "ConstantOfShape", "Range", "NonZero", "Equal",
                                            "Less", "Greater", "Not", "And", "Or", "ArgMax", "ArgMin",
                                            "EyeLike", "RandomNormalLike", "RandomUniformLike"};
  return ops;
}

using Shapes = std::unordered_map<std::string, std::vector<int64_t>>;

// A tensor for shape inference: whole when small (shape and index constants), else only its name,
// type and dims.
void SkeletonTensor(const onnx::TensorProto& t, onnx::TensorProto* out) {
  int64_t n = 1;
  for (int64_t d : t.dims()) n *= std::max<int64_t>(d, 0);
  if (n <= kSmallConstant && t.data_location() != onnx::TensorProto::EXTERNAL) {
    out->CopyFrom(t);
    return;
  }
  out->set_name(t.name());
  out->set_data_type(t.data_type());
  *out->mutable_dims() = t.dims();
}

// Copies a graph for shape inference: nodes and types, but no large tensor's data.
void SkeletonGraph(const onnx::GraphProto& g, onnx::GraphProto* out) {
  out->set_name(g.name());
  *out->mutable_input() = g.input();
  *out->mutable_output() = g.output();
  *out->mutable_value_info() = g.value_info();
  for (const auto& t : g.initializer()) SkeletonTensor(t, out->add_initializer());
  for (const auto& node : g.node()) {
    onnx::NodeProto* c = out->add_node();
    *c->mutable_input() = node.input();
    *c->mutable_output() = node.output();
    c->set_name(node.name());
    c->set_op_type(node.op_type());
    c->set_domain(node.domain());
    for (const auto& attr : node.attribute()) {
      onnx::AttributeProto* a = c->add_attribute();
      if (!attr.has_g() && attr.graphs_size() == 0 && !attr.has_t()) {
        a->CopyFrom(attr);
        continue;
      }
      a->set_name(attr.name());
      a->set_type(attr.type());
      if (attr.has_g()) SkeletonGraph(attr.g(), a->mutable_g());
      for (const auto& sub : attr.graphs()) SkeletonGraph(sub, a->add_graphs());
      if (attr.has_t()) SkeletonTensor(attr.t(), a->mutable_t());
    }
  }
}

void CollectShapes(const onnx::GraphProto& g, Shapes* shapes) {
  auto add = [&](const onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
    std::vector<int64_t> dims;
    for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    (*shapes)[v.name()] = dims;
  };
  for (const auto& v : g.input()) add(v);
  for (const auto& v : g.output()) add(v);
  for (const auto& v : g.value_info()) add(v);
  for (const auto& node : g.node()) {
    for (const auto& attr : node.attribute()) {
      if (attr.has_g()) CollectShapes(attr.g(), shapes);
      for (const auto& sub : attr.graphs()) CollectShapes(sub, shapes);
    }
  }
}

// The shapes ONNX's shape inference finds, for the sizes some rules need (attention keys, contracted
// and concatenated axes). Empty when inference fails: the rules then fall back as they say.
Shapes InferValueShapes(const onnx::ModelProto& model) {
  onnx::ModelProto copy;
  copy.set_ir_version(model.ir_version());
  *copy.mutable_opset_import() = model.opset_import();
  SkeletonGraph(model.graph(), copy.mutable_graph());
  Shapes shapes;
  try {
    // Data propagation: exporters build Reshape targets from Shape, Gather and Concat (a ViT's heads), and
    // only with it does inference see through them to the attention's keys axis.
    onnx::ShapeInferenceOptions options(/*check_type_val=*/false, /*strict_mode_val=*/0, /*data_prop_val=*/true);
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
  } catch (...) {
    // Partial results are still in the copy.
  }
  CollectShapes(copy.graph(), &shapes);
  return shapes;
}

// A layer node: which weight row it reads, at which input.
struct LayerRef {
  const ParamRow* row = nullptr;
  int input = 0;
};

class Propagation {
 public:
  Propagation(const onnx::ModelProto& model, const GraphIndex& index, const ParamTable& table, const MomentsOf& moments,
              const SignalOptions& options)
      : index_(index), moments_(moments), options_(options), shapes_(InferValueShapes(model)) {
    for (const ParamRow& row : table) {
      by_name_.emplace(row.name, &row);
      if (!row.fans) continue;
      for (const LayerUse& use : row.uses) {
        if (use.layer == nullptr || (use.role != Role::kWeight && use.role != Role::kRecurrentInput &&
                                     use.role != Role::kEmbedding)) {
          continue;
        }
        layer_of_.emplace(use.layer, LayerRef{&row, use.layer_input});
      }
    }
  }

  SignalAudit Run() {
    SignalAudit audit;
    audit.input_std = options_.input_std;
    for (const auto& input : index_.graph().input()) {
      if (index_.ConstantValue(input.name()) != nullptr) continue;
      State& s = states_[input.name()];
      s.known = true;
      const int elem = input.type().tensor_type().elem_type();
      if (IsFloatType(elem)) s.second = options_.input_std * options_.input_std;
      else s.constant = true;  // token ids, masks: no signal of their own
      // Independent elements: an image's or a sequence's positions share nothing.
      const int rank = input.type().tensor_type().has_shape() ? input.type().tensor_type().shape().dim_size() : 0;
      s.shared = rank >= 3 ? 0 : -1;
      s.materialized = true;
    }
    Forward(index_.graph());
    // Backward: a unit gradient at every float output of the model.
    for (const auto& output : index_.graph().output()) Deliver(output.name(), Grad::Of(1.0));
    Backward(index_.graph());
    audit.layers = layers_;
    audit.passed_through = passed_through_;
    // The endpoints: layers with weights, for the gradient those it reaches. A zero-initialized branch
    // end carries nothing forward by design, and the branch's other layers get no gradient through it.
    // The head (the last layer, with few outputs) is left out when there are hidden layers: its
    // output's std says more about its width than about the network's stability.
    auto ratio = [&](auto endpoint, bool forward) {
      std::vector<const LayerSignal*> ends;
      for (const LayerSignal& l : audit.layers) {
        if (endpoint(l)) ends.push_back(&l);
      }
      if (ends.empty()) return kNaN;
      const LayerSignal &first = *ends.front(), &last = *ends[ends.size() >= 3 ? ends.size() - 2 : ends.size() - 1];
      return forward ? last.forward_std / first.forward_std : first.backward_std / last.backward_std;
    };
    audit.forward_ratio = ratio([](const LayerSignal& l) { return !l.zero_weights; }, true);
    audit.backward_ratio = ratio([](const LayerSignal& l) { return !l.zero_weights && !(l.backward_std == 0); }, false);
    audit.forward_verdict = SignalVerdict(audit.forward_ratio);
    audit.backward_verdict = SignalVerdict(audit.backward_ratio);
    return audit;
  }

 private:
  // ---- values ----

  State* Find(const std::string& name) {
    if (name.empty()) return nullptr;
    auto it = states_.find(name);
    if (it != states_.end()) return it->second.known ? &it->second : nullptr;
    if (const onnx::TensorProto* t = ConstantThroughIdentity(name, index_)) return &(states_[name] = ConstantState(name, *t));
    return nullptr;
  }

  State ConstantState(const std::string& name, const onnx::TensorProto& t) {
    State s;
    s.known = s.constant = s.materialized = true;
    auto row = by_name_.find(name);
    if (row == by_name_.end()) row = by_name_.find(t.name());
    std::optional<TensorMoments> moments;
    if (row != by_name_.end()) moments = moments_(*row->second);
    if (moments && moments->planned) {
      s.mean = moments->mean, s.second = moments->second, s.scalar = moments->constant;
      return s;
    }
    int64_t n = 0;
    if (IsFloatType(t.data_type()) && ElementCount(t, &n).ok() && n > 0 && n <= kSmallConstant &&
        t.data_location() != onnx::TensorProto::EXTERNAL && ReadValues(t, &s.values).ok()) {
      const TensorStats stats = Measure(s.values);
      s.mean = stats.mean;
      s.second = stats.std * stats.std + stats.mean * stats.mean;
      if (stats.min == stats.max) s.scalar = stats.min;
      return s;
    }
    s.values.clear();
    if (moments) s.mean = moments->mean, s.second = moments->second;
    return s;
  }

  // Fills a source-derived state's moments, and its finite-width spread (the moments at each scale of
  // the source's mixture, averaged).
  void Materialize(State& s) {
    if (s.materialized || s.source < 0) return;
    const Source& src = sources_[s.source];
    if (!s.f) {
      s.mean = s.a * src.mean + s.b;
      s.second = s.a * s.a * (src.var + src.mean * src.mean) + 2 * s.a * s.b * src.mean + s.b * s.b;
      // Linear in the variance: the mixture changes no moment; its spread and fourth moment in closed form.
      const double v = s.a * s.a * src.var, mean2 = s.mean * s.mean, q2 = s.second * s.second;
      s.spread = q2 > 0 ? v * v * src.spread / q2 : 0;
      s.fourth_excess = q2 > 0 ? GaussianFourthExcess(mean2, v, src.spread) / q2 : -1;
      s.node_slopes = Uniform(s.a * s.a);
    } else {
      // Node by node of the scale mixture, the moments averaged over the source's parts (the parts'
      // scales taken as moving together).
      double mean = 0, second = 0, second2 = 0, within = 0;
      const std::vector<Part> parts = PartsOf(src);
      bool spread = false;
      for (const Part& part : parts) spread = spread || part.spread > 1e-9;
      std::vector<std::vector<ScaleNode>> mixtures;
      for (const Part& part : parts) mixtures.push_back(ScaleMixture(part.spread, spread));
      // One node (no spread): every node of a gradient sees the same slopes.
      const bool nodes = mixtures[0].size() == static_cast<size_t>(kNodes);
      s.part_slopes.assign(src.parts.empty() ? 0 : parts.size(), Uniform(0));
      for (size_t k = 0; k < mixtures[0].size(); ++k) {
        FunctionMoments at;
        for (size_t i = 0; i < parts.size(); ++i) {
          const FunctionMoments m = GaussianMoments(s.f, parts[i].mean, parts[i].var * mixtures[i][k].scale);
          if (!s.part_slopes.empty()) {
            if (nodes) s.part_slopes[i][k] = m.slope_second;
            else s.part_slopes[i] = Uniform(m.slope_second);
          }
          at.mean += parts[i].weight * m.mean;
          at.second += parts[i].weight * m.second;
          at.fourth += parts[i].weight * m.fourth;
          at.slope_second += parts[i].weight * m.slope_second;
        }
        const double w = mixtures[0][k].weight;
        if (nodes) s.node_slopes[k] = at.slope_second;
        else s.node_slopes = Uniform(at.slope_second);
        mean += w * at.mean;
        second += w * at.second;
        second2 += w * at.second * at.second;
        within += w * std::max(at.fourth - at.second * at.second, 0.0);
      }
      s.mean = mean, s.second = second;
      s.spread = second > 0 ? std::max(second2 / (second * second) - 1, 0.0) : 0;
      s.fourth_excess = second > 0 ? within / (second * second) : -1;
    }
    s.shared = SharedOfFunction(s, src);
    s.materialized = true;
  }

  // The shared part of f(z) for z = c + e, c ~ N(m, shared) a channel's offset and e ~ N(0, var - shared)
  // the rest: the variance over c of g(c) = E_e f(c + e).
  // With parts, the variance over all channels: each part's own, plus how far its mean is from the rest.
  double SharedOfFunction(const State& s, const Source& src) {
    if (src.shared < 0 || src.shared >= src.var) return -1;
    if (src.shared == 0 && src.parts.empty()) return 0;
    if (!s.f) return s.a * s.a * src.shared;
    double mean = 0, second = 0;
    for (const Part& part : PartsOf(src)) {
      const auto [g1, g_var] = ChannelMeans(s.f, part);
      mean += part.weight * g1;
      second += part.weight * (g_var + g1 * g1);
    }
    return std::max(second - mean * mean, 0.0);
  }

  // The mean and the variance over channels of g(c) = E_e f(c + e), c ~ N(m, shared) a channel's offset
  // and e ~ N(0, var - shared) the rest. (Not averaged over the finite-width scale: in a convolution
  // most of that spread is from position to position, not shared by a channel's positions; taken as
  // shared, it helped squeeze-excite layers and put MobileNetV2's head 27% high.)
  static std::pair<double, double> ChannelMeans(const ScalarFunction& f, const Part& part) {
    const double shared = std::clamp(part.shared, 0.0, part.var);
    if (shared == 0) return {GaussianMoments(f, part.mean, part.var).mean, 0.0};
    constexpr int kOuter = 24;  // the inner average smooths g: a coarse outer rule suffices
    const double sd = std::sqrt(shared), rest = part.var - shared;
    double w_sum = 0, g1 = 0, g2 = 0;
    for (int i = 0; i < kOuter; ++i) {
      const double t = -5 + 10.0 * (i + 0.5) / kOuter, w = std::exp(-0.5 * t * t);
      const double g = GaussianMoments(f, part.mean + sd * t, rest).mean;
      w_sum += w, g1 += w * g, g2 += w * g * g;
    }
    g1 /= w_sum, g2 /= w_sum;
    return {g1, std::max(g2 - g1 * g1, 0.0)};
  }

  // A source's parts, weights summing to 1: its Concat inputs, or itself.
  static std::vector<Part> PartsOf(const Source& src) {
    if (src.parts.empty()) return {Part{1.0, src.mean, src.var, src.shared, src.spread}};
    std::vector<Part> parts = src.parts;
    double total = 0;
    for (const Part& p : parts) total += p.weight;
    for (Part& p : parts) p.weight /= total;
    return parts;
  }

  // The shared part of a state's variance, -1 read as all of it.
  static double Shared(const State& s) { return s.shared < 0 ? Var(s) : std::min(s.shared, Var(s)); }

  static double Var(const State& s) { return std::max(s.second - s.mean * s.mean, 0.0); }

  // E[f'(z)^2] of a source-derived value, at each node of its source's scale mixture.
  NodeValues NodeSlopes(const State& s) {
    if (!s.f) return Uniform(s.a * s.a);
    if (s.materialized && s.node_slopes[0] >= 0) return s.node_slopes;
    State copy = s;
    copy.materialized = false;
    Materialize(copy);
    return copy.node_slopes;
  }

  // Finite width: the relative variance over samples of the mean square of n elements of a value (what a
  // layer summing n of them scales its output's variance by): the value's own spread plus that of an
  // average of n terms, (E[x^4] - E[x^2]^2) / E[x^2]^2 over n (a Gaussian's when not known).
  static double MeanSquareSpread(const State& s, double n) {
    if (n <= 0 || !(s.second > 0)) return s.spread;
    double excess = s.fourth_excess;
    if (excess < 0) excess = GaussianFourthExcess(s.mean * s.mean, Var(s), s.spread) / (s.second * s.second);
    return s.spread + excess / n;
  }

  int NewSource(double mean, double var, int layer, double shared = -1, double spread = 0) {
    Source source;
    source.mean = mean, source.var = std::max(var, 0.0), source.layer = layer;
    source.spread = options_.finite_width ? std::max(spread, 0.0) : 0.0;
    source.shared = shared < 0 ? -1 : std::min(shared, source.var);
    sources_.push_back(std::move(source));
    return static_cast<int>(sources_.size()) - 1;
  }

  State Gaussian(double mean, double var, int depth, int layer = -1, double shared = -1, double spread = 0) {
    State s;
    s.known = true;
    s.source = NewSource(mean, var, layer, shared, spread);
    s.depth = depth;
    Materialize(s);
    return s;
  }

  // The value `name` as an elementwise function of a Gaussian: itself, or (opaque) lifted to one once,
  // so that every op reading it sees the same Gaussian (x * Sigmoid(x) of an opaque x stays exact).
  State Lifted(const std::string& name) {
    State& s = states_[name];
    if (s.source < 0) {
      Materialize(s);
      s.source = NewSource(s.mean, Var(s), -1, s.shared, s.spread);
      sources_[s.source].parts = s.parts;
      s.f = nullptr;
      s.a = 1, s.b = 0;
      s.grad_scale = 1;  // the lifted Gaussian is the value itself: its gradient goes back node by node
      lifted_[name] = s.source;
    }
    return s;
  }

  static ScalarFunction Compose(const State& s) {
    if (s.f) return s.f;
    const double a = s.a, b = s.b;
    return [a, b](double z) { return a * z + b; };
  }

  // ---- forward ----

  void Set(const onnx::NodeProto& node, int output, State s) {
    if (output >= node.output_size() || node.output(output).empty()) return;
    s.known = true;
    states_[node.output(output)] = std::move(s);
  }

  void Forward(const onnx::GraphProto& graph) {
    for (const auto& node : graph.node()) ForwardNode(node);
  }

  void ForwardNode(const onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    if (op == "Constant" || NoSignal().count(op)) return;
    if (auto it = layer_of_.find(&node); it != layer_of_.end()) return LayerForward(node, it->second);
    std::vector<State*> in;
    int depth = 0;
    for (const auto& name : node.input()) {
      State* s = Find(name);
      in.push_back(s);
      if (s) depth = std::max(depth, s->depth);
    }
    if (norm_output_.count(node.output_size() ? node.output(0) : "")) return;
    if (op == "If" || op == "Loop" || op == "Scan") return BodiesForward(node, in, depth);
    // A node whose inputs are all constants or unknown (a shape, a mask) carries no signal.
    if (std::none_of(in.begin(), in.end(), [](const State* s) { return s != nullptr && !s->constant; })) return;
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow") return BinaryForward(node, in, depth);
    if (op == "Concat") return ConcatForward(node, in, depth);
    if (in[0] == nullptr) return Carry(node);
    if (op == "ReduceMean" && !in[0]->constant) {
      if (auto norm = MatchNormalization(node.input(0), index_)) return DecomposedNormForward(node, *norm, *in[0]);
    }
    if (auto f = UnaryFunctions().find(op); f != UnaryFunctions().end()) {
      if (auto fn = f->second(node)) return Compose(node, node.input(0), *fn);
    }
    if (op == "Clip") return ClipForward(node, in);
    if (op == "MaxPool") return MaxPoolForward(node);
    if (AveragesPositions(node)) return AverageForward(node, /*global=*/true);
    if (op == "AveragePool") return AverageForward(node, /*global=*/false);
    if (op == "PRelu") return PReluForward(node, in);
    if (op == "Softmax" || op == "LogSoftmax") return SoftmaxForward(node, *in[0]);
    if (op == "MatMul" && in.size() == 2 && in[1] != nullptr) return ActivationMatMulForward(node, *in[0], *in[1], depth);
    if (op == "BatchNormalization" || op == "LayerNormalization" || op == "InstanceNormalization" ||
        op == "GroupNormalization" || op == "SimplifiedLayerNormalization" || op == "SkipLayerNormalization") {
      return NormForward(node, in, depth);
    }
    if (op == "LSTM" || op == "GRU" || op == "RNN") return;  // handled as layers (their W row)
    Carry(node);
  }

  // Data movement carries its input's state (input 0 when it is computed); any other op too, counted.
  void Carry(const onnx::NodeProto& node) {
    if (!DataMovement().count(node.op_type())) ++passed_through_[node.op_type()];
    const std::string carried = ComputedInput(node);
    if (carried.empty() || Find(carried) == nullptr) return;
    absorbed_.insert(&node);
    State out = states_[carried];
    // A Gaussian's function sends its gradient straight to the Gaussian, past this node: it carries the
    // pool's share. An opaque value's gradient comes back node by node (Backward applies it here).
    if (out.source >= 0) out.grad_scale *= PoolGradientScale(node);
    out.profile = CarriedProfile(node, out.profile);
    // A Concat's parts survive ops that keep every element (in channel order, or reordered: a channel
    // shuffle); a slice, gather or pool of them is no longer made of them in those proportions.
    static const std::set<std::string> kKeepOrder = {"Identity", "Dropout", "Cast", "CastLike", "Pad", "Resize",
                                                     "Upsample"};
    static const std::set<std::string> kReorder = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                                                   "DepthToSpace", "SpaceToDepth"};
    if (kReorder.count(node.op_type())) out.parts_in_order = false;
    else if (!kKeepOrder.count(node.op_type())) out.parts.clear();
    for (int o = 0; o < node.output_size(); ++o) Set(node, o, out);
  }

  // The ops that keep every element where it is keep the profile; a pooling averages it over its windows;
  // anything else (flattening, global pooling, resizing) loses it.
  Profile CarriedProfile(const onnx::NodeProto& node, const Profile& in) {
    const std::string& op = node.op_type();
    if (op == "Identity" || op == "Dropout" || op == "Cast" || op == "CastLike") return in;
    if ((op != "MaxPool" && op != "AveragePool") || in.empty()) return {};
    const std::vector<AxisWindow> windows = PoolWindows(node, in);
    if (windows.empty()) return {};
    Profile out;
    for (size_t a = 0; a < windows.size(); ++a) {
      std::vector<double> sums = WindowSums(windows[a], in[a]), counts = WindowSums(windows[a], {});
      for (size_t o = 0; o < sums.size(); ++o) sums[o] /= std::max(counts[o], 1.0);
      Normalize(sums);
      out.push_back(std::move(sums));
    }
    return out;
  }

  std::vector<AxisWindow> PoolWindows(const onnx::NodeProto& node, const Profile& in) {
    std::vector<int64_t> sizes;
    for (const auto& axis : in) sizes.push_back(static_cast<int64_t>(axis.size()));
    return Windows(node, sizes, IntsAttr(node, "kernel_shape"));
  }

  // The share of an output's gradient second moment each input of a pooling gets (1 for other ops):
  // AveragePool sums (1/K)^2 over the K/S windows an input is in, MaxPool routes each window's gradient
  // to one of its inputs (out/in = 1/S of them), a global or ReduceMean average over n positions 1/n^2
  // from its one output.
  double PoolGradientScale(const onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    auto product = [](const std::vector<int64_t>& v) {
      double p = 1;
      for (int64_t x : v) p *= static_cast<double>(std::max<int64_t>(x, 1));
      return p;
    };
    if (op == "AveragePool") return 1 / (product(IntsAttr(node, "kernel_shape")) * product(IntsAttr(node, "strides")));
    if (op == "MaxPool") return 1 / product(IntsAttr(node, "strides"));
    if (op != "GlobalAveragePool" && op != "GlobalMaxPool" && op != "ReduceMean") return 1;
    auto it = shapes_.find(node.input(0));
    if (it == shapes_.end()) return 1;
    const std::vector<int64_t>& dims = it->second;
    std::vector<int64_t> axes = op == "ReduceMean" ? ReduceAxes(node) : std::vector<int64_t>{};
    if (op != "ReduceMean") {
      for (size_t a = 2; a < dims.size(); ++a) axes.push_back(static_cast<int64_t>(a));
    }
    double n = 1;
    for (int64_t a : axes) {
      if (a < 0) a += static_cast<int64_t>(dims.size());
      if (a < 0 || a >= static_cast<int64_t>(dims.size()) || dims[a] <= 0) return 1;
      n *= static_cast<double>(dims[a]);
    }
    // An average: each input gets 1/n of the gradient, 1/n^2 of its second moment; a max: one in n.
    return op == "GlobalMaxPool" ? 1 / n : 1 / (n * n);
  }

  void Compose(const onnx::NodeProto& node, const std::string& x, ScalarFunction fn) {
    State y = Lifted(x);
    const ScalarFunction inner = Compose(y);
    y.f = [inner, fn](double z) { return fn(inner(z)); };
    y.materialized = false;
    y.constant = false;
    Materialize(y);
    absorbed_.insert(&node);
    Set(node, 0, y);
  }

  // A ReduceMean's axes: the attribute (before opset 18), or the constant second input.
  std::vector<int64_t> ReduceAxes(const onnx::NodeProto& node) {
    std::vector<int64_t> axes = IntsAttr(node, "axes");
    if (axes.empty() && node.input_size() > 1) {
      if (const State* a = Find(node.input(1)); a != nullptr) {
        for (double v : a->values) axes.push_back(static_cast<int64_t>(v));
      }
    }
    return axes;
  }

  // GlobalAveragePool, or a ReduceMean over the spatial axes of a map or the tokens of a sequence.
  bool AveragesPositions(const onnx::NodeProto& node) {
    if (node.op_type() == "GlobalAveragePool") return true;
    if (node.op_type() != "ReduceMean") return false;
    auto it = shapes_.find(node.input(0));
    if (it == shapes_.end()) return false;
    const int64_t rank = static_cast<int64_t>(it->second.size());
    std::vector<int64_t> axes = ReduceAxes(node);
    if (axes.empty()) return false;
    for (int64_t& a : axes) {
      if (a < 0) a += rank;
      const bool position = rank == 4 ? (a == 2 || a == 3) : rank == 3 ? a == 1 : false;
      if (!position) return false;
    }
    return true;
  }

  // An average over K positions keeps each channel's shared part and 1/K of the rest (neighbours taken
  // as independent; they are not quite, so for AveragePool's small windows a lower bound): q = m^2 +
  // shared + (var - shared) / K. A global average (K = infinity) leaves no positions.
  void AverageForward(const onnx::NodeProto& node, bool global) {
    const std::string input = ComputedInput(node);
    State* x = Find(input);
    if (x == nullptr) return;
    Materialize(*x);
    if (x->shared < 0) return Carry(node);  // positions not known: identity
    double k = 1;
    for (int64_t d : IntsAttr(node, "kernel_shape")) k *= static_cast<double>(std::max<int64_t>(d, 1));
    const double shared = Shared(*x);
    State y;
    y.known = y.materialized = true;
    y.mean = x->mean;
    y.second = x->mean * x->mean + shared + (global ? 0.0 : (Var(*x) - shared) / k);
    y.shared = global ? -1 : shared;
    y.spread = x->spread;  // an average over one sample's positions keeps that sample's scale
    y.depth = x->depth;
    y.level = x->level;
    if (!global) y.profile = CarriedProfile(node, x->profile);
    absorbed_.insert(&node);  // backward: the pool's share of the gradient, node by node
    Set(node, 0, y);
  }

  // The maximum of K values: for a nondecreasing f (ReLU, a positive affine map, ...), MaxPool(f(z)) =
  // f(max z), and the max of K independent N(m, v) is about N(m + mu_K sqrt(v), sigma2_K v) (the moments
  // of the largest of K standard normals; K the in-bounds taps of a window, on average). Without this a
  // 3x3 max pool of ReLU features is off by a factor of 2 in q (DenseNet's stem, VGG).
  void MaxPoolForward(const onnx::NodeProto& node) {
    const std::string& input = node.input(0);
    State y = Lifted(input);
    const int from = y.source;
    double k = 1;
    const std::vector<AxisWindow> windows = y.profile.empty() ? [&] {
      auto it = shapes_.find(input);
      const std::vector<int64_t> kernel = IntsAttr(node, "kernel_shape");
      if (it == shapes_.end() || it->second.size() != kernel.size() + 2) return std::vector<AxisWindow>{};
      return Windows(node, {it->second.begin() + 2, it->second.end()}, kernel);
    }() : PoolWindows(node, y.profile);
    if (!windows.empty()) {
      for (const AxisWindow& w : windows) {
        const std::vector<double> counts = WindowSums(w, {});
        double sum = 0;
        for (double c : counts) sum += c;
        k *= sum / static_cast<double>(counts.size());
      }
    } else {
      for (int64_t d : IntsAttr(node, "kernel_shape")) k *= static_cast<double>(std::max<int64_t>(d, 1));
    }
    const auto [mu, sigma2] = MaxOfNormals(std::max(1, static_cast<int>(std::lround(k))));
    const Source src = sources_[from];
    const double shared = src.shared < 0 ? 0 : src.shared, rest = src.var - shared;
    y.source = NewSource(src.mean + std::sqrt(rest) * mu, shared + rest * sigma2, -1, src.shared < 0 ? -1 : shared);
    y.materialized = false;
    Materialize(y);
    y.profile = CarriedProfile(node, y.profile);
    max_pools_[&node] = {from, y.source};
    Set(node, 0, y);
  }

  // E[max] and Var[max] of k independent standard normals (density k phi(x) Phi(x)^(k-1)), by the
  // trapezoid rule; cached per k.
  std::pair<double, double> MaxOfNormals(int k) {
    auto it = max_of_normals_.find(k);
    if (it != max_of_normals_.end()) return it->second;
    const int n = 4000;
    const double lo = -10, h = 20.0 / n;
    double m0 = 0, m1 = 0, m2 = 0;
    for (int i = 0; i <= n; ++i) {
      const double x = lo + i * h, w = (i == 0 || i == n) ? 0.5 : 1.0;
      const double d = k * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI) * std::pow(0.5 * std::erfc(-x / std::sqrt(2.0)), k - 1);
      m0 += w * d, m1 += w * d * x, m2 += w * d * x * x;
    }
    const double mean = m1 / m0;
    return max_of_normals_[k] = {mean, m2 / m0 - mean * mean};
  }

  void ClipForward(const onnx::NodeProto& node, const std::vector<State*>& in) {
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    if (HasAttr(node, "min")) lo = Attr(node, "min", lo);
    if (HasAttr(node, "max")) hi = Attr(node, "max", hi);
    if (in.size() > 1 && in[1] && in[1]->scalar) lo = *in[1]->scalar;
    if (in.size() > 2 && in[2] && in[2]->scalar) hi = *in[2]->scalar;
    Compose(node, node.input(0), [lo, hi](double z) { return std::clamp(z, lo, hi); });
  }

  void PReluForward(const onnx::NodeProto& node, const std::vector<State*>& in) {
    const double slope = in.size() > 1 && in[1] ? in[1]->mean : 0.25;
    Compose(node, node.input(0), [slope](double z) { return z > 0 ? z : slope * z; });
  }

  void BinaryForward(const onnx::NodeProto& node, const std::vector<State*>& in, int depth) {
    const std::string& op = node.op_type();
    if (in.size() < 2) return;
    State* x = in[0];
    State* c = in[1];
    const bool x_const = x == nullptr || x->constant, c_const = c == nullptr || c->constant;
    if (op == "Pow") {
      if (!x_const && c && c->scalar) {
        const double p = *c->scalar;
        return Compose(node, node.input(0), [p](double z) { return std::pow(z, p); });
      }
      ++passed_through_[op];
      return;
    }
    if (x_const != c_const) {
      const bool constant_left = x_const;
      const std::string& value = node.input(constant_left ? 1 : 0);
      State* k = constant_left ? x : c;
      if (k == nullptr) {  // a constant computed from shapes: no rule
        ++passed_through_[op];
        absorbed_.insert(&node);
        return Set(node, 0, states_[value]);
      }
      if (!k->scalar) return PerChannelForward(node, states_[value], *k, constant_left, depth);
      // A scalar: composed exactly, and an affine function stays affine.
      const double v = *k->scalar;
      State y = Lifted(value);
      if (!y.f && op == "Add") {
        y.b += v;
      } else if (!y.f && op == "Sub") {
        if (constant_left) y.a = -y.a, y.b = v - y.b;
        else y.b -= v;
      } else if (!y.f && op == "Mul") {
        y.a *= v, y.b *= v;
      } else if (!y.f && op == "Div" && !constant_left) {
        y.a /= v, y.b /= v;
      } else {
        y.f = ScalarOp(op, constant_left, v, Compose(y));
      }
      y.materialized = false;
      Materialize(y);
      absorbed_.insert(&node);
      return Set(node, 0, y);
    }
    // Two computed values: of one Gaussian, composed exactly; else independent.
    if (x->source >= 0 && x->source == c->source) {
      State y = *x;
      y.f = ScalarOp2(op, Compose(*x), Compose(*c));
      y.materialized = false;
      Materialize(y);
      absorbed_.insert(&node);
      return Set(node, 0, y);
    }
    Materialize(*x);
    Materialize(*c);
    State y;
    y.known = y.materialized = true;
    y.depth = depth;
    y.level = std::max(x->level, c->level);
    y.profile = Blend(x->profile, x->second, c->profile, c->second);
    const bool positions = x->shared >= 0 || c->shared >= 0;
    if (op == "Add" || op == "Sub") {
      const double sign = op == "Add" ? 1 : -1;
      y.mean = x->mean + sign * c->mean;
      y.second = x->second + c->second + 2 * sign * x->mean * c->mean;
      y.shared = positions ? Shared(*x) + Shared(*c) : -1;
      // Finite width: the two scales taken as moving together (a residual branch's scale follows its
      // input's), so their relative deviations add in proportion to each side's mean square.
      const double deviation = x->second * std::sqrt(x->spread) + c->second * std::sqrt(c->spread);
      y.spread = y.second > 0 ? std::pow(deviation / y.second, 2) : 0;
    } else if (op == "Mul") {
      y.mean = x->mean * c->mean;
      y.second = x->second * c->second;
      y.shared = positions ? (x->mean * x->mean + Shared(*x)) * (c->mean * c->mean + Shared(*c)) - y.mean * y.mean : -1;
      y.spread = (1 + x->spread) * (1 + c->spread) - 1;
    } else {  // Div of two computed values: no rule
      ++passed_through_[op];
      y = *x;
    }
    Set(node, 0, y);
  }

  static ScalarFunction ScalarOp(const std::string& op, bool constant_left, double v, ScalarFunction f) {
    if (op == "Add") return [f, v](double z) { return f(z) + v; };
    if (op == "Sub") return constant_left ? ScalarFunction([f, v](double z) { return v - f(z); })
                                          : ScalarFunction([f, v](double z) { return f(z) - v; });
    if (op == "Mul") return [f, v](double z) { return f(z) * v; };
    return constant_left ? ScalarFunction([f, v](double z) { return v / f(z); })
                         : ScalarFunction([f, v](double z) { return f(z) / v; });
  }

  static ScalarFunction ScalarOp2(const std::string& op, ScalarFunction f1, ScalarFunction f2) {
    if (op == "Add") return [f1, f2](double z) { return f1(z) + f2(z); };
    if (op == "Sub") return [f1, f2](double z) { return f1(z) - f2(z); };
    if (op == "Mul") return [f1, f2](double z) { return f1(z) * f2(z); };
    return [f1, f2](double z) {
      const double d = f2(z);
      return d == 0 ? 0 : f1(z) / d;
    };
  }

  // A per-channel constant (a bias, a folded BatchNorm's scale and shift): the channels' values act
  // as one more independent random term.
  void PerChannelForward(const onnx::NodeProto& node, State& x, const State& k, bool constant_left, int depth) {
    const std::string& op = node.op_type();
    Materialize(x);
    const double var_k = Var(k);
    State y;
    y.known = true;
    y.depth = depth;
    const bool gaussian = x.source >= 0 && !x.f;
    const int layer = x.source >= 0 ? sources_[x.source].layer : -1;
    double mean = 0, var = 0, shared = 0;  // shared: a per-channel constant is a shared offset
    if (op == "Add" || op == "Sub") {
      mean = op == "Add" ? x.mean + k.mean : constant_left ? k.mean - x.mean : x.mean - k.mean;
      var = Var(x) + var_k;
      shared = Shared(x) + var_k;
    } else if (op == "Mul" || (op == "Div" && !constant_left)) {
      double k1 = k.mean, k2 = k.second;
      if (op == "Div") {
        // E[1/c] and E[1/c^2] over the channels.
        double s1 = 0, s2 = 0;
        for (double v : k.values) s1 += 1 / v, s2 += 1 / (v * v);
        const double n = static_cast<double>(std::max<size_t>(k.values.size(), 1));
        k1 = k.values.empty() ? 1 / k.mean : s1 / n;
        k2 = k.values.empty() ? 1 / k.second : s2 / n;
      }
      mean = x.mean * k1;
      var = std::max(x.second * k2 - mean * mean, 0.0);
      shared = std::max((x.mean * x.mean + Shared(x)) * k2 - mean * mean, 0.0);
    } else {
      ++passed_through_[op];
      return Set(node, 0, x);
    }
    if (x.shared < 0) shared = -1;
    if (gaussian) {
      // Still a Gaussian (a layer's output plus its bias): a new source that is still that layer's.
      y = Gaussian(mean, var, depth, layer, shared);
      if (layer >= 0) layer_pre_[layer] = y.source;
      source_of_node_[&node] = y.source;
      y.level = x.level >= 0 && layer >= 0 ? y.second : x.level;
      y.profile = x.profile;
      return Set(node, 0, y);
    }
    y.level = x.level;
    y.profile = x.profile;
    y.materialized = true;
    y.mean = mean;
    y.second = var + mean * mean;
    y.shared = shared;
    Set(node, 0, y);
  }

  void SoftmaxForward(const onnx::NodeProto& node, const State& x) {
    // Weights over L keys: E[sum p^2] = E[exp(2s)] / (L E[exp(s)]^2) = exp(var_s) / L for scores s of
    // variance var_s (log-normal), at most 1.
    int64_t keys = 0;
    auto it = shapes_.find(node.input(0));
    if (it != shapes_.end() && !it->second.empty()) {
      int64_t axis = IntAttr(node, "axis", -1);
      if (axis < 0) axis += static_cast<int64_t>(it->second.size());
      if (axis >= 0 && axis < static_cast<int64_t>(it->second.size())) keys = it->second[axis];
    }
    State xs = x;
    Materialize(xs);
    State y;
    y.known = y.materialized = true;
    y.depth = x.depth;
    y.level = x.level;
    y.keys = keys;
    const double l = keys > 0 ? static_cast<double>(keys) : 1;
    y.attention = std::min(1.0, std::exp(std::min(Var(xs), 50.0)) / l);
    y.mean = 1 / l;
    y.second = y.attention / l;
    Set(node, 0, y);
  }

  int64_t Dim(const std::string& value, int from_end) {
    auto it = shapes_.find(value);
    if (it == shapes_.end() || static_cast<int>(it->second.size()) < from_end) return -1;
    return it->second[it->second.size() - from_end];
  }

  void ActivationMatMulForward(const onnx::NodeProto& node, State& a, State& b, int depth) {
    Materialize(a);
    Materialize(b);
    State y;
    y.known = y.materialized = true;
    y.depth = depth;
    if (a.attention > 0) {
      // The average over keys keeps what the tokens share and averages the rest.
      const double shared = Shared(b);
      y.mean = b.mean;
      y.second = b.mean * b.mean + shared + (Var(b) - shared) * a.attention;
      y.shared = b.shared < 0 ? -1 : shared;
      return Set(node, 0, y);
    }
    const int64_t k = Dim(node.input(0), 1);
    const double terms = k > 0 ? static_cast<double>(k) : 1;
    if (k <= 0) ++passed_through_["MatMul (contracted size unknown)"];
    y.mean = terms * a.mean * b.mean;
    y.second = terms * a.second * b.second + terms * (terms - 1) * a.mean * a.mean * b.mean * b.mean;
    Set(node, 0, y);
  }

  void ConcatForward(const onnx::NodeProto& node, const std::vector<State*>& in, int depth) {
    int64_t axis = IntAttr(node, "axis", 0);
    double total = 0, mean = 0, second = 0, shared = 0, deviation = 0;
    bool positions = false;
    Profile profile;
    std::vector<Part> parts;
    bool channels = true;  // joined along the channels: the maps' profiles blend
    for (int i = 0; i < node.input_size(); ++i) {
      State* s = in[i];
      if (s == nullptr) continue;
      Materialize(*s);
      double w = 1;
      auto it = shapes_.find(node.input(i));
      if (it != shapes_.end()) {
        const int64_t rank = static_cast<int64_t>(it->second.size());
        const int64_t ax = axis < 0 ? axis + rank : axis;
        if (ax >= 0 && ax < rank && it->second[ax] > 0) w = static_cast<double>(it->second[ax]);
      }
      channels = channels && it != shapes_.end() && (axis == 1 || axis == 1 - static_cast<int64_t>(it->second.size()));
      profile = i == 0 ? s->profile : Blend(profile, second, s->profile, w * s->second);
      positions = positions || s->shared >= 0;
      total += w;
      mean += w * s->mean;
      second += w * s->second;
      shared += w * Shared(*s);
      deviation += w * s->second * std::sqrt(s->spread);
      parts.push_back(Part{w, s->mean, Var(*s), s->shared < 0 ? -1 : Shared(*s), s->spread});
    }
    if (total == 0) return;
    State y;
    y.known = y.materialized = true;
    y.depth = depth;
    y.mean = mean / total;
    y.second = second / total;
    // Along the channels, each input's mean is a per-channel offset too: it adds to the shared part.
    double between = 0;
    for (const Part& p : parts) between += p.weight * (p.mean - y.mean) * (p.mean - y.mean);
    y.shared = positions ? (shared + (channels ? between : 0)) / total : -1;
    y.spread = second > 0 ? std::pow(deviation / second, 2) : 0;  // the scales taken as moving together, as in Add
    if (channels) y.profile = profile;
    if (channels && parts.size() > 1) y.parts = std::move(parts);
    Set(node, 0, y);
  }

  // Normalizations: the output's moments come from the scale and shift, whatever the input.
  void NormForward(const onnx::NodeProto& node, const std::vector<State*>& in, int depth) {
    const std::string& op = node.op_type();
    State& x = *in[0];
    Materialize(x);
    const int scale = op == "SkipLayerNormalization" ? 2 : 1, shift = op == "SkipLayerNormalization" ? 3 : 2;
    const State* s = in.size() > static_cast<size_t>(scale) ? in[scale] : nullptr;
    const State* b = in.size() > static_cast<size_t>(shift) ? in[shift] : nullptr;
    const double s2 = s ? s->second : 1, b1 = b ? b->mean : 0, b2 = b ? b->second : 0;
    if (op == "BatchNormalization" && options_.bn_inference && in.size() >= 5 && in[3] && in[4] && s && b &&
        !s->values.empty() && s->values.size() == b->values.size() && s->values.size() == in[3]->values.size() &&
        s->values.size() == in[4]->values.size()) {
      // y = a x + c per channel, a = s / sqrt(v + eps), c = B - a mean: the moments of a and c over a
      // range of channels (all of them, or a Concat part's).
      const double eps = Attr(node, "epsilon", 1e-5);
      const size_t n = s->values.size();
      auto affine = [&](size_t from, size_t to) {
        ChannelAffine m;
        for (size_t i = from; i < to; ++i) {
          const double a = s->values[i] / std::sqrt(in[4]->values[i] + eps), c = b->values[i] - a * in[3]->values[i];
          m.a1 += a, m.a2 += a * a, m.ac += a * c, m.c1 += c, m.c2 += c * c;
        }
        const double k = static_cast<double>(to - from);
        m.a1 /= k, m.a2 /= k, m.ac /= k, m.c1 /= k, m.c2 /= k;
        return m;
      };
      const ChannelAffine all = affine(0, n);
      const double mean = all.Mean(x.mean), second = all.Second(x.second, x.mean);
      norm_gain_[&node] = all.a2;
      const double shared = x.shared < 0 ? -1 : all.Second(x.mean * x.mean + Shared(x), x.mean) - mean * mean;
      State y = Gaussian(mean, second - mean * mean, depth, -1, std::max(shared, x.shared < 0 ? -1.0 : 0.0),
                         x.spread);
      // A Concat's parts stay apart, each through its own channels' a and c.
      double channels = 0;
      for (const Part& p : x.parts) channels += p.weight;
      if (!x.parts.empty() && (channels == static_cast<double>(n) || !x.parts_in_order)) {
        std::vector<Part> parts;
        size_t from = 0;
        for (const Part& p : x.parts) {
          const size_t to = from + static_cast<size_t>(p.weight);
          Part q = p;
          if (to > from) {
            // Shuffled (a channel shuffle after the Concat): every part meets every channel's a and c.
            const ChannelAffine m = x.parts_in_order ? affine(from, to) : all;
            q.mean = m.Mean(p.mean);
            q.var = std::max(m.Second(p.var + p.mean * p.mean, p.mean) - q.mean * q.mean, 0.0);
            if (p.shared >= 0) q.shared = std::clamp(m.Second(p.mean * p.mean + p.shared, p.mean) - q.mean * q.mean, 0.0, q.var);
          }
          parts.push_back(q);
          from = to;
        }
        sources_[y.source].parts = std::move(parts);
      }
      y.level = y.second;
      y.profile = x.profile;
      source_of_node_[&node] = y.source;
      return Set(node, 0, y);
    }
    norm_gain_[&node] = s2 / std::max(Var(x), 1e-30);
    // Batch, instance and group norms take each channel's offset out (the shift's spread is left); a
    // layer norm (over the features at each position) scales it with the rest.
    const bool per_channel = op == "BatchNormalization" || op == "InstanceNormalization" || op == "GroupNormalization";
    const double shared = x.shared < 0 ? -1
                          : per_channel ? b2 - b1 * b1
                                        : s2 * Shared(x) / std::max(Var(x), 1e-30) + b2 - b1 * b1;
    // Finite width: a batch norm divides by statistics over the batch, so each sample's scale stays; the
    // others normalize each sample by its own statistics and take it out.
    State y = Gaussian(b1, s2 + b2 - b1 * b1, depth, -1, shared, op == "BatchNormalization" ? x.spread : 0.0);
    y.level = y.second;
    y.profile = x.profile;  // normalized per channel: the border stays weaker than the middle
    source_of_node_[&node] = y.source;
    Set(node, 0, y);
  }

  // A LayerNorm written out (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, ...): its outputs are unit
  // Gaussians; the nodes in between carry nothing of their own.
  void DecomposedNormForward(const onnx::NodeProto& node, const NormMatch& norm, State& x) {
    Materialize(x);
    for (const onnx::NodeProto* n : norm.nodes) {
      absorbed_.insert(n);
      for (const auto& o : n->output()) norm_output_.insert(o);
    }
    const int depth = x.depth;
    for (const auto& out : norm.outputs) {
      State y = Gaussian(0, 1, depth, -1, x.shared < 0 ? -1 : Shared(x) / std::max(Var(x), 1e-30));
      y.level = 1;
      y.profile = x.profile;
      decomposed_at_[&node].push_back({node.input(0), out, y.source, 1 / std::max(Var(x), 1e-30)});
      states_[out] = y;
    }
  }

  void BodiesForward(const onnx::NodeProto& node, const std::vector<State*>& in, int depth) {
    const std::string& op = node.op_type();
    std::vector<const onnx::GraphProto*> bodies;
    for (const auto& attr : node.attribute()) {
      if (attr.has_g()) bodies.push_back(&attr.g());
    }
    for (const onnx::GraphProto* body : bodies) {
      // Loop: body inputs (iteration, condition, carried...) bind to the node's inputs by position;
      // Scan: its inputs bind the same way (one step). If bodies read outer values directly.
      if (op != "If") {
        for (int i = 0; i < body->input_size() && i < static_cast<int>(in.size()); ++i) {
          if (in[i] != nullptr && op != "If") states_[body->input(i).name()] = *in[i];
        }
      }
      Forward(*body);
    }
    // Outputs: If averages its branches; Loop and Scan give the body's (Loop after its condition).
    const int skip = op == "Loop" ? 1 : 0;
    for (int o = 0; o < node.output_size(); ++o) {
      double mean = 0, second = 0, n = 0;
      int out_depth = depth;
      for (const onnx::GraphProto* body : bodies) {
        if (o + skip >= body->output_size()) continue;
        State* s = Find(body->output(o + skip).name());
        if (s == nullptr) continue;
        Materialize(*s);
        mean += s->mean, second += s->second, n += 1;
        out_depth = std::max(out_depth, s->depth);
      }
      if (n == 0) continue;
      State y;
      y.known = y.materialized = true;
      y.mean = mean / n, y.second = second / n, y.depth = out_depth;
      Set(node, o, y);
    }
  }

  TensorMoments WeightMoments(const ParamRow& row) {
    auto m = moments_(row);
    return m.value_or(TensorMoments{});
  }

  void LayerForward(const onnx::NodeProto& node, const LayerRef& ref) {
    const ParamRow& row = *ref.row;
    const std::string& op = node.op_type();
    LayerSignal layer;
    layer.name = index_.NodeLabel(node);
    layer.op = op;
    layer.weight = row.name;
    layer.activation = row.act.name.empty() ? "linear" : row.act.name;
    layer.fan_in = row.fans->in;
    layer.residual_end = row.act.residual_add != nullptr;
    const int id = static_cast<int>(layers_.size());

    if (row.role == Role::kEmbedding) {
      State* ids = Find(node.input(ref.input == 0 ? 1 : 0));
      const TensorMoments w = WeightMoments(row);
      layer.depth = (ids ? ids->depth : 0) + 1;
      State y = Gaussian(w.mean, w.second - w.mean * w.mean, layer.depth, id, /*shared=*/0);
      y.level = y.second;
      layer_pre_[id] = layer_out_[id] = y.source;
      layer_id_[&node] = id;
      source_of_node_[&node] = y.source;
      layer.forward_std = std::sqrt(Var(y));
      layers_.push_back(layer);
      return Set(node, 0, y);
    }

    // The signal input: the other operand (Gemm/MatMul), X (Conv, recurrent).
    int x_input = 0;
    if ((op == "Gemm" || op == "MatMul" || op == "FusedMatMul") && ref.input == 0) x_input = 1;
    State* x = Find(node.input(x_input));
    if (x == nullptr) {
      layer.forward_std = layer.activation_std = layer.backward_std = kNaN;
      layer_id_[&node] = id;
      layers_.push_back(layer);
      return;
    }
    Materialize(*x);
    layer.depth = x->depth + 1;
    TensorMoments w = WeightMoments(row);
    layer.zero_weights = w.second == 0;
    Profile out_profile;
    const double n = InputTerms(node, row, id, *x, &out_profile);
    double alpha = 1, beta = 1;
    if (op == "Gemm") alpha = Attr(node, "alpha", 1), beta = Attr(node, "beta", 1);
    // The bias: Gemm C, Conv/ConvTranspose B, recurrent B (Wb and Rb both add).
    const State* bias = nullptr;
    if ((op == "Gemm" || op == "Conv" || op == "ConvTranspose") && node.input_size() > 2) bias = Find(node.input(2));
    if (IsRecurrentWeight(row.role) && node.input_size() > 3) bias = Find(node.input(3));
    const double bias_scale = IsRecurrentWeight(row.role) ? 2 : beta * beta;
    const double b1 = bias ? beta * bias->mean : 0, b2 = bias ? bias_scale * bias->second : 0;

    if (options_.preserve && (!options_.may_scale || options_.may_scale(row)) && row.act.residual_add == nullptr &&
        !IsRecurrentWeight(row.role)) {
      // Data-free LSUV: the factor c on the weights that brings the layer's pre-activation second moment
      // to the level the signal entered the chain with.
      const double level = Level(*x);
      const double per = alpha * alpha * n * (w.second * x->second - w.mean * w.mean * x->mean * x->mean) +
                         std::pow(alpha * n * w.mean * x->mean, 2);
      if (per > 0 && level > b2) {
        const double c = std::sqrt((level - b2) / per);
        layer.gain_factor = c;
        w.mean *= c;
        w.second *= c * c;
      }
    }

    const double mean = alpha * n * w.mean * x->mean + b1;
    const double var = alpha * alpha * n * (w.second * x->second - w.mean * w.mean * x->mean * x->mean) +
                       (b2 - b1 * b1);
    if (IsRecurrentWeight(row.role)) return RecurrentForward(node, row, layer, id, mean, var, w);
    layer_weight_second_[id] = w.second * alpha * alpha;
    layer_id_[&node] = id;
    // The channel offsets: each output sums n weights times its inputs' shared parts and means.
    double shared = alpha * alpha * n * w.second * (x->mean * x->mean + Shared(*x)) + (b2 - b1 * b1);
    if (auto out = shapes_.find(node.output(0)); x->shared < 0 || (out != shapes_.end() && out->second.size() <= 2)) {
      shared = -1;  // no positions
    }
    // Finite width: the output's variance scales with the input's mean square over the n terms summed,
    // which varies from sample to sample; the bias's share does not.
    const double from_weights = var - (b2 - b1 * b1);
    const double weights_share = var > 0 ? std::clamp(from_weights / var, 0.0, 1.0) : 0.0;
    const double spread = options_.finite_width ? MeanSquareSpread(*x, n) * weights_share * weights_share : 0.0;
    // How much of that spread the input's own scale carries: the correlation of the two scales.
    const double inherited = options_.finite_width ? x->spread * weights_share * weights_share : 0.0;
    layer_rho_[id] = spread > 1e-12 ? std::sqrt(std::clamp(inherited / spread, 0.0, 1.0)) : 1.0;
    State y = Gaussian(mean, var, layer.depth, id, shared, spread);
    y.level = y.second;
    y.profile = std::move(out_profile);
    layer_pre_[id] = layer_out_[id] = y.source;
    source_of_node_[&node] = y.source;
    layers_.push_back(layer);
    Set(node, 0, y);
  }

  // How many terms each output of the layer sums: the fan-in, but for a convolution over a map of known
  // size the sum over its in-bounds taps of the input's profile, averaged over the outputs -- on an 8x8
  // map a padded 3x3 kernel averages 7.6 taps, not 9, and fewer where the input's border is already
  // weak. Sets the output's profile, and keeps the layer's windows for the backward pass.
  double InputTerms(const onnx::NodeProto& node, const ParamRow& row, int id, const State& x, Profile* out) {
    const double fan_in = static_cast<double>(row.fans->in);
    if (node.op_type() != "Conv" || row.uses.empty() || row.uses[0].layer_input != 1) return fan_in;
    const std::vector<int64_t>& w = row.uses[0].shape;
    if (w.size() < 3) return fan_in;
    std::vector<int64_t> sizes;
    if (!x.profile.empty()) {
      for (const auto& axis : x.profile) sizes.push_back(static_cast<int64_t>(axis.size()));
    } else if (auto it = shapes_.find(node.input(0)); it != shapes_.end() && it->second.size() == w.size()) {
      sizes.assign(it->second.begin() + 2, it->second.end());
    }
    const std::vector<AxisWindow> windows = Windows(node, sizes, {w.begin() + 2, w.end()});
    if (windows.empty()) return fan_in;
    double n = static_cast<double>(w[1]);
    for (size_t a = 0; a < windows.size(); ++a) {
      std::vector<double> sums = WindowSums(windows[a], x.profile.empty() ? std::vector<double>{} : x.profile[a]);
      n *= Normalize(sums);
      out->push_back(std::move(sums));
    }
    layer_windows_[id] = windows;
    return n;
  }

  // How many outputs each input of the layer feeds, for a gradient of profile `g` at the output: the
  // fan-out, or for a convolution the windows' scatter of g, averaged over the inputs. Sets the input
  // gradient's profile.
  double OutputTerms(const ParamRow& row, int id, const Profile& g, Profile* in) {
    auto it = layer_windows_.find(id);
    if (it == layer_windows_.end()) return static_cast<double>(row.fans->out);
    const std::vector<int64_t>& w = row.uses[0].shape;
    const int64_t groups = std::max<int64_t>(IntAttr(*row.layer(), "group", 1), 1);
    double n = static_cast<double>(w[0] / groups);
    const bool uniform = g.size() != it->second.size();
    for (size_t a = 0; a < it->second.size(); ++a) {
      const AxisWindow& window = it->second[a];
      const bool fits = !uniform && g[a].size() == static_cast<size_t>(window.out);
      std::vector<double> scatter = WindowScatter(window, fits ? g[a] : std::vector<double>{});
      n *= Normalize(scatter);
      in->push_back(std::move(scatter));
    }
    return n;
  }

  // The second moment the signal had where it entered the current chain: the nearest layer's
  // pre-activation upstream (its source), else the model input's.
  double Level(const State& x) { return x.level >= 0 ? x.level : options_.input_std * options_.input_std; }

  void RecurrentForward(const onnx::NodeProto& node, const ParamRow& row, LayerSignal layer, int id, double mean,
                        double var, const TensorMoments& w) {
    const std::string& op = node.op_type();
    const FunctionMoments sig = GaussianMoments(Sigmoid, mean, var);
    const FunctionMoments th = GaussianMoments([](double z) { return std::tanh(z); }, mean, var);
    double h2 = 0;
    double per_gate = 0;  // sum over the gates of E[(dh/dz_gate)^2]
    if (op == "LSTM") {
      const double c2 = sig.second * th.second;
      const FunctionMoments tc = GaussianMoments([](double z) { return std::tanh(z); }, 0, c2);
      h2 = sig.second * tc.second;
      const double g_c = sig.second * tc.slope_second;  // dh/dc through o * tanh(c)
      // dh/dz per gate: o (tanh(c) sigma'), i (g sigma' via c), g (i tanh' via c).
      per_gate = tc.second * sig.slope_second + g_c * (th.second * sig.slope_second + sig.second * th.slope_second);
    } else if (op == "GRU") {
      const FunctionMoments one_minus = GaussianMoments([](double z) { return 1 - Sigmoid(z); }, mean, var);
      h2 = one_minus.second * th.second;
      per_gate = th.second * sig.slope_second + one_minus.second * th.slope_second;
    } else {
      h2 = th.second;
      per_gate = th.slope_second;
    }
    recurrent_[id] = {per_gate, w.second, row.fans->out};
    layer.forward_std = std::sqrt(var);
    layer.activation_std = std::sqrt(h2);
    layer_pre_[id] = layer_out_[id] = NewSource(mean, var, id);
    layer_id_[&node] = id;
    layers_.push_back(layer);
    State y;
    y.known = y.materialized = true;
    y.depth = layer.depth;
    y.second = h2;
    y.level = h2;
    for (int o = 0; o < node.output_size(); ++o) Set(node, o, y);
  }

  // ---- backward ----

  // Adds gradient `g` (second moment) at value `name`: to its Gaussian through E[f'^2] when it is an
  // elementwise function of one, else to the value.
  // `gp` is how the gradient varies over the value's positions (empty: uniform).
  void Deliver(const std::string& name, const Grad& g, const Profile& gp = {}) {
    auto it = states_.find(name);
    if (it == states_.end() || !it->second.known || it->second.constant || !g.Finite()) return;
    const State& s = it->second;
    if (s.source >= 0) {
      Source& source = sources_[s.source];
      const Grad share = g.Times(NodeSlopes(s)) * s.grad_scale;
      AddProfile(source.grad_profile, source.grad.Total(), share.Total(), gp);
      source.grad += share;
      if (!source.parts.empty()) {
        // Each part through its own slope (a positive part passes ReLU's gradient whole, a centred
        // one half of it), for the Concat to hand back input by input.
        source.part_grad.resize(source.parts.size());
        for (size_t i = 0; i < source.parts.size(); ++i) {
          const NodeValues slope = s.part_slopes.size() == source.parts.size() ? s.part_slopes[i] : Uniform(s.a * s.a);
          source.part_grad[i] += g.Times(slope) * s.grad_scale;
        }
      }
      Materialized(name);
    } else {
      AddProfile(grad_profiles_[name], grads_[name].Total(), g.Total(), gp);
      grads_[name] += g;
    }
  }

  // Adds a share `g` of profile `gp` to `sum` (the profiles of the `before` gathered so far, weighted by
  // their shares; empty while every share was uniform). Shares of different map sizes (a pooled value
  // handing its gradient straight to its unpooled Gaussian) make the sum uniform.
  static void AddProfile(Profile& sum, double before, double g, const Profile& gp) {
    if (gp.empty() && sum.empty()) return;
    auto fits = [&](const Profile& p) {
      if (p.size() != sum.size()) return false;
      for (size_t a = 0; a < p.size(); ++a) {
        if (p[a].size() != sum[a].size()) return false;
      }
      return true;
    };
    if (sum.empty()) {
      sum = gp;
      for (auto& axis : sum) {
        for (double& v : axis) v = before + g * v;
      }
      return;
    }
    if (gp.empty()) {
      for (auto& axis : sum) {
        for (double& v : axis) v += g;
      }
      return;
    }
    if (!fits(gp)) {
      sum.clear();
      return;
    }
    for (size_t a = 0; a < sum.size(); ++a) {
      for (size_t i = 0; i < sum[a].size(); ++i) sum[a][i] += g * gp[a][i];
    }
  }

  // A gathered profile as a profile (mean 1 per axis).
  static Profile Normalized(Profile p) {
    for (auto& axis : p) Normalize(axis);
    return p;
  }

  Profile OutputGradProfile(const onnx::NodeProto& node, int o = 0) {
    if (o >= node.output_size()) return {};
    Profile sum;
    double before = 0;
    if (auto it = grads_.find(node.output(o)); it != grads_.end()) {
      sum = grad_profiles_[node.output(o)];
      before = it->second.Total();
    }
    if (auto it = lifted_.find(node.output(o)); it != lifted_.end()) {
      const Source& src = sources_[it->second];
      AddProfile(sum, before, src.grad.Total(), Normalized(src.grad_profile));
    }
    return Normalized(sum);
  }

  // The last value of each layer's chain that something other than an elementwise op read: its
  // activation's output.
  void Materialized(const std::string& name) {
    const State& s = states_[name];
    const int layer = sources_[s.source].layer;
    if (layer >= 0 && layer_pre_.count(layer) && layer_pre_[layer] == s.source) {
      activation_value_[layer] = name;
    }
  }

  // The gradient at output `o`: what reached the value, and what reached the Gaussian it was lifted to.
  Grad OutputGrad(const onnx::NodeProto& node, int o = 0) {
    if (o >= node.output_size()) return Grad{};
    Grad g;
    if (auto it = grads_.find(node.output(o)); it != grads_.end()) g += it->second;
    if (auto it = lifted_.find(node.output(o)); it != lifted_.end()) g += sources_[it->second].grad;
    return g;
  }

  // Per part of a Concat's output, the gradient each part's source share gathered (the Gaussian it was
  // lifted to, and what a normalization handed back); empty when the parts were not followed.
  void DeliverParts(const std::string& name, const std::vector<Grad>& g, double factor) {
    if (g.empty()) return;
    std::vector<Grad>& sum = part_grads_[name];
    sum.resize(g.size());
    for (size_t i = 0; i < g.size(); ++i) sum[i] += g[i] * factor;
  }
  std::vector<Grad> PartGrads(const std::string& name) {
    std::vector<Grad> sum;
    if (auto it = part_grads_.find(name); it != part_grads_.end()) sum = it->second;
    if (auto it = lifted_.find(name); it != lifted_.end() && !sources_[it->second].part_grad.empty()) {
      const std::vector<Grad>& lifted = sources_[it->second].part_grad;
      sum.resize(lifted.size());
      if (sum.size() == lifted.size()) {
        for (size_t i = 0; i < lifted.size(); ++i) sum[i] += lifted[i];
      }
    }
    // What reached the value itself (not through a part's slope) goes to every part alike.
    if (auto it = grads_.find(name); it != grads_.end() && !sum.empty()) {
      const Grad pooled = PooledPartGrad(name);
      Grad whole;
      for (int k = 0; k < kNodes; ++k) whole.k[k] = std::max(it->second.k[k] - pooled.k[k], 0.0);
      for (Grad& v : sum) v += whole;
    }
    return sum;
  }
  Grad PooledPartGrad(const std::string& name) {
    auto it = part_grads_.find(name);
    auto st = states_.find(name);
    if (it == part_grads_.end() || st == states_.end() || st->second.parts.size() != it->second.size()) return Grad{};
    double total = 0;
    Grad sum;
    for (size_t i = 0; i < it->second.size(); ++i) {
      total += st->second.parts[i].weight;
      sum += it->second[i] * st->second.parts[i].weight;
    }
    return total > 0 ? sum * (1 / total) : Grad{};
  }

  void Backward(const onnx::GraphProto& graph) {
    for (int i = graph.node_size() - 1; i >= 0; --i) BackwardNode(graph.node(i));
  }

  void BackwardNode(const onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    if (op == "Constant" || NoSignal().count(op)) return;
    if (auto it = layer_of_.find(&node); it != layer_of_.end()) return LayerBackward(node, it->second);
    if (auto it = max_pools_.find(&node); it != max_pools_.end()) {
      // The gradient at the max's Gaussian (slopes taken at the max already) goes to the window's
      // maximum: 1/stride of the inputs get it.
      const Source& to = sources_[it->second.second];
      Source& from = sources_[it->second.first];
      const Grad share = to.grad * PoolGradientScale(node);
      AddProfile(from.grad_profile, from.grad.Total(), share.Total(),
                 CarriedBack(node, node.input(0), Normalized(to.grad_profile)));
      from.grad += share;
      return;
    }
    if (auto it = decomposed_at_.find(&node); it != decomposed_at_.end()) {
      for (const DecomposedNorm& norm : it->second) {
        const Source& src = sources_[norm.source];
        Deliver(norm.input, src.grad * norm.gain, Normalized(src.grad_profile));
      }
      return;
    }
    if (auto it = source_of_node_.find(&node); it != source_of_node_.end()) {
      // A per-channel shift or scale, or a normalization: from the Gaussian it made back to its input.
      const Grad g = sources_[it->second].grad;
      double factor = 1;
      if (auto n = norm_gain_.find(&node); n != norm_gain_.end()) factor = n->second;
      else if (node.op_type() == "Mul" || node.op_type() == "Div") factor = ConstantSecond(node);
      const std::string input = ComputedInput(node);
      Deliver(input, g * factor, Normalized(sources_[it->second].grad_profile));
      DeliverParts(input, sources_[it->second].part_grad, factor);
      return;
    }
    if (absorbed_.count(&node)) {
      // Elementwise ops and data movement on a Gaussian's function: the gradient went to the Gaussian
      // directly. A pass-through of an opaque value hands its gradient on.
      Grad g;
      for (int o = 0; o < node.output_size(); ++o) g += OutputGrad(node, o);
      const std::string input = ComputedInput(node);
      if (g.Total() > 0) Deliver(input, g * PoolGradientScale(node), CarriedBack(node, input, OutputGradProfile(node)));
      return;
    }
    if (op == "If" || op == "Loop" || op == "Scan") return BodiesBackward(node);
    const Grad g = OutputGrad(node);
    if (g.Total() == 0) return;
    const Profile gp = OutputGradProfile(node);
    const std::vector<Grad> parts = op == "Concat" ? PartGrads(node.output(0)) : std::vector<Grad>{};
    if (parts.size() == static_cast<size_t>(node.input_size()) && !parts.empty()) {
      for (int i = 0; i < node.input_size(); ++i) Deliver(node.input(i), parts[i], gp);
    } else if (op == "Add" || op == "Sub" || op == "Concat") {
      for (const auto& name : node.input()) Deliver(name, g, gp);
    } else if (op == "Mul" && node.input_size() == 2) {
      State* a = Find(node.input(0));
      State* b = Find(node.input(1));
      if (a && b) {
        Materialize(*a);
        Materialize(*b);
        // A broadcast operand (a squeeze-excite gate [N, C, 1, 1]) sums the gradient over the B
        // positions it was spread to.
        const double b0 = Broadcast(node, 0), b1 = Broadcast(node, 1);
        Deliver(node.input(0), g * (b->second * b0), b0 == 1 ? gp : Profile{});
        Deliver(node.input(1), g * (a->second * b1), b1 == 1 ? gp : Profile{});
      }
    } else if (op == "MatMul" && node.input_size() == 2) {
      State* a = Find(node.input(0));
      State* b = Find(node.input(1));
      if (a && b) {
        Materialize(*a);
        Materialize(*b);
        if (a->attention > 0) {
          Deliver(node.input(1), g * a->attention);
          Deliver(node.input(0), g * (Var(*b) * static_cast<double>(std::max<int64_t>(a->keys, 1))));
        } else {
          const int64_t n = Dim(node.input(1), 1), m = Dim(node.input(0), 2);
          Deliver(node.input(0), g * (static_cast<double>(std::max<int64_t>(n, 1)) * b->second));
          Deliver(node.input(1), g * (static_cast<double>(std::max<int64_t>(m, 1)) * a->second));
        }
      }
    } else if (op == "Softmax" || op == "LogSoftmax") {
      const State* y = Find(node.output(0));
      Deliver(node.input(0), g * (y && y->keys > 0 ? 1.0 / static_cast<double>(y->keys) : 1.0));
    } else if (node.input_size() > 0) {
      Deliver(node.input(0), g);
    }
  }

  // How many output elements each element of input `i` was broadcast to (1 when the shapes are not known).
  double Broadcast(const onnx::NodeProto& node, int i) {
    auto out = shapes_.find(node.output(0));
    auto in = shapes_.find(node.input(i));
    if (out == shapes_.end() || in == shapes_.end() || in->second.size() > out->second.size()) return 1;
    const size_t offset = out->second.size() - in->second.size();
    double b = 1;
    for (size_t a = 0; a < out->second.size(); ++a) {
      const int64_t o = out->second[a], d = a < offset ? 1 : in->second[a - offset];
      if (o > 0 && d == 1) b *= static_cast<double>(o);
    }
    return b;
  }

  // The gradient profile at a carrying op's input: the same for ops that keep elements in place, the
  // windows' scatter for a pooling, uniform for the rest.
  Profile CarriedBack(const onnx::NodeProto& node, const std::string& input, const Profile& gp) {
    const std::string& op = node.op_type();
    if (op == "Identity" || op == "Dropout" || op == "Cast" || op == "CastLike") return gp;
    if (op != "MaxPool" && op != "AveragePool") return {};
    const State* in = Find(input);
    if (in == nullptr || in->profile.empty()) return {};
    const std::vector<AxisWindow> windows = PoolWindows(node, in->profile);
    if (windows.empty()) return {};
    Profile out;
    for (size_t a = 0; a < windows.size(); ++a) {
      const bool fits = gp.size() == windows.size() && gp[a].size() == static_cast<size_t>(windows[a].out);
      std::vector<double> b = WindowScatter(windows[a], fits ? gp[a] : std::vector<double>{});
      Normalize(b);
      out.push_back(std::move(b));
    }
    return out;
  }

  // The first input that carries a signal, or "".
  std::string ComputedInput(const onnx::NodeProto& node) {
    for (const auto& name : node.input()) {
      const State* s = Find(name);
      if (s && !s->constant) return name;
    }
    return "";
  }

  double ConstantSecond(const onnx::NodeProto& node) {
    for (const auto& name : node.input()) {
      const State* s = Find(name);
      if (s && s->constant) return node.op_type() == "Div" ? 1 / std::max(s->second, 1e-30) : s->second;
    }
    return 1;
  }

  void BodiesBackward(const onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    const int skip = op == "Loop" ? 1 : 0;
    for (const auto& attr : node.attribute()) {
      if (!attr.has_g()) continue;
      const onnx::GraphProto& body = attr.g();
      for (int o = 0; o < node.output_size(); ++o) {
        if (o + skip < body.output_size()) Deliver(body.output(o + skip).name(), OutputGrad(node, o));
      }
      Backward(body);
      if (op != "If") {
        for (int i = 0; i < body.input_size() && i < node.input_size(); ++i) {
          auto it = grads_.find(body.input(i).name());
          if (it != grads_.end()) Deliver(node.input(i), it->second);
        }
      }
    }
  }

  void LayerBackward(const onnx::NodeProto& node, const LayerRef& ref) {
    auto found = layer_id_.find(&node);
    if (found == layer_id_.end() || !layer_pre_.count(found->second)) return;
    const int id = found->second;
    LayerSignal& layer = layers_[id];
    const Source& pre = sources_[layer_pre_[id]];
    // The gradient at the layer's own output (a bias Add after it handed its gradient back to it).
    Grad g = sources_[layer_out_[id]].grad;
    for (int o = 0; o < node.output_size(); ++o) g += OutputGrad(node, o);
    layer.forward_std = std::sqrt(pre.var);
    if (auto it = activation_value_.find(id); it != activation_value_.end()) {
      State& a = states_[it->second];
      Materialize(a);
      layer.activation_std = std::sqrt(Var(a));
    } else if (layer.activation_std == 0) {
      layer.activation_std = layer.forward_std;
    }
    const ParamRow& row = *ref.row;
    if (row.role == Role::kEmbedding) {
      layer.backward_std = std::sqrt(g.Total());
      return;
    }
    const std::string& op = node.op_type();
    int x_input = 0;
    if ((op == "Gemm" || op == "MatMul" || op == "FusedMatMul") && ref.input == 0) x_input = 1;
    Grad g_x;
    Profile in_profile;
    if (auto rec = recurrent_.find(id); rec != recurrent_.end()) {
      // Every gate's pre-activation feeds back through W: n_out = gates * H outputs per input.
      const auto& r = rec->second;
      g_x = g * (static_cast<double>(r.outputs) * r.weight_second * r.per_gate * static_cast<double>(row.gates.directions));
    } else {
      const double w2 = layer_weight_second_.count(id) ? layer_weight_second_[id] : WeightMoments(row).second;
      const double rho = layer_rho_.count(id) ? layer_rho_[id] : 1.0;
      g_x = g.Through(rho) * (OutputTerms(row, id, Normalized(sources_[layer_out_[id]].grad_profile), &in_profile) * w2);
    }
    layer.backward_std = std::sqrt(g_x.Total());
    Deliver(node.input(x_input), g_x, in_profile);
  }

  struct Recurrent {
    double per_gate = 0, weight_second = 0;
    int64_t outputs = 0;
  };
  struct DecomposedNorm {
    std::string input, output;
    int source = -1;
    double gain = 1;
  };

  const GraphIndex& index_;
  const MomentsOf& moments_;
  const SignalOptions& options_;
  Shapes shapes_;
  std::unordered_map<std::string, const ParamRow*> by_name_;
  std::unordered_map<const onnx::NodeProto*, LayerRef> layer_of_;
  std::unordered_map<std::string, State> states_;
  std::unordered_map<std::string, Grad> grads_;
  std::unordered_map<int, double> layer_rho_;  // per layer: correlation of its output's scale with its input's
  std::unordered_map<std::string, std::vector<Grad>> part_grads_;  // per Concat part (PartGrads)
  std::unordered_map<std::string, Profile> grad_profiles_;  // how grads_ vary over positions (sums)
  std::vector<Source> sources_;
  std::vector<LayerSignal> layers_;
  std::unordered_map<const onnx::NodeProto*, int> layer_id_;
  std::unordered_map<int, int> layer_out_;                 // layer -> the source of its own output
  std::unordered_map<int, std::vector<AxisWindow>> layer_windows_;  // convolution layer -> its windows
  std::unordered_map<int, int> layer_pre_;                 // layer -> its pre-activation source
  std::unordered_map<int, double> layer_weight_second_;    // layer -> E[w^2] used (after preserve)
  std::unordered_map<int, std::string> activation_value_;  // layer -> its activation's output value
  std::unordered_map<const onnx::NodeProto*, std::pair<int, int>> max_pools_;  // node -> (input, max) Gaussians
  std::map<int, std::pair<double, double>> max_of_normals_;
  std::unordered_map<std::string, int> lifted_;            // opaque value -> the Gaussian it was lifted to
  std::unordered_map<const onnx::NodeProto*, int> source_of_node_;
  std::unordered_map<const onnx::NodeProto*, double> norm_gain_;
  std::unordered_map<int, Recurrent> recurrent_;
  std::set<const onnx::NodeProto*> absorbed_;
  std::set<std::string> norm_output_;
  std::unordered_map<const onnx::NodeProto*, std::vector<DecomposedNorm>> decomposed_at_;
  std::map<std::string, int> passed_through_;
};

}  // namespace

SignalAudit PropagateSignal(const onnx::ModelProto& model, const GraphIndex& index, const ParamTable& table,
                            const MomentsOf& moments, const SignalOptions& options) {
  return Propagation(model, index, table, moments, options).Run();
}

}  // namespace reinit
