// Presets, flags and depth-aware scaling, checked against the frameworks' own formulas:
//   torch.nn.init: kaiming_uniform_ bound = gain * sqrt(3 / fan_in); xavier_uniform_ bound =
//     gain * sqrt(6 / (fan_in + fan_out)); calculate_gain: relu sqrt(2), leaky_relu sqrt(2/(1+a^2)),
//     tanh 5/3, selu 3/4; fans from dims 0 and 1 times the receptive field; nn.LSTM reset U(+-1/sqrt(H)).
//   Keras: glorot_uniform limit sqrt(6 / (fan_in + fan_out)); he_normal / lecun_normal: truncated normal,
//     stddev = sqrt(scale / fan_in) / 0.87962566103423978; LSTM unit_forget_bias; orthogonal recurrent kernel.
//   Flax: Dense kernel lecun_normal; Embed variance_scaling(1, fan_in, normal, out_axis=0).
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "passes/gen/schemes.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

Policy Preset(const std::string& name) {
  Policy p;
  p.preset = name;
  return p;
}

// A [out=50, in=100] Gemm layer followed by `act`.
onnx::ModelProto Dense(const std::string& act) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,100] X) => (float[2,50] Y) { H = Gemm <transB = 1> (X, W, B)  Y = )" + act + "(H) }");
  test::AddInitializer(m, "W", {50, 100});
  test::AddInitializer(m, "B", {50});
  return m;
}

TEST(Presets, TorchGainGainsMatchCalculateGain) {
  struct Case {
    std::string act;
    double bound;
  } cases[] = {
      {"Tanh", 5.0 / 3.0 * std::sqrt(6.0 / 150)},     // xavier_uniform_(gain=5/3)
      {"Sigmoid", std::sqrt(6.0 / 150)},               // xavier_uniform_(gain=1)
      {"Relu", std::sqrt(2.0) * std::sqrt(3.0 / 100)},  // kaiming_uniform_(nonlinearity='relu')
      {"LeakyRelu <alpha = 0.2>", std::sqrt(2.0 / (1 + double{0.2f} * double{0.2f})) * std::sqrt(3.0 / 100)},
      {"Selu", 0.75 * std::sqrt(3.0 / 100)},           // kaiming_uniform_(nonlinearity='selu')
      {"Identity", std::sqrt(6.0 / 150)},
  };
  for (const auto& c : cases) {
    auto run = test::Plan(Dense(c.act), Preset("torch-gain"));
    ASSERT_TRUE(run->Row("W").init.bound.has_value()) << c.act;
    EXPECT_NEAR(*run->Row("W").init.bound, c.bound, 1e-9) << c.act << ": " << run->Row("W").init.reason;
  }
}

TEST(Presets, TorchGainCountsGroupedConvFanOutAsMTimesK) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,8,8,8] X) => (float[1,16,6,6] Y) { H = Conv <group = 2> (X, W)  Y = Tanh(H) })");
  test::AddInitializer(m, "W", {16, 4, 3, 3});
  auto note = test::Plan(m);
  auto torch = test::Plan(m, Preset("torch-gain"));
  EXPECT_EQ(note->Row("W").fans->out, 72);   // M/g * k*k: the layout
  EXPECT_EQ(torch->Row("W").fans->out, 144);  // M * k*k: torch.nn.init._calculate_fan_in_and_fan_out
  EXPECT_EQ(torch->Row("W").fans->in, 36);
  EXPECT_NEAR(*torch->Row("W").init.bound, 5.0 / 3.0 * std::sqrt(6.0 / (36 + 144)), 1e-12);
}

onnx::ModelProto Lstm() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X) => (float[5,2,1,8] Y) {
      Y = LSTM <hidden_size = 8, direction = "bidirectional"> (X, W, R, B)
    })");
  test::AddInitializer(m, "W", {2, 32, 3});
  test::AddInitializer(m, "R", {2, 32, 8});
  test::AddInitializer(m, "B", {2, 64});
  return m;
}

TEST(Presets, PyTorchAndTorchGainRecurrentUseNnLstmsOwnReset) {
  for (const char* preset : {"pytorch", "torch-gain"}) {
    auto run = test::Rewrite(Lstm(), Preset(preset));
    for (const char* name : {"W", "R", "B"}) {
      EXPECT_EQ(run->Row(name).init.scheme, Scheme::kUniform) << preset << " " << name;
      EXPECT_NEAR(*run->Row(name).init.bound, 1 / std::sqrt(8.0), 1e-12) << preset << " " << name;
      for (double x : test::Values(*run->Row(name).tensor)) ASSERT_LE(std::fabs(x), 1 / std::sqrt(8.0)) << name;
    }
  }
}

// torch.nn.Linear/ConvNd.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)) -> bound
// sqrt(2/(1+5)) * sqrt(3/fan_in) = 1/sqrt(fan_in) whatever follows; bias U(+-1/sqrt(fan_in)).
TEST(Presets, PyTorchIsResetParametersWhateverTheActivation) {
  for (const char* act : {"Relu", "Tanh", "Selu", "Identity", "LeakyRelu <alpha = 0.2>"}) {
    auto run = test::Rewrite(Dense(act), Preset("pytorch"));
    const ParamRow& w = run->Row("W");
    const ParamRow& b = run->Row("B");
    ASSERT_TRUE(w.init.bound.has_value() && b.init.bound.has_value()) << act;
    EXPECT_NEAR(*w.init.bound, 1 / std::sqrt(100.0), 1e-12) << act << ": " << w.init.reason;
    EXPECT_NEAR(w.init.std, 1 / std::sqrt(3 * 100.0), 1e-12) << act;
    EXPECT_EQ(b.init.scheme, Scheme::kUniform) << act;
    EXPECT_NEAR(*b.init.bound, 1 / std::sqrt(100.0), 1e-12) << act << ": " << b.init.reason;
    EXPECT_NE(b.init.reason.find("fan_in = 100 of 'W'"), std::string::npos) << b.init.reason;
    const std::vector<double> v = test::Values(*b.tensor);
    for (double x : v) ASSERT_LE(std::fabs(x), 0.1 * (1 + 1e-6)) << act;
    // 50 values from U(-0.1, 0.1): not all zero, and not one constant.
    EXPECT_GT(Measure(v).std, 0.02) << act;
  }
}

// torch's fan_in of a ConvTranspose weight [in, out/g, k, k] is dim 1 * k*k = out/g * k*k, and its bias
// draws with the same fan_in; a bias added after a MatMul takes the MatMul weight's fan_in.
TEST(Presets, PyTorchBiasBoundsComeFromTheLayersTorchFanIn) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,8,5,5] X, float[2,24] Z) => (float[1,12,11,11] Y, float[2,7] V) {
      Y = ConvTranspose <group = 2, strides = [2, 2]> (X, W, B)
      M = MatMul(Z, W2)
      V = Add(M, B2)
    })");
  test::AddInitializer(m, "W", {8, 6, 3, 3});
  test::AddInitializer(m, "B", {12});
  test::AddInitializer(m, "W2", {24, 7});
  test::AddInitializer(m, "B2", {7});
  auto run = test::Plan(m, Preset("pytorch"));
  EXPECT_NEAR(*run->Row("W").init.bound, 1 / std::sqrt(6.0 * 9), 1e-12) << run->Row("W").init.reason;
  EXPECT_NEAR(*run->Row("B").init.bound, 1 / std::sqrt(6.0 * 9), 1e-12) << run->Row("B").init.reason;
  EXPECT_NEAR(*run->Row("W2").init.bound, 1 / std::sqrt(24.0), 1e-12);
  EXPECT_NEAR(*run->Row("B2").init.bound, 1 / std::sqrt(24.0), 1e-12) << run->Row("B2").init.reason;
  // The other presets keep biases at 0.
  for (const char* preset : {"note", "torch-gain", "keras", "jax", "hf"}) {
    auto other = test::Plan(m, Preset(preset));
    EXPECT_EQ(other->Row("B").init.scheme, Scheme::kConstant) << preset;
    EXPECT_EQ(other->Row("B").init.constant, 0.0) << preset;
  }
}

// nn.MultiheadAttention as torch 1.13 exports a self-attention: one MatMul with the transposed
// in_proj_weight [E, 3E], its output sliced into Q, K, V; out_proj a Gemm in the same node scope.
// _reset_parameters: xavier_uniform_(in_proj_weight) over [3E, E], in_proj_bias and out_proj.bias 0,
// out_proj.weight as nn.Linear's.
onnx::ModelProto SelfAttention(const std::string& in_scope, const std::string& out_scope) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,16] X) => (float[5,16] Y) {
      P = MatMul(X, Win)
      Pb = Add(Bin, P)
      Q, K, V = Split <axis = 1> (Pb)
      Kt = Transpose <perm = [1, 0]> (K)
      S = MatMul(Q, Kt)
      Sc = Div(S, C)
      A = Softmax <axis = 1> (Sc)
      O = MatMul(A, V)
      Y = Gemm <transB = 1> (O, Wout, Bout)
    })");
  // E = 8 here: split = 3 x 8 of a [16, 24] projection (fan_in 16): xavier over [24, 16].
  test::AddInitializer(m, "Win", {16, 24});
  test::AddInitializer(m, "Bin", {24});
  test::AddInitializer(m, "Wout", {16, 8});
  test::AddInitializer(m, "Bout", {16});
  test::AddInitializer(m, "C", {});
  for (auto& node : *m.mutable_graph()->mutable_node()) {
    if (node.op_type() == "MatMul" && node.input(1) == "Win") node.set_name(in_scope + "/MatMul");
    if (node.op_type() == "Gemm") node.set_name(out_scope + "/Gemm");
  }
  return m;
}

TEST(Presets, PyTorchDrawsMultiheadAttentionsInProjOverTheWholeTensor) {
  auto run = test::Plan(SelfAttention("/attn", "/attn"), Preset("pytorch"));
  EXPECT_EQ(run->Row("Win").init.scheme, Scheme::kXavier) << run->Row("Win").init.reason;
  EXPECT_NEAR(*run->Row("Win").init.bound, std::sqrt(6.0 / (16 + 24)), 1e-12);
  EXPECT_EQ(run->Row("Bin").init.scheme, Scheme::kConstant) << run->Row("Bin").init.reason;
  EXPECT_EQ(run->Row("Bout").init.scheme, Scheme::kConstant) << run->Row("Bout").init.reason;
  EXPECT_NEAR(*run->Row("Wout").init.bound, 1 / std::sqrt(8.0), 1e-12);  // out_proj: nn.Linear's
  // In scopes of their own (attention built of nn.Linear layers), the projections stay Linear.
  auto linear = test::Plan(SelfAttention("/attn/qkv", "/attn/proj"), Preset("pytorch"));
  EXPECT_NEAR(*linear->Row("Win").init.bound, 1 / std::sqrt(16.0), 1e-12) << linear->Row("Win").init.reason;
  EXPECT_EQ(linear->Row("Bin").init.scheme, Scheme::kUniform);
}

// transformers' _init_weights: Linear weights and embeddings N(0, R^2), biases 0, LayerNorm 1 and 0;
// --init-range sets R.
TEST(Presets, HfDrawsWeightsAndEmbeddingsFromNormalInitRange) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[2,6] I) => (float[2,6,16] Y) {
      E = Gather(Emb, I)
      N = LayerNormalization <axis = -1> (E, S, Bn)
      H = MatMul(N, W)
      Y = Add(H, B)
    })");
  test::AddInitializer(m, "Emb", {300, 32});
  test::AddInitializer(m, "S", {32});
  test::AddInitializer(m, "Bn", {32});
  test::AddInitializer(m, "W", {32, 16});
  test::AddInitializer(m, "B", {16});
  for (const char* preset : {"hf", "bert", "gpt2"}) {
    for (double r : {0.02, 0.1}) {
      Policy p = Preset(preset);
      p.init_range = r;
      auto run = test::Rewrite(m, p);
      for (const char* name : {"Emb", "W"}) {
        const ParamRow& row = run->Row(name);
        EXPECT_EQ(row.init.scheme, Scheme::kNormal) << preset << " " << name << ": " << row.init.reason;
        EXPECT_EQ(row.init.std, r) << preset << " " << name;
        const std::vector<double> v = test::Values(*row.tensor);
        // Sample std within 4 standard errors of r: se = r / sqrt(2n) for a normal.
        EXPECT_NEAR(Measure(v).std, r, 4 * r / std::sqrt(2.0 * v.size())) << preset << " " << name;
      }
      for (double x : test::Values(*run->Row("B").tensor)) ASSERT_EQ(x, 0.0) << preset;
      for (double x : test::Values(*run->Row("S").tensor)) ASSERT_EQ(x, 1.0) << preset;
      for (double x : test::Values(*run->Row("Bn").tensor)) ASSERT_EQ(x, 0.0) << preset;
    }
  }
}

TEST(Presets, KerasRecurrentKernelIsOrthogonalAsAWholeAndForgetBiasIsOne) {
  auto run = test::Rewrite(Lstm(), Preset("keras"));
  // kernel: glorot_uniform over [I, 4H]: fan_in 3, fan_out 32.
  EXPECT_NEAR(*run->Row("W").init.bound, std::sqrt(6.0 / (3 + 32)), 1e-12);
  // recurrent_kernel: orthogonal [H, 4H] per direction = R[d] [4H, H] with orthonormal columns.
  const std::vector<double> r = test::Values(*run->Row("R").tensor);
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (int d = 0; d < 2; ++d) {
    Eigen::Map<const RowMatrix> q(r.data() + d * 32 * 8, 32, 8);
    EXPECT_LT((q.transpose() * q - Eigen::MatrixXd::Identity(8, 8)).cwiseAbs().maxCoeff(), 1e-6) << d;
    // ... and not orthogonal per 8x8 gate block (that is the note's per-gate rule).
    Eigen::Map<const RowMatrix> gate(r.data() + d * 32 * 8, 8, 8);
    EXPECT_GT((gate.transpose() * gate - Eigen::MatrixXd::Identity(8, 8)).cwiseAbs().maxCoeff(), 0.1);
  }
  // B [dirs, 8H] = Wb(i, o, f, c) Rb(i, o, f, c): the forget block of Wb is 1, everything else 0.
  const std::vector<double> b = test::Values(*run->Row("B").tensor);
  for (int d = 0; d < 2; ++d) {
    for (int i = 0; i < 64; ++i) EXPECT_EQ(b[d * 64 + i], (i >= 16 && i < 24) ? 1.0 : 0.0) << d << " " << i;
  }
}

TEST(Presets, KerasHeIsTruncatedNormalWithTheCorrection) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,256] X) => (float[2,512] Y) { H = MatMul(X, W)  Y = Relu(H) })");
  test::AddInitializer(m, "W", {256, 512});
  auto run = test::Rewrite(std::move(m), Preset("keras"));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.init.distribution, Distribution::kTruncatedNormal);
  EXPECT_NEAR(w.init.std, std::sqrt(2.0 / 256), 1e-12);
  // Cut at two sigmas of the underlying normal, sigma = std / 0.8796.
  const double sigma = w.init.std / kTruncatedNormalStdFactor;
  const std::vector<double> v = test::Values(*w.tensor);
  for (double x : v) ASSERT_LE(std::fabs(x), 2 * sigma * (1 + 1e-6));
  // The sample std hits the target: tolerance 6 standard errors (Var(s^2) ~ (mu4 - s^4)/n,
  // mu4 of the truncated normal < 3 s^4).
  const double n = static_cast<double>(v.size());
  EXPECT_NEAR(w.stats->std * w.stats->std, w.init.std * w.init.std, 6 * std::sqrt(2.0 * std::pow(w.init.std, 4) / n));
}

TEST(Presets, JaxLinearLayersAreLecunNormalAndEmbeddingsFanIn) {
  auto run = test::Plan(Dense("Identity"), Preset("jax"));
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kLeCun);
  EXPECT_EQ(run->Row("W").init.distribution, Distribution::kTruncatedNormal);
  EXPECT_NEAR(run->Row("W").init.std, std::sqrt(1.0 / 100), 1e-12);
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[3] I) => (float[3,64] Y) { Y = Gather(E, I) })");
  test::AddInitializer(m, "E", {1000, 64});
  auto emb = test::Plan(std::move(m), Preset("jax"));
  EXPECT_NEAR(emb->Row("E").init.std, 1.0 / 8, 1e-12);  // 1/sqrt(dim)
}

TEST(Flags, GainModeDistributionAndEmbeddingStd) {
  Policy p;
  p.gain = 2.0;
  EXPECT_NEAR(*test::Plan(Dense("Tanh"), p)->Row("W").init.bound, 2 * 0.2, 1e-12);
  p = Policy{};
  p.gain = std::numeric_limits<double>::quiet_NaN();  // auto: calculate_gain
  EXPECT_NEAR(*test::Plan(Dense("Tanh"), p)->Row("W").init.bound, 5.0 / 3.0 * 0.2, 1e-12);
  p = Policy{};
  p.mode = FanMode::kFanOut;
  EXPECT_NEAR(*test::Plan(Dense("Relu"), p)->Row("W").init.bound, std::sqrt(6.0 / 50), 1e-12);
  p = Policy{};
  p.distribution = Distribution::kTruncatedNormal;
  auto run = test::Plan(Dense("Relu"), p);
  EXPECT_EQ(run->Row("W").init.distribution, Distribution::kTruncatedNormal);
  EXPECT_FALSE(run->Row("W").init.bound.has_value());
  p = Policy{};
  p.forget_bias = 2.5;
  auto lstm = test::Rewrite(Lstm(), p);
  EXPECT_EQ(test::Values(*lstm->Row("B").tensor)[16], 2.5);
  EXPECT_EQ(test::Values(*lstm->Row("B").tensor)[15], 0.0);
  p = Policy{};
  p.embedding_std = 0.02;
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[3] I) => (float[3,64] Y) { Y = Gather(E, I) })");
  test::AddInitializer(m, "E", {1000, 64});
  auto emb = test::Plan(std::move(m), p);
  EXPECT_EQ(emb->Row("E").init.scheme, Scheme::kNormal);
  EXPECT_EQ(emb->Row("E").init.std, 0.02);
}

// Two residual blocks: x + W2(relu(W1 x)), twice.
onnx::ModelProto Residual() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,16] X) => (float[2,16] Y) {
      a1 = MatMul(X, W1)  r1 = Relu(a1)  b1 = MatMul(r1, W2)  s1 = Add(X, b1)
      a2 = MatMul(s1, W3) r2 = Relu(a2)  b2 = MatMul(r2, W4)  Y = Add(s1, b2)
    })");
  for (const char* n : {"W1", "W2", "W3", "W4"}) test::AddInitializer(m, n, {16, 16});
  return m;
}

TEST(ResidualScaling, Gpt2ScalesTheLastLayerOfEachBranch) {
  Policy p;
  p.residual = ResidualScaling::kGpt2;
  auto plain = test::Plan(Residual());
  auto scaled = test::Plan(Residual(), p);
  EXPECT_EQ(plain->Row("W2").act.residual_add != nullptr, true);
  EXPECT_EQ(plain->Row("W1").act.residual_add, nullptr);
  EXPECT_NEAR(*scaled->Row("W2").init.bound, *plain->Row("W2").init.bound / std::sqrt(2.0), 1e-12);  // 2 branches
  EXPECT_NEAR(*scaled->Row("W4").init.bound, *plain->Row("W4").init.bound / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(*scaled->Row("W1").init.bound, *plain->Row("W1").init.bound);
}

// GPT2PreTrainedModel._init_weights: the projections that end a residual branch (c_proj) get
// N(0, (R / sqrt(2 n_layer))^2): 2 branches here (one block of attention and MLP would be 2 as well).
TEST(ResidualScaling, Gpt2PresetScalesResidualProjectionsAndHfDoesNot) {
  Policy gpt2 = Preset("gpt2"), hf = Preset("hf"), off = Preset("gpt2");
  off.residual = ResidualScaling::kNone;  // --residual-scaling none wins over the preset
  auto scaled = test::Plan(Residual(), gpt2), plain = test::Plan(Residual(), hf), none = test::Plan(Residual(), off);
  for (const char* name : {"W2", "W4"}) {
    EXPECT_NEAR(scaled->Row(name).init.std, 0.02 / std::sqrt(2.0), 1e-15) << scaled->Row(name).init.reason;
    EXPECT_EQ(plain->Row(name).init.std, 0.02) << name;
    EXPECT_EQ(none->Row(name).init.std, 0.02) << name;
  }
  for (const char* name : {"W1", "W3"}) EXPECT_EQ(scaled->Row(name).init.std, 0.02) << name;
  EXPECT_EQ(gpt2.ToJson()["residual_scaling"], "gpt2");
  EXPECT_EQ(hf.ToJson()["residual_scaling"], "none");
}

TEST(ResidualScaling, ZeroIsFixupStyle) {
  Policy p;
  p.residual = ResidualScaling::kZero;
  auto run = test::Rewrite(Residual(), p);
  for (double x : test::Values(*run->Row("W4").tensor)) ASSERT_EQ(x, 0.0);
  EXPECT_EQ(run->Row("W3").init.scheme, Scheme::kHe);
}

// Fixup: each branch's last layer 0, its other m - 1 layers times L^(-1/(2m-2)), L residual branches.
TEST(ResidualScaling, FixupZeroesEachBranchsLastLayerAndScalesTheRest) {
  Policy p;
  p.residual = ResidualScaling::kFixup;
  auto plain = test::Plan(Residual());
  auto fixup = test::Plan(Residual(), p);
  for (const char* name : {"W2", "W4"}) {
    EXPECT_EQ(fixup->Row(name).init.scheme, Scheme::kConstant) << name;
    EXPECT_EQ(fixup->Row(name).init.constant, 0.0) << name;
  }
  for (const char* name : {"W1", "W3"}) {  // m = 2, L = 2: 2^(-1/2)
    EXPECT_NEAR(*fixup->Row(name).init.bound, *plain->Row(name).init.bound / std::sqrt(2.0), 1e-12) << name;
    EXPECT_NE(fixup->Row(name).init.reason.find("fixup"), std::string::npos);
  }
}

// A bottleneck of three layers beside a projection shortcut, then an identity block of two: the
// bottleneck's first two layers get L^(-1/4), the identity block's first L^(-1/2), the shortcut nothing.
TEST(ResidualScaling, FixupCountsEachBranchsLayersAndLeavesTheShortcut) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,16] X) => (float[2,16] Y) {
      a = MatMul(X, A1) ra = Relu(a) b = MatMul(ra, A2) rb = Relu(b) c = MatMul(rb, A3)
      p = MatMul(X, P) s = Add(p, c)
      d = MatMul(s, B1) rd = Relu(d) e = MatMul(rd, B2) Y = Add(s, e)
    })");
  for (const char* n : {"A1", "A2", "A3", "P", "B1", "B2"}) test::AddInitializer(m, n, {16, 16});
  Policy p;
  p.residual = ResidualScaling::kFixup;
  auto plain = test::Plan(onnx::ModelProto(m));
  auto fixup = test::Plan(std::move(m), p);
  const double l = 2;  // residual Adds
  EXPECT_NEAR(*fixup->Row("A1").init.bound, *plain->Row("A1").init.bound * std::pow(l, -0.25), 1e-12);
  EXPECT_NEAR(*fixup->Row("A2").init.bound, *plain->Row("A2").init.bound * std::pow(l, -0.25), 1e-12);
  EXPECT_NEAR(*fixup->Row("B1").init.bound, *plain->Row("B1").init.bound * std::pow(l, -0.5), 1e-12);
  for (const char* name : {"A3", "B2"}) EXPECT_EQ(fixup->Row(name).init.scheme, Scheme::kConstant) << name;
  EXPECT_EQ(*fixup->Row("P").init.bound, *plain->Row("P").init.bound);
  EXPECT_EQ(fixup->Row("P").init.reason.find("fixup"), std::string::npos) << fixup->Row("P").init.reason;
}

// An orthogonal branch end is drawn through its gain, so the scaling reaches the gain too (the std alone
// would leave the values as they were).
TEST(ResidualScaling, AnOrthogonalBranchEndIsScaledThroughItsGain) {
  Policy p;
  Rule orthogonal;
  ASSERT_TRUE(ParseSelector("W2", &orthogonal.match).ok());
  orthogonal.init.scheme = Scheme::kOrthogonal;
  orthogonal.origin = "test:1";
  p.rules.push_back(orthogonal);
  Policy scaled = p;
  scaled.residual = ResidualScaling::kGpt2;
  auto plain = test::Plan(Residual(), p), gpt2 = test::Plan(Residual(), scaled);
  ASSERT_EQ(gpt2->Row("W2").init.scheme, Scheme::kOrthogonal);
  EXPECT_NEAR(gpt2->Row("W2").init.gain, plain->Row("W2").init.gain / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(gpt2->Row("W2").init.std, plain->Row("W2").init.std / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(gpt2->Row("W1").init.gain, plain->Row("W1").init.gain);
}

TEST(RulesInPolicy, LaterRuleWinsAndKeepKeeps) {
  Policy p;
  Rule first, second, keep;
  ASSERT_TRUE(ParseSelector("W", &first.match).ok());
  first.init.scheme = Scheme::kNormal;
  first.init.std = 0.5;
  first.origin = "a:1";
  ASSERT_TRUE(ParseSelector("name=W", &second.match).ok());
  second.init.std = 0.25;
  second.init.scheme = Scheme::kNormal;
  second.origin = "a:2";
  ASSERT_TRUE(ParseSelector("role=bias", &keep.match).ok());
  keep.init.keep = true;
  keep.origin = "a:3";
  p.rules = {first, second, keep};
  auto run = test::Plan(Dense("Relu"), p);
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kNormal);
  EXPECT_EQ(run->Row("W").init.std, 0.25);
  EXPECT_EQ(run->Row("W").init.reason, "normal by rule a:2 (name=W)");
  EXPECT_EQ(run->Row("B").init.action, Action::kKeep);
  EXPECT_EQ(run->Row("B").init.reason, "kept: by rule a:3 (role=bias)");
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

Rule MakeRule(const std::string& selector, const std::string& origin) {
  Rule r;
  EXPECT_TRUE(ParseSelector(selector, &r.match).ok());
  r.origin = origin;
  return r;
}

// The README's example rule, {name: "head.*"} -> xavier gain 0.5, also matches the head's bias, which
// has no fans: Xavier there would divide by zero. The bias keeps its decision; the run says so.
TEST(RulesInPolicy, ASchemeThatNeedsFansSkipsRowsWithoutThem) {
  Policy p;
  Rule head = MakeRule("name=W*", "r.yaml:2");
  head.init.scheme = Scheme::kXavier;
  head.init.gain = 0.5;
  Rule bias = MakeRule("name=B", "r.yaml:4");
  bias.init.gain = 2.0;  // no scheme: the bias keeps constant 0, and the rule applies
  p.rules = {head, bias};
  auto run = test::Plan(Dense("Relu"), p);
  ASSERT_TRUE(run->status.ok()) << run->status.message();
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kXavier);
  EXPECT_NEAR(run->Row("W").init.std, 0.5 * std::sqrt(2.0 / 150), 1e-12);
  EXPECT_EQ(run->Row("B").init.scheme, Scheme::kConstant);
  EXPECT_EQ(run->Row("B").init.constant, 0.0);
  EXPECT_TRUE(std::isfinite(run->Row("B").init.std));
  Rule both = MakeRule("*", "r.yaml:6");  // matches W and B
  both.init.scheme = Scheme::kHe;
  p.rules = {both};
  run = test::Plan(Dense("Tanh"), p);
  ASSERT_TRUE(run->status.ok()) << run->status.message();
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kHe);
  EXPECT_EQ(run->Row("B").init.scheme, Scheme::kConstant);
  ASSERT_EQ(run->ctx.warnings.size(), 1u);
  EXPECT_EQ(run->ctx.warnings[0],
            "r.yaml:6: rule (*) does not apply to 1 tensor, which keep their other decision: B (no fans)");
}

TEST(RulesInPolicy, ARuleThatAppliesToNothingIsAnErrorNamingItsLine) {
  struct Case {
    std::string selector;
    Scheme scheme;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"role=bias", Scheme::kHe, "r.yaml:3: rule (role=bias) applies to none of the tensors it matches: B (no fans)"},
           {"role=bias", Scheme::kOrthogonal,
            "r.yaml:3: rule (role=bias) applies to none of the tensors it matches: B (not a matrix)"},
           {"name=nothing*", Scheme::kHe, "r.yaml:3: rule (name=nothing*) matches no parameter"}}) {
    Policy p;
    Rule r = MakeRule(c.selector, "r.yaml:3");
    r.init.scheme = c.scheme;
    p.rules = {r};
    auto run = test::TryPlan(Dense("Relu"), p);
    EXPECT_EQ(run->status.code(), ExitCode::kUsage) << c.selector;
    EXPECT_EQ(run->status.message(), c.message + " (use --allow-empty to accept that)");
    p.selection.allow_empty = true;
    run = test::Plan(Dense("Relu"), p);
    EXPECT_TRUE(run->status.ok()) << run->status.message();
    EXPECT_EQ(run->ctx.warnings, std::vector<std::string>{c.message});
    EXPECT_EQ(run->Row("B").init.scheme, Scheme::kConstant);
  }
}

TEST(RulesInPolicy, AValueThatDoesNotFitTheTensorsTypeIsRefused) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float16[2,4] X) => (float16[2,3] Y) { Y = MatMul(X, W) })");
  test::AddInitializer(m, "W", {4, 3}, onnx::TensorProto::FLOAT16);
  Policy p;
  Rule big = MakeRule("W", "r.yaml:2");
  big.init.scheme = Scheme::kConstant;
  big.init.value = 1e6;
  p.rules = {big};
  auto run = test::TryPlan(m, p);
  EXPECT_EQ(run->status.code(), ExitCode::kUsage);
  EXPECT_EQ(run->status.message(),
            "tensor 'W' (float16): values up to 1e+06 do not fit its type (largest 65504): constant by rule r.yaml:2 (W)");
  // A normal whose largest draw (6.8 std) could overflow float16 is refused too; 1000 fits.
  big.init.scheme = Scheme::kNormal;
  big.init.value.reset();
  big.init.std = 1e4;
  p.rules = {big};
  EXPECT_EQ(test::TryPlan(m, p)->status.code(), ExitCode::kUsage);
  big.init.std = 1e3;
  p.rules = {big};
  EXPECT_TRUE(test::Plan(m, p)->status.ok());
}

}  // namespace
}  // namespace reinit
