// Large inline tensors kept on disk: the model is read with the raw bytes of its big main-graph
// initializers left out, and written back with those bytes streamed in at their place.
//
// protobuf can only hold a model by copying every tensor's bytes out of the file into fresh memory, and
// for a rewrite that regenerates most of them that copy (and the page faults for it) is most of the
// time. The splitter walks the protobuf wire format itself: ModelProto.graph -> GraphProto.initializer
// -> TensorProto.raw_data, and drops every raw_data of at least `threshold` bytes from the bytes given
// to protobuf, recording where it is in the file. The writer serializes the model without those bytes
// and walks it the same way, inserting each raw_data field at its canonical place (before the first
// field numbered above 9), so the output is byte for byte what protobuf would write for the same model.
// Anything unexpected (a group, a bad length, a tensor that also has external-data fields) leaves that
// part unsplit, or the whole file to the ordinary parse.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "passes/io/byte_sink.h"
#include "passes/graph/status.h"

namespace reinit {

// One left-out raw_data: the index of its tensor in graph.initializer and where its bytes are.
struct SplitTensor {
  int index = 0;
  int64_t offset = 0, length = 0;
};

// The model file at `fd` (`size` bytes) without the raw_data of main-graph initializers of at least
// `threshold` bytes. False when the file does not look like a model this walk understands (the caller
// parses it the ordinary way, which reports any problem).
bool SplitLargeInitializers(int fd, int64_t size, int64_t threshold, std::string* skeleton,
                            std::vector<SplitTensor>* split);

// Writes `skeleton` (a serialized ModelProto) into `out`, with a raw_data field of `lengths[i]` bytes
// from `produce(i, sink)` inserted into each main-graph initializer i named in `lengths`. Fails if the
// skeleton does not have those initializers, they already have raw_data, or a producer gives another
// number of bytes.
Status WriteWithRawData(const std::string& skeleton, const std::map<int, int64_t>& lengths,
                        const std::function<Status(int index, const ByteSink& sink)>& produce, const ByteSink& out);

}  // namespace reinit
