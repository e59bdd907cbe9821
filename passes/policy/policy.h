// The policy: everything the user chooses about the initialization, as opposed to what the model says.
// A preset gives the defaults (the note's rules, or PyTorch's, Keras's or JAX's conventions); command-line
// flags and a rules file refine them; select-init applies the result row by row. The effective policy is
// echoed into the report.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "passes/graph/param_table.h"
#include "passes/policy/selector.h"
#include "passes/graph/status.h"

namespace reinit {

// Which fan a variance-scaling scheme divides by.
enum class FanMode { kFanIn, kFanOut, kFanAvg };
template <>
struct Names<FanMode> {
  static constexpr Named<FanMode> table[] = {
      {FanMode::kFanIn, "fan_in"}, {FanMode::kFanOut, "fan_out"}, {FanMode::kFanAvg, "fan_avg"}};
};

// A variance-scaling rule: variance = gain^2 * scale / n, n = fan_in, fan_out or their mean.
struct VarianceScaling {
  Scheme scheme;
  double scale;
  FanMode mode;
  std::optional<Distribution> distribution;  // nullopt: the policy's distribution
};

// How fans of convolutions are counted: as the layout says (grouped conv fan_out = M/g*prod(k),
// ConvTranspose with its axes swapped), or as PyTorch's and Keras's _compute_fans do from the raw
// first two axes (fan_in = dim1*prod(k), fan_out = dim0*prod(k)).
enum class FanConvention { kLayout, kFramework };

// How recurrent weights are initialized.
enum class RecurrentRule {
  kPerGate,       // W: the weight rule per gate block (fan_in I, fan_out H); R: orthogonal per gate block
  kTorchDefault,  // torch.nn.LSTM/GRU/RNN.reset_parameters: W, R and B all U(-1/sqrt(H), 1/sqrt(H))
  kWholeKernel,   // Keras: W over the whole kernel (fan_out G*H); R orthogonal over the whole [G*H, H]
};

// Token embeddings: N(0, v^2) (PyTorch), U(-v, v) (Keras), or N(0, 1/dim) (Flax's variance_scaling).
enum class EmbeddingRule { kNormal, kUniform, kFanInNormal };

// What to do about residual branches (depth-aware initialization; off by default).
enum class ResidualScaling { kNone, kGpt2, kZero, kDeepnorm, kFixup };
template <>
struct Names<ResidualScaling> {
  static constexpr Named<ResidualScaling> table[] = {{ResidualScaling::kNone, "none"},
                                                      {ResidualScaling::kGpt2, "gpt2"},
                                                      {ResidualScaling::kZero, "zero"},
                                                      {ResidualScaling::kDeepnorm, "deepnorm"},
                                                      {ResidualScaling::kFixup, "fixup"}};
};

// How a preset draws layer weights (Conv, Gemm, MatMul).
enum class WeightRule {
  kByActivation,  // the per-family variance scaling rules (relu, sigmoid_tanh, selu, linear)
  kTorchReset,    // nn.Linear/ConvNd.reset_parameters: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in))
  kInitRange,     // Hugging Face _init_weights: N(0, R^2), R = --init-range; embeddings too
};

// How a preset draws layer biases.
enum class BiasRule {
  kZero,          // constant 0
  kFanInUniform,  // nn.Linear/ConvNd.reset_parameters: U(+-1/sqrt(fan_in)), fan_in of the layer's weight
};

struct Preset {
  const char* name;
  const char* description;
  VarianceScaling relu, sigmoid_tanh, selu, linear;  // weight rule per activation family
  bool torch_gain;          // gain = torch.nn.init.calculate_gain(activation) instead of 1
  bool slope_aware;         // He's scale 2 / (1 + a^2) for leaky slopes (the note, PyTorch)
  Distribution distribution;  // for rules that do not fix one
  FanConvention fans;
  RecurrentRule recurrent;
  VarianceScaling recurrent_input;  // W of LSTM/GRU/RNN (per gate block, or over the whole kernel)
  double forget_bias;       // LSTM forget-gate bias (Keras unit_forget_bias: 1)
  EmbeddingRule embedding;
  double embedding_value;   // the std of kNormal, the bound of kUniform
  double prelu_slope;
  // Rules added after the first presets; the defaults keep those presets' behaviour.
  WeightRule weights = WeightRule::kByActivation;
  BiasRule bias = BiasRule::kZero;
  // torch.nn.MultiheadAttention._reset_parameters: in_proj_weight xavier_uniform_ over the whole
  // [3E, E] tensor, in_proj_bias and out_proj.bias 0 (passes/graph/attention.h finds it).
  bool torch_attention = false;
  ResidualScaling residual = ResidualScaling::kNone;  // --residual-scaling's default
  // Every parameter is drawn from N(mean, std^2) of its own values, per output channel (preset proxy:
  // a stand-in for a model shared without its trained weights); the rules above do not apply.
  bool proxy = false;
};

// The presets, "note" first (the default).
const std::vector<Preset>& Presets();
const Preset* FindPreset(const std::string& name);

// torch.nn.init.calculate_gain for an activation kind ("relu", "leaky_relu", "tanh", ...; other
// members of the ReLU family are treated as relu, the sigmoid/tanh family other than tanh as sigmoid).
double TorchGain(const std::string& activation, ActivationFamily family, double slope);

// An init decided by a rule of a rules file, or by flags: every field is optional.
struct InitSpec {
  std::optional<Scheme> scheme;
  std::optional<Distribution> distribution;
  std::optional<double> gain;  // nan: "auto" (torch's calculate_gain)
  std::optional<FanMode> mode;
  std::optional<double> std, bound, value;
  bool keep = false;
  nlohmann::ordered_json ToJson() const;
};

struct Rule {
  Match match;
  InitSpec init;
  std::string origin;  // "rules.yaml:12"
};

struct Policy {
  std::string preset = "note";
  uint64_t seed = 0;
  std::optional<Distribution> distribution;  // --distribution / file; else the preset's
  std::optional<double> gain;                // --gain N; nan for "auto"
  std::optional<FanMode> mode;               // --mode
  std::optional<double> forget_bias;         // --forget-bias
  std::optional<double> embedding_std;       // --embedding-std
  std::optional<ResidualScaling> residual;   // --residual-scaling; else the preset's
  double init_range = 0.02;                  // --init-range: the std of the hf presets' normal draws
  bool reinit_fixed = false;                 // --reinit-fixed: fixed constants are re-initialized as weights
  bool preserve_signal = false;              // --preserve-signal: audit-signal solves plain layers' gains
  std::vector<Rule> rules;                   // from --config, in order: a later match wins
  Selection selection;                       // --only/--exclude/--keep/--reinit-last/--reinit-blocks

  const Preset& preset_rules() const;
  ResidualScaling residual_scaling() const { return residual.value_or(preset_rules().residual); }
  nlohmann::ordered_json ToJson() const;
};

// Reads a rules file (YAML, or JSON, which YAML includes) into `policy`. Unknown keys and bad values
// are errors (kUsage) naming the file and line.
Status LoadRulesFile(const std::string& path, Policy* policy);

// The variance of a scaled distribution is the same whatever its shape; the constant keeps a normal
// truncated at two (underlying) standard deviations at the requested std (Keras, JAX, PyTorch's
// trunc_normal_ with a = -2 sigma, b = 2 sigma).
inline constexpr double kTruncatedNormalStdFactor = 0.87962566103423978;

}  // namespace reinit
