// regenerate: writes freshly generated values into every row marked for re-initialization, in the
// tensor's own type and storage field, then measures what was written. Also records the run in one
// metadata_props entry of the model. Reads: everything select-init wrote. Writes: tensor data, stats.
// Rows marked keep are not touched at all, so their bytes stay exactly as they were read.
#include "passes/regenerate.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "passes/gen/fill.h"
#include "passes/gen/schemes.h"
#include "passes/graph/tensor_values.h"
#include "passes/report/version.h"

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

// The copies of a freshly generated original (passes/find_copies.cc) get its values — drawn once — or
// their transpose, in their own storage.
Status WriteCopies(const ParamRow& original, PassContext& ctx, std::map<std::string, int64_t>& counters) {
  std::vector<double> values;
  REINIT_RETURN_IF_ERROR(ReadValues(*original.tensor, &values));
  for (ParamRow& copy : *ctx.table) {
    if (copy.copy_of != original.name || copy.action != Action::kReinitialize) continue;
    std::vector<double> mine = values;
    if (copy.copy_transposed) {
      const int64_t rows = original.shape[0], cols = original.shape[1];
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) mine[c * rows + r] = values[r * cols + c];
      }
    }
    const bool external = copy.tensor->data_location() == onnx::TensorProto::EXTERNAL;
    if (external) {
      copy.tensor->clear_external_data();
      copy.tensor->set_data_location(onnx::TensorProto::DEFAULT);
      copy.tensor->set_raw_data(std::string(mine.size() * FloatByteWidth(copy.dtype), '\0'));
    }
    REINIT_RETURN_IF_ERROR(WriteValues(mine, copy.tensor));
    if (external) REINIT_RETURN_IF_ERROR(ctx.external_sink(*copy.tensor));
    copy.stats = Measure(mine);
    ++counters["rewritten"];
    ++counters["copies written"];
    counters["elements written"] += static_cast<int64_t>(mine.size());
  }
  return Status::Ok();
}

// One row: kept rows are not touched; a tensor still in the input's external file is generated in
// memory, handed to the sink, and freed (at most one such tensor is in memory at a time), unless the
// writer takes it to generate piece by piece as it writes (ctx.defer).
Status RegenerateRow(ParamRow& row, PassContext& ctx, std::map<std::string, int64_t>& counters) {
  if (row.action != Action::kReinitialize) {
    ++counters["kept"];
    return Status::Ok();
  }
  if (!row.copy_of.empty()) return Status::Ok();  // written with its original (WriteCopies)
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
  if (row.has_copies) REINIT_RETURN_IF_ERROR(WriteCopies(row, ctx, counters));
  if (external) REINIT_RETURN_IF_ERROR(ctx.external_sink(*row.tensor));
  row.stats = stats;
  ++counters["rewritten"];
  counters["elements written"] += n;
  return Status::Ok();
}

// The pieces of one tensor (rows with `piece`, passes/find_params.cc), generated together in memory:
// each re-initialized piece's elements from the tensor's own stream under the piece's decision, the
// kept pieces' elements as they were. A tensor still on disk is loaded only when every piece is
// re-initialized (the tool does not read values back from a file here).
Status RegeneratePieces(const std::vector<ParamRow*>& pieces, PassContext& ctx,
                        std::map<std::string, int64_t>& counters) {
  onnx::TensorProto* t = pieces[0]->tensor;
  const bool any = std::any_of(pieces.begin(), pieces.end(), [](auto* p) { return p->action == Action::kReinitialize; });
  const bool all = std::all_of(pieces.begin(), pieces.end(), [](auto* p) { return p->action == Action::kReinitialize; });
  if (!any) return Status::Ok();
  int64_t n = 0;
  REINIT_RETURN_IF_ERROR(ElementCount(*t, &n));
  const bool external = t->data_location() == onnx::TensorProto::EXTERNAL;
  std::vector<double> values;
  if (external) {
    if (!all) {
      return {ExitCode::kUnsupported, "tensor '" + t->name() + "': some of its pieces are kept and its bytes are "
                                      "on disk; select all of its pieces or none"};
    }
    if (!ctx.external_sink) return {ExitCode::kInternal, "tensor '" + t->name() + "': its data is still external"};
    t->clear_external_data();
    t->set_data_location(onnx::TensorProto::DEFAULT);
    t->set_raw_data(std::string(static_cast<size_t>(n) * FloatByteWidth(pieces[0]->dtype), '\0'));
    values.assign(static_cast<size_t>(n), 0.0);
  } else {
    REINIT_RETURN_IF_ERROR(ReadValues(*t, &values));
  }
  for (ParamRow* p : pieces) {
    if (p->action != Action::kReinitialize) continue;
    std::vector<double> drawn;
    REINIT_RETURN_IF_ERROR(GenerateValues(*p, ctx.policy.seed, ctx.threads, &drawn));
    for (const auto& [begin, end] : p->piece) std::copy(drawn.begin() + begin, drawn.begin() + end, values.begin() + begin);
  }
  REINIT_RETURN_IF_ERROR(WriteValues(values, t));
  REINIT_RETURN_IF_ERROR(ReadValues(*t, &values));  // stats of what is stored, after rounding
  for (ParamRow* p : pieces) {
    if (p->action != Action::kReinitialize) continue;
    std::vector<double> mine;
    for (const auto& [begin, end] : p->piece) mine.insert(mine.end(), values.begin() + begin, values.begin() + end);
    const TensorStats stats = Measure(mine);
    if (!std::isfinite(stats.mean) || !std::isfinite(stats.std)) {
      return {ExitCode::kInternal, "tensor '" + p->name + "' " + p->piece_text + ": generated values are not finite"};
    }
    p->stats = stats;
    ++counters["rewritten"];
    counters["elements written"] += static_cast<int64_t>(mine.size());
  }
  if (external) REINIT_RETURN_IF_ERROR(ctx.external_sink(*t));
  return Status::Ok();
}

}  // namespace

Status RegeneratePass::Run(PassContext& ctx) {
  auto& counters = ctx.counters["regenerate"];
  size_t done = 0;
  std::map<const onnx::TensorProto*, std::vector<ParamRow*>> pieces;
  for (ParamRow& row : *ctx.table) {
    if (!row.piece.empty()) pieces[row.tensor].push_back(&row);
  }
  for (ParamRow& row : *ctx.table) {
    if (row.piece.empty()) {
      REINIT_RETURN_IF_ERROR(RegenerateRow(row, ctx, counters));
    } else if (auto it = pieces.find(row.tensor); it != pieces.end()) {
      REINIT_RETURN_IF_ERROR(RegeneratePieces(it->second, ctx, counters));
      pieces.erase(it);  // the tensor's other pieces are done with it
    }
    if (ctx.progress) ctx.progress("regenerate", ++done, ctx.table->size());
  }
  RecordRun(ctx.policy, ctx.model);
  return Status::Ok();
}

}  // namespace reinit
