// Streaming large inline tensors (passes/io/inline_split.h): the wire walk, and rewrite with every
// tensor streamed (initializers and Constant values, in the main graph and in subgraphs) giving the very
// bytes and report of the in-memory rewrite.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

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

// Writes `m` to `path`, splits it at `threshold` and checks that the skeleton written back with the
// left-out bytes is the file, byte for byte (protobuf's own serialization of `m`).
void SplitAndWriteBack(const onnx::ModelProto& m, const std::string& path, int64_t threshold, std::string* skeleton,
                       std::vector<SplitTensor>* split) {
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SplitLargeTensors(fd, static_cast<int64_t>(bytes.size()), threshold, skeleton, split));
  ::close(fd);
  if (split->empty()) {  // nothing left out: no skeleton, the file is parsed as it is
    EXPECT_TRUE(skeleton->empty());
    return;
  }
  std::map<TensorPath, int64_t> lengths;
  for (const auto& t : *split) lengths[t.path] = t.length;
  std::string out;
  ByteSink to_string;
  to_string.write = [&](const char* data, size_t n) {
    out.append(data, n);
    return Status::Ok();
  };
  std::map<TensorPath, SplitTensor> by_path;
  for (const auto& t : *split) by_path[t.path] = t;
  ASSERT_TRUE(WriteWithRawData(*skeleton, lengths,
                               [&](const TensorPath& p, const ByteSink& sink) {
                                 const SplitTensor& t = by_path.at(p);
                                 return sink.write(bytes.data() + t.offset, static_cast<size_t>(t.length));
                               },
                               to_string)
                  .ok());
  EXPECT_TRUE(out == bytes);
}

// The paths of what was left out, as text.
std::vector<std::string> Paths(const std::vector<SplitTensor>& split) {
  std::vector<std::string> paths;
  for (const auto& t : split) paths.push_back(PathText(t.path));
  return paths;
}

TEST(InlineSplit, SkeletonPlusTheLeftOutBytesIsTheFile) {
  const std::string dir = test::TempDir("inline-split");
  const onnx::ModelProto m = Mixed();
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  std::string skeleton;
  std::vector<SplitTensor> split;
  SplitAndWriteBack(m, dir + "/m.onnx", 1024, &skeleton, &split);
  ASSERT_EQ(Paths(split), (std::vector<std::string>{"graph.initializer[0]", "graph.initializer[4]"}));  // W, V
  EXPECT_EQ(split[0].path, (TensorPath{{7, 0}, {5, 0}}));
  EXPECT_EQ(split[0].length, 64 * 64 * 4);
  EXPECT_EQ(bytes.substr(static_cast<size_t>(split[0].offset), static_cast<size_t>(split[0].length)),
            m.graph().initializer(0).raw_data());
  onnx::ModelProto parsed;
  ASSERT_TRUE(parsed.ParseFromString(skeleton));
  EXPECT_FALSE(parsed.graph().initializer(0).has_raw_data());
  EXPECT_EQ(FindTensor(&parsed, split[1].path), parsed.mutable_graph()->mutable_initializer(4));
  EXPECT_EQ(parsed.graph().initializer(1).raw_data(), m.graph().initializer(1).raw_data());
  EXPECT_EQ(parsed.graph().initializer(2).float_data_size(), 64 * 64);
  EXPECT_EQ(parsed.graph().initializer(3).raw_data(), m.graph().initializer(3).raw_data());
  EXPECT_EQ(parsed.graph().initializer(5).raw_data(), m.graph().initializer(5).raw_data());
  // A producer that gives too few or too many bytes is an error, not a corrupt file.
  std::map<TensorPath, int64_t> lengths;
  for (const auto& t : split) lengths[t.path] = t.length;
  ByteSink discard;
  discard.write = [](const char*, size_t) { return Status::Ok(); };
  for (const size_t wrong : {size_t{1}, size_t{64 * 64 * 4 + 1}}) {
    const std::string junk(wrong, 'x');
    EXPECT_FALSE(WriteWithRawData(
                     skeleton, lengths,
                     [&](const TensorPath&, const ByteSink& sink) { return sink.write(junk.data(), junk.size()); },
                     discard)
                     .ok());
  }
  // A tensor the skeleton does not have is an error too.
  lengths[{{7, 0}, {5, 9}}] = 4;
  EXPECT_FALSE(WriteWithRawData(skeleton, lengths, [&](const TensorPath&, const ByteSink&) { return Status::Ok(); },
                                discard)
                   .ok());
  fs::remove_all(dir);
}

// A tensor of `dims` with AddInitializer's values, for a Constant or a subgraph.
onnx::TensorProto Pattern(const std::string& name, const std::vector<int64_t>& dims) {
  onnx::ModelProto scratch;
  return *test::AddInitializer(scratch, name, dims);
}

// The value of the Constant whose output is `output` in `graph` (not below it).
onnx::TensorProto* ConstantOf(onnx::GraphProto* graph, const std::string& output) {
  for (auto& node : *graph->mutable_node()) {
    if (node.op_type() == "Constant" && node.output(0) == output) return node.mutable_attribute(0)->mutable_t();
  }
  throw std::runtime_error("no Constant " + output);
}

// The graph attribute `attribute` of the first node of type `op` in `graph`.
onnx::GraphProto* BodyOf(onnx::GraphProto* graph, const std::string& op, const std::string& attribute) {
  for (auto& node : *graph->mutable_node()) {
    if (node.op_type() != op) continue;
    for (auto& a : *node.mutable_attribute()) {
      if (a.name() == attribute) return a.mutable_g();
    }
  }
  throw std::runtime_error("no " + op + "." + attribute);
}

// Tensors in every place the walk goes: Constant values in the main graph and in an If branch, an If
// branch's initializer, a node's list of tensors (TENSORS) and a list of graphs (GRAPHS); and next to
// them tensors that stay: an integer one (int64, read by the graph analysis as numbers), a small one.
onnx::ModelProto Nested() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (bool c, float[2,64] X) => (float[2,64] Y) {
      W = Constant <value = float[1] {0.0}> ()
      I = Constant <value = int64[1] {0}> ()
      H = MatMul(X, W)
      Y = If (c) <
        then_branch = then_g () => (float[2,64] t) { t = MatMul(H, U) },
        else_branch = else_g () => (float[2,64] e) {
          V = Constant <value = float[1] {0.0}> ()
          e = MatMul(H, V)
        }
      >
    })");
  onnx::GraphProto* g = m.mutable_graph();
  *ConstantOf(g, "W") = Pattern("", {64, 64});  // exporters leave a Constant's value unnamed
  onnx::TensorProto* ints = ConstantOf(g, "I");
  ints->clear_int64_data();
  ints->clear_dims();
  ints->add_dims(1024);
  ints->set_raw_data(std::string(1024 * 8, '\x01'));
  *BodyOf(g, "If", "then_branch")->add_initializer() = Pattern("U", {64, 64});
  *BodyOf(g, "If", "then_branch")->add_initializer() = Pattern("u_small", {4});
  *ConstantOf(BodyOf(g, "If", "else_branch"), "V") = Pattern("V", {64, 32});
  // Not a valid op: only the walk reads this node.
  onnx::NodeProto* lists = g->add_node();
  lists->set_op_type("Lists");
  onnx::AttributeProto* tensors = lists->add_attribute();
  tensors->set_name("tensors");
  tensors->set_type(onnx::AttributeProto::TENSORS);
  *tensors->add_tensors() = Pattern("small", {8});
  *tensors->add_tensors() = Pattern("big", {32, 32});
  onnx::AttributeProto* graphs = lists->add_attribute();
  graphs->set_name("graphs");
  graphs->set_type(onnx::AttributeProto::GRAPHS);
  graphs->add_graphs()->set_name("empty");
  *graphs->add_graphs()->add_initializer() = Pattern("deep", {16, 64});
  test::AddInitializer(m, "B", {64, 64});
  return m;
}

TEST(InlineSplit, ConstantsAndSubgraphTensorsAreLeftOutByPath) {
  const std::string dir = test::TempDir("inline-split-nested");
  onnx::ModelProto m = Nested();
  std::string skeleton;
  std::vector<SplitTensor> split;
  SplitAndWriteBack(m, dir + "/m.onnx", 1024, &skeleton, &split);
  // In wire order: the nodes (field 1) before the initializers (field 5), at every level.
  const std::vector<std::string> expected = {
      "graph.node[0].attribute[0].t",                              // W
      "graph.node[3].attribute[0].g.initializer[0]",               // U (the If's attributes in the order written)
      "graph.node[3].attribute[1].g.node[0].attribute[0].t",       // V
      "graph.node[4].attribute[0].tensors[1]",                     // big
      "graph.node[4].attribute[1].graphs[1].initializer[0]",       // deep
      "graph.initializer[0]"};                                     // B
  ASSERT_EQ(Paths(split), expected);
  onnx::ModelProto parsed;
  ASSERT_TRUE(parsed.ParseFromString(skeleton));
  const std::vector<std::string> names = {"", "U", "V", "big", "deep", "B"};
  for (size_t i = 0; i < split.size(); ++i) {
    const onnx::TensorProto* t = FindTensor(&parsed, split[i].path);
    ASSERT_NE(t, nullptr) << expected[i];
    EXPECT_EQ(t->name(), names[i]);
    EXPECT_FALSE(t->has_raw_data()) << expected[i];
    EXPECT_EQ(split[i].length, static_cast<int64_t>(FindTensor(&m, split[i].path)->raw_data().size()));
  }
  // Paths that name nothing.
  for (const TensorPath& wrong : {TensorPath{}, TensorPath{{7, 0}}, TensorPath{{7, 0}, {5, 1}, {1, 0}},
                                  TensorPath{{7, 0}, {1, 0}, {5, 0}, {5, 1}}, TensorPath{{7, 0}, {1, 9}, {5, 0}, {5, 0}},
                                  TensorPath{{7, 0}, {1, 0}, {5, 0}, {6, 0}}, TensorPath{{7, 0}, {5, 7}},
                                  TensorPath{{8, 0}, {5, 0}}}) {
    EXPECT_EQ(FindTensor(&parsed, wrong), nullptr) << PathText(wrong);
  }
  // Every byte over the threshold: the integer tensor and tensors of one element still stay.
  onnx::ModelProto scalars = Nested();
  *ConstantOf(scalars.mutable_graph(), "W") = Pattern("one", {1, 1});
  SplitAndWriteBack(scalars, dir + "/s.onnx", 1, &skeleton, &split);
  std::vector<std::string> all = Paths(split);
  EXPECT_EQ(std::count(all.begin(), all.end(), "graph.node[0].attribute[0].t"), 0);  // one element
  EXPECT_EQ(std::count(all.begin(), all.end(), "graph.node[1].attribute[0].t"), 0);  // int64
  EXPECT_EQ(all, (std::vector<std::string>{"graph.node[3].attribute[0].g.initializer[0]",  // U
                                           "graph.node[3].attribute[0].g.initializer[1]",  // u_small
                                           "graph.node[3].attribute[1].g.node[0].attribute[0].t",
                                           "graph.node[4].attribute[0].tensors[0]",  // small
                                           "graph.node[4].attribute[0].tensors[1]",
                                           "graph.node[4].attribute[1].graphs[1].initializer[0]",
                                           "graph.initializer[0]"}));
  fs::remove_all(dir);
}

// Deeper than the passes index: the bodies there are copied as they are, with their tensors.
TEST(InlineSplit, BodiesDeeperThanTheIndexStayWhole) {
  const std::string dir = test::TempDir("inline-split-deep");
  for (const int levels : {3, 70}) {
    onnx::GraphProto body;
    *body.add_initializer() = Pattern("bottom", {64, 64});
    for (int i = 0; i < levels; ++i) {
      onnx::GraphProto outer;
      onnx::AttributeProto* a = outer.add_node()->add_attribute();
      a->set_name("body");
      a->set_type(onnx::AttributeProto::GRAPH);
      *a->mutable_g() = std::move(body);
      body = std::move(outer);
    }
    onnx::ModelProto m;
    *m.mutable_graph() = std::move(body);
    std::string skeleton;
    std::vector<SplitTensor> split;
    SplitAndWriteBack(m, dir + "/m.onnx", 1024, &skeleton, &split);
    EXPECT_EQ(split.size(), levels == 3 ? 1u : 0u) << levels;
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
    EXPECT_FALSE(SplitLargeTensors(fd, static_cast<int64_t>(bytes.size()), 1, &skeleton, &split));
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

// A message protobuf would merge (here the model's graph, given twice): the walk leaves the file to the
// ordinary parse.
TEST(InlineSplit, AFieldGivenTwiceIsLeftToProtobuf) {
  const std::string dir = test::TempDir("inline-split-twice");
  onnx::ModelProto more;
  *more.mutable_graph()->add_initializer() = Pattern("later", {64, 64});
  std::string bytes, tail;
  ASSERT_TRUE(Nested().SerializeToString(&bytes));
  ASSERT_TRUE(more.SerializeToString(&tail));
  bytes += tail;
  const std::string path = dir + "/twice.onnx";
  std::ofstream(path, std::ios::binary) << bytes;
  const int fd = ::open(path.c_str(), O_RDONLY);
  std::string skeleton;
  std::vector<SplitTensor> split;
  EXPECT_FALSE(SplitLargeTensors(fd, static_cast<int64_t>(bytes.size()), 1024, &skeleton, &split));
  ::close(fd);
  onnx::ModelProto m;
  LoadOptions options;
  options.split_threshold = 1024;
  Loaded loaded;
  ASSERT_TRUE(LoadModel(path, &m, options, &loaded).ok());
  EXPECT_TRUE(loaded.split.empty());
  EXPECT_EQ(m.graph().initializer_size(), 2);  // B and later, merged by protobuf
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

// The whole rewrite with every tensor streamed (threshold 1 byte), against the in-memory rewrite: the
// same output bytes and the same report, for the bundled models, the zoo and the exporter structures
// (Constant values, If branches, recurrent weights decided per piece; the ones refused are refused the
// same way), with everything regenerated and with only the head regenerated (the rest copied from the
// input); and the same plan.
TEST(InlineStream, RewriteGivesTheInMemoryBytesAndReport) {
  std::vector<std::string> models;
  for (const auto& dir : {test::ModelPath(""), test::ModelPath("zoo"), test::ModelPath("graphs")}) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".onnx") models.push_back(e.path().string());
    }
  }
  ASSERT_GT(models.size(), 50u);
  const std::string dir = test::TempDir("inline-stream");
  for (const auto& model : models) {
    for (const bool head_only : {false, true}) {
      std::string bytes[2], reports[2];
      int codes[2];
      for (int streamed = 0; streamed < 2; ++streamed) {
        Options o;
        o.command = "rewrite";
        o.input = model;
        o.output = dir + "/out" + std::to_string(streamed) + ".onnx";
        o.report = dir + "/report" + std::to_string(streamed) + ".json";
        o.Set("seed", "11");
        o.Set("allow_empty", "true");
        o.stream_threshold = streamed ? 1 : 0;
        if (head_only) o.Set("reinit_last", "1");
        std::ostringstream out, err;
        codes[streamed] = RunCommand(o, out, err);
        if (codes[streamed] != 0) continue;
        bytes[streamed] = test::Slurp(o.output);
        nlohmann::json report = nlohmann::json::parse(test::Slurp(o.report));
        report["output"].erase("path");
        reports[streamed] = report.dump();
      }
      EXPECT_EQ(codes[0], codes[1]) << model;
      EXPECT_TRUE(codes[0] == 0 || model.find("/graphs/") != std::string::npos) << model;
      EXPECT_TRUE(bytes[0] == bytes[1]) << model << (head_only ? " (head only)" : "");
      EXPECT_EQ(reports[0], reports[1]) << model;
    }
    // plan reads no values: the same plan either way.
    std::string plans[2];
    int codes[2];
    for (int streamed = 0; streamed < 2; ++streamed) {
      Options o;
      o.command = "plan";
      o.input = model;
      o.format = OutputFormat::kJson;
      o.stream_threshold = streamed ? 1 : 0;
      std::ostringstream out, err;
      codes[streamed] = RunCommand(o, out, err);
      plans[streamed] = out.str();
    }
    EXPECT_EQ(codes[0], codes[1]) << model;
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

// Models whose weights are Constant values, initializers of If branches and Loop and Scan bodies, and
// Constant values inside those bodies (with the int64 and one-element Constants exporters write next to
// them). Tensors have AddInitializer's values.
std::vector<std::pair<std::string, onnx::ModelProto>> ConstantAndSubgraphModels() {
  std::vector<std::pair<std::string, onnx::ModelProto>> models;
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,64] X) => (float[2,32] Y) {
      W1 = Constant <value = float[1] {0.0}> ()
      B1 = Constant <value = float[1] {0.0}> ()
      W2 = Constant <value = float[1] {0.0}> ()
      shape = Constant <value = int64[2] {64, 32}> ()
      H = Gemm <transB = 1> (X, W1, B1)
      A = Relu(H)
      W2r = Reshape(W2, shape)
      Y = MatMul(A, W2r)
    })");
  *ConstantOf(m.mutable_graph(), "W1") = Pattern("", {64, 64});
  *ConstantOf(m.mutable_graph(), "B1") = Pattern("", {64});
  *ConstantOf(m.mutable_graph(), "W2") = Pattern("W2", {32, 64});
  models.emplace_back("constants", std::move(m));

  m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (bool c, float[2,64] X) => (float[2,64] Y) {
      H = MatMul(X, W)
      Y = If (c) <
        then_branch = then_g () => (float[2,64] t) {
          h = MatMul(H, U)
          t = Relu(h)
        },
        else_branch = else_g () => (float[2,64] e) {
          V = Constant <value = float[1] {0.0}> ()
          h2 = MatMul(H, V)
          e = Tanh(h2)
        }
      >
    })");
  test::AddInitializer(m, "W", {64, 64});
  *BodyOf(m.mutable_graph(), "If", "then_branch")->add_initializer() = Pattern("U", {64, 64});
  *ConstantOf(BodyOf(m.mutable_graph(), "If", "else_branch"), "V") = Pattern("", {64, 64});
  models.emplace_back("if", std::move(m));

  m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int64 n, bool c, float[2,64] X, float[64] S0, float[5,64] Xs) => (float[2,64] Y, float[64] S, float[5,64] Ys) {
      Y = Loop (n, c, X) <
        body = step (int64 i, bool cin, float[2,64] x) => (bool cout, float[2,64] y) {
          cout = Identity(cin)
          h = MatMul(x, L)
          y = Selu(h)
        }
      >
      S, Ys = Scan <num_scan_inputs = 1, body = sstep (float[64] s, float[64] x) => (float[64] s2, float[64] y) {
        K = Constant <value = float[1] {0.0}> ()
        a = Add(s, x)
        h = MatMul(a, K)
        s2 = Tanh(h)
        y = Identity(s2)
      }> (S0, Xs)
    })");
  *BodyOf(m.mutable_graph(), "Loop", "body")->add_initializer() = Pattern("L", {64, 64});
  *ConstantOf(BodyOf(m.mutable_graph(), "Scan", "body"), "K") = Pattern("K", {64, 64});
  models.emplace_back("loop_scan", std::move(m));

  // The same weight in both branches of an If (find-copies), over a million values (compared a piece
  // at a time when streamed): one copy a Constant, and one whose values are in float_data (never left
  // out, so read whole) against a streamed original.
  m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (bool c, float[2,1024] X) => (float[2,1100] Y, float[2,1100] Z) {
      Y = If (c) <
        then_branch = then_y () => (float[2,1100] t) {
          h = MatMul(X, U)
          t = Relu(h)
        },
        else_branch = else_y () => (float[2,1100] e) {
          V = Constant <value = float[1] {0.0}> ()
          h2 = MatMul(X, V)
          e = Relu(h2)
        }
      >
      Z = If (c) <
        then_branch = then_z () => (float[2,1100] t2) {
          h3 = MatMul(X, P)
          t2 = Tanh(h3)
        },
        else_branch = else_z () => (float[2,1100] e2) {
          h4 = MatMul(X, Q)
          e2 = Tanh(h4)
        }
      >
    })");
  onnx::GraphProto* g = m.mutable_graph();
  *BodyOf(g, "If", "then_branch")->add_initializer() = Pattern("U", {1024, 1100});
  *ConstantOf(BodyOf(g, "If", "else_branch"), "V") = Pattern("", {1024, 1100});
  *g->mutable_node(1)->mutable_attribute(0)->mutable_g()->add_initializer() = Pattern("P", {1024, 1100});
  onnx::ModelProto scratch;
  *g->mutable_node(1)->mutable_attribute(1)->mutable_g()->add_initializer() =
      *test::AddInitializer(scratch, "Q", {1024, 1100}, onnx::TensorProto::FLOAT, test::Storage::kTyped);
  models.emplace_back("if_copies", std::move(m));
  return models;
}

// Streamed (threshold 1 byte) against in memory: the same model bytes, data file and report, with
// everything regenerated and with only the last layer (the rest copied from the input), inline and with
// a data file (where Constant values of at least 1 KiB go, as in memory); and the tensors really were
// streamed.
TEST(InlineStream, ConstantsAndSubgraphTensorsGiveTheInMemoryBytes) {
  const std::string dir = test::TempDir("inline-stream-nested");
  const std::map<std::string, std::vector<std::string>> streamed = {
      {"constants", {"graph.node[0].attribute[0].t", "graph.node[1].attribute[0].t", "graph.node[2].attribute[0].t"}},
      {"if",
       {"graph.node[1].attribute[0].g.initializer[0]", "graph.node[1].attribute[1].g.node[0].attribute[0].t",
        "graph.initializer[0]"}},
      {"loop_scan",
       {"graph.node[0].attribute[0].g.initializer[0]", "graph.node[1].attribute[1].g.node[0].attribute[0].t"}},
      {"if_copies",
       {"graph.node[0].attribute[0].g.initializer[0]", "graph.node[0].attribute[1].g.node[0].attribute[0].t",
        "graph.node[1].attribute[0].g.initializer[0]"}}};
  for (const auto& [name, model] : ConstantAndSubgraphModels()) {
    const std::string path = dir + "/" + name + ".onnx";
    std::string bytes;
    ASSERT_TRUE(model.SerializeToString(&bytes));
    std::ofstream(path, std::ios::binary) << bytes;
    onnx::ModelProto loaded_model;
    LoadOptions load;
    load.split_threshold = 1;
    Loaded loaded;
    ASSERT_TRUE(LoadModel(path, &loaded_model, load, &loaded).ok());
    EXPECT_EQ(Paths(loaded.split), streamed.at(name)) << name;
    for (const bool head_only : {false, true}) {
      for (const bool data_file : {false, true}) {
        std::string outputs[2], data[2], reports[2];
        for (int stream = 0; stream < 2; ++stream) {
          const std::string out_dir = dir + "/" + std::to_string(stream);
          fs::create_directories(out_dir);
          Options o;
          o.command = "rewrite";
          o.input = path;
          o.output = out_dir + "/out.onnx";
          o.report = out_dir + "/report.json";
          o.Set("seed", "5");
          if (head_only) o.Set("reinit_last", "1");
          if (data_file) o.external_data_file = "out.data";
          o.stream_threshold = stream ? 1 : 0;
          std::ostringstream out, err;
          ASSERT_EQ(RunCommand(o, out, err), 0) << name << ": " << err.str();
          outputs[stream] = test::Slurp(o.output);
          data[stream] = data_file ? test::Slurp(out_dir + "/out.data") : "";
          nlohmann::json report = nlohmann::json::parse(test::Slurp(o.report));
          report["output"].erase("path");
          reports[stream] = report.dump();
          fs::remove_all(out_dir);
        }
        const std::string what = name + (head_only ? " (last layer)" : "") + (data_file ? " (data file)" : "");
        EXPECT_TRUE(outputs[0] == outputs[1]) << what;
        EXPECT_TRUE(data[0] == data[1]) << what;
        EXPECT_EQ(reports[0], reports[1]) << what;
        EXPECT_NE(outputs[0], bytes) << what;
        if (name == "if_copies") {
          std::map<std::string, std::string> copies;
          const nlohmann::json report = nlohmann::json::parse(reports[1]);
          for (const auto& t : report["tensors"]) {
            if (!t["copy_of"].is_null()) copies[t["name"]] = t["copy_of"]["name"];
          }
          EXPECT_EQ(copies, (std::map<std::string, std::string>{{"V", "U"}, {"Q", "P"}})) << what;
        }
        if (data_file) {
          EXPECT_GE(data[0].size(), 64u * 64 * 4) << what;  // the large tensors, Constant values too
          if (name != "if_copies") EXPECT_LT(outputs[0].size(), 4096u) << what;  // (float_data stays inline)
        }
      }
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace reinit
