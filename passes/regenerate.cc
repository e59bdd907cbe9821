// regenerate: writes freshly generated values into every row marked for re-initialization, in the
// tensor's own type and storage field, then measures what was written. Also records the run in one
// metadata_props entry of the model. Reads: everything select-init wrote. Writes: tensor data, stats.
// Rows marked keep are not touched at all, so their bytes stay exactly as they were read.
#include "passes/regenerate.h"

#include <algorithm>
#include <cmath>

#include "passes/fill.h"
#include "passes/schemes.h"
#include "passes/tensor_data.h"
#include "passes/version.h"

namespace reinit {

namespace {

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

// One row: kept rows are not touched; a tensor still in the input's external file is generated in
// memory, handed to the sink, and freed (at most one such tensor is in memory at a time), unless the
// writer takes it to generate piece by piece as it writes (ctx.defer).
Status RegenerateRow(ParamRow& row, PassContext& ctx, std::map<std::string, int64_t>& counters) {
  if (row.action != Action::kReinitialize) {
    ++counters["kept"];
    return Status::Ok();
  }
  int64_t n = 0;
  REINIT_RETURN_IF_ERROR(ElementCount(*row.tensor, &n));
  const bool external = row.tensor->data_location() == onnx::TensorProto::EXTERNAL;
  if (external) {
    if (!ctx.external_sink) {
      return {ExitCode::kInternal, "tensor '" + row.name + "': its data is still external and nothing can take it"};
    }
    if (ctx.defer && ctx.defer(row)) {
      ++counters["rewritten"];
      counters["elements written"] += n;
      return Status::Ok();
    }
    row.tensor->clear_external_data();
    row.tensor->set_data_location(onnx::TensorProto::DEFAULT);
    row.tensor->set_raw_data(std::string(static_cast<size_t>(n) * FloatByteWidth(row.dtype), '\0'));
  }
  TensorStats stats;
  REINIT_RETURN_IF_ERROR(FillTensor(row, ctx.policy.seed, ctx.threads, &stats));
  if (external) REINIT_RETURN_IF_ERROR(ctx.external_sink(*row.tensor));
  row.stats = stats;
  ++counters["rewritten"];
  counters["elements written"] += n;
  return Status::Ok();
}

}  // namespace

Status RegeneratePass::Run(PassContext& ctx) {
  auto& counters = ctx.counters["regenerate"];
  size_t done = 0;
  for (ParamRow& row : *ctx.table) {
    REINIT_RETURN_IF_ERROR(RegenerateRow(row, ctx, counters));
    if (ctx.progress) ctx.progress("regenerate", ++done, ctx.table->size());
  }
  RecordRun(ctx.policy, ctx.model);
  return Status::Ok();
}

}  // namespace reinit
