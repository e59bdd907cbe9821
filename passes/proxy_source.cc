#include "passes/proxy_source.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "passes/graph/graph_index.h"
#include "passes/graph/op_table.h"
#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

// Ops between a tensor and its layer that leave the stored element order as the layer sees it.
bool KeepsLayout(const std::string& op) { return op == "Identity" || op == "Cast"; }

// One axis of `shape` as the channels.
ProxySource Axis(const std::vector<int64_t>& shape, size_t axis, std::string words) {
  ProxySource s;
  s.layout = std::move(words);
  s.count = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) s.stride *= shape[i];
  return s;
}

ProxySource PerTensor(std::string why) {
  ProxySource s;
  s.layout = "per tensor" + (why.empty() ? std::string() : " (" + why + ")");
  return s;
}

// The layout from the layer's op-table rule (the stored shape is the layer's: KeepsLayout).
ProxySource FromRule(const ParamRow& row, const LayerUse& use) {
  const std::vector<int64_t>& s = row.shape;
  const size_t rank = s.size();
  const onnx::NodeProto& layer = *use.layer;
  switch (use.rule->fan) {
    case FanRule::kConv:
      return Axis(s, 0, "per output channel (axis 0)");
    case FanRule::kConvTranspose: {
      // Output channel g * (M/g) + m of a group g reads the rows [g*C/g, (g+1)*C/g) of axis 0, column m.
      ProxySource p = Axis(s, 1, "per output channel (group, axis 1)");
      p.outer_count = row.fans ? row.fans->groups : 1;
      p.outer_stride = s[0] / p.outer_count * s[1] * p.stride;
      return p;
    }
    case FanRule::kGemmB:
    case FanRule::kGemmA: {
      const bool transposed = IntAttr(layer, use.rule->fan == FanRule::kGemmB ? "transB" : "transA", 0) != 0;
      const bool k_first = (use.rule->fan == FanRule::kGemmB) != transposed;
      return Axis(s, k_first ? 1 : 0, std::string("per output channel (axis ") + (k_first ? "1" : "0") + ")");
    }
    case FanRule::kMatMulRight: {
      if (rank < 2) break;
      const bool transposed = IntAttr(layer, "transB", 0) != 0;
      return Axis(s, rank - (transposed ? 2 : 1), "per output channel (axis " + std::to_string(rank - (transposed ? 2 : 1)) + ")");
    }
    case FanRule::kMatMulLeft:
      if (rank < 2) break;
      return Axis(s, rank - 2, "per output channel (axis " + std::to_string(rank - 2) + ")");
    case FanRule::kRecurrentW:
    case FanRule::kRecurrentR: {
      ProxySource p = Axis(s, 1, "per row (direction, gate unit)");
      p.count = s[0] * s[1];
      return p;
    }
    case FanRule::kEmbedding:
      return Axis(s, rank - 1, "per feature (axis " + std::to_string(rank - 1) + ")");
    case FanRule::kNone:
      break;
  }
  return PerTensor("");
}

// Mean and population std per channel from sums of x - K, K the channel's first value (shifted sums:
// no division per value, and no cancellation, as K is within a few stds of the mean), in element order
// (no thread dependence).
struct Accumulator {
  std::vector<int64_t> n;
  std::vector<double> shift, sum, sum_sq;
  int64_t total = 0;
  double whole_shift = 0, whole_sum = 0, whole_sum_sq = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;

  explicit Accumulator(int64_t channels) : n(channels), shift(channels), sum(channels), sum_sq(channels) {}

  void Add(int64_t c, double x) {
    if (n[c]++ == 0) shift[c] = x;
    const double d = x - shift[c];
    sum[c] += d;
    sum_sq[c] += d * d;
    if (total++ == 0) whole_shift = x;
    const double dw = x - whole_shift;
    whole_sum += dw;
    whole_sum_sq += dw * dw;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }

  static std::pair<double, double> MeanStd(int64_t n, double shift, double sum, double sum_sq) {
    if (n == 0) return {0.0, 0.0};
    const double m = sum / static_cast<double>(n);
    return {shift + m, std::sqrt(std::max(0.0, sum_sq / static_cast<double>(n) - m * m))};
  }

  void Into(ProxySource* s) const {
    s->mean.resize(n.size());
    s->std.resize(n.size());
    for (size_t c = 0; c < n.size(); ++c) std::tie(s->mean[c], s->std[c]) = MeanStd(n[c], shift[c], sum[c], sum_sq[c]);
    s->per_channel = n.empty() ? 0 : n[0];
    const auto [mean, std] = MeanStd(total, whole_shift, whole_sum, whole_sum_sq);
    s->whole = TensorStats{mean, std, total > 0 ? lo : 0, total > 0 ? hi : 0};
  }
};

// Elements of a block of stored bytes, as doubles (the tensor's own type decoded as ReadValues does).
constexpr int64_t kBlockElements = int64_t{1} << 18;

}  // namespace

ProxySource ProxyLayout(const ParamRow& row) {
  if (!row.piece.empty()) return PerTensor("a piece of a tensor");
  int64_t n = 1;
  for (int64_t d : row.shape) n *= d;
  // An empty tensor has no channels to step through (and a zero stride would divide by zero).
  if (row.shape.size() < 2 || n == 0) return PerTensor("");
  const LayerUse* use = row.primary_use();
  ProxySource p;
  if (use != nullptr) {
    auto changes = std::find_if_not(use->through.begin(), use->through.end(), KeepsLayout);
    if (changes != use->through.end()) return PerTensor("its layer sees it through " + *changes + ", not in the stored layout");
  }
  if (row.role == Role::kRecurrentBias && row.shape.size() == 2 && row.gates.blocks > 0 &&
      row.shape[1] % (2 * row.gates.blocks) == 0) {
    // [D, 2*G*H]: the Wb and Rb block of each gate and direction (the LSTM forget gate keeps its own bias).
    p.layout = "per gate block of H";
    p.stride = row.shape[1] / (2 * row.gates.blocks);
    p.count = row.shape[0] * 2 * row.gates.blocks;
  } else if (use != nullptr && use->rule != nullptr) {
    p = FromRule(row, *use);
  } else {
    p = Axis(row.shape, row.shape.size() - 1, "per channel (last axis)");
  }
  if (p.channels() == 1) return PerTensor("");
  if (p.channels() <= 0 || n / std::max<int64_t>(p.channels(), 1) < 2) {
    return PerTensor("its channels would hold fewer than two values");
  }
  return p;
}

Status MeasureProxySource(const ParamRow& row, const TensorStore* store, ProxySource* source) {
  const onnx::TensorProto& t = *row.tensor;
  Accumulator acc(source->channels());
  static const TensorStore kInMemory;  // no store: every tensor is in memory
  const TensorStore& from = store != nullptr ? *store : kInMemory;
  if (!row.piece.empty()) {
    // A piece is generated with its tensor in memory (passes/regenerate.cc): its values are read whole.
    std::vector<double> values;
    REINIT_RETURN_IF_ERROR(from.ReadValues(t, &values));
    ChannelCursor cursor(*source, 0);
    for (const auto& [begin, end] : row.piece) {
      for (int64_t e = begin; e < end; ++e, cursor.next()) acc.Add(cursor.channel(), values[static_cast<size_t>(e)]);
    }
  } else {
    REINIT_RETURN_IF_ERROR(from.ForEachBlock(t, kBlockElements, [&](const std::vector<double>& block, int64_t first) {
      ChannelCursor cursor(*source, first);
      for (size_t i = 0; i < block.size(); ++i, cursor.next()) acc.Add(cursor.channel(), block[i]);
      return Status::Ok();
    }));
  }
  acc.Into(source);
  for (size_t c = 0; c < source->mean.size(); ++c) {
    if (!std::isfinite(source->mean[c]) || !std::isfinite(source->std[c])) {
      return {ExitCode::kBadModel, "tensor '" + row.name + "': its values are not finite, so there are no statistics to draw from"};
    }
  }
  return Status::Ok();
}

}  // namespace reinit
