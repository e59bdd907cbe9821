// Models whose tensors live in external data files: read, rewritten, and written to a new data file
// beside the output; the input's data file is only read. Bad locations are refused.
#include "passes/io/external_data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "passes/io/model_io.h"
#include "passes/io/tensor_store.h"
#include "tests/test_util.h"
#include "tool/options.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;

class ExternalData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir(std::string("ext-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // cnn_bn with every initializer moved, back to back (no alignment), into `data_name`.
  void WriteExternalModel(const std::string& data_name) {
    ASSERT_TRUE(LoadModel(test::ModelPath("cnn_bn.onnx"), &original_).ok());
    onnx::ModelProto m = original_;
    std::string data;
    for (auto& t : *m.mutable_graph()->mutable_initializer()) {
      const size_t offset = data.size();
      data += t.raw_data();
      t.clear_raw_data();
      t.set_data_location(onnx::TensorProto::EXTERNAL);
      for (auto [k, v] : {std::pair<std::string, std::string>{"location", data_name},
                          {"offset", std::to_string(offset)},
                          {"length", std::to_string(data.size() - offset)}}) {
        auto* e = t.add_external_data();
        e->set_key(k);
        e->set_value(v);
      }
    }
    std::ofstream(dir_ + "/" + data_name, std::ios::binary) << data;
    std::string bytes;
    ASSERT_TRUE(SerializeModel(m, "m", &bytes).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/model.onnx", bytes).ok());
  }

  int Rewrite(const std::string& output, std::string* error = nullptr) {
    Options o;
    o.command = "rewrite";
    o.input = dir_ + "/model.onnx";
    o.output = output;
    std::ostringstream out, err;
    const int code = RunCommand(o, out, err);
    if (error) *error = err.str();
    return code;
  }

  std::string dir_;
  onnx::ModelProto original_;
};

TEST_F(ExternalData, TensorsAreReadRewrittenAndWrittenToANewDataFile) {
  WriteExternalModel("weights.bin");
  const std::string input_data_sha = Sha256OfFile(dir_ + "/weights.bin");
  std::string err;
  ASSERT_EQ(Rewrite(dir_ + "/out.onnx", &err), 0) << err;
  EXPECT_EQ(Sha256OfFile(dir_ + "/weights.bin"), input_data_sha);
  ASSERT_TRUE(fs::exists(dir_ + "/out.onnx.data"));

  onnx::ModelProto out;
  ASSERT_TRUE(LoadModel(dir_ + "/out.onnx", &out).ok());
  for (const auto& t : out.graph().initializer()) {
    ASSERT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL) << t.name();
    EXPECT_EQ(t.external_data(0).value(), "out.onnx.data");
    EXPECT_EQ(std::stoll(t.external_data(1).value()) % 4096, 0) << "offset of " << t.name() << " is not aligned";
  }
  ExternalTensors ext;
  ASSERT_TRUE(LoadExternalData(dir_ + "/out.onnx", &out, &ext).ok());
  EXPECT_EQ(ext.keys.size(), static_cast<size_t>(out.graph().initializer_size()));
  // Re-initialized as if the data had been in the file: BN scale is 1, the conv weight is new.
  auto tensors = test::TensorsByName(out);
  auto before = test::TensorsByName(original_);
  for (double x : test::Values(*tensors["features.1.weight"])) EXPECT_EQ(x, 1.0);
  EXPECT_NE(test::Values(*tensors["features.0.weight"]), test::Values(*before["features.0.weight"]));
  Status s = CheckModel(out, "out");
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(ExternalData, KeptTensorsAreCopiedAcrossUnchanged) {
  WriteExternalModel("weights.bin");
  Options o;
  o.command = "rewrite";
  o.input = dir_ + "/model.onnx";
  o.output = dir_ + "/out.onnx";
  o.Set("keep", "op=BatchNormalization");
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(o, out, err), 0) << err.str();
  onnx::ModelProto rewritten;
  ASSERT_TRUE(LoadModel(o.output, &rewritten).ok());
  ExternalTensors ext;
  ASSERT_TRUE(LoadExternalData(o.output, &rewritten, &ext).ok());
  auto after = test::TensorsByName(rewritten), before = test::TensorsByName(original_);
  for (const char* kept : {"features.1.weight", "features.1.running_var", "features.5.bias"}) {
    EXPECT_EQ(after[kept]->raw_data(), before[kept]->raw_data()) << kept;
  }
  EXPECT_NE(after["features.0.weight"]->raw_data(), before["features.0.weight"]->raw_data());
  // Same bytes as rewriting the inline model: lazy loading changes nothing in the result.
  Options inline_run = o;
  inline_run.input = test::ModelPath("cnn_bn.onnx");
  inline_run.output = dir_ + "/inline.onnx";
  ASSERT_EQ(RunCommand(inline_run, out, err), 0) << err.str();
  onnx::ModelProto inline_model;
  ASSERT_TRUE(LoadModel(inline_run.output, &inline_model).ok());
  for (const auto& [name, t] : test::TensorsByName(inline_model)) EXPECT_EQ(after[name]->raw_data(), t->raw_data()) << name;
}

struct BadLocation {
  std::string name, location, offset, message;
};
class BadExternalData : public ExternalData, public ::testing::WithParamInterface<BadLocation> {};

TEST_P(BadExternalData, IsRefusedWithItsReasonAndNothingIsWritten) {
  WriteExternalModel("weights.bin");
  fs::create_directories(dir_ + "/sub");
  std::ofstream(dir_ + "/../outside-" + std::to_string(::getpid()) + ".bin") << "0123456789";
  fs::create_symlink(dir_ + "/../outside-" + std::to_string(::getpid()) + ".bin", dir_ + "/link.bin");
  onnx::ModelProto m;
  ASSERT_TRUE(LoadModel(dir_ + "/model.onnx", &m).ok());
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->mutable_external_data(0)->set_value(GetParam().location);
  if (!GetParam().offset.empty()) t->mutable_external_data(1)->set_value(GetParam().offset);
  std::string bytes;
  ASSERT_TRUE(SerializeModel(m, "m", &bytes).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/model.onnx", bytes).ok());
  std::string err;
  EXPECT_EQ(Rewrite(dir_ + "/out.onnx", &err), 3);
  EXPECT_EQ(err.rfind("onnx-reinit: error: tensor 'features.0.weight': ", 0), 0u) << err;
  EXPECT_NE(err.find(GetParam().message), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir_ + "/out.onnx"));
  EXPECT_FALSE(fs::exists(dir_ + "/out.onnx.data"));
  fs::remove(dir_ + "/../outside-" + std::to_string(::getpid()) + ".bin");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadExternalData,
    ::testing::Values(
        BadLocation{"missing", "nope.bin", "", "external data file 'nope.bin' cannot be opened"},
        BadLocation{"dotdot", "../weights.bin", "", "must be a relative path inside the model's directory"},
        BadLocation{"dotdot_inside", "sub/../../x.bin", "", "must be a relative path inside the model's directory"},
        BadLocation{"absolute", "/etc/passwd", "", "must be a relative path inside the model's directory"},
        BadLocation{"symlink_out", "link.bin", "", "resolves outside the model's directory"},
        BadLocation{"directory", "sub", "", "is not a regular file"},
        BadLocation{"past_end", "weights.bin", "99999999", "lies past the end of 'weights.bin'"},
        BadLocation{"negative", "weights.bin", "-4", "external data offset '-4' is not a non-negative integer"}),
    [](const auto& info) { return info.param.name; });

TEST_F(ExternalData, OutputDataFileMayNotReplaceTheInputs) {
  WriteExternalModel("o.onnx.data");
  const std::string sha = Sha256OfFile(dir_ + "/o.onnx.data");
  std::string err;
  EXPECT_EQ(Rewrite(dir_ + "/o.onnx", &err), 2);
  EXPECT_NE(err.find("the output's data file would overwrite the input's external data"), std::string::npos) << err;
  EXPECT_EQ(Sha256OfFile(dir_ + "/o.onnx.data"), sha);
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
}

TEST_F(ExternalData, ExternalDataFileAndSizeThresholdMoveLargeTensorsOut) {
  const std::string in = test::ModelPath("cnn_bn.onnx");
  test::ToolResult r = test::RunTool("rewrite " + in + " -o " + dir_ + "/o.onnx --external-data-file weights.bin "
                                     "--size-threshold 512 -q", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(fs::exists(dir_ + "/weights.bin"));
  onnx::ModelProto out;
  ASSERT_TRUE(LoadModel(dir_ + "/o.onnx", &out).ok());
  int external = 0, inline_small = 0;
  for (const auto& t : out.graph().initializer()) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
      ++external;
      EXPECT_EQ(t.external_data(0).value(), "weights.bin");
      EXPECT_GE(std::stoll(t.external_data(2).value()), 512) << t.name();
    } else {
      ++inline_small;
      EXPECT_LT(t.raw_data().size(), 512u) << t.name();
    }
  }
  EXPECT_EQ(external, 3);  // the two conv weights (864 and 2304 bytes) and the head (640)
  EXPECT_GT(inline_small, 0);
  // The same values as an all-inline rewrite with the same seed.
  ASSERT_EQ(test::RunTool("rewrite " + in + " -o " + dir_ + "/inline.onnx -q", dir_).code, 0);
  onnx::ModelProto inline_model;
  ASSERT_TRUE(LoadModel(dir_ + "/inline.onnx", &inline_model).ok());
  ExternalTensors ext;
  ASSERT_TRUE(LoadExternalData(dir_ + "/o.onnx", &out, &ext).ok());
  auto a = test::TensorsByName(out), b = test::TensorsByName(inline_model);
  for (const auto& [name, t] : b) EXPECT_EQ(a[name]->raw_data(), t->raw_data()) << name;
}

TEST_F(ExternalData, ExternalDataFileMustBeAPlainName) {
  test::ToolResult r = test::RunTool("rewrite " + test::ModelPath("cnn_bn.onnx") + " -o " + dir_ +
                                     "/o.onnx --external-data-file ../x.bin", dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "onnx-reinit: error: --external-data-file ../x.bin: must be a file name (it goes beside the output)\n");
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// TensorStore::ForEachBlock: a tensor in a data file comes in blocks of at most the size asked for, in
// order, each with the index of its first value; the values are the tensor's (fp16 decoded).
TEST(TensorStoreBlocks, AFileTensorComesInOrderedBlocks) {
  const std::string dir = test::TempDir("store_blocks");
  const std::vector<float> values = {0.5f, -1.f, 2.f, 3.5f, -4.f, 5.f, 6.25f, -7.f, 8.f, 9.5f};
  {
    std::ofstream data(dir + "/w.bin", std::ios::binary);
    data.write("padding!", 8);  // the tensor starts at offset 8
    data.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
  }
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(10);
  TensorStore store;
  store.AddExternal(&t, ExternalSource{std::filesystem::canonical(dir + "/w.bin").string(), 8, 40});
  std::vector<double> seen;
  std::vector<int64_t> firsts;
  ASSERT_TRUE(store.ForEachBlock(t, 4, [&](const std::vector<double>& block, int64_t first) {
                     EXPECT_LE(block.size(), 4u);
                     firsts.push_back(first);
                     seen.insert(seen.end(), block.begin(), block.end());
                     return Status::Ok();
                   }).ok());
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 4, 8}));
  ASSERT_EQ(seen.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(seen[i], values[i]) << i;
  // A failing callback stops the walk and its status comes back.
  int calls = 0;
  const Status stopped = store.ForEachBlock(t, 4, [&](const std::vector<double>&, int64_t) {
    ++calls;
    return Status{ExitCode::kBadModel, "stop"};
  });
  EXPECT_EQ(stopped.code(), ExitCode::kBadModel);
  EXPECT_EQ(calls, 1);
}

// ReadBytes of a tensor in memory that keeps its values in a typed field: the bytes raw_data would hold.
TEST(TensorStoreBlocks, ATypedFieldIsReadAsRawBytes) {
  onnx::TensorProto f;
  f.set_name("f");
  f.set_data_type(onnx::TensorProto::FLOAT);
  f.add_dims(3);
  for (float v : {1.5f, -2.f, 4.25f}) f.add_float_data(v);
  onnx::TensorProto h;  // fp16 bit patterns, one per int32
  h.set_name("h");
  h.set_data_type(onnx::TensorProto::FLOAT16);
  h.add_dims(2);
  h.add_int32_data(0x3c00);  // 1.0
  h.add_int32_data(0xc000);  // -2.0
  TensorStore store;
  std::string bytes;
  ASSERT_TRUE(store.ReadBytes(f, 4, 0, 1, 8, &bytes).ok());  // elements 1 and 2
  float two[2];
  ASSERT_EQ(bytes.size(), sizeof two);
  std::memcpy(two, bytes.data(), sizeof two);
  EXPECT_EQ(two[0], -2.f);
  EXPECT_EQ(two[1], 4.25f);
  ASSERT_TRUE(store.ReadBytes(h, 0, 0, 1, 4, &bytes).ok());
  EXPECT_EQ(bytes, std::string("\x00\x3c\x00\xc0", 4));
  EXPECT_EQ(store.ReadBytes(f, 8, 0, 1, 8, &bytes).code(), ExitCode::kInternal);  // past its bytes
}

}  // namespace
}  // namespace reinit
