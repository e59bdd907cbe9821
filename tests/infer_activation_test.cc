// infer-activation: the first nonlinearity after each layer, through pass-through ops.
#include <gtest/gtest.h>

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

TEST(InferActivation, ClipWithOnlyAMinimumOfZeroIsAReLU) {
  auto run = Activations(Layer("lo = Constant <value = float {0.0}> ()\n Y = Clip(H, lo)"));
  EXPECT_EQ(run->Row("W").activation, "clipped_relu");
}

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
  auto run = Activations(Layer("X2 = Identity(X)\n S = Add(X2, H)\n Y = Relu(S)"));
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
