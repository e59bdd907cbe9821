// select-init: the note's rules, as two tables. Reads: role, fans, activation. Writes: scheme,
// distribution, gain, std, bound, constant, action, reason.
//
//   weight  + ReLU family (relu, leaky relu, prelu, elu, celu, relu6, gelu, silu, ...)  -> He
//   weight  + sigmoid / tanh family                                                   -> Xavier
//   weight  + SELU                                                                    -> LeCun
//   weight  + no nonlinearity (linear, softmax head)                                  -> Xavier
//   recurrent W -> Xavier per gate block; recurrent R -> orthogonal per gate block
//   bias -> 0; norm scale -> 1, bias -> 0, running mean -> 0, running var -> 1
//   embedding -> N(0, 1); positional embedding -> N(0, 0.02^2); class token -> 0; PReLU slope -> 0.25
//   quantized (integer) weights, unknown roles, shapes that do not fit -> kept, bit for bit
#include "passes/select_init.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "passes/activations.h"
#include "passes/schemes.h"
#include "passes/tensor_data.h"

namespace reinit {

namespace {

struct FamilyRule {
  ActivationFamily family;
  Scheme scheme;
  const char* words;
};

// clang-format off
constexpr FamilyRule kFamilyRules[] = {
  {ActivationFamily::kRelu,        Scheme::kHe,     "ReLU family -> He (note, technique 3)"},
  {ActivationFamily::kSigmoidTanh, Scheme::kXavier, "sigmoid/tanh -> Xavier/Glorot (note, technique 2)"},
  {ActivationFamily::kSelu,        Scheme::kLeCun,  "SELU -> LeCun (note, technique 4)"},
  {ActivationFamily::kLinear,      Scheme::kXavier, "no nonlinearity -> Xavier/Glorot (keeps forward and backward variance equal)"},
};

struct RoleRule {
  Role role;
  Scheme scheme;
  double value;  // the constant, or the std of Scheme::kNormal
  const char* words;
};

constexpr RoleRule kRoleRules[] = {
  {Role::kBias,            Scheme::kConstant,   0.0,  "bias -> 0"},
  {Role::kRecurrentBias,   Scheme::kConstant,   0.0,  "recurrent bias -> 0"},
  {Role::kNormScale,       Scheme::kConstant,   1.0,  "normalization scale -> 1"},
  {Role::kNormBias,        Scheme::kConstant,   0.0,  "normalization bias -> 0"},
  {Role::kNormMean,        Scheme::kConstant,   0.0,  "running mean -> 0"},
  {Role::kNormVar,         Scheme::kConstant,   1.0,  "running variance -> 1"},
  {Role::kPReluSlope,      Scheme::kConstant,   kPReluInitSlope, "PReLU slope -> 0.25 (torch.nn.PReLU default)"},
  {Role::kEmbedding,       Scheme::kNormal,     1.0,  "embedding -> N(0, 1) (torch.nn.Embedding default)"},
  {Role::kPositionalEmbedding, Scheme::kNormal, 0.02, "positional embedding -> N(0, 0.02^2) (torchvision ViT, BERT)"},
  {Role::kClassToken,      Scheme::kConstant,   0.0,  "class token -> 0 (torchvision ViT)"},
  {Role::kLayerScale,      Scheme::kConstant,   1e-6, "layer scale -> 1e-6 (torchvision ConvNeXt)"},
  {Role::kRecurrentHidden, Scheme::kOrthogonal, 1.0,  "recurrent R -> orthogonal per gate block and direction (note, technique 5)"},
  {Role::kRecurrentInput,  Scheme::kXavier,     0.0,  "recurrent W -> Xavier per gate block (gates are sigmoid/tanh)"},
};
// clang-format on

std::string Num(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

// std and bound of a variance-scaling scheme, and the formula in words.
void Scale(ParamRow& row, Distribution dist) {
  const double fi = static_cast<double>(row.fan_in), fo = static_cast<double>(row.fan_out);
  std::string formula;
  switch (row.scheme) {
    case Scheme::kXavier:
      row.std = XavierStd(fi, fo, row.gain);
      formula = dist == Distribution::kUniform ? "bound = sqrt(6/(n_in+n_out))" : "std = sqrt(2/(n_in+n_out))";
      formula += ", n_in = " + std::to_string(row.fan_in) + ", n_out = " + std::to_string(row.fan_out);
      break;
    case Scheme::kHe:
      row.std = HeStd(fi, row.activation_param, row.gain);
      formula = row.activation_param != 0 ? (dist == Distribution::kUniform ? "bound = sqrt(6/((1+a^2)*n_in))"
                                                                              : "std = sqrt(2/((1+a^2)*n_in))")
                                          : (dist == Distribution::kUniform ? "bound = sqrt(6/n_in)" : "std = sqrt(2/n_in)");
      formula += ", n_in = " + std::to_string(row.fan_in);
      if (row.activation_param != 0) formula += ", a = " + Num(row.activation_param);
      break;
    case Scheme::kLeCun:
      row.std = LeCunStd(fi, row.gain);
      formula = dist == Distribution::kUniform ? "bound = sqrt(3/n_in)" : "std = sqrt(1/n_in)";
      formula += ", n_in = " + std::to_string(row.fan_in);
      break;
    default:
      return;
  }
  row.distribution = dist;
  if (dist == Distribution::kUniform) row.bound = UniformBoundForStd(row.std);
  row.reason += ": " + formula + " -> " + (row.bound ? "bound " + Num(*row.bound) : "std " + Num(row.std));
}

bool NeedsFans(Role role) {
  return role == Role::kWeight || role == Role::kRecurrentInput || role == Role::kRecurrentHidden ||
         role == Role::kEmbedding;
}

}  // namespace

Status SelectInitPass::Run(PassContext& ctx) {
  auto& counters = ctx.counters["select-init"];
  for (ParamRow& row : *ctx.table) {
    row.action = Action::kKeep;
    row.scheme = Scheme::kNone;
    row.bound.reset();
    if (row.role == Role::kUnknown) {
      row.reason = "kept: unknown role (" + row.role_reason + ")";
    } else if (row.quantized) {
      row.reason = "kept: quantized weights are kept (" + DTypeName(row.dtype) + " " + row.role_reason + ")";
    } else if (NeedsFans(row.role) && !row.has_fans) {
      row.reason = "kept: " + row.role_reason;
    } else if (row.role == Role::kWeight) {
      const auto* rule = std::find_if(std::begin(kFamilyRules), std::end(kFamilyRules),
                                      [&](const FamilyRule& r) { return r.family == row.activation_family; });
      row.scheme = rule->scheme;
      row.gain = 1.0;
      row.reason = std::string(rule->words) + " (activation " + row.activation + ")";
      Scale(row, ctx.policy.distribution);
      row.action = Action::kReinitialize;
    } else {
      // Orthogonal blocks are built in the stored layout: a recurrent R that reaches its op through a
      // reshaping op gets the input weights' rule instead, which does not depend on layout.
      const Role rule_role =
          row.role == Role::kRecurrentHidden && row.consumed_shape != row.shape ? Role::kRecurrentInput : row.role;
      const auto* rule = std::find_if(std::begin(kRoleRules), std::end(kRoleRules),
                                      [&](const RoleRule& r) { return r.role == rule_role; });
      row.scheme = rule->scheme;
      row.gain = 1.0;
      row.reason = rule->words;
      if (rule_role != row.role) row.reason += " (R is reshaped on its way to the op, so not orthogonal)";
      if (rule->scheme == Scheme::kConstant) {
        row.constant = rule->value;
        row.std = 0;
      } else if (rule->scheme == Scheme::kNormal) {
        row.distribution = Distribution::kNormal;
        row.std = rule->value;
      } else if (rule->scheme == Scheme::kOrthogonal) {
        // Entries of a matrix with orthonormal rows (or columns) of length L have mean square 1/L.
        row.std = row.gain / std::sqrt(static_cast<double>(std::max(row.fan_in, row.fan_out)));
      } else {
        Scale(row, ctx.policy.distribution);
      }
      row.action = Action::kReinitialize;
    }
    for (const auto& conflict : row.conflicts) row.reason += "; conflict: " + conflict;
    ++counters[row.action == Action::kReinitialize ? "to reinitialize" : "kept"];
  }
  return Status::Ok();
}

}  // namespace reinit
