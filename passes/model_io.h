// Loading and saving models. Saving is atomic: the model is written to a temporary file in the
// target's directory, flushed and fsync'ed, then renamed over the target, so a failed or interrupted
// write leaves either the old file or the new one, never a half-written model.
#pragma once

#include <string>

#include "onnx/onnx_pb.h"
#include "passes/status.h"

namespace reinit {

// Reads and parses `path`. Errors (kBadModel) name the file and the problem.
// Parses the model file; with `sha256`, also hashes it on a second thread from the same open file
// while it is parsed.
Status LoadModel(const std::string& path, onnx::ModelProto* model, std::string* sha256 = nullptr);

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
