#pragma once
namespace reinit {
inline constexpr const char* kToolName = "onnx-reinit";
inline constexpr const char* kToolVersion = "0.1.0";
// Key of the single metadata_props entry a rewrite adds (or replaces) in the output model.
inline constexpr const char* kMetadataKey = "onnx_reinit";
}  // namespace reinit
