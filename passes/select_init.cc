// select-init: the policy, applied row by row.
//
// 1. The preset's rule (the note by default):
//      weight + ReLU family -> He,  sigmoid/tanh -> Xavier,  SELU -> LeCun,  no nonlinearity -> Xavier
//      recurrent W -> the weight rule per gate block; recurrent R -> orthogonal per gate block
//      bias -> 0; norm scale -> 1, bias -> 0, running mean -> 0, running var -> 1; PReLU slope -> 0.25
//      embedding -> N(0, 1); positional embedding -> N(0, 0.02^2); class token -> 0; layer scale -> 1e-6
//    (presets torch-gain, keras, jax change gains, fan modes, distributions and the recurrent rule;
//    pytorch is what torch.nn modules draw when constructed: weights and biases U(+-1/sqrt(fan_in)) of
//    the layer's weight, nn.MultiheadAttention's in_proj xavier over the whole packed tensor and its
//    biases 0; hf, bert, gpt2 draw weights and embeddings from N(0, R^2), R = --init-range).
// 2. Flags: --distribution, --gain, --mode, --forget-bias, --embedding-std.
// 3. The rules file, in order: every matching rule overrides what it names; a later rule wins. A rule
//    whose scheme needs fans (Xavier, He, LeCun) or a matrix (orthogonal) skips rows without them,
//    which keep their decision; a rule that applies to nothing is an error naming its line.
// 4. --residual-scaling (default: the preset's; gpt2 for the gpt2 preset): the last layer of each
//    residual branch scaled by 1/sqrt(branches), or zeroed.
// A fixed constant (find-fixed-constants: a DFT basis, filterbank or smoothing kernel) is kept, unless
// reinit_fixed is set (then it is an ordinary weight) or a rule whose match names it (`name`) decides
// it; other rules skip it, and say so.
// Then std and bound: variance = gain^2 * scale / n (n = fan_in, fan_out or their mean); uniform bound
// = sqrt(3) * std; a truncated normal is drawn from N(0, (std / 0.8796)^2) cut at two of its sigmas.
// Quantized weights, unknown roles and shapes that do not fit are kept, bit for bit. A decision whose
// values would not be finite in the tensor's type (a rule's huge std for a float16 tensor) is refused.
// Preset proxy replaces step 1 and the flags: every parameter the preset would re-initialize is drawn
// from N(mean, std^2) of its own values per output channel (passes/proxy_source.h), read here; BatchNorm
// running statistics are kept, so each channel's normalization still fits its channel (README, sharing
// a model without its weights). Rules that name a scheme or keep still win.
#include "passes/passes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "passes/graph/activations.h"
#include "passes/graph/attention.h"
#include "passes/graph/blocks.h"
#include "passes/graph/gate_blocks.h"
#include "passes/graph/numbers.h"
#include "passes/graph/fixed_constants.h"
#include "passes/gen/schemes.h"
#include "passes/graph/tensor_values.h"
#include "passes/proxy_source.h"

namespace reinit {

namespace {

struct RoleRule {
  Role role;
  Scheme scheme;
  double value;  // the constant, or the std of Scheme::kNormal
  const char* words;
};

// clang-format off
constexpr RoleRule kRoleRules[] = {
  {Role::kBias,                Scheme::kConstant, 0.0,  "bias -> 0"},
  {Role::kRecurrentBias,       Scheme::kConstant, 0.0,  "recurrent bias -> 0"},
  {Role::kNormScale,           Scheme::kConstant, 1.0,  "normalization scale -> 1"},
  {Role::kNormBias,            Scheme::kConstant, 0.0,  "normalization bias -> 0"},
  {Role::kNormMean,            Scheme::kConstant, 0.0,  "running mean -> 0"},
  {Role::kNormVar,             Scheme::kConstant, 1.0,  "running variance -> 1"},
  {Role::kPositionalEmbedding, Scheme::kNormal,   0.02, "positional embedding -> N(0, 0.02^2) (torchvision ViT, BERT)"},
  {Role::kClassToken,          Scheme::kConstant, 0.0,  "class token -> 0 (torchvision ViT)"},
  {Role::kLayerScale,          Scheme::kConstant, 1e-6, "layer scale -> 1e-6 (torchvision ConvNeXt)"},
};
// clang-format on

bool IsVarianceScaling(Scheme s) { return s == Scheme::kXavier || s == Scheme::kHe || s == Scheme::kLeCun; }

// The note's own variance scaling of a scheme, for a rules file that names a scheme.
VarianceScaling DefaultScaling(Scheme s) {
  if (s == Scheme::kHe) return {s, 2, FanMode::kFanIn, std::nullopt};
  if (s == Scheme::kLeCun) return {s, 1, FanMode::kFanIn, std::nullopt};
  return {Scheme::kXavier, 1, FanMode::kFanAvg, std::nullopt};
}

const char* FamilyWords(ActivationFamily f) {
  switch (f) {
    case ActivationFamily::kRelu: return "ReLU family";
    case ActivationFamily::kSigmoidTanh: return "sigmoid/tanh";
    case ActivationFamily::kSelu: return "SELU";
    case ActivationFamily::kLinear: return "no nonlinearity";
  }
  return "?";
}

// What select-init decides for one row, before std/bound are worked out.
struct Decision {
  Scheme scheme = Scheme::kNone;
  double scale = 1, gain = 1;
  FanMode mode = FanMode::kFanIn;
  std::optional<Distribution> distribution;
  double value = 0;          // constant value, or std (kNormal), or bound (kUniform)
  int64_t fan_out_factor = 1;  // Keras: a recurrent kernel's fan_out spans all gates
  std::optional<Fans> fans;    // fans of the whole tensor the row was cut from (torch's MHA in_proj_weight)
  bool whole_kernel = false;
  std::string words;
  const Rule* rule = nullptr;  // the rules-file rule that decided it last, if any
  bool rule_scheme = false;    // some rule that applied named a scheme (preset proxy gives way to it)
};

// What one rule of the rules file did over the table: the rows it decided (or kept), and the rows it
// matched but could not apply to, with why.
struct RuleUse {
  std::vector<std::string> applied, skipped;
};

// Why `scheme` cannot be applied to `row` (nullptr: it can). Variance scaling divides by a fan, which a
// bias or a norm parameter does not have (it would give inf); orthogonal needs a matrix.
const char* CannotApply(Scheme scheme, const ParamRow& row) {
  if (IsVarianceScaling(scheme) && !row.fans.has_value()) return "no fans";
  if (scheme != Scheme::kOrthogonal) return nullptr;
  const bool recurrent = IsRecurrentWeight(row.role);
  if (recurrent) return row.gates.block_offsets.empty() ? "gate blocks not whole runs of stored rows" : nullptr;
  return row.shape.size() < 2 || row.shape[0] == 0 ? "not a matrix" : nullptr;
}

// The layer a bias adds to: its op's own node (Conv, Gemm input 2), or the layer whose output a bias
// Add reads.
const onnx::NodeProto* BiasLayer(const ParamRow& row, const GraphIndex& index) {
  const LayerUse* use = row.primary_use();
  if (use == nullptr || use->layer == nullptr) return nullptr;
  if (use->rule != nullptr || use->layer->input_size() != 2) return use->layer;
  return index.Producer(use->layer->input(1 - use->layer_input));
}

// torch.nn.MultiheadAttention in the graph (passes/graph/attention.h): the fans of its whole packed
// in_proj_weight for each row stored from it, and the layers whose biases it sets to 0.
struct TorchAttention {
  std::map<const ParamRow*, Fans> in_proj_fans;
  std::set<const onnx::NodeProto*> zero_bias_layers;
};

// An attention is torch's nn.MultiheadAttention when its projections are nodes of one module scope (the
// functional multi_head_attention_forward), or, without node names, when a stored name says in_proj.
// Attention built of nn.Linear layers (q_proj, k_proj, ...) has the structure too and stays Linear.
TorchAttention FindTorchAttention(const ParamTable& table, const GraphIndex& index) {
  std::map<const onnx::NodeProto*, std::vector<const ParamRow*>> weights;
  for (const ParamRow& row : table) {
    if (row.role == Role::kWeight && row.fans && row.layer() != nullptr) weights[row.layer()].push_back(&row);
  }
  TorchAttention found;
  for (const AttentionLayers& a : FindAttention(index)) {
    std::vector<const ParamRow*> rows;
    for (const onnx::NodeProto* layer : a.in_proj) {
      auto it = weights.find(layer);
      if (it != weights.end()) rows.insert(rows.end(), it->second.begin(), it->second.end());
    }
    const bool named = std::any_of(rows.begin(), rows.end(), [](const ParamRow* r) {
      return r->name.find("in_proj") != std::string::npos;
    });
    if (!(a.one_scope || named)) continue;
    found.zero_bias_layers.insert(a.in_proj.begin(), a.in_proj.end());
    found.zero_bias_layers.insert(a.out_proj);
    if (rows.empty()) continue;  // in_proj kept (its shape unknown): its biases are still torch's 0
    // All of Q, K and V from one [3E, E] tensor: E inputs each. (With kdim or vdim != E torch keeps
    // three tensors, each xavier_uniform_ on its own: then every row keeps its own fans.)
    const bool packed = std::all_of(rows.begin(), rows.end(), [&](const ParamRow* r) { return r->fans->in == rows[0]->fans->in; });
    Fans whole = *rows[0]->fans;
    whole.out = 0;
    for (const ParamRow* r : rows) whole.out += r->fans->out;
    for (const ParamRow* r : rows) found.in_proj_fans[r] = packed ? whole : *r->fans;
  }
  return found;
}

class Decider {
 public:
  Decider(const Policy& policy, const GraphIndex& index, const ParamTable& table)
      : policy_(policy), preset_(policy.preset_rules()), index_(index) {
    if (preset_.bias == BiasRule::kFanInUniform) {
      for (const ParamRow& row : table) {
        if (row.role == Role::kWeight && row.fans && row.layer() != nullptr) layer_weights_.emplace(row.layer(), &row);
      }
    }
    if (preset_.torch_attention) attention_ = FindTorchAttention(table, index);
  }

  // The preset's rule for `row`; false when the row has no rule (kept).
  bool Base(const ParamRow& row, Decision& d) const {
    const std::string by = std::string(" (preset ") + preset_.name + ")";
    switch (row.role) {
      case Role::kWeight: {
        if (preset_.torch_attention && attention_.in_proj_fans.count(&row)) {
          // torch/nn/modules/activation.py, MultiheadAttention._reset_parameters: xavier_uniform_(in_proj_weight)
          SetScaling(d, {Scheme::kXavier, 1, FanMode::kFanAvg, Distribution::kUniform});
          d.fans = attention_.in_proj_fans.at(&row);
          d.words = "MultiheadAttention in_proj_weight -> xavier_uniform_ over the whole [" +
                    std::to_string(d.fans->out) + ", " + std::to_string(d.fans->in) + "] tensor" + by;
          return true;
        }
        if (preset_.weights == WeightRule::kTorchReset) {
          // torch/nn/modules/linear.py, conv.py reset_parameters: kaiming_uniform_(weight, a=sqrt(5)):
          // gain sqrt(2/(1+5)), bound gain*sqrt(3/fan_in) = 1/sqrt(fan_in), whatever the activation.
          SetScaling(d, {Scheme::kHe, 1.0 / 3, FanMode::kFanIn, Distribution::kUniform});
          d.words = "weight -> kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), any activation (torch.nn." +
                    std::string(row.layer() != nullptr && row.layer()->op_type().find("Conv") != std::string::npos
                                    ? "ConvNd" : "Linear") + ".reset_parameters)";
          return true;
        }
        if (preset_.weights == WeightRule::kInitRange) {
          d.scheme = Scheme::kNormal;
          d.value = policy_.init_range;
          d.words = "weight -> N(0, " + FormatNumber(d.value) + "^2) (--init-range" + by + ")";
          return true;
        }
        const VarianceScaling& vs = ForFamily(row.act.family);
        SetScaling(d, vs);
        if (vs.scheme == Scheme::kHe && preset_.slope_aware && !preset_.torch_gain) {
          d.scale = 2.0 / (1.0 + row.act.param * row.act.param);
        }
        if (preset_.torch_gain) d.gain = TorchGain(row.act.name, row.act.family, row.act.param);
        d.words = std::string(FamilyWords(row.act.family)) + " -> " + NameOf(vs.scheme) + " (activation " +
                  row.act.name + ")";
        return true;
      }
      case Role::kRecurrentInput:
      case Role::kRecurrentHidden:
      case Role::kRecurrentBias:
        return Recurrent(row, d);
      case Role::kBias:
        return Bias(row, d);
      case Role::kPositionalEmbedding:
        if (preset_.weights != WeightRule::kInitRange) return FromRoleRules(row, d);
        d.scheme = Scheme::kNormal;
        d.value = policy_.init_range;
        d.words = "positional embedding -> N(0, " + FormatNumber(d.value) + "^2) (--init-range" + by + ")";
        return true;
      case Role::kEmbedding:
        if (policy_.embedding_std) {
          d.scheme = Scheme::kNormal;
          d.value = *policy_.embedding_std;
          d.words = "embedding -> N(0, " + FormatNumber(d.value) + "^2) (--embedding-std)";
        } else if (preset_.weights == WeightRule::kInitRange) {
          d.scheme = Scheme::kNormal;
          d.value = policy_.init_range;
          d.words = "embedding -> N(0, " + FormatNumber(d.value) + "^2) (--init-range" + by + ")";
        } else if (preset_.embedding == EmbeddingRule::kUniform) {
          d.scheme = Scheme::kUniform;
          d.value = preset_.embedding_value;
          d.words = "embedding -> U(-" + FormatNumber(d.value) + ", " + FormatNumber(d.value) + ")" + by;
        } else if (preset_.embedding == EmbeddingRule::kFanInNormal) {
          d.scheme = Scheme::kNormal;
          d.value = 1.0 / std::sqrt(static_cast<double>(row.fans->out));
          d.words = "embedding -> N(0, 1/dim), dim = " + std::to_string(row.fans->out) + by;
        } else {
          d.scheme = Scheme::kNormal;
          d.value = preset_.embedding_value;
          d.words = "embedding -> N(0, 1) (torch.nn.Embedding default)";
        }
        return true;
      case Role::kPReluSlope:
        d.scheme = Scheme::kConstant;
        d.value = preset_.prelu_slope;
        d.words = "PReLU slope -> " + FormatNumber(d.value) + by;
        return true;
      default:
        return FromRoleRules(row, d);
    }
  }

  static bool FromRoleRules(const ParamRow& row, Decision& d) {
    for (const auto& rule : kRoleRules) {
      if (rule.role != row.role) continue;
      d.scheme = rule.scheme;
      d.value = rule.value;
      d.words = rule.words;
      return true;
    }
    return false;
  }

  // A layer's bias: 0, or as torch.nn.Linear/ConvNd.reset_parameters draw it, U(+-1/sqrt(fan_in)) with
  // the fan_in of the layer's weight (torch's _calculate_fan_in_and_fan_out, the framework fan
  // convention: a ConvTranspose's out/groups * prod(k)). A bias is no layer input of its own, so the
  // bound comes from the weight row of the layer it adds to.
  bool Bias(const ParamRow& row, Decision& d) const {
    if (preset_.bias == BiasRule::kZero) return FromRoleRules(row, d);
    const onnx::NodeProto* layer = BiasLayer(row, index_);
    if (preset_.torch_attention && attention_.zero_bias_layers.count(layer)) {
      d.scheme = Scheme::kConstant;
      d.value = 0;
      d.words = "bias -> 0 (MultiheadAttention._reset_parameters: in_proj_bias and out_proj.bias)";
      return true;
    }
    auto it = layer_weights_.find(layer);
    if (it == layer_weights_.end()) {
      FromRoleRules(row, d);
      d.words += " (no weight of its layer to take fan_in from)";
      return true;
    }
    const int64_t fan_in = it->second->fans->in;
    d.scheme = Scheme::kUniform;
    d.value = 1.0 / std::sqrt(static_cast<double>(fan_in));
    d.words = "bias -> U(+-1/sqrt(fan_in)), fan_in = " + std::to_string(fan_in) + " of '" + it->second->name +
              "' (torch.nn." + (layer->op_type().find("Conv") != std::string::npos ? "ConvNd" : "Linear") +
              ".reset_parameters)";
    return true;
  }

  // Flags that apply to every variance-scaling decision.
  void Flags(const ParamRow& row, Decision& d) const {
    if (!IsVarianceScaling(d.scheme)) return;
    if (policy_.mode) d.mode = *policy_.mode;
    if (policy_.gain) d.gain = std::isnan(*policy_.gain) ? TorchGain(row.act.name, row.act.family,
                                                                      row.act.param)
                                                          : *policy_.gain;
    if (policy_.distribution) d.distribution = *policy_.distribution;
  }

  // The rules file: each matching rule overrides the fields it names, unless the scheme it leads to
  // cannot apply to the row (a scheme that divides by a fan, for a row without fans; orthogonal, for
  // a row that is not a matrix): then the row keeps its decision and `uses` records the skip. With
  // `fixed` (a fixed constant to keep), only rules that name the tensor may re-initialize it. Returns
  // the keeping rule, if any.
  const Rule* Rules(const ParamRow& row, Decision& d, std::vector<RuleUse>& uses, bool fixed) const {
    const Rule* keep = nullptr;
    for (size_t r = 0; r < policy_.rules.size(); ++r) {
      const Rule& rule = policy_.rules[r];
      if (!rule.match.Matches(row, index_)) continue;
      const InitSpec& init = rule.init;
      if (init.keep) {
        keep = &rule;
        uses[r].applied.push_back(row.name);
        continue;
      }
      if (fixed && !rule.match.name) {
        uses[r].skipped.push_back(row.name + " (" + FixedWords(row.fixed.kind) + ": a rule must name it, or use reinit_fixed)");
        continue;
      }
      Decision next = d;
      next.rule = &rule;
      if (init.scheme && *init.scheme != next.scheme) {
        next.scheme = *init.scheme;
        if (IsVarianceScaling(next.scheme)) SetScaling(next, DefaultScaling(next.scheme));
        if (next.scheme == Scheme::kHe) next.scale = 2.0 / (1.0 + row.act.param * row.act.param);
      }
      if (const char* why = CannotApply(next.scheme, row)) {
        uses[r].skipped.push_back(row.name + " (" + why + ")");
        continue;
      }
      keep = nullptr;
      uses[r].applied.push_back(row.name);
      if (init.scheme) next.rule_scheme = true;
      if (init.distribution) next.distribution = *init.distribution;
      if (init.gain) next.gain = std::isnan(*init.gain) ? TorchGain(row.act.name, row.act.family,
                                                                    row.act.param)
                                                        : *init.gain;
      if (init.mode) next.mode = *init.mode;
      if (init.std) next.value = *init.std;
      if (init.bound) next.value = *init.bound;
      if (init.value) next.value = *init.value;
      next.words = std::string(NameOf(next.scheme)) + " by rule " + rule.origin + " (" + rule.match.text + ")";
      d = next;
    }
    return keep;
  }

  // The decision's own distribution (a preset's per-scheme choice, a flag, a rule), else the policy's,
  // else the preset's.
  Distribution DistributionOf(const Decision& d) const {
    return d.distribution.value_or(policy_.distribution.value_or(preset_.distribution));
  }

 private:
  const VarianceScaling& ForFamily(ActivationFamily f) const {
    switch (f) {
      case ActivationFamily::kRelu: return preset_.relu;
      case ActivationFamily::kSigmoidTanh: return preset_.sigmoid_tanh;
      case ActivationFamily::kSelu: return preset_.selu;
      case ActivationFamily::kLinear: break;
    }
    return preset_.linear;
  }

  static void SetScaling(Decision& d, const VarianceScaling& vs) {
    d.scheme = vs.scheme;
    d.scale = vs.scale;
    d.mode = vs.mode;
    d.distribution = vs.distribution;
  }

  bool Recurrent(const ParamRow& row, Decision& d) const {
    const int64_t hidden = row.role == Role::kRecurrentBias ? (row.shape.size() == 2 ? row.shape[1] / (2 * row.gates.blocks) : 0)
                                                            : row.fans->out;
    if (preset_.recurrent == RecurrentRule::kTorchDefault) {
      if (hidden <= 0) return false;
      d.scheme = Scheme::kUniform;
      d.value = 1.0 / std::sqrt(static_cast<double>(hidden));
      d.words = "recurrent weights and biases -> U(-1/sqrt(H), 1/sqrt(H)), H = " + std::to_string(hidden) +
                " (torch.nn." + (row.layer() ? row.layer()->op_type() : std::string("RNN")) + " default)";
      return true;
    }
    const bool whole = preset_.recurrent == RecurrentRule::kWholeKernel;
    if (row.role == Role::kRecurrentBias) {
      d.scheme = Scheme::kConstant;
      d.value = 0;
      d.words = "recurrent bias -> 0";
      return true;
    }
    // Orthogonal blocks are built in the stored layout: an R whose gate blocks are not whole runs of
    // stored rows (passes/graph/gate_blocks.h) gets the input weights' rule instead, which does not depend on
    // layout.
    const bool blocks = !(whole ? DirectionBlockOffsets(row) : row.gates.block_offsets).empty();
    if (row.role == Role::kRecurrentHidden && blocks) {
      d.scheme = Scheme::kOrthogonal;
      d.whole_kernel = whole;
      d.words = whole ? "recurrent R -> orthogonal over the whole [gates*H, H] kernel of each direction (Keras)"
                      : "recurrent R -> orthogonal per gate block and direction (note, technique 5)";
      return true;
    }
    SetScaling(d, preset_.recurrent_input);
    if (whole) d.fan_out_factor = row.gates.blocks;
    d.words = std::string(row.role == Role::kRecurrentHidden ? "recurrent R" : "recurrent W") + " -> " +
              NameOf(d.scheme) +
              (whole ? " over the whole kernel (fan_out = gates*H)" : " per gate block (gates are sigmoid/tanh)") +
              (row.role == Role::kRecurrentHidden ? " (its gate blocks are not whole runs of stored rows, so not orthogonal)"
                                                  : "");
    return true;
  }

  const Policy& policy_;
  const Preset& preset_;
  const GraphIndex& index_;
  std::map<const onnx::NodeProto*, const ParamRow*> layer_weights_;  // bias rule kFanInUniform: first weight per layer
  TorchAttention attention_;
};

// std and bound of a variance-scaling decision, and the formula in words.
void ApplyScaling(ParamRow& row, const Decision& d, Distribution dist) {
  const Fans fans = d.fans.value_or(*row.fans);
  const double fi = static_cast<double>(fans.in);
  const double fo = static_cast<double>(fans.out * d.fan_out_factor);
  const double n = d.mode == FanMode::kFanIn ? fi : d.mode == FanMode::kFanOut ? fo : (fi + fo) / 2;
  row.init.scale = d.scale;
  row.init.gain = d.gain;
  row.init.mode = NameOf(d.mode);
  row.init.std = d.gain * std::sqrt(d.scale / n);
  row.init.distribution = dist;
  if (dist == Distribution::kUniform) row.init.bound = UniformBoundForStd(row.init.std);
  row.init.reason += ": std = " + (d.gain != 1 ? FormatNumber(d.gain) + "*" : std::string()) + "sqrt(" +
                FormatNumber(d.scale) + "/n), n = " + row.init.mode + " = " + FormatNumber(n) + " (n_in " +
                std::to_string(fans.in) + ", n_out " + std::to_string(static_cast<int64_t>(fo)) + ") -> " +
                (row.init.bound ? "uniform bound " + FormatNumber(*row.init.bound)
                           : NameOf(dist) + std::string(" std ") + FormatNumber(row.init.std));
}

// Sets a decision's scheme on its row: scheme, std, bound or constant, and the reason.
void ApplyScheme(ParamRow& row, const Decision& d, const Decider& decider, const Policy& policy) {
  row.init.action = Action::kReinitialize;
  row.init.scheme = d.scheme;
  row.init.reason = d.words;
  row.init.whole_kernel = d.whole_kernel;
  row.init.gain = d.gain;
  switch (d.scheme) {
    case Scheme::kXavier:
    case Scheme::kHe:
    case Scheme::kLeCun:
      ApplyScaling(row, d, decider.DistributionOf(d));
      break;
    case Scheme::kConstant:
      row.init.constant = d.value;
      if (row.role == Role::kRecurrentBias && row.gates.blocks == 4) {
        row.init.forget_bias = policy.forget_bias.value_or(policy.preset_rules().forget_bias);
        if (row.init.forget_bias != 0) row.init.reason += ", forget-gate bias (Wb) -> " + FormatNumber(row.init.forget_bias);
      }
      break;
    case Scheme::kNormal:
      row.init.distribution = Distribution::kNormal;
      row.init.std = d.value;
      break;
    case Scheme::kUniform:
      row.init.distribution = Distribution::kUniform;
      row.init.bound = d.value;
      row.init.std = d.value / std::sqrt(3.0);
      break;
    case Scheme::kOrthogonal: {
      // Entries of a matrix with orthonormal rows (or columns) of length L have mean square 1/L. The
      // matrix is a recurrent gate block [H, I] (or all gates, [G*H, I]), or the weight flattened to
      // [dim0, rest] as torch.nn.init.orthogonal_ flattens it.
      const bool recurrent = IsRecurrentWeight(row.role);
      int64_t elements = 1;
      for (int64_t dim : row.shape) elements *= dim;
      const int64_t rows = recurrent ? (d.whole_kernel ? row.fans->out * row.gates.blocks : row.fans->out) : row.shape[0];
      const int64_t cols = recurrent ? row.fans->in : elements / row.shape[0];
      row.init.std = row.init.gain / std::sqrt(static_cast<double>(std::max<int64_t>({rows, cols, 1})));
      break;
    }
    case Scheme::kNone:
    case Scheme::kProxy:  // ApplyProxy
      break;
  }
}

// "-0.0383..0.0188": the range of a channel statistic, to three significant digits (the report has
// every channel's numbers).
std::string Range(const std::vector<double>& v) {
  auto text = [](double x) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", x);
    return std::string(buffer);
  };
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *lo == *hi ? text(*lo) : text(*lo) + ".." + text(*hi);
}

// Preset proxy: the row is drawn from its own statistics, measured now.
Status ApplyProxy(ParamRow& row, const TensorStore* store) {
  auto source = std::make_shared<ProxySource>(ProxyLayout(row));
  REINIT_RETURN_IF_ERROR(MeasureProxySource(row, store, source.get()));
  row.init.action = Action::kReinitialize;
  row.init.scheme = Scheme::kProxy;
  row.init.distribution = Distribution::kNormal;
  row.init.gain = 1;
  // The whole tensor's std is what the channels' draws add up to: sum of channel variances and the
  // spread of channel means.
  row.init.std = source->whole.std;
  const int64_t channels = source->channels();
  row.init.reason = "proxy: N(mean, std^2) of its own values, " + source->layout + ": " +
                    (channels > 1 ? std::to_string(channels) + " channels of " + std::to_string(source->per_channel) +
                                        " values, mean " + Range(source->mean) + ", std " + Range(source->std)
                                  : "mean " + Range({source->whole.mean}) + ", std " + Range({source->whole.std})) +
                    " (preset proxy)";
  row.init.proxy = std::move(source);
  return Status::Ok();
}

// What --residual-scaling needs to know of the graph: how many residual branches there are and, for
// fixup, the layers of each branch.
struct ResidualFacts {
  size_t branches = 0;  // the distinct residual Adds the weights' layers reach
  // fixup: each branch layer's branch (its layers) and whether it is the branch's last layer
  struct Place {
    size_t layers = 0;
    bool last = false;
  };
  std::map<const onnx::NodeProto*, Place> fixup;
  std::set<const onnx::NodeProto*> fixup_adds;  // the residual Adds whose branch is known
};

ResidualFacts FindResidualFacts(const ParamTable& table, const GraphIndex& index, const Policy& policy) {
  ResidualFacts facts;
  std::set<const onnx::NodeProto*> adds;
  for (const ParamRow& row : table) {
    if (row.act.residual_add != nullptr) adds.insert(row.act.residual_add);
  }
  facts.branches = adds.size();
  if (policy.residual_scaling() != ResidualScaling::kFixup) return facts;
  std::set<const onnx::NodeProto*> last;  // layers whose output reaches their residual Add
  for (const ParamRow& row : table) {
    if (row.act.residual_add != nullptr && row.layer() != nullptr) last.insert(row.layer());
  }
  for (const auto& [add, layers] : ResidualBranchLayers(table, index, Layers(table))) {
    facts.fixup_adds.insert(add);
    for (const onnx::NodeProto* layer : layers) facts.fixup[layer] = {layers.size(), last.count(layer) > 0};
  }
  return facts;
}

// A residual scaling's zero start: the row becomes the constant 0.
void ZeroDraw(ParamRow& row, const std::string& why) {
  row.init.scheme = Scheme::kConstant;
  row.init.constant = 0;
  row.init.bound.reset();
  row.init.std = 0;
  row.init.reason += why;
}

// A residual scaling's factor on the draw: its std and bound, and for an orthogonal weight the gain its
// blocks are scaled by (the std alone does not reach orthogonal values).
void ScaleDraw(ParamRow& row, double f, const std::string& why) {
  row.init.std *= f;
  if (row.init.bound) *row.init.bound *= f;
  if (row.init.scheme == Scheme::kOrthogonal) row.init.gain *= f;
  row.init.reason += why;
}

// Fixup (Zhang, Dauphin and Ma 2019, "Fixup Initialization: Residual Learning Without Normalization",
// eq. 3 and section 3): in each residual branch of m layers, the last layer starts at 0 and the other
// m - 1 are scaled by L^(-1/(2m-2)), L the number of residual branches; the skip path is untouched.
void Fixup(ParamRow& row, const ResidualFacts& facts) {
  const auto it = row.layer() == nullptr ? facts.fixup.end() : facts.fixup.find(row.layer());
  if (it == facts.fixup.end()) {
    if (row.act.residual_add != nullptr && !facts.fixup_adds.count(row.act.residual_add)) {
      row.init.reason += "; fixup: left as chosen (the two sides of its residual Add hold as many layers, so "
                         "which is the branch is not known)";
    }
    return;
  }
  const size_t m = it->second.layers;
  if (it->second.last) {
    return ZeroDraw(row, "; last of the " + std::to_string(m) + " layers of a residual branch -> 0 (--residual-scaling fixup)");
  }
  const double f = std::pow(static_cast<double>(facts.branches), -1.0 / (2.0 * static_cast<double>(m) - 2.0));
  ScaleDraw(row, f, "; in a residual branch of " + std::to_string(m) + " layers: scaled by " +
                        std::to_string(facts.branches) + "^(-1/" + std::to_string(2 * m - 2) + ") (--residual-scaling fixup)");
}

// Depth-aware scaling of the last layer of each residual branch (--residual-scaling).
void ScaleResidual(ParamRow& row, const Policy& policy, size_t branches) {
  const ResidualScaling residual = policy.residual_scaling();
  if (residual == ResidualScaling::kZero) {
    ZeroDraw(row, "; last layer of a residual branch -> 0 (--residual-scaling zero, Fixup)");
  } else if (residual == ResidualScaling::kDeepnorm) {
    // DeepNet (Wang et al. 2022): the branch weights times beta = (8N)^(-1/4), N the residual branches.
    ScaleDraw(row, std::pow(8.0 * static_cast<double>(branches), -0.25),
              "; last layer of a residual branch: scaled by (8*" + std::to_string(branches) +
                  ")^-1/4 (--residual-scaling deepnorm)");
  } else if (residual == ResidualScaling::kGpt2) {
    ScaleDraw(row, 1.0 / std::sqrt(static_cast<double>(branches)),
              "; last layer of a residual branch: scaled by 1/sqrt(" + std::to_string(branches) +
                  " residual branches) (" +
                  (policy.residual ? std::string("--residual-scaling gpt2")
                                   : "preset " + policy.preset + ": GPT2PreTrainedModel's c_proj") + ")");
  }
}

// The largest finite value of a float type.
double LargestFinite(int32_t dtype) {
  switch (dtype) {
    case onnx::TensorProto::FLOAT16: return 65504.0;
    case onnx::TensorProto::BFLOAT16: return 3.3895313892515355e38;
    case onnx::TensorProto::FLOAT: return 3.4028234663852886e38;
    default: return std::numeric_limits<double>::max();
  }
}

// The largest magnitude a decision can draw: the constant, the uniform bound, the orthogonal gain, or
// the largest normal the generators produce (Box-Muller from uniforms no smaller than 2^-33: 6.77 std;
// a truncated normal stops at two of its raised sigmas).
double LargestDraw(const ParamRow& row) {
  switch (row.init.scheme) {
    case Scheme::kConstant: return std::max(std::fabs(row.init.constant), std::fabs(row.init.forget_bias));
    case Scheme::kOrthogonal: return row.init.gain;
    case Scheme::kNone: return 0;
    case Scheme::kProxy: {
      double largest = 0;
      for (size_t c = 0; c < row.init.proxy->mean.size(); ++c) {
        largest = std::max(largest, std::fabs(row.init.proxy->mean[c]) + 6.8 * row.init.proxy->std[c]);
      }
      return largest;
    }
    default: break;
  }
  if (row.init.bound) return *row.init.bound;
  if (row.init.distribution == Distribution::kTruncatedNormal) return 2 * row.init.std / kTruncatedNormalStdFactor;
  return 6.8 * row.init.std;
}

// A decision whose values would not be finite in the tensor's type is the user's to change (a rule's
// std, value or bound); one that is not finite at all is a bug.
Status CheckRepresentable(const ParamRow& row) {
  const double largest = LargestDraw(row);
  if (!std::isfinite(row.init.std) || !std::isfinite(largest) || (row.init.bound && !std::isfinite(*row.init.bound))) {
    return {ExitCode::kInternal, "tensor '" + row.name + "': the decision is not finite (" + row.init.reason + ")"};
  }
  if (largest > LargestFinite(row.dtype)) {
    return {ExitCode::kUsage, "tensor '" + row.name + "' (" + DTypeName(row.dtype) + "): values up to " +
                                  FormatNumber(largest) + " do not fit its type (largest " +
                                  FormatNumber(LargestFinite(row.dtype)) + "): " + row.init.reason};
  }
  return Status::Ok();
}

// A copy (passes/find_copies.cc) is its original: it takes the original's decision, and the reason says
// whose copy it is.
void FollowOriginals(ParamTable& table) {
  std::map<std::string, const ParamRow*> originals;
  for (const ParamRow& row : table) {
    if (row.copy.has_copies) originals[row.name] = &row;
  }
  for (ParamRow& row : table) {
    auto it = originals.find(row.copy.of);
    if (row.copy.of.empty() || it == originals.end()) continue;
    const ParamRow& o = *it->second;
    const std::string why = row.copy.transposed ? "its transpose: a tied head stored as a tensor of its own"
                                                : "the same values in the other branch of an If";
    row.init = o.init;
    row.init.reason = "copy of '" + o.name + "' (" + why + "): " + o.init.reason;
  }
}

// Each rule must apply to something: one that matches no tensor, or only tensors it cannot apply to,
// is an error naming its line (a warning with allow_empty); one that skips some tensors says which.
Status ReportRuleUses(const Policy& policy, const std::vector<RuleUse>& uses, std::vector<std::string>* warnings) {
  auto names = [](const std::vector<std::string>& v) {
    std::string list;
    for (size_t i = 0; i < v.size() && i < 3; ++i) list += (i ? ", " : "") + v[i];
    return v.size() > 3 ? list + " and " + std::to_string(v.size() - 3) + " more" : list;
  };
  for (size_t r = 0; r < uses.size(); ++r) {
    const Rule& rule = policy.rules[r];
    const RuleUse& use = uses[r];
    const std::string what = rule.origin + ": rule (" + rule.match.text + ")";
    std::string problem;
    if (use.applied.empty() && use.skipped.empty()) {
      problem = what + " matches no parameter";
    } else if (use.applied.empty()) {
      problem = what + " applies to none of the tensors it matches: " + names(use.skipped);
    } else if (!use.skipped.empty()) {
      const size_t n = use.skipped.size();
      warnings->push_back(what + " does not apply to " + std::to_string(n) + (n == 1 ? " tensor" : " tensors") +
                          ", which keep their other decision: " + names(use.skipped));
    }
    if (problem.empty()) continue;
    if (!policy.selection.allow_empty) return {ExitCode::kUsage, problem + " (use --allow-empty to accept that)"};
    warnings->push_back(problem);
  }
  return Status::Ok();
}


// Under preset proxy a rule decides a row only when it names a scheme (or a std, bound or value, which
// imply one); a rule that only tunes (gain, mode) has nothing to tune in a proxy.
bool NamesScheme(const Decision& d) { return d.rule_scheme; }

// Re-initializes a row by its decision: the scheme and its numbers, a note when the row is a fixed
// constant, then the residual scaling of a weight that ends a residual branch. Refused when the values
// would not fit the tensor's type.
Status ApplyDecision(ParamRow& row, const Decision& d, const Decider& decider, const Policy& policy,
                     const ResidualFacts& residual) {
  ApplyScheme(row, d, decider, policy);
  if (row.fixed.kind != Fixed::kNone) {
    row.init.reason += "; re-initialized although a " + FixedWords(row.fixed.kind) + " (" +
                  (policy.reinit_fixed ? std::string("reinit_fixed") : "rule " + d.rule->origin + " names it") + ")";
  }
  if (row.role == Role::kWeight && policy.residual_scaling() == ResidualScaling::kFixup) {
    Fixup(row, residual);
  } else if (row.act.residual_add != nullptr && row.role == Role::kWeight) {
    ScaleResidual(row, policy, residual.branches);
  }
  return CheckRepresentable(row);
}

// Decides one row afresh: kept when it is no parameter, quantized, unfit or without a rule; otherwise
// by the preset, the flags and the rules (which may keep it), and re-initialized. Notes which rules
// applied in `rule_uses`.
Status DecideRow(ParamRow& row, const Decider& decider, const Policy& policy, const ResidualFacts& residual,
                 std::vector<RuleUse>& rule_uses, const TensorStore* store) {
  const bool proxy = policy.preset_rules().proxy;
  row.init.proxy.reset();
  row.init.action = Action::kKeep;
  row.init.kept = Kept::kNo;
  row.init.scheme = Scheme::kNone;
  row.init.bound.reset();
  row.init.std = 0;
  Decision d;
  if (row.role == Role::kUnknown) {
    row.init.kept = Kept::kNotAParameter;
    row.init.reason = "kept: unknown role (" + row.role_reason + ")";
  } else if (row.quantized) {
    row.init.kept = Kept::kQuantized;
    row.init.reason = std::string(row.role == Role::kBias ? "kept: the bias of a quantized layer stays with its weights ("
                                                     : "kept: quantized weights are kept (") +
                 DTypeName(row.dtype) + " " + row.role_reason + ")";
  } else if (IsLayerRole(row.role) && !row.fans.has_value()) {
    row.init.kept = Kept::kUnfit;
    row.init.reason = "kept: " + row.role_reason;
  } else if (!decider.Base(row, d)) {
    row.init.kept = Kept::kNoRule;
    row.init.reason = "kept: no rule for role " + std::string(NameOf(row.role));
  } else {
    decider.Flags(row, d);
    const bool fixed = row.fixed.kind != Fixed::kNone && !policy.reinit_fixed;
    if (const Rule* keep = decider.Rules(row, d, rule_uses, fixed)) {
      row.init.kept = Kept::kByRule;
      row.init.reason = "kept: by rule " + keep->origin + " (" + keep->match.text + ")";
    } else if (fixed && d.rule == nullptr) {
      row.init.kept = Kept::kFixedConstant;
      row.init.reason = "kept: " + FixedWords(row.fixed.kind) + ", not a learned weight (seen: " + row.fixed.seen + ")";
    } else if (proxy && !NamesScheme(d) && (row.role == Role::kNormMean || row.role == Role::kNormVar)) {
      row.init.kept = Kept::kNoRule;
      row.init.reason = "kept: running statistics stay with their channels (preset proxy)";
    } else if (proxy && !NamesScheme(d) && !IsFloatType(row.dtype)) {
      row.init.kept = Kept::kNoRule;
      row.init.reason = "kept: " + DTypeName(row.dtype) + " is not a float type (preset proxy)";
    } else if (proxy && !NamesScheme(d)) {
      REINIT_RETURN_IF_ERROR(ApplyProxy(row, store));
      REINIT_RETURN_IF_ERROR(CheckRepresentable(row));
    } else {
      REINIT_RETURN_IF_ERROR(ApplyDecision(row, d, decider, policy, residual));
    }
  }
  for (const auto& conflict : row.conflicts) row.init.reason += "; conflict: " + conflict;
  return Status::Ok();
}

// Preset proxy draws every tensor from its own statistics: the flags that tune the presets' rules have
// nothing to tune, which the user should hear rather than find out.
void WarnUnusedUnderProxy(const Policy& policy, std::vector<std::string>* warnings) {
  if (!policy.preset_rules().proxy) return;
  std::string unused;
  const std::pair<bool, const char*> flags[] = {
      {policy.distribution.has_value(), "--distribution"}, {policy.gain.has_value(), "--gain"},
      {policy.mode.has_value(), "--mode"}, {policy.forget_bias.has_value(), "--forget-bias"},
      {policy.embedding_std.has_value(), "--embedding-std"},
      {policy.residual.has_value(), "--residual-scaling"},
      {policy.preserve_signal, "--preserve-signal"}};
  for (const auto& [set, flag] : flags) {
    if (set) unused += (unused.empty() ? "" : ", ") + std::string(flag);
  }
  if (!unused.empty()) warnings->push_back(unused + ": not used by preset proxy (each tensor keeps its own statistics)");
}

class SelectInitPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status SelectInitPass::Run(PassContext& ctx, Counters& counters) {
  const Decider decider(ctx.policy, *ctx.index, *ctx.table);
  std::vector<RuleUse> rule_uses(ctx.policy.rules.size());
  const ResidualFacts residual = FindResidualFacts(*ctx.table, *ctx.index, ctx.policy);
  for (ParamRow& row : *ctx.table) {
    REINIT_RETURN_IF_ERROR(DecideRow(row, decider, ctx.policy, residual, rule_uses, ctx.store));
    ++counters[row.init.action == Action::kReinitialize ? "to reinitialize" : "kept"];
  }
  FollowOriginals(*ctx.table);
  WarnUnusedUnderProxy(ctx.policy, &ctx.warnings);
  return ReportRuleUses(ctx.policy, rule_uses, &ctx.warnings);
}

}  // namespace

std::unique_ptr<Pass> MakeSelectInitPass() { return std::make_unique<SelectInitPass>(); }

}  // namespace reinit
