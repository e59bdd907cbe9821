// AtomicFile: a file written under a temporary name in the target's directory, SHA-256 hashed as it is
// written (when asked: a report needs it), then flushed, fsync'ed and renamed over the target (and the
// directory fsync'ed). Until Commit() succeeds the target is untouched; a failed or abandoned write
// removes the temporary file. The target is resolved as passes/io/file_guard.h says: a symbolic link's
// file is replaced (the link stays); a device, FIFO, socket or standard output ("-") is written to
// directly — the one case that cannot be atomic — and a directory is refused.
#pragma once

#include <google/protobuf/message.h>

#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "passes/io/sha256.h"
#include "passes/graph/status.h"

namespace reinit {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path, bool hash = true);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status Open();
  Status Write(const char* data, size_t size);
  // Writing in place: room for up to `want` bytes at the end of the current buffer (fewer at its end,
  // at least one for want > 0), to fill and then count with Produced(n): the same as Write of them.
  char* Room(size_t want, size_t* got);
  Status Produced(size_t n);
  // Zero bytes up to the next multiple of `alignment`.
  Status Pad(uint64_t alignment);
  // Streams a protobuf message into the file: no serialized copy in memory, and large bytes fields
  // (tensor data) go from the message's own memory to write(2) without passing through a buffer.
  Status WriteMessage(const google::protobuf::Message& message);
  // Called with the bytes written so far each time a stage goes to the disk, and once more, with
  // `done`, when the file is closed (progress lines for large files).
  void OnProgress(std::function<void(uint64_t written, bool done)> progress) { progress_ = std::move(progress); }
  // Flushes and fsyncs the temporary file; the target is still untouched. Called by Commit() if needed.
  Status Close();
  // Renames the temporary file over the target and fsyncs the directory.
  Status Commit();

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // After Open(): the file the rename replaces (symbolic links followed); empty for a stream.
  const std::string& target() const { return target_; }
  // After Open(): the temporary file the bytes go to until Commit(); empty for a stream.
  const std::string& temporary() const { return tmp_; }
  // After Open(): written straight to a device, FIFO, socket or standard output.
  bool streamed() const { return stream_; }
  // Lowercase hex SHA-256 of everything written; valid after Close(); empty if not hashed.
  const std::string& sha256() const { return sha256_; }

 private:
  // Writes go through two stages: a full stage is written (in pieces, see WriteStage) by a writer
  // thread while the other one fills, so producing bytes and writing them overlap.
  static constexpr size_t kAlign = 4096, kStage = size_t{8} << 20, kPiece = size_t{256} << 10;
  Status FlushStage();
  Status WaitWriter();
  void StopWriter();
  void WriterLoop();
  Status WriteStage(const char* data, size_t size);
  Status WriteAll(const char* data, size_t size);

  std::string path_, target_, tmp_;
  int fd_ = -1;
  bool stream_ = false;
  std::function<void(uint64_t, bool)> progress_;
  uint64_t size_ = 0;
  std::unique_ptr<Sha256Digest> digest_;
  std::string sha256_;
  using Stage = std::unique_ptr<char, void (*)(void*)>;
  Stage stages_[2] = {Stage(nullptr, &std::free), Stage(nullptr, &std::free)};
  int current_ = 0;
  size_t staged_ = 0;
  std::thread writer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  const char* job_ = nullptr;  // the stage the writer is writing
  size_t job_size_ = 0;
  uint64_t written_ = 0;  // bytes handed to write(2) so far (by the writer thread, then by Close)
  bool stop_ = false;
  Status writer_status_;
  bool closed_ = false;
  bool committed_ = false;
};

}  // namespace reinit
