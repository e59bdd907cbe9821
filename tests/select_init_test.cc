// select-init: the note's rules, checked row by row on the plan of small models.
#include <gtest/gtest.h>

#include <cmath>

#include "passes/gen/schemes.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

// A 100 -> 50 dense layer (the note's worked example) followed by `activation`.
onnx::ModelProto Dense(const std::string& activation) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,100] X) => (float[2,50] Y) { H = Gemm <transB = 1> (X, W, B)  Y = )" + activation + "(H) }");
  test::AddInitializer(m, "W", {50, 100});
  test::AddInitializer(m, "B", {50});
  return m;
}

TEST(SelectInit, TanhAndSigmoidGetXavierWithTheWorkedExampleBound) {
  for (const char* act : {"Tanh", "Sigmoid"}) {
    auto run = test::Plan(Dense(act));
    const ParamRow& w = run->Row("W");
    EXPECT_EQ(w.init.scheme, Scheme::kXavier) << act;
    ASSERT_TRUE(w.init.bound.has_value());
    EXPECT_NEAR(*w.init.bound, 0.2, 1e-12) << act;
    EXPECT_EQ(w.init.action, Action::kReinitialize);
  }
}

TEST(SelectInit, ReluGetsHeWithTheWorkedExampleBound) {
  auto run = test::Plan(Dense("Relu"));
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.init.scheme, Scheme::kHe);
  EXPECT_NEAR(*w.init.bound, std::sqrt(0.06), 1e-12);
  EXPECT_NEAR(*w.init.bound, 0.245, 5e-4);
  EXPECT_NE(w.init.reason.find("ReLU family -> he (activation relu)"), std::string::npos) << w.init.reason;
}

TEST(SelectInit, SeluGetsLeCun) {
  auto run = test::Plan(Dense("Selu"));
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kLeCun);
  EXPECT_NEAR(*run->Row("W").init.bound, std::sqrt(3.0 / 100), 1e-12);
}

TEST(SelectInit, LeakyReluUsesTheSlope) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,100] X) => (float[2,50] Y) { H = Gemm <transB = 1> (X, W)  Y = LeakyRelu <alpha = 0.2> (H) })");
  test::AddInitializer(m, "W", {50, 100});
  auto run = test::Plan(std::move(m));
  const double a = 0.2f;  // the attribute is a float
  EXPECT_NEAR(*run->Row("W").init.bound, std::sqrt(6.0 / ((1 + a * a) * 100)), 1e-12);
}

TEST(SelectInit, LinearHeadGetsXavier) {
  auto run = test::Plan(Dense("Softmax"));
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kXavier);
}

TEST(SelectInit, NormalDistributionReportsStdAndNoBound) {
  Policy policy;
  policy.distribution = Distribution::kNormal;
  auto run = test::Plan(Dense("Relu"), policy);
  const ParamRow& w = run->Row("W");
  EXPECT_FALSE(w.init.bound.has_value());
  EXPECT_NEAR(w.init.std, std::sqrt(2.0 / 100), 1e-12);
  EXPECT_EQ(w.init.distribution, Distribution::kNormal);
}

TEST(SelectInit, BiasIsZero) {
  auto run = test::Plan(Dense("Relu"));
  EXPECT_EQ(run->Row("B").init.scheme, Scheme::kConstant);
  EXPECT_EQ(run->Row("B").init.constant, 0.0);
}

TEST(SelectInit, NormRecurrentEmbeddingAndSlopeRules) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[5,1,3] X, int64[7] I, float[1,2,4,4] T) => (float[5,1,1,2] Y, float[7,6] E, float[1,2,4,4] N, float[1,2,4,4] P) {
      Y, H, C = LSTM <hidden_size = 2> (X, W, R, B)
      E = Gather(Emb, I)
      N = BatchNormalization(T, S, Bn, Mean, Var)
      P = PRelu(T, Slope)
    })");
  test::AddInitializer(m, "W", {1, 8, 3});
  test::AddInitializer(m, "R", {1, 8, 2});
  test::AddInitializer(m, "B", {1, 16});
  test::AddInitializer(m, "Emb", {10, 6});
  for (const char* n : {"S", "Bn", "Mean", "Var"}) test::AddInitializer(m, n, {2});
  test::AddInitializer(m, "Slope", {1});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kXavier);
  EXPECT_NEAR(*run->Row("W").init.bound, XavierBound(3, 2), 1e-12);  // per gate block: n_in = I, n_out = H
  EXPECT_EQ(run->Row("R").init.scheme, Scheme::kOrthogonal);
  EXPECT_EQ(run->Row("B").init.constant, 0.0);
  EXPECT_EQ(run->Row("Emb").init.scheme, Scheme::kNormal);
  EXPECT_EQ(run->Row("Emb").init.std, 1.0);
  EXPECT_EQ(run->Row("S").init.constant, 1.0);
  EXPECT_EQ(run->Row("Bn").init.constant, 0.0);
  EXPECT_EQ(run->Row("Mean").init.constant, 0.0);
  EXPECT_EQ(run->Row("Var").init.constant, 1.0);
  EXPECT_EQ(run->Row("Slope").init.constant, 0.25);
  for (const auto& row : run->table) EXPECT_EQ(row.init.action, Action::kReinitialize) << row.name;
}

TEST(SelectInit, UnknownRoleIsKeptWithItsReason) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2] X) => (float[2] Y) { Y = Mul(X, Scale) })");
  test::AddInitializer(m, "Scale", {2});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("Scale").init.action, Action::kKeep);
  EXPECT_EQ(run->Row("Scale").init.reason, "kept: unknown role (no rule for how it is consumed)");
}

}  // namespace
}  // namespace reinit
