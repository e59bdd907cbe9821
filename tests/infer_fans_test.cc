// infer-fans: fan_in / fan_out read in the layout of the consuming op (DESIGN.md conventions).
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace reinit {
namespace {

std::unique_ptr<test::Run> Fans(onnx::ModelProto model) {
  return test::RunPasses(std::move(model), {"find-params", "infer-fans"});
}

TEST(InferFans, GroupedConvUsesChannelsPerGroup) {
  // W [M=16, C/g=4, 3, 3] with group 2: n_in = 4*9 = 36, n_out = 16/2*9 = 72.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,8,8,8] X) => (float[1,16,6,6] Y) { Y = Conv <group = 2> (X, W) })");
  test::AddInitializer(m, "W", {16, 4, 3, 3});
  auto run = Fans(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_TRUE(w.fans.has_value());
  EXPECT_EQ(w.fans->in, 36);
  EXPECT_EQ(w.fans->out, 72);
  EXPECT_EQ(w.fans->receptive_field, 9);
  EXPECT_EQ(w.fans->groups, 2);
}

TEST(InferFans, DepthwiseConv1d) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,6,10] X) => (float[1,6,6] Y) { Y = Conv <group = 6> (X, W) })");
  test::AddInitializer(m, "W", {6, 1, 5});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("W").fans->in, 5);
  EXPECT_EQ(run->Row("W").fans->out, 5);
}

TEST(InferFans, ConvTransposeSwapsTheFirstTwoAxes) {
  // W [C=8, M/g=3, 4, 4], group 2: n_in = 8/2*16 = 64, n_out = 3*16 = 48.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,8,5,5] X) => (float[1,6,8,8] Y) { Y = ConvTranspose <group = 2> (X, W) })");
  test::AddInitializer(m, "W", {8, 3, 4, 4});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("W").fans->in, 64);
  EXPECT_EQ(run->Row("W").fans->out, 48);
}

// Fans of strided convolutions count what each element really meets: fan_out is the number of outputs
// one input element reaches, M/g * prod(k/s) (1 per axis where the stride exceeds the kernel).
struct StridedCase {
  std::string name, op, attrs;
  std::vector<int64_t> w;
  int64_t fan_in, fan_out;
};
class Strided : public ::testing::TestWithParam<StridedCase> {};

TEST_P(Strided, FansCountTheOutputsEachInputReaches) {
  const StridedCase& c = GetParam();
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float X) => (float Y) { Y = )" + c.op + " <" + c.attrs + "> (X, W) }");
  test::AddInitializer(m, "W", c.w);
  auto run = Fans(std::move(m));
  const ParamRow& w = run->Row("W");
  ASSERT_TRUE(w.fans.has_value()) << w.role_reason;
  EXPECT_EQ(w.fans->in, c.fan_in);
  EXPECT_EQ(w.fans->out, c.fan_out);
}

INSTANTIATE_TEST_SUITE_P(
    Layers, Strided,
    ::testing::Values(
        // ViT patch embedding: kernel = stride, each pixel reaches one position (fan_out 64, not 64*64).
        StridedCase{"patch_embed", "Conv", "strides = [8, 8]", {64, 3, 8, 8}, 192, 64},
        // 3x3 stride 2: 16 * (3/2)^2 = 36 (stride 1: 144).
        StridedCase{"k3_s2", "Conv", "strides = [2, 2], pads = [1, 1, 1, 1]", {16, 8, 3, 3}, 72, 36},
        // 1x1 stride 2 (ResNet's downsample): the stride skips inputs, each one read reaches 1 position.
        StridedCase{"k1_s2", "Conv", "strides = [2, 2]", {16, 8, 1, 1}, 8, 16},
        // 7x7 stride 2 (ResNet's stem): 64 * 3.5^2 = 784.
        StridedCase{"k7_s2", "Conv", "strides = [2, 2], pads = [3, 3, 3, 3]", {64, 3, 7, 7}, 147, 784},
        // Only the strided axis changes.
        StridedCase{"k3_s2x1", "Conv", "strides = [2, 1]", {16, 8, 3, 3}, 72, 72},
        // Depthwise 3x3 stride 2: 2.25 outputs per input, rounded to the nearest integer (2).
        StridedCase{"depthwise_k3_s2", "Conv", "group = 64, strides = [2, 2]", {64, 1, 3, 3}, 9, 2},
        // 1-D: 3/2 = 1.5 rounds up to 2; 3 * 1.5 = 4.5 to 5 (halves up).
        StridedCase{"conv1d_half", "Conv", "group = 64, strides = [2]", {64, 1, 3}, 3, 2},
        StridedCase{"conv1d_half_3", "Conv", "group = 16, strides = [2]", {48, 4, 3}, 12, 5},
        // Dilation 2 with stride 2: every tap lands on the same residue, so each input element read at
        // all reaches 3 positions per axis, as with stride 1.
        StridedCase{"dilated", "Conv", "strides = [2, 2], dilations = [2, 2]", {16, 8, 3, 3}, 72, 144},
        // ConvTranspose scatters each input to k positions per axis whatever the stride (fan_out
        // 16*16), and each output gathers from k/s of them (fan_in 32*(4/2)^2 = 128): DCGAN's 4x4, stride 2.
        StridedCase{"conv_transpose_k4_s2", "ConvTranspose", "strides = [2, 2], pads = [1, 1, 1, 1]", {32, 16, 4, 4},
                    128, 256},
        StridedCase{"conv_transpose_k2_s2", "ConvTranspose", "strides = [2, 2]", {32, 16, 2, 2}, 32, 64},
        StridedCase{"conv_transpose_stride1", "ConvTranspose", "strides = [1, 1]", {32, 16, 4, 4}, 512, 256}),
    [](const auto& info) { return info.param.name; });

TEST(InferFans, FrameworkPresetsKeepTorchsCountForStridedConvs) {
  // torch's _calculate_fan_in_and_fan_out ignores the stride: dim0 * prod(k) = 64 * 64.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,32,32] X) => (float[1,64,4,4] Y) { Y = Conv <strides = [8, 8]> (X, W) })");
  test::AddInitializer(m, "W", {64, 3, 8, 8});
  for (const char* preset : {"pytorch", "keras", "jax"}) {
    Policy policy;
    policy.preset = preset;
    auto run = test::RunPasses(m, {"find-params", "infer-fans"}, policy);
    EXPECT_EQ(run->Row("W").fans->in, 192) << preset;
    EXPECT_EQ(run->Row("W").fans->out, 4096) << preset;
  }
  EXPECT_EQ(Fans(m)->Row("W").fans->out, 64);
}

TEST(InferFans, GemmTransB) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,100] X) => (float[2,50] Y, float[2,50] Z) {
      Y = Gemm <transB = 1> (X, Wt)
      Z = Gemm (X, W)
    })");
  test::AddInitializer(m, "Wt", {50, 100});
  test::AddInitializer(m, "W", {100, 50});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("Wt").fans->in, 100);
  EXPECT_EQ(run->Row("Wt").fans->out, 50);
  EXPECT_EQ(run->Row("W").fans->in, 100);
  EXPECT_EQ(run->Row("W").fans->out, 50);
}

TEST(InferFans, GemmWithWeightAsA) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[100,2] X) => (float[50,2] Y) { Y = Gemm (A, X) })");
  test::AddInitializer(m, "A", {50, 100});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("A").fans->in, 100);
  EXPECT_EQ(run->Row("A").fans->out, 50);
}

TEST(InferFans, MatMulRightLeftAndBatched) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,7] X, float[7,2] Xt, float[3,2,7] Xb) => (float[2,9] A, float[5,2] B, float[3,2,9] C) {
      A = MatMul(X, Right)
      B = MatMul(Left, Xt)
      C = MatMul(Xb, Batched)
    })");
  test::AddInitializer(m, "Right", {7, 9});
  test::AddInitializer(m, "Left", {5, 7});
  test::AddInitializer(m, "Batched", {3, 7, 9});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("Right").fans->in, 7);
  EXPECT_EQ(run->Row("Right").fans->out, 9);
  EXPECT_EQ(run->Row("Left").fans->in, 7);
  EXPECT_EQ(run->Row("Left").fans->out, 5);
  EXPECT_EQ(run->Row("Batched").fans->in, 7);
  EXPECT_EQ(run->Row("Batched").fans->out, 9);
}

TEST(InferFans, RecurrentFansArePerGateBlockAndDirection) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X) => (float[5,2,1,4] Y) {
      Y = LSTM <hidden_size = 4, direction = "bidirectional"> (X, W, R, B)
    })");
  test::AddInitializer(m, "W", {2, 16, 3});
  test::AddInitializer(m, "R", {2, 16, 4});
  test::AddInitializer(m, "B", {2, 32});
  auto run = Fans(std::move(m));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.fans->in, 3);
  EXPECT_EQ(w.fans->out, 4);
  EXPECT_EQ(w.gates.blocks, 4);
  EXPECT_EQ(w.gates.directions, 2);
  EXPECT_EQ(run->Row("R").fans->in, 4);
  EXPECT_EQ(run->Row("R").fans->out, 4);
  EXPECT_EQ(run->Row("B").gates.blocks, 4);
}

TEST(InferFans, ShapeThatDoesNotFitTheLayoutGivesNoFans) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X) => (float[5,1,1,4] Y) { Y = RNN <hidden_size = 5> (X, W, R) })");
  test::AddInitializer(m, "W", {1, 4, 3});  // hidden_size says 5, the shape says 4
  test::AddInitializer(m, "R", {1, 4, 4});
  auto run = Fans(std::move(m));
  EXPECT_FALSE(run->Row("W").fans.has_value());
  EXPECT_NE(run->Row("W").role_reason.find("hidden_size 5 does not match the shape"), std::string::npos)
      << run->Row("W").role_reason;
}

TEST(InferFans, EmbeddingIsVocabByDim) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[3] I) => (float[3,8] Y) { Y = Gather(E, I) })");
  test::AddInitializer(m, "E", {20, 8});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("E").fans->in, 20);
  EXPECT_EQ(run->Row("E").fans->out, 8);
}

}  // namespace
}  // namespace reinit
