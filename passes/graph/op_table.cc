#include "passes/graph/op_table.h"

#include <iterator>

#include "onnx/onnx_pb.h"

namespace reinit {

namespace {
// clang-format off
constexpr OpInputRule kRules[] = {
  // domain           op_type                 input role                    fan rule                 gates
  {"",              "Conv",                   1, Role::kWeight,             FanRule::kConv,          1},
  {"",              "Conv",                   2, Role::kBias,               FanRule::kNone,          1},
  {"",              "ConvTranspose",          1, Role::kWeight,             FanRule::kConvTranspose, 1},
  {"",              "ConvTranspose",          2, Role::kBias,               FanRule::kNone,          1},
  {"",              "Gemm",                   0, Role::kWeight,             FanRule::kGemmA,         1},
  {"",              "Gemm",                   1, Role::kWeight,             FanRule::kGemmB,         1},
  {"",              "Gemm",                   2, Role::kBias,               FanRule::kNone,          1},
  {"",              "MatMul",                 0, Role::kWeight,             FanRule::kMatMulLeft,    1},
  {"",              "MatMul",                 1, Role::kWeight,             FanRule::kMatMulRight,   1},
  {"",              "LSTM",                   1, Role::kRecurrentInput,     FanRule::kRecurrentW,    4},
  {"",              "LSTM",                   2, Role::kRecurrentHidden,    FanRule::kRecurrentR,    4},
  {"",              "LSTM",                   3, Role::kRecurrentBias,      FanRule::kNone,          4},
  {"",              "GRU",                    1, Role::kRecurrentInput,     FanRule::kRecurrentW,    3},
  {"",              "GRU",                    2, Role::kRecurrentHidden,    FanRule::kRecurrentR,    3},
  {"",              "GRU",                    3, Role::kRecurrentBias,      FanRule::kNone,          3},
  {"",              "RNN",                    1, Role::kRecurrentInput,     FanRule::kRecurrentW,    1},
  {"",              "RNN",                    2, Role::kRecurrentHidden,    FanRule::kRecurrentR,    1},
  {"",              "RNN",                    3, Role::kRecurrentBias,      FanRule::kNone,          1},
  {"",              "Gather",                 0, Role::kEmbedding,          FanRule::kEmbedding,     1},
  {"",              "BatchNormalization",     1, Role::kNormScale,          FanRule::kNone,          1},
  {"",              "BatchNormalization",     2, Role::kNormBias,           FanRule::kNone,          1},
  {"",              "BatchNormalization",     3, Role::kNormMean,           FanRule::kNone,          1},
  {"",              "BatchNormalization",     4, Role::kNormVar,            FanRule::kNone,          1},
  {"",              "LayerNormalization",     1, Role::kNormScale,          FanRule::kNone,          1},
  {"",              "LayerNormalization",     2, Role::kNormBias,           FanRule::kNone,          1},
  {"",              "InstanceNormalization",  1, Role::kNormScale,          FanRule::kNone,          1},
  {"",              "InstanceNormalization",  2, Role::kNormBias,           FanRule::kNone,          1},
  {"",              "PRelu",                  1, Role::kPReluSlope,         FanRule::kNone,          1},
  // Integer weights of quantized ops: found and reported, never rewritten.
  {"",              "QLinearConv",            3, Role::kWeight,             FanRule::kConv,          1, true},
  {"",              "QLinearMatMul",          3, Role::kWeight,             FanRule::kMatMulRight,   1, true},
  {"",              "ConvInteger",            1, Role::kWeight,             FanRule::kConv,          1, true},
  {"",              "MatMulInteger",          1, Role::kWeight,             FanRule::kMatMulRight,   1, true},
  // ONNX Runtime's fused ops (activation in an attribute; same operand layouts as the plain ops).
  {"com.microsoft", "FusedConv",              1, Role::kWeight,             FanRule::kConv,          1},
  {"com.microsoft", "FusedConv",              2, Role::kBias,               FanRule::kNone,          1},
  {"com.microsoft", "FusedGemm",              0, Role::kWeight,             FanRule::kGemmA,         1},
  {"com.microsoft", "FusedGemm",              1, Role::kWeight,             FanRule::kGemmB,         1},
  {"com.microsoft", "FusedGemm",              2, Role::kBias,               FanRule::kNone,          1},
  {"com.microsoft", "FusedMatMul",            1, Role::kWeight,             FanRule::kMatMulRight,   1},
};
// clang-format on

constexpr const char* kTrailingBiasOps[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "FusedMatMul"};
}  // namespace

const OpInputRule* FindOpInputRule(const onnx::NodeProto& node, int input) {
  const std::string& domain = node.domain() == "ai.onnx" ? std::string() : node.domain();
  for (const auto& rule : kRules) {
    if (node.op_type() == rule.op_type && input == rule.input && domain == rule.domain) return &rule;
  }
  return nullptr;
}

OpInputRuleRange AllOpInputRules() { return {std::begin(kRules), std::end(kRules)}; }

const char* FanRuleText(FanRule rule) {
  switch (rule) {
    case FanRule::kNone: return "-";
    case FanRule::kConv: return "W [M, C/g, k...], strides s: fan_in = C/g*prod(k), fan_out = M/g*prod(k/s)";
    case FanRule::kConvTranspose: return "W [C, M/g, k...], strides s: fan_in = C/g*prod(k/s), fan_out = M/g*prod(k)";
    case FanRule::kGemmB: return "B [K, N] ([N, K] with transB): fan_in = K, fan_out = N";
    case FanRule::kGemmA: return "A [M, K] ([K, M] with transA): fan_in = K, fan_out = M";
    case FanRule::kMatMulRight: return "X @ W, W [.., K, N]: fan_in = K, fan_out = N (per matrix)";
    case FanRule::kMatMulLeft: return "W @ X, W [.., M, K]: fan_in = K, fan_out = M (per matrix)";
    case FanRule::kRecurrentW: return "W [dirs, G*H, I]: per gate block and direction fan_in = I, fan_out = H";
    case FanRule::kRecurrentR: return "R [dirs, G*H, H]: per gate block and direction fan_in = fan_out = H";
    case FanRule::kEmbedding: return "[vocab, dim]: fan_in = vocab, fan_out = dim";
  }
  return "-";
}

bool TakesTrailingBias(const std::string& op_type) {
  for (const char* op : kTrailingBiasOps) {
    if (op_type == op) return true;
  }
  return false;
}

}  // namespace reinit
