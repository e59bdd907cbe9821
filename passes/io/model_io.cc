#include "passes/io/model_io.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "onnx/checker.h"
#include "passes/io/atomic_file.h"
#include "passes/graph/graph_index.h"
#include "passes/io/sha256.h"
#include "onnx/shape_inference/implementation.h"

namespace reinit {

namespace {

std::string ErrnoText() { return std::strerror(errno); }

// Closes the descriptor on every path out of a function.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};


// The file into protobuf's parser through 256 KiB reads (protobuf's own FileInputStream reads 8 KiB at a
// time: 60,000 system calls for 500 MB).
class FileSource : public google::protobuf::io::CopyingInputStream {
 public:
  explicit FileSource(int fd) : fd_(fd) {}
  int Read(void* buffer, int size) override {
    ssize_t n;
    do {
      n = ::read(fd_, buffer, static_cast<size_t>(size));
    } while (n < 0 && errno == EINTR);
    return static_cast<int>(n);
  }

 private:
  int fd_;
};

}  // namespace

FileHasher::FileHasher(int fd) : fd_(::dup(fd)) {
  if (fd_ >= 0) thread_ = std::thread([this] { Run(); });
}

FileHasher::~FileHasher() {
  Finish(/*abandon=*/true);
  if (fd_ >= 0) ::close(fd_);
}

std::string FileHasher::Finish(bool abandon) {
  if (abandon) stop_ = true;
  if (thread_.joinable()) thread_.join();
  return hex_;
}

void FileHasher::Run() {
  Sha256Digest digest;
  std::vector<char> buffer(1 << 20);
  off_t offset = 0;
  while (!stop_) {
    const ssize_t n = ::pread(fd_, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    if (n == 0) break;
    digest.Update(buffer.data(), static_cast<size_t>(n));
    offset += n;
  }
  if (!stop_) hex_ = digest.Hex();
}

namespace {
// protobuf's limits for a model: the whole message, and nesting (a subgraph costs three message levels,
// graph, node, attribute: room for the tool's own nesting limit to be the one that speaks, with a
// clear message; protobuf still stops anything deeper).
void SetLimits(google::protobuf::io::CodedInputStream* coded) {
  coded->SetTotalBytesLimit(INT_MAX);
  coded->SetRecursionLimit(4 * kMaxGraphDepth + 16);
}

bool ParseSkeleton(const std::string& bytes, onnx::ModelProto* model) {
  google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&raw);
  SetLimits(&coded);
  return model->ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}
}  // namespace

Status LoadModel(const std::string& path, onnx::ModelProto* model) {
  Loaded loaded;
  return LoadModel(path, model, LoadOptions{}, &loaded);
}

Status LoadModel(const std::string& path, onnx::ModelProto* model, const LoadOptions& options, Loaded* loaded) {
  std::vector<SplitTensor>* split = options.split_threshold > 0 ? &loaded->split : nullptr;
  const int64_t split_threshold = options.split_threshold;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {ExitCode::kBadModel, path + ": cannot open: " + ErrnoText()};
  if (!S_ISREG(st.st_mode)) return {ExitCode::kBadModel, path + ": not a regular file"};
  if (st.st_size == 0) return {ExitCode::kBadModel, path + ": empty file, not an ONNX model"};
  // O_NONBLOCK: a FIFO put in the file's place after the stat above must not block the open.
  Fd in{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (in.fd < 0 && errno == ELOOP) in.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a link: parsed whole
  if (in.fd < 0) return {ExitCode::kBadModel, path + ": cannot open: " + ErrnoText()};
  if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) return {ExitCode::kBadModel, path + ": not a regular file"};
  if (options.hash) loaded->hasher = std::make_unique<FileHasher>(in.fd);
  bool parsed = false;
  if (split != nullptr) {
    split->clear();
    struct stat own {};
    std::string skeleton;
    if (::fstat(in.fd, &own) == 0 && S_ISREG(own.st_mode) && own.st_nlink == 1 && own.st_size <= INT_MAX &&
        ::lstat(path.c_str(), &st) == 0 && !S_ISLNK(st.st_mode) &&
        SplitLargeTensors(in.fd, own.st_size, split_threshold, &skeleton, split) && !split->empty()) {
      parsed = ParseSkeleton(skeleton, model);
      for (const auto& t : *split) {
        const onnx::TensorProto* tensor = parsed ? FindTensor(model, t.path) : nullptr;
        parsed = tensor != nullptr && !tensor->has_raw_data();
      }
    }
    if (!parsed) {
      split->clear();
      model->Clear();
    }
  }
  if (!parsed) {
    FileSource source(in.fd);
    google::protobuf::io::CopyingInputStreamAdaptor raw(&source, 256 << 10);
    google::protobuf::io::CodedInputStream coded(&raw);
    SetLimits(&coded);
    if (!model->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
      loaded->hasher.reset();
      return {ExitCode::kBadModel, path + ": not a valid ONNX model (protobuf parse failed)"};
    }
  }
  if (!model->has_graph()) {
    loaded->hasher.reset();
    return {ExitCode::kBadModel, path + ": the model has no graph"};
  }
  return Status::Ok();
}

Status CheckModel(const onnx::ModelProto& model, const std::string& label) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto copy = model;
    onnx::ShapeInferenceOptions options(/*check_type=*/true, /*error_mode=*/1, /*data_prop=*/false);
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    std::string what = e.what();
    for (char& c : what) {
      if (c == '\n') c = ' ';
    }
    return {ExitCode::kBadModel, label + ": fails the ONNX checker: " + what};
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  REINIT_RETURN_IF_ERROR(file.Open());
  REINIT_RETURN_IF_ERROR(file.Write(text.data(), text.size()));
  return file.Commit();
}

Status SerializeModel(const onnx::ModelProto& model, const std::string& path, std::string* bytes) {
  if (!model.SerializeToString(bytes)) {
    return {ExitCode::kWriteFailed, path + ": the model could not be serialized (over protobuf's 2 GB limit?)"};
  }
  return Status::Ok();
}


std::string Sha256(const std::string& bytes) {
  Sha256Digest digest;
  digest.Update(bytes.data(), bytes.size());
  return digest.Hex();
}

std::string Sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  Sha256Digest digest;
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    digest.Update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return digest.Hex();
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

}  // namespace reinit
