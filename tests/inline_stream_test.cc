// Streaming large inline tensors (passes/io/inline_split.h): the wire walk, and rewrite with every
// initializer streamed giving the very bytes and report of the in-memory rewrite.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "passes/io/inline_split.h"
#include "passes/io/model_io.h"
#include "tests/test_util.h"
#include "tool/session.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;

// A model with initializers of every kind the walk must tell apart.
onnx::ModelProto Mixed() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,64] X) => (float[2,64] Y) { H = MatMul(X, W)  Y = Add(H, B) })");
  test::AddInitializer(m, "W", {64, 64});                   // raw_data, large: split
  test::AddInitializer(m, "B", {64});                       // raw_data, small: kept in the skeleton
  auto* f = test::AddInitializer(m, "F", {64, 64});         // float_data, not raw_data: kept
  std::string raw = f->raw_data();
  f->clear_raw_data();
  for (size_t i = 0; i < raw.size() / 4; ++i) f->add_float_data(0.5f * i);
  auto* e = test::AddInitializer(m, "E", {64, 64});         // raw_data and an external-data field: kept
  auto* entry = e->add_external_data();
  entry->set_key("location");
  entry->set_value("x");
  test::AddInitializer(m, "V", {32, 64});                   // large again: split
  auto* both = test::AddInitializer(m, "T", {64, 64});      // raw_data and float_data (invalid): kept whole
  both->add_float_data(1.0f);
  return m;
}

TEST(InlineSplit, SkeletonPlusTheLeftOutBytesIsTheFile) {
  const std::string dir = test::TempDir("inline-split");
  const onnx::ModelProto m = Mixed();
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  const std::string path = dir + "/m.onnx";
  std::ofstream(path, std::ios::binary) << bytes;
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string skeleton;
  std::vector<SplitTensor> split;
  ASSERT_TRUE(SplitLargeInitializers(fd, static_cast<int64_t>(bytes.size()), 1024, &skeleton, &split));
  ::close(fd);
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[0].index, 0);  // W
  EXPECT_EQ(split[1].index, 4);  // V
  EXPECT_EQ(split[0].length, 64 * 64 * 4);
  EXPECT_EQ(bytes.substr(static_cast<size_t>(split[0].offset), static_cast<size_t>(split[0].length)),
            m.graph().initializer(0).raw_data());
  onnx::ModelProto parsed;
  ASSERT_TRUE(parsed.ParseFromString(skeleton));
  EXPECT_FALSE(parsed.graph().initializer(0).has_raw_data());
  EXPECT_EQ(parsed.graph().initializer(1).raw_data(), m.graph().initializer(1).raw_data());
  EXPECT_EQ(parsed.graph().initializer(2).float_data_size(), 64 * 64);
  EXPECT_EQ(parsed.graph().initializer(3).raw_data(), m.graph().initializer(3).raw_data());
  EXPECT_EQ(parsed.graph().initializer(5).raw_data(), m.graph().initializer(5).raw_data());
  // Written back with the same bytes: protobuf's own serialization of the original, byte for byte.
  std::map<int, int64_t> lengths;
  for (const auto& t : split) lengths[t.index] = t.length;
  std::string out;
  ByteSink to_string;
  to_string.write = [&](const char* data, size_t n) {
    out.append(data, n);
    return Status::Ok();
  };
  ASSERT_TRUE(WriteWithRawData(skeleton, lengths,
                               [&](int index, const ByteSink& sink) {
                                 const std::string& raw = m.graph().initializer(index).raw_data();
                                 return sink.write(raw.data(), raw.size());
                               },
                               to_string)
                  .ok());
  EXPECT_TRUE(out == bytes);
  // A producer that gives too few or too many bytes is an error, not a corrupt file.
  for (const size_t wrong : {size_t{1}, size_t{64 * 64 * 4 + 1}}) {
    const std::string junk(wrong, 'x');
    EXPECT_FALSE(WriteWithRawData(
                     skeleton, lengths, [&](int, const ByteSink& sink) { return sink.write(junk.data(), junk.size()); },
                     to_string)
                     .ok());
  }
  fs::remove_all(dir);
}

TEST(InlineSplit, WhatTheWalkDoesNotUnderstandIsLeftToProtobuf) {
  const std::string dir = test::TempDir("inline-split-bad");
  for (const std::string& bytes : {std::string("\x3a\xff\xff\xff\x0f", 5),  // graph longer than the file
                                   std::string("\x3b\x00", 2)}) {            // a group
    const std::string path = dir + "/bad.onnx";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    const int fd = ::open(path.c_str(), O_RDONLY);
    std::string skeleton;
    std::vector<SplitTensor> split;
    EXPECT_FALSE(SplitLargeInitializers(fd, static_cast<int64_t>(bytes.size()), 1, &skeleton, &split));
    ::close(fd);
    onnx::ModelProto m;
    LoadOptions options;
    options.split_threshold = 1;
    Loaded loaded;
    loaded.split.push_back({});
    EXPECT_EQ(LoadModel(path, &m, options, &loaded).code(), ExitCode::kBadModel);
    EXPECT_TRUE(loaded.split.empty());
  }
  fs::remove_all(dir);
}

// A streamed tensor whose bytes do not match its shape, and one with raw_data next to typed data, are
// refused exactly as in memory: same exit code, same message.
TEST(InlineStream, BadStorageIsRefusedAsInMemory) {
  const std::string dir = test::TempDir("inline-stream-bad");
  for (const bool typed_too : {false, true}) {
    auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
      g (float[2,64] X) => (float[2,64] Y) { H = MatMul(X, W)  Y = Relu(H) })");
    auto* w = test::AddInitializer(m, "W", {64, 64});
    if (typed_too) w->add_float_data(1.0f);
    else w->mutable_raw_data()->append(4, '\0');
    const std::string path = dir + "/bad.onnx";
    std::string bytes;
    ASSERT_TRUE(m.SerializeToString(&bytes));
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    std::string errors[2];
    int codes[2];
    for (int streamed = 0; streamed < 2; ++streamed) {
      Options o;
      o.command = "rewrite";
      o.input = path;
      o.output = dir + "/out.onnx";
      o.stream_threshold = streamed ? 1 : 0;
      std::ostringstream out, err;
      codes[streamed] = RunCommand(o, out, err);
      errors[streamed] = err.str();
    }
    EXPECT_EQ(codes[0], 3) << errors[0];
    EXPECT_EQ(codes[1], codes[0]);
    EXPECT_EQ(errors[1], errors[0]);
    EXPECT_FALSE(fs::exists(dir + "/out.onnx"));
  }
  fs::remove_all(dir);
}

// The whole rewrite with every initializer streamed (threshold 1 byte), against the in-memory rewrite:
// the same output bytes and the same report, for the bundled models and the zoo, with everything
// regenerated and with only the head regenerated (the rest copied from the input); and the same plan.
TEST(InlineStream, RewriteGivesTheInMemoryBytesAndReport) {
  std::vector<std::string> models;
  for (const auto& dir : {test::ModelPath(""), test::ModelPath("zoo")}) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".onnx") models.push_back(e.path().string());
    }
  }
  ASSERT_GT(models.size(), 20u);
  const std::string dir = test::TempDir("inline-stream");
  for (const auto& model : models) {
    for (const bool head_only : {false, true}) {
      std::string bytes[2], reports[2];
      for (int streamed = 0; streamed < 2; ++streamed) {
        Options o;
        o.command = "rewrite";
        o.input = model;
        o.output = dir + "/out" + std::to_string(streamed) + ".onnx";
        o.report = dir + "/report" + std::to_string(streamed) + ".json";
        o.Set("seed", "11");
        o.stream_threshold = streamed ? 1 : 0;
        if (head_only) o.Set("reinit_last", "1");
        std::ostringstream out, err;
        ASSERT_EQ(RunCommand(o, out, err), 0) << model << ": " << err.str();
        bytes[streamed] = test::Slurp(o.output);
        nlohmann::json report = nlohmann::json::parse(test::Slurp(o.report));
        report["output"].erase("path");
        reports[streamed] = report.dump();
      }
      EXPECT_TRUE(bytes[0] == bytes[1]) << model << (head_only ? " (head only)" : "");
      EXPECT_EQ(reports[0], reports[1]) << model;
    }
    // plan reads no values: the same plan either way.
    std::string plans[2];
    for (int streamed = 0; streamed < 2; ++streamed) {
      Options o;
      o.command = "plan";
      o.input = model;
      o.format = OutputFormat::kJson;
      o.stream_threshold = streamed ? 1 : 0;
      std::ostringstream out, err;
      ASSERT_EQ(RunCommand(o, out, err), 0) << model << ": " << err.str();
      plans[streamed] = out.str();
    }
    EXPECT_EQ(plans[0], plans[1]) << model;
  }
  fs::remove_all(dir);
}

// Every stored type and draw through the piecewise generator, and a tensor FillPieces cannot make
// (float64, generated in memory): streamed and in-memory rewrites agree byte for byte.
TEST(InlineStream, EveryTypeAndDistributionGivesTheInMemoryBytes) {
  const std::string dir = test::TempDir("inline-stream-types");
  for (const int32_t dtype : {onnx::TensorProto::FLOAT16, onnx::TensorProto::BFLOAT16, onnx::TensorProto::DOUBLE,
                              onnx::TensorProto::FLOAT}) {
    const std::string type = dtype == onnx::TensorProto::FLOAT16    ? "float16"
                             : dtype == onnx::TensorProto::BFLOAT16 ? "bfloat16"
                             : dtype == onnx::TensorProto::DOUBLE   ? "double"
                                                                    : "float";
    auto m = test::ParseModel("<ir_version: 8, opset_import: [\"\" : 14]>\n g (" + type + "[2,1000] X) => (" + type +
                              "[2,700] Y) { H = MatMul(X, W)  Y = Relu(H) }");
    test::AddInitializer(m, "W", {1000, 700}, dtype);
    const std::string path = dir + "/" + type + ".onnx";
    std::string bytes;
    ASSERT_TRUE(m.SerializeToString(&bytes));
    std::ofstream(path, std::ios::binary) << bytes;
    for (const std::string distribution : {"uniform", "normal", "truncated_normal"}) {
      std::string outputs[2];
      for (int streamed = 0; streamed < 2; ++streamed) {
        Options o;
        o.command = "rewrite";
        o.input = path;
        o.output = dir + "/out" + std::to_string(streamed) + ".onnx";
        o.Set("distribution", distribution);
        o.stream_threshold = streamed ? 1 : 0;
        o.threads = 3;
        std::ostringstream out, err;
        ASSERT_EQ(RunCommand(o, out, err), 0) << type << ": " << err.str();
        outputs[streamed] = test::Slurp(o.output);
      }
      EXPECT_TRUE(outputs[0] == outputs[1]) << type << " " << distribution;
      EXPECT_GT(outputs[0].size(), bytes.size() / 2);
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace reinit
