// Typed read and write of a tensor's values, whatever field holds them: raw_data (little-endian
// bytes) or the typed repeated fields (float_data, double_data, and int32_data, which holds fp16 and
// bf16 as 16-bit patterns). Values travel as double; writing rounds to the tensor's own type
// (round-to-nearest-even through Eigen::half / Eigen::bfloat16) and keeps the field the data was in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/status.h"

namespace reinit {

// float32, float16, bfloat16 or float64: the types whose tensors can be re-initialized.
bool IsFloatType(int32_t dtype);
// Bytes per element of a float type (4, 8, 2, 2), 0 for any other type.
// The external_data key that marks a tensor whose bytes are inline in the model file but were left on
// disk (passes/io/inline_split.h): storage checks then speak of its raw_data. Never written out.
inline constexpr const char* kInlineMarker = "onnx-reinit.inline";

size_t FloatByteWidth(int32_t dtype);
// "float32", "float16", ... or "type<N>" for a type this tool does not name.
std::string DTypeName(int32_t dtype);

// Number of elements the dims describe. Fails on a negative dim or an overflowing product.
Status ElementCount(const onnx::TensorProto& tensor, int64_t* count);

// Checks that a float tensor's data is where it says and exactly as long as its shape needs (raw_data
// bytes or typed-field count, not both), without touching the data: nothing is allocated.
Status ValidateStorage(const onnx::TensorProto& tensor);

// Reads every element as double. The tensor must be a float type with in-file data.
Status ReadValues(const onnx::TensorProto& tensor, std::vector<double>* values);

// A float tensor's elements as raw_data holds them (little-endian), from raw_data or its typed field.
Status RawBytes(const onnx::TensorProto& tensor, std::string* bytes);

// Replaces every element, rounding to the tensor's type, in the field the data was stored in.
Status WriteValues(const std::vector<double>& values, onnx::TensorProto* tensor);

}  // namespace reinit
