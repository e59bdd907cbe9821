// regenerate: writes freshly generated values into every row marked for re-initialization, in the
// tensor's own type and storage field, then measures what was written. Also records the run in one
// metadata_props entry of the model.
// Rows marked keep are not touched at all, so their bytes stay exactly as they were read.
#include "passes/passes.h"

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

// A tensor whose bytes are still in a file (external data, a streamed initializer) gets its new bytes
// in memory: sized raw_data, and the store forgets the old place.
void BringIntoMemory(ParamRow& row, TensorStore* store) {
  int64_t n = 0;
  ElementCount(*row.tensor, &n);
  if (store != nullptr) store->NowInMemory(row.tensor);
  row.tensor->set_raw_data(std::string(static_cast<size_t>(n) * FloatByteWidth(row.dtype), '\0'));
}

bool OnDisk(const ParamRow& row, const TensorStore* store) {
  return store != nullptr && store->Of(*row.tensor) != TensorStore::Place::kMemory;
}

// The copies of a freshly generated original (passes/find_copies.cc) get its values — drawn once — or
// their transpose, in their own storage.
Status WriteCopies(const ParamRow& original, PassContext& ctx, Counters& counters) {
  std::vector<double> values;
  REINIT_RETURN_IF_ERROR(ReadValues(*original.tensor, &values));
  for (ParamRow& copy : *ctx.table) {
    if (copy.copy.of != original.name || copy.init.action != Action::kReinitialize) continue;
    std::vector<double> mine = values;
    if (copy.copy.transposed) {
      const int64_t rows = original.shape[0], cols = original.shape[1];
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) mine[c * rows + r] = values[r * cols + c];
      }
    }
    if (OnDisk(copy, ctx.store)) BringIntoMemory(copy, ctx.store);
    REINIT_RETURN_IF_ERROR(WriteValues(mine, copy.tensor));
    copy.stats = Measure(mine);
    ++counters["rewritten"];
    ++counters["copies written"];
    counters["elements written"] += static_cast<int64_t>(mine.size());
  }
  return Status::Ok();
}

// The writer generates a tensor still on disk as it writes it, so a model larger than memory is
// rewritten one piece of one tensor at a time: float tensors drawn at random chunk by chunk straight
// into the write buffers (FillPieces), others (constants, orthogonal, float64) whole into a scratch
// tensor that lives only while it is written.
void Produce(ParamRow& row, PassContext& ctx) {
  int64_t n = 0;
  ElementCount(*row.tensor, &n);
  const uint64_t length = static_cast<uint64_t>(n) * FloatByteWidth(row.dtype);
  const uint64_t seed = ctx.policy.seed;
  const unsigned threads = ctx.threads;
  ParamRow* r = &row;
  ctx.store->Produce(row.tensor, length, [r, seed, threads, length](const ByteSink& sink) -> Status {
    TensorStats stats;
    if (FillsByChunks(*r)) {
      REINIT_RETURN_IF_ERROR(FillPieces(*r, seed, threads, sink, &stats));
    } else {
      onnx::TensorProto scratch;
      scratch.set_name(r->tensor->name());
      scratch.set_data_type(r->tensor->data_type());
      *scratch.mutable_dims() = r->tensor->dims();
      scratch.set_raw_data(std::string(length, '\0'));
      ParamRow copy = *r;
      copy.tensor = &scratch;
      REINIT_RETURN_IF_ERROR(FillTensor(copy, seed, threads, &stats));
      REINIT_RETURN_IF_ERROR(sink.write(scratch.raw_data().data(), scratch.raw_data().size()));
    }
    r->stats = stats;
    return Status::Ok();
  });
}

// One row: kept rows are not touched. A tensor in memory is generated in place; one still on disk is
// handed to the writer to generate as it writes (Produce), unless its values are needed now (an
// original whose copies take them).
Status RegenerateRow(ParamRow& row, PassContext& ctx, Counters& counters) {
  if (row.init.action != Action::kReinitialize) {
    ++counters["kept"];
    return Status::Ok();
  }
  if (!row.copy.of.empty()) return Status::Ok();  // written with its original (WriteCopies)
  int64_t n = 0;
  REINIT_RETURN_IF_ERROR(ElementCount(*row.tensor, &n));
  ++counters["rewritten"];
  counters["elements written"] += n;
  if (OnDisk(row, ctx.store) && !row.copy.has_copies) {
    Produce(row, ctx);
    return Status::Ok();
  }
  if (row.tensor->data_location() == onnx::TensorProto::EXTERNAL) {
    if (ctx.store == nullptr) {
      return {ExitCode::kInternal, "tensor '" + row.name + "': its data is still external and nothing can take it"};
    }
    BringIntoMemory(row, ctx.store);
  }
  TensorStats stats;
  REINIT_RETURN_IF_ERROR(FillTensor(row, ctx.policy.seed, ctx.threads, &stats));
  if (row.copy.has_copies) REINIT_RETURN_IF_ERROR(WriteCopies(row, ctx, counters));
  row.stats = stats;
  return Status::Ok();
}

// The pieces of one tensor (rows with `piece`, passes/find_params.cc), generated together in memory:
// each re-initialized piece's elements from the tensor's own stream under the piece's decision, the
// kept pieces' elements as they were (read from the file when the tensor is still there).
Status RegeneratePieces(const std::vector<ParamRow*>& pieces, PassContext& ctx, Counters& counters) {
  ParamRow& first = *pieces[0];
  onnx::TensorProto* t = first.tensor;
  if (std::none_of(pieces.begin(), pieces.end(), [](auto* p) { return p->init.action == Action::kReinitialize; })) {
    return Status::Ok();
  }
  std::vector<double> values;
  if (OnDisk(first, ctx.store)) {
    REINIT_RETURN_IF_ERROR(ctx.store->ReadValues(*t, &values));
    BringIntoMemory(first, ctx.store);
  } else if (t->data_location() == onnx::TensorProto::EXTERNAL) {
    return {ExitCode::kInternal, "tensor '" + t->name() + "': its data is still external and nothing can take it"};
  } else {
    REINIT_RETURN_IF_ERROR(ReadValues(*t, &values));
  }
  for (ParamRow* p : pieces) {
    if (p->init.action != Action::kReinitialize) continue;
    std::vector<double> drawn;
    REINIT_RETURN_IF_ERROR(GenerateValues(*p, ctx.policy.seed, ctx.threads, &drawn));
    for (const auto& [begin, end] : p->piece) std::copy(drawn.begin() + begin, drawn.begin() + end, values.begin() + begin);
  }
  REINIT_RETURN_IF_ERROR(WriteValues(values, t));
  REINIT_RETURN_IF_ERROR(ReadValues(*t, &values));  // stats of what is stored, after rounding
  for (ParamRow* p : pieces) {
    if (p->init.action != Action::kReinitialize) continue;
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
  return Status::Ok();
}

class RegeneratePass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status RegeneratePass::Run(PassContext& ctx, Counters& counters) {
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
    ctx.Progress(++done, ctx.table->size());
  }
  RecordRun(ctx.policy, ctx.model);
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Pass> MakeRegeneratePass() { return std::make_unique<RegeneratePass>(); }

}  // namespace reinit
