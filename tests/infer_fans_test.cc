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
  EXPECT_TRUE(w.has_fans);
  EXPECT_EQ(w.fan_in, 36);
  EXPECT_EQ(w.fan_out, 72);
  EXPECT_EQ(w.receptive_field, 9);
  EXPECT_EQ(w.groups, 2);
}

TEST(InferFans, DepthwiseConv1d) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,6,10] X) => (float[1,6,6] Y) { Y = Conv <group = 6> (X, W) })");
  test::AddInitializer(m, "W", {6, 1, 5});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("W").fan_in, 5);
  EXPECT_EQ(run->Row("W").fan_out, 5);
}

TEST(InferFans, ConvTransposeSwapsTheFirstTwoAxes) {
  // W [C=8, M/g=3, 4, 4], group 2: n_in = 8/2*16 = 64, n_out = 3*16 = 48.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,8,5,5] X) => (float[1,6,8,8] Y) { Y = ConvTranspose <group = 2> (X, W) })");
  test::AddInitializer(m, "W", {8, 3, 4, 4});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("W").fan_in, 64);
  EXPECT_EQ(run->Row("W").fan_out, 48);
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
  EXPECT_EQ(run->Row("Wt").fan_in, 100);
  EXPECT_EQ(run->Row("Wt").fan_out, 50);
  EXPECT_EQ(run->Row("W").fan_in, 100);
  EXPECT_EQ(run->Row("W").fan_out, 50);
}

TEST(InferFans, GemmWithWeightAsA) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[100,2] X) => (float[50,2] Y) { Y = Gemm (A, X) })");
  test::AddInitializer(m, "A", {50, 100});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("A").fan_in, 100);
  EXPECT_EQ(run->Row("A").fan_out, 50);
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
  EXPECT_EQ(run->Row("Right").fan_in, 7);
  EXPECT_EQ(run->Row("Right").fan_out, 9);
  EXPECT_EQ(run->Row("Left").fan_in, 7);
  EXPECT_EQ(run->Row("Left").fan_out, 5);
  EXPECT_EQ(run->Row("Batched").fan_in, 7);
  EXPECT_EQ(run->Row("Batched").fan_out, 9);
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
  EXPECT_EQ(w.fan_in, 3);
  EXPECT_EQ(w.fan_out, 4);
  EXPECT_EQ(w.gate_blocks, 4);
  EXPECT_EQ(w.directions, 2);
  EXPECT_EQ(run->Row("R").fan_in, 4);
  EXPECT_EQ(run->Row("R").fan_out, 4);
  EXPECT_EQ(run->Row("B").gate_blocks, 4);
}

TEST(InferFans, ShapeThatDoesNotFitTheLayoutGivesNoFans) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X) => (float[5,1,1,4] Y) { Y = RNN <hidden_size = 5> (X, W, R) })");
  test::AddInitializer(m, "W", {1, 4, 3});  // hidden_size says 5, the shape says 4
  test::AddInitializer(m, "R", {1, 4, 4});
  auto run = Fans(std::move(m));
  EXPECT_FALSE(run->Row("W").has_fans);
  EXPECT_NE(run->Row("W").role_reason.find("hidden_size 5 does not match the shape"), std::string::npos)
      << run->Row("W").role_reason;
}

TEST(InferFans, EmbeddingIsVocabByDim) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[3] I) => (float[3,8] Y) { Y = Gather(E, I) })");
  test::AddInitializer(m, "E", {20, 8});
  auto run = Fans(std::move(m));
  EXPECT_EQ(run->Row("E").fan_in, 20);
  EXPECT_EQ(run->Row("E").fan_out, 8);
}

}  // namespace
}  // namespace reinit
