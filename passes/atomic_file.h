// AtomicFile: a file written under a temporary name in the target's directory, SHA-256 hashed as it is
// written (when asked: a report needs it), then flushed, fsync'ed and renamed over the target (and the
// directory fsync'ed). Until
// Commit() succeeds the target is untouched; a failed or abandoned write removes the temporary file.
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <string>

#include "passes/sha256.h"
#include "passes/status.h"

namespace reinit {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path, bool hash = true);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status Open();
  Status Write(const char* data, size_t size);
  // Zero bytes up to the next multiple of `alignment`.
  Status Pad(uint64_t alignment);
  // Streams a protobuf message into the file: no serialized copy in memory, and large bytes fields
  // (tensor data) go from the message's own memory to write(2) without passing through a buffer.
  Status WriteMessage(const google::protobuf::Message& message);
  // Flushes and fsyncs the temporary file; the target is still untouched. Called by Commit() if needed.
  Status Close();
  // Renames the temporary file over the target and fsyncs the directory.
  Status Commit();

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Lowercase hex SHA-256 of everything written; valid after Close(); empty if not hashed.
  const std::string& sha256() const { return sha256_; }

 private:
  // Writes go through an aligned stage; full stages are written with O_DIRECT (see FlushStage).
  static constexpr size_t kAlign = 4096, kStage = size_t{8} << 20;
  Status FlushStage();
  Status WriteAll(const char* data, size_t size);

  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::unique_ptr<Sha256Digest> digest_;
  std::string sha256_;
  std::unique_ptr<char, void (*)(void*)> stage_;
  size_t staged_ = 0;
  bool direct_ = false, direct_refused_ = false;
  int write_errno_ = 0;
  bool closed_ = false;
  bool committed_ = false;
};

}  // namespace reinit
