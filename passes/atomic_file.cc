#include "passes/atomic_file.h"

#include "passes/paths.h"

#include <fcntl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

namespace reinit {

namespace {
std::string ErrnoText() { return std::strerror(errno); }
}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), digest_(std::make_unique<Sha256Digest>()) {}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Status AtomicFile::Open() {
  tmp_ = path_ + ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    tmp_.clear();
    return {ExitCode::kWriteFailed, path_ + ": cannot create: " + ErrnoText()};
  }
  return Status::Ok();
}

Status AtomicFile::Write(const char* data, size_t size) {
  digest_->Update(data, size);
  size_ += size;
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return {ExitCode::kWriteFailed, path_ + ": write failed: " + ErrnoText()};
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status AtomicFile::Pad(uint64_t alignment) {
  const uint64_t target = (size_ + alignment - 1) / alignment * alignment;
  static const std::vector<char> kZeros(65536, 0);
  while (size_ < target) {
    REINIT_RETURN_IF_ERROR(Write(kZeros.data(), static_cast<size_t>(std::min<uint64_t>(kZeros.size(), target - size_))));
  }
  return Status::Ok();
}

namespace {
// Feeds protobuf's serializer into AtomicFile::Write.
class Sink : public google::protobuf::io::CopyingOutputStream {
 public:
  explicit Sink(AtomicFile* file) : file_(file) {}
  bool Write(const void* buffer, int size) override {
    status_ = file_->Write(static_cast<const char*>(buffer), static_cast<size_t>(size));
    return status_.ok();
  }
  const Status& status() const { return status_; }

 private:
  AtomicFile* file_;
  Status status_;
};
}  // namespace

Status AtomicFile::WriteMessage(const google::protobuf::Message& message) {
  if (message.ByteSizeLong() > static_cast<size_t>(INT_MAX)) {
    return {ExitCode::kWriteFailed, path_ + ": the model is over protobuf's 2 GB limit (use --external-data-file)"};
  }
  Sink sink(this);
  {
    google::protobuf::io::CopyingOutputStreamAdaptor adaptor(&sink, 1 << 20);
    if (!message.SerializeToZeroCopyStream(&adaptor) || !adaptor.Flush()) {
      return sink.status().ok() ? Status{ExitCode::kWriteFailed, path_ + ": the model could not be serialized"}
                                : sink.status();
    }
  }
  return sink.status();
}

Status AtomicFile::Close() {
  if (closed_) return Status::Ok();
  if (::fsync(fd_) != 0) return {ExitCode::kWriteFailed, path_ + ": flush failed: " + ErrnoText()};
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return {ExitCode::kWriteFailed, path_ + ": flush failed: " + ErrnoText()};
  closed_ = true;
  sha256_ = digest_->Hex();
  return Status::Ok();
}

Status AtomicFile::Commit() {
  REINIT_RETURN_IF_ERROR(Close());
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return {ExitCode::kWriteFailed, path_ + ": rename failed: " + ErrnoText()};
  }
  committed_ = true;
  // Make the rename itself durable.
  const int dir = ::open(DirectoryOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

}  // namespace reinit
