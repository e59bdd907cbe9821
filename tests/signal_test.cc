// Signal propagation (passes/graph/signal.h, passes/graph/gaussian_moments.h, the audit-signal pass):
// the quadrature against direct integration, and the propagated moments against mean-field recursions
// worked out here by direct integration, on chains whose answer is known. The predictions against
// measurement in ONNX Runtime are tests/audit/audit_measured.py.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "passes/graph/gaussian_moments.h"
#include "passes/graph/signal.h"
#include "passes/pipeline_run.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

// E[f(z)^2] for z ~ N(mean, var) by the trapezoid rule on a fine grid: a method independent of the
// quadrature under test.
double SecondByTrapezoid(const std::function<double(double)>& f, double mean, double var) {
  const double s = std::sqrt(var);
  const int n = 200000;
  const double lo = mean - 12 * s, h = 24 * s / n;
  double sum = 0;
  for (int i = 0; i <= n; ++i) {
    const double z = lo + i * h, t = (z - mean) / s;
    const double w = (i == 0 || i == n) ? 0.5 : 1.0;
    const double y = f(z);
    sum += w * y * y * std::exp(-0.5 * t * t);
  }
  return sum * h / (s * std::sqrt(2 * M_PI));
}

double Gelu(double z) { return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0))); }
double Silu(double z) { return z / (1 + std::exp(-z)); }

TEST(GaussianMoments, MatchDirectIntegration) {
  const std::vector<std::pair<const char*, std::function<double(double)>>> functions = {
      {"tanh", [](double z) { return std::tanh(z); }},
      {"gelu", Gelu},
      {"silu", Silu},
      {"relu6", [](double z) { return std::clamp(z, 0.0, 6.0); }},
      {"selu", [](double z) { return 1.0507 * (z > 0 ? z : 1.67326 * std::expm1(z)); }}};
  for (const auto& [name, f] : functions) {
    for (auto [mean, var] : {std::pair{0.0, 1.0}, {0.3, 2.5}, {-0.5, 0.2}}) {
      const double expected = SecondByTrapezoid(f, mean, var);
      EXPECT_NEAR(GaussianMoments(f, mean, var).second, expected, 2e-4 * std::max(1.0, expected))
          << name << " mean " << mean << " var " << var;
    }
  }
  // Polynomials are exact: z -> 3z + 1 has E = 3m + 1, E[f^2] = 9(v + m^2) + 6m + 1, f' = 3.
  const FunctionMoments m = GaussianMoments([](double z) { return 3 * z + 1; }, 0.4, 2.0);
  EXPECT_NEAR(m.mean, 2.2, 1e-12);
  EXPECT_NEAR(m.second, 9 * 2.16 + 2.4 + 1, 1e-10);
  EXPECT_NEAR(m.slope_second, 9, 1e-6);
}

TEST(GaussianMoments, LeakyReluClosedFormMatchesIntegration) {
  for (double slope : {0.0, 0.01, 0.25}) {
    for (auto [mean, var] : {std::pair{0.0, 1.0}, {0.7, 0.5}, {-1.0, 3.0}}) {
      auto f = [slope](double z) { return z > 0 ? z : slope * z; };
      const FunctionMoments m = LeakyReluMoments(slope, mean, var);
      EXPECT_NEAR(m.second, SecondByTrapezoid(f, mean, var), 1e-6) << slope << " " << mean;
    }
  }
  // ReLU of N(0, v): E[relu^2] = v / 2, and half the slopes are 1.
  EXPECT_NEAR(LeakyReluMoments(0, 0, 4).second, 2, 1e-12);
  EXPECT_NEAR(LeakyReluMoments(0, 0, 4).slope_second, 0.5, 1e-12);
}

// A chain of `depth` square Gemm layers of width `width`, `activation` after each but the last.
onnx::ModelProto Chain(int depth, int width, const std::string& activation) {
  std::string nodes, inits;
  std::string x = "x";
  for (int i = 0; i < depth; ++i) {
    const std::string w = "W" + std::to_string(i), b = "B" + std::to_string(i), y = "y" + std::to_string(i);
    nodes += "  " + y + " = Gemm <transB = 1> (" + x + ", " + w + ", " + b + ")\n";
    x = y;
    if (i + 1 < depth && !activation.empty()) {
      const std::string a = "a" + std::to_string(i);
      nodes += "  " + a + " = " + activation + "(" + x + ")\n";
      x = a;
    }
  }
  nodes += "  out = Identity(" + x + ")\n";
  onnx::ModelProto model = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, )" + std::to_string(width) + R"(] x) => (float[N, )" + std::to_string(width) + R"(] out) {
)" + nodes + "}\n");
  for (int i = 0; i < depth; ++i) {
    test::AddInitializer(model, "W" + std::to_string(i), {width, width});
    test::AddInitializer(model, "B" + std::to_string(i), {width});
  }
  return model;
}

// The planned audit of a model under a policy (the plan pipeline with the audit asked for); the
// mean-field rules are checked with the finite-width correction off.
SignalAudit PlannedAudit(onnx::ModelProto model, Policy policy = {}, bool finite_width = true) {
  PipelineRun run(std::move(model), std::move(policy));
  run.ctx().signal.requested = true;
  run.ctx().signal.options.finite_width = finite_width;
  const Status status = run.Run(PlanPipeline());
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(run.ctx().signal.audit.has_value());
  return run.ctx().signal.audit.value_or(SignalAudit{});
}

TEST(SignalAudit, HeReluChainKeepsForwardAndBackwardConstant) {
  // He: E[w^2] = 2/n. The first layer sees N(0, 1) inputs, so q = 2; after it ReLU halves q and the next
  // layer doubles it again (the He argument). The linear head is Xavier (E[w^2] = 1/n): q = 1. Backward:
  // the head gives g = n * 1/n = 1 at its input, each ReLU halves it and each He layer doubles it back.
  const int depth = 6;
  const SignalAudit audit = PlannedAudit(Chain(depth, 64, "Relu"), {}, /*finite_width=*/false);
  ASSERT_EQ(audit.layers.size(), static_cast<size_t>(depth));
  for (int l = 0; l < depth; ++l) {
    const LayerSignal& layer = audit.layers[l];
    EXPECT_NEAR(layer.forward_std, l + 1 < depth ? std::sqrt(2.0) : 1.0, 1e-9) << layer.name;
    EXPECT_NEAR(layer.backward_std, 1.0, 1e-9) << layer.name;
    EXPECT_EQ(layer.depth, l + 1);
  }
  EXPECT_NEAR(audit.layers[0].activation_std, std::sqrt(2 * (0.5 - 1 / (2 * M_PI))), 1e-6);  // std of relu(N(0,2))
  EXPECT_NEAR(audit.forward_ratio, 1, 1e-9);  // the head is left out of the ratios
  EXPECT_NEAR(audit.backward_ratio, 1, 1e-9);
  EXPECT_EQ(audit.forward_verdict, "stable");
  EXPECT_EQ(audit.backward_verdict, "stable");
}

TEST(SignalAudit, XavierTanhChainDecaysAsTheMeanFieldRecursion) {
  // Xavier on a square layer: E[w^2] = 1/n, so q_{l+1} = E[tanh(z)^2], z ~ N(0, q_l), from q_1 = 1.
  const int depth = 30;
  const SignalAudit audit = PlannedAudit(Chain(depth, 64, "Tanh"), {}, /*finite_width=*/false);
  // With the finite-width correction, at width 64: tanh's variance map is concave, so samples whose
  // scale strays lose a little more than mean field says; nearly linear where q is small, it stays
  // within 6% over 30 layers (the exact single-input chain, sampled, is 3.1% below mean field at depth
  // 19; the correction says 3.4%).
  const SignalAudit finite = PlannedAudit(Chain(depth, 64, "Tanh"));
  ASSERT_EQ(audit.layers.size(), static_cast<size_t>(depth));
  double q = 1;
  for (int l = 0; l < depth; ++l) {
    EXPECT_NEAR(audit.layers[l].forward_std, std::sqrt(q), 1e-4 * std::sqrt(q)) << l;
    EXPECT_LE(finite.layers[l].forward_std, std::sqrt(q) * (1 + 1e-9)) << l;
    EXPECT_GT(finite.layers[l].forward_std, 0.94 * std::sqrt(q)) << l;
    q = SecondByTrapezoid([](double z) { return std::tanh(z); }, 0, q);
  }
  EXPECT_LT(audit.forward_ratio, 0.5);
  EXPECT_EQ(audit.forward_verdict, "vanishing");
}

TEST(SignalAudit, PreserveSignalHoldsATanhChainAtItsInputLevel) {
  Policy policy;
  policy.preserve_signal = true;
  onnx::ModelProto model = Chain(30, 64, "Tanh");
  PipelineRun run(std::move(model), policy);
  run.ctx().signal.requested = true;
  ASSERT_TRUE(run.Run(PlanPipeline()).ok());
  const SignalAudit& audit = *run.ctx().signal.audit;
  for (const LayerSignal& layer : audit.layers) EXPECT_NEAR(layer.forward_std, 1.0, 1e-6) << layer.name;
  EXPECT_EQ(audit.forward_verdict, "stable");
  // The factors reach the plan: each weight's std and gain, and the reason says why.
  const ParamRow* w5 = nullptr;
  for (const ParamRow& row : run.table()) {
    if (row.name == "W5") w5 = &row;
  }
  ASSERT_NE(w5, nullptr);
  EXPECT_GT(w5->init.gain, 1.0);
  EXPECT_NEAR(w5->init.std, w5->init.gain / std::sqrt(64.0), 1e-12);  // Xavier n = 64, times the gain
  EXPECT_NE(w5->init.reason.find("preserve-signal"), std::string::npos) << w5->init.reason;
}

// The same MLP with GELU fused and decomposed the way exporters write it, and SiLU as x * Sigmoid(x).
TEST(SignalAudit, DecomposedActivationsAreExact) {
  auto model = [](const std::string& act) {
    onnx::ModelProto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 20]>
agraph (float[N, 32] x) => (float[N, 32] out) {
  y0 = Gemm <transB = 1> (x, W0, B0)
)" + act + R"(
  out = Gemm <transB = 1> (a0, W1, B1)
})");
    for (const char* w : {"W0", "W1"}) test::AddInitializer(m, w, {32, 32});
    for (const char* b : {"B0", "B1"}) test::AddInitializer(m, b, {32});
    return m;
  };
  const SignalAudit fused = PlannedAudit(model("  a0 = Gelu(y0)"));
  const SignalAudit decomposed = PlannedAudit(model(R"(  two = Constant <value = float {1.4142135}> ()
  half = Constant <value = float {0.5}> ()
  one = Constant <value = float {1.0}> ()
  d = Div(y0, two)
  e = Erf(d)
  p = Add(e, one)
  m = Mul(y0, p)
  a0 = Mul(m, half))"));
  ASSERT_EQ(fused.layers.size(), 2u);
  ASSERT_EQ(decomposed.layers.size(), 2u);
  EXPECT_NEAR(decomposed.layers[1].forward_std, fused.layers[1].forward_std, 1e-6);
  EXPECT_NEAR(decomposed.layers[0].activation_std, fused.layers[0].activation_std, 1e-6);
  EXPECT_NEAR(decomposed.layers[0].backward_std, fused.layers[0].backward_std, 1e-6);
  const SignalAudit silu = PlannedAudit(model("  s = Sigmoid(y0)\n  a0 = Mul(y0, s)"), {}, /*finite_width=*/false);
  // Layer 0 is He (SiLU is of the ReLU family): q = 2; layer 1 (Xavier, E[w^2] = 1/32) gets E[silu^2] * 32/32.
  const double q0 = silu.layers[0].forward_std * silu.layers[0].forward_std;
  EXPECT_NEAR(q0, 2.0, 1e-9);
  EXPECT_NEAR(silu.layers[1].forward_std, std::sqrt(SecondByTrapezoid(Silu, 0, q0)), 1e-5);
}

// A channel Concat of a positive part (a ReLU's output) and a centred one (a layer's), then ReLU: each part
// goes through the ReLU on its own, as a Gaussian of its own moments, not as one Gaussian of their
// pooled moments (whose positive mean would cut the centred part less than half).
TEST(SignalAudit, ConcatPartsGoThroughAnActivationApart) {
  onnx::ModelProto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, 64] x) => (float[N, 64] out) {
  y0 = Gemm <transB = 1> (x, W0, B0)
  a0 = Relu(y0)
  y1 = Gemm <transB = 1> (x, W1, B1)
  c = Concat <axis = 1> (a0, y1)
  r = Relu(c)
  out = Gemm <transB = 1> (r, W2, B2)
})");
  for (const char* w : {"W0", "W1"}) test::AddInitializer(m, w, {64, 64});
  test::AddInitializer(m, "W2", {64, 128});
  for (const char* b : {"B0", "B1", "B2"}) test::AddInitializer(m, b, {64});
  PipelineRun run(std::move(m), Policy{});
  run.ctx().signal.requested = true;
  run.ctx().signal.options.finite_width = false;
  ASSERT_TRUE(run.Run(PlanPipeline()).ok());
  const SignalAudit& audit = *run.ctx().signal.audit;
  ASSERT_EQ(audit.layers.size(), 3u);
  double w0 = 0, w1 = 0, w2 = 0;
  for (const ParamRow& row : run.table()) {
    const double second = row.init.std * row.init.std;
    if (row.name == "W0") w0 = second;
    if (row.name == "W1") w1 = second;
    if (row.name == "W2") w2 = second;
  }
  ASSERT_GT(w0, 0);
  ASSERT_GT(w1, 0);
  ASSERT_GT(w2, 0);
  const double q0 = std::pow(audit.layers[0].forward_std, 2), q1 = std::pow(audit.layers[1].forward_std, 2);
  // Part a0: mean sqrt(q0 / 2 pi), second moment q0 / 2, through ReLU as N(mean, var); part y1: N(0, q1),
  // halved. The last layer sums 128 of the average.
  const double m_a = std::sqrt(q0 / (2 * M_PI)), s_a = q0 / 2;
  const double relu_a = LeakyReluMoments(0, m_a, s_a - m_a * m_a).second, relu_b = q1 / 2;
  EXPECT_NEAR(std::pow(audit.layers[2].forward_std, 2), 128 * w2 * (relu_a + relu_b) / 2, 1e-6 * q0);
  // The pooled Gaussian the parts replace says something else (the test tells them apart).
  const double m_pooled = m_a / 2, q_pooled = (s_a + q1) / 2;
  EXPECT_GT(std::fabs(LeakyReluMoments(0, m_pooled, q_pooled - m_pooled * m_pooled).second - (relu_a + relu_b) / 2), 0.05);
  // Backward, each part through its own slope: the ReLU passes part a0 P(N(m, var) > 0) of its gradient
  // (then a0's own ReLU halves it), part y1 half. Through one pooled slope both would get the same.
  const double slope_a = LeakyReluMoments(0, m_a, s_a - m_a * m_a).slope_second;
  EXPECT_NEAR(std::pow(audit.layers[0].backward_std / audit.layers[1].backward_std, 2), slope_a * w0 / w1, 1e-6);
}

// Two independent branches meeting in a residual Add: second moments add.
TEST(SignalAudit, ResidualAddAddsTheBranches) {
  onnx::ModelProto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, 64] x) => (float[N, 64] out) {
  y0 = Gemm <transB = 1> (x, W0, B0)
  r = Add(y0, x)
  out = Gemm <transB = 1> (r, W1, B1)
})");
  for (const char* w : {"W0", "W1"}) test::AddInitializer(m, w, {64, 64});
  for (const char* b : {"B0", "B1"}) test::AddInitializer(m, b, {64});
  const SignalAudit audit = PlannedAudit(std::move(m));
  ASSERT_EQ(audit.layers.size(), 2u);
  // Xavier square: E[w^2] = 1/n. Branch q = 1, skip q = 1, sum 2; the next layer keeps it.
  EXPECT_NEAR(audit.layers[0].forward_std, 1.0, 1e-9);
  EXPECT_NEAR(audit.layers[1].forward_std, std::sqrt(2.0), 1e-9);
  EXPECT_TRUE(audit.layers[0].residual_end);
  EXPECT_EQ(audit.layers[1].depth, 2);
}

// Fixup zeroes each branch's last layer: that layer and, for the gradient, the branch layers before it
// are no endpoints of the ratios (which would be 0 and 0/0); the stream itself is what is measured.
TEST(SignalAudit, ZeroInitializedBranchEndsAreNoRatioEndpoints) {
  onnx::ModelProto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, 64] x) => (float[N, 8] out) {
  h = Gemm <transB = 1> (x, W0, B0)
  a1 = Gemm <transB = 1> (h, W1, B1)  r1 = Relu(a1)  b1 = Gemm <transB = 1> (r1, W2, B2)  s1 = Add(h, b1)
  a2 = Gemm <transB = 1> (s1, W3, B3)  r2 = Relu(a2)  b2 = Gemm <transB = 1> (r2, W4, B4)  s2 = Add(s1, b2)
  out = Gemm <transB = 1> (s2, W5, B5)
})");
  for (const char* w : {"W0", "W1", "W2", "W3", "W4"}) test::AddInitializer(m, w, {64, 64});
  test::AddInitializer(m, "W5", {8, 64});
  for (const char* b : {"B0", "B1", "B2", "B3", "B4"}) test::AddInitializer(m, b, {64});
  test::AddInitializer(m, "B5", {8});
  Policy p;
  p.residual = ResidualScaling::kFixup;
  const SignalAudit audit = PlannedAudit(std::move(m), p);
  ASSERT_EQ(audit.layers.size(), 6u);
  EXPECT_TRUE(audit.layers[2].zero_weights);  // W2, W4: the branch ends
  EXPECT_TRUE(audit.layers[4].zero_weights);
  EXPECT_EQ(audit.layers[3].backward_std, 0.0);  // W3 gets no gradient through W4 = 0
  // The stream h -> s1 -> s2 is h itself (the branches add 0): the forward ratio is W3's input layer
  // over W0, both reading the stream, and the gradient reaches W0 and W5 unchanged in scale.
  EXPECT_TRUE(std::isfinite(audit.forward_ratio) && audit.forward_ratio > 0);
  EXPECT_TRUE(std::isfinite(audit.backward_ratio) && audit.backward_ratio > 0);
  EXPECT_EQ(audit.forward_verdict, "stable");
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// The audit command on a 30-layer tanh MLP: the decay is reported, --fail-outside turns it into exit 6
// (nothing else changes: the report and plot are still written), --preserve-signal fixes it, and the
// plot is a self-contained SVG with a marker per layer and line.
class AuditCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    model_ = dir_ + "/tanh30.onnx";
    std::ofstream(model_, std::ios::binary) << Chain(30, 64, "Tanh").SerializeAsString();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  test::ToolResult Tool(const std::string& args) { return test::RunTool(args, dir_); }

  std::string dir_, model_;
};

TEST_F(AuditCommand, FailOutsideExitsSixAndWritesTheReportAndPlot) {
  const auto r = Tool("audit " + model_ + " --planned --fail-outside 0.5,2 --plot " + dir_ + "/p.svg --report " +
                      dir_ + "/r.json");
  EXPECT_EQ(r.code, 6) << r.err;
  EXPECT_NE(r.err.find("outside --fail-outside 0.5,2"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("(vanishing)"), std::string::npos) << r.out;
  const auto report = nlohmann::json::parse(test::Slurp(dir_ + "/r.json"));
  ASSERT_EQ(report["audit"]["layers"].size(), 30u);
  EXPECT_EQ(report["command"], "audit");
  EXPECT_EQ(report["audit"]["forward_verdict"], "vanishing");
  EXPECT_LT(report["audit"]["forward_ratio"].get<double>(), 0.5);
  const std::string svg = test::Slurp(dir_ + "/p.svg");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 60u);  // forward and backward, one per layer

  // Held forward, the tanh chain's gradient grows instead (E[tanh'^2] > E[tanh^2] at the held level):
  // the audit says so, and --fail-outside checks both directions.
  const auto fixed = Tool("audit " + model_ + " --planned --preserve-signal --format json");
  EXPECT_EQ(fixed.code, 0) << fixed.err;
  const auto audit = nlohmann::json::parse(fixed.out)["audit"];
  EXPECT_NEAR(audit["forward_ratio"].get<double>(), 1.0, 1e-6);
  EXPECT_EQ(audit["forward_verdict"], "stable");
  EXPECT_EQ(audit["backward_verdict"], "exploding");
  EXPECT_EQ(Tool("audit " + model_ + " --planned --preserve-signal --fail-outside 0.8,1.25").code, 6);
}

// A model rewritten with --preserve-signal checks clean against the same policy, and off against the
// plain one (its deeper layers' gains are far from 1).
TEST_F(AuditCommand, CheckKnowsPreserveSignal) {
  const std::string out = dir_ + "/fresh.onnx";
  ASSERT_EQ(Tool("rewrite " + model_ + " -o " + out + " --seed 3 --preserve-signal").code, 0);
  const auto same = Tool("check " + out + " --preserve-signal");
  EXPECT_EQ(same.code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("0 off"), std::string::npos) << same.out;
  EXPECT_EQ(Tool("check " + out).code, 6);
}

TEST_F(AuditCommand, PlanPrintsTheAuditWithItsTableAndBadValuesAreUsageErrors) {
  const auto r = Tool("plan " + model_ + " --audit");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("60 tensors"), std::string::npos) << r.out;  // the plan's table first
  EXPECT_NE(r.out.find("forward: last/first std"), std::string::npos) << r.out;
  for (const char* bad : {"--bn sometimes", "--fail-outside 2,1", "--fail-outside 1", "--input-std 0"}) {
    const std::string flag = std::string(bad).substr(0, std::string(bad).find(' '));
    const auto u = Tool("audit " + model_ + " " + bad + " --report " + dir_ + "/bad.json --plot " + dir_ + "/bad.svg");
    EXPECT_EQ(u.code, 2) << bad << ": " << u.err;
    EXPECT_NE(u.err.find("error: " + flag), std::string::npos) << bad << ": " << u.err;  // names the option
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/bad.json")) << bad;                      // nothing written
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/bad.svg")) << bad;
  }
  EXPECT_EQ(Tool("check " + model_ + " --planned").code, 2);  // an option of audit only
}

}  // namespace
}  // namespace reinit
