#include "passes/passes.h"
#include "passes/pipeline_run.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/test_util.h"

namespace reinit {
namespace {

TEST(Pipeline, RegistryListsEachPassOnceInOrder) {
  std::set<std::string> names;
  for (const PassInfo& p : kPasses) EXPECT_TRUE(names.insert(p.name).second) << p.name;
  EXPECT_EQ(RewritePipeline(), (std::vector<std::string>{"find-params", "infer-fans", "infer-activation",
                                                         "find-fixed-constants", "find-copies", "select-init",
                                                         "select-tensors", "audit-signal", "regenerate"}));
  EXPECT_EQ(PlanPipeline().back(), "audit-signal");
}

TEST(Pipeline, ParsesAPrefix) {
  std::vector<std::string> names;
  ASSERT_TRUE(ParsePipeline("find-params,infer-fans", RewritePipeline(), &names).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"find-params", "infer-fans"}));
}

TEST(Pipeline, RejectsUnknownAndOutOfOrderPasses) {
  std::vector<std::string> names;
  Status s = ParsePipeline("find-params,infer-fan", RewritePipeline(), &names);
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_EQ(s.message(), "unknown pass 'infer-fan' (see --list-passes)");
  s = ParsePipeline("find-params,select-init", RewritePipeline(), &names);
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_NE(s.message().find("pass 'select-init' cannot run at position 2"), std::string::npos) << s.message();
  s = ParsePipeline("regenerate", PlanPipeline(), &names);
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  // A pass that runs only when asked for is asked for by its option.
  s = ParsePipeline("untie-shared,find-params", RewritePipeline(), &names);
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_EQ(s.message(), "pass 'untie-shared' runs with --untie-shared, not in --passes");
}

TEST(Pipeline, APrefixFillsOnlyItsColumns) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) { H = MatMul(X, W)  Y = Relu(H) })");
  test::AddInitializer(m, "W", {4, 3});
  auto run = test::RunPasses(std::move(m), {"find-params", "infer-fans"});
  const ParamRow& w = run->Row("W");
  EXPECT_EQ(w.role, Role::kWeight);
  EXPECT_EQ(w.fans->in, 4);
  EXPECT_TRUE(w.act.name.empty());
  EXPECT_EQ(w.init.scheme, Scheme::kNone);
  EXPECT_EQ(run->ctx.counters["find-params"]["classified"], 1);
  EXPECT_EQ(run->ctx.counters["infer-fans"]["rows with fans"], 1);
}

TEST(Pipeline, ARunIndexesTheGraphAsThePassesBeforeLeftIt) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,4] A, float[2,4] B) { H1 = MatMul(X, W)  A = Relu(H1)  H2 = MatMul(X, W)  B = Tanh(H2) })");
  test::AddInitializer(m, "W", {4, 4});
  PipelineRun run(std::move(m));
  ASSERT_TRUE(run.Run({"untie-shared", "find-params"}).ok());
  // find-params saw the copy untie-shared added: the index was built after the graph changed.
  ASSERT_EQ(run.table().size(), 2u);
  EXPECT_EQ(run.table()[1].name, "W.untied.1");
  EXPECT_EQ(run.table()[1].role, Role::kWeight);
  EXPECT_EQ(run.ctx().untied, std::set<std::string>{"W.untied.1"});
  EXPECT_EQ(run.ctx().counters.at("untie-shared").at("copies"), 1);
}

}  // namespace
}  // namespace reinit
