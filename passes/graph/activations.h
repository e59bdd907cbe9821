// Activation vocabulary: which ops are nonlinearities (and of which family, for the note's rules),
// and which ops merely carry a layer's output on towards its nonlinearity.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/graph_index.h"
#include "passes/graph/param_table.h"

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

// The activation fused into a layer by an attribute (ONNX Runtime's com.microsoft FusedConv/FusedGemm:
// `activation` = "Relu", "LeakyRelu", ..., with its alpha in `activation_alpha` or `activation_params`).
std::optional<Activation> FusedActivation(const onnx::NodeProto& layer, int64_t opset);

// A self-gated activation x * f(x) applied to `value`, as exporters decompose them:
//   GELU   x * 0.5 * (1 + Erf(x / sqrt 2))                 gelu
//   GELU   0.5 * x * (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3)))   gelu_tanh
//   SiLU   x * Sigmoid(x), x * Sigmoid(beta x) (swish; QuickGELU beta = 1.702)   silu
//   HardSwish  x * HardSigmoid(x), x * Clip(x + 3, 0, 6) / 6   hardswish
//   Mish   x * Tanh(Softplus(x))                            mish
// Found as a Mul whose one operand is x (or x times a constant) and whose other is computed from x
// alone through a gate (Erf, Tanh, Sigmoid, HardSigmoid, Clip, Relu) by a few elementwise ops.
struct GatedMatch {
  Activation activation;
  std::vector<std::string> ops;  // the op types matched, in the order they were visited
};
std::optional<GatedMatch> MatchGatedActivation(const std::string& value, const GraphIndex& index);

// The outputs of `node` that carry on the value it reads at input `input`, when `node` passes a
// layer's output on toward its nonlinearity without changing what kind of nonlinearity follows:
// it moves, selects, resamples, casts, normalizes or shifts and scales it per channel (the table in
// activations.cc says which op, through which inputs, and on what condition). Empty when the search
// ends at `node`.
std::vector<std::string> PassThroughOutputs(const onnx::NodeProto& node, int input, const GraphIndex& index);

// The tables behind ClassifyActivation's fixed ops and PassThroughOutputs, for listings (--list):
// each row says which op, and (pass-throughs) through which inputs and on what condition.
struct ActivationRow {
  std::string op_type, kind;
  ActivationFamily family;
};
std::vector<ActivationRow> FixedActivationTable();
struct PassThroughRow {
  std::string op_type;
  std::string carries;    // "input 0", "any input", "input 0, to every output"
  std::string condition;  // "" when always
};
std::vector<PassThroughRow> PassThroughTable();

// Shape and Size read a value's shape, never its values: for the activation search such a consumer is
// no use at all (it neither ends the search nor is the next op).
bool ReadsOnlyShape(const onnx::NodeProto& node);

// A normalization written out in elementwise ops, applied to `value`, as exporters decompose
// LayerNorm, RMSNorm and InstanceNorm (in whatever order and form they write them):
//   LayerNorm  (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * g + b     torch opset < 17
//   LayerNorm  x * inv + (b - mean(x) * inv), inv = g * rsqrt(var + eps)     TF batch_normalization form
//   RMSNorm    x * rsqrt(mean(x^2) + eps) * g, x / sqrt(mean(x * x) + eps)   T5, LLaMA
// Found from the reductions of x: the matched nodes are those that lead from x to the normalized
// result (statistics of x combined with x itself), and `outputs` the last normalized values (after
// any scale and shift by constants), from which the search goes on.
struct NormMatch {
  std::vector<std::string> outputs;
  std::vector<const onnx::NodeProto*> nodes;  // in the order they were matched
  std::vector<std::string> ops;               // their op types, likewise
};
std::optional<NormMatch> MatchNormalization(const std::string& value, const GraphIndex& index);

// The value of a compile-time constant, also when it reaches its consumer through Identity nodes
// (exporters that deduplicate equal initializers read the copies through Identity); nullptr otherwise.
const onnx::TensorProto* ConstantThroughIdentity(const std::string& value, const GraphIndex& index);

// The slope PRelu is re-initialized to (nn.PReLU's default).
inline constexpr double kPReluInitSlope = 0.25;

}  // namespace reinit
