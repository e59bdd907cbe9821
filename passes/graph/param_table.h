// The parameter table: one row per tensor of the model (initializer or, later, Constant node value).
// Every pass reads rows and fills in more of them; nothing else is shared between passes. Which pass
// reads and writes which fields: passes/passes.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "passes/graph/names.h"

namespace onnx {
class TensorProto;
class NodeProto;
}  // namespace onnx

namespace reinit {

// What a tensor is to the network. Decided from how it is consumed (op type + input index).
enum class Role {
  kUnknown,          // consumed in a way no table entry covers: kept
  kWeight,           // Conv / ConvTranspose / Gemm / MatMul weight
  kBias,             // a layer's additive bias (input of the layer or an Add right after it)
  kRecurrentInput,   // LSTM/GRU/RNN W: input-to-hidden weights
  kRecurrentHidden,  // LSTM/GRU/RNN R: hidden-to-hidden weights
  kRecurrentBias,    // LSTM/GRU/RNN B
  kEmbedding,        // Gather data operand: an embedding table
  kNormScale,        // Batch/Layer/InstanceNormalization scale
  kNormBias,         // Batch/Layer/InstanceNormalization B
  kNormMean,         // BatchNormalization running mean
  kNormVar,          // BatchNormalization running variance
  kPReluSlope,       // PRelu slope
  kPositionalEmbedding,  // a learned position table added to token or patch embeddings
  kClassToken,       // a learned token concatenated in front of the patch embeddings (ViT)
  kLayerScale,       // a per-channel scale of a residual branch (ConvNeXt, CaiT)
};
template <>
struct Names<Role> {
  static constexpr Named<Role> table[] = {
      {Role::kUnknown, "unknown"},
      {Role::kWeight, "weight"},
      {Role::kBias, "bias"},
      {Role::kRecurrentInput, "recurrent_input_weight"},
      {Role::kRecurrentHidden, "recurrent_hidden_weight"},
      {Role::kRecurrentBias, "recurrent_bias"},
      {Role::kEmbedding, "embedding"},
      {Role::kNormScale, "norm_scale"},
      {Role::kNormBias, "norm_bias"},
      {Role::kNormMean, "norm_running_mean"},
      {Role::kNormVar, "norm_running_var"},
      {Role::kPReluSlope, "prelu_slope"},
      {Role::kPositionalEmbedding, "positional_embedding"},
      {Role::kClassToken, "class_token"},
      {Role::kLayerScale, "layer_scale"},
  };
};

// Weight, recurrent W and R, embedding: the roles that make the node reading the tensor a layer, and
// the ones whose initialization needs the layer's fans.
inline bool IsLayerRole(Role role) {
  return role == Role::kWeight || role == Role::kRecurrentInput || role == Role::kRecurrentHidden ||
         role == Role::kEmbedding;
}

// Recurrent W and R: weights laid out in gate blocks.
inline bool IsRecurrentWeight(Role role) { return role == Role::kRecurrentInput || role == Role::kRecurrentHidden; }

// kNormal: N(0, std^2) with a given std; kUniform: U(-bound, bound) with a given bound.
// kProxy (preset proxy): N(mean, std^2) of each output channel's own values (InitChoice::proxy); a preset's
// choice, not one a rule may name.
enum class Scheme { kNone, kXavier, kHe, kLeCun, kOrthogonal, kNormal, kUniform, kConstant, kProxy };
template <>
struct Names<Scheme> {
  static constexpr Named<Scheme> table[] = {
      {Scheme::kNone, "none", /*accepted=*/false},
      {Scheme::kXavier, "xavier"},
      {Scheme::kHe, "he"},
      {Scheme::kLeCun, "lecun"},
      {Scheme::kOrthogonal, "orthogonal"},
      {Scheme::kNormal, "normal"},
      {Scheme::kUniform, "uniform"},
      {Scheme::kConstant, "constant"},
      {Scheme::kProxy, "proxy", /*accepted=*/false},
  };
};

enum class Distribution { kUniform, kNormal, kTruncatedNormal };
template <>
struct Names<Distribution> {
  static constexpr Named<Distribution> table[] = {
      {Distribution::kUniform, "uniform"},
      {Distribution::kNormal, "normal"},
      {Distribution::kTruncatedNormal, "truncated_normal"},
  };
};

// kUndecided until select-init runs (a --passes prefix may stop before it).
enum class Action { kUndecided, kKeep, kReinitialize };

// Why a row is kept: the table's summary line counts by it.
enum class Kept {
  kNo,               // not kept (re-initialized or undecided)
  kNotAParameter,    // no role: shape tensors, scalars, indices, unused tensors
  kQuantized,        // an integer weight behind DequantizeLinear or in a quantized op
  kUnfit,            // a role whose shape does not fit the layer's layout (no fans)
  kNoRule,           // a role the policy has no rule for
  kByRule,           // a rules-file rule with keep: true
  kFixedConstant,    // a fixed signal-processing constant (find-fixed-constants), not a learned weight
  kBySelection,      // --only/--exclude/--keep/--reinit-last/--reinit-blocks left it out
};

// A weight whose values are a fixed signal-processing constant that the source framework registered as
// a buffer, not a learned parameter (passes/graph/fixed_constants.h says how each is recognized).
enum class Fixed { kNone, kDftBasis, kFilterbank, kSmoothingKernel };
template <>
struct Names<Fixed> {
  static constexpr Named<Fixed> table[] = {
      {Fixed::kNone, "none", /*accepted=*/false},
      {Fixed::kDftBasis, "dft_basis"},
      {Fixed::kFilterbank, "filterbank"},
      {Fixed::kSmoothingKernel, "smoothing_kernel"},
  };
};

// The note's grouping: sigmoid/tanh -> Xavier, ReLU family -> He, SELU -> LeCun, none -> linear.
enum class ActivationFamily { kLinear, kSigmoidTanh, kRelu, kSelu };
template <>
struct Names<ActivationFamily> {
  static constexpr Named<ActivationFamily> table[] = {
      {ActivationFamily::kLinear, "linear"},
      {ActivationFamily::kSigmoidTanh, "sigmoid/tanh"},
      {ActivationFamily::kRelu, "relu"},
      {ActivationFamily::kSelu, "selu"},
  };
};

// One use of a tensor: which node reads it, and at which input slot.
struct Consumer {
  std::string node;  // node name, or "#<index>" when the exporter left it empty
  std::string op_type;
  int input_index = 0;
};

// One use of a tensor that gives it a role: the layer node and input slot that consume it, reached
// through zero or more layout ops (Identity, Cast, Transpose, Reshape, ..., DequantizeLinear).
struct OpInputRule;

class Assembly;

struct LayerUse {
  const OpInputRule* rule = nullptr;       // the op-table entry, or null for a pattern (bias Add, ...)
  const onnx::NodeProto* entry = nullptr;  // the node that reads the tensor itself (the first path)
  int entry_input = 0;
  const onnx::NodeProto* layer = nullptr;  // the node whose input gives the role
  int layer_input = 0;
  Role role = Role::kUnknown;
  std::vector<std::string> through;        // op types between the tensor and the layer
  std::vector<int64_t> shape;              // the tensor's shape as the layer sees it
  bool shape_known = true;
  // Every (node, input) that reads the tensor itself on a path to this layer input (several when the
  // tensor is cut into Slices that meet again in a Concat).
  std::vector<std::pair<const onnx::NodeProto*, int>> entries;
  // How the layer's input is assembled from stored tensors (passes/graph/assembly.h); null when it is not a
  // fixed rearrangement of constants.
  std::shared_ptr<const Assembly> assembly;
};

struct TensorStats {
  double mean = 0, std = 0, min = 0, max = 0;
};

// select-init, preset proxy: the statistics a tensor's new values are drawn from, per output channel of
// the stored layout (or of the whole tensor, one channel). Stored element i belongs to channel
//   ((i / outer_stride) % outer_count) * count + (i / stride) % count
// which covers one axis (outer_count 1), the rows of a recurrent kernel, and a grouped ConvTranspose's
// output channels (group, then axis 1).
struct ProxySource {
  std::string layout;  // in words: "per output channel (axis 0)", "per tensor", ...
  int64_t stride = 1, count = 1, outer_stride = 1, outer_count = 1;
  std::vector<double> mean, std;  // per channel, population std
  int64_t per_channel = 0;        // elements per channel
  TensorStats whole;              // of the whole tensor (or piece)

  int64_t Channel(int64_t i) const { return ((i / outer_stride) % outer_count) * count + (i / stride) % count; }
  int64_t channels() const { return outer_count * count; }
};

// The channels of elements first, first + 1, ... of a ProxySource without a division per element (the
// division is most of the cost of a per-element lookup): next() steps both counters of Channel().
class ChannelCursor {
 public:
  ChannelCursor(const ProxySource& s, int64_t first)
      : s_(s), in_stride_(first % s.stride), inner_((first / s.stride) % s.count),
        in_outer_(first % s.outer_stride), outer_((first / s.outer_stride) % s.outer_count) {}
  int64_t channel() const { return outer_ * s_.count + inner_; }
  void next() {
    if (++in_stride_ == s_.stride) {
      in_stride_ = 0;
      if (++inner_ == s_.count) inner_ = 0;
    }
    if (++in_outer_ == s_.outer_stride) {
      in_outer_ = 0;
      if (++outer_ == s_.outer_count) outer_ = 0;
    }
  }

 private:
  const ProxySource& s_;
  int64_t in_stride_, inner_, in_outer_, outer_;
};

// Mean, population std, min and max of values (all 0 for none).
TensorStats Measure(const std::vector<double>& values);

// find-copies: one parameter stored twice (a submodule duplicated into both branches of an If, a tied
// LM head stored as the embedding's transpose). The copy takes its original's decision and values.
struct CopyFacts {
  std::string of;           // the original's name; empty when this is no copy
  bool transposed = false;  // the copy holds the original's transpose
  bool has_copies = false;  // this is an original: its values are written to its copies too
};

// infer-fans: the fans of a layer's weight (a row has them only when its shape fits its layer).
struct Fans {
  int64_t in = 0, out = 0;
  int64_t receptive_field = 1;  // product of kernel dims (1 for dense layers)
  int64_t groups = 1;
};

// infer-fans: how a recurrent weight or bias (or a cell's dense gate projection) is cut into gates.
struct GateLayout {
  int64_t blocks = 1;      // gates per direction (LSTM 4, GRU 3, RNN 1)
  int64_t directions = 1;  // 1 or 2
  // recurrent W/R: the first stored element of each gate block (per direction, per gate; empty when the
  // gate blocks are not whole runs of stored rows: passes/graph/gate_blocks.h); LSTM B: the stored elements
  // of the forget-gate block of Wb.
  std::vector<int64_t> block_offsets;
  std::vector<int64_t> forget_elements;
};

// infer-activation: the nonlinearity after a weight's layer.
struct ActivationFacts {
  std::string name;  // "relu", "tanh", ..., "linear"; empty when not looked for
  ActivationFamily family = ActivationFamily::kLinear;
  double param = 0;               // negative slope for leaky relu / prelu
  std::vector<std::string> path;  // op types walked from the layer to the activation
  // the layer's output reaches a residual Add before its activation (or the end)
  const onnx::NodeProto* residual_add = nullptr;
};

// find-fixed-constants
struct FixedFacts {
  Fixed kind = Fixed::kNone;
  std::string seen;  // what the values showed, with numbers (for the reason)
};

// select-init: what happens to the tensor, and with which numbers.
struct InitChoice {
  Action action = Action::kUndecided;
  Kept kept = Kept::kNo;  // why, when action is kKeep
  Scheme scheme = Scheme::kNone;
  Distribution distribution = Distribution::kUniform;
  double gain = 1.0;
  double scale = 1.0;           // variance-scaling: variance = gain^2 * scale / n
  std::string mode;             // fan_in, fan_out, fan_avg (variance-scaling schemes)
  bool whole_kernel = false;    // orthogonal over all gates of a direction at once (Keras)
  double forget_bias = 0;       // LSTM B: value of the forget-gate block of Wb
  double std = 0;               // target standard deviation of the generated values
  std::optional<double> bound;  // uniform limit, when the distribution is uniform
  double constant = 0;          // value for Scheme::kConstant
  std::string reason;           // the rule that fired, in words
  std::shared_ptr<const ProxySource> proxy;  // Scheme::kProxy: what the values are drawn from
};

// One row of the table. The facts are grouped by the pass that writes them; passes/passes.h says
// which pass reads which group.
struct ParamRow {
  // find-params
  std::string name;
  int32_t dtype = 0;  // onnx::TensorProto_DataType
  std::vector<int64_t> shape;
  std::string source;  // "initializer" or "constant_node"
  std::string graph;   // "main", or the path of the subgraph that holds it
  onnx::TensorProto* tensor = nullptr;
  std::vector<Consumer> consumers;
  Role role = Role::kUnknown;
  std::vector<LayerUse> uses;  // every use that gives a role; uses[0] decides
  // A piece of the tensor, when pieces of it reach different layers (each piece is a row of its own):
  // runs [begin, end) of stored elements, and the box they span ("[:, 0:16]"). Empty: the whole tensor.
  std::vector<std::pair<int64_t, int64_t>> piece;
  std::string piece_text;
  std::vector<std::string> conflicts;      // uses that disagree with uses[0] (role, fans, activation)
  bool quantized = false;                  // an integer weight behind DequantizeLinear or in a quantized op
  int64_t split_gates = 0;                 // a dense layer's output split into this many gates (a cell)
  std::string role_reason;  // why the role (or why no role)

  CopyFacts copy;               // find-copies
  std::optional<Fans> fans;     // infer-fans
  GateLayout gates;             // infer-fans
  ActivationFacts act;          // infer-activation
  FixedFacts fixed;             // find-fixed-constants
  InitChoice init;              // select-init
  std::optional<TensorStats> stats;  // regenerate

  // The use that decides the role (uses[0]), or null when the tensor has no role.
  const LayerUse* primary_use() const { return uses.empty() ? nullptr : &uses.front(); }
  // The node that reads the tensor as a layer input (the deciding use's), or null.
  const onnx::NodeProto* layer() const { return uses.empty() ? nullptr : uses.front().layer; }
};

using ParamTable = std::vector<ParamRow>;

// "[4,3,3,3]"
std::string ShapeText(const std::vector<int64_t>& shape);

}  // namespace reinit
