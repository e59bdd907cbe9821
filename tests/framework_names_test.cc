// passes/graph/framework_names.h and passes/io/safetensors.h: module paths from torch.onnx's node
// scopes, which names count as the exporter's, and the safetensors layout byte by byte. The whole
// round trip through PyTorch is tests/export_weights.py.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <iterator>

#include "onnx/onnx_pb.h"
#include "passes/graph/framework_names.h"
#include "passes/io/safetensors.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

TEST(ModulePathOf, JoinsScopesAndMergesQualifiedChildren) {
  EXPECT_EQ(ModulePathOf("/encoder/layer.3/attention/self/query/MatMul"), "encoder.layer.3.attention.self.query");
  EXPECT_EQ(ModulePathOf("/layer1/layer1.0/conv1/Conv"), "layer1.0.conv1");
  EXPECT_EQ(ModulePathOf("/features/features.3/features.3.0/Conv"), "features.3.0");
  EXPECT_EQ(ModulePathOf("/fc/Gemm"), "fc");
  // No module: the root's own op, an unscoped name, a scope that is no identifier path.
  EXPECT_EQ(ModulePathOf("/ReduceMean"), "");
  EXPECT_EQ(ModulePathOf("Gemm_12"), "");
  EXPECT_EQ(ModulePathOf("/a b/MatMul"), "");
}

TEST(ExporterGenerated, TellsKeptNamesFromGeneratedOnes) {
  for (const char* kept : {"fc.weight", "layer1.0.conv1.weight", "embed_tokens.weight", "w", "0.weight"}) {
    EXPECT_FALSE(ExporterGenerated(kept)) << kept;
  }
  for (const char* generated : {"onnx::MatMul_1234", "/fc/Constant_output_0", "Constant_3", "123", "fc.weight.untied.1",
                                "model/dense/kernel:0", ""}) {
    EXPECT_TRUE(ExporterGenerated(generated)) << generated;
  }
}

TEST(Safetensors, HeaderThenAlignedBytesWidestFirst) {
  const std::string path = test::TempDir("safetensors_layout") + "/layout.safetensors";
  const std::vector<float> f = {1.5f, -2.0f, 3.25f};
  const std::vector<double> d = {0.5, 7.0};
  auto bytes_of = [](const void* p, size_t n) {
    return [p, n](const ByteSink& sink) { return sink.write(static_cast<const char*>(p), n); };
  };
  std::vector<SafetensorsEntry> entries = {
      {"b.weight", onnx::TensorProto::FLOAT, {3}, bytes_of(f.data(), 12)},
      {"a.scale", onnx::TensorProto::DOUBLE, {1, 2}, bytes_of(d.data(), 16)},
  };
  AtomicFile file(path, false);
  ASSERT_TRUE(file.Open().ok());
  ASSERT_TRUE(WriteSafetensors(entries, {{"seed", "7"}}, &file).ok());
  ASSERT_TRUE(file.Commit().ok());
  std::ifstream in(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(data[i]);
  ASSERT_EQ((8 + n) % 8, 0u);
  const auto header = nlohmann::json::parse(data.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["seed"], "7");
  // The 8-byte double comes first, whatever the order given.
  EXPECT_EQ(header["a.scale"]["dtype"], "F64");
  EXPECT_EQ(header["a.scale"]["shape"], nlohmann::json({1, 2}));
  EXPECT_EQ(header["a.scale"]["data_offsets"], nlohmann::json({0, 16}));
  EXPECT_EQ(header["b.weight"]["dtype"], "F32");
  EXPECT_EQ(header["b.weight"]["data_offsets"], nlohmann::json({16, 28}));
  ASSERT_EQ(data.size(), 8 + n + 28);
  EXPECT_EQ(0, std::memcmp(data.data() + 8 + n, d.data(), 16));
  EXPECT_EQ(0, std::memcmp(data.data() + 8 + n + 16, f.data(), 12));
}

TEST(Safetensors, WrongLengthAndUnknownDtypeFail) {
  const std::string path = test::TempDir("safetensors_bad") + "/bad.safetensors";
  const float one = 1;
  std::vector<SafetensorsEntry> short_bytes = {{"x", onnx::TensorProto::FLOAT, {2},
                                                [&](const ByteSink& sink) {
                                                  return sink.write(reinterpret_cast<const char*>(&one), 4);
                                                }}};
  AtomicFile file(path, false);
  ASSERT_TRUE(file.Open().ok());
  EXPECT_EQ(WriteSafetensors(short_bytes, {}, &file).code(), ExitCode::kInternal);
  std::vector<SafetensorsEntry> strings = {{"s", onnx::TensorProto::STRING, {1}, nullptr}};
  AtomicFile file2(path + ".2", false);
  ASSERT_TRUE(file2.Open().ok());
  const Status s = WriteSafetensors(strings, {}, &file2);
  EXPECT_EQ(s.code(), ExitCode::kUnsupported);
  EXPECT_NE(s.message().find("'s'"), std::string::npos);
}

}  // namespace
}  // namespace reinit
