// The command-line tool as a user runs it: a real process, its exit code, stdout, stderr and files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "passes/model_io.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;

using Result = test::ToolResult;
using test::Slurp;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    model_ = dir_ + "/model.onnx";
    fs::copy_file(test::ModelPath("cnn_bn.onnx"), model_);
    model_sha_ = Sha256OfFile(model_);
  }
  void TearDown() override {
    // The input is never modified, whatever the command did.
    EXPECT_EQ(Sha256OfFile(model_), model_sha_);
    fs::remove_all(dir_);
  }

  Result Tool(const std::string& args) { return test::RunTool(args, dir_); }

  // Files in the test directory other than the input model.
  std::vector<std::string> Outputs() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename() != "model.onnx") names.push_back(e.path().filename().string());
    }
    return names;
  }

  std::string dir_, model_, model_sha_;
};

TEST_F(Cli, ListPassesPrintsEveryPassWithASummary) {
  Result r = Tool("--list-passes");
  EXPECT_EQ(r.code, 0);
  for (const char* pass : {"find-params", "infer-fans", "infer-activation", "find-fixed-constants", "select-init",
                           "select-tensors", "regenerate"}) {
    EXPECT_NE(r.out.find(pass), std::string::npos) << pass;
  }
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 7);
}

TEST_F(Cli, HelpOfEachCommandHasAnExample) {
  for (const char* cmd : {"plan", "rewrite"}) {
    Result r = Tool(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Example:\n  onnx-reinit " + std::string(cmd)), std::string::npos) << r.out;
  }
}

TEST_F(Cli, PlanPrintsTheTableAndWritesNothing) {
  Result r = Tool("plan " + model_);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("tensor ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("features.0.weight"), std::string::npos);
  EXPECT_NE(r.out.find("he U"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_TRUE(Outputs().empty());
}

TEST_F(Cli, PlanWritesOnlyTheReportWhenAsked) {
  Result r = Tool("plan " + model_ + " --report " + dir_ + "/plan.json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Outputs(), std::vector<std::string>{"plan.json"});
  auto report = nlohmann::json::parse(Slurp(dir_ + "/plan.json"));
  EXPECT_EQ(report["command"], "plan");
  EXPECT_EQ(report["dry_run"], true);
  EXPECT_TRUE(report["output"].is_null());
  EXPECT_TRUE(report["tensors"][0]["stats"].is_null());
}

TEST_F(Cli, RewriteWritesTheModelAndAReportThatDescribesIt) {
  Result r = Tool("rewrite " + model_ + " -o " + dir_ + "/out.onnx --seed 9 --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("features.0.weight"), std::string::npos);
  auto report = nlohmann::json::parse(Slurp(dir_ + "/r.json"));
  EXPECT_EQ(report["schema_version"], 1);
  EXPECT_EQ(report["seed"], 9);
  EXPECT_EQ(report["input"]["sha256"], model_sha_);
  EXPECT_EQ(report["output"]["sha256"], Sha256OfFile(dir_ + "/out.onnx"));
  onnx::ModelProto in;
  ASSERT_TRUE(LoadModel(model_, &in).ok());
  // The report explains every initializer of the model, in order.
  ASSERT_EQ(report["tensors"].size(), static_cast<size_t>(in.graph().initializer_size()));
  for (int i = 0; i < in.graph().initializer_size(); ++i) {
    EXPECT_EQ(report["tensors"][i]["name"], in.graph().initializer(i).name());
  }
  EXPECT_EQ(report["summary"]["reinitialized"].get<int>() + report["summary"]["kept"].get<int>(),
            in.graph().initializer_size());
}

TEST_F(Cli, SameSeedGivesByteIdenticalModels) {
  ASSERT_EQ(Tool("rewrite " + model_ + " -o " + dir_ + "/a.onnx --seed 1").code, 0);
  ASSERT_EQ(Tool("rewrite " + model_ + " -o " + dir_ + "/b.onnx --seed 1").code, 0);
  ASSERT_EQ(Tool("rewrite " + model_ + " -o " + dir_ + "/c.onnx --seed 2").code, 0);
  EXPECT_EQ(Slurp(dir_ + "/a.onnx"), Slurp(dir_ + "/b.onnx"));
  EXPECT_NE(Slurp(dir_ + "/a.onnx"), Slurp(dir_ + "/c.onnx"));
}

TEST_F(Cli, DistributionNormalHasNoBound) {
  ASSERT_EQ(Tool("plan " + model_ + " --distribution normal --report " + dir_ + "/r.json").code, 0);
  auto report = nlohmann::json::parse(Slurp(dir_ + "/r.json"));
  EXPECT_EQ(report["policy"]["distribution"], "normal");
  EXPECT_EQ(report["tensors"][0]["distribution"], "normal");
  EXPECT_TRUE(report["tensors"][0]["bound"].is_null());
}

TEST_F(Cli, DumpAfterPrintsTheTableAtThatPoint) {
  Result r = Tool("plan " + model_ + " --dump-after infer-fans");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("// parameter table after infer-fans"), std::string::npos) << r.err;
  // After infer-fans the grouped conv has its fans but no activation or scheme yet.
  std::istringstream lines(r.err.substr(r.err.find("features.4.weight")));
  std::string line;
  std::getline(lines, line);
  EXPECT_NE(line.find("36"), std::string::npos) << line;
  EXPECT_NE(line.find("72"), std::string::npos) << line;
  EXPECT_EQ(line.find("relu"), std::string::npos) << line;
}

TEST_F(Cli, StatsPrintsCountersPerPass) {
  Result r = Tool("rewrite " + model_ + " -o " + dir_ + "/o.onnx --stats");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("find-params: classified = 13"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("regenerate: rewritten = 13"), std::string::npos) << r.err;
}

TEST_F(Cli, PassesRunsAPrefix) {
  Result r = Tool("plan " + model_ + " --passes find-params,infer-fans");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("he U"), std::string::npos);  // no scheme chosen yet
}

// Each failure: its exit code, one line on stderr naming the problem, nothing written.
struct Failure {
  std::string args;  // $M: the input model, $D: the test directory
  int code;
  std::string message;
};

class CliFailure : public Cli, public ::testing::WithParamInterface<Failure> {};

TEST_P(CliFailure, ExitsWithItsCodeAndOneLineAndWritesNothing) {
  std::ofstream(dir_ + "/text.onnx") << "this is not a protobuf";
  std::ofstream(dir_ + "/empty.onnx").close();
  std::string args = GetParam().args;
  for (auto [key, value] : {std::pair<std::string, std::string>{"$M", model_}, {"$D", dir_}}) {
    for (size_t at; (at = args.find(key)) != std::string::npos;) args.replace(at, 2, value);
  }
  std::vector<std::string> before = Outputs();
  Result r = Tool(args);
  EXPECT_EQ(r.code, GetParam().code) << r.err;
  std::string expected = GetParam().message;
  for (size_t at; (at = expected.find("$D")) != std::string::npos;) expected.replace(at, 2, dir_);
  EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(Outputs(), before);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CliFailure,
    ::testing::Values(
        Failure{"rewrite $D/missing.onnx -o $D/o.onnx", 3, "$D/missing.onnx: cannot open: No such file"},
        Failure{"rewrite $D/text.onnx -o $D/o.onnx", 3, "$D/text.onnx: not a valid ONNX model"},
        Failure{"rewrite $D/empty.onnx -o $D/o.onnx", 3, "$D/empty.onnx: empty file"},
        Failure{"plan $D", 3, "$D: not a regular file"},
        Failure{"rewrite $M -o $M", 2, "the output would overwrite the input model (use --in-place)"},
        Failure{"rewrite $M -o $D/./model.onnx", 2, "the output would overwrite the input model"},
        Failure{"rewrite $M -o $D/o.onnx --report $M", 2, "the report would overwrite the input model"},
        Failure{"rewrite $M -o $D/o.onnx --passes find-params", 2, "--passes is an option of plan, not of rewrite"},
        Failure{"plan $M --passes find-params,bogus", 2, "unknown pass 'bogus'"},
        Failure{"plan $M --dump-after regenerate", 2, "--dump-after regenerate: that pass is not in the pipeline"},
        Failure{"plan $M --distribution cauchy", 2, "--distribution"},
        Failure{"rewrite $M", 2, "rewrite needs -o OUT.onnx, or --in-place"},
        Failure{"rewrite $M -o $D/o.onnx --in-place", 2, "--output and --in-place cannot be combined"},
        Failure{"rewrite $M -o $D/no/such/dir/o.onnx", 5, "$D/no/such/dir/o.onnx: cannot create"},
        Failure{"rewrite $M -o $D/o.onnx --report $D/no/dir/r.json", 5, "$D/no/dir/r.json: cannot create"},
        Failure{"frobnicate", 2, "frobnicate"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

TEST_F(Cli, UntieSharedGivesEachLayerItsOwnCopy) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X) => (float[2,8] A, float[2,8] B) {
      H1 = MatMul(X, W)
      A = Relu(H1)
      H2 = MatMul(X, W)
      B = Tanh(H2)
    })");
  test::AddInitializer(m, "W", {8, 8});
  std::string bytes;
  ASSERT_TRUE(SerializeModel(m, "tied.onnx", &bytes).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/tied.onnx", bytes).ok());
  Result r = Tool("rewrite " + dir_ + "/tied.onnx -o " + dir_ + "/o.onnx --untie-shared --stats --report " + dir_ +
                  "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("untie-shared: copies = 1"), std::string::npos) << r.err;
  auto report = nlohmann::json::parse(Slurp(dir_ + "/r.json"));
  ASSERT_EQ(report["tensors"].size(), 2u);
  EXPECT_EQ(report["tensors"][0]["name"], "W");
  EXPECT_EQ(report["tensors"][0]["scheme"], "he");
  EXPECT_TRUE(report["tensors"][0]["conflicts"].empty());
  EXPECT_EQ(report["tensors"][1]["name"], "W.untied.1");
  EXPECT_EQ(report["tensors"][1]["scheme"], "xavier");
  onnx::ModelProto out;
  ASSERT_TRUE(LoadModel(dir_ + "/o.onnx", &out).ok());
  EXPECT_EQ(out.graph().node(2).input(1), "W.untied.1");
  Status s = CheckModel(out, "untied");
  EXPECT_TRUE(s.ok()) << s.message();
}

}  // namespace
}  // namespace reinit
