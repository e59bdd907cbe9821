// Tensors whose bytes live in side files (data_location = EXTERNAL, ONNX's external-data format).
// Loading reads every such tensor into raw_data, so the passes see ordinary tensors; saving moves the
// same tensors into one new data file next to the output model. The input's data files are only read.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "onnx/onnx_pb.h"
#include "passes/io/atomic_file.h"
#include "passes/graph/status.h"

namespace reinit {

// Where an external tensor's bytes are in the input.
struct ExternalSource {
  std::string file;  // canonical path, validated
  int64_t offset = 0, length = 0;
};

struct ExternalTensors {
  std::set<std::string> keys;   // key (see ForEachTensor) of each tensor that was external in the input
  std::set<std::string> files;  // canonical paths of the data files that were read
  std::map<std::string, ExternalSource> sources;  // lazy loading: tensors whose bytes are still on disk
};

// Visits every tensor of the model: initializers of every graph and tensor-valued attributes of every
// node (Constant values and others), at any depth. `key` names the tensor stably: an initializer's
// name, or "<node output>:<attribute>[.<i>]" for an attribute.
void ForEachTensor(onnx::ModelProto* model, const std::function<void(onnx::TensorProto&, const std::string& key)>& fn);

// Reads the external data of `model` (loaded from `model_path`) into raw_data. A location must be a
// relative path inside the model's directory (after resolving symlinks), name a regular file, and
// offset/length must lie within it; otherwise kBadModel naming the tensor and the problem.
// With `lazy`, the bytes stay on disk: each tensor is validated the same way, keeps data_location
// EXTERNAL with a "length" entry, and its source is recorded (ReadSource/CopySource fetch it later), so
// a model larger than memory can be rewritten tensor by tensor.
Status LoadExternalData(const std::string& model_path, onnx::ModelProto* model, ExternalTensors* external,
                        bool lazy = false);

// Reads [offset, offset + length) of `source` in pieces of at most 4 MiB, handing each to `take`.
Status StreamSource(const ExternalSource& source, const std::function<Status(const char*, size_t)>& take);

// Reads a lazily loaded tensor's bytes.
Status ReadSource(const ExternalSource& source, std::string* bytes);

// Reads `count` pieces of `width` bytes of `source`, piece i at `offset + i * stride` within it (a column
// of a matrix is one piece per row), into `bytes`; fails on a piece outside the source.
Status ReadPieces(const ExternalSource& source, uint64_t offset, uint64_t stride, uint64_t count, uint64_t width,
                  std::string* bytes);

// The source of `tensor` (a tensor of `model`) if its bytes are still on disk, else nullptr.
const ExternalSource* FindSource(onnx::ModelProto* model, const ExternalTensors& external,
                                 const onnx::TensorProto& tensor);

// Appends `source`'s bytes to `file` at a 4 KiB-aligned offset, in pieces; returns where they went.
Status CopySource(const ExternalSource& source, AtomicFile* file, uint64_t* offset);

// Points a tensor at [offset, offset + length) of the data file named `location`.
void PointAt(onnx::TensorProto& t, const std::string& location, uint64_t offset, uint64_t length);

// The default data file name of a rewritten model at `model_path`: "<model file name>.data".
std::string DataFileName(const std::string& model_path);

// Keys of every tensor whose raw_data is at least `threshold` bytes (for writing a model as external data).
std::set<std::string> LargeTensors(onnx::ModelProto* model, uint64_t threshold);

// Moves the raw_data of the tensors named by `keys` into `file` (a data file beside the model, named
// `location` in the model), each at a 4 KiB-aligned offset, and points the tensors at it. Each tensor's
// bytes are released as soon as they are written, so memory shrinks as the file grows.
Status WriteExternalData(const std::set<std::string>& keys, const std::string& location, onnx::ModelProto* model,
                         AtomicFile* file);

}  // namespace reinit
