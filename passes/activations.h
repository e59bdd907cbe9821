// Activation vocabulary: which ops are nonlinearities (and of which family, for the note's rules),
// and which ops merely carry a layer's output on towards its nonlinearity.
#pragma once

#include <optional>
#include <string>

#include "onnx/onnx_pb.h"
#include "passes/graph_index.h"
#include "passes/param_table.h"

namespace reinit {


struct Activation {
  std::string kind;                  // "relu", "leaky_relu", "tanh", "relu6", ...
  ActivationFamily family = ActivationFamily::kLinear;
  double slope = 0;                  // negative slope a of leaky relu / prelu (He: 2 / (1 + a^2))
};

// The activation `node` applies, or nullopt when `node` is not an activation.
// `prelu_slope` is the slope PRelu nodes are taken to have (the value select-init gives their slope).
std::optional<Activation> ClassifyActivation(const onnx::NodeProto& node, const GraphIndex& index,
                                             int64_t opset, double prelu_slope);

// True for ops that pass a layer's output on unchanged in scale or shape only (bias Add, residual Add,
// BatchNormalization, Identity, Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Dropout, pooling, ...):
// the search for the layer's activation continues through their first output.
bool IsPassThrough(const onnx::NodeProto& node);

// The slope PRelu is re-initialized to (nn.PReLU's default).
inline constexpr double kPReluInitSlope = 0.25;

}  // namespace reinit
