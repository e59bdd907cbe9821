// Hostile and broken input, and durable writes: every refusal has its exit code, one line naming the
// problem, and leaves nothing behind.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "passes/io/model_io.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;

class Safety : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir(std::string("safety-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Save(const onnx::ModelProto& m, const std::string& name) {
    std::string bytes;
    EXPECT_TRUE(SerializeModel(m, name, &bytes).ok());
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/" + name, bytes).ok());
    return dir_ + "/" + name;
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  test::ToolResult Tool(const std::string& args) { return test::RunTool(args, dir_); }
  std::string dir_;
};

onnx::ModelProto Dense() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) { H = MatMul(X, W)  Y = Relu(H) })");
  test::AddInitializer(m, "W", {4, 3});
  return m;
}

TEST_F(Safety, HugeDeclaredShapeWithTinyDataIsRefusedWithoutAllocating) {
  auto m = Dense();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->set_dims(0, 1 << 20);
  w->set_dims(1, 1 << 20);  // a terabyte of float32 declared, 48 bytes present
  const std::string path = Save(m, "huge.onnx");
  const auto start = std::chrono::steady_clock::now();
  test::ToolResult r = Tool("rewrite " + path + " -o " + dir_ + "/o.onnx");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': raw_data has 48 bytes, the shape needs 4398046511104\n");
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
}

TEST_F(Safety, UndefinedAndUnknownDataTypes) {
  auto m = Dense();
  m.mutable_graph()->mutable_initializer(0)->set_data_type(0);
  test::ToolResult r = Tool("plan " + Save(m, "u.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': data_type is undefined\n");
  m.mutable_graph()->mutable_initializer(0)->set_data_type(999);
  r = Tool("plan " + Save(m, "k.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': unknown data_type 999\n");
}

TEST_F(Safety, StringTensorsAreKeptNotRefused) {
  auto m = Dense();
  auto* labels = m.mutable_graph()->add_initializer();
  labels->set_name("labels");
  labels->set_data_type(onnx::TensorProto::STRING);
  labels->add_dims(2);
  labels->add_string_data("cat");
  labels->add_string_data("dog");
  const std::string path = Save(m, "s.onnx");
  ASSERT_EQ(Tool("rewrite " + path + " -o " + dir_ + "/o.onnx -q").code, 0);
  onnx::ModelProto out;
  ASSERT_TRUE(LoadModel(dir_ + "/o.onnx", &out).ok());
  EXPECT_EQ(out.graph().initializer(1).SerializeAsString(), m.graph().initializer(1).SerializeAsString());
}

TEST_F(Safety, NewerIrAndOpsetWarnAndGoOn) {
  auto m = Dense();
  m.set_ir_version(99);
  m.mutable_opset_import(0)->set_version(99);
  test::ToolResult r = Tool("plan " + Save(m, "new.onnx"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + dir_ + "/new.onnx: IR version 99 is newer than this build knows (8)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("opset 99 of domain '' is newer than this build knows"), std::string::npos) << r.err;
}

// ONNX's checker and ONNX Runtime refuse a graph with a cycle or an input nothing produces; rewriting
// one would give back an invalid model. Refused at once (no walk may hang on them either).
TEST_F(Safety, CyclesAndDanglingInputsAreRefusedNamingTheNode) {
  auto cycle = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,4] Y) {
      A = Add(X, B)
      H = MatMul(A, W)
      B = Relu(H)
      Y = Identity(B)
    })");
  test::AddInitializer(cycle, "W", {4, 4});
  test::ToolResult r = Tool("rewrite " + Save(cycle, "cycle.onnx") + " -o " + dir_ + "/o.onnx");
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: node '#0' (Add) is on a cycle: the graph is not acyclic\n");
  auto dangling = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,4] Y) { H = MatMul(X, W)  Y = Add(H, Missing) })");
  test::AddInitializer(dangling, "W", {4, 4});
  r = Tool("plan " + Save(dangling, "dangling.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: node '#1' (Add): input 'Missing' is produced by no node, graph input or "
                   "initializer\n");
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
}

// A FIFO as an external data file: open would wait for a writer forever; it is refused at once.
TEST_F(Safety, AFifoAsExternalDataIsRefusedWithoutBlocking) {
  auto m = Dense();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* location = w->add_external_data();
  location->set_key("location");
  location->set_value("w.bin");
  const std::string path = Save(m, "fifo.onnx");
  ASSERT_EQ(::mkfifo((dir_ + "/w.bin").c_str(), 0600), 0);
  for (const std::string command : {"plan " + path, "rewrite " + path + " -o " + dir_ + "/o.onnx", "check " + path}) {
    const auto start = std::chrono::steady_clock::now();
    test::ToolResult r = Tool(command);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << command;
    EXPECT_EQ(r.code, 3) << command;
    EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': external data file 'w.bin' is not a regular file\n") << command;
  }
}

// A string tensor where a layer expects its weight: kept, and the user hears about it.
TEST_F(Safety, AStringTensorInAWeightSlotIsKeptWithAWarning) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) { Y = MatMul(X, S) })");
  auto* s = m.mutable_graph()->add_initializer();
  s->set_name("S");
  s->set_data_type(onnx::TensorProto::STRING);
  s->add_dims(1);
  s->add_string_data("w");
  test::ToolResult r = Tool("plan " + Save(m, "string.onnx") + " -q");
  EXPECT_EQ(r.code, 0);
  r = Tool("plan " + Save(m, "string.onnx"));
  EXPECT_NE(r.err.find("onnx-reinit: warning: tensor 'S' (string) is in the weight slot of MatMul '#0' input 1: only "
                       "float tensors are re-initialized, so it is kept\n"),
            std::string::npos)
      << r.err;
}

TEST_F(Safety, ALargeFileThatIsNotOnnxIsRefusedQuickly) {
  const std::string path = dir_ + "/big.onnx";
  { std::ofstream(path) << "not a model"; }
  fs::resize_file(path, (uint64_t{1} << 31) + 4096);  // 2 GB + 4 KiB, sparse
  const auto start = std::chrono::steady_clock::now();
  test::ToolResult r = Tool("plan " + path);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(path + ": not a valid ONNX model"), std::string::npos) << r.err;
}

TEST_F(Safety, InPlaceReplacesTheInputAndOnlyWithTheFlag) {
  const std::string path = Save(Dense(), "m.onnx");
  const std::string before = Sha256OfFile(path);
  test::ToolResult r = Tool("rewrite " + path + " --in-place --report " + dir_ + "/r.json -q");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(Sha256OfFile(path), before);
  EXPECT_EQ(Files(), (std::vector<std::string>{"m.onnx", "r.json"}));
  const std::string report = test::Slurp(dir_ + "/r.json");
  EXPECT_NE(report.find(before), std::string::npos);            // input SHA: the model as it was
  EXPECT_NE(report.find(Sha256OfFile(path)), std::string::npos);  // output SHA: the model as it is
}

TEST_F(Safety, AReportThatCannotBeWrittenLeavesTheInPlaceInputUntouched) {
  const std::string path = Save(Dense(), "m.onnx");
  const std::string before = Sha256OfFile(path);
  test::ToolResult r = Tool("rewrite " + path + " --in-place --report " + dir_ + "/no/dir/r.json");
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(Sha256OfFile(path), before);
  EXPECT_EQ(Files(), (std::vector<std::string>{"m.onnx"}));
}

TEST_F(Safety, ExternalDataThroughASymlinkOrAHardLinkIsRefused) {
  auto m = Dense();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  const std::string bytes = w->raw_data();
  std::ofstream(dir_ + "/w.bin", std::ios::binary) << bytes;
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  fs::create_symlink("w.bin", dir_ + "/alias.bin");
  loc->set_value("alias.bin");
  test::ToolResult r = Tool("plan " + Save(m, "sym.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': external data file 'alias.bin' is a symbolic link\n");
  fs::create_hard_link(dir_ + "/w.bin", dir_ + "/hard.bin");
  loc->set_value("hard.bin");
  r = Tool("plan " + Save(m, "hard.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': external data file 'hard.bin' has other hard links\n");
}

TEST_F(Safety, TruncatedFileAndModelWithoutGraph) {
  const std::string whole = test::Slurp(test::ModelPath("cnn_bn.onnx"));
  std::ofstream(dir_ + "/cut.onnx", std::ios::binary) << whole.substr(0, whole.size() / 2);
  test::ToolResult r = Tool("plan " + dir_ + "/cut.onnx");
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: " + dir_ + "/cut.onnx: not a valid ONNX model (protobuf parse failed)\n");
  onnx::ModelProto empty;
  empty.set_ir_version(8);
  r = Tool("plan " + Save(empty, "nograph.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: " + dir_ + "/nograph.onnx: the model has no graph\n");
}

TEST_F(Safety, NegativeAndOverflowingDims) {
  auto m = Dense();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, -4);
  test::ToolResult r = Tool("plan " + Save(m, "neg.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': negative dimension -4\n");
  m = Dense();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, int64_t{1} << 40);
  m.mutable_graph()->mutable_initializer(0)->set_dims(1, int64_t{1} << 40);
  r = Tool("plan " + Save(m, "ovf.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': element count overflows 64 bits\n");
}

TEST_F(Safety, SeveralDataFieldsAndShortTypedFields) {
  auto m = Dense();
  m.mutable_graph()->mutable_initializer(0)->add_float_data(1.0f);  // raw_data and float_data both
  test::ToolResult r = Tool("plan " + Save(m, "two.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': data is in both raw_data and a typed field\n");
  m = Dense();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  for (int i = 0; i < 5; ++i) w->add_float_data(0.5f);
  r = Tool("plan " + Save(m, "short.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': holds 5 values, the shape needs 12\n");
}

TEST_F(Safety, NestingDeeperThanTheLimitIsRefused) {
  // 70 nested If bodies.
  onnx::GraphProto inner;
  inner.set_name("g70");
  auto* out = inner.add_output();
  out->set_name("y70");
  auto* n = inner.add_node();
  n->set_op_type("Identity");
  n->add_input("X");
  n->add_output("y70");
  for (int depth = 69; depth >= 0; --depth) {
    onnx::GraphProto outer;
    outer.set_name("g" + std::to_string(depth));
    outer.add_output()->set_name("y" + std::to_string(depth));
    auto* node = outer.add_node();
    node->set_op_type("If");
    node->add_input("c");
    node->add_output("y" + std::to_string(depth));
    auto* then_branch = node->add_attribute();
    then_branch->set_name("then_branch");
    then_branch->set_type(onnx::AttributeProto::GRAPH);
    *then_branch->mutable_g() = std::move(inner);
    auto* else_branch = node->add_attribute();  // a small body: only one branch nests further
    else_branch->set_name("else_branch");
    else_branch->set_type(onnx::AttributeProto::GRAPH);
    else_branch->mutable_g()->set_name("e" + std::to_string(depth));
    inner = std::move(outer);
  }
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(14);
  *m.mutable_graph() = inner;
  test::ToolResult r = Tool("plan " + Save(m, "deep.onnx"));
  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(r.err, "onnx-reinit: error: subgraphs are nested deeper than 64 levels\n");
}

TEST_F(Safety, RecursiveLocalFunctionsAreNotExpanded) {
  auto m = Dense();
  auto* f = m.add_functions();
  f->set_name("Loopy");
  f->set_domain("local");
  f->add_input("x");
  f->add_output("y");
  auto* call = f->add_node();
  call->set_op_type("Loopy");
  call->set_domain("local");
  call->add_input("x");
  call->add_output("y");
  auto* use = m.mutable_graph()->add_node();
  use->set_op_type("Loopy");
  use->set_domain("local");
  use->add_input("Y");
  use->add_output("Z");
  auto* opset = m.add_opset_import();
  opset->set_domain("local");
  opset->set_version(1);
  test::ToolResult r = Tool("plan " + Save(m, "rec.onnx"));
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(Safety, NulAndOverflowingExternalDataFields) {
  auto m = Dense();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  std::ofstream(dir_ + "/w.bin", std::ios::binary) << w->raw_data();
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value(std::string("w.bin\0../../etc/passwd", 22));
  test::ToolResult r = Tool("plan " + Save(m, "nul.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("must be a relative path inside the model's directory"), std::string::npos) << r.err;
  loc->set_value("w.bin");
  auto* offset = w->add_external_data();
  offset->set_key("offset");
  offset->set_value("99999999999999999999");
  r = Tool("plan " + Save(m, "ovf.onnx"));
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "onnx-reinit: error: tensor 'W': external data offset '99999999999999999999' is not a non-negative integer\n");
}

TEST_F(Safety, ReadOnlyDirectoryIsAWriteFailure) {
  const std::string mnt = dir_ + "/ro";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", MS_RDONLY, "size=64k") != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
  test::ToolResult r = Tool("rewrite " + test::ModelPath("mlp_relu.onnx") + " -o " + mnt + "/o.onnx");
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(r.err, "onnx-reinit: error: " + mnt + "/o.onnx: cannot create: Read-only file system\n");
  ::umount(mnt.c_str());
}

// A full disk: a 64 KiB tmpfs (needs root, as the test suite runs in CI; skipped where mounting is
// not allowed). The write fails with exit 5 and leaves neither the output nor a temporary file.
TEST_F(Safety, FullDiskLeavesNothingBehind) {
  const std::string mnt = dir_ + "/full";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
  const std::string big = test::ModelPath("mlp_relu.onnx");  // 22 KB in, and a 22 KB model out per copy
  test::ToolResult r = Tool("rewrite " + big + " -o " + mnt + "/a.onnx -q");
  EXPECT_EQ(r.code, 0) << r.err;
  r = Tool("rewrite " + big + " -o " + mnt + "/b.onnx -q");
  EXPECT_EQ(r.code, 0) << r.err;
  r = Tool("rewrite " + big + " -o " + mnt + "/c.onnx -q");  // the third does not fit
  EXPECT_EQ(r.code, 5);
  EXPECT_NE(r.err.find(mnt + "/c.onnx: write failed: No space left on device"), std::string::npos) << r.err;
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(mnt)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"a.onnx", "b.onnx"}));
  ::umount(mnt.c_str());
}

// The same with a model large enough to go through the streamed writer (a 24 MB tensor, streamed from
// the input, written in 8 MiB stages by the writer thread) into a 16 MiB tmpfs: the error from the
// writer thread still ends the run with exit 5 and nothing left.
TEST_F(Safety, FullDiskDuringAStreamedWriteLeavesNothingBehind) {
  const std::string mnt = dir_ + "/full";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=16m") != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
  auto m = Dense();
  test::AddInitializer(m, "big", {6 << 20});  // 24 MB of float32, not used by any node: kept, copied
  const std::string path = Save(m, "big.onnx");
  test::ToolResult r = Tool("rewrite " + path + " -o " + mnt + "/o.onnx -q");
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_NE(r.err.find(mnt + "/o.onnx: write failed: No space left on device"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(mnt));
  ::umount(mnt.c_str());
}

}  // namespace
}  // namespace reinit
