// The command-line tool as a user runs it: a real process, its exit code, stdout, stderr and files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <iterator>
#include <limits>
#include <sstream>

#include "passes/io/model_io.h"
#include "passes/graph/tensor_values.h"
#include "passes/report/version.h"
#include "tool/options.h"
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
  for (const char* pass : {"untie-shared", "find-params", "infer-fans", "infer-activation", "find-fixed-constants",
                           "find-copies", "select-init", "select-tensors", "audit-signal", "regenerate"}) {
    EXPECT_NE(r.out.find(pass), std::string::npos) << pass;
  }
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 10);
}

// The tables the documentation generates come from the code: one Markdown row per entry, with the
// entries the decisions use.
TEST_F(Cli, ListPrintsTheTablesTheToolDecidesBy) {
  struct Case {
    const char* what;
    const char* row;  // a row that must be there
  } cases[] = {
      {"ops", "| LSTM | 2 | recurrent_hidden_weight | R [dirs, G*H, H]"},
      {"ops", "| ConvInteger | 1 | weight (quantized: kept) |"},
      {"activations", "| Selu | `selu` | selu |"},
      {"pass-throughs", "| Cast | input 0 | to a float type |"},
      {"pass-throughs", "| Split | input 0, to every output | - |"},
      {"settings", "| `--embedding-std S` | `embedding_std` | plan, rewrite, check, audit |"},
      {"settings", "| `--preserve-signal` | `preserve_signal` | plan, rewrite, check, audit |"},
      {"passes", "| `find-copies` |"},
      {"passes", "| `audit-signal` |"},
  };
  for (const Case& c : cases) {
    Result r = Tool(std::string("--list ") + c.what);
    EXPECT_EQ(r.code, 0) << c.what;
    EXPECT_NE(r.out.find(c.row), std::string::npos) << c.what << ":\n" << r.out;
    EXPECT_EQ(r.out.rfind("| ", 0), 0u) << c.what;  // a Markdown table from the first line
  }
  Result bad = Tool("--list opz");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("passes,ops,activations,pass-throughs,settings"), std::string::npos) << bad.err;
  EXPECT_TRUE(bad.out.empty());
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

// ---- a command line that behaves like a good one -------------------------------------------------

TEST_F(Cli, VersionPrintsTheToolAndItsVersion) {
  Result r = Tool("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, std::string("onnx-reinit ") + kToolVersion + "\n");
}

TEST_F(Cli, ValueErrorsSayWhatIsAllowedInWords) {
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--reinit-last 0", "--reinit-last must be a positive integer, not '0'"},
           {"--reinit-blocks 1.5", "--reinit-blocks must be a positive integer, not '1.5'"},
           {"--seed -1", "--seed must be an integer from 0 to 18446744073709551615, not '-1'"},
           {"--seed 18446744073709551616", "--seed must be an integer from 0 to 18446744073709551615, not '18446744073709551616'"},
           {"--embedding-std 0", "--embedding-std must be a positive number, not '0'"},
           {"--format yaml", "--format must be text, json or markdown, not 'yaml'"},
           {"--format junit", "--format junit is a format of check, not of plan"},
           {"--distribution cauchy", "--distribution must be uniform, normal or truncated_normal, not 'cauchy'"},
           {"--onyl op=Gemm", "unknown option --onyl; did you mean --only?"},
           {"--tolerance 0.3", "--tolerance is an option of check, not of plan"},
           {"--threads 2", "--threads is an option of rewrite, not of plan"}}) {
    Result r = Tool("plan " + model_ + " " + args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_EQ(r.err, "onnx-reinit: error: " + message + " (see --help)\n") << args;
  }
  // The largest seed is taken as it is (no clamping, no rounding through a double).
  Result r = Tool("plan " + model_ + " --seed 18446744073709551615 --format json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["seed"].get<uint64_t>(), 18446744073709551615ull);
}

TEST_F(Cli, EachCommandsHelpListsOnlyWhatItTakes) {
  struct Expect {
    std::string command;
    std::vector<std::string> has, lacks;
  };
  for (const Expect& e : std::vector<Expect>{
           {"plan", {"--passes", "--seed", "--all", "--report"}, {"--threads", "--tolerance", "--output", "--in-place"}},
           {"rewrite", {"--output", "--in-place", "--threads", "--seed", "--all"}, {"--passes", "--tolerance"}},
           {"check", {"--tolerance", "--report", "--only", "--config"}, {"--passes", "--seed", "--threads", "--output"}}}) {
    Result r = Tool(e.command + " --help");
    EXPECT_EQ(r.code, 0);
    for (const auto& flag : e.has) EXPECT_NE(r.out.find(flag + " "), std::string::npos) << e.command << " " << flag;
    for (const auto& flag : e.lacks) EXPECT_EQ(r.out.find(flag + " "), std::string::npos) << e.command << " " << flag;
  }
}

// ---- saying what happened ---------------------------------------------------------------------------

TEST_F(Cli, TheTableShowsParametersWithRolesAndASummary) {
  const std::string transformer = test::ModelPath("zoo/transformer_tied.onnx");
  Result r = Tool("plan " + transformer);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("tensor ", 0), 0u);
  EXPECT_NE(r.out.find("  role  "), std::string::npos);
  const std::string summary = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  EXPECT_EQ(summary, "100 tensors: 28 re-initialized, 0 kept by selection, 72 non-parameters not shown (--all)\n");
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1 + 28 + 1);
  Result all = Tool("plan " + transformer + " --all");
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 1 + 100 + 1);
  EXPECT_NE(all.out.find("72 non-parameters kept\n"), std::string::npos) << all.out;
}

TEST_F(Cli, AKeptRowSaysWhyAndShowsNoNumbers) {
  Result r = Tool("plan " + model_ + " --only op=Gemm --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out.substr(r.out.find("\nfeatures.0.weight") + 1));
  std::string line;
  std::getline(lines, line);
  std::istringstream cells(line);
  std::vector<std::string> words{std::istream_iterator<std::string>(cells), {}};
  ASSERT_GE(words.size(), 11u) << line;
  // tensor role op shape fan_in fan_out activation | scheme std bound | action...
  EXPECT_EQ(std::vector<std::string>(words.begin() + 7, words.begin() + 10), (std::vector<std::string>{"-", "-", "-"}));
  EXPECT_NE(line.find("kept: not selected by --only op=Gemm"), std::string::npos) << line;
  EXPECT_EQ(line.find("would be"), std::string::npos) << line;
  const auto report = nlohmann::json::parse(Slurp(dir_ + "/r.json"));
  for (const auto& t : report["tensors"]) {
    if (t["action"] == "reinitialized") continue;
    EXPECT_EQ(t["scheme"], "none") << t["name"];
    for (const char* field : {"std", "bound", "distribution", "gain", "mode", "value"}) {
      EXPECT_TRUE(t[field].is_null()) << t["name"] << " " << field;
    }
  }
  EXPECT_EQ(report["summary"]["kept_by_selection"], 11);
  EXPECT_NE(r.out.find("13 tensors: 2 re-initialized, 11 kept by selection\n"), std::string::npos) << r.out;
}

TEST_F(Cli, RowsAPipelinePrefixHasNotDecidedShowADash) {
  Result r = Tool("plan " + model_ + " --passes find-params,infer-fans --format json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  for (const auto& t : report["tensors"]) EXPECT_TRUE(t["action"].is_null()) << t["name"];
  EXPECT_EQ(report["summary"]["undecided"], 13);
  Result text = Tool("plan " + model_ + " --passes find-params,infer-fans");
  EXPECT_EQ(text.out.find("kept:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("13 undecided"), std::string::npos) << text.out;
}

// Progress lines (their first one after progress_seconds; 0 here, so every one) end with the complete
// count, on the in-memory path and on the streamed one.
TEST_F(Cli, ProgressLinesEndComplete) {
  for (const int64_t stream_threshold : {int64_t{0}, int64_t{1}}) {
    Options o;
    o.command = "rewrite";
    o.input = model_;
    o.output = dir_ + "/p.onnx";
    o.stream_threshold = stream_threshold;
    o.progress_seconds = 0;
    std::ostringstream out, err;
    ASSERT_EQ(RunCommand(o, out, err), 0) << err.str();
    const std::string e = err.str();
    EXPECT_NE(e.find("onnx-reinit: regenerate: 1/13 tensors\n"), std::string::npos) << e;
    EXPECT_NE(e.find("onnx-reinit: regenerate: 13/13 tensors\n"), std::string::npos) << e;
    const std::string writing = "onnx-reinit: writing " + o.output + ": ";
    const size_t last = e.rfind(writing);
    ASSERT_NE(last, std::string::npos) << e;
    const std::string line = e.substr(last + writing.size(), e.find('\n', last) - last - writing.size());
    EXPECT_EQ(line, "0/0 MB") << e;  // 7 kB: the complete count, in MB
    fs::remove(o.output);
  }
}

TEST_F(Cli, RewriteEndsWithOneLineSayingWhatItWrote) {
  Result r = Tool("rewrite " + model_ + " -o " + dir_ + "/o.onnx --only op=Gemm --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string size = std::to_string(fs::file_size(dir_ + "/o.onnx"));
  const std::string expected = "onnx-reinit: wrote " + dir_ + "/o.onnx (" + size.substr(0, 1) + "." + size.substr(1) +
                               " kB), report " + dir_ + "/r.json: 2 tensors re-initialized, 11 kept, in ";
  EXPECT_EQ(r.err.rfind(expected, 0), 0u) << r.err;
  EXPECT_EQ(r.err.substr(r.err.size() - 3), " s\n") << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(Tool("rewrite " + model_ + " -o " + dir_ + "/q.onnx -q").err.empty());
}

TEST_F(Cli, CheckWritesItsReportAndIsSilentWhenQuietAndAllIsOk) {
  ASSERT_EQ(Tool("rewrite " + model_ + " -o " + dir_ + "/fresh.onnx -q").code, 0);
  Result r = Tool("check " + dir_ + "/fresh.onnx --report " + dir_ + "/c.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(Slurp(dir_ + "/c.json"));
  EXPECT_EQ(report["command"], "check");
  EXPECT_EQ(report["tool"]["name"], "onnx-reinit");
  EXPECT_EQ(report["input"]["path"], dir_ + "/fresh.onnx");
  EXPECT_EQ(report["input"]["sha256"], Sha256OfFile(dir_ + "/fresh.onnx"));
  EXPECT_EQ(report["summary"]["checked"], 3);
  Result quiet = Tool("check " + dir_ + "/fresh.onnx -q");
  EXPECT_EQ(quiet.code, 0);
  EXPECT_TRUE(quiet.out.empty() && quiet.err.empty()) << quiet.out << quiet.err;
  // Markdown as plan writes it: names in code spans, numbers to four digits.
  Result md = Tool("check " + dir_ + "/fresh.onnx --format markdown");
  EXPECT_NE(md.out.find("| `features.0.weight` | he | 0.2722 | "), std::string::npos) << md.out;
}

TEST_F(Cli, CheckCallsANonFiniteWeightOffAndNothingToCheckAnError) {
  onnx::ModelProto m;
  ASSERT_TRUE(LoadModel(model_, &m).ok());
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    if (t.name() != "head.weight") continue;
    std::vector<double> v;
    ASSERT_TRUE(ReadValues(t, &v).ok());
    v[3] = std::numeric_limits<double>::infinity();
    ASSERT_TRUE(WriteValues(v, &t).ok());
  }
  std::string bytes;
  ASSERT_TRUE(SerializeModel(m, "inf.onnx", &bytes).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/inf.onnx", bytes).ok());
  Result r = Tool("check " + dir_ + "/inf.onnx --only head.weight --format json");
  EXPECT_EQ(r.code, 6) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["layers"][0]["verdict"], "off");
  EXPECT_TRUE(report["layers"][0]["measured_std"].is_null());
  Result none = Tool("check " + model_ + " --only role=bias");
  EXPECT_EQ(none.code, 2);
  EXPECT_EQ(none.err, "onnx-reinit: error: " + model_ +
                          ": nothing to check: no tensor is initialized at random under the policy (use "
                          "--allow-empty to accept that)\n");
  EXPECT_EQ(Tool("check " + model_ + " --only role=bias --allow-empty").code, 0);
}

}  // namespace
}  // namespace reinit
