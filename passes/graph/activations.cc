#include "passes/graph/activations.h"

#include <cfloat>
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "passes/graph/tensor_values.h"

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

namespace {

// A constant with at most one axis longer than 1 ([C], [1,C,1,1], a scalar): the same factor or shift
// for every element of a channel, as a folded BatchNorm's scale and shift.
bool PerChannelConstant(const std::string& value, const GraphIndex& index) {
  const onnx::TensorProto* t = ConstantThroughIdentity(value, index);
  if (t == nullptr) return false;
  int long_axes = 0;
  for (int64_t d : t->dims()) long_axes += d != 1;
  return long_axes <= 1;
}

// A dequantization scale: a per-channel constant, the scale DynamicQuantizeLinear computes at run time
// (its output 1), or a product, quotient or reshaping of such scales (x_scale * w_scale).
bool IsScale(const std::string& value, const GraphIndex& index, int depth = 0) {
  if (PerChannelConstant(value, index)) return true;
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || depth > 4 || !IsOnnxDomain(*p)) return false;
  if (p->op_type() == "DynamicQuantizeLinear") return p->output_size() > 1 && p->output(1) == value;
  if (!OneOf(p->op_type(), {"Mul", "Div", "Cast", "Reshape", "Unsqueeze", "Squeeze", "Identity"})) return false;
  for (const auto& input : p->input()) {
    if (!input.empty() && !IsScale(input, index, depth + 1)) return false;
  }
  return true;
}

// Conditions on a pass-through node, given the input the searched value arrives at.
using PassCondition = bool (*)(const onnx::NodeProto& node, int input, const GraphIndex& index);

// Mul/Sub by a per-channel constant (either operand order); Mul also by a dequantization scale. A Mul
// of two computed values is gating (attention, squeeze-and-excitation), not a scale: it ends the search.
bool ByPerChannelConstant(const onnx::NodeProto& node, int input, const GraphIndex& index) {
  return node.input_size() == 2 && PerChannelConstant(node.input(1 - input), index);
}
bool ByScale(const onnx::NodeProto& node, int input, const GraphIndex& index) {
  return node.input_size() == 2 && IsScale(node.input(1 - input), index);
}
// Cast to a float type (float16 graphs cast around ops that lack a float16 kernel); a cast to an
// integer or bool type quantizes or thresholds.
bool ToFloat(const onnx::NodeProto& node, int, const GraphIndex&) {
  return IsFloatType(static_cast<int32_t>(IntAttr(node, "to", 0)));
}

enum class Inputs { kData, kAny };  // the value passes through input 0 only, or through any input

struct PassThrough {
  const char* op_type;
  Inputs inputs;
  bool all_outputs;        // every output carries part of the value (Split); otherwise output 0 only
  PassCondition condition;  // nullptr: always
};

// Ops that carry a layer's output on to its nonlinearity. Each moves, selects, copies, resamples,
// casts or normalizes values, or shifts and scales them per channel: none changes what kind of
// nonlinearity follows, so none decides the layer's initialization.
// clang-format off
constexpr PassThrough kPassThrough[] = {
  // shifts and per-channel scales: bias, residual, folded BatchNorm (x * s + t), dequantization
  {"Add",                   Inputs::kAny,  false, nullptr},
  {"Sub",                   Inputs::kAny,  false, ByPerChannelConstant},
  {"Mul",                   Inputs::kAny,  false, ByScale},
  {"Div",                   Inputs::kData, false, ByScale},
  // normalizations (decomposed ones: MatchNormalization)
  {"BatchNormalization",    Inputs::kData, false, nullptr},
  {"LayerNormalization",    Inputs::kData, false, nullptr},
  {"InstanceNormalization", Inputs::kData, false, nullptr},
  {"GroupNormalization",    Inputs::kData, false, nullptr},
  {"MeanVarianceNormalization", Inputs::kData, false, nullptr},
  {"LpNormalization",       Inputs::kData, false, nullptr},
  // layout and selection
  {"Identity",              Inputs::kData, false, nullptr},
  {"Reshape",               Inputs::kData, false, nullptr},
  {"Transpose",             Inputs::kData, false, nullptr},
  {"Flatten",               Inputs::kData, false, nullptr},
  {"Squeeze",               Inputs::kData, false, nullptr},
  {"Unsqueeze",             Inputs::kData, false, nullptr},
  {"Dropout",               Inputs::kData, false, nullptr},
  {"Concat",                Inputs::kAny,  false, nullptr},
  {"Split",                 Inputs::kData, true,  nullptr},
  {"Slice",                 Inputs::kData, false, nullptr},
  // Gather of activations (input 0 is the searched value, so computed; a lookup in a constant table is
  // an embedding layer, found by the op table, never reached here)
  {"Gather",                Inputs::kData, false, nullptr},
  {"Pad",                   Inputs::kData, false, nullptr},
  {"SpaceToDepth",          Inputs::kData, false, nullptr},
  {"DepthToSpace",          Inputs::kData, false, nullptr},
  // resampling and pooling
  {"Resize",                Inputs::kData, false, nullptr},
  {"Upsample",              Inputs::kData, false, nullptr},
  {"MaxPool",               Inputs::kData, false, nullptr},
  {"AveragePool",           Inputs::kData, false, nullptr},
  {"GlobalAveragePool",     Inputs::kData, false, nullptr},
  {"GlobalMaxPool",         Inputs::kData, false, nullptr},
  {"LpPool",                Inputs::kData, false, nullptr},
  // type changes: float casts, and (fake) quantization around a layer's output
  {"Cast",                  Inputs::kData, false, ToFloat},
  {"QuantizeLinear",        Inputs::kData, false, nullptr},
  {"DequantizeLinear",      Inputs::kData, false, nullptr},
};
// clang-format on

// What a value computed from x is, as far as a decomposed normalization of x goes.
enum class NormTerm {
  kX,       // x, or x shifted or scaled by constants or statistics (x - mean(x))
  kSquare,  // x squared ((x - mean)^2, x * x): only ever reduced
  kStat,    // computed from reductions of x only: mean, variance, rsqrt(var + eps), beta - mean * inv
  kNormed,  // x scaled by a statistic, then possibly scaled and shifted: a normalized x
};

bool IsReduction(const std::string& op) {
  return OneOf(op, {"ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2"});
}

// Ops that turn statistics into statistics (the eps, the square root, the reciprocal, clamps).
bool IsStatOp(const std::string& op) {
  return OneOf(op, {"Add", "Sub", "Mul", "Div", "Sqrt", "Reciprocal", "Pow", "Clip", "Max", "Min", "Expand",
                    "Identity", "Reshape", "Unsqueeze", "Squeeze"});
}

// The term `node` computes from its x-derived inputs (`terms`; every other input is a constant), or
// nullopt when it is no step of a normalization.
std::optional<NormTerm> NormStep(const onnx::NodeProto& node, const std::unordered_map<std::string, NormTerm>& terms,
                                 const GraphIndex& index) {
  const std::string& op = node.op_type();
  std::vector<std::pair<int, NormTerm>> in;  // (input position, term) of the x-derived inputs
  for (int i = 0; i < node.input_size(); ++i) {
    auto it = terms.find(node.input(i));
    if (it != terms.end()) in.push_back({i, it->second});
  }
  if (in.empty()) return std::nullopt;
  if (IsReduction(op)) return in[0].first == 0 ? std::optional<NormTerm>(NormTerm::kStat) : std::nullopt;
  if (op == "Cast") return ToFloat(node, 0, index) ? std::optional<NormTerm>(in[0].second) : std::nullopt;
  const bool all_stats = std::all_of(in.begin(), in.end(), [](const auto& p) { return p.second == NormTerm::kStat; });
  if (all_stats) return IsStatOp(op) ? std::optional<NormTerm>(NormTerm::kStat) : std::nullopt;
  if (in.size() == 1) {  // one x-derived operand, the other a constant
    const NormTerm t = in[0].second;
    const bool first = in[0].first == 0;
    if (op == "Pow" && (t == NormTerm::kX || t == NormTerm::kNormed)) {
      const onnx::TensorProto* e = node.input_size() > 1 ? ConstantThroughIdentity(node.input(1), index) : nullptr;
      std::vector<double> v;
      const bool squared = first && e != nullptr && ReadValues(*e, &v).ok() && v.size() == 1 && v[0] == 2;
      return squared ? std::optional<NormTerm>(NormTerm::kSquare) : std::nullopt;
    }
    if (op == "Mul" || (op == "Div" && first)) return t;
    if ((op == "Add" || op == "Sub") && t != NormTerm::kSquare) return t;
    return std::nullopt;
  }
  if (in.size() != 2) return std::nullopt;
  const NormTerm a = in[0].second, b = in[1].second;
  auto is = [&](NormTerm x, NormTerm y) { return (a == x && b == y) || (a == y && b == x); };
  if (op == "Mul" && a == NormTerm::kX && b == NormTerm::kX) return NormTerm::kSquare;
  if (op == "Mul" && (is(NormTerm::kX, NormTerm::kStat) || is(NormTerm::kNormed, NormTerm::kStat))) {
    return NormTerm::kNormed;
  }
  if (op == "Div" && (a == NormTerm::kX || a == NormTerm::kNormed) && b == NormTerm::kStat) return NormTerm::kNormed;
  if ((op == "Add" || op == "Sub") && is(NormTerm::kX, NormTerm::kStat)) return NormTerm::kX;  // centering
  if ((op == "Add" || op == "Sub") && is(NormTerm::kNormed, NormTerm::kStat)) return NormTerm::kNormed;
  return std::nullopt;
}

constexpr size_t kMaxNormNodes = 32;

}  // namespace

std::vector<ActivationRow> FixedActivationTable() {
  std::vector<ActivationRow> rows;
  for (const auto& entry : kActivations) rows.push_back({entry.op_type, entry.kind, entry.family});
  return rows;
}

std::vector<PassThroughRow> PassThroughTable() {
  // The conditions in words, for the listing.
  const std::pair<PassCondition, const char*> kConditionText[] = {
      {ByPerChannelConstant, "the other operand a per-channel constant"},
      {ByScale, "the other operand a per-channel constant or a dequantization scale"},
      {ToFloat, "to a float type"},
  };
  std::vector<PassThroughRow> rows;
  for (const PassThrough& entry : kPassThrough) {
    PassThroughRow row{entry.op_type, entry.inputs == Inputs::kAny ? "any input" : "input 0", ""};
    if (entry.all_outputs) row.carries += ", to every output";
    for (const auto& [condition, text] : kConditionText) {
      if (entry.condition == condition) row.condition = text;
    }
    rows.push_back(row);
  }
  return rows;
}

std::vector<std::string> PassThroughOutputs(const onnx::NodeProto& node, int input, const GraphIndex& index) {
  if (!IsOnnxDomain(node) || node.output_size() == 0) return {};
  for (const PassThrough& entry : kPassThrough) {
    if (node.op_type() != entry.op_type) continue;
    if (entry.inputs == Inputs::kData && input != 0) return {};
    if (entry.condition != nullptr && !entry.condition(node, input, index)) return {};
    if (!entry.all_outputs) return {node.output(0)};
    std::vector<std::string> outputs;
    for (const auto& output : node.output()) {
      if (!output.empty()) outputs.push_back(output);
    }
    return outputs;
  }
  return {};
}

bool ReadsOnlyShape(const onnx::NodeProto& node) {
  return IsOnnxDomain(node) && OneOf(node.op_type(), {"Shape", "Size"});
}

std::optional<NormMatch> MatchNormalization(const std::string& x, const GraphIndex& index) {
  // Forward from x over the nodes whose inputs are all x-derived or constant, each given its term.
  std::unordered_map<std::string, NormTerm> terms = {{x, NormTerm::kX}};
  std::unordered_map<std::string, const onnx::NodeProto*> producers;
  std::unordered_set<const onnx::NodeProto*> done;
  std::vector<const onnx::NodeProto*> matched;
  std::vector<std::string> worklist = {x};
  while (!worklist.empty() && matched.size() < kMaxNormNodes) {
    const std::string value = worklist.back();
    worklist.pop_back();
    for (const Use& use : index.Consumers(value)) {
      const onnx::NodeProto& node = *use.node;
      if (done.count(&node) || !IsOnnxDomain(node) || node.output_size() == 0) continue;
      bool ready = true;
      for (const auto& in : node.input()) {
        if (!in.empty() && !terms.count(in) && ConstantThroughIdentity(in, index) == nullptr) ready = false;
      }
      if (!ready) continue;  // seen again when its other inputs are derived
      done.insert(&node);
      const std::optional<NormTerm> term = NormStep(node, terms, index);
      if (!term || terms.count(node.output(0))) continue;
      terms[node.output(0)] = *term;
      producers[node.output(0)] = &node;
      matched.push_back(&node);
      worklist.push_back(node.output(0));
    }
  }
  // The normalized values no matched node carries further: the normalization's outputs.
  std::unordered_set<std::string> carried;
  for (const onnx::NodeProto* node : matched) {
    if (terms.at(node->output(0)) != NormTerm::kNormed) continue;
    for (const auto& in : node->input()) {
      if (terms.count(in) && terms.at(in) == NormTerm::kNormed) carried.insert(in);
    }
  }
  NormMatch match;
  for (const onnx::NodeProto* node : matched) {
    const std::string& out = node->output(0);
    if (terms.at(out) == NormTerm::kNormed && !carried.count(out)) match.outputs.push_back(out);
  }
  if (match.outputs.empty()) return std::nullopt;
  // The nodes the outputs are computed from; other x-derived nodes (x + 3 of a HardSwish beside the
  // norm, a residual scaled by a constant) are left to the search.
  std::unordered_set<const onnx::NodeProto*> used;
  std::vector<std::string> stack = match.outputs;
  while (!stack.empty()) {
    auto it = producers.find(stack.back());
    stack.pop_back();
    if (it == producers.end() || !used.insert(it->second).second) continue;
    for (const auto& in : it->second->input()) stack.push_back(in);
  }
  for (const onnx::NodeProto* node : matched) {
    if (!used.count(node)) continue;
    match.nodes.push_back(node);
    match.ops.push_back(node->op_type());
  }
  return match;
}

}  // namespace reinit
