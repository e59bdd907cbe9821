// Writing a safetensors file (the format of Hugging Face's safetensors library, which PyTorch, JAX and
// NumPy users load state dicts from): an 8-byte little-endian header length, a JSON header mapping each
// tensor's name to its dtype, shape and [begin, end) byte offsets (plus a "__metadata__" object of
// strings), padded with spaces to a multiple of 8, then the tensors' bytes. Tensors are laid out by
// element width, widest first, then by name (as the library itself does), so every tensor starts at a
// multiple of its element width. The file is written atomically (passes/io/atomic_file.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "passes/graph/status.h"
#include "passes/io/atomic_file.h"
#include "passes/io/byte_sink.h"

namespace reinit {

struct SafetensorsEntry {
  std::string name;
  int32_t onnx_dtype = 0;
  std::vector<int64_t> shape;
  // Writes the tensor's bytes (little-endian, row-major) to the sink, in pieces, like the tensor store's
  // producers.
  std::function<Status(const ByteSink& sink)> bytes;
};

// The safetensors dtype of an ONNX element type ("F32", "BF16", ...) and its width; "" when it has none.
std::string SafetensorsDtype(int32_t onnx_dtype, size_t* width = nullptr);

// Writes the entries to `file` (opened by the caller, committed by the caller). Fails on a dtype
// safetensors has no name for, or on bytes of the wrong length.
Status WriteSafetensors(std::vector<SafetensorsEntry> entries, const std::map<std::string, std::string>& metadata,
                        AtomicFile* file);

}  // namespace reinit
