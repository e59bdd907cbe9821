#include "passes/graph/activations.h"

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
  EXPECT_EQ(PassThroughOutputs(Node("Reshape"), 0, index), std::vector<std::string>{"y"});
  EXPECT_TRUE(PassThroughOutputs(Node("Reshape", "com.example"), 0, index).empty());
}

TEST(Activations, LayersAndArithmeticAreNotPassThrough) {
  onnx::GraphProto g;
  GraphIndex index(&g);
  for (const char* op : {"MatMul", "Conv", "Gemm", "Mul", "Exp", "LSTM"}) {
    EXPECT_TRUE(PassThroughOutputs(Node(op), 0, index).empty()) << op;
  }
}

TEST(Activations, PassThroughInputsFollowTheTable) {
  // Concat carries any of its inputs; Slice only its data (input 0), never its starts or ends; Split
  // every output; Cast only to a float type.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X, float[2,4] Z, int64[1] S, int64[1] E) => (float[2,4] A, float[2,4] B, float[2,4] C,
                                                                 float[2,2] D1, float[2,2] D2, int32[2,4] I) {
      A = Concat <axis = 0> (Z, X)
      B = Slice(X, S, E)
      C = Cast <to = 10> (X)
      D1, D2 = Split <axis = 1> (X)
      I = Cast <to = 6> (X)
    })");
  GraphIndex index(m.mutable_graph());
  const auto& nodes = m.graph().node();
  EXPECT_EQ(PassThroughOutputs(nodes[0], 1, index), std::vector<std::string>{"A"});
  EXPECT_EQ(PassThroughOutputs(nodes[1], 0, index), std::vector<std::string>{"B"});
  EXPECT_TRUE(PassThroughOutputs(nodes[1], 1, index).empty());
  EXPECT_EQ(PassThroughOutputs(nodes[2], 0, index), std::vector<std::string>{"C"});
  EXPECT_EQ(PassThroughOutputs(nodes[3], 0, index), (std::vector<std::string>{"D1", "D2"}));
  EXPECT_TRUE(PassThroughOutputs(nodes[4], 0, index).empty());
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
