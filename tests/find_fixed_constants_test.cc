// find-fixed-constants and what select-init makes of it: on small graphs in the layouts exporters write
// (Conv1d STFT, MatMul either way round, Gemm with transB, a Transpose on the way, a 1x1 conv, a
// depthwise blur); on models/graphs through the command line (kept with the reason, --reinit-fixed and
// rules re-initialize them); on tensors whose bytes stay on disk; and on every bundled, zoo, graph and
// libonnx-testdata model, where nothing but the three fixed front ends may be flagged.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "passes/io/external_data.h"
#include "passes/io/model_io.h"
#include "passes/graph/tensor_values.h"
#include "tests/signal_constants.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using onnx::TensorProto;
using namespace test::signal;

const char* kTestData = "/usr/share/libonnx-testdata/data/pytorch-converted";
const std::vector<std::string> kFrontPasses = {"find-params", "infer-fans", "infer-activation", "find-fixed-constants"};

// An initializer `name` of shape `dims` holding `values` (float32 raw_data, or float_data when typed).
void Add(onnx::ModelProto& model, const std::string& name, const std::vector<int64_t>& dims,
         const std::vector<double>& values, test::Storage storage = test::Storage::kRaw) {
  TensorProto* t = test::AddInitializer(model, name, dims, TensorProto::FLOAT, storage);
  const Status s = WriteValues(values, t);
  ASSERT_TRUE(s.ok()) << s.message();
}
std::vector<double> Flat(const Matrix& m) { return std::vector<double>(m.data(), m.data() + m.size()); }

std::vector<double> RandomValues(size_t n, double std, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, std);
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<float>(g(rng));
  return v;
}

std::map<std::string, Fixed> Flagged(const ParamTable& table) {
  std::map<std::string, Fixed> flagged;
  for (const auto& row : table) {
    if (row.fixed.kind != Fixed::kNone) flagged[row.name] = row.fixed.kind;
  }
  return flagged;
}

// ---- layouts ----

TEST(FindFixedConstants, DftBasisAlongTheInputAxisOfEachLayer) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,1,256] wave, float[10,64] frames, float[64,10] columns) =>
      (float[1,66,13] conv, float[10,66] right, float[66,10] left, float[10,66] gemm, float[10,66] moved,
       float[10,66] learned) {
      conv = Conv <strides = [16]> (wave, conv_basis)
      right = MatMul(frames, right_basis)
      left = MatMul(left_basis, columns)
      gemm = Gemm <transB = 1> (frames, gemm_basis)
      t = Transpose <perm = [1, 0]> (transposed_basis)
      moved = MatMul(frames, t)
      learned = Gemm <transB = 1> (frames, learned_weight)
    })");
  const Matrix basis = StftBasis(64);  // [66, 64]
  Add(m, "conv_basis", {66, 1, 64}, Flat(basis));
  Add(m, "right_basis", {64, 66}, Flat(Matrix(basis.transpose())));  // X @ W: the sinusoids are columns
  Add(m, "left_basis", {66, 64}, Flat(basis), test::Storage::kTyped);  // W @ X, in float_data
  Add(m, "gemm_basis", {66, 64}, Flat(basis));
  Add(m, "transposed_basis", {66, 64}, Flat(basis));
  Add(m, "learned_weight", {66, 64}, RandomValues(66 * 64, 0.1, 1));
  auto run = test::RunPasses(std::move(m), kFrontPasses);
  const std::map<std::string, Fixed> want = {{"conv_basis", Fixed::kDftBasis},
                                             {"right_basis", Fixed::kDftBasis},
                                             {"left_basis", Fixed::kDftBasis},
                                             {"gemm_basis", Fixed::kDftBasis},
                                             {"transposed_basis", Fixed::kDftBasis}};
  EXPECT_EQ(Flagged(run->table), want);
  EXPECT_NE(run->Row("conv_basis").fixed.seen.find("at k/64 cycles per sample for k = 0..32"), std::string::npos)
      << run->Row("conv_basis").fixed.seen;
}

TEST(FindFixedConstants, FilterbankAsMatMulEitherWayAndAsA1x1Conv) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[10,33] power, float[33,10] spec, float[1,33,10] channels) =>
      (float[10,16] torch, float[16,10] librosa, float[1,16,10] conv, float[10,16] learned) {
      torch = MatMul(power, torch_fb)
      librosa = MatMul(librosa_fb, spec)
      conv = Conv(channels, conv_fb)
      learned = MatMul(power, learned_weight)
    })");
  const Matrix mel = MelFilterbank(8000, 64, 16, Scale::kSlaney, true);  // [33, 16]
  Add(m, "torch_fb", {33, 16}, Flat(mel));
  Add(m, "librosa_fb", {16, 33}, Flat(Matrix(mel.transpose())));
  Add(m, "conv_fb", {16, 33, 1}, Flat(Matrix(mel.transpose())));
  std::vector<double> relu = RandomValues(33 * 16, 0.3, 2);  // nonnegative but not a filterbank
  for (double& x : relu) x = std::max(x, 0.0);
  Add(m, "learned_weight", {33, 16}, relu);
  auto run = test::RunPasses(std::move(m), kFrontPasses);
  const std::map<std::string, Fixed> want = {
      {"torch_fb", Fixed::kFilterbank}, {"librosa_fb", Fixed::kFilterbank}, {"conv_fb", Fixed::kFilterbank}};
  EXPECT_EQ(Flagged(run->table), want);
}

// A depthwise Gaussian blur, then a learned conv.
onnx::ModelProto BlurModel() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,3,16,16] x) => (float[1,8,16,16] y) {
      b = Conv <group = 3, pads = [2, 2, 2, 2]> (x, blur)
      c = Conv <pads = [1, 1, 1, 1]> (b, conv_weight)
      y = Relu(c)
    })");
  Add(m, "blur", {3, 1, 5, 5}, Separable(GaussianTaps(5, 1), 3));
  Add(m, "conv_weight", {8, 3, 3, 3}, RandomValues(8 * 27, 0.27, 3));
  return m;
}

TEST(FindFixedConstants, DepthwiseBlurButNotTheLearnedConvAfterIt) {
  auto run = test::RunPasses(BlurModel(), kFrontPasses);
  EXPECT_EQ(Flagged(run->table), (std::map<std::string, Fixed>{{"blur", Fixed::kSmoothingKernel}}));
}

// An ordinary weight is probed (a few vectors) and never read whole.
TEST(FindFixedConstants, OrdinaryWeightsAreRejectedByTheProbe) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[4,512] x, float[1,1,4096] wave) => (float[4,512] y, float[1,256,15] z) {
      h = MatMul(x, fc)
      y = Relu(h)
      z = Conv <strides = [256]> (wave, frontend)
    })");
  Add(m, "fc", {512, 512}, RandomValues(512 * 512, 0.05, 4));
  Add(m, "frontend", {256, 1, 512}, RandomValues(256 * 512, 0.05, 5));
  auto run = test::RunPasses(std::move(m), kFrontPasses);
  auto& counters = run->ctx.counters["find-fixed-constants"];
  EXPECT_EQ(counters["examined"], 2);
  EXPECT_EQ(counters["read whole"], 0);
  EXPECT_TRUE(Flagged(run->table).empty());
}

// ---- what select-init does with them ----

Rule MakeRule(const std::string& selector, std::optional<Scheme> scheme, bool keep = false) {
  Rule r;
  EXPECT_TRUE(ParseSelector(selector, &r.match).ok());
  r.init.scheme = scheme;
  r.init.keep = keep;
  r.origin = "rules.yaml:" + selector;
  return r;
}

TEST(SelectInitFixed, KeptByDefaultWithWhatWasSeen) {
  auto run = test::Plan(BlurModel());
  const ParamRow& blur = run->Row("blur");
  EXPECT_EQ(blur.init.action, Action::kKeep);
  EXPECT_EQ(blur.init.kept, Kept::kFixedConstant);
  EXPECT_EQ(blur.init.reason.rfind("kept: fixed smoothing kernel, not a learned weight (seen: 3 kernels of 5x5", 0), 0u)
      << blur.init.reason;
  EXPECT_EQ(run->Row("conv_weight").init.action, Action::kReinitialize);
}

TEST(SelectInitFixed, ReinitFixedMakesThemOrdinaryWeights) {
  Policy policy;
  policy.reinit_fixed = true;
  auto run = test::Plan(BlurModel(), policy);
  const ParamRow& blur = run->Row("blur");
  EXPECT_EQ(blur.init.action, Action::kReinitialize);
  EXPECT_EQ(blur.fixed.kind, Fixed::kSmoothingKernel);  // still reported as what it is
  EXPECT_NE(blur.init.reason.find("re-initialized although a fixed smoothing kernel (reinit_fixed)"), std::string::npos)
      << blur.init.reason;
}

TEST(SelectInitFixed, OnlyARuleThatNamesTheTensorReinitializesIt) {
  Policy named;
  named.rules = {MakeRule("name=blur", Scheme::kXavier)};
  auto run = test::Plan(BlurModel(), named);
  EXPECT_EQ(run->Row("blur").init.action, Action::kReinitialize);
  EXPECT_EQ(run->Row("blur").init.scheme, Scheme::kXavier);
  EXPECT_NE(run->Row("blur").init.reason.find("rule rules.yaml:name=blur names it"), std::string::npos);

  // A rule for every Conv applies to the learned conv and skips the blur, with a warning.
  Policy broad;
  broad.rules = {MakeRule("op=Conv", Scheme::kHe)};
  run = test::Plan(BlurModel(), broad);
  EXPECT_EQ(run->Row("blur").init.kept, Kept::kFixedConstant);
  EXPECT_EQ(run->Row("conv_weight").init.scheme, Scheme::kHe);
  ASSERT_EQ(run->ctx.warnings.size(), 1u);
  EXPECT_NE(run->ctx.warnings[0].find("blur (fixed smoothing kernel: a rule must name it, or use reinit_fixed)"),
            std::string::npos)
      << run->ctx.warnings[0];

  // A rule that matches nothing but fixed constants (the blur is the only linear layer) applies to
  // nothing: the usual error.
  Policy linear;
  linear.rules = {MakeRule("activation=linear", Scheme::kHe)};
  const Status s = test::TryPlan(BlurModel(), linear)->status;
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_NE(s.message().find("applies to none of the tensors it matches: blur"), std::string::npos) << s.message();

  // A keep rule keeps it (by that rule).
  Policy keep;
  keep.rules = {MakeRule("op=Conv", std::nullopt, /*keep=*/true)};
  run = test::Plan(BlurModel(), keep);
  EXPECT_EQ(run->Row("blur").init.kept, Kept::kByRule);
}

// ---- models/graphs through the command line ----

class CliFixed : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir(std::string("fixed-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove_all(dir_); }

  test::ToolResult Tool(const std::string& args) { return test::RunTool(args, dir_); }

  json Report() { return json::parse(test::Slurp(dir_ + "/r.json")); }

  static const json& Entry(const json& report, const std::string& name) {
    for (const auto& t : report["tensors"]) {
      if (t["name"] == name) return t;
    }
    throw std::runtime_error("no entry " + name);
  }

  // The bytes of every initializer of the model at `path`.
  static std::map<std::string, std::string> Bytes(const std::string& path) {
    onnx::ModelProto m;
    EXPECT_TRUE(LoadModel(path, &m).ok()) << path;
    std::map<std::string, std::string> bytes;
    for (const auto& t : m.graph().initializer()) bytes[t.name()] = t.raw_data();
    return bytes;
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }

  std::string dir_;
};

TEST_F(CliFixed, StftMelFrontEndIsKeptAndTheClassifierIsNot) {
  const std::string model = test::ModelPath("graphs/stft_mel.onnx");
  test::ToolResult r = Tool("plan " + model + " --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2 fixed constants kept"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kept: fixed DFT basis, not a learned weight\n"), std::string::npos) << r.out;
  const json report = Report();
  EXPECT_EQ(report["summary"]["fixed_kept"], 2);
  EXPECT_EQ(report["policy"]["reinit_fixed"], false);
  const json& basis = Entry(report, "stft_basis");
  EXPECT_EQ(basis["action"], "kept");
  EXPECT_EQ(basis["role"], "weight");
  EXPECT_EQ(basis["fixed"], "dft_basis");
  EXPECT_EQ(basis["reason"].get<std::string>().rfind("kept: fixed DFT basis, not a learned weight (seen: 66 vectors", 0), 0u)
      << basis["reason"];
  const json& mel = Entry(report, "mel_fb");
  EXPECT_EQ(mel["action"], "kept");
  EXPECT_EQ(mel["fixed"], "filterbank");
  EXPECT_EQ(mel["reason"].get<std::string>().rfind("kept: fixed triangular filterbank, not a learned weight (seen: 16 "
                                                   "triangular filters over 33 bins",
                                                   0),
            0u)
      << mel["reason"];
  const json& head = Entry(report, "onnx::MatMul_29");
  EXPECT_EQ(head["action"], "reinitialized");
  EXPECT_EQ(head["scheme"], "he");
  EXPECT_TRUE(head["fixed"].is_null());

  // rewrite: the front end's bytes are the input's.
  r = Tool("rewrite " + model + " -o " + dir_ + "/out.onnx -q");
  ASSERT_EQ(r.code, 0) << r.err;
  auto before = Bytes(model), after = Bytes(dir_ + "/out.onnx");
  EXPECT_EQ(before["stft_basis"], after["stft_basis"]);
  EXPECT_EQ(before["mel_fb"], after["mel_fb"]);
  EXPECT_NE(before["onnx::MatMul_29"], after["onnx::MatMul_29"]);

  // --reinit-fixed: everything is re-initialized, and still reported as what it was.
  r = Tool("rewrite " + model + " -o " + dir_ + "/all.onnx -q --reinit-fixed --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  after = Bytes(dir_ + "/all.onnx");
  EXPECT_NE(before["stft_basis"], after["stft_basis"]);
  EXPECT_NE(before["mel_fb"], after["mel_fb"]);
  const json all = Report();
  EXPECT_EQ(all["policy"]["reinit_fixed"], true);
  EXPECT_EQ(all["summary"]["fixed_kept"], 0);
  EXPECT_EQ(Entry(all, "stft_basis")["action"], "reinitialized");
  EXPECT_EQ(Entry(all, "stft_basis")["fixed"], "dft_basis");
  EXPECT_NE(Entry(all, "stft_basis")["reason"].get<std::string>().find("(reinit_fixed)"), std::string::npos);
}

TEST_F(CliFixed, OnlyFixedFrontEndKeepsBoth) {
  test::ToolResult r = Tool("plan " + test::ModelPath("graphs/only_fixed_frontend.onnx") + " --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json report = Report();
  EXPECT_EQ(report["summary"]["reinitialized"], 0);
  EXPECT_EQ(report["summary"]["fixed_kept"], 2);
  EXPECT_EQ(Entry(report, "stft_basis")["fixed"], "dft_basis");
  EXPECT_EQ(Entry(report, "mel_fb")["fixed"], "filterbank");
}

TEST_F(CliFixed, GaussianBlurKeptUnlessARuleNamesIt) {
  const std::string model = test::ModelPath("graphs/gaussian_blur.onnx");
  test::ToolResult r = Tool("plan " + model + " --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  json report = Report();
  EXPECT_EQ(Entry(report, "blur_kernel")["action"], "kept");
  EXPECT_EQ(Entry(report, "blur_kernel")["fixed"], "smoothing_kernel");
  EXPECT_EQ(Entry(report, "conv.weight")["scheme"], "he");
  EXPECT_NE(r.out.find("1 fixed constants kept"), std::string::npos) << r.out;

  // A rule for every Conv: the learned conv only, and a warning naming the blur.
  const std::string broad = Write("broad.yaml", "rules:\n  - match: {op: Conv}\n    init: {scheme: xavier}\n");
  r = Tool("plan " + model + " --config " + broad + " --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  report = Report();
  EXPECT_EQ(Entry(report, "blur_kernel")["action"], "kept");
  EXPECT_EQ(Entry(report, "conv.weight")["scheme"], "xavier");
  EXPECT_NE(r.err.find("blur_kernel (fixed smoothing kernel: a rule must name it, or use reinit_fixed)"), std::string::npos)
      << r.err;

  // A rule that names it.
  const std::string named = Write("named.yaml", "rules:\n  - match: {name: blur_kernel}\n    init: {scheme: xavier}\n");
  r = Tool("plan " + model + " --config " + named + " --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  report = Report();
  EXPECT_EQ(Entry(report, "blur_kernel")["action"], "reinitialized");
  EXPECT_EQ(Entry(report, "blur_kernel")["scheme"], "xavier");

  // The setting in a rules file, as the flag.
  const std::string setting = Write("setting.yaml", "reinit_fixed: true\n");
  r = Tool("plan " + model + " --config " + setting + " --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Entry(Report(), "blur_kernel")["action"], "reinitialized");
  const std::string bad = Write("bad.yaml", "reinit_fixed: maybe\n");
  r = Tool("plan " + model + " --config " + bad);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad.yaml:1: reinit_fixed must be true or false, not 'maybe'"), std::string::npos) << r.err;
}

TEST_F(CliFixed, CheckDoesNotMeasureFixedConstants) {
  test::ToolResult r = Tool("check " + test::ModelPath("graphs/stft_mel.onnx") + " --format json");
  ASSERT_TRUE(r.code == 0 || r.code == 6) << r.err;
  std::set<std::string> checked;
  const json report = json::parse(r.out);
  for (const auto& layer : report["layers"]) checked.insert(layer["name"].get<std::string>());
  EXPECT_EQ(checked, std::set<std::string>{"onnx::MatMul_29"});
}

// ---- bytes on disk ----

// A Conv1d STFT front end with n_fft 512 ([514, 1, 512]: 1,052,672 bytes, over the 1 MiB from which plan
// and rewrite leave inline bytes in the file) and a random front end as large.
onnx::ModelProto LargeFrontEnd() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[1,1,2048] wave) => (float[1,514,7] spec, float[1,514,7] learned) {
      spec = Conv <strides = [256]> (wave, stft_basis)
      learned = Conv <strides = [256]> (wave, learned_frontend)
    })");
  Add(m, "stft_basis", {514, 1, 512}, Flat(StftBasis(512, Window::kHannPeriodic, 400)));
  Add(m, "learned_frontend", {514, 1, 512}, RandomValues(514 * 512, 0.05, 6));
  return m;
}

TEST_F(CliFixed, LargeInlineTensorsLeftOnDiskAreExamined) {
  std::string bytes;
  ASSERT_TRUE(SerializeModel(LargeFrontEnd(), dir_ + "/front.onnx", &bytes).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/front.onnx", bytes).ok());
  test::ToolResult r = Tool("plan " + dir_ + "/front.onnx --stats --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("find-fixed-constants: examined = 2\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("find-fixed-constants: read whole = 1\n"), std::string::npos) << r.err;
  EXPECT_EQ(Entry(Report(), "stft_basis")["fixed"], "dft_basis");
  EXPECT_EQ(Entry(Report(), "learned_frontend")["action"], "reinitialized");
  r = Tool("rewrite " + dir_ + "/front.onnx -o " + dir_ + "/out.onnx -q");
  ASSERT_EQ(r.code, 0) << r.err;
  auto before = Bytes(dir_ + "/front.onnx"), after = Bytes(dir_ + "/out.onnx");
  EXPECT_EQ(before["stft_basis"], after["stft_basis"]);
  EXPECT_NE(before["learned_frontend"], after["learned_frontend"]);
}

TEST_F(CliFixed, ExternalDataIsExamined) {
  onnx::ModelProto m = LargeFrontEnd();
  std::ofstream data(dir_ + "/front.onnx.weights", std::ios::binary);
  int64_t offset = 0;
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    const std::string raw = t.raw_data();
    data.write(raw.data(), static_cast<std::streamsize>(raw.size()));
    PointAt(t, "front.onnx.weights", static_cast<uint64_t>(offset), raw.size());
    offset += static_cast<int64_t>(raw.size());
  }
  data.close();
  std::string bytes;
  ASSERT_TRUE(SerializeModel(m, dir_ + "/front.onnx", &bytes).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/front.onnx", bytes).ok());
  test::ToolResult r = Tool("plan " + dir_ + "/front.onnx --stats --report " + dir_ + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("find-fixed-constants: read whole = 1\n"), std::string::npos) << r.err;
  EXPECT_EQ(Entry(Report(), "stft_basis")["action"], "kept");
  EXPECT_EQ(Entry(Report(), "stft_basis")["fixed"], "dft_basis");
  EXPECT_EQ(Entry(Report(), "learned_frontend")["action"], "reinitialized");
}

// ---- nothing else is a fixed constant ----

struct Sweep {
  int64_t models = 0, examined = 0;
  std::map<std::string, Fixed> flagged;  // "model: tensor"
};

void SweepModel(const std::string& path, const std::string& label, Sweep& sweep) {
  onnx::ModelProto model;
  const Status loaded = LoadModel(path, &model);
  ASSERT_TRUE(loaded.ok()) << path << ": " << loaded.message();
  auto run = test::TryPasses(std::move(model), kFrontPasses);
  if (run->status.code() == ExitCode::kBadModel) return;  // refused as invalid (a cycle, a dangling input)
  ASSERT_TRUE(run->status.ok()) << path << ": " << run->status.message();
  ++sweep.models;
  sweep.examined += run->ctx.counters["find-fixed-constants"]["examined"];
  for (const auto& [name, kind] : Flagged(run->table)) sweep.flagged[label + ": " + name] = kind;
}

std::vector<std::string> OnnxFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".onnx") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(NoFalsePositives, BundledAndZooModels) {
  Sweep sweep;
  for (const std::string dir : {"", "zoo"}) {
    for (const auto& path : OnnxFiles(test::ModelPath(dir))) SweepModel(path, fs::path(path).filename(), sweep);
  }
  EXPECT_TRUE(sweep.flagged.empty()) << sweep.flagged.begin()->first;
  EXPECT_GE(sweep.models, 29);
  EXPECT_GE(sweep.examined, 150);  // the sweep looked at something: every conv and linear weight that could be one
}

TEST(NoFalsePositives, GraphModelsFlagOnlyTheirFixedFrontEnds) {
  Sweep sweep;
  for (const auto& path : OnnxFiles(test::ModelPath("graphs"))) SweepModel(path, fs::path(path).filename(), sweep);
  const std::map<std::string, Fixed> want = {
      {"gaussian_blur.onnx: blur_kernel", Fixed::kSmoothingKernel},
      {"only_fixed_frontend.onnx: mel_fb", Fixed::kFilterbank},
      {"only_fixed_frontend.onnx: stft_basis", Fixed::kDftBasis},
      {"stft_mel.onnx: mel_fb", Fixed::kFilterbank},
      {"stft_mel.onnx: stft_basis", Fixed::kDftBasis},
  };
  EXPECT_EQ(sweep.flagged, want);
  EXPECT_GE(sweep.examined, 40);
}

TEST(NoFalsePositives, PytorchConvertedTestData) {
  ASSERT_TRUE(fs::exists(kTestData)) << kTestData << " is missing: run scripts/bootstrap.sh (libonnx-testdata)";
  Sweep sweep;
  for (const auto& e : fs::directory_iterator(kTestData)) {
    SweepModel((e.path() / "model.onnx").string(), e.path().filename(), sweep);
  }
  EXPECT_TRUE(sweep.flagged.empty()) << sweep.flagged.begin()->first;
  EXPECT_EQ(sweep.models, 82);
  EXPECT_GE(sweep.examined, 20);
}

}  // namespace
}  // namespace reinit
