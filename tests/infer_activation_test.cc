// infer-activation: the first nonlinearity after each layer, through pass-through ops.
#include <gtest/gtest.h>

#include <limits>

#include "tests/test_util.h"

namespace reinit {
namespace {

std::unique_ptr<test::Run> Activations(onnx::ModelProto model) {
  return test::RunPasses(std::move(model), {"find-params", "infer-fans", "infer-activation"});
}

// A 4->3 MatMul layer followed by `tail` (text of nodes reading H and writing Y).
onnx::ModelProto Layer(const std::string& tail, int opset = 14) {
  auto m = test::ParseModel("<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) +
                            "]>\n g (float[2,4] X) => (float[2,3] Y) {\n H = MatMul(X, W)\n" + tail + "\n}");
  test::AddInitializer(m, "W", {4, 3});
  return m;
}

struct Case {
  std::string tail;
  std::string activation;
  ActivationFamily family;
};

class EachActivation : public ::testing::TestWithParam<Case> {};

TEST_P(EachActivation, IsFoundAndClassified) {
  auto run = Activations(Layer(GetParam().tail));
  EXPECT_EQ(run->Row("W").activation, GetParam().activation);
  EXPECT_EQ(run->Row("W").activation_family, GetParam().family);
}

INSTANTIATE_TEST_SUITE_P(
    Table, EachActivation,
    ::testing::Values(Case{"Y = Relu(H)", "relu", ActivationFamily::kRelu},
                      Case{"Y = LeakyRelu <alpha = 0.2> (H)", "leaky_relu", ActivationFamily::kRelu},
                      Case{"Y = Elu(H)", "elu", ActivationFamily::kRelu},
                      Case{"Y = Celu(H)", "celu", ActivationFamily::kRelu},
                      Case{"Y = Selu(H)", "selu", ActivationFamily::kSelu},
                      Case{"Y = Sigmoid(H)", "sigmoid", ActivationFamily::kSigmoidTanh},
                      Case{"Y = HardSigmoid(H)", "hard_sigmoid", ActivationFamily::kSigmoidTanh},
                      Case{"Y = Tanh(H)", "tanh", ActivationFamily::kSigmoidTanh},
                      Case{"Y = Softsign(H)", "softsign", ActivationFamily::kSigmoidTanh},
                      Case{"Y = Softplus(H)", "softplus", ActivationFamily::kRelu},
                      Case{"Y = HardSwish(H)", "hardswish", ActivationFamily::kRelu},
                      Case{"Y = Mish(H)", "mish", ActivationFamily::kRelu},
                      Case{"Y = Gelu(H)", "gelu", ActivationFamily::kRelu},
                      Case{"Y = Softmax(H)", "softmax", ActivationFamily::kLinear},
                      Case{"Y = LogSoftmax(H)", "log_softmax", ActivationFamily::kLinear},
                      Case{"lo = Constant <value = float {0.0}> ()\n hi = Constant <value = float {6.0}> ()\n"
                           "Y = Clip(H, lo, hi)",
                           "relu6", ActivationFamily::kRelu},
                      Case{"lo = Constant <value = float {-1.0}> ()\n hi = Constant <value = float {1.0}> ()\n"
                           "Y = Clip(H, lo, hi)",
                           "hardtanh", ActivationFamily::kSigmoidTanh},
                      Case{"Y = Identity(H)", "linear", ActivationFamily::kLinear}),
    [](const auto& info) { return info.param.activation; });

TEST(InferActivation, LeakySlopeIsRead) {
  auto run = Activations(Layer("Y = LeakyRelu <alpha = 0.2> (H)"));
  EXPECT_FLOAT_EQ(run->Row("W").activation_param, 0.2f);
}

TEST(InferActivation, PReluTakesTheSlopeItIsReinitializedTo) {
  auto m = Layer("Y = PRelu(H, S)");
  test::AddInitializer(m, "S", {1});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").activation, "prelu");
  EXPECT_DOUBLE_EQ(run->Row("W").activation_param, 0.25);
}

TEST(InferActivation, ClipBoundsAsAttributesBeforeOpset11) {
  auto run = Activations(Layer("Y = Clip <min = 0.0, max = 6.0> (H)", 10));
  EXPECT_EQ(run->Row("W").activation, "relu6");
}

// Clip bounds as a ReLU: min 0 (or a tiny positive min) with no max, max +inf or the type's largest value
// is a plain ReLU; a max of 6 is relu6, any other finite max clipped_relu. Before opset 11 the bounds
// are attributes, from opset 11 on optional inputs.
struct ClipCase {
  std::string name, tail;
  int opset;
  std::string activation;
  ActivationFamily family;
};
class ClipBounds : public ::testing::TestWithParam<ClipCase> {};

TEST_P(ClipBounds, AreClassified) {
  auto run = test::Plan(Layer(GetParam().tail, GetParam().opset));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.activation, GetParam().activation);
  EXPECT_EQ(w.activation_family, GetParam().family);
  EXPECT_EQ(w.scheme, GetParam().family == ActivationFamily::kRelu ? Scheme::kHe : Scheme::kXavier);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ClipBounds,
    ::testing::Values(
        ClipCase{"min0_no_max", "lo = Constant <value = float {0.0}> ()\n Y = Clip(H, lo)", 14, "relu",
                 ActivationFamily::kRelu},
        ClipCase{"min0_empty_max", "lo = Constant <value = float {0.0}> ()\n Y = Clip(H, lo, )", 14, "relu",
                 ActivationFamily::kRelu},
        ClipCase{"min0_flt_max",
                 "lo = Constant <value = float {0.0}> ()\n hi = Constant <value = float {3.4028235e38}> ()\n"
                 "Y = Clip(H, lo, hi)",
                 13, "relu", ActivationFamily::kRelu},
        ClipCase{"attr_min0", "Y = Clip <min = 0.0> (H)", 6, "relu", ActivationFamily::kRelu},
        ClipCase{"attr_tiny_min_flt_max", "Y = Clip <min = 1e-10, max = 3.4028235e38> (H)", 10, "relu",
                 ActivationFamily::kRelu},
        ClipCase{"attr_relu6", "Y = Clip <min = 0.0, max = 6.0> (H)", 10, "relu6", ActivationFamily::kRelu},
        ClipCase{"tiny_min_relu6",
                 "lo = Constant <value = float {1e-10}> ()\n hi = Constant <value = float {6.0}> ()\n"
                 "Y = Clip(H, lo, hi)",
                 14, "relu6", ActivationFamily::kRelu},
        ClipCase{"min0_max1",
                 "lo = Constant <value = float {0.0}> ()\n hi = Constant <value = float {1.0}> ()\n"
                 "Y = Clip(H, lo, hi)",
                 14, "clipped_relu", ActivationFamily::kRelu},
        // A min well above 0 is no ReLU; neither is a Clip without bounds (an identity, not a hard tanh).
        ClipCase{"min_0_1", "lo = Constant <value = float {0.1}> ()\n Y = Clip(H, lo)", 14, "clip",
                 ActivationFamily::kLinear},
        ClipCase{"no_bounds", "Y = Clip(H)", 14, "clip", ActivationFamily::kLinear}),
    [](const auto& info) { return info.param.name; });

TEST(InferActivation, WalksThroughBiasNormReshapePoolAndResidual) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,8,8] X, float[1,4,3,3] Skip, int64[2] Shp) => (float[1,36] Y) {
      C = Conv(X, W)
      A = Add(C, Bias)
      N = BatchNormalization(A, S, B, M, V)
      D = Dropout(N)
      R = Add(D, Skip)
      P = MaxPool <kernel_shape = [2, 2]> (R)
      T = Transpose(P)
      F = Flatten(T)
      Y = Tanh(F)
    })");
  test::AddInitializer(m, "W", {4, 3, 6, 6});
  test::AddInitializer(m, "Bias", {1, 4, 1, 1});
  for (const char* n : {"S", "B", "M", "V"}) test::AddInitializer(m, n, {4});
  auto run = Activations(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.activation, "tanh");
  EXPECT_EQ(w.activation_path, (std::vector<std::string>{"Add", "BatchNormalization", "Dropout", "Add", "MaxPool",
                                                         "Transpose", "Flatten", "Tanh"}));
}

TEST(InferActivation, LayerOutputAsTheSecondOperandOfAnAdd) {
  auto run = Activations(Layer("S = Add(X2, H)\n Y = Relu(S)"));
  EXPECT_EQ(run->Row("W").activation, "relu");
  EXPECT_EQ(run->Row("W").activation_path, (std::vector<std::string>{"Add", "Relu"}));
}

TEST(InferActivation, ReshapeOfTheLayerOutputAsShapeInputIsNotFollowed) {
  // The layer output feeds Reshape's shape input (slot 1), not its data: that Reshape does not carry it.
  auto run = Activations(Layer("R = Reshape(X, H)\n Y = Relu(R)"));
  EXPECT_EQ(run->Row("W").activation, "linear");
}

TEST(InferActivation, NextLayerBeforeAnyNonlinearityMeansLinear) {
  auto m = Layer("V = MatMul(H, W2)\n Y = Relu(V)");
  test::AddInitializer(m, "W2", {3, 3});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").activation, "linear");
  EXPECT_EQ(run->Row("W").activation_path, (std::vector<std::string>{"MatMul"}));
  EXPECT_EQ(run->Row("W2").activation, "relu");
}

TEST(InferActivation, GraphOutputMeansLinear) {
  auto run = Activations(Layer("Y = Identity(H)"));
  EXPECT_EQ(run->Row("W").activation, "linear");
  EXPECT_EQ(run->Row("W").activation_path, (std::vector<std::string>{"Identity", "(graph output)"}));
}

// Clip(H, lo, hi) with bounds stored as one-value initializers of type `dtype` (raw little-endian
// bytes), as exporters write +inf, or float16's largest value for "no max"; H is cast to that type
// and back when it is not float.
std::unique_ptr<test::Run> ClipWithBounds(int32_t dtype, const std::string& lo, const std::string& hi) {
  auto m = Layer(dtype == onnx::TensorProto::FLOAT
                     ? "Y = Clip(H, lo, hi)"
                     : "Hc = Cast <to = " + std::to_string(dtype) + "> (H)\n C = Clip(Hc, lo, hi)\n Y = Cast <to = 1> (C)");
  for (const auto& [name, bytes] : {std::pair<const char*, std::string>{"lo", lo}, {"hi", hi}}) {
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(dtype);
    t->set_raw_data(bytes);
  }
  return test::Plan(std::move(m));
}

template <typename T>
std::string Bytes(T value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

TEST(InferActivation, ClipWithTinyMinAndInfiniteMaxIsAReLU) {
  auto run = ClipWithBounds(onnx::TensorProto::FLOAT, Bytes(1e-10f), Bytes(std::numeric_limits<float>::infinity()));
  EXPECT_EQ(run->Row("W").activation, "relu");
  EXPECT_EQ(run->Row("W").scheme, Scheme::kHe);
}

TEST(InferActivation, ShapeConsumerIsNotTheEndOfALinearLayer) {
  auto run = Activations(Layer("S = Shape(H)\n Y = Identity(H)"));
  EXPECT_EQ(run->Row("W").activation, "linear");
  EXPECT_EQ(run->Row("W").activation_path, (std::vector<std::string>{"Identity", "(graph output)"}));
}

TEST(InferActivation, BiasReadThroughIdentityIsNotAResidualAdd) {
  auto m = Layer("bi = Identity(B)\n A = Add(H, bi)\n Y = Relu(A)");
  test::AddInitializer(m, "B", {3});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").activation, "relu");
  EXPECT_EQ(run->Row("W").residual_add, nullptr);
}

TEST(InferActivation, OnlyTheBranchSideOfAResidualAddEndsABranch) {
  // H = X W is the skip of a residual block H + (H W1): W1 ends the branch, W (whose output the branch
  // also starts from) does not, though both reach the Add before their Tanh.
  auto m = Layer("a = MatMul(H, W1)\n r = Add(H, a)\n Y = Tanh(r)");
  test::AddInitializer(m, "W1", {3, 3});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").activation, "tanh");
  EXPECT_EQ(run->Row("W").residual_add, nullptr);
  EXPECT_EQ(run->Row("W1").activation, "tanh");
  EXPECT_NE(run->Row("W1").residual_add, nullptr);
}

TEST(InferActivation, RecurrentWeightsTakeTheGateActivations) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X) => (float[5,1,1,2] Y, float[5,1,1,2] Z) {
      Y = GRU <hidden_size = 2> (X, W, R)
      Z = RNN <hidden_size = 2, activations = ["Relu"]> (X, W2, R2)
    })");
  test::AddInitializer(m, "W", {1, 6, 3});
  test::AddInitializer(m, "R", {1, 6, 2});
  test::AddInitializer(m, "W2", {1, 2, 3});
  test::AddInitializer(m, "R2", {1, 2, 2});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").activation, "sigmoid,tanh");
  EXPECT_EQ(run->Row("R2").activation, "relu");
}

}  // namespace
}  // namespace reinit
