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
  EXPECT_EQ(run->Row("W").act.name, GetParam().activation);
  EXPECT_EQ(run->Row("W").act.family, GetParam().family);
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
  EXPECT_FLOAT_EQ(run->Row("W").act.param, 0.2f);
}

TEST(InferActivation, PReluTakesTheSlopeItIsReinitializedTo) {
  auto m = Layer("Y = PRelu(H, S)");
  test::AddInitializer(m, "S", {1});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").act.name, "prelu");
  EXPECT_DOUBLE_EQ(run->Row("W").act.param, 0.25);
}

TEST(InferActivation, ClipBoundsAsAttributesBeforeOpset11) {
  auto run = Activations(Layer("Y = Clip <min = 0.0, max = 6.0> (H)", 10));
  EXPECT_EQ(run->Row("W").act.name, "relu6");
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
  EXPECT_EQ(w.act.name, GetParam().activation);
  EXPECT_EQ(w.act.family, GetParam().family);
  EXPECT_EQ(w.init.scheme, GetParam().family == ActivationFamily::kRelu ? Scheme::kHe : Scheme::kXavier);
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
  EXPECT_EQ(w.act.name, "tanh");
  EXPECT_EQ(w.act.path, (std::vector<std::string>{"Add", "BatchNormalization", "Dropout", "Add", "MaxPool",
                                                         "Transpose", "Flatten", "Tanh"}));
}

TEST(InferActivation, LayerOutputAsTheSecondOperandOfAnAdd) {
  auto run = Activations(Layer("X2 = Identity(X)\n S = Add(X2, H)\n Y = Relu(S)"));
  EXPECT_EQ(run->Row("W").act.name, "relu");
  EXPECT_EQ(run->Row("W").act.path, (std::vector<std::string>{"Add", "Relu"}));
}

TEST(InferActivation, ReshapeOfTheLayerOutputAsShapeInputIsNotFollowed) {
  // The layer output feeds Reshape's shape input (slot 1), not its data: that Reshape does not carry it.
  auto run = Activations(Layer("R = Reshape(X, H)\n Y = Relu(R)"));
  EXPECT_EQ(run->Row("W").act.name, "linear");
}

TEST(InferActivation, NextLayerBeforeAnyNonlinearityMeansLinear) {
  auto m = Layer("V = MatMul(H, W2)\n Y = Relu(V)");
  test::AddInitializer(m, "W2", {3, 3});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").act.name, "linear");
  EXPECT_EQ(run->Row("W").act.path, (std::vector<std::string>{"MatMul"}));
  EXPECT_EQ(run->Row("W2").act.name, "relu");
}

TEST(InferActivation, GraphOutputMeansLinear) {
  auto run = Activations(Layer("Y = Identity(H)"));
  EXPECT_EQ(run->Row("W").act.name, "linear");
  EXPECT_EQ(run->Row("W").act.path, (std::vector<std::string>{"Identity", "(graph output)"}));
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
  EXPECT_EQ(run->Row("W").act.name, "relu");
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kHe);
}

TEST(InferActivation, ClipToTheLargestFloat16IsAReLU) {
  // float16 0 and 65504 (0x7bff): the largest finite float16 is "no max" in a float16 graph.
  auto run = ClipWithBounds(onnx::TensorProto::FLOAT16, Bytes(uint16_t{0}), Bytes(uint16_t{0x7bff}));
  EXPECT_EQ(run->Row("W").act.name, "relu");
  auto capped = ClipWithBounds(onnx::TensorProto::FLOAT16, Bytes(uint16_t{0}), Bytes(uint16_t{0x4600}));  // 6
  EXPECT_EQ(capped->Row("W").act.name, "relu6");
}

// A 3x3 convolution W [8, 4, 3, 3] followed by `tail` (text of nodes reading H and writing Y).
onnx::ModelProto ConvLayer(const std::string& tail, int opset = 14) {
  auto m = test::ParseModel("<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) +
                            "]>\n g (float[1,4,8,8] X, float[1,8,8,8] Z, float[16] s, float[16] b, float[16] m, float[16] v) => (float Y) {\n"
                            " H = Conv <pads = [1, 1, 1, 1]> (X, W)\n" + tail + "\n}");
  test::AddInitializer(m, "W", {8, 4, 3, 3});
  return m;
}

struct PassCase {
  std::string name, tail;
  int opset;
  std::vector<std::string> path;
};
class PassesThrough : public ::testing::TestWithParam<PassCase> {};

// Each of these moves, selects, resamples, casts or rescales the layer's output: the ReLU behind it
// decides (He), where the search used to end (linear, Xavier).
TEST_P(PassesThrough, ToTheReluBehind) {
  auto run = test::Plan(ConvLayer(GetParam().tail, GetParam().opset));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.act.name, "relu");
  EXPECT_EQ(w.act.family, ActivationFamily::kRelu);
  EXPECT_EQ(w.init.scheme, Scheme::kHe);
  EXPECT_EQ(w.act.path, GetParam().path);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, PassesThrough,
    ::testing::Values(
        // DenseNet: the layer's output is concatenated (as either input) before BN and ReLU.
        PassCase{"concat_second", "C = Concat <axis = 1> (Z, H)\n N = BatchNormalization(C, s, b, m, v)\n Y = Relu(N)",
                 14, {"Concat", "BatchNormalization", "Relu"}},
        PassCase{"concat_single", "C = Concat <axis = 1> (H)\n Y = Relu(C)", 14, {"Concat", "Relu"}},
        PassCase{"pool_concat",
                 "P = AveragePool <kernel_shape = [2, 2], strides = [2, 2]> (H)\n C = Concat <axis = 1> (P, P)\n"
                 "Y = Relu(C)",
                 14, {"AveragePool", "Concat", "Relu"}},
        // fp16 graphs cast around ops without a float16 kernel.
        PassCase{"cast_resize_cast",
                 "A = Cast <to = 10> (H)\n sc = Constant <value = float[4] {1.0, 1.0, 2.0, 2.0}> ()\n"
                 "R = Resize <mode = \"nearest\"> (A, , sc)\n B = Cast <to = 1> (R)\n Y = Relu(B)",
                 14, {"Cast", "Resize", "Cast", "Relu"}},
        PassCase{"upsample_opset9",
                 "sc = Constant <value = float[4] {1.0, 1.0, 2.0, 2.0}> ()\n U = Upsample(H, sc)\n Y = Relu(U)", 9,
                 {"Upsample", "Relu"}},
        PassCase{"slice",
                 "st = Constant <value = int64[1] {0}> ()\n en = Constant <value = int64[1] {4}> ()\n"
                 "ax = Constant <value = int64[1] {1}> ()\n S = Slice(H, st, en, ax)\n Y = Relu(S)",
                 14, {"Slice", "Relu"}},
        // Split: every output carries part of the layer's output; here only the second reaches the ReLU.
        PassCase{"split_second_output",
                 "A, B = Split <axis = 1> (H)\n O = Identity(A)\n Y = Relu(B)", 14, {"Split", "Relu"}},
        PassCase{"gather_channels",
                 "i = Constant <value = int64[2] {0, 3}> ()\n G = Gather <axis = 1> (H, i)\n Y = Relu(G)", 14,
                 {"Gather", "Relu"}},
        PassCase{"pad", "p = Constant <value = int64[8] {0, 0, 1, 1, 0, 0, 1, 1}> ()\n P = Pad(H, p)\n Y = Relu(P)",
                 14, {"Pad", "Relu"}},
        PassCase{"space_to_depth", "S = SpaceToDepth <blocksize = 2> (H)\n Y = Relu(S)", 14, {"SpaceToDepth", "Relu"}},
        PassCase{"depth_to_space", "S = DepthToSpace <blocksize = 2> (H)\n Y = Relu(S)", 14, {"DepthToSpace", "Relu"}},
        // BatchNorm folded into per-channel constants (Paddle2ONNX, TF converters), either operand order.
        PassCase{"folded_bn",
                 "M = Mul(H, sc)\n A = Add(M, sh)\n Y = Relu(A)\n"
                 "sc = Constant <value = float[1,8,1,1] {1,2,3,4,5,6,7,8}> ()\n"
                 "sh = Constant <value = float[8] {1,2,3,4,5,6,7,8}> ()",
                 14, {"Mul", "Add", "Relu"}},
        PassCase{"folded_bn_constant_first",
                 "sc = Constant <value = float[8,1,1] {1,2,3,4,5,6,7,8}> ()\n M = Mul(sc, H)\n Y = Relu(M)", 14,
                 {"Mul", "Relu"}},
        PassCase{"normalize_sub_div",
                 "mu = Constant <value = float[1,8,1,1] {1,2,3,4,5,6,7,8}> ()\n"
                 "sd = Constant <value = float[1,8,1,1] {1,2,3,4,5,6,7,8}> ()\n"
                 "D = Sub(H, mu)\n N = Div(D, sd)\n Y = Relu(N)",
                 14, {"Sub", "Div", "Relu"}},
        PassCase{"scalar_scale", "c = Constant <value = float {0.5}> ()\n M = Mul(H, c)\n Y = Relu(M)", 14,
                 {"Mul", "Relu"}},
        // Fake quantization around the layer's output (QDQ models).
        PassCase{"quantize_dequantize",
                 "s = Constant <value = float {0.1}> ()\n q = QuantizeLinear(H, s)\n d = DequantizeLinear(q, s)\n"
                 "Y = Relu(d)",
                 14, {"QuantizeLinear", "DequantizeLinear", "Relu"}},
        // A Shape consumer reads no values: it neither ends the search nor shows in the path, whether it
        // comes first or not.
        PassCase{"shape_first", "S = Shape(H)\n O = Reshape(Z, S)\n Y = Relu(H)", 14, {"Relu"}},
        PassCase{"size_first", "S = Size(H)\n Y = Relu(H)", 14, {"Relu"}}),
    [](const auto& info) { return info.param.name; });

struct EndCase {
  std::string name, tail;
  std::vector<std::string> path;
};
class EndsTheSearch : public ::testing::TestWithParam<EndCase> {};

// What still ends the search before the ReLU: a product of two computed values (gating, attention),
// a product with a constant that is not per channel, a constant divided by the output, a cast to an
// integer type; and a Shape consumer is no end but no way on either.
TEST_P(EndsTheSearch, BeforeTheRelu) {
  auto run = test::Plan(ConvLayer(GetParam().tail));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.act.name, "linear");
  EXPECT_EQ(w.init.scheme, Scheme::kXavier);
  EXPECT_EQ(w.act.path, GetParam().path);
}

INSTANTIATE_TEST_SUITE_P(
    Ops, EndsTheSearch,
    ::testing::Values(
        EndCase{"gating_mul", "M = Mul(H, Z)\n Y = Relu(M)", {"Mul"}},
        EndCase{"full_constant_mul",
                "c = Constant <value = float[1,8,1,2] {1,2,3,4,5,6,7,8,1,2,3,4,5,6,7,8}> ()\n M = Mul(H, c)\n"
                "Y = Relu(M)",
                {"Mul"}},
        EndCase{"constant_over_h", "c = Constant <value = float {2.0}> ()\n D = Div(c, H)\n Y = Relu(D)", {"Div"}},
        EndCase{"cast_to_int", "I = Cast <to = 6> (H)\n F = Cast <to = 1> (I)\n Y = Relu(F)", {"Cast"}},
        EndCase{"shape_only", "S = Shape(H)\n O = Reshape(Z, S)\n Y = Relu(O)", {}}),
    [](const auto& info) { return info.param.name; });

TEST(InferActivation, ShapeConsumerIsNotTheEndOfALinearLayer) {
  auto run = Activations(Layer("S = Shape(H)\n Y = Identity(H)"));
  EXPECT_EQ(run->Row("W").act.name, "linear");
  EXPECT_EQ(run->Row("W").act.path, (std::vector<std::string>{"Identity", "(graph output)"}));
}

// The dequantizing chain of a dynamically quantized layer (onnxruntime quantize_dynamic): the int32
// accumulator is cast to float and scaled by x_scale * w_scale, where x_scale is computed at run time.
// The uint8 weight stays kept; its report shows the ReLU.
TEST(InferActivation, DequantizeChainAfterConvInteger) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,8,8] X) => (float[1,8,8,8] Y) {
      xq, xs, xz = DynamicQuantizeLinear(X)
      acc = ConvInteger <pads = [1, 1, 1, 1]> (xq, Wq, xz, wz)
      f = Cast <to = 1> (acc)
      s = Mul(xs, ws)
      d = Mul(f, s)
      a = Add(d, bias)
      Y = Relu(a)
    })");
  auto* wq = m.mutable_graph()->add_initializer();
  wq->set_name("Wq");
  wq->set_data_type(onnx::TensorProto::UINT8);
  for (int d : {8, 3, 3, 3}) wq->add_dims(d);
  wq->set_raw_data(std::string(216, '\x80'));
  auto* wz = m.mutable_graph()->add_initializer();
  wz->set_name("wz");
  wz->set_data_type(onnx::TensorProto::UINT8);
  wz->set_raw_data(std::string(1, '\x80'));
  test::AddInitializer(m, "ws", {});
  test::AddInitializer(m, "bias", {1, 8, 1, 1});
  auto run = test::Plan(std::move(m));
  const ParamRow& w = run->Row("Wq");
  EXPECT_EQ(w.act.name, "relu");
  EXPECT_EQ(w.act.path, (std::vector<std::string>{"Cast", "Mul", "Add", "Relu"}));
  EXPECT_EQ(w.init.action, Action::kKeep);
}

TEST(InferActivation, DequantizeChainAfterMatMulInteger) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) {
      xq, xs, xz = DynamicQuantizeLinear(X)
      acc = MatMulInteger(xq, Wq, xz)
      f = Cast <to = 1> (acc)
      s = Mul(xs, ws)
      d = Mul(s, f)
      Y = Sigmoid(d)
    })");
  auto* wq = m.mutable_graph()->add_initializer();
  wq->set_name("Wq");
  wq->set_data_type(onnx::TensorProto::INT8);
  wq->add_dims(4);
  wq->add_dims(3);
  wq->set_raw_data(std::string(12, '\x01'));
  test::AddInitializer(m, "ws", {});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("Wq").act.name, "sigmoid");
  EXPECT_EQ(run->Row("Wq").init.action, Action::kKeep);
}

// A normalization written out in elementwise ops, as each exporter writes it, between the layer and
// its ReLU: the search walks through the whole normalization (statistics and all) and goes on from its
// output. `tail` reads H [2,3] and writes N, the normalized (and scaled, shifted) value.
struct NormCase {
  std::string name, tail;
};
class DecomposedNorm : public ::testing::TestWithParam<NormCase> {};

TEST_P(DecomposedNorm, IsWalkedThrough) {
  auto m = Layer(GetParam().tail + "\n Y = Relu(N)");
  test::AddInitializer(m, "g", {3});
  test::AddInitializer(m, "b", {3});
  auto run = test::Plan(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.act.name, "relu");
  EXPECT_EQ(w.init.scheme, Scheme::kHe);
  ASSERT_FALSE(w.act.path.empty());
  EXPECT_EQ(w.act.path.back(), "Relu");
}

INSTANTIATE_TEST_SUITE_P(
    Exporters, DecomposedNorm,
    ::testing::Values(
        // torch.onnx at opsets before 17
        NormCase{"torch_layernorm",
                 "mean = ReduceMean <axes = [-1]> (H)\n d = Sub(H, mean)\n two = Constant <value = float {2.0}> ()\n"
                 "sq = Pow(d, two)\n var = ReduceMean <axes = [-1]> (sq)\n"
                 "eps = Constant <value = float {0.00001}> ()\n ve = Add(var, eps)\n sd = Sqrt(ve)\n"
                 "n = Div(d, sd)\n s = Mul(n, g)\n N = Add(s, b)"},
        // ReduceMean with axes as an input (opset 18 form) and the statistics computed first
        NormCase{"axes_input_mul_rsqrt",
                 "ax = Constant <value = int64[1] {-1}> ()\n mean = ReduceMean(H, ax)\n d = Sub(H, mean)\n"
                 "sq = Mul(d, d)\n var = ReduceMean(sq, ax)\n eps = Constant <value = float {0.00001}> ()\n"
                 "ve = Add(eps, var)\n sd = Sqrt(ve)\n inv = Reciprocal(sd)\n n = Mul(inv, d)\n s = Mul(g, n)\n"
                 "N = Add(b, s)"},
        // TF's batch_normalization form: x * inv + (beta - mean * inv), inv = gamma * rsqrt(var + eps)
        NormCase{"tf_batch_normalization",
                 "mean = ReduceMean <axes = [-1]> (H)\n d = Sub(H, mean)\n sq = Mul(d, d)\n"
                 "var = ReduceMean <axes = [-1]> (sq)\n eps = Constant <value = float {0.001}> ()\n"
                 "ve = Add(var, eps)\n half = Constant <value = float {-0.5}> ()\n r = Pow(ve, half)\n"
                 "inv = Mul(r, g)\n xi = Mul(H, inv)\n mi = Mul(mean, inv)\n sh = Sub(b, mi)\n N = Add(xi, sh)"},
        // RMSNorm (T5, LLaMA): x * rsqrt(mean(x^2) + eps) * g, with the casts to float32 and back
        NormCase{"rmsnorm_llama",
                 "h32 = Cast <to = 1> (H)\n two = Constant <value = float {2.0}> ()\n sq = Pow(h32, two)\n"
                 "ms = ReduceMean <axes = [-1]> (sq)\n eps = Constant <value = float {0.000001}> ()\n"
                 "a = Add(ms, eps)\n r = Sqrt(a)\n one = Constant <value = float {1.0}> ()\n inv = Div(one, r)\n"
                 "n = Mul(h32, inv)\n c = Cast <to = 1> (n)\n N = Mul(g, c)"},
        NormCase{"rmsnorm_div",
                 "sq = Mul(H, H)\n ms = ReduceMean <axes = [-1]> (sq)\n eps = Constant <value = float {0.000001}> ()\n"
                 "a = Add(ms, eps)\n r = Sqrt(a)\n n = Div(H, r)\n N = Mul(n, g)"}),
    [](const auto& info) { return info.param.name; });

TEST(InferActivation, DecomposedNormLeavesTheOtherConsumersToTheSearch) {
  // H feeds a LayerNorm whose output reaches the next layer, and a residual Add that reaches a Tanh:
  // the normalization's nodes do not end the search, the residual branch still decides.
  auto m = Layer(R"(mean = ReduceMean <axes = [-1]> (H)
    d = Sub(H, mean)
    sq = Mul(d, d)
    var = ReduceMean <axes = [-1]> (sq)
    eps = Constant <value = float {0.00001}> ()
    ve = Add(var, eps)
    sd = Sqrt(ve)
    n = Div(d, sd)
    nxt = MatMul(n, W2)
    r = Add(H, nxt)
    Y = Tanh(r))");
  test::AddInitializer(m, "W2", {3, 3});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").act.name, "tanh");
  EXPECT_EQ(run->Row("W").act.path, (std::vector<std::string>{"Add", "Tanh"}));
  EXPECT_EQ(run->Row("W2").act.name, "tanh");
}

TEST(InferActivation, ReduceMeanThatNormalizesNothingStillEndsTheSearch) {
  // A mean taken for something else (a pooled summary) is no normalization of the layer's output.
  auto run = test::Plan(Layer("m = ReduceMean <axes = [-1]> (H)\n Y = Relu(m)"));
  EXPECT_EQ(run->Row("W").act.name, "linear");
  EXPECT_EQ(run->Row("W").act.path, (std::vector<std::string>{"ReduceMean"}));
}

TEST(InferActivation, DecomposedNormWithScaleAndShiftReadThroughIdentity) {
  // Exporters that deduplicate equal initializers read the copies through Identity: still constants,
  // so the norm's scale and shift are part of it, and the shift's Add is no residual.
  auto m = Layer(R"(gi = Identity(g)
    bi = Identity(b)
    mean = ReduceMean <axes = [-1]> (H)
    d = Sub(H, mean)
    two = Constant <value = float {2.0}> ()
    sq = Pow(d, two)
    var = ReduceMean <axes = [-1]> (sq)
    eps = Constant <value = float {0.00001}> ()
    ve = Add(var, eps)
    sd = Sqrt(ve)
    n = Div(d, sd)
    s = Mul(n, gi)
    N = Add(s, bi)
    Y = Relu(N))");
  test::AddInitializer(m, "g", {3});
  test::AddInitializer(m, "b", {3});
  auto run = Activations(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.act.name, "relu");
  EXPECT_EQ(w.act.path, (std::vector<std::string>{"ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div",
                                                         "Mul", "Add", "Relu"}));
  EXPECT_EQ(w.act.residual_add, nullptr);
}

TEST(InferActivation, BiasReadThroughIdentityIsNotAResidualAdd) {
  auto m = Layer("bi = Identity(B)\n A = Add(H, bi)\n Y = Relu(A)");
  test::AddInitializer(m, "B", {3});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").act.name, "relu");
  EXPECT_EQ(run->Row("W").act.residual_add, nullptr);
}

TEST(InferActivation, OnlyTheBranchSideOfAResidualAddEndsABranch) {
  // H = X W is the skip of a residual block H + (H W1): W1 ends the branch, W (whose output the branch
  // also starts from) does not, though both reach the Add before their Tanh.
  auto m = Layer("a = MatMul(H, W1)\n r = Add(H, a)\n Y = Tanh(r)");
  test::AddInitializer(m, "W1", {3, 3});
  auto run = Activations(std::move(m));
  EXPECT_EQ(run->Row("W").act.name, "tanh");
  EXPECT_EQ(run->Row("W").act.residual_add, nullptr);
  EXPECT_EQ(run->Row("W1").act.name, "tanh");
  EXPECT_NE(run->Row("W1").act.residual_add, nullptr);
}

// Swish with a slope, x * Sigmoid(beta * x) (QuickGELU's beta = 1.702, CLIP), is SiLU-family whichever
// operand order and whether beta multiplies or x is divided by 1/beta.
struct SwishCase {
  std::string name, tail;
};
class SwishWithSlope : public ::testing::TestWithParam<SwishCase> {};

TEST_P(SwishWithSlope, IsSilu) {
  auto m = Layer(GetParam().tail);
  test::AddInitializer(m, "beta3", {3});
  auto run = test::Plan(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.act.name, "silu");
  EXPECT_EQ(w.act.family, ActivationFamily::kRelu);
  EXPECT_EQ(w.init.scheme, Scheme::kHe);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, SwishWithSlope,
    ::testing::Values(
        SwishCase{"quick_gelu", "k = Constant <value = float {1.702}> ()\n a = Mul(H, k)\n s = Sigmoid(a)\n Y = Mul(H, s)"},
        SwishCase{"beta_first", "k = Constant <value = float {1.702}> ()\n a = Mul(k, H)\n s = Sigmoid(a)\n Y = Mul(s, H)"},
        SwishCase{"divided", "k = Constant <value = float {0.5875}> ()\n a = Div(H, k)\n s = Sigmoid(a)\n Y = Mul(H, s)"},
        SwishCase{"per_channel_beta", "a = Mul(H, beta3)\n s = Sigmoid(a)\n Y = Mul(s, H)"},
        SwishCase{"after_folded_bn",
                  "c = Constant <value = float[3] {1.0, 2.0, 3.0}> ()\n h2 = Mul(H, c)\n"
                  "k = Constant <value = float {1.702}> ()\n a = Mul(h2, k)\n s = Sigmoid(a)\n Y = Mul(h2, s)"}),
    [](const auto& info) { return info.param.name; });

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
  EXPECT_EQ(run->Row("W").act.name, "sigmoid,tanh");
  EXPECT_EQ(run->Row("R2").act.name, "relu");
}

}  // namespace
}  // namespace reinit
