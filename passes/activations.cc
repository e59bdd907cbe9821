#include "passes/activations.h"

#include <cfloat>
#include <cmath>

#include "passes/tensor_data.h"

namespace reinit {

namespace {

struct ActivationEntry {
  const char* op_type;
  const char* kind;
  ActivationFamily family;
};

// Ops that are always the same activation. Clip, LeakyRelu and PRelu read parameters and are handled
// in ClassifyActivation.
// clang-format off
constexpr ActivationEntry kActivations[] = {
  {"Relu",            "relu",            ActivationFamily::kRelu},
  {"ThresholdedRelu", "thresholded_relu", ActivationFamily::kRelu},
  {"Elu",             "elu",             ActivationFamily::kRelu},
  {"Celu",            "celu",            ActivationFamily::kRelu},
  {"Gelu",            "gelu",            ActivationFamily::kRelu},
  {"HardSwish",       "hardswish",       ActivationFamily::kRelu},
  {"Mish",            "mish",            ActivationFamily::kRelu},
  {"Softplus",        "softplus",        ActivationFamily::kRelu},
  {"Selu",            "selu",            ActivationFamily::kSelu},
  {"Sigmoid",         "sigmoid",         ActivationFamily::kSigmoidTanh},
  {"HardSigmoid",     "hard_sigmoid",    ActivationFamily::kSigmoidTanh},
  {"Tanh",            "tanh",            ActivationFamily::kSigmoidTanh},
  {"Softsign",        "softsign",        ActivationFamily::kSigmoidTanh},
  // A softmax head is linear for initialization purposes: the note's default (Xavier) applies.
  {"Softmax",         "softmax",         ActivationFamily::kLinear},
  {"LogSoftmax",      "log_softmax",     ActivationFamily::kLinear},
};

constexpr const char* kPassThrough[] = {
  "Add", "BatchNormalization", "LayerNormalization", "InstanceNormalization", "Identity", "Reshape",
  "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Dropout", "MaxPool", "AveragePool",
  "GlobalAveragePool", "GlobalMaxPool", "LpPool", "Pad",
};
// clang-format on

// A scalar float read from a constant input; nullopt when absent or not a compile-time constant.
std::optional<double> ScalarInput(const onnx::NodeProto& node, int input, const GraphIndex& index) {
  if (node.input_size() <= input || node.input(input).empty()) return std::nullopt;
  const onnx::TensorProto* t = index.ConstantValue(node.input(input));
  std::vector<double> values;
  if (t == nullptr || !ReadValues(*t, &values).ok() || values.size() != 1) return std::nullopt;
  return values[0];
}

// Clip(min, max): min = 0 is a (capped) ReLU, symmetric bounds are a hard tanh. min/max are attributes
// before opset 11 and optional inputs from opset 11 on.
std::optional<Activation> ClassifyClip(const onnx::NodeProto& node, const GraphIndex& index, int64_t opset) {
  double lo = -FLT_MAX, hi = FLT_MAX;
  if (opset > 0 && opset < 11) {
    lo = FloatAttr(node, "min", -FLT_MAX);
    hi = FloatAttr(node, "max", FLT_MAX);
  } else {
    const bool has_min = node.input_size() > 1 && !node.input(1).empty();
    const bool has_max = node.input_size() > 2 && !node.input(2).empty();
    auto min_value = ScalarInput(node, 1, index);
    auto max_value = ScalarInput(node, 2, index);
    if ((has_min && !min_value) || (has_max && !max_value)) return Activation{"clip", ActivationFamily::kLinear};
    if (min_value) lo = *min_value;
    if (max_value) hi = *max_value;
  }
  if (lo == 0 && hi == 6) return Activation{"relu6", ActivationFamily::kRelu};
  if (lo == 0) return Activation{"clipped_relu", ActivationFamily::kRelu};
  if (lo < 0 && hi > 0 && lo == -hi) return Activation{"hardtanh", ActivationFamily::kSigmoidTanh};
  return Activation{"clip", ActivationFamily::kLinear};
}

}  // namespace

std::optional<Activation> ClassifyActivation(const onnx::NodeProto& node, const GraphIndex& index,
                                             int64_t opset, double prelu_slope) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return std::nullopt;
  const std::string& op = node.op_type();
  if (op == "LeakyRelu") return Activation{"leaky_relu", ActivationFamily::kRelu, FloatAttr(node, "alpha", 0.01f)};
  if (op == "PRelu") return Activation{"prelu", ActivationFamily::kRelu, prelu_slope};
  if (op == "Clip") return ClassifyClip(node, index, opset);
  for (const auto& entry : kActivations) {
    if (op == entry.op_type) return Activation{entry.kind, entry.family};
  }
  return std::nullopt;
}

bool IsPassThrough(const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return false;
  for (const char* op : kPassThrough) {
    if (node.op_type() == op) return true;
  }
  return false;
}

}  // namespace reinit
