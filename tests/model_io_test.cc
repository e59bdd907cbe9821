// Reading and writing models: the streamed writer (small fields buffered, large tensor bytes taken from
// the message's memory, 8 MiB buffers written and hashed on threads of their own) and the hashing
// reader give exactly the bytes and hashes that protobuf's own serializer and an independent hash of
// the file give.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "passes/io/atomic_file.h"
#include "passes/io/model_io.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;

// A model with tensors below and above the writer's 8 MiB buffers and protobuf's 1 MiB one.
onnx::ModelProto Model() {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) { H = MatMul(X, W)  Y = Relu(H) })");
  std::mt19937 gen(7);
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, size_t>>{
           {"small", 100}, {"medium", 3 << 20}, {"large", 9 << 20}, {"tail", 12}}) {
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::UINT8);
    t->add_dims(static_cast<int64_t>(bytes));
    std::string data(bytes, '\0');
    for (char& c : data) c = static_cast<char>(gen());
    t->set_raw_data(data);
  }
  return m;
}

TEST(ModelIo, StreamedWriteIsProtobufsSerializationWithItsHash) {
  const std::string dir = test::TempDir("model-io-write");
  const onnx::ModelProto m = Model();
  std::string expected;
  ASSERT_TRUE(m.SerializeToString(&expected));
  for (const bool hash : {true, false}) {
    const std::string path = dir + "/m" + std::to_string(hash) + ".onnx";
    AtomicFile file(path, hash);
    ASSERT_TRUE(file.Open().ok());
    ASSERT_TRUE(file.WriteMessage(m).ok());
    ASSERT_TRUE(file.Commit().ok());
    const std::string written = test::Slurp(path);
    EXPECT_TRUE(written == expected) << "written " << written.size() << " bytes, expected " << expected.size();
    EXPECT_EQ(file.sha256(), hash ? Sha256OfFile(path) : "");
  }
  fs::remove_all(dir);
}

TEST(ModelIo, LoadHashesExactlyTheFileItParsed) {
  const std::string dir = test::TempDir("model-io-read");
  const onnx::ModelProto m = Model();
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  const std::string path = dir + "/m.onnx";
  ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
  onnx::ModelProto loaded;
  LoadOptions options;
  options.hash = true;
  Loaded result;
  ASSERT_TRUE(LoadModel(path, &loaded, options, &result).ok());
  ASSERT_TRUE(result.hasher);
  const std::string sha = result.hasher->Finish();
  EXPECT_EQ(sha, Sha256OfFile(path));
  EXPECT_EQ(sha, Sha256(bytes));
  std::string again;
  ASSERT_TRUE(loaded.SerializeToString(&again));
  EXPECT_TRUE(again == bytes);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace reinit
