// Loading and saving models. Saving is atomic: the model is written to a temporary file in the
// target's directory, flushed and fsync'ed, then renamed over the target, so a failed or interrupted
// write leaves either the old file or the new one, never a half-written model.
#pragma once

#include <string>

#include "onnx/onnx_pb.h"
#include "passes/inline_split.h"
#include "passes/status.h"

namespace reinit {

// Reads and parses `path`. Errors (kBadModel) name the file and the problem.
// Parses the model file; with `sha256`, also hashes it on a second thread from the same open file
// while it is parsed.
//
// With `split`, main-graph initializers whose raw_data is at least `split_threshold` bytes are parsed
// without it (passes/inline_split.h): each comes back with no data and an entry in `split` saying where
// its bytes are in the file. Only for a regular file with one link and under protobuf's 2 GB; otherwise,
// or if the walk does not understand the file, the model is parsed whole and `split` is empty.
Status LoadModel(const std::string& path, onnx::ModelProto* model, std::string* sha256 = nullptr,
                 int64_t split_threshold = 0, std::vector<SplitTensor>* split = nullptr);

// Runs the ONNX checker and strict shape inference on `model`; kBadModel with the checker's message.
Status CheckModel(const onnx::ModelProto& model, const std::string& label);

// Serializes `model` (kWriteFailed when protobuf cannot, e.g. over its 2 GB limit).
Status SerializeModel(const onnx::ModelProto& model, const std::string& path, std::string* bytes);

// Writes `text` to `path` atomically, as SaveModelAtomic does.
Status WriteFileAtomic(const std::string& path, const std::string& text);

// SHA-256 as lowercase hex: of bytes in memory, or of a file (empty string when it cannot be read).
std::string Sha256(const std::string& bytes);
std::string Sha256OfFile(const std::string& path);

// True when both paths name the same existing file (same device and inode).
bool SameFile(const std::string& a, const std::string& b);

}  // namespace reinit
