// Where outputs go (passes/io/file_guard.h, passes/io/atomic_file.h): symbolic links, devices, FIFOs,
// standard output and directories as `-o` and `--report` targets, and the one check that no command
// writes a file it reads or writes twice. Device nodes are made with mknod in a temporary directory
// (the tests run as root, as CI runs them) — never the machine's own /dev/null.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "passes/io/file_guard.h"
#include "passes/io/model_io.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

namespace fs = std::filesystem;
using test::Slurp;

class Outputs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir(std::string("outputs-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    model_ = dir_ + "/model.onnx";
    fs::copy_file(test::ModelPath("cnn_bn.onnx"), model_);
    model_sha_ = Sha256OfFile(model_);
    // The bytes a rewrite with seed 3 writes to a plain file: what every other target must receive.
    ASSERT_EQ(Tool("rewrite " + model_ + " -o " + dir_ + "/plain.onnx --seed 3 -q").code, 0);
    expected_ = Slurp(dir_ + "/plain.onnx");
    fs::remove(dir_ + "/plain.onnx");
  }
  void TearDown() override {
    EXPECT_EQ(Sha256OfFile(model_), model_sha_);  // the input never changes
    fs::remove_all(dir_);
  }

  test::ToolResult Tool(const std::string& args) { return test::RunTool(args, dir_); }

  // A character device node in the test directory with the null device's numbers.
  std::string NullDevice(const std::string& name) {
    const std::string path = dir_ + "/" + name;
    if (::geteuid() != 0) return "";
    EXPECT_EQ(::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << std::strerror(errno);
    return path;
  }

  static mode_t Type(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & S_IFMT;
  }

  std::string dir_, model_, model_sha_, expected_;
};

TEST_F(Outputs, ACharacterDeviceIsWrittenToNotReplaced) {
  const std::string null = NullDevice("null");
  if (null.empty()) GTEST_SKIP() << "mknod needs root";
  test::ToolResult r = Tool("rewrite " + model_ + " -o " + null + " --seed 3");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Type(null), static_cast<mode_t>(S_IFCHR));
  // Model and report may both go to the null device.
  r = Tool("rewrite " + model_ + " -o " + null + " --report " + null + " -q");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Type(null), static_cast<mode_t>(S_IFCHR));
  EXPECT_FALSE(fs::exists(null + ".data"));
}

TEST_F(Outputs, ABlockDeviceIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod needs root";
  const std::string block = dir_ + "/block";
  ASSERT_EQ(::mknod(block.c_str(), S_IFBLK | 0600, makedev(7, 200)), 0);
  test::ToolResult r = Tool("rewrite " + model_ + " -o " + block);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "onnx-reinit: error: " + block + ": is a block device, not a file to write a model to\n");
  EXPECT_EQ(Type(block), static_cast<mode_t>(S_IFBLK));
}

TEST_F(Outputs, AFifoIsStreamedTo) {
  const std::string fifo = dir_ + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    received.assign(std::istreambuf_iterator<char>(in), {});
  });
  test::ToolResult r = Tool("rewrite " + model_ + " -o " + fifo + " --seed 3 -q");
  reader.join();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(received, expected_);
  EXPECT_EQ(Type(fifo), static_cast<mode_t>(S_IFIFO));
}

TEST_F(Outputs, DashAndDevStdoutStreamTheModelAndMoveTheTableToStderr) {
  for (const std::string target : {"-", "/dev/stdout"}) {
    test::ToolResult r = Tool("rewrite " + model_ + " -o " + target + " --seed 3");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, expected_) << target;
    EXPECT_NE(r.err.find("features.0.weight"), std::string::npos) << r.err;  // the table
    EXPECT_NE(r.err.find("onnx-reinit: wrote the model to stdout"), std::string::npos) << r.err;
  }
}

TEST_F(Outputs, ASymbolicLinkStaysALinkAndItsFileIsReplacedWithItsMode) {
  const std::string real = dir_ + "/real.onnx", link = dir_ + "/link.onnx";
  { std::ofstream(real) << "old"; }
  ASSERT_EQ(::chmod(real.c_str(), 0640), 0);
  fs::create_symlink("real.onnx", link);
  test::ToolResult r = Tool("rewrite " + model_ + " -o " + link + " --seed 3 -q");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Type(link), static_cast<mode_t>(S_IFLNK));
  EXPECT_EQ(fs::read_symlink(link), "real.onnx");
  EXPECT_EQ(Slurp(real), expected_);
  struct stat st {};
  ASSERT_EQ(::stat(real.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // The temporary file was made beside the link's file and is gone.
  for (const auto& e : fs::directory_iterator(dir_)) EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos);
}

TEST_F(Outputs, ADanglingLinkCreatesTheFileItPointsTo) {
  fs::create_directory(dir_ + "/sub");
  const std::string link = dir_ + "/link.onnx";
  fs::create_symlink("sub/new.onnx", link);
  test::ToolResult r = Tool("rewrite " + model_ + " -o " + link + " --seed 3 -q --report " + dir_ + "/r.json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Type(link), static_cast<mode_t>(S_IFLNK));
  EXPECT_EQ(Slurp(dir_ + "/sub/new.onnx"), expected_);
}

TEST_F(Outputs, ADirectoryIsAUsageError) {
  fs::create_directory(dir_ + "/d");
  for (const auto& [target, message] : std::vector<std::pair<std::string, std::string>>{
           {dir_ + "/d", dir_ + "/d: is a directory"},
           {dir_ + "/d/", dir_ + "/d/: is a directory"},
           {dir_ + "/new/", dir_ + "/new/: ends with '/': a file name is needed"}}) {
    for (const std::string flag : {"-o", "--report"}) {
      const std::string args = flag == "-o" ? "rewrite " + model_ + " -o " + target
                                            : "rewrite " + model_ + " -o " + dir_ + "/o.onnx --report " + target;
      test::ToolResult r = Tool(args);
      EXPECT_EQ(r.code, 2) << args;
      EXPECT_EQ(r.err, "onnx-reinit: error: " + message + "\n") << args;
    }
  }
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
  EXPECT_TRUE(fs::is_empty(dir_ + "/d"));
}

// Every command refuses an output that is one of its inputs or another output, before any work.
struct Clash {
  std::string args;  // $M model, $D directory, $H a hard link to the model, $R the rules file
  std::string message;
};

class OutputClash : public Outputs, public ::testing::WithParamInterface<Clash> {};

TEST_P(OutputClash, IsAUsageErrorAndNothingIsWritten) {
  ASSERT_EQ(::link(model_.c_str(), (dir_ + "/hard.onnx").c_str()), 0);
  { std::ofstream(dir_ + "/rules.yaml") << "seed: 1\n"; }
  fs::create_symlink("model.onnx", dir_ + "/alias.onnx");
  std::string args = GetParam().args, message = GetParam().message;
  for (std::string* s : {&args, &message}) {
    for (auto [key, value] : {std::pair<std::string, std::string>{"$M", model_}, {"$D", dir_},
                              {"$H", dir_ + "/hard.onnx"}, {"$R", dir_ + "/rules.yaml"}}) {
      for (size_t at; (at = s->find(key)) != std::string::npos;) s->replace(at, 2, value);
    }
  }
  const std::string rules = Slurp(dir_ + "/rules.yaml");
  test::ToolResult r = Tool(args);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err, "onnx-reinit: error: " + message + "\n");
  EXPECT_EQ(Slurp(dir_ + "/rules.yaml"), rules);
  EXPECT_FALSE(fs::exists(dir_ + "/o.onnx"));
}

INSTANTIATE_TEST_SUITE_P(
    EveryCommand, OutputClash,
    ::testing::Values(
        Clash{"plan $M --report $M", "$M: the report would overwrite the input model"},
        Clash{"check $M --report $M", "$M: the report would overwrite the input model"},
        Clash{"plan $M --report $H", "$H: the report would overwrite the input model"},
        Clash{"plan $M --report $D/alias.onnx", "$D/alias.onnx: the report would overwrite the input model"},
        Clash{"plan $M --config $R --report $R", "$R: the report would overwrite the rules file"},
        Clash{"rewrite $M -o $D/alias.onnx", "$D/alias.onnx: the output would overwrite the input model (use --in-place)"},
        Clash{"rewrite $M -o $H", "$H: the output would overwrite the input model (use --in-place)"},
        Clash{"rewrite $M -o $D/o.onnx --report $D/o.onnx", "$D/o.onnx: the report and the output are the same file"},
        Clash{"rewrite $M --in-place --report $M", "$M: the report would overwrite the input model"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

TEST_F(Outputs, ADataFileCannotGoBesideAPipe) {
  test::ToolResult r = Tool("rewrite " + model_ + " -o - --external-data-file w.data");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("-: this model needs a data file beside it (external data), so it cannot be written to a "
                       "pipe or device"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(FileGuard, SeesThroughLinksAndHardLinksButLetsInputsRepeat) {
  const std::string dir = test::TempDir("file-guard");
  { std::ofstream(dir + "/a") << "a"; }
  ASSERT_EQ(::link((dir + "/a").c_str(), (dir + "/b").c_str()), 0);
  FileGuard guard;
  EXPECT_TRUE(guard.Read(dir + "/a", "the input model").ok());
  EXPECT_TRUE(guard.Read(dir + "/./a", "the rules file").ok());  // two inputs may be one file
  Status s = guard.Write(dir + "/b", "the report");
  EXPECT_EQ(s.code(), ExitCode::kUsage);
  EXPECT_EQ(s.message(), dir + "/b: the report would overwrite the input model");
  EXPECT_TRUE(guard.Write(dir + "/c", "the output").ok());
  s = guard.Write(dir + "/../" + fs::path(dir).filename().string() + "/c", "the report");
  EXPECT_EQ(s.code(), ExitCode::kUsage) << s.message();
  // A file read after the outputs are known (an external data file) is checked against them too.
  s = guard.Read(dir + "/c", "the input's external data");
  EXPECT_EQ(s.message(), dir + "/c: the output would overwrite the input's external data");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace reinit
