// The one owner of where each tensor's bytes are, and of how to get or replace them.
//
//   in memory   an ordinary tensor of the parsed model (initializer or Constant value, any graph)
//   streamed    a large tensor of an inline model (an initializer or an attribute tensor such as a
//               Constant's value, in the main graph or a subgraph) whose raw_data was left in the input
//               file (passes/io/inline_split.h): written back inline, copied or generated as it goes
//   external    a tensor in a side file of the input (external data), read lazily; written to the
//               output's data file
//
// A tensor not in memory is marked as ONNX marks external data (data_location EXTERNAL, with its
// location, offset and length), so a pass that only looks at dims and types needs nothing else; a pass
// that reads values asks the store. New values reach a tensor in one of two ways: generated in memory
// (FillTensor into raw_data; the store forgets the old bytes, and the tensor still goes where it came
// from), or handed to the store as a producer that the writer calls to generate the bytes straight
// into its output buffers (never whole in memory). Copies made by --untie-shared share their
// original's bytes until they get their own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/status.h"
#include "passes/io/byte_sink.h"
#include "passes/io/external_data.h"
#include "passes/io/inline_split.h"

namespace reinit {

class TensorStore {
 public:
  enum class Place { kMemory, kStreamed, kExternal };
  // Generates a tensor's `length` bytes into a sink (the writer's buffers).
  using Producer = std::function<Status(const ByteSink& sink)>;

  // After loading: a tensor of the input's external data (read lazily), and a tensor (at `path` in the
  // model) whose inline bytes were left in the input file.
  void AddExternal(const onnx::TensorProto* t, const ExternalSource& source);
  void AddStreamed(const onnx::TensorProto* t, const TensorPath& path, const ExternalSource& source);
  // A copy --untie-shared made of `original`: the same bytes, in the same place.
  void AddCopy(const onnx::TensorProto* original, const onnx::TensorProto* copy);

  Place Of(const onnx::TensorProto& t) const;
  // True for a tensor that came from the input's external data: it goes to the output's data file.
  bool FromExternalData(const onnx::TensorProto& t) const;
  // The canonical paths of the input's data files (never to be written).
  const std::set<std::string>& input_files() const { return input_files_; }

  // Bytes of a tensor wherever they are: `count` pieces of `width` bytes, piece i at offset + i * stride
  // within the tensor's bytes. A float tensor in memory without raw_data is read from its typed field.
  Status ReadBytes(const onnx::TensorProto& t, uint64_t offset, uint64_t stride, uint64_t count, uint64_t width,
                   std::string* bytes) const;
  // All of a tensor's values, wherever its bytes are.
  Status ReadValues(const onnx::TensorProto& t, std::vector<double>* values) const;
  // A float tensor's values in order, at most `block` at a time for a tensor in a file (never held whole
  // as doubles; one call for a tensor in memory): f(values, index of the first of them).
  using Block = std::function<Status(const std::vector<double>& values, int64_t first)>;
  Status ForEachBlock(const onnx::TensorProto& t, int64_t block, const Block& f) const;

  // The tensor's new bytes are in memory now (generated into raw_data): its old place is forgotten.
  void NowInMemory(onnx::TensorProto* t);
  // The tensor's new bytes will be made by `producer` as the writer writes them (`length` bytes).
  void Produce(const onnx::TensorProto* t, uint64_t length, Producer producer);
  // The producer of a tensor, or null (its bytes are in memory, or to be copied from the input).
  const Producer* ProducerOf(const onnx::TensorProto& t) const;
  uint64_t ProducedLength(const onnx::TensorProto& t) const;
  // Where a tensor's old bytes are to be copied from (streamed or external, not produced), or null.
  const ExternalSource* SourceOf(const onnx::TensorProto& t) const;
  // The streamed tensors, by their path in the model.
  std::map<TensorPath, const onnx::TensorProto*> Streamed() const;

 private:
  struct Entry {
    Place place = Place::kMemory;
    bool external = false;  // came from the input's external data
    TensorPath path;        // streamed: where the tensor is in the model (empty for a copy)
    ExternalSource source;
    Producer producer;  // set when the writer generates the bytes
    uint64_t length = 0;
  };
  std::map<const onnx::TensorProto*, Entry> entries_;
  std::set<std::string> input_files_;
};

}  // namespace reinit
