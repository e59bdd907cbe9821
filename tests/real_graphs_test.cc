// How exporters really store and wire parameters (issue: real exported graphs). Each test is a small
// graph in the form an exporter writes it, and the row the table must get for it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "passes/gen/schemes.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

using onnx::TensorProto;

TEST(RealGraphs, WeightStoredAsAConstantNode) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,3] X) => (float[2,2] Y) {
      W = Constant <value = float[3,2] {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}> ()
      H = MatMul(X, W)
      Y = Relu(H)
    })");
  auto run = test::Rewrite(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.source, "constant_node");
  EXPECT_EQ(w.role, Role::kWeight);
  EXPECT_EQ(w.fans->in, 3);
  EXPECT_EQ(w.init.scheme, Scheme::kHe);
  // The node's value attribute holds the new values.
  const std::vector<double> v = test::Values(run->model.graph().node(0).attribute(0).t());
  ASSERT_EQ(v.size(), 6u);
  for (double x : v) EXPECT_LE(std::fabs(x), HeBound(3));
  EXPECT_NE(v[0], 1.0);
}

TEST(RealGraphs, WeightBehindTransposeHasFansOfTheConsumedLayout) {
  // torch exports nn.Linear as Transpose(W [out, in]) -> MatMul in some versions.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,100] X) => (float[2,50] Y) {
      Wt = Transpose <perm = [1, 0]> (W)
      H = MatMul(X, Wt)
      Y = Tanh(H)
    })");
  test::AddInitializer(m, "W", {50, 100});
  auto run = test::Plan(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.role, Role::kWeight);
  EXPECT_EQ(w.primary_use()->through, std::vector<std::string>{"Transpose"});
  EXPECT_EQ(w.primary_use()->shape, (std::vector<int64_t>{100, 50}));
  EXPECT_EQ(w.fans->in, 100);
  EXPECT_EQ(w.fans->out, 50);
  EXPECT_NEAR(*w.init.bound, 0.2, 1e-12);
}

TEST(RealGraphs, WeightBehindIdentityCastReshapeAndUnsqueeze) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,8,8] X) => (float[1,4,6,6] Y) {
      A = Identity(W)
      B = Cast <to = 1> (A)
      shape = Constant <value = int64[3] {4, 3, 9}> ()
      C = Reshape(B, shape)
      axes = Constant <value = int64[1] {3}> ()
      D = Unsqueeze(C, axes)
      shape2 = Constant <value = int64[4] {4, 3, 3, 3}> ()
      E = Reshape(D, shape2)
      H = Conv(X, E)
      Y = Relu(H)
    })");
  test::AddInitializer(m, "W", {4, 27}, TensorProto::FLOAT16);
  auto run = test::Plan(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.role, Role::kWeight);
  EXPECT_EQ(w.primary_use()->through, (std::vector<std::string>{"Identity", "Cast", "Reshape", "Unsqueeze", "Reshape"}));
  EXPECT_EQ(w.primary_use()->shape, (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(w.fans->in, 27);
  EXPECT_EQ(w.fans->out, 36);
  // The shape constants stay: int64 tensors are never parameters.
  EXPECT_EQ(run->Row("shape").init.action, Action::kKeep);
}

TEST(RealGraphs, ReshapeToAShapeOnlyKnownAtRunTimeKeepsTheWeight) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,12] X, int64[2] S) => (float[2,3] Y) {
      R = Reshape(W, S)
      Y = MatMul(X, R)
    })");
  test::AddInitializer(m, "W", {36});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kWeight);
  EXPECT_EQ(run->Row("W").init.action, Action::kKeep);
  EXPECT_NE(run->Row("W").init.reason.find("its shape after Reshape is not a constant"), std::string::npos)
      << run->Row("W").init.reason;
}

TEST(RealGraphs, FloatWeightBehindQuantizeDequantizeIsRewritten) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) {
      Q = QuantizeLinear(W, scale, zp)
      D = DequantizeLinear(Q, scale, zp)
      H = MatMul(X, D)
      Y = Relu(H)
    })");
  test::AddInitializer(m, "W", {4, 3});
  test::AddInitializer(m, "scale", {});
  auto* zp = m.mutable_graph()->add_initializer();
  zp->set_name("zp");
  zp->set_data_type(TensorProto::UINT8);
  zp->add_int32_data(128);
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kWeight);
  EXPECT_EQ(run->Row("W").init.action, Action::kReinitialize);
  EXPECT_EQ(run->Row("W").primary_use()->through, (std::vector<std::string>{"QuantizeLinear", "DequantizeLinear"}));
  EXPECT_EQ(run->Row("scale").init.action, Action::kKeep);
  EXPECT_EQ(run->Row("zp").init.action, Action::kKeep);
}

TEST(RealGraphs, IntegerWeightBehindDequantizeIsReportedAndKept) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) {
      D = DequantizeLinear(Wq, scale)
      H = MatMul(X, D)
      Y = Relu(H)
    })");
  auto* wq = m.mutable_graph()->add_initializer();
  wq->set_name("Wq");
  wq->set_data_type(TensorProto::INT8);
  wq->add_dims(4);
  wq->add_dims(3);
  wq->set_raw_data(std::string(12, '\x05'));
  test::AddInitializer(m, "scale", {});
  const std::string before = wq->SerializeAsString();
  auto run = test::Rewrite(std::move(m));
  const ParamRow& w = run->Row("Wq");
  EXPECT_EQ(w.role, Role::kWeight);
  EXPECT_TRUE(w.quantized);
  EXPECT_EQ(w.init.action, Action::kKeep);
  EXPECT_EQ(w.init.reason.rfind("kept: quantized weights are kept (int8", 0), 0u) << w.init.reason;
  EXPECT_EQ(run->model.graph().initializer(0).SerializeAsString(), before);
}

TEST(RealGraphs, QLinearConvWeightIsQuantizedAndKept) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (uint8[1,3,8,8] X, float xs, uint8 xz, float ws, int8 wz, float ys, uint8 yz) => (uint8[1,4,6,6] Y) {
      Y = QLinearConv(X, xs, xz, W, ws, wz, ys, yz)
    })");
  auto* w = m.mutable_graph()->add_initializer();
  w->set_name("W");
  w->set_data_type(TensorProto::INT8);
  for (int d : {4, 3, 3, 3}) w->add_dims(d);
  w->set_raw_data(std::string(108, '\x01'));
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kWeight);
  EXPECT_EQ(run->Row("W").fans->in, 27);
  EXPECT_EQ(run->Row("W").init.action, Action::kKeep);
}

TEST(RealGraphs, TiedEmbeddingAndLmHeadDecideAsAnEmbeddingAndReportTheConflict) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[2,5] ids) => (float[2,5,100] logits) {
      E = Gather(Emb, ids)
      Et = Transpose <perm = [1, 0]> (Emb)
      logits = MatMul(E, Et)
    })");
  test::AddInitializer(m, "Emb", {100, 16});
  auto run = test::Plan(std::move(m));
  const ParamRow& e = run->Row("Emb");
  EXPECT_EQ(e.role, Role::kEmbedding);
  EXPECT_EQ(e.uses.size(), 2u);
  EXPECT_EQ(e.init.scheme, Scheme::kNormal);
  ASSERT_EQ(e.conflicts.size(), 1u);
  EXPECT_NE(e.conflicts[0].find("also used as weight by MatMul"), std::string::npos) << e.conflicts[0];
  EXPECT_NE(e.init.reason.find("conflict: also used as weight"), std::string::npos) << e.init.reason;
}

TEST(RealGraphs, SharedWeightWithDifferentActivationsReportsTheConflict) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X) => (float[2,8] A, float[2,8] B) {
      H1 = MatMul(X, W)
      A = Relu(H1)
      H2 = MatMul(X, W)
      B = Tanh(H2)
    })");
  test::AddInitializer(m, "W", {8, 8});
  auto run = test::Plan(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.act.name, "relu");  // the first use decides
  EXPECT_EQ(w.init.scheme, Scheme::kHe);
  ASSERT_EQ(w.conflicts.size(), 1u);
  EXPECT_NE(w.conflicts[0].find("followed by tanh"), std::string::npos) << w.conflicts[0];
}

TEST(RealGraphs, DecomposedLayerNormScaleAndBias) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X) => (float[2,8] Y) {
      mean = ReduceMean <axes = [-1]> (X)
      d = Sub(X, mean)
      two = Constant <value = float {2.0}> ()
      sq = Pow(d, two)
      var = ReduceMean <axes = [-1]> (sq)
      eps = Constant <value = float {0.00001}> ()
      ve = Add(var, eps)
      sd = Sqrt(ve)
      n = Div(d, sd)
      s = Mul(n, gamma)
      Y = Add(s, beta)
    })");
  test::AddInitializer(m, "gamma", {8});
  test::AddInitializer(m, "beta", {8});
  auto run = test::Rewrite(std::move(m));
  EXPECT_EQ(run->Row("gamma").role, Role::kNormScale);
  EXPECT_EQ(run->Row("beta").role, Role::kNormBias);
  for (double x : test::Values(*run->Row("gamma").tensor)) EXPECT_EQ(x, 1.0);
  // The epsilon and the exponent are scalars with no role: untouched.
  EXPECT_EQ(run->Row("eps").init.action, Action::kKeep);
  EXPECT_EQ(run->Row("two").init.action, Action::kKeep);
}

TEST(RealGraphs, RmsNormScale) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X) => (float[2,8] Y) {
      sq = Mul(X, X)
      ms = ReduceMean <axes = [-1]> (sq)
      eps = Constant <value = float {0.000001}> ()
      a = Add(ms, eps)
      r = Sqrt(a)
      inv = Reciprocal(r)
      n = Mul(X, inv)
      Y = Mul(n, g)
    })");
  test::AddInitializer(m, "g", {8});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("g").role, Role::kNormScale);
}

TEST(RealGraphs, VitPatchEmbeddingClassTokenAndPositions) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,32,32] img) => (float[1,17,32] Y) {
      p = Conv <strides = [8, 8]> (img, Wp, Bp)
      shape = Constant <value = int64[3] {1, 32, 16}> ()
      r = Reshape(p, shape)
      t = Transpose <perm = [0, 2, 1]> (r)
      eshape = Constant <value = int64[3] {1, 1, 32}> ()
      c = Expand(cls, eshape)
      cat = Concat <axis = 1> (c, t)
      Y = Add(cat, pos)
    })");
  test::AddInitializer(m, "Wp", {32, 3, 8, 8});
  test::AddInitializer(m, "Bp", {32});
  test::AddInitializer(m, "cls", {1, 1, 32});
  test::AddInitializer(m, "pos", {1, 17, 32});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("cls").role, Role::kClassToken);
  EXPECT_EQ(run->Row("cls").init.constant, 0.0);
  EXPECT_EQ(run->Row("pos").role, Role::kPositionalEmbedding);
  EXPECT_EQ(run->Row("pos").init.std, 0.02);
  EXPECT_EQ(run->Row("Wp").role, Role::kWeight);
}

TEST(RealGraphs, AttentionMaskAddedToScoresIsNotAPositionalEmbedding) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,4,16] X) => (float[1,4,4] Y) {
      q = MatMul(X, Wq)
      k = MatMul(X, Wk)
      kt = Transpose <perm = [0, 2, 1]> (k)
      s = MatMul(q, kt)
      m = Add(s, mask)
      Y = Softmax <axis = -1> (m)
    })");
  test::AddInitializer(m, "Wq", {16, 16});
  test::AddInitializer(m, "Wk", {16, 16});
  test::AddInitializer(m, "mask", {1, 4, 4});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("mask").role, Role::kUnknown);
  EXPECT_EQ(run->Row("mask").init.action, Action::kKeep);
  // Q and K projections feed the score MatMul: linear -> Xavier.
  EXPECT_EQ(run->Row("Wq").act.name, "linear");
  EXPECT_EQ(run->Row("Wq").init.scheme, Scheme::kXavier);
}

// A layer followed by a decomposed activation; `tail` reads H and writes Y.
std::unique_ptr<test::Run> Decomposed(const std::string& tail) {
  auto m = test::ParseModel("<ir_version: 8, opset_import: [\"\" : 14]>\n g (float[2,4] X) => (float[2,3] Y) {\n"
                            " M = MatMul(X, W)\n H = Add(M, B)\n" + tail + "\n}");
  test::AddInitializer(m, "W", {4, 3});
  test::AddInitializer(m, "B", {3});
  return test::Plan(std::move(m));
}

struct GatedCase {
  std::string name, tail, activation;
};
class Gated : public ::testing::TestWithParam<GatedCase> {};

TEST_P(Gated, DecomposedActivationIsRecognised) {
  auto run = Decomposed(GetParam().tail);
  EXPECT_EQ(run->Row("W").act.name, GetParam().activation);
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kHe);
  EXPECT_EQ(run->Row("B").role, Role::kBias);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, Gated,
    ::testing::Values(
        GatedCase{"gelu_erf",
                  "r2 = Constant <value = float {1.4142135}> ()\n d = Div(H, r2)\n e = Erf(d)\n"
                  "one = Constant <value = float {1.0}> ()\n a = Add(e, one)\n m = Mul(H, a)\n"
                  "half = Constant <value = float {0.5}> ()\n Y = Mul(m, half)",
                  "gelu"},
        GatedCase{"gelu_tanh",
                  "three = Constant <value = float {3.0}> ()\n p = Pow(H, three)\n"
                  "k = Constant <value = float {0.044715}> ()\n kp = Mul(p, k)\n s = Add(H, kp)\n"
                  "c = Constant <value = float {0.7978846}> ()\n cs = Mul(s, c)\n t = Tanh(cs)\n"
                  "one = Constant <value = float {1.0}> ()\n a = Add(t, one)\n"
                  "half = Constant <value = float {0.5}> ()\n hx = Mul(H, half)\n Y = Mul(hx, a)",
                  "gelu_tanh"},
        GatedCase{"silu", "s = Sigmoid(H)\n Y = Mul(H, s)", "silu"},
        GatedCase{"silu_swapped", "s = Sigmoid(H)\n Y = Mul(s, H)", "silu"},
        GatedCase{"hardswish_hardsigmoid", "s = HardSigmoid <alpha = 0.16666667> (H)\n Y = Mul(H, s)", "hardswish"},
        GatedCase{"hardswish_clip",
                  "three = Constant <value = float {3.0}> ()\n a = Add(H, three)\n"
                  "lo = Constant <value = float {0.0}> ()\n hi = Constant <value = float {6.0}> ()\n"
                  "c = Clip(a, lo, hi)\n m = Mul(H, c)\n six = Constant <value = float {6.0}> ()\n Y = Div(m, six)",
                  "hardswish"},
        GatedCase{"mish", "sp = Softplus(H)\n t = Tanh(sp)\n Y = Mul(H, t)", "mish"}),
    [](const auto& info) { return info.param.name; });

TEST(RealGraphs, PlainSigmoidIsNotSilu) {
  auto run = Decomposed("Y = Sigmoid(H)");
  EXPECT_EQ(run->Row("W").act.name, "sigmoid");
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kXavier);
}

TEST(RealGraphs, FusedConvActivationAttribute) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14, "com.microsoft" : 1]>
    g (float[1,3,8,8] X) => (float[1,4,6,6] Y) {
      Y = com.microsoft.FusedConv <activation = "LeakyRelu", activation_params = [0.1]> (X, W, B)
    })");
  test::AddInitializer(m, "W", {4, 3, 3, 3});
  test::AddInitializer(m, "B", {4});
  auto run = test::Plan(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.role, Role::kWeight);
  EXPECT_EQ(w.act.name, "leaky_relu");
  EXPECT_FLOAT_EQ(static_cast<float>(w.act.param), 0.1f);
  EXPECT_EQ(run->Row("B").role, Role::kBias);
}

TEST(RealGraphs, IfBranchesWithTheirOwnInitializersAndOuterWeights) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (bool c, float[2,4] X) => (float[2,3] Y) {
      Y = If (c) <
        then_branch = then_g () => (float[2,3] t) {
          h = MatMul(X, Wouter)
          t = Relu(h)
        },
        else_branch = else_g () => (float[2,3] e) {
          Winner = Constant <value = float[4,3] {1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0}> ()
          h2 = MatMul(X, Winner)
          e = Tanh(h2)
        }
      >
    })");
  test::AddInitializer(m, "Wouter", {4, 3});
  auto run = test::Rewrite(std::move(m));
  const ParamRow& outer = run->Row("Wouter");
  EXPECT_EQ(outer.role, Role::kWeight);
  EXPECT_EQ(outer.act.name, "relu");
  EXPECT_EQ(outer.graph, "main");
  const ParamRow& inner = run->Row("Winner");
  EXPECT_EQ(inner.role, Role::kWeight);
  EXPECT_EQ(inner.act.name, "tanh");
  EXPECT_EQ(inner.graph, "main/#0.else_branch");
  EXPECT_EQ(inner.init.action, Action::kReinitialize);
  EXPECT_NE(test::Values(*inner.tensor)[0], 1.0);
}

TEST(RealGraphs, ActivationSearchLeavesABodyThroughItsOutput) {
  // The layer is inside the then-branch; its activation is applied to the If's output outside.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (bool c, float[2,4] X) => (float[2,3] Y) {
      r = If (c) <
        then_branch = then_g () => (float[2,3] t) { t = MatMul(X, W1) },
        else_branch = else_g () => (float[2,3] e) { e = MatMul(X, W2) }
      >
      Y = Sigmoid(r)
    })");
  test::AddInitializer(m, "W1", {4, 3});
  test::AddInitializer(m, "W2", {4, 3});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W1").act.name, "sigmoid");
  EXPECT_EQ(run->Row("W1").act.path, (std::vector<std::string>{"(body output)", "Sigmoid"}));
  EXPECT_EQ(run->Row("W2").act.name, "sigmoid");
}

TEST(RealGraphs, LoopBodyWeightAndCarriedValue) {
  // A Loop applying the same layer each iteration: the body consumes the outer weight.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64 n, bool c, float[2,4] X) => (float[2,4] Y) {
      Y = Loop (n, c, X) <
        body = step (int64 i, bool cin, float[2,4] x) => (bool cout, float[2,4] y) {
          cout = Identity(cin)
          h = MatMul(x, W)
          y = Selu(h)
        }
      >
    })");
  test::AddInitializer(m, "W", {4, 4});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kWeight);
  EXPECT_EQ(run->Row("W").act.name, "selu");
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kLeCun);
}

TEST(RealGraphs, Opset21GeluAndLayerNormalization) {
  auto m = test::ParseModel(R"(<ir_version: 10, opset_import: ["" : 21]>
    g (float[2,16] X) => (float[2,16] Y) {
      h = MatMul(X, W)
      n = LayerNormalization <axis = -1> (h, s, b)
      Y = Gelu <approximate = "tanh"> (n)
    })");
  test::AddInitializer(m, "W", {16, 16});
  test::AddInitializer(m, "s", {16});
  test::AddInitializer(m, "b", {16});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").act.name, "gelu");
  EXPECT_EQ(run->Row("W").act.path, (std::vector<std::string>{"LayerNormalization", "Gelu"}));
  EXPECT_EQ(run->Row("s").role, Role::kNormScale);
}

TEST(RealGraphs, Opset11UnsqueezeAxesAsAttribute) {
  // Before opset 13 Unsqueeze takes its axes as an attribute; the weight's shape is carried either way.
  auto m = test::ParseModel(R"(<ir_version: 6, opset_import: ["" : 11]>
    g (float[1,3,8,8] X) => (float[1,4,8,8] Y) {
      u = Unsqueeze <axes = [2, 3]> (W)
      Y = Conv(X, u)
    })");
  test::AddInitializer(m, "W", {4, 3});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").primary_use()->shape, (std::vector<int64_t>{4, 3, 1, 1}));
  EXPECT_EQ(run->Row("W").fans->in, 3);
  EXPECT_EQ(run->Row("W").fans->out, 4);
}

TEST(RealGraphs, ScanBodyWeight) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[4] S0, float[5,4] Xs) => (float[4] S, float[5,4] Ys) {
      S, Ys = Scan <num_scan_inputs = 1, body = step (float[4] s, float[4] x) => (float[4] s2, float[4] y) {
        a = Add(s, x)
        h = MatMul(a, W)
        s2 = Tanh(h)
        y = Identity(s2)
      }> (S0, Xs)
    })");
  test::AddInitializer(m, "W", {4, 4});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").act.name, "tanh");
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kXavier);
}

TEST(RealGraphs, RecurrentRBehindAReshapeIsStillOrthogonalPerGateBlock) {
  // A reshape keeps row-major order: each gate block is still a run of stored elements.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X) => (float[5,1,1,2] Y) {
      shape = Constant <value = int64[3] {1, 2, 2}> ()
      r = Reshape(Rflat, shape)
      Y = RNN <hidden_size = 2> (X, W, r)
    })");
  test::AddInitializer(m, "W", {1, 2, 3});
  test::AddInitializer(m, "Rflat", {4});
  auto run = test::Rewrite(std::move(m));
  const ParamRow& r = run->Row("Rflat");
  EXPECT_EQ(r.role, Role::kRecurrentHidden);
  EXPECT_EQ(r.init.scheme, Scheme::kOrthogonal);
  EXPECT_EQ(r.gates.block_offsets, std::vector<int64_t>{0});
  const std::vector<double> v = test::Values(*r.tensor);
  EXPECT_NEAR(v[0] * v[0] + v[1] * v[1], 1.0, 1e-6);  // orthonormal rows of [[v0, v1], [v2, v3]]
  EXPECT_NEAR(v[0] * v[2] + v[1] * v[3], 0.0, 1e-6);
}

TEST(RealGraphs, RecurrentRBehindATransposeIsNotMadeOrthogonal) {
  // Transposed, a gate block's rows are stored columns: not whole runs of stored rows.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X) => (float[5,1,1,2] Y) {
      r = Transpose <perm = [0, 2, 1]> (R)
      Y = RNN <hidden_size = 2> (X, W, r)
    })");
  test::AddInitializer(m, "W", {1, 2, 3});
  test::AddInitializer(m, "R", {1, 2, 2});
  auto run = test::Rewrite(std::move(m));
  const ParamRow& r = run->Row("R");
  EXPECT_EQ(r.role, Role::kRecurrentHidden);
  EXPECT_EQ(r.init.scheme, Scheme::kXavier);
  EXPECT_NE(r.init.reason.find("so not orthogonal"), std::string::npos) << r.init.reason;
  EXPECT_TRUE(r.stats.has_value());
}

// models/graphs (built by models/make_graphs.py, issue 11): the decisions expected.json lists for the
// activation-search and strided-fan models, checked on the plan report of the built tool (with each
// expectation's extra flags, e.g. --preset jax).
TEST(RealGraphs, IssueModelsOfTheActivationSearchAndStridedFans) {
  const std::set<std::string> models = {
      "ln_relu.onnx",         "densenet_concat.onnx", "folded_bn_hardswish.onnx", "fp16_resize.onnx",
      "passthrough_ops.onnx", "upsample_opset9.onnx", "convinteger_dequant.onnx", "clip_relu.onnx",
      "quick_gelu.onnx",      "shape_consumer.onnx",  "vit_patch_embed.onnx"};
  // Roles these passes do not give (find-params'): the folded BatchNorm constants and the float bias
  // of the quantized layer.
  const std::set<std::string> other_roles = {"bn_folded.scale", "bn_folded.shift", "conv.bias@convinteger_dequant.onnx"};
  std::ifstream in(test::ModelPath("graphs/expected.json"));
  ASSERT_TRUE(in.good());
  const nlohmann::json spec = nlohmann::json::parse(in);
  const std::string dir = test::TempDir("issue-graphs");
  std::map<std::string, nlohmann::json> reports;  // by model and flags
  int checked = 0;
  for (const auto& e : spec["expectations"]) {
    const std::string model = e["model"];
    if (!models.count(model) || !e.contains("tensor")) continue;
    const std::string tensor = e["tensor"];
    if (other_roles.count(tensor) || other_roles.count(tensor + "@" + model)) continue;
    std::string flags;
    for (const auto& a : e.value("args", nlohmann::json::array())) flags += " " + a.get<std::string>();
    const std::string key = model + flags;
    if (!reports.count(key)) {
      const test::ToolResult r = test::RunTool("plan " + test::ModelPath("graphs/" + model) + " --format json" + flags, dir);
      ASSERT_EQ(r.code, 0) << key << ": " << r.err;
      reports[key] = nlohmann::json::parse(r.out);
    }
    const nlohmann::json* row = nullptr;
    for (const auto& t : reports[key]["tensors"]) {
      if (t["name"] == tensor) row = &t;
    }
    ASSERT_NE(row, nullptr) << key << ": " << tensor;
    for (const auto& [field, want] : e["expect"].items()) {
      const nlohmann::json& got = (*row)[field];
      bool ok = false;
      if (want.is_array()) {
        for (const auto& w : want) ok = ok || got == w;
      } else if (want.is_number_float() && got.is_number()) {
        ok = std::fabs(got.get<double>() - want.get<double>()) < 1e-6;
      } else {
        ok = got == want;
      }
      EXPECT_TRUE(ok) << key << ": " << tensor << ": " << field << " " << got.dump() << " (want " << want.dump()
                      << ": " << e["why"].get<std::string>() << ")";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// Paddle2ONNX and TensorFlow converters fold BatchNorm into an affine step after the layer. Fresh, it is
// scale 1 and shift 0; a per-channel Mul before a residual Add stays a layer scale, and a Mul by a
// scalar (attention's 1/sqrt(d)) is no norm at all.
TEST(RealGraphs, ABatchNormFoldedIntoMulAndAddIsANormsScaleAndShift) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,8,8] X) => (float[1,8,8,8] Y, float[1,8,8,8] Z) {
      C = Conv <pads = [1, 1, 1, 1]> (X, W, B)
      S = Mul(C, scale)
      Y = Add(S, shift)
      R = Conv <pads = [1, 1, 1, 1]> (X, W2)
      T = Mul(R, gamma)
      Z = Add(Y, T)
    })");
  test::AddInitializer(m, "W", {8, 3, 3, 3});
  test::AddInitializer(m, "B", {8});
  test::AddInitializer(m, "scale", {1, 8, 1, 1});
  test::AddInitializer(m, "shift", {1, 8, 1, 1});
  test::AddInitializer(m, "W2", {8, 3, 3, 3});
  test::AddInitializer(m, "gamma", {1, 8, 1, 1});
  auto run = test::Rewrite(std::move(m));
  EXPECT_EQ(run->Row("scale").role, Role::kNormScale);
  EXPECT_EQ(run->Row("shift").role, Role::kNormBias);
  for (double x : test::Values(*run->Row("scale").tensor)) EXPECT_EQ(x, 1.0);
  for (double x : test::Values(*run->Row("shift").tensor)) EXPECT_EQ(x, 0.0);
  EXPECT_EQ(run->Row("gamma").role, Role::kLayerScale);
  auto attention = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X) => (float[2,4] Y) { H = MatMul(X, W)  Y = Mul(H, s) })");
  test::AddInitializer(attention, "W", {8, 4});
  test::AddInitializer(attention, "s", {1});
  EXPECT_EQ(test::Plan(std::move(attention))->Row("s").role, Role::kUnknown);
}

}  // namespace
}  // namespace reinit
