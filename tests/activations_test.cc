#include "passes/activations.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace reinit {
namespace {

onnx::NodeProto Node(const std::string& op, const std::string& domain = "") {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_domain(domain);
  n.add_input("x");
  n.add_output("y");
  return n;
}

TEST(Activations, OpsOfOtherDomainsAreNeverTakenForOnnxOps) {
  onnx::GraphProto g;
  GraphIndex index(&g);
  EXPECT_TRUE(ClassifyActivation(Node("Relu"), index, 14, kPReluInitSlope).has_value());
  EXPECT_FALSE(ClassifyActivation(Node("Relu", "com.example"), index, 14, kPReluInitSlope).has_value());
  EXPECT_TRUE(IsPassThrough(Node("Reshape")));
  EXPECT_FALSE(IsPassThrough(Node("Reshape", "com.example")));
}

TEST(Activations, LayersAndArithmeticAreNotPassThrough) {
  for (const char* op : {"MatMul", "Conv", "Gemm", "Mul", "Concat", "LSTM"}) EXPECT_FALSE(IsPassThrough(Node(op))) << op;
}

TEST(Activations, ShapeAndSizeReadOnlyTheShape) {
  EXPECT_TRUE(ReadsOnlyShape(Node("Shape")));
  EXPECT_TRUE(ReadsOnlyShape(Node("Size")));
  EXPECT_FALSE(ReadsOnlyShape(Node("Reshape")));
  EXPECT_FALSE(ReadsOnlyShape(Node("Shape", "com.example")));
}

TEST(Activations, LeakyReluDefaultSlopeIsTheSpecs) {
  onnx::GraphProto g;
  GraphIndex index(&g);
  auto act = ClassifyActivation(Node("LeakyRelu"), index, 14, kPReluInitSlope);
  ASSERT_TRUE(act.has_value());
  EXPECT_FLOAT_EQ(static_cast<float>(act->slope), 0.01f);
}

TEST(Activations, ClipWithBoundsThatAreNotConstantsIsNotAnActivation) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2] X, float L) => (float[2] Y) { Y = Clip(X, L) })");
  GraphIndex index(m.mutable_graph());
  auto act = ClassifyActivation(m.graph().node(0), index, 14, kPReluInitSlope);
  ASSERT_TRUE(act.has_value());
  EXPECT_EQ(act->kind, "clip");
  EXPECT_EQ(act->family, ActivationFamily::kLinear);
}

}  // namespace
}  // namespace reinit
