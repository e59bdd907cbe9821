// select-tensors: which rows a selection takes, on small models written as ONNX text, and what it warns
// about tensors that several layers or blocks share.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "passes/untie_shared.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

std::set<std::string> Reinitialized(const test::Run& run) {
  std::set<std::string> names;
  for (const auto& row : run.table) {
    if (row.init.action == Action::kReinitialize) names.insert(row.name);
  }
  return names;
}

Policy Blocks(int64_t n) {
  Policy p;
  p.selection.reinit_blocks = n;
  return p;
}

Policy Last(int64_t n) {
  Policy p;
  p.selection.reinit_last = n;
  return p;
}

Policy Only(const std::string& selector) {
  Policy p;
  Match m;
  EXPECT_TRUE(ParseSelector(selector, &m).ok()) << selector;
  p.selection.only.push_back(m);
  return p;
}

// Two BatchNormalizations whose equal initial values the exporter merged: S is the first one's scale and
// the second one's running variance (both all ones), Z the other zeros.
onnx::ModelProto MergedBatchNorms() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,2,4,4] X) => (float[1,2,4,4] Y) {
      H = BatchNormalization(X, S, Z, Z, S)
      Y = BatchNormalization(H, Scale2, Z, Z, S)
    })");
  test::AddInitializer(m, "S", {2});
  test::AddInitializer(m, "Z", {2});
  test::AddInitializer(m, "Scale2", {2});
  return m;
}

TEST(SelectTensors, ATensorWithSeveralRolesMatchesARoleSelectorForEach) {
  auto run = test::Plan(MergedBatchNorms(), Only("role=norm_running_var"));
  ASSERT_EQ(run->Row("S").role, Role::kNormScale);  // the first use decides
  EXPECT_EQ(Reinitialized(*run), (std::set<std::string>{"S"}));
  run = test::Plan(MergedBatchNorms(), Only("role=norm_scale"));
  EXPECT_EQ(Reinitialized(*run), (std::set<std::string>{"S", "Scale2"}));
  run = test::Plan(MergedBatchNorms(), Only("role=norm_running_mean"));
  EXPECT_EQ(Reinitialized(*run), (std::set<std::string>{"Z"}));
}

TEST(SelectTensors, ARulesFileRoleMatchSeesEveryRoleToo) {
  Policy p;
  Rule keep;
  ASSERT_TRUE(ParseSelector("role=norm_running_var", &keep.match).ok());
  keep.init.keep = true;
  keep.origin = "rules.yaml:3";
  p.rules = {keep};
  auto run = test::Plan(MergedBatchNorms(), p);
  EXPECT_EQ(run->Row("S").init.action, Action::kKeep);
  EXPECT_EQ(run->Row("Scale2").init.action, Action::kReinitialize);
}

// ONNX text has no syntax for node names nor for tensor names such as "onnx::MatMul_12": the model is
// written with placeholders, then node inputs are renamed by `names` and nodes named by `node_names`.
void Rename(onnx::ModelProto& m, const std::map<std::string, std::string>& names,
            const std::vector<std::string>& node_names) {
  for (int i = 0; i < m.graph().node_size(); ++i) {
    onnx::NodeProto* node = m.mutable_graph()->mutable_node(i);
    if (i < static_cast<int>(node_names.size())) node->set_name(node_names[i]);
    for (int k = 0; k < node->input_size(); ++k) {
      auto it = names.find(node->input(k));
      if (it != names.end()) node->set_input(k, it->second);
    }
  }
}

// `n` blocks of LayerNormalization -> MatMul -> Relu -> MatMul -> Add (bias), then a head MatMul. The
// nodes of block K are named "<prefix>K/ln/LayerNormalization", "<prefix>K/fc1/MatMul", ...; `tensor(K,
// part)` names the tensor block K reads for each part (ln.weight, ln.bias, fc1.weight, fc2.weight,
// fc2.bias): one name for every K is a tensor the exporter merged across the blocks.
onnx::ModelProto Stack(int n, const std::string& prefix, const std::function<std::string(int, const std::string&)>& tensor) {
  const std::vector<std::pair<std::string, std::vector<int64_t>>> parts = {
      {"ln.weight", {8}}, {"ln.bias", {8}}, {"fc1.weight", {8, 16}}, {"fc2.weight", {16, 8}}, {"fc2.bias", {8}}};
  std::string text = R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,8] X0) => (float[2,4] Y) {
)";
  std::map<std::string, std::string> names = {{"head", "head.weight"}};
  std::vector<std::string> node_names;
  std::vector<std::pair<std::string, std::vector<int64_t>>> initializers;
  for (int k = 0; k < n; ++k) {
    const std::string K = std::to_string(k);
    std::vector<std::string> p;  // placeholders of this block's parts
    for (const auto& [part, dims] : parts) {
      p.push_back("p" + std::to_string(p.size()) + "_" + K);
      names[p.back()] = tensor(k, part);
      bool seen = false;
      for (const auto& init : initializers) seen = seen || init.first == names[p.back()];
      if (!seen) initializers.emplace_back(names[p.back()], dims);
    }
    text += "N" + K + " = LayerNormalization(X" + K + ", " + p[0] + ", " + p[1] + ")\n";
    text += "H" + K + " = MatMul(N" + K + ", " + p[2] + ")\n";
    text += "R" + K + " = Relu(H" + K + ")\n";
    text += "M" + K + " = MatMul(R" + K + ", " + p[3] + ")\n";
    text += "X" + std::to_string(k + 1) + " = Add(M" + K + ", " + p[4] + ")\n";
    for (const char* node : {"ln/LayerNormalization", "fc1/MatMul", "Relu", "fc2/MatMul", "fc2/Add"}) {
      node_names.push_back(prefix + K + "/" + node);
    }
  }
  text += "Y = MatMul(X" + std::to_string(n) + ", head) }";
  node_names.push_back("/head/MatMul");
  auto m = test::ParseModel(text);
  Rename(m, names, node_names);
  for (const auto& [name, dims] : initializers) test::AddInitializer(m, name, dims);
  test::AddInitializer(m, "head.weight", {8, 4});
  return m;
}

// A freshly constructed 4-layer encoder as an exporter writes it: the layers were identical, so each
// parameter is one tensor that all four read; only the node names tell the layers apart.
onnx::ModelProto MergedEncoder() {
  const std::map<std::string, std::string> merged = {
      {"ln.weight", "onnx::LayerNormalization_10"}, {"ln.bias", "onnx::LayerNormalization_11"},
      {"fc1.weight", "onnx::MatMul_12"}, {"fc2.weight", "onnx::MatMul_13"}, {"fc2.bias", "onnx::Add_14"}};
  return Stack(4, "/enc/layers.", [&](int, const std::string& part) { return merged.at(part); });
}

const char* const kMergedTensors =
    "5 tensors ('onnx::LayerNormalization_10', 'onnx::LayerNormalization_11', 'onnx::MatMul_12', 'onnx::MatMul_13' "
    "and 1 more)";

TEST(SelectTensors, ATensorSharedAcrossBlocksIsReportedOnceForAllOfThem) {
  auto run = test::Plan(MergedEncoder());
  EXPECT_EQ(run->ctx.warnings,
            std::vector<std::string>{std::string(kMergedTensors) +
                                     " are shared by layers of blocks /enc/layers.0, /enc/layers.1, /enc/layers.2, "
                                     "/enc/layers.3 and stay shared after the rewrite (--untie-shared gives each "
                                     "layer its own copy)"});
  for (const auto& row : run->table) EXPECT_EQ(row.init.action, Action::kReinitialize) << row.name;
}

TEST(SelectTensors, ReinitBlocksReadsNodeNamesWhenTheExporterMergedTheLayers) {
  auto run = test::Plan(MergedEncoder(), Blocks(1));
  ASSERT_TRUE(run->status.ok());
  EXPECT_EQ(Reinitialized(*run), (std::set<std::string>{"onnx::LayerNormalization_10", "onnx::LayerNormalization_11",
                                                         "onnx::MatMul_12", "onnx::MatMul_13", "onnx::Add_14"}));
  ASSERT_EQ(run->ctx.warnings.size(), 2u);
  EXPECT_EQ(run->ctx.warnings[1],
            "--reinit-blocks 1 re-initializes " + std::string(kMergedTensors) +
                ", which blocks /enc/layers.0, /enc/layers.1, /enc/layers.2 outside the selection also use: those "
                "blocks change too (--untie-shared gives each layer its own copy, and then only the selected copies "
                "change)");
}

TEST(SelectTensors, UntiedCopiesLetReinitBlocksChangeOnlyTheSelectedBlock) {
  auto m = MergedEncoder();
  std::vector<std::pair<std::string, std::string>> copies;
  ASSERT_TRUE(UntieShared(&m, &copies).ok());
  auto run = test::Plan(std::move(m), Blocks(1));
  const auto names = Reinitialized(*run);
  EXPECT_EQ(names.size(), 5u);
  for (const auto& name : names) {
    for (const auto& c : run->Row(name).consumers) EXPECT_EQ(c.node.rfind("/enc/layers.3/", 0), 0u) << name;
  }
  EXPECT_TRUE(run->ctx.warnings.empty()) << run->ctx.warnings[0];
}

TEST(SelectTensors, ATensorMergedAcrossBlocksNamedByTensorsBelongsToEachOfThem) {
  // Blocks come from tensor names ("blocks.3.fc1.weight"); the LayerNorm parameters, equal in every
  // block, were merged into block 0's.
  auto m = Stack(4, "/blocks.", [](int k, const std::string& part) {
    return "blocks." + std::to_string(part.rfind("ln.", 0) == 0 ? 0 : k) + "." + part;
  });
  auto run = test::Plan(std::move(m), Blocks(1));
  EXPECT_EQ(Reinitialized(*run), (std::set<std::string>{"blocks.3.fc1.weight", "blocks.3.fc2.weight", "blocks.3.fc2.bias",
                                                         "blocks.0.ln.weight", "blocks.0.ln.bias"}));
  EXPECT_EQ(run->ctx.warnings,
            (std::vector<std::string>{
                "2 tensors ('blocks.0.ln.weight', 'blocks.0.ln.bias') are shared by layers of blocks blocks.0, "
                "blocks.1, blocks.2, blocks.3 and stay shared after the rewrite (--untie-shared gives each layer its "
                "own copy)",
                "--reinit-blocks 1 re-initializes 2 tensors ('blocks.0.ln.weight', 'blocks.0.ln.bias'), which blocks "
                "blocks.0, blocks.1, blocks.2 outside the selection also use: those blocks change too (--untie-shared "
                "gives each layer its own copy, and then only the selected copies change)"}));
}

TEST(SelectTensors, ExcludedSharedTensorsAreNotReportedAsChangingOtherBlocks) {
  Policy p = Blocks(1);
  Match m;
  ASSERT_TRUE(ParseSelector("onnx::*", &m).ok());
  p.selection.exclude.push_back(m);
  auto run = test::Plan(MergedEncoder(), p);
  ASSERT_EQ(run->ctx.warnings.size(), 1u);  // only that they stay shared
  EXPECT_EQ(run->ctx.warnings[0].find("--reinit-blocks"), std::string::npos) << run->ctx.warnings[0];
}

TEST(SelectTensors, OneTransposeFeedingTwoBlocksCannotBeUntied) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X) => (float[2,8] Y) {
      T = Transpose(W)
      H = MatMul(X, T)
      Y = MatMul(H, T)
    })");
  Rename(m, {}, {"/shared/Transpose", "/enc/layers.0/fc/MatMul", "/enc/layers.1/fc/MatMul"});
  test::AddInitializer(m, "W", {8, 8});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->ctx.warnings,
            std::vector<std::string>{"tensor 'W' is shared by layers of blocks /enc/layers.0, /enc/layers.1 and stays "
                                     "shared after the rewrite (--untie-shared cannot split a tensor that reaches its "
                                     "layers through one node input)"});
}

// An nn.Sequential CNN: features.0 Conv, features.1 BatchNorm, ReLU, MaxPool, features.4 Conv,
// features.5 BatchNorm, ReLU, pooling, then the head.
onnx::ModelProto SequentialCnn() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,8,8] X) => (float[1,10] Y) {
      C0 = Conv <pads = [1,1,1,1]> (X, w0)
      B1 = BatchNormalization(C0, s1, b1, m1, v1)
      R2 = Relu(B1)
      P3 = MaxPool <kernel_shape = [2,2], strides = [2,2]> (R2)
      C4 = Conv <pads = [1,1,1,1]> (P3, w4, c4)
      B5 = BatchNormalization(C4, s5, b5, m5, v5)
      R6 = Relu(B5)
      P7 = GlobalAveragePool(R6)
      F8 = Flatten(P7)
      Y = Gemm <transB = 1> (F8, hw, hb)
    })");
  std::map<std::string, std::string> names = {{"w0", "features.0.weight"}, {"w4", "features.4.weight"},
                                              {"c4", "features.4.bias"}, {"hw", "head.weight"}, {"hb", "head.bias"}};
  for (const char* k : {"1", "5"}) {
    for (const auto& [p, field] : std::map<std::string, std::string>{
             {"s", "weight"}, {"b", "bias"}, {"m", "running_mean"}, {"v", "running_var"}}) {
      names[p + k] = "features." + std::string(k) + "." + field;
    }
  }
  Rename(m, names, {});
  test::AddInitializer(m, "features.0.weight", {4, 3, 3, 3});
  for (const char* n : {"features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var"}) {
    test::AddInitializer(m, n, {4});
  }
  test::AddInitializer(m, "features.4.weight", {8, 4, 3, 3});
  for (const char* n : {"features.4.bias", "features.5.weight", "features.5.bias", "features.5.running_mean",
                        "features.5.running_var"}) {
    test::AddInitializer(m, n, {8});
  }
  test::AddInitializer(m, "head.weight", {10, 8});
  test::AddInitializer(m, "head.bias", {10});
  return m;
}

TEST(SelectTensors, ABlockWithoutALayerGoesWithItsLayersBlock) {
  const std::set<std::string> last = {"features.4.weight", "features.4.bias", "features.5.weight", "features.5.bias",
                                      "features.5.running_mean", "features.5.running_var"};
  auto run = test::Plan(SequentialCnn(), Blocks(1));
  EXPECT_EQ(Reinitialized(*run), last);
  // features.1 and features.5 are not blocks: two blocks are features.0 and features.4, with their norms.
  run = test::Plan(SequentialCnn(), Blocks(2));
  std::set<std::string> two = last;
  for (const char* n : {"features.0.weight", "features.1.weight", "features.1.bias", "features.1.running_mean",
                        "features.1.running_var"}) {
    two.insert(n);
  }
  EXPECT_EQ(Reinitialized(*run), two);
  EXPECT_TRUE(run->ctx.warnings.empty());
}

TEST(SelectTensors, ReinitLastCountsATiedLmHeadAsALayer) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64[5] I) => (float[5,20] Y) {
      E = Gather(Emb, I)
      H = MatMul(E, W)
      R = Relu(H)
      T = Transpose(Emb)
      Y = MatMul(R, T)
    })");
  Rename(m, {}, {"/embed/Gather", "/fc/MatMul", "/fc/Relu", "/head/Transpose", "/head/MatMul"});
  test::AddInitializer(m, "Emb", {20, 8});
  test::AddInitializer(m, "W", {8, 8});
  auto run = test::Plan(std::move(m), Last(1));
  EXPECT_EQ(Reinitialized(*run), std::set<std::string>{"Emb"});
  EXPECT_EQ(run->ctx.warnings,
            std::vector<std::string>{"--reinit-last 1 re-initializes tensor 'Emb', which layer '/embed/Gather' outside "
                                     "the selection also uses: that layer changes too (--untie-shared gives each "
                                     "layer its own copy, and then only the selected copies change)"});
  run = test::Plan(run->model, Last(2));
  EXPECT_EQ(Reinitialized(*run), (std::set<std::string>{"Emb", "W"}));
}

}  // namespace
}  // namespace reinit
