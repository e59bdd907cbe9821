// find-params: the role of each tensor comes from how it is consumed.
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace reinit {
namespace {

using onnx::TensorProto;

std::unique_ptr<test::Run> FindParams(onnx::ModelProto model) {
  return test::RunPasses(std::move(model), {"find-params"});
}

TEST(FindParams, ConvWeightAndBias) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,8,8] X) => (float[1,4,6,6] Y) { Y = Conv(X, W, B) })");
  test::AddInitializer(m, "W", {4, 3, 3, 3});
  test::AddInitializer(m, "B", {4});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kWeight);
  EXPECT_EQ(run->Row("B").role, Role::kBias);
  ASSERT_EQ(run->Row("W").consumers.size(), 1u);
  EXPECT_EQ(run->Row("W").consumers[0].op_type, "Conv");
  EXPECT_EQ(run->Row("W").consumers[0].input_index, 1);
  EXPECT_EQ(run->Row("W").consumers[0].node, "#0");  // unnamed node: its position
}

TEST(FindParams, MatMulOnEitherSideAndTrailingBiasAdd) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[3,5] Y) {
      H = MatMul(X, W)
      Z = Add(H, B)
      Y = MatMul(L, Z)
    })");
  test::AddInitializer(m, "W", {4, 5});
  test::AddInitializer(m, "B", {5});
  test::AddInitializer(m, "L", {3, 2});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kWeight);
  EXPECT_EQ(run->Row("B").role, Role::kBias);
  EXPECT_EQ(run->Row("L").role, Role::kWeight);
  EXPECT_EQ(run->Row("L").primary_use()->layer_input, 0);
}

TEST(FindParams, AddAfterAttentionScoresIsNotABias) {
  // MatMul of two activations (no weight) followed by Add of a constant mask: the mask must stay.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[4,4] Q, float[4,4] K) => (float[4,4] Y) {
      S = MatMul(Q, K)
      Y = Add(S, Mask)
    })");
  test::AddInitializer(m, "Mask", {4, 4});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("Mask").role, Role::kUnknown);
}

TEST(FindParams, AddWhoseShapeIsNotPerFeatureIsNotABias) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,5] Y) { H = MatMul(X, W)  Y = Add(H, P) })");
  test::AddInitializer(m, "W", {4, 5});
  test::AddInitializer(m, "P", {2, 5});  // one value per position and feature: not a bias
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("P").role, Role::kUnknown);
}

TEST(FindParams, ConvBiasAddedSeparately) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,8,8] X) => (float[1,4,6,6] Y) { H = Conv(X, W)  Y = Add(H, B) })");
  test::AddInitializer(m, "W", {4, 3, 3, 3});
  test::AddInitializer(m, "B", {1, 4, 1, 1});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("B").role, Role::kBias);
}

TEST(FindParams, RecurrentEmbeddingNormAndPRelu) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X, int64[7] I, float[1,2,4,4] T) => (float[5,1,1,2] Y, float[7,6] E, float[1,2,4,4] N, float[1,2,4,4] P) {
      Y, H = GRU <hidden_size = 2> (X, W, R, B)
      E = Gather(Emb, I)
      N = BatchNormalization(T, S, Bn, Mean, Var)
      P = PRelu(T, Slope)
    })");
  test::AddInitializer(m, "W", {1, 6, 3});
  test::AddInitializer(m, "R", {1, 6, 2});
  test::AddInitializer(m, "B", {1, 12});
  test::AddInitializer(m, "Emb", {10, 6});
  for (const char* n : {"S", "Bn", "Mean", "Var"}) test::AddInitializer(m, n, {2});
  test::AddInitializer(m, "Slope", {2, 1, 1});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kRecurrentInput);
  EXPECT_EQ(run->Row("R").role, Role::kRecurrentHidden);
  EXPECT_EQ(run->Row("B").role, Role::kRecurrentBias);
  EXPECT_EQ(run->Row("Emb").role, Role::kEmbedding);
  EXPECT_EQ(run->Row("S").role, Role::kNormScale);
  EXPECT_EQ(run->Row("Bn").role, Role::kNormBias);
  EXPECT_EQ(run->Row("Mean").role, Role::kNormMean);
  EXPECT_EQ(run->Row("Var").role, Role::kNormVar);
  EXPECT_EQ(run->Row("Slope").role, Role::kPReluSlope);
}

TEST(FindParams, LayerAndInstanceNorm) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,3,4] X) => (float[2,3,4] Y, float[2,3,4] Z) {
      Y = LayerNormalization <axis = -1> (X, Ls, Lb)
      Z = InstanceNormalization(X, Is, Ib)
    })");
  test::AddInitializer(m, "Ls", {4});
  test::AddInitializer(m, "Lb", {4});
  test::AddInitializer(m, "Is", {3});
  test::AddInitializer(m, "Ib", {3});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("Ls").role, Role::kNormScale);
  EXPECT_EQ(run->Row("Lb").role, Role::kNormBias);
  EXPECT_EQ(run->Row("Is").role, Role::kNormScale);
  EXPECT_EQ(run->Row("Ib").role, Role::kNormBias);
}

TEST(FindParams, NonFloatScalarsShapesAndIndicesHaveNoRole) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,6] X) => (float[3,4] Y, float[2] G) {
      Y = Reshape(X, Shape)
      G = Gather(Vec, Idx)
    })");
  test::AddInitializer(m, "Vec", {5});  // Gather on a vector: indexing, not an embedding
  auto* shape = m.mutable_graph()->add_initializer();
  shape->set_name("Shape");
  shape->set_data_type(TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(3);
  shape->add_int64_data(4);
  auto* idx = m.mutable_graph()->add_initializer();
  idx->set_name("Idx");
  idx->set_data_type(TensorProto::INT64);
  idx->add_dims(2);
  idx->add_int64_data(0);
  idx->add_int64_data(1);
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("Shape").role, Role::kUnknown);
  EXPECT_EQ(run->Row("Shape").role_reason, "not a float tensor (int64)");
  EXPECT_EQ(run->Row("Idx").role, Role::kUnknown);
  EXPECT_EQ(run->Row("Vec").role, Role::kUnknown);
}

TEST(FindParams, UnusedTensorHasNoRole) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2] X) => (float[2] Y) { Y = Identity(X) })");
  test::AddInitializer(m, "orphan", {3});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("orphan").role, Role::kUnknown);
  EXPECT_EQ(run->Row("orphan").role_reason, "no node consumes it");
}

TEST(FindParams, GemmWeightsAndBias) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,5] Y) { Y = Gemm <transB = 1> (X, W, C) })");
  test::AddInitializer(m, "W", {5, 4});
  test::AddInitializer(m, "C", {5});
  auto run = FindParams(std::move(m));
  EXPECT_EQ(run->Row("W").role, Role::kWeight);
  EXPECT_EQ(run->Row("C").role, Role::kBias);
}

}  // namespace
}  // namespace reinit
