#include "passes/io/atomic_file.h"

#include "passes/io/file_guard.h"
#include "passes/io/paths.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

namespace reinit {

namespace {
std::string ErrnoText() { return std::strerror(errno); }
}  // namespace

namespace {
char* NewStage(size_t alignment, size_t size) {
  char* stage = static_cast<char*>(std::aligned_alloc(alignment, size));
  if (stage == nullptr) throw std::bad_alloc();
  return stage;
}
}  // namespace

AtomicFile::AtomicFile(std::string path, bool hash)
    : path_(std::move(path)), digest_(hash ? std::make_unique<Sha256Digest>() : nullptr) {
  stages_[0].reset(NewStage(kAlign, kStage));
}

AtomicFile::~AtomicFile() {
  StopWriter();
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Status AtomicFile::Open() {
  OutputTarget target;
  REINIT_RETURN_IF_ERROR(ResolveOutput(path_, &target));
  if (target.kind == OutputTarget::Kind::kStream) {
    // A device, FIFO, socket or standard output: written to directly, never replaced.
    stream_ = true;
    fd_ = target.fd >= 0 ? ::fcntl(target.fd, F_DUPFD_CLOEXEC, 3) : ::open(target.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return {ExitCode::kWriteFailed, path_ + ": cannot open for writing: " + ErrnoText()};
    return Status::Ok();
  }
  // A regular file (new or replaced), or the file a symbolic link points to: the temporary file goes
  // in that file's directory, so the rename replaces it and the link stays a link.
  target_ = target.path;
  struct stat old {};
  const bool replaces = ::stat(target_.c_str(), &old) == 0;
  tmp_ = target_ + ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    tmp_.clear();
    return {ExitCode::kWriteFailed, path_ + ": cannot create: " + ErrnoText()};
  }
  if (replaces) {
    // The replacement keeps the replaced file's permissions (and, where allowed, its owner).
    ::fchmod(fd_, old.st_mode & 07777);
    if (::geteuid() == 0) (void)!::fchown(fd_, old.st_uid, old.st_gid);
  }
  return Status::Ok();
}

Status AtomicFile::Write(const char* data, size_t size) {
  while (size > 0) {
    size_t got = 0;
    char* room = Room(size, &got);
    std::memcpy(room, data, got);
    REINIT_RETURN_IF_ERROR(Produced(got));
    data += got;
    size -= got;
  }
  return Status::Ok();
}

char* AtomicFile::Room(size_t want, size_t* got) {
  *got = std::min(want, kStage - staged_);
  return stages_[current_].get() + staged_;
}

Status AtomicFile::Produced(size_t n) {
  staged_ += n;
  size_ += n;
  return staged_ == kStage ? FlushStage() : Status::Ok();
}

// The full stage goes to the writer thread (once it has finished the previous one, whose error, if
// any, is returned here); filling goes on in the other stage.
Status AtomicFile::FlushStage() {
  REINIT_RETURN_IF_ERROR(WaitWriter());
  if (!stages_[1]) stages_[1].reset(NewStage(kAlign, kStage));
  if (!writer_.joinable()) writer_ = std::thread(&AtomicFile::WriterLoop, this);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = stages_[current_].get();
    job_size_ = staged_;
  }
  changed_.notify_all();
  current_ = 1 - current_;
  staged_ = 0;
  if (progress_) progress_(size_, false);
  return Status::Ok();
}

Status AtomicFile::WaitWriter() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return job_ == nullptr; });
  return writer_status_;
}

void AtomicFile::StopWriter() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  writer_.join();
}

void AtomicFile::WriterLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return job_ != nullptr || stop_; });
    if (job_ == nullptr) return;
    const char* data = job_;
    const size_t size = job_size_;
    const bool failed = !writer_status_.ok();
    lock.unlock();
    // The stage is hashed on one more thread while it is written: the two overlap.
    std::thread hasher;
    if (digest_ && !failed) hasher = std::thread([this, data, size] { digest_->Update(data, size); });
    Status status = failed ? Status::Ok() : WriteStage(data, size);
    if (hasher.joinable()) hasher.join();
    lock.lock();
    if (!status.ok() && writer_status_.ok()) writer_status_ = status;
    job_ = nullptr;
    changed_.notify_all();
  }
}

// A stage goes to the page cache in pieces of kPiece, the disk is asked to start on it at once
// (sync_file_range: a hint, errors are fsync's to report), and Close() fsyncs the file. Measured on the
// 500 MB bench model (docs/performance.md, bench/write_modes.cc): buffered writes of 1 MiB or less and
// an fsync take what `cp` + `sync` takes, while one 8 MiB write(2) at a time takes 1.7-2x as long and
// O_DIRECT with 8 MiB 1.6-1.8x, however many of them are in flight (a large write copies from memory
// no cache holds into pages the kernel allocates as it goes; a small piece stays cached between the
// two). Starting the disk on each stage, instead of leaving all of it to the final fsync, overlaps the
// disk with generation: 1.05x `cp` + `sync` against 1.19x without it.
Status AtomicFile::WriteStage(const char* data, size_t size) {
  const off_t at = static_cast<off_t>(written_);
  const size_t whole = size;
  while (size > 0) {
    const size_t piece = std::min(size, kPiece);
    REINIT_RETURN_IF_ERROR(WriteAll(data, piece));
    data += piece;
    size -= piece;
  }
  written_ += whole;
  if (!stream_) ::sync_file_range(fd_, at, static_cast<off_t>(whole), SYNC_FILE_RANGE_WRITE);
  return Status::Ok();
}

// write(2) until done; a short write is continued, so that a full disk is reported by the next one.
Status AtomicFile::WriteAll(const char* data, size_t size) {
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
// Protobuf's serializer into AtomicFile::Write: small fields through a 1 MiB buffer, large bytes fields
// (which protobuf hands over as aliased raw writes) straight from the message's memory.
class Sink : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  explicit Sink(AtomicFile* file) : file_(file), buffer_(1 << 20) {}
  bool Next(void** data, int* size) override {
    if (used_ == buffer_.size() && !Flush()) return false;
    *data = buffer_.data() + used_;
    *size = static_cast<int>(buffer_.size() - used_);
    count_ += *size;
    used_ = buffer_.size();
    return true;
  }
  void BackUp(int count) override {
    used_ -= static_cast<size_t>(count);
    count_ -= count;
  }
  int64_t ByteCount() const override { return count_; }
  bool AllowsAliasing() const override { return true; }
  bool WriteAliasedRaw(const void* data, int size) override {
    if (!Flush()) return false;
    status_ = file_->Write(static_cast<const char*>(data), static_cast<size_t>(size));
    count_ += size;
    return status_.ok();
  }
  bool Flush() {
    if (used_ > 0 && status_.ok()) status_ = file_->Write(buffer_.data(), used_);
    used_ = 0;
    return status_.ok();
  }
  const Status& status() const { return status_; }

 private:
  AtomicFile* file_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  int64_t count_ = 0;
  Status status_;
};
}  // namespace

Status AtomicFile::WriteMessage(const google::protobuf::Message& message) {
  if (message.ByteSizeLong() > static_cast<size_t>(INT_MAX)) {
    return {ExitCode::kWriteFailed, path_ + ": the model is over protobuf's 2 GB limit (use --external-data-file)"};
  }
  Sink sink(this);
  bool serialized = false;
  {
    google::protobuf::io::CodedOutputStream coded(&sink);
    coded.EnableAliasing(true);
    // Sizes were computed (and cached in the message) by the check above: not walked again.
    message.SerializeWithCachedSizes(&coded);
    serialized = !coded.HadError();
  }
  if (!sink.Flush() || !sink.status().ok()) return sink.status();
  if (!serialized) return {ExitCode::kWriteFailed, path_ + ": the model could not be serialized"};
  return Status::Ok();
}

Status AtomicFile::Close() {
  if (closed_) return Status::Ok();
  const Status written = WaitWriter();
  StopWriter();
  REINIT_RETURN_IF_ERROR(written);
  if (staged_ > 0) {
    const size_t tail = staged_;
    staged_ = 0;
    if (digest_) digest_->Update(stages_[current_].get(), tail);
    REINIT_RETURN_IF_ERROR(WriteStage(stages_[current_].get(), tail));
  }
  // A pipe or device has nothing to flush to a disk (fsync would fail with EINVAL).
  if (!stream_ && ::fsync(fd_) != 0) return {ExitCode::kWriteFailed, path_ + ": flush failed: " + ErrnoText()};
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return {ExitCode::kWriteFailed, path_ + ": flush failed: " + ErrnoText()};
  closed_ = true;
  if (digest_) sha256_ = digest_->Hex();
  if (progress_) progress_(size_, true);
  return Status::Ok();
}

Status AtomicFile::Commit() {
  REINIT_RETURN_IF_ERROR(Close());
  if (stream_) {
    committed_ = true;
    return Status::Ok();
  }
  if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
    return {ExitCode::kWriteFailed, path_ + ": rename failed: " + ErrnoText()};
  }
  committed_ = true;
  // Make the rename itself durable.
  const int dir = ::open(DirectoryOf(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

}  // namespace reinit
