// Choosing what to re-initialize and how, through the command line as a user (or CI) runs it:
// selections, rules files, presets, check mode, output formats and verbosity.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "passes/io/model_io.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class CliPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir(std::string("policy-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    cnn_ = test::ModelPath("cnn_bn.onnx");
  }
  void TearDown() override { fs::remove_all(dir_); }

  test::ToolResult Tool(const std::string& args) { return test::RunTool(args, dir_); }

  // plan with --report; returns the report ({} when the command failed).
  json Plan(const std::string& model, const std::string& args, test::ToolResult* result = nullptr) {
    test::ToolResult r = Tool("plan " + model + " --report " + dir_ + "/r.json " + args);
    if (result) *result = r;
    if (r.code != 0) return json();
    return json::parse(test::Slurp(dir_ + "/r.json"));
  }

  static std::set<std::string> Reinitialized(const json& report) {
    std::set<std::string> names;
    for (const auto& t : report["tensors"]) {
      if (t["action"] == "reinitialized") names.insert(t["name"].get<std::string>());
    }
    return names;
  }

  static const json& Entry(const json& report, const std::string& name) {
    for (const auto& t : report["tensors"]) {
      if (t["name"] == name) return t;
    }
    throw std::runtime_error("no entry " + name);
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }

  std::string dir_, cnn_;
};

TEST_F(CliPolicy, OnlyByOpTypeSelectsTheLayerAndItsBias) {
  json r = Plan(cnn_, "--only op=Gemm");
  EXPECT_EQ(Reinitialized(r), (std::set<std::string>{"head.weight", "head.bias"}));
  EXPECT_EQ(Entry(r, "features.0.weight")["reason"].get<std::string>().rfind("kept: not selected by --only op=Gemm", 0), 0u);
  EXPECT_EQ(r["policy"]["selection"]["only"], json({"op=Gemm"}));
}

TEST_F(CliPolicy, GlobAndRegexSelectorsAndExcludeWins) {
  json r = Plan(cnn_, "--only 'features.4.*' --only 'name=/head\\.(weight|bias)/' --exclude 'role=bias'");
  EXPECT_EQ(Reinitialized(r), (std::set<std::string>{"features.4.weight", "head.weight"}));
  EXPECT_NE(Entry(r, "head.bias")["reason"].get<std::string>().find("excluded by --exclude role=bias"), std::string::npos);
}

TEST_F(CliPolicy, KeepFreezesAndTheRewriteLeavesThoseBytes) {
  test::ToolResult r = Tool("rewrite " + cnn_ + " -o " + dir_ + "/o.onnx --keep 'op=BatchNormalization' --report " +
                            dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  onnx::ModelProto in, out;
  ASSERT_TRUE(LoadModel(cnn_, &in).ok());
  ASSERT_TRUE(LoadModel(dir_ + "/o.onnx", &out).ok());
  auto a = test::TensorsByName(in), b = test::TensorsByName(out);
  for (const char* n : {"features.1.weight", "features.1.running_var", "features.5.bias"}) {
    EXPECT_EQ(a[n]->SerializeAsString(), b[n]->SerializeAsString()) << n;
  }
  EXPECT_NE(a["features.0.weight"]->SerializeAsString(), b["features.0.weight"]->SerializeAsString());
}

TEST_F(CliPolicy, ReinitLastOneIsTheHead) {
  EXPECT_EQ(Reinitialized(Plan(cnn_, "--reinit-last 1")), (std::set<std::string>{"head.weight", "head.bias"}));
}

TEST_F(CliPolicy, ReinitLastTwoBringsTheConvWithItsBiasAndBatchNorm) {
  EXPECT_EQ(Reinitialized(Plan(cnn_, "--reinit-last 2")),
            (std::set<std::string>{"head.weight", "head.bias", "features.4.weight", "features.4.bias", "features.5.weight",
                                   "features.5.bias", "features.5.running_mean", "features.5.running_var"}));
}

TEST_F(CliPolicy, ReinitBlocksTakesTheLastTransformerLayer) {
  json r = Plan(test::ModelPath("zoo/transformer_tied.onnx"), "--reinit-blocks 1");
  const auto names = Reinitialized(r);
  ASSERT_FALSE(names.empty());
  for (const auto& n : names) EXPECT_EQ(n.rfind("encoder.layers.1.", 0), 0u) << n;
  EXPECT_TRUE(names.count("encoder.layers.1.linear1.weight"));
}

TEST_F(CliPolicy, ReinitBlocksNeverCountsABatchNormOnlyBlock) {
  // features.5 holds only the BatchNorm after the Conv features.4: no block, it goes with the Conv's.
  EXPECT_EQ(Reinitialized(Plan(cnn_, "--reinit-blocks 1")),
            (std::set<std::string>{"features.4.weight", "features.4.bias", "features.5.weight", "features.5.bias",
                                   "features.5.running_mean", "features.5.running_var"}));
}

TEST_F(CliPolicy, ReinitLastTakesATiedLmHeadAndSaysWhatElseChanges) {
  const std::string model = test::ModelPath("zoo/transformer_tied.onnx");
  test::ToolResult r;
  EXPECT_EQ(Reinitialized(Plan(model, "--reinit-last 1", &r)), std::set<std::string>{"embed.weight"});
  EXPECT_EQ(r.err, "onnx-reinit: warning: --reinit-last 1 re-initializes tensor 'embed.weight', which layer "
                   "'/embed/Gather' outside the selection also uses: that layer changes too (--untie-shared gives each "
                   "layer its own copy, and then only the selected copies change)\n"
                   "onnx-reinit: note: 1 shared tensor has uses that disagree (the deciding use is in its reason): "
                   "embed.weight\n");
  // Untied, the head reads a copy of its own: only that copy is taken, and nothing else changes.
  EXPECT_EQ(Reinitialized(Plan(model, "--reinit-last 1 --untie-shared", &r)),
            std::set<std::string>{"embed.weight.untied.1"});
  EXPECT_EQ(r.err, "");
  Plan(model, "--reinit-last 1 -q", &r);
  EXPECT_EQ(r.err, "");
}

TEST_F(CliPolicy, ReinitBlocksOnAModelWithoutBlocksIsAnError) {
  test::ToolResult r;
  Plan(test::ModelPath("mlp_relu.onnx"), "--reinit-blocks 1", &r);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--reinit-blocks: no repeated blocks found"), std::string::npos) << r.err;
}

TEST_F(CliPolicy, ASelectorThatMatchesNothingFailsUnlessAllowed) {
  test::ToolResult r = Tool("rewrite " + cnn_ + " -o " + dir_ + "/o.onnx --only 'op=Gemmm'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "onnx-reinit: error: --only op=Gemmm matches no tensor (use --allow-empty to accept that)\n");
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
  r = Tool("rewrite " + cnn_ + " -o " + dir_ + "/o.onnx --only 'op=Gemmm' --only op=Gemm --allow-empty");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("onnx-reinit: warning: --only op=Gemmm matches no tensor"), std::string::npos) << r.err;
}

TEST_F(CliPolicy, BadSelectors) {
  test::ToolResult r = Tool("plan " + cnn_ + " --only 'kind=Conv'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown field 'kind'"), std::string::npos) << r.err;
  r = Tool("plan " + cnn_ + " --only '/(unclosed/'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad regular expression"), std::string::npos) << r.err;
}

TEST_F(CliPolicy, RulesFileInYamlLaterRuleWinsAndFlagsOverrideTheFile) {
  const std::string rules = Write("rules.yaml", R"(# fine-tuning rules
preset: note
distribution: normal
seed: 11
rules:
  - match: {op: Conv}
    init: {scheme: xavier}
  - match: {name: "features.4.*", role: weight}
    init: {scheme: lecun, gain: 2}
  - match: {role: norm_running_*}
    keep: true
)");
  json r = Plan(cnn_, "--config " + rules);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["seed"], 11);
  EXPECT_EQ(r["policy"]["distribution"], "normal");
  EXPECT_EQ(r["policy"]["rules"].size(), 3u);
  EXPECT_EQ(r["policy"]["rules"][1]["origin"], rules + ":8");
  const json& conv0 = Entry(r, "features.0.weight");
  EXPECT_EQ(conv0["scheme"], "xavier");
  EXPECT_EQ(conv0["distribution"], "normal");
  const json& conv4 = Entry(r, "features.4.weight");  // the later rule wins
  EXPECT_EQ(conv4["scheme"], "lecun");
  EXPECT_NEAR(conv4["std"].get<double>(), 2 * std::sqrt(1.0 / 36), 1e-12);
  EXPECT_EQ(Entry(r, "features.1.running_mean")["action"], "kept");
  EXPECT_EQ(Entry(r, "features.1.weight")["action"], "reinitialized");
  // A flag overrides the file.
  json flagged = Plan(cnn_, "--config " + rules + " --distribution uniform --seed 3");
  EXPECT_EQ(flagged["seed"], 3);
  EXPECT_EQ(Entry(flagged, "features.0.weight")["distribution"], "uniform");
}

// The rules example users copy: {name: "head.*"} also matches head.bias, which has no fans. The bias
// keeps its zeros (no inf), the run says which rule skipped it, and the rewrite writes finite values.
TEST_F(CliPolicy, ARuleSkipsTheTensorsItsSchemeCannotApplyTo) {
  const std::string rules = Write("rules.yaml", R"(rules:
  - match: {name: "head.*"}
    init: {scheme: xavier, gain: 0.5}
)");
  test::ToolResult r = Tool("rewrite " + cnn_ + " -o " + dir_ + "/o.onnx --config " + rules + " --report " + dir_ +
                            "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("onnx-reinit: warning: " + rules + ":2: rule (name=head.*) does not apply to 1 tensor, which "
                       "keep their other decision: head.bias (no fans)\n"),
            std::string::npos)
      << r.err;
  const json report = json::parse(test::Slurp(dir_ + "/r.json"));
  EXPECT_EQ(Entry(report, "head.bias")["scheme"], "constant");
  EXPECT_EQ(Entry(report, "head.bias")["stats"]["max"], 0.0);
  EXPECT_EQ(Entry(report, "head.weight")["scheme"], "xavier");
  EXPECT_TRUE(Entry(report, "head.weight")["stats"]["mean"].is_number());
  // A rule that can apply to nothing it matches, or that matches nothing, is an error at its line.
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"rules:\n  - match: {role: bias}\n    init: {scheme: he}\n",
            ":2: rule (role=bias) applies to none of the tensors it matches: features.4.bias (no fans), head.bias (no fans)"},
           {"rules:\n  - match: {op: BatchNormalization}\n    init: {scheme: xavier}\n",
            ":2: rule (op=BatchNormalization) applies to none of the tensors it matches: features.1.weight (no fans), "
            "features.1.bias (no fans), features.1.running_mean (no fans) and 5 more"},
           {"rules:\n  - match: {name: \"heads.*\"}\n    init: {scheme: he}\n", ":2: rule (name=heads.*) matches no parameter"}}) {
    const std::string bad = Write("bad.yaml", text);
    test::ToolResult e = Tool("rewrite " + cnn_ + " -o " + dir_ + "/e.onnx --config " + bad);
    EXPECT_EQ(e.code, 2) << text;
    EXPECT_EQ(e.err, "onnx-reinit: error: " + bad + message + " (use --allow-empty to accept that)\n");
    EXPECT_FALSE(fs::exists(dir_ + "/e.onnx"));
    EXPECT_EQ(Tool("plan " + cnn_ + " --config " + bad + " --allow-empty -q").code, 0) << text;
  }
}

TEST_F(CliPolicy, RulesFileInJson) {
  const std::string rules = Write("rules.json", R"({"preset": "keras", "rules": [
    {"match": {"role": "bias"}, "init": {"value": 0.1}}]})");
  json r = Plan(cnn_, "--config " + rules);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["policy"]["name"], "keras");
  EXPECT_EQ(Entry(r, "head.bias")["value"], 0.1);
}

struct BadRules {
  std::string name, text, message;
};
class CliBadRules : public CliPolicy, public ::testing::WithParamInterface<BadRules> {};

TEST_P(CliBadRules, FailWithFileLineAndWriteNothing) {
  const std::string rules = Write("rules.yaml", GetParam().text);
  test::ToolResult r = Tool("rewrite " + cnn_ + " -o " + dir_ + "/o.onnx --config " + rules);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "onnx-reinit: error: " + rules + ":" + GetParam().message + "\n");
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliBadRules,
    ::testing::Values(
        BadRules{"unknown_key", "preset: note\ndistrib: normal\n",
                 "2: unknown key 'distrib' in the rules file (expected preset, seed, distribution, gain, mode, forget_bias, "
                 "embedding_std, residual_scaling, init_range, reinit_fixed, preserve_signal, only, exclude, keep, reinit_last, reinit_blocks, allow_empty, rules)"},
        BadRules{"bad_distribution", "distribution: gaussian\n",
                 "1: distribution must be uniform, normal or truncated_normal, not 'gaussian'"},
        BadRules{"bad_preset", "preset: tensorflow\n", "1: preset must be note, pytorch, keras, jax, torch-gain, hf, bert, gpt2 or proxy, not 'tensorflow'"},
        BadRules{"unknown_match_key", "rules:\n  - match: {kind: Conv}\n    keep: true\n",
                 "2: unknown key 'kind' in match (expected name, node, op, role, activation)"},
        BadRules{"rule_without_action", "rules:\n  - match: {op: Conv}\n", "2: a rule needs init or keep"},
        BadRules{"bad_gain", "rules:\n  - match: {op: Conv}\n    init: {gain: -1}\n", "3: gain must be a positive number or auto, not '-1'"},
        BadRules{"normal_without_std", "rules:\n  - match: {op: Conv}\n    init: {scheme: normal}\n",
                 "3: scheme normal needs std"},
        BadRules{"not_yaml", "rules: [\n", "2: end of sequence flow not found"}),
    [](const auto& info) { return info.param.name; });

TEST_F(CliPolicy, PresetChangesTheNumbers) {
  json note = Plan(cnn_, "");
  json torch = Plan(cnn_, "--preset torch-gain");
  // Grouped conv [16, 4, 3, 3], group 2: the note counts fan_out = 72, torch 144.
  EXPECT_EQ(Entry(note, "features.4.weight")["fan_out"], 72);
  EXPECT_EQ(Entry(torch, "features.4.weight")["fan_out"], 144);
  EXPECT_EQ(torch["policy"]["name"], "torch-gain");
  EXPECT_NEAR(Entry(torch, "features.4.weight")["gain"].get<double>(), std::sqrt(2.0), 1e-12);
}

// The bundled models are exported right after torch.nn built them: --preset pytorch (reset_parameters)
// finds every layer where torch drew it, biases included; torch-gain (calculate_gain) finds them off.
// transformer_tied is an nn.TransformerEncoder: its nn.MultiheadAttention in_proj is Xavier over
// [96, 32] (std sqrt(2/128) = 0.125), not nn.Linear's 1/sqrt(3*32).
TEST_F(CliPolicy, ModelsAsTorchBuiltThemPassCheckWithThePytorchPreset) {
  for (const char* model : {"mlp_relu.onnx", "mlp_tanh.onnx", "lstm.onnx", "zoo/transformer_tied.onnx"}) {
    test::ToolResult ok = Tool("check " + test::ModelPath(model) + " --preset pytorch");
    EXPECT_EQ(ok.code, 0) << model << "\n" << ok.out << ok.err;
    EXPECT_NE(ok.out.find(" 0 off"), std::string::npos) << ok.out;
  }
  test::ToolResult mlp = Tool("check " + test::ModelPath("mlp_relu.onnx") + " --preset pytorch");
  EXPECT_NE(mlp.out.find("4 ok, 0 off"), std::string::npos) << mlp.out;  // 2 weights and 2 biases
  test::ToolResult attn = Tool("check " + test::ModelPath("zoo/transformer_tied.onnx") + " --preset pytorch");
  EXPECT_NE(attn.out.find("encoder.layers.0.self_attn.in_proj_weight   xavier   0.125 "), std::string::npos) << attn.out;
  test::ToolResult gain = Tool("check " + test::ModelPath("mlp_relu.onnx") + " --preset torch-gain");
  EXPECT_EQ(gain.code, 6) << gain.out << gain.err;
}

TEST_F(CliPolicy, CheckPassesOnAFreshRewriteAndFlagsAPyTorchDefaultInit) {
  ASSERT_EQ(Tool("rewrite " + test::ModelPath("mlp_relu.onnx") + " -o " + dir_ + "/fresh.onnx").code, 0);
  test::ToolResult ok = Tool("check " + dir_ + "/fresh.onnx");
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("2 ok, 0 off"), std::string::npos) << ok.out;
  // The exported model still has torch.nn.Linear's default init, U(+-1/sqrt(fan_in)): std 1/sqrt(3 n_in),
  // 0.41 of He's sqrt(2 / n_in) for the ReLU layer and 0.45 of Xavier's for the head.
  test::ToolResult off = Tool("check " + test::ModelPath("mlp_relu.onnx"));
  EXPECT_EQ(off.code, 6) << off.out << off.err;
  EXPECT_NE(off.out.find("0.weight  he"), std::string::npos) << off.out;
  EXPECT_NE(off.out.find("0 ok, 2 off"), std::string::npos) << off.out;
  // Only the first layer re-initialized: the head is the one layer off; -q prints just that line.
  ASSERT_EQ(Tool("rewrite " + test::ModelPath("mlp_relu.onnx") + " -o " + dir_ + "/half.onnx --only 0.weight").code, 0);
  test::ToolResult quiet = Tool("check " + dir_ + "/half.onnx -q");
  EXPECT_EQ(quiet.code, 6);
  EXPECT_EQ(quiet.out.find("0.weight  he"), std::string::npos) << quiet.out;
  EXPECT_NE(quiet.out.find("2.weight  xavier"), std::string::npos) << quiet.out;
  // JSON for CI.
  test::ToolResult j = Tool("check " + test::ModelPath("mlp_relu.onnx") + " --format json");
  const json report = json::parse(j.out);
  EXPECT_EQ(report["summary"]["off"], 2);
  EXPECT_NEAR(report["layers"][0]["ratio"].get<double>(), std::sqrt(1.0 / 3) / std::sqrt(2.0), 0.05);
  // A wider tolerance lets it pass.
  EXPECT_EQ(Tool("check " + test::ModelPath("mlp_relu.onnx") + " --tolerance 0.7").code, 0);
}

TEST_F(CliPolicy, CheckVerifiesOrthogonalityOfRecurrentWeights) {
  ASSERT_EQ(Tool("rewrite " + test::ModelPath("lstm.onnx") + " -o " + dir_ + "/l.onnx").code, 0);
  test::ToolResult r = Tool("check " + dir_ + "/l.onnx --format json");
  EXPECT_EQ(r.code, 0) << r.out;
  bool saw = false;
  const json report = json::parse(r.out);
  for (const auto& l : report["layers"]) {
    if (l["scheme"] != "orthogonal") continue;
    saw = true;
    EXPECT_LT(l["orthogonality_error"].get<double>(), 1e-5);
  }
  EXPECT_TRUE(saw);
}

TEST_F(CliPolicy, FormatsAndVerbosity) {
  test::ToolResult md = Tool("plan " + cnn_ + " --format markdown");
  EXPECT_EQ(md.out.rfind("| tensor | role | op | shape |", 0), 0u) << md.out;
  EXPECT_NE(md.out.find("| --- |"), std::string::npos);
  EXPECT_NE(md.out.find("| `features.0.weight` | weight | Conv |"), std::string::npos) << md.out;
  test::ToolResult js = Tool("plan " + cnn_ + " --format json");
  EXPECT_EQ(json::parse(js.out)["command"], "plan");
  test::ToolResult quiet = Tool("rewrite " + cnn_ + " -o " + dir_ + "/o.onnx -q");
  EXPECT_EQ(quiet.code, 0);
  EXPECT_TRUE(quiet.out.empty()) << quiet.out;
  EXPECT_TRUE(quiet.err.empty()) << quiet.err;
  test::ToolResult verbose = Tool("plan " + cnn_ + " -v");
  EXPECT_NE(verbose.err.find("find-params: classified = 13"), std::string::npos) << verbose.err;
  test::ToolResult both = Tool("plan " + cnn_ + " -q -v");
  EXPECT_EQ(both.code, 2);
  EXPECT_EQ(both.err, "onnx-reinit: error: -q and -v cannot be combined (see --help)\n");
}

TEST_F(CliPolicy, PerSchemeFlagsReachTheReport) {
  // --gain and --mode on the tanh MLP: Xavier 100 -> 50 is 0.2 at gain 1, fan_avg.
  json r = Plan(test::ModelPath("mlp_tanh.onnx"), "--gain 2 --mode fan_in");
  EXPECT_EQ(r["policy"]["gain"], 2.0);
  EXPECT_EQ(r["policy"]["mode"], "fan_in");
  EXPECT_EQ(Entry(r, "0.weight")["mode"], "fan_in");
  EXPECT_NEAR(Entry(r, "0.weight")["bound"].get<double>(), 2 * std::sqrt(3.0 / 100), 1e-12);
  r = Plan(test::ModelPath("mlp_tanh.onnx"), "--gain auto");
  EXPECT_NEAR(Entry(r, "0.weight")["bound"].get<double>(), 5.0 / 3.0 * 0.2, 1e-12);
  r = Plan(test::ModelPath("mlp_relu.onnx"), "--distribution truncated_normal");
  EXPECT_EQ(Entry(r, "0.weight")["distribution"], "truncated_normal");
  EXPECT_TRUE(Entry(r, "0.weight")["bound"].is_null());
  r = Plan(test::ModelPath("lstm.onnx"), "--forget-bias 1 --preset keras");
  EXPECT_EQ(r["policy"]["forget_bias"], 1.0);
  r = Plan(test::ModelPath("zoo/transformer_tied.onnx"), "--embedding-std 0.02");
  EXPECT_EQ(Entry(r, "embed.weight")["std"], 0.02);
  r = Plan(test::ModelPath("zoo/resnet_tiny.onnx"), "--residual-scaling zero");
  EXPECT_EQ(Entry(r, "layer1.conv2.weight")["scheme"], "constant");
  EXPECT_EQ(Entry(r, "layer1.conv1.weight")["scheme"], "he");
  test::ToolResult bad;
  Plan(cnn_, "--gain -3", &bad);
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err, "onnx-reinit: error: --gain must be a positive number or auto, not '-3' (see --help)\n");
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// Nothing to do is never silent: a rewrite that would change nothing says why and writes nothing.
TEST_F(CliPolicy, ARewriteThatWouldChangeNothingSaysWhyAndWritesNothing) {
  const std::string model = test::ModelPath("graphs/all_quantized.onnx");
  test::ToolResult r = Tool("rewrite " + model + " -o " + dir_ + "/o.onnx");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "onnx-reinit: error: " + model +
                       ": nothing to re-initialize: 4 parameters are quantized (kept) (use --allow-empty to write the "
                       "model anyway)\n");
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
  r = Tool("rewrite " + model + " -o " + dir_ + "/o.onnx --allow-empty");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir_ + "/o.onnx"));
  r = Tool("rewrite " + cnn_ + " -o " + dir_ + "/s.onnx --exclude '*'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nothing to re-initialize: 13 parameters are left out by the selection"), std::string::npos)
      << r.err;
  // plan says the same as a warning, and what deserves a look as notes.
  r = Tool("plan " + model);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("onnx-reinit: warning: a rewrite would re-initialize nothing: 4 parameters are quantized (kept)\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("onnx-reinit: note: 4 quantized tensors are kept: "), std::string::npos) << r.err;
}

// ONNX Runtime's dynamic quantization: ConvInteger -> Cast -> Mul(scale) -> Add(float bias). The bias
// is the quantized layer's: role bias, kept with its weights, and the reason says so.
TEST_F(CliPolicy, AQuantizedLayersFloatBiasIsItsBiasAndStaysWithIt) {
  json r = Plan(test::ModelPath("graphs/convinteger_dequant.onnx"), "--allow-empty");
  const json& bias = Entry(r, "conv.bias");
  EXPECT_EQ(bias["role"], "bias");
  EXPECT_EQ(bias["action"], "kept");
  EXPECT_NE(bias["reason"].get<std::string>().find("kept: the bias of a quantized layer stays with its weights"),
            std::string::npos)
      << bias["reason"];
  EXPECT_NE(bias["reason"].get<std::string>().find("the bias of ConvInteger 'conv_quant'"), std::string::npos);
}

TEST_F(CliPolicy, NotesNameLargeFloatTensorsWithoutARole) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[32,32] X) => (float[32,32] Y) { H = MatMul(X, W)  Y = Mul(H, Mask) })");
  test::AddInitializer(m, "W", {32, 32});
  test::AddInitializer(m, "Mask", {32, 32});
  std::string bytes;
  ASSERT_TRUE(SerializeModel(m, "mask.onnx", &bytes).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/mask.onnx", bytes).ok());
  test::ToolResult r = Tool("plan " + dir_ + "/mask.onnx");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "onnx-reinit: note: 1 float tensor of 1024 or more values has no role and is kept: Mask [32,32]\n");
  EXPECT_TRUE(Tool("plan " + dir_ + "/mask.onnx -q").err.empty());
}

}  // namespace
}  // namespace reinit
