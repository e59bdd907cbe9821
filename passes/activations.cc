#include "passes/activations.h"

#include <cfloat>
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

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

// The largest finite value of a float type: a bound there (or beyond) is no bound at all. Exporters
// write "no max" as +inf, FLT_MAX, or float16's 65504.
double LargestFinite(int32_t dtype) {
  switch (dtype) {
    case onnx::TensorProto::FLOAT16: return 65504.0;
    case onnx::TensorProto::BFLOAT16: return 3.3895313892515355e38;
    case onnx::TensorProto::DOUBLE: return DBL_MAX;
    default: return FLT_MAX;
  }
}

// A bound as a number, with the largest finite value of its type (or more) as an infinity.
double Unbounded(double value, int32_t dtype) {
  if (value >= LargestFinite(dtype)) return INFINITY;
  if (value <= -LargestFinite(dtype)) return -INFINITY;
  return value;
}

// A scalar bound read from a constant input; nullopt when not a one-value float constant.
std::optional<double> ScalarBound(const onnx::NodeProto& node, int input, const GraphIndex& index) {
  const onnx::TensorProto* t = ConstantThroughIdentity(node.input(input), index);
  std::vector<double> values;
  if (t == nullptr || !IsFloatType(t->data_type()) || !ReadValues(*t, &values).ok() || values.size() != 1) {
    return std::nullopt;
  }
  return Unbounded(values[0], t->data_type());
}

// A min this close to 0 is a ReLU's 0: exporters write 1e-10 or so where a later log or division must
// not see an exact zero, which changes nothing about the variance the layer's init must keep.
constexpr double kReluMin = 1e-6;

// Clip(min, max): min 0 is a ReLU (capped at 6: relu6, at another finite max: clipped_relu), symmetric
// finite bounds are a hard tanh. min/max are attributes before opset 11 and optional inputs from
// opset 11 on; an absent bound is no bound.
std::optional<Activation> ClassifyClip(const onnx::NodeProto& node, const GraphIndex& index, int64_t opset) {
  double lo = -INFINITY, hi = INFINITY;
  if (opset > 0 && opset < 11) {
    lo = Unbounded(FloatAttr(node, "min", -FLT_MAX), onnx::TensorProto::FLOAT);
    hi = Unbounded(FloatAttr(node, "max", FLT_MAX), onnx::TensorProto::FLOAT);
  } else {
    for (int input : {1, 2}) {
      if (node.input_size() <= input || node.input(input).empty()) continue;
      const std::optional<double> bound = ScalarBound(node, input, index);
      if (!bound) return Activation{"clip", ActivationFamily::kLinear};  // computed bounds: not an activation
      (input == 1 ? lo : hi) = *bound;
    }
  }
  if (lo >= 0 && lo <= kReluMin) {
    if (std::isinf(hi)) return Activation{"relu", ActivationFamily::kRelu};
    if (hi == 6) return Activation{"relu6", ActivationFamily::kRelu};
    if (hi > lo) return Activation{"clipped_relu", ActivationFamily::kRelu};
  }
  if (std::isfinite(hi) && hi > 0 && lo == -hi) return Activation{"hardtanh", ActivationFamily::kSigmoidTanh};
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

std::optional<Activation> FusedActivation(const onnx::NodeProto& layer, int64_t opset) {
  if (layer.domain() != "com.microsoft") return std::nullopt;
  const std::string name = StringAttr(layer, "activation", "");
  if (name.empty()) return std::nullopt;
  // Rebuild the activation as a node of its own and classify that.
  onnx::NodeProto node;
  node.set_op_type(name);
  std::vector<float> params;
  for (const auto& attr : layer.attribute()) {
    if (attr.name() == "activation_params") params.assign(attr.floats().begin(), attr.floats().end());
  }
  const float alpha = FloatAttr(layer, "activation_alpha", params.empty() ? 0.01f : params[0]);
  auto* a = node.add_attribute();
  a->set_name("alpha");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(alpha);
  if (name == "Clip" && params.size() == 2) {
    for (auto [key, value] : {std::pair<const char*, float>{"min", params[0]}, {"max", params[1]}}) {
      auto* bound = node.add_attribute();
      bound->set_name(key);
      bound->set_type(onnx::AttributeProto::FLOAT);
      bound->set_f(value);
    }
    opset = 10;  // bounds as attributes
  }
  onnx::GraphProto empty;
  const GraphIndex no_graph(&empty);
  return ClassifyActivation(node, no_graph, opset, kPReluInitSlope);
}

namespace {

bool OneOf(const std::string& op, std::initializer_list<const char*> ops) {
  for (const char* o : ops) {
    if (op == o) return true;
  }
  return false;
}

// Ops a decomposed gated activation is built from, and the gates among them.
bool IsGateBuildingBlock(const std::string& op) {
  return OneOf(op, {"Sigmoid", "HardSigmoid", "Tanh", "Softplus", "Erf", "Clip", "Relu", "Div", "Mul", "Add", "Sub",
                    "Pow"});
}
bool IsGate(const std::string& op) { return OneOf(op, {"Sigmoid", "HardSigmoid", "Tanh", "Erf", "Clip", "Relu"}); }

// What is known of a value computed from x: x times a constant, or through which gates.
struct Derived {
  bool scaled_x = false;
  std::vector<std::string> gates;
};

std::string GatedKind(const std::vector<std::string>& gates) {
  auto has = [&](const char* g) { return std::find(gates.begin(), gates.end(), g) != gates.end(); };
  if (has("Erf")) return "gelu";
  if (has("Tanh") && has("Softplus")) return "mish";
  if (has("Tanh")) return "gelu_tanh";
  if (has("Sigmoid")) return "silu";
  return "hardswish";  // HardSigmoid, or Clip/Relu of x + 3
}

constexpr size_t kMaxGatedNodes = 16;

}  // namespace

std::optional<GatedMatch> MatchGatedActivation(const std::string& x, const GraphIndex& index) {
  std::unordered_map<std::string, Derived> derived = {{x, Derived{true, {}}}};
  std::unordered_set<const onnx::NodeProto*> done;
  std::vector<std::string> worklist = {x};
  std::vector<std::string> ops;
  while (!worklist.empty() && done.size() < kMaxGatedNodes) {
    const std::string value = worklist.back();
    worklist.pop_back();
    for (const Use& use : index.Consumers(value)) {
      const onnx::NodeProto& node = *use.node;
      if (done.count(&node) || !IsOnnxDomain(node) || !IsGateBuildingBlock(node.op_type()) || node.output_size() == 0) {
        continue;
      }
      // Ready when every input is x-derived or a constant; x-derived inputs are collected.
      std::vector<const Derived*> from_x;
      bool ready = true;
      for (int i = 0; i < node.input_size(); ++i) {
        if (node.input(i).empty()) continue;
        auto it = derived.find(node.input(i));
        if (it != derived.end()) from_x.push_back(&it->second);
        else if (ConstantThroughIdentity(node.input(i), index) == nullptr) ready = false;
      }
      if (!ready) continue;
      done.insert(&node);
      ops.push_back(node.op_type());
      const std::string& op = node.op_type();
      // The gate: x (scaled) times something computed from x through a gate.
      if (op == "Mul" && from_x.size() == 2) {
        for (int side = 0; side < 2; ++side) {
          const Derived& lin = *from_x[side];
          const Derived& gated = *from_x[1 - side];
          if (lin.scaled_x && lin.gates.empty() && !gated.gates.empty()) {
            return GatedMatch{Activation{GatedKind(gated.gates), ActivationFamily::kRelu}, ops};
          }
        }
      }
      Derived out;
      // x*c, c*x and x/c stay "x scaled"; c/x does not.
      out.scaled_x = from_x.size() == 1 && from_x[0]->scaled_x &&
                     (op == "Mul" || (op == "Div" && derived.count(node.input(0)) > 0));
      for (const Derived* d : from_x) out.gates.insert(out.gates.end(), d->gates.begin(), d->gates.end());
      if (IsGate(op) || op == "Softplus") out.gates.push_back(op);
      derived[node.output(0)] = out;
      worklist.push_back(node.output(0));
    }
  }
  return std::nullopt;
}

const onnx::TensorProto* ConstantThroughIdentity(const std::string& value, const GraphIndex& index) {
  std::string v = value;
  for (int depth = 0; depth < 8; ++depth) {
    if (const onnx::TensorProto* t = index.ConstantValue(v)) return t;
    const onnx::NodeProto* p = index.Producer(v);
    if (p == nullptr || !IsOnnxDomain(*p) || p->op_type() != "Identity" || p->input_size() != 1) return nullptr;
    v = p->input(0);
  }
  return nullptr;
}

bool ReadsOnlyShape(const onnx::NodeProto& node) {
  return IsOnnxDomain(node) && OneOf(node.op_type(), {"Shape", "Size"});
}

bool IsPassThrough(const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return false;
  for (const char* op : kPassThrough) {
    if (node.op_type() == op) return true;
  }
  return false;
}

}  // namespace reinit
