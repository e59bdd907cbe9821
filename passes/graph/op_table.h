// The one place that knows ONNX layouts: for each (op type, input index) that holds a learnable
// parameter, its role and how its fan-in/fan-out are read from the shape. Audit it against the ONNX
// operator spec (onnx/defs/*): Conv W [M, C/g, k...], ConvTranspose W [C, M/g, k...], Gemm B [K, N]
// (or [N, K] with transB), MatMul right [.., K, N] / left [.., M, K], LSTM/GRU/RNN W [dirs, G*H, I],
// R [dirs, G*H, H], B [dirs, 2*G*H], Gather data [vocab, dim], norm scale/bias [C], PRelu slope.
#pragma once

#include <string>

#include "passes/graph/param_table.h"

namespace onnx {
class NodeProto;
}

namespace reinit {

enum class FanRule {
  kNone,           // no fans (biases, norm parameters, slopes)
  kConv,           // [M, C/g, k...]: fan_in = C/g*prod(k), fan_out = M/g*prod(k/s) (strides; infer_fans.cc)
  kConvTranspose,  // [C, M/g, k...]: fan_in = C/g*prod(k/s), fan_out = M/g*prod(k)
  kGemmB,          // [K, N], or [N, K] when transB = 1
  kGemmA,          // an initializer as Gemm's A: [M, K], or [K, M] when transA = 1
  kMatMulRight,    // X @ W, W [.., K, N] ([.., N, K] with transB, com.microsoft FusedMatMul)
  kMatMulLeft,     // W @ X, W [.., M, K]
  kRecurrentW,     // [dirs, G*H, I]: per gate block fan_in = I, fan_out = H
  kRecurrentR,     // [dirs, G*H, H]: per gate block fan_in = fan_out = H
  kEmbedding,      // [vocab, dim]: fan_in = vocab, fan_out = dim (as torch computes them)
};

struct OpInputRule {
  const char* domain;  // "" for the default ONNX domain
  const char* op_type;
  int input;
  Role role;
  FanRule fan;
  int gates;  // recurrent ops: gate blocks per direction; 1 elsewhere
  bool quantized = false;  // an integer operand of a quantized op: found, reported, always kept
};

// The rule for input `input` of `node` (its domain and op type), or nullptr.
const OpInputRule* FindOpInputRule(const onnx::NodeProto& node, int input);

// Every rule, in table order (for listings), and a fan rule in words.
struct OpInputRuleRange {
  const OpInputRule* first;
  const OpInputRule* last;
  const OpInputRule* begin() const { return first; }
  const OpInputRule* end() const { return last; }
};
OpInputRuleRange AllOpInputRules();
const char* FanRuleText(FanRule rule);

// Ops whose output a separate bias `Add` may follow (the exporter did not fuse the bias).
bool TakesTrailingBias(const std::string& op_type);

}  // namespace reinit
