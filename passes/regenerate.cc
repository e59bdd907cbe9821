// regenerate: writes freshly generated values into every row marked for re-initialization, in the
// tensor's own type and storage field, then measures what was written. Also records the run in one
// metadata_props entry of the model. Reads: everything select-init wrote. Writes: tensor data, stats.
// Rows marked keep are not touched at all, so their bytes stay exactly as they were read.
#include "passes/regenerate.h"

#include <algorithm>
#include <cmath>

#include "passes/schemes.h"
#include "passes/tensor_data.h"
#include "passes/version.h"

namespace reinit {

namespace {

TensorStats Measure(const std::vector<double>& v) {
  TensorStats s;
  if (v.empty()) return s;
  double sum = 0, sq = 0;
  s.min = s.max = v[0];
  for (double x : v) {
    sum += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean = sum / v.size();
  for (double x : v) sq += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(sq / v.size());
  return s;
}

void RecordRun(const Policy& policy, onnx::ModelProto* model) {
  const std::string value = nlohmann::ordered_json{{"tool", kToolName},
                                                   {"version", kToolVersion},
                                                   {"seed", policy.seed},
                                                   {"policy", policy.ToJson()}}
                                .dump();
  for (auto& entry : *model->mutable_metadata_props()) {
    if (entry.key() == kMetadataKey) {
      entry.set_value(value);
      return;
    }
  }
  auto* entry = model->add_metadata_props();
  entry->set_key(kMetadataKey);
  entry->set_value(value);
}

}  // namespace

Status RegeneratePass::Run(PassContext& ctx) {
  auto& counters = ctx.counters["regenerate"];
  std::vector<double> values;
  size_t done = 0;
  for (ParamRow& row : *ctx.table) {
    if (ctx.progress) ctx.progress("regenerate", done++, ctx.table->size());
    if (row.action != Action::kReinitialize) {
      ++counters["kept"];
      continue;
    }
    REINIT_RETURN_IF_ERROR(GenerateValues(row, ctx.policy.seed, &values));
    REINIT_RETURN_IF_ERROR(WriteValues(values, row.tensor));
    // Measure the tensor as stored (after rounding to fp16/bf16), not the doubles we meant to write.
    REINIT_RETURN_IF_ERROR(ReadValues(*row.tensor, &values));
    row.stats = Measure(values);
    ++counters["rewritten"];
    counters["elements written"] += static_cast<int64_t>(values.size());
  }
  RecordRun(ctx.policy, ctx.model);
  return Status::Ok();
}

}  // namespace reinit
