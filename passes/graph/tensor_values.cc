#include "passes/graph/tensor_values.h"

#include <Eigen/Core>
#include <cstring>
#include <limits>

// raw_data is little-endian by the ONNX spec; this code copies it as host bytes.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "raw_data access assumes a little-endian host");

namespace reinit {

using onnx::TensorProto;

namespace {

// Bytes per element of the float types, 0 for every other type.
size_t FloatTypeSize(int32_t dtype) {
  switch (dtype) {
    case TensorProto::FLOAT: return 4;
    case TensorProto::DOUBLE: return 8;
    case TensorProto::FLOAT16: return 2;
    case TensorProto::BFLOAT16: return 2;
    default: return 0;
  }
}

// Which typed field the ONNX spec uses for a float type when raw_data is not used.
int TypedFieldCount(const TensorProto& t) {
  switch (t.data_type()) {
    case TensorProto::FLOAT: return t.float_data_size();
    case TensorProto::DOUBLE: return t.double_data_size();
    default: return t.int32_data_size();  // fp16, bf16: one 16-bit pattern per int32
  }
}

double FromBits16(int32_t dtype, uint16_t bits) {
  if (dtype == TensorProto::FLOAT16) return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(bits));
}

uint16_t ToBits16(int32_t dtype, double value) {
  float f = static_cast<float>(value);
  if (dtype == TensorProto::FLOAT16) return Eigen::numext::bit_cast<uint16_t>(Eigen::half(f));
  return Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(f));
}

// `external_ok`: a tensor still in its external file passes when its recorded length fits the shape
// (ValidateStorage); reading or writing values needs the bytes in memory.
Status CheckStorage(const TensorProto& t, int64_t* count, bool external_ok = false) {
  const std::string where = "tensor '" + t.name() + "'";
  if (!IsFloatType(t.data_type())) {
    return {ExitCode::kUnsupported, where + ": type " + DTypeName(t.data_type()) + " is not a float type"};
  }
  REINIT_RETURN_IF_ERROR(ElementCount(t, count));
  if (t.data_location() == TensorProto::EXTERNAL) {
    if (!external_ok) return {ExitCode::kUnsupported, where + ": its data is still in the external file"};
    int64_t length = -1;
    bool inline_bytes = false;  // left on disk from the model file itself (passes/io/inline_split.h)
    for (const auto& e : t.external_data()) {
      if (e.key() == "length") length = std::strtoll(e.value().c_str(), nullptr, 10);
      if (e.key() == kInlineMarker) inline_bytes = true;
    }
    const uint64_t expected = static_cast<uint64_t>(*count) * FloatTypeSize(t.data_type());
    if (length < 0 || static_cast<uint64_t>(length) != expected) {
      return {ExitCode::kBadModel, where + ": " + (inline_bytes ? "raw_data" : "external data") + " has " +
                                       std::to_string(length) + " bytes, the shape needs " + std::to_string(expected)};
    }
    return Status::Ok();
  }
  const int typed = TypedFieldCount(t);
  if (t.has_raw_data() && typed > 0) {
    return {ExitCode::kBadModel, where + ": data is in both raw_data and a typed field"};
  }
  if (t.has_raw_data()) {
    const uint64_t expected = static_cast<uint64_t>(*count) * FloatTypeSize(t.data_type());
    if (t.raw_data().size() != expected) {
      return {ExitCode::kBadModel, where + ": raw_data has " + std::to_string(t.raw_data().size()) +
                                       " bytes, the shape needs " + std::to_string(expected)};
    }
  } else if (typed != *count) {
    return {ExitCode::kBadModel, where + ": holds " + std::to_string(typed) + " values, the shape needs " +
                                     std::to_string(*count)};
  }
  return Status::Ok();
}

}  // namespace

bool IsFloatType(int32_t dtype) { return FloatTypeSize(dtype) != 0; }
size_t FloatByteWidth(int32_t dtype) { return FloatTypeSize(dtype); }

Status ValidateStorage(const TensorProto& tensor) {
  int64_t count = 0;
  return CheckStorage(tensor, &count, /*external_ok=*/true);
}

std::string DTypeName(int32_t dtype) {
  switch (dtype) {
    case TensorProto::FLOAT: return "float32";
    case TensorProto::DOUBLE: return "float64";
    case TensorProto::FLOAT16: return "float16";
    case TensorProto::BFLOAT16: return "bfloat16";
    case TensorProto::INT8: return "int8";
    case TensorProto::UINT8: return "uint8";
    case TensorProto::INT16: return "int16";
    case TensorProto::UINT16: return "uint16";
    case TensorProto::INT32: return "int32";
    case TensorProto::UINT32: return "uint32";
    case TensorProto::INT64: return "int64";
    case TensorProto::UINT64: return "uint64";
    case TensorProto::BOOL: return "bool";
    case TensorProto::STRING: return "string";
    case TensorProto::COMPLEX64: return "complex64";
    case TensorProto::COMPLEX128: return "complex128";
    default: return "type" + std::to_string(dtype);
  }
}

Status ElementCount(const TensorProto& tensor, int64_t* count) {
  int64_t n = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0) {
      return {ExitCode::kBadModel, "tensor '" + tensor.name() + "': negative dimension " + std::to_string(d)};
    }
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return {ExitCode::kBadModel, "tensor '" + tensor.name() + "': element count overflows 64 bits"};
    }
    n *= d;
  }
  *count = n;
  return Status::Ok();
}

Status ReadValues(const TensorProto& t, std::vector<double>* values) {
  int64_t n = 0;
  REINIT_RETURN_IF_ERROR(CheckStorage(t, &n));
  values->resize(static_cast<size_t>(n));
  const int32_t dtype = t.data_type();
  const char* raw = t.has_raw_data() ? t.raw_data().data() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    double v = 0;
    switch (dtype) {
      case TensorProto::FLOAT: {
        float f;
        if (raw) std::memcpy(&f, raw + 4 * i, 4); else f = t.float_data(i);
        v = f;
        break;
      }
      case TensorProto::DOUBLE:
        if (raw) std::memcpy(&v, raw + 8 * i, 8); else v = t.double_data(i);
        break;
      default: {  // fp16, bf16
        uint16_t bits;
        if (raw) std::memcpy(&bits, raw + 2 * i, 2); else bits = static_cast<uint16_t>(t.int32_data(i));
        v = FromBits16(dtype, bits);
      }
    }
    (*values)[i] = v;
  }
  return Status::Ok();
}

Status RawBytes(const TensorProto& t, std::string* bytes) {
  int64_t n = 0;
  REINIT_RETURN_IF_ERROR(CheckStorage(t, &n));
  if (t.has_raw_data()) {
    *bytes = t.raw_data();
    return Status::Ok();
  }
  const size_t width = FloatTypeSize(t.data_type());
  bytes->resize(static_cast<size_t>(n) * width);
  for (int64_t i = 0; i < n; ++i) {
    char* at = &(*bytes)[static_cast<size_t>(i) * width];
    switch (t.data_type()) {
      case TensorProto::FLOAT: {
        const float f = t.float_data(i);
        std::memcpy(at, &f, 4);
        break;
      }
      case TensorProto::DOUBLE: {
        const double d = t.double_data(i);
        std::memcpy(at, &d, 8);
        break;
      }
      default: {  // fp16, bf16: one 16-bit pattern per int32
        const uint16_t bits = static_cast<uint16_t>(t.int32_data(i));
        std::memcpy(at, &bits, 2);
      }
    }
  }
  return Status::Ok();
}

Status WriteValues(const std::vector<double>& values, TensorProto* t) {
  int64_t n = 0;
  REINIT_RETURN_IF_ERROR(CheckStorage(*t, &n));
  if (static_cast<int64_t>(values.size()) != n) {
    return {ExitCode::kInternal, "tensor '" + t->name() + "': " + std::to_string(values.size()) +
                                     " values generated for " + std::to_string(n) + " elements"};
  }
  const int32_t dtype = t->data_type();
  if (t->has_raw_data()) {
    std::string& raw = *t->mutable_raw_data();
    for (int64_t i = 0; i < n; ++i) {
      if (dtype == TensorProto::FLOAT) {
        float f = static_cast<float>(values[i]);
        std::memcpy(&raw[4 * i], &f, 4);
      } else if (dtype == TensorProto::DOUBLE) {
        std::memcpy(&raw[8 * i], &values[i], 8);
      } else {
        uint16_t bits = ToBits16(dtype, values[i]);
        std::memcpy(&raw[2 * i], &bits, 2);
      }
    }
    return Status::Ok();
  }
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == TensorProto::FLOAT) t->set_float_data(i, static_cast<float>(values[i]));
    else if (dtype == TensorProto::DOUBLE) t->set_double_data(i, values[i]);
    else t->set_int32_data(i, ToBits16(dtype, values[i]));
  }
  return Status::Ok();
}

}  // namespace reinit
