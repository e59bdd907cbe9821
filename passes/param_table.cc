#include "passes/param_table.h"

namespace reinit {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kUnknown: return "unknown";
    case Role::kWeight: return "weight";
    case Role::kBias: return "bias";
    case Role::kRecurrentInput: return "recurrent_input_weight";
    case Role::kRecurrentHidden: return "recurrent_hidden_weight";
    case Role::kRecurrentBias: return "recurrent_bias";
    case Role::kEmbedding: return "embedding";
    case Role::kNormScale: return "norm_scale";
    case Role::kNormBias: return "norm_bias";
    case Role::kNormMean: return "norm_running_mean";
    case Role::kNormVar: return "norm_running_var";
    case Role::kPReluSlope: return "prelu_slope";
    case Role::kPositionalEmbedding: return "positional_embedding";
    case Role::kClassToken: return "class_token";
    case Role::kLayerScale: return "layer_scale";
  }
  return "?";
}

const char* SchemeName(Scheme scheme) {
  switch (scheme) {
    case Scheme::kNone: return "none";
    case Scheme::kXavier: return "xavier";
    case Scheme::kHe: return "he";
    case Scheme::kLeCun: return "lecun";
    case Scheme::kOrthogonal: return "orthogonal";
    case Scheme::kNormal: return "normal";
    case Scheme::kUniform: return "uniform";
    case Scheme::kConstant: return "constant";
  }
  return "?";
}

const char* FamilyName(ActivationFamily family) {
  switch (family) {
    case ActivationFamily::kLinear: return "linear";
    case ActivationFamily::kSigmoidTanh: return "sigmoid/tanh";
    case ActivationFamily::kRelu: return "relu";
    case ActivationFamily::kSelu: return "selu";
  }
  return "?";
}

const char* DistributionName(Distribution d) {
  switch (d) {
    case Distribution::kUniform: return "uniform";
    case Distribution::kNormal: return "normal";
    case Distribution::kTruncatedNormal: return "truncated_normal";
  }
  return "?";
}

std::optional<Distribution> ParseDistribution(const std::string& text) {
  for (Distribution d : {Distribution::kUniform, Distribution::kNormal, Distribution::kTruncatedNormal}) {
    if (text == DistributionName(d)) return d;
  }
  return std::nullopt;
}

std::optional<Scheme> ParseScheme(const std::string& text) {
  for (Scheme s : {Scheme::kXavier, Scheme::kHe, Scheme::kLeCun, Scheme::kOrthogonal, Scheme::kNormal,
                   Scheme::kUniform, Scheme::kConstant}) {
    if (text == SchemeName(s)) return s;
  }
  return std::nullopt;
}

}  // namespace reinit
