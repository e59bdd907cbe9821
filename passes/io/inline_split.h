// Large inline tensors kept on disk: the model is read with the raw bytes of its big tensors left out,
// and written back with those bytes streamed in at their place.
//
// protobuf can only hold a model by copying every tensor's bytes out of the file into fresh memory, and
// for a rewrite that regenerates most of them that copy (and the page faults for it) is most of the
// time. The splitter walks the protobuf wire format itself, through every tensor the model holds:
// ModelProto.graph -> GraphProto.initializer, and GraphProto.node -> NodeProto.attribute ->
// AttributeProto.t / .tensors (Constant values and other tensor attributes) and AttributeProto.g /
// .graphs (If, Loop and Scan bodies, walked the same way) -> TensorProto.raw_data. It drops every
// raw_data of at least `threshold` bytes from the bytes given to protobuf, recording where it is in the
// file and which tensor it belongs to (a TensorPath). The writer serializes the model without those
// bytes and walks it the same way, inserting each raw_data field at its canonical place (before the
// first field numbered above 9), so the output is byte for byte what protobuf would write for the same
// model.
//
// Left in the bytes given to protobuf, whatever their size: integer tensors (INT32, INT64) and tensors of
// one element, which the graph analysis reads as numbers (shapes, axes, indices, bounds, exponents)
// straight from the parsed model, so that it reads the same whether a tensor was left out or not.
// Anything unexpected (a group, a bad length, a tensor that also has external-data or typed fields, a
// message field that should appear once appearing twice) leaves that part unsplit, or the whole file to
// the ordinary parse.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/status.h"
#include "passes/io/byte_sink.h"

namespace reinit {

// Where a tensor is in the model: one step per message from ModelProto down to the TensorProto, each
// the field's number and the element's index in it (0 for a field that is not repeated). Repeated
// fields keep their order in the wire format, in the parsed model and in protobuf's serialization, so a
// path names the same tensor in all three. For example (onnx.proto field numbers):
//   graph.initializer[2]                          {7,0} {5,2}
//   graph.node[3].attribute[0].t                  {7,0} {1,3} {5,0} {5,0}
//   graph.node[5].attribute[1].g.initializer[2]   {7,0} {1,5} {5,1} {6,0} {5,2}
using TensorPath = std::vector<std::pair<uint32_t, int>>;

// The path as text, as in the examples above (for messages).
std::string PathText(const TensorPath& path);

// The tensor at `path` in `model`, or null when the model has no such tensor.
onnx::TensorProto* FindTensor(onnx::ModelProto* model, const TensorPath& path);

// One left-out raw_data: its tensor and where its bytes are in the file.
struct SplitTensor {
  TensorPath path;
  int64_t offset = 0, length = 0;
};

// The model file at `fd` (`size` bytes) without the raw_data of its tensors of at least `threshold`
// bytes (main graph and subgraphs, initializers and attribute tensors), in the order they are in the
// file; the skeleton is left empty when nothing was left out. False when the file does not look like a
// model this walk understands (the caller parses it the ordinary way, which reports any problem).
bool SplitLargeTensors(int fd, int64_t size, int64_t threshold, std::string* skeleton, std::vector<SplitTensor>* split);

// Writes `skeleton` (a serialized ModelProto) into `out`, with a raw_data field of `lengths[path]` bytes
// from `produce(path, sink)` inserted into each tensor named in `lengths`. Fails if the skeleton does not
// have those tensors, they already have raw_data, or a producer gives another number of bytes.
Status WriteWithRawData(const std::string& skeleton, const std::map<TensorPath, int64_t>& lengths,
                        const std::function<Status(const TensorPath& path, const ByteSink& sink)>& produce,
                        const ByteSink& out);

}  // namespace reinit
