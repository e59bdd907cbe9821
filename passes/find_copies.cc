// find-copies: tensors that are one parameter stored twice: copy_of and copy_transposed are set on the
// copy, has_copies on the original.
//
//   If(c) then { W_then -> Gemm } else { W_else -> Gemm },  W_else == W_then byte for byte
//     W_else is a copy of W_then: exporters duplicate a submodule into both branches of a scripted `if`
//     ("with state" / "without state"); drawn once and written to both, the branches keep computing
//     the same function.
//   E [vocab, dim] -> Gather (embedding);  H [dim, vocab] -> MatMul,  H == E^T (or H == E under transB)
//     H is the embedding, tied: constant folding stored the tied LM head as a tensor of its own.
//
// Equal tensors on one execution path (two layers equal by chance, all-zero biases) are not merged:
// tying them would keep them equal for good. An embedding whose values are all the same is not a tie,
// and neither is a copy --untie-shared made.
#include "passes/passes.h"

#include <cstring>
#include <map>

#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

uint64_t Hash(const std::vector<double>& v) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the values' bytes
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(double); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

bool Constant(const std::vector<double>& v) {
  for (double x : v) {
    if (x != v[0]) return false;
  }
  return true;
}

class CopyFinder {
 public:
  CopyFinder(PassContext& ctx, Counters& counters) : ctx_(ctx), counters_(counters), index_(*ctx.index) {}

  Status Run() {
    REINIT_RETURN_IF_ERROR(BranchCopies());
    return TiedHeads();
  }

 private:
  // The values of a row's tensor (from the file when its bytes are still there: the tensor store); an
  // empty vector when they cannot be read here.
  Status Read(const ParamRow& row, std::vector<double>* v) {
    v->clear();
    if (ctx_.store != nullptr) return ctx_.store->ReadValues(*row.tensor, v);
    if (row.tensor->data_location() == onnx::TensorProto::EXTERNAL) return Status::Ok();
    return ReadValues(*row.tensor, v);
  }

  // The same, kept for the comparisons of branch copies (small tensors of subgraphs).
  Status Values(const ParamRow& row, const std::vector<double>** values) {
    auto it = values_.find(row.tensor);
    if (it == values_.end()) {
      std::vector<double> v;
      REINIT_RETURN_IF_ERROR(Read(row, &v));
      it = values_.emplace(row.tensor, std::move(v)).first;
    }
    *values = &it->second;
    return Status::Ok();
  }

  static void Tie(ParamRow& copy, ParamRow& original, bool transposed) {
    copy.copy.of = original.name;
    copy.copy.transposed = transposed;
    original.copy.has_copies = true;
  }

  // Byte-identical parameters (same role, type and shape) in the two branches of one If.
  Status BranchCopies() {
    std::map<std::tuple<int32_t, std::vector<int64_t>, Role, uint64_t>, std::vector<ParamRow*>> groups;
    for (ParamRow& row : *ctx_.table) {
      const GraphInfo* graph = index_.GraphAt(row.graph);
      if (row.role == Role::kUnknown || !row.piece.empty() || !IsFloatType(row.dtype) || graph == nullptr ||
          index_.Branches(*graph).empty()) {
        continue;
      }
      const std::vector<double>* v = nullptr;
      REINIT_RETURN_IF_ERROR(Values(row, &v));
      if (!v->empty()) groups[{row.dtype, row.shape, row.role, Hash(*v)}].push_back(&row);
    }
    for (auto& [key, rows] : groups) {
      for (size_t i = 1; i < rows.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          ParamRow* original = rows[j];
          if (!original->copy.of.empty()) continue;
          const std::vector<double>*a = nullptr, *b = nullptr;
          REINIT_RETURN_IF_ERROR(Values(*original, &a));
          REINIT_RETURN_IF_ERROR(Values(*rows[i], &b));
          if (*a != *b || !index_.Exclusive(*index_.GraphAt(original->graph), *index_.GraphAt(rows[i]->graph))) continue;
          Tie(*rows[i], *original, false);
          ++counters_["branch copies"];
          break;
        }
      }
    }
    return Status::Ok();
  }

  // A weight equal to an embedding's transpose (or to the embedding itself): a tied LM head.
  Status TiedHeads() {
    for (ParamRow& e : *ctx_.table) {
      if (e.role != Role::kEmbedding || e.shape.size() != 2 || !e.copy.of.empty()) continue;
      for (ParamRow& h : *ctx_.table) {
        if (h.role != Role::kWeight || h.dtype != e.dtype || !h.copy.of.empty() || !h.piece.empty() ||
            ctx_.untied.count(h.name)) {
          continue;
        }
        const bool transposed = h.shape == std::vector<int64_t>{e.shape[1], e.shape[0]};
        if (!transposed && h.shape != e.shape) continue;
        // Read for this pair and dropped: an embedding can be the largest tensor of the model.
        std::vector<double> ev, hv;
        REINIT_RETURN_IF_ERROR(Read(e, &ev));
        if (ev.empty() || Constant(ev)) break;
        REINIT_RETURN_IF_ERROR(Read(h, &hv));
        if (hv.size() != ev.size()) continue;
        const int64_t rows = e.shape[0], cols = e.shape[1];
        bool equal = true;
        for (int64_t r = 0; r < rows && equal; ++r) {
          for (int64_t c = 0; c < cols && equal; ++c) {
            equal = ev[r * cols + c] == hv[transposed ? c * rows + r : r * cols + c];
          }
        }
        if (!equal) continue;
        Tie(h, e, transposed);
        ++counters_["tied heads"];
      }
    }
    return Status::Ok();
  }

  PassContext& ctx_;
  Counters& counters_;
  const GraphIndex& index_;
  std::map<const onnx::TensorProto*, std::vector<double>> values_;
};

class FindCopiesPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status FindCopiesPass::Run(PassContext& ctx, Counters& counters) { return CopyFinder(ctx, counters).Run(); }

}  // namespace

std::unique_ptr<Pass> MakeFindCopiesPass() { return std::make_unique<FindCopiesPass>(); }

}  // namespace reinit
