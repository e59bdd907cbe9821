// Loading and saving models. Saving is atomic: the model is written to a temporary file in the
// target's directory, flushed and fsync'ed, then renamed over the target, so a failed or interrupted
// write leaves either the old file or the new one, never a half-written model.
#pragma once

#include <string>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/io/inline_split.h"
#include "passes/graph/status.h"

namespace reinit {

// Reads and parses `path`. Errors (kBadModel) name the file and the problem.
// SHA-256 of an open file, read with pread on a second thread (its own descriptor, its own offsets)
// while the caller goes on: hashing a large input costs no time on two cores.
class FileHasher {
 public:
  explicit FileHasher(int fd);
  ~FileHasher();
  FileHasher(const FileHasher&) = delete;
  FileHasher& operator=(const FileHasher&) = delete;
  // Waits for the digest (lowercase hex); "" if reading failed or it was abandoned.
  std::string Finish(bool abandon = false);

 private:
  void Run();
  int fd_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::string hex_;
};

struct LoadOptions {
  bool hash = false;            // start a FileHasher on the file
  int64_t split_threshold = 0;  // > 0: leave raw_data of at least this many bytes on disk
};

struct Loaded {
  std::unique_ptr<FileHasher> hasher;  // with LoadOptions::hash
  // With split_threshold: the tensors parsed without their raw_data (passes/io/inline_split.h), and
  // where their bytes are. Only for a regular file with one link and under protobuf's 2 GB; otherwise,
  // or if the walk does not understand the file, the model is parsed whole and this is empty.
  std::vector<SplitTensor> split;
};

// Parses the model file.
Status LoadModel(const std::string& path, onnx::ModelProto* model);
Status LoadModel(const std::string& path, onnx::ModelProto* model, const LoadOptions& options, Loaded* loaded);

// Runs the ONNX checker and strict shape inference on `model`; kBadModel with the checker's message.
Status CheckModel(const onnx::ModelProto& model, const std::string& label);

// Serializes `model` (kWriteFailed when protobuf cannot, e.g. over its 2 GB limit).
Status SerializeModel(const onnx::ModelProto& model, const std::string& path, std::string* bytes);

// Writes `text` to `path` atomically, through an AtomicFile (passes/io/atomic_file.h).
Status WriteFileAtomic(const std::string& path, const std::string& text);

// SHA-256 as lowercase hex: of bytes in memory, or of a file (empty string when it cannot be read).
std::string Sha256(const std::string& bytes);
std::string Sha256OfFile(const std::string& path);

// True when both paths name the same existing file (same device and inode).
bool SameFile(const std::string& a, const std::string& b);

}  // namespace reinit
