// infer-fans: fan_in and fan_out of every row whose role has a fan rule in the op table, read from the
// tensor's shape as its layer sees it (after any Transpose/Reshape on the way). A shape that does not
// fit the layout is said in role_reason (such a row is kept by select-init).
//
//   Conv W [M, C/g, k1, k2]        fan_in = C/g*k1*k2   fan_out = M/g*k1*k2     (stride 1)
//   Conv, strides s                fan_in = C/g*prod(k) fan_out = M/g*prod(k/s)  (k/s >= 1 per axis)
//   ConvTranspose W [C, M/g, k..]  fan_in = C/g*prod(k/s) fan_out = M/g*prod(k)  (first two axes swap)
//   Gemm B [K, N] / [N, K] transB  fan_in = K           fan_out = N
//   MatMul X@W, W [.., K, N]       fan_in = K           fan_out = N             (batched: per matrix)
//   LSTM W [dirs, 4H, I]           fan_in = I           fan_out = H             (per gate block)
//   LSTM R [dirs, 4H, H]           fan_in = H           fan_out = H
#include "passes/passes.h"

#include <algorithm>
#include <numeric>

#include "passes/graph/gate_blocks.h"
#include "passes/graph/op_table.h"

namespace reinit {

namespace {

// A fan is the number of terms that meet in one sum: fan_in, how many inputs each output element
// adds up; fan_out, how many outputs each input element feeds. The variance arguments behind He and
// Xavier need exactly these counts. With stride 1 a convolution's kernel positions give both; with
// stride s an output position moves s inputs on, so along one axis an input element meets only the
// kernel taps j*d (dilation d) that land on its residue modulo s. The taps hit min(k, s/gcd(d, s))
// distinct residues, evenly, so each input element that is read at all reaches
//   k / min(k, s / gcd(d, s))   outputs per axis  (k/s for s <= k and d = 1, and 1 for s >= k)
// -- for a ViT patch embedding (kernel = stride) one output position, not k*k.
// Conv: each output still sums C/g * prod(k) inputs; each input feeds M/g * prod(per-axis count)
// outputs, so the stride shrinks fan_out. ConvTranspose is Conv's adjoint: its forward pass scatters
// every input element to k positions per axis whatever the stride (fan_out = M/g * prod(k)), and an
// output position gathers from the inputs whose taps land on it, the same per-axis count as above
// (fan_in = C/g * prod(count)); there the stride shrinks fan_in.
// The counts are averages over positions and need not be whole (3x3 stride 2: 2.25 per channel); the
// report's fans are integers, so the product is rounded to the nearest integer (halves up), at least 1:
// off by at most half a count, and exact for every kernel that is a multiple of its stride or no
// larger than it.
// Returns (numerator, denominator) of prod(count) over the spatial axes of weight shape `s`.
std::pair<int64_t, int64_t> StrideReach(const onnx::NodeProto& layer, const std::vector<int64_t>& s) {
  const size_t spatial = s.size() - 2;
  std::vector<int64_t> strides = IntsAttr(layer, "strides"), dilations = IntsAttr(layer, "dilations");
  // Absent (or malformed) attributes mean 1 on every axis, as the spec's defaults.
  if (strides.size() != spatial) strides.assign(spatial, 1);
  if (dilations.size() != spatial) dilations.assign(spatial, 1);
  int64_t num = 1, den = 1;
  for (size_t i = 0; i < spatial; ++i) {
    const int64_t k = s[i + 2], stride = std::max<int64_t>(strides[i], 1), d = std::max<int64_t>(dilations[i], 1);
    num *= k;
    den *= std::max<int64_t>(std::min(k, stride / std::gcd(d, stride)), 1);
  }
  return {num, den};
}

// channels * num / den rounded to the nearest integer (halves up), at least 1.
int64_t RoundedFan(int64_t channels, std::pair<int64_t, int64_t> reach) {
  const auto [num, den] = reach;
  return std::max<int64_t>((channels * num + den / 2) / den, 1);
}

// The fans of a tensor of shape `s` used by `layer` under `rule` (none for a rule without fans), and
// its gate layout; returns an empty string, or why the shape does not fit the layout.
std::string ComputeFans(const OpInputRule& rule, const onnx::NodeProto& layer, const std::vector<int64_t>& s,
                        std::optional<Fans>& fans, GateLayout& gates) {
  const size_t rank = s.size();
  if (rule.fan == FanRule::kNone) return "";
  Fans row;
  switch (rule.fan) {
    case FanRule::kNone:
      break;
    case FanRule::kConv:
    case FanRule::kConvTranspose: {
      if (rank < 3) return "a convolution weight needs rank >= 3";
      const int64_t g = IntAttr(layer, "group", 1);
      // Axis 0 is M for Conv and C for ConvTranspose: the grouped axis in both layouts.
      if (g < 1 || s[0] % g != 0) return "axis 0 is not divisible by group " + std::to_string(g);
      int64_t rf = 1;
      for (size_t i = 2; i < rank; ++i) rf *= s[i];
      row.receptive_field = rf;
      row.groups = g;
      const std::pair<int64_t, int64_t> reach = StrideReach(layer, s);
      if (rule.fan == FanRule::kConv) {
        row.in = s[1] * rf;
        row.out = RoundedFan(s[0] / g, reach);
      } else {
        row.in = RoundedFan(s[0] / g, reach);
        row.out = s[1] * rf;
      }
      break;
    }
    case FanRule::kGemmB:
    case FanRule::kGemmA: {
      if (rank != 2) return "a Gemm operand needs rank 2";
      const bool transposed = IntAttr(layer, rule.fan == FanRule::kGemmB ? "transB" : "transA", 0) != 0;
      // B: [K, N] (K inputs, N outputs); A used as weight: [M, K] (K inputs, M outputs).
      const bool k_first = (rule.fan == FanRule::kGemmB) != transposed;
      row.in = k_first ? s[0] : s[1];
      row.out = k_first ? s[1] : s[0];
      break;
    }
    case FanRule::kMatMulRight:
    case FanRule::kMatMulLeft: {
      if (rank == 0) return "a MatMul operand needs rank >= 1";
      if (rank == 1) {
        row.in = s[0];
        row.out = 1;
        break;
      }
      // FusedMatMul may carry transB; plain MatMul has no such attribute (0).
      const bool transposed = rule.fan == FanRule::kMatMulRight && IntAttr(layer, "transB", 0) != 0;
      const int64_t rows = s[rank - (transposed ? 1 : 2)], cols = s[rank - (transposed ? 2 : 1)];
      row.in = rule.fan == FanRule::kMatMulRight ? rows : cols;
      row.out = rule.fan == FanRule::kMatMulRight ? cols : rows;
      break;
    }
    case FanRule::kRecurrentW:
    case FanRule::kRecurrentR: {
      if (rank != 3) return "a recurrent weight needs rank 3 [dirs, gates*H, .]";
      if (s[1] % rule.gates != 0) return "axis 1 is not " + std::to_string(rule.gates) + " gate blocks";
      const int64_t hidden = s[1] / rule.gates;
      const int64_t declared = IntAttr(layer, "hidden_size", hidden);
      if (declared != hidden) return "hidden_size " + std::to_string(declared) + " does not match the shape";
      if (rule.fan == FanRule::kRecurrentR && s[2] != hidden) return "R must be [dirs, gates*H, H]";
      gates.blocks = rule.gates;
      gates.directions = s[0];
      row.in = s[2];
      row.out = hidden;
      break;
    }
    case FanRule::kEmbedding:
      if (rank != 2) return "an embedding needs rank 2";
      row.in = s[0];
      row.out = s[1];
      break;
  }
  if (row.in <= 0 || row.out <= 0) return "a fan is zero";
  fans = row;
  return "";
}

class InferFansPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status InferFansPass::Run(PassContext& ctx, Counters& counters) {
  for (ParamRow& row : *ctx.table) {
    for (size_t u = 0; u < row.uses.size(); ++u) {
      const LayerUse& use = row.uses[u];
      if (use.rule == nullptr) continue;  // a pattern role (bias Add, norm Mul, ...): no fans
      std::optional<Fans> fans;
      GateLayout gates;
      if (use.rule->role == Role::kRecurrentBias) {
        gates.blocks = use.rule->gates;
        gates.directions = use.shape.empty() ? 1 : use.shape[0];
      }
      std::string problem = use.shape_known ? ComputeFans(*use.rule, *use.layer, use.shape, fans, gates)
                                            : "its shape after " + use.through.back() + " is not a constant";
      // PyTorch, Keras and JAX count convolution fans from the first two axes as stored, every kernel
      // position counted whatever the stride.
      if (problem.empty() && ctx.policy.preset_rules().fans == FanConvention::kFramework &&
          (use.rule->fan == FanRule::kConv || use.rule->fan == FanRule::kConvTranspose)) {
        fans->in = use.shape[1] * fans->receptive_field;
        fans->out = use.shape[0] * fans->receptive_field;
      }
      if (u == 0) {
        if (!problem.empty()) {
          row.role_reason += "; shape " + ShapeText(use.shape) + " does not fit: " + problem;
          ++counters["shape mismatches"];
          break;
        }
        row.fans = fans;
        row.gates = gates;
        if (row.fans) ++counters["rows with fans"];
        // A dense gate projection of a recurrent cell (find-params): its fans are per gate block.
        if (row.split_gates > 1 && row.fans) {
          row.gates.blocks = row.split_gates;
          row.fans->out /= row.split_gates;
        }
        if (row.gates.blocks > 1 || use.rule->fan == FanRule::kRecurrentR) FindGateBlocks(row, use);
      } else if (problem.empty() && fans && row.fans && use.role == row.role &&
                 (fans->in != row.fans->in || fans->out != row.fans->out)) {
        row.conflicts.push_back("also used by " + use.layer->op_type() + " input " + std::to_string(use.layer_input) +
                                " with fan_in " + std::to_string(fans->in) + ", fan_out " +
                                std::to_string(fans->out) + " (first use decides)");
        ++counters["fan conflicts"];
      }
    }
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Pass> MakeInferFansPass() { return std::make_unique<InferFansPass>(); }

}  // namespace reinit
