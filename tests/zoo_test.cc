// The test zoo: small exports of the torchvision architectures and other layer families
// (models/zoo, made by models/make_zoo.py), and the pytorch-converted models of Debian's
// libonnx-testdata (older opsets and IR versions). For every model: every parameter listed in the
// manifest is re-initialized and nothing else is, every other tensor and the graph are bit-identical,
// the model passes the checker with strict shape inference, and the report explains every tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "passes/io/model_io.h"
#include "tests/test_util.h"
#include "tool/options.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kTestData = "/usr/share/libonnx-testdata/data/pytorch-converted";

using Outcome = test::Rewritten;

Outcome Rewrite(const std::string& path, const std::string& tag) { return test::RewriteFile(path, tag, 1); }

// The contract every model must keep; returns the names the report re-initialized.
std::set<std::string> ExpectContract(const Outcome& r, const std::string& label) {
  std::vector<std::pair<std::string, bool>> rows;
  std::set<std::string> reinitialized;
  for (const auto& t : r.report["tensors"]) {
    EXPECT_FALSE(t["reason"].get<std::string>().empty()) << label << " " << t["name"];
    const bool re = t["action"] == "reinitialized";
    rows.emplace_back(t["name"], re);
    if (re) reinitialized.insert(t["name"].get<std::string>());
  }
  EXPECT_EQ(test::CompareRewrite(r.before, r.after, rows), "") << label;
  // The rewrite passes the checker whenever its input does (some old test models do not, with the
  // ONNX library of this system: their int64 Constant fails strict type checks at their opset).
  if (CheckModel(r.before, label).ok()) {
    Status s = CheckModel(r.after, label);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return reinitialized;
}

json Manifest() {
  std::ifstream in(test::ModelPath("zoo/manifest.json"));
  return json::parse(in);
}

class Zoo : public ::testing::TestWithParam<std::string> {};

TEST_P(Zoo, EveryParameterAndNothingElseIsReinitialized) {
  const std::string name = GetParam();
  const json manifest = Manifest();
  ASSERT_TRUE(manifest.contains(name)) << name;
  const std::set<std::string> expected = manifest[name]["parameters"].get<std::set<std::string>>();
  ASSERT_FALSE(expected.empty());
  Outcome r = Rewrite(test::ModelPath("zoo/" + name + ".onnx"), name);
  const std::set<std::string> got = ExpectContract(r, name);
  for (const auto& p : expected) EXPECT_TRUE(got.count(p)) << name << ": parameter " << p << " was not re-initialized";
  for (const auto& g : got) EXPECT_TRUE(expected.count(g)) << name << ": " << g << " is not a parameter";
}

std::vector<std::string> ZooNames() {
  std::vector<std::string> names;
  const json manifest = Manifest();
  for (const auto& [name, _] : manifest.items()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Models, Zoo, ::testing::ValuesIn(ZooNames()), [](const auto& info) { return info.param; });

// What the zoo's architectures must be seen as, layer by layer (the note's rules on real exports).
TEST(ZooDecisions, ArchitecturePatterns) {
  struct Expect {
    std::string model, tensor, field, value;
  };
  const std::vector<Expect> cases = {
      {"resnet_tiny", "layer1.conv2.weight", "activation", "relu"},            // residual Add, then ReLU
      {"resnet_tiny_bn_folded", "fc.weight", "scheme", "xavier"},
      {"mobilenet_v2_tiny", "features.0.0.weight", "activation", "relu6"},     // Clip(0, 6)
      {"mobilenet_v3_tiny", "features.0.0.weight", "activation", "hardswish"},
      {"efficientnet_tiny", "features.0.0.weight", "activation", "silu"},      // x * Sigmoid(x)
      {"convnext_tiny", "features.1.0.block.3.weight", "activation", "gelu"},  // decomposed with Erf
      {"convnext_tiny", "features.1.0.layer_scale", "role", "layer_scale"},
      {"convnext_tiny", "features.3.0.block.2.weight", "role", "norm_scale"},  // LayerNorm decomposed
      {"vit_tiny", "class_token", "role", "class_token"},
      {"vit_tiny", "encoder.pos_embedding", "role", "positional_embedding"},
      {"vit_tiny", "encoder.layers.encoder_layer_0.mlp.0.weight", "activation", "gelu"},
      {"vit_tiny", "encoder.layers.encoder_layer_0.self_attention.in_proj_bias", "role", "bias"},
      {"transformer_tied", "embed.weight", "role", "embedding"},
      {"transformer_tied", "encoder.layers.0.linear1.weight", "activation", "relu"},
      {"dcgan_generator", "main.0.weight", "activation", "relu"},              // ConvTranspose -> BN -> ReLU
      {"dcgan_generator", "main.6.weight", "activation", "tanh"},
      {"conv1d_net", "net.3.weight", "activation", "leaky_relu"},
      {"conv3d_net", "net.3.weight", "scheme", "lecun"},                       // SELU
      {"shufflenet_tiny", "conv1.0.weight", "activation", "relu"},
      {"regnet_tiny", "fc.weight", "scheme", "xavier"},
  };
  std::map<std::string, json> reports;
  for (const auto& c : cases) {
    if (!reports.count(c.model)) reports[c.model] = Rewrite(test::ModelPath("zoo/" + c.model + ".onnx"), c.model).report;
    bool found = false;
    for (const auto& t : reports[c.model]["tensors"]) {
      if (t["name"] != c.tensor) continue;
      found = true;
      EXPECT_EQ(t[c.field], c.value) << c.model << " " << c.tensor << ": " << t["reason"];
    }
    EXPECT_TRUE(found) << c.model << " has no tensor " << c.tensor;
  }
}

// Load: the whole zoo rewritten three times in a row in one process (under ASan/UBSan in the test
// command, so a leak or a memory error anywhere fails it), each time with the same bytes.
TEST(ZooLoad, EveryModelRewrittenThreeTimesGivesTheSameBytes) {
  const json manifest = Manifest();
  for (const auto& [name, _] : manifest.items()) {
    std::string first;
    for (int round = 0; round < 3; ++round) {
      const Outcome r = Rewrite(test::ModelPath("zoo/" + name + ".onnx"), name + "-load");
      const std::string bytes = r.after.SerializeAsString();
      if (round == 0) first = bytes;
      EXPECT_EQ(bytes, first) << name << " round " << round;
    }
  }
}

std::vector<std::string> TestDataModels() {
  std::vector<std::string> names;
  if (!fs::exists(kTestData)) return {"MISSING"};
  for (const auto& e : fs::directory_iterator(kTestData)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class PytorchConverted : public ::testing::TestWithParam<std::string> {};

TEST_P(PytorchConverted, KeepsTheContract) {
  ASSERT_NE(GetParam(), "MISSING") << kTestData << " is missing: run scripts/bootstrap.sh (libonnx-testdata)";
  const std::string path = std::string(kTestData) + "/" + GetParam() + "/model.onnx";
  Outcome r = Rewrite(path, GetParam());
  ExpectContract(r, GetParam());
}

INSTANTIATE_TEST_SUITE_P(LibOnnxTestData, PytorchConverted, ::testing::ValuesIn(TestDataModels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace reinit
