// select-tensors: which rows a selection takes, on small models written as ONNX text.
#include <gtest/gtest.h>

#include <set>

#include "tests/test_util.h"

namespace reinit {
namespace {

std::set<std::string> Reinitialized(const test::Run& run) {
  std::set<std::string> names;
  for (const auto& row : run.table) {
    if (row.action == Action::kReinitialize) names.insert(row.name);
  }
  return names;
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
  EXPECT_EQ(run->Row("S").action, Action::kKeep);
  EXPECT_EQ(run->Row("Scale2").action, Action::kReinitialize);
}

}  // namespace
}  // namespace reinit
