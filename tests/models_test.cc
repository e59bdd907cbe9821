// End to end on the bundled PyTorch exports in models/: the decisions the note asks for, a valid
// rewritten model, every tensor explained. Runs the commands in-process through RunCommand.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "passes/io/model_io.h"
#include "passes/gen/schemes.h"
#include "tests/test_util.h"
#include "tool/options.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using test::Rewritten;

Rewritten RewriteModel(const std::string& name) { return test::RewriteFile(test::ModelPath(name + ".onnx"), name, 3); }

const json& Entry(const json& report, const std::string& name) {
  for (const auto& t : report["tensors"]) {
    if (t["name"] == name) return t;
  }
  throw std::runtime_error("no report entry for " + name);
}

const onnx::TensorProto& Init(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer()) {
    if (t.name() == name) return t;
  }
  throw std::runtime_error("no initializer " + name);
}

struct MlpCase {
  std::string model;
  std::string activation;
  std::string scheme;
  double bound;  // of the first layer, 100 -> 50
};

class Mlp : public ::testing::TestWithParam<MlpCase> {};

TEST_P(Mlp, FirstLayerFollowsTheNoteAndHeadIsXavier) {
  const MlpCase& c = GetParam();
  Rewritten r = RewriteModel(c.model);
  const json& w = Entry(r.report, "0.weight");
  EXPECT_EQ(w["activation"], c.activation);
  EXPECT_EQ(w["scheme"], c.scheme);
  EXPECT_EQ(w["fan_in"], 100);
  EXPECT_EQ(w["fan_out"], 50);
  EXPECT_NEAR(w["bound"].get<double>(), c.bound, 1e-9);
  // The written values stay inside the bound and fill most of it (5000 draws: max is within 0.1% of b
  // with probability 1 - (1-0.001)^5000 > 0.99; use 1% to leave no room for flakiness).
  EXPECT_LE(w["stats"]["max"].get<double>(), c.bound);
  EXPECT_GE(w["stats"]["max"].get<double>(), 0.99 * c.bound);
  const json& head = Entry(r.report, "2.weight");
  EXPECT_EQ(head["scheme"], "xavier");
  EXPECT_NEAR(head["bound"].get<double>(), XavierBound(50, 10), 1e-12);
  EXPECT_EQ(Entry(r.report, "0.bias")["stats"]["max"], 0.0);
  Status s = CheckModel(r.after, c.model);
  EXPECT_TRUE(s.ok()) << s.message();
}

const double kA = 0.2f;  // LeakyReLU(0.2) as exported (a float attribute)

INSTANTIATE_TEST_SUITE_P(
    PerActivation, Mlp,
    ::testing::Values(MlpCase{"mlp_relu", "relu", "he", std::sqrt(6.0 / 100)},
                      MlpCase{"mlp_leaky_relu", "leaky_relu", "he", std::sqrt(6.0 / ((1 + kA * kA) * 100))},
                      MlpCase{"mlp_prelu", "prelu", "he", std::sqrt(6.0 / ((1 + 0.0625) * 100))},
                      MlpCase{"mlp_elu", "elu", "he", std::sqrt(6.0 / 100)},
                      MlpCase{"mlp_relu6", "relu6", "he", std::sqrt(6.0 / 100)},
                      MlpCase{"mlp_tanh", "tanh", "xavier", 0.2},
                      MlpCase{"mlp_sigmoid", "sigmoid", "xavier", 0.2},
                      MlpCase{"mlp_selu", "selu", "lecun", std::sqrt(3.0 / 100)}),
    [](const auto& info) { return info.param.model; });

TEST(Models, CnnWithBatchNorm) {
  Rewritten r = RewriteModel("cnn_bn");
  const json& conv2 = Entry(r.report, "features.4.weight");  // [16, 4, 3, 3], group 2
  EXPECT_EQ(conv2["fan_in"], 36);
  EXPECT_EQ(conv2["fan_out"], 72);
  EXPECT_EQ(conv2["activation"], "relu");
  EXPECT_EQ(conv2["activation_path"], json({"BatchNormalization", "Relu"}));
  for (const char* bn : {"features.1", "features.5"}) {
    const std::string prefix = bn;
    for (auto [suffix, value] : {std::pair<const char*, double>{".weight", 1.0}, {".bias", 0.0},
                                 {".running_mean", 0.0}, {".running_var", 1.0}}) {
      for (double x : test::Values(Init(r.after, prefix + suffix))) ASSERT_EQ(x, value) << prefix + suffix;
    }
  }
  EXPECT_EQ(r.report["summary"]["kept"], 0);
  Status s = CheckModel(r.after, "cnn_bn");
  EXPECT_TRUE(s.ok()) << s.message();
}

// R of a recurrent op: each [H, H] gate block of each direction is orthogonal (to float precision).
void ExpectOrthogonalBlocks(const onnx::TensorProto& r, int64_t gates) {
  const int64_t dirs = r.dims(0), hidden = r.dims(2);
  ASSERT_EQ(r.dims(1), gates * hidden);
  const std::vector<double> v = test::Values(r);
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (int64_t b = 0; b < dirs * gates; ++b) {
    Eigen::Map<const RowMatrix> q(v.data() + b * hidden * hidden, hidden, hidden);
    EXPECT_LT((q.transpose() * q - Eigen::MatrixXd::Identity(hidden, hidden)).cwiseAbs().maxCoeff(), 1e-6) << b;
  }
}

// The recurrent initializers, found by the role the report gives them (exporters name them freely).
std::map<std::string, std::string> ByRole(const json& report) {
  std::map<std::string, std::string> names;
  for (const auto& t : report["tensors"]) names[t["role"]] = t["name"];
  return names;
}

TEST(Models, Lstm) {
  Rewritten r = RewriteModel("lstm");
  auto names = ByRole(r.report);
  const json& w = Entry(r.report, names["recurrent_input_weight"]);
  EXPECT_EQ(w["gate_blocks"], 4);
  EXPECT_EQ(w["fan_in"], 10);
  EXPECT_EQ(w["fan_out"], 20);
  EXPECT_NEAR(w["bound"].get<double>(), XavierBound(10, 20), 1e-12);
  EXPECT_EQ(Entry(r.report, names["recurrent_hidden_weight"])["scheme"], "orthogonal");
  ExpectOrthogonalBlocks(Init(r.after, names["recurrent_hidden_weight"]), 4);
  for (double x : test::Values(Init(r.after, names["recurrent_bias"]))) ASSERT_EQ(x, 0.0);
  Status s = CheckModel(r.after, "lstm");
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(Models, BidirectionalGru) {
  Rewritten r = RewriteModel("gru_bidirectional");
  auto names = ByRole(r.report);
  const json& rr = Entry(r.report, names["recurrent_hidden_weight"]);
  EXPECT_EQ(rr["directions"], 2);
  EXPECT_EQ(rr["gate_blocks"], 3);
  ExpectOrthogonalBlocks(Init(r.after, names["recurrent_hidden_weight"]), 3);
  Status s = CheckModel(r.after, "gru_bidirectional");
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(Models, EveryBundledModelIsFullyExplainedAndOnlyParametersChange) {
  for (const auto& entry : fs::directory_iterator(std::string(REINIT_SOURCE_DIR) + "/models")) {
    if (entry.path().extension() != ".onnx") continue;
    const std::string name = entry.path().stem().string();
    Rewritten r = RewriteModel(name);
    std::vector<std::pair<std::string, bool>> rows;
    for (const auto& t : r.report["tensors"]) {
      EXPECT_FALSE(t["reason"].get<std::string>().empty()) << name << " " << t["name"];
      rows.emplace_back(t["name"], t["action"] == "reinitialized");
    }
    EXPECT_EQ(test::CompareRewrite(r.before, r.after, rows), "") << name;
  }
}

}  // namespace
}  // namespace reinit
