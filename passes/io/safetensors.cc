#include "passes/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "onnx/onnx_pb.h"

namespace reinit {

namespace {

struct DtypeName {
  int32_t onnx;
  const char* name;
  size_t width;
};
// safetensors' dtype names (safetensors/src/tensor.rs, enum Dtype).
const DtypeName kDtypes[] = {
    {onnx::TensorProto::DOUBLE, "F64", 8},  {onnx::TensorProto::FLOAT, "F32", 4},   {onnx::TensorProto::FLOAT16, "F16", 2},
    {onnx::TensorProto::BFLOAT16, "BF16", 2}, {onnx::TensorProto::INT64, "I64", 8},  {onnx::TensorProto::INT32, "I32", 4},
    {onnx::TensorProto::INT16, "I16", 2},   {onnx::TensorProto::INT8, "I8", 1},     {onnx::TensorProto::UINT64, "U64", 8},
    {onnx::TensorProto::UINT32, "U32", 4},  {onnx::TensorProto::UINT16, "U16", 2},  {onnx::TensorProto::UINT8, "U8", 1},
    {onnx::TensorProto::BOOL, "BOOL", 1},
};

}  // namespace

std::string SafetensorsDtype(int32_t onnx_dtype, size_t* width) {
  for (const DtypeName& d : kDtypes) {
    if (d.onnx == onnx_dtype) {
      if (width != nullptr) *width = d.width;
      return d.name;
    }
  }
  return "";
}

Status WriteSafetensors(std::vector<SafetensorsEntry> entries, const std::map<std::string, std::string>& metadata,
                        AtomicFile* file) {
  for (const auto& e : entries) {
    size_t width = 0;
    if (SafetensorsDtype(e.onnx_dtype, &width).empty()) {
      return {ExitCode::kUnsupported, "tensor '" + e.name + "': safetensors has no dtype for ONNX element type " +
                                          std::to_string(e.onnx_dtype)};
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    size_t wa = 0, wb = 0;
    SafetensorsDtype(a.onnx_dtype, &wa);
    SafetensorsDtype(b.onnx_dtype, &wb);
    return wa != wb ? wa > wb : a.name < b.name;
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint64_t> lengths;
  uint64_t offset = 0;
  for (const auto& e : entries) {
    size_t width = 0;
    const std::string dtype = SafetensorsDtype(e.onnx_dtype, &width);
    uint64_t length = width;
    for (int64_t d : e.shape) length *= static_cast<uint64_t>(d);
    header[e.name] = {{"dtype", dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + length}}};
    lengths.push_back(length);
    offset += length;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the bytes start 8-aligned
  char size[8];
  for (int i = 0; i < 8; ++i) size[i] = static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xff);
  REINIT_RETURN_IF_ERROR(file->Write(size, 8));
  REINIT_RETURN_IF_ERROR(file->Write(text.data(), text.size()));
  for (size_t i = 0; i < entries.size(); ++i) {
    uint64_t written = 0;
    ByteSink sink;
    sink.write = [&](const char* data, size_t n) {
      written += n;
      return file->Write(data, n);
    };
    REINIT_RETURN_IF_ERROR(entries[i].bytes(sink));
    if (written != lengths[i]) {
      return {ExitCode::kInternal, "tensor '" + entries[i].name + "': " + std::to_string(written) + " bytes for " +
                                       std::to_string(lengths[i])};
    }
  }
  return Status::Ok();
}

}  // namespace reinit
