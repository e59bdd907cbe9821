// audit-signal: what the whole network will do with its weights, predicted from the graph and one mean
// and second moment per tensor (passes/graph/signal.h): each layer's forward std before and after its
// activation and the std of the gradient at its input, and the verdict for the model. The moments are the
// planned ones (each re-initialized tensor's target std; kept tensors as stored), or with
// ctx.signal.measured every tensor's values as stored (a trained model, or one another tool initialized).
//
// With --preserve-signal, before anything is generated, each re-initialized plain layer's weight std (and
// gain) is multiplied by the factor that keeps its predicted pre-activation second moment at the level
// the signal entered the chain with: data-free LSUV (Mishkin & Matas 2016, with the mean-field prediction
// in place of a forward pass). Layers that end a residual branch keep their scaling (--residual-scaling
// is the choice there).
#include "passes/passes.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "passes/graph/numbers.h"
#include "passes/graph/signal.h"
#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

class AuditSignalPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

// E[w] and E[w^2] of the values a tensor holds (every element, pieces included), read as rewrite reads
// tensors: a tensor in a file a block at a time, never whole as doubles.
Status StoredMoments(const PassContext& ctx, const ParamRow& row, TensorMoments* m) {
  double sum = 0, squares = 0;
  int64_t n = 0;
  const TensorStore::Block add = [&](const std::vector<double>& values, int64_t) {
    for (double x : values) sum += x, squares += x * x;
    n += static_cast<int64_t>(values.size());
    return Status::Ok();
  };
  static const TensorStore kInMemory;  // no store: every tensor is in memory
  REINIT_RETURN_IF_ERROR((ctx.store != nullptr ? *ctx.store : kInMemory).ForEachBlock(*row.tensor, int64_t{1} << 18, add));
  const double count = static_cast<double>(std::max<int64_t>(n, 1));
  *m = TensorMoments{sum / count, squares / count, false, std::nullopt};
  return Status::Ok();
}

// A re-initialized row's planned moments: its constant, a proxy's source moments, or mean 0 and its
// target std.
TensorMoments Planned(const ParamRow& row) {
  if (row.init.scheme == Scheme::kConstant) {
    return {row.init.constant, row.init.constant * row.init.constant, true, row.init.constant};
  }
  if (row.init.scheme == Scheme::kProxy) {
    const TensorStats& w = row.init.proxy->whole;
    return {w.mean, w.std * w.std + w.mean * w.mean, true, std::nullopt};
  }
  return {0, row.init.std * row.init.std, true, std::nullopt};
}

bool Planned(const PassContext& ctx, const ParamRow& row) {
  return !ctx.signal.measured && row.init.action == Action::kReinitialize;
}

// The factor preserve-signal found, applied to the row's numbers and said in its reason.
void Scale(ParamRow& row, double factor) {
  row.init.std *= factor;
  row.init.gain *= factor;
  if (row.init.bound) *row.init.bound *= factor;
  row.init.reason += "; preserve-signal: gain * " + FormatNumber(factor) +
                     " keeps the predicted pre-activation second moment where the signal entered";
}

Status AuditSignalPass::Run(PassContext& ctx, Counters& counters) {
  if (!ctx.signal.requested && !ctx.policy.preserve_signal) {
    ++counters["not asked for"];
    return Status::Ok();
  }
  std::map<const ParamRow*, TensorMoments> cache;
  Status failed = Status::Ok();
  const MomentsOf moments = [&](const ParamRow& row) -> std::optional<TensorMoments> {
    if (Planned(ctx, row)) return Planned(row);
    auto it = cache.find(&row);
    if (it != cache.end()) return it->second;
    if (!IsFloatType(row.dtype) || row.tensor == nullptr) return std::nullopt;
    TensorMoments m;
    const Status s = StoredMoments(ctx, row, &m);
    if (!s.ok()) {
      if (failed.ok()) failed = s;
      return std::nullopt;
    }
    ++counters["tensors measured"];
    return cache[&row] = m;
  };
  SignalOptions options = ctx.signal.options;
  options.preserve = ctx.policy.preserve_signal && !ctx.signal.measured;
  options.may_scale = [](const ParamRow& row) {
    // A proxy keeps its source's statistics: preserve-signal has nothing to solve there.
    return row.init.action == Action::kReinitialize && row.init.scheme != Scheme::kConstant &&
           row.init.scheme != Scheme::kProxy && row.init.std > 0;
  };
  SignalAudit audit = PropagateSignal(*ctx.model, *ctx.index, *ctx.table, moments, options);
  REINIT_RETURN_IF_ERROR(failed);
  counters["layers"] = static_cast<int64_t>(audit.layers.size());
  for (const auto& [op, n] : audit.passed_through) counters["passed through (" + op + ")"] += n;

  if (options.preserve) {
    std::map<std::string, double> factors;
    for (const LayerSignal& layer : audit.layers) {
      if (layer.gain_factor != 1 && std::isfinite(layer.gain_factor)) factors[layer.weight] = layer.gain_factor;
    }
    for (ParamRow& row : *ctx.table) {
      // A copy (find-copies) follows its original.
      auto it = factors.find(row.copy.of.empty() ? row.name : row.copy.of);
      if (it == factors.end() || row.init.action != Action::kReinitialize) continue;
      Scale(row, it->second);
      ++counters["layers rescaled"];
    }
  }
  ctx.signal.audit = std::move(audit);
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Pass> MakeAuditSignalPass() { return std::make_unique<AuditSignalPass>(); }

}  // namespace reinit
