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

#include <algorithm>
#include <cstring>
#include <map>

#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

// FNV-1a over the values' bit patterns, a 64-bit word per value rather than a byte (a hash only groups
// candidates, which are then compared), continued from `h`: a piece at a time gives the hash of the
// whole.
constexpr uint64_t kHashStart = 1469598103934665603ull;
uint64_t Hash(const std::vector<double>& v, uint64_t h = kHashStart) {
  for (double x : v) {
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    h = (h ^ bits) * 1099511628211ull;
  }
  return h;
}

// A tensor's values a piece at a time: one still on disk (a streamed or external tensor) is read
// through the tensor store kChunk elements at a time, so that comparing the weights of If branches
// never holds one whole (as doubles, twice its size) in memory; one in memory, or one whose storage
// does not check out (reading it whole reports the problem), is read at once.
class ValuePieces {
 public:
  static constexpr int64_t kChunk = int64_t{1} << 20;

  ValuePieces(const onnx::TensorProto& t, const TensorStore* store) : t_(t), store_(store) {
    int64_t n = 0;
    piecewise_ = store != nullptr && t.data_location() == onnx::TensorProto::EXTERNAL && ValidateStorage(t).ok() &&
                 ElementCount(t, &n).ok();
    count_ = n;
  }

  // The next piece into *v; empty at the end (or when the values cannot be read here).
  Status Next(std::vector<double>* v) {
    v->clear();
    if (!piecewise_) {
      if (done_ > 0) return Status::Ok();
      done_ = 1;
      if (store_ != nullptr) return store_->ReadValues(t_, v);
      if (t_.data_location() == onnx::TensorProto::EXTERNAL) return Status::Ok();
      return ReadValues(t_, v);
    }
    if (done_ >= count_) return Status::Ok();
    const int64_t n = std::min(kChunk, count_ - done_);
    const uint64_t width = FloatByteWidth(t_.data_type());
    onnx::TensorProto piece;
    piece.set_name(t_.name());
    piece.set_data_type(t_.data_type());
    piece.add_dims(n);
    REINIT_RETURN_IF_ERROR(store_->ReadBytes(t_, static_cast<uint64_t>(done_) * width, 0, 1,
                                             static_cast<uint64_t>(n) * width, piece.mutable_raw_data()));
    done_ += n;
    return ReadValues(piece, v);
  }

 private:
  const onnx::TensorProto& t_;
  const TensorStore* store_;
  bool piecewise_ = false;
  int64_t count_ = 0, done_ = 0;
};

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

  static void Tie(ParamRow& copy, ParamRow& original, bool transposed) {
    copy.copy.of = original.name;
    copy.copy.transposed = transposed;
    original.copy.has_copies = true;
  }

  // The hash of a row's values and how many there are (0: they cannot be read here).
  Status HashOf(const ParamRow& row, uint64_t* hash, int64_t* count) {
    ValuePieces pieces(*row.tensor, ctx_.store);
    *hash = kHashStart;
    *count = 0;
    for (std::vector<double> v;;) {
      REINIT_RETURN_IF_ERROR(pieces.Next(&v));
      if (v.empty()) return Status::Ok();
      *hash = Hash(v, *hash);
      *count += static_cast<int64_t>(v.size());
    }
  }

  // Whether two rows hold the same values, compared a piece at a time.
  Status SameValues(const ParamRow& x, const ParamRow& y, bool* same) {
    ValuePieces a(*x.tensor, ctx_.store), b(*y.tensor, ctx_.store);
    std::vector<double> va, vb;
    size_t ia = 0, ib = 0;
    for (;;) {
      if (ia == va.size()) {
        REINIT_RETURN_IF_ERROR(a.Next(&va));
        ia = 0;
      }
      if (ib == vb.size()) {
        REINIT_RETURN_IF_ERROR(b.Next(&vb));
        ib = 0;
      }
      if (va.empty() || vb.empty()) {
        *same = va.empty() && vb.empty();
        return Status::Ok();
      }
      const size_t n = std::min(va.size() - ia, vb.size() - ib);
      if (!std::equal(va.begin() + ia, va.begin() + ia + n, vb.begin() + ib)) {
        *same = false;
        return Status::Ok();
      }
      ia += n;
      ib += n;
    }
  }

  // Byte-identical parameters (same role, type and shape) in the two branches of one If. Each row's
  // values are hashed a piece at a time, and read again only to compare rows whose hashes agree: the
  // weights in branches can be most of a model, and none is held whole in memory here.
  Status BranchCopies() {
    std::map<std::tuple<int32_t, std::vector<int64_t>, Role, uint64_t>, std::vector<ParamRow*>> groups;
    for (ParamRow& row : *ctx_.table) {
      const GraphInfo* graph = index_.GraphAt(row.graph);
      if (row.role == Role::kUnknown || !row.piece.empty() || !IsFloatType(row.dtype) || graph == nullptr ||
          index_.Branches(*graph).empty()) {
        continue;
      }
      uint64_t hash = 0;
      int64_t count = 0;
      REINIT_RETURN_IF_ERROR(HashOf(row, &hash, &count));
      if (count > 0) groups[{row.dtype, row.shape, row.role, hash}].push_back(&row);
    }
    for (auto& [key, rows] : groups) {
      for (size_t i = 1; i < rows.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          ParamRow* original = rows[j];
          if (!original->copy.of.empty() ||
              !index_.Exclusive(*index_.GraphAt(original->graph), *index_.GraphAt(rows[i]->graph))) {
            continue;
          }
          bool same = false;
          REINIT_RETURN_IF_ERROR(SameValues(*original, *rows[i], &same));
          if (!same) continue;
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
};

class FindCopiesPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status FindCopiesPass::Run(PassContext& ctx, Counters& counters) { return CopyFinder(ctx, counters).Run(); }

}  // namespace

std::unique_ptr<Pass> MakeFindCopiesPass() { return std::make_unique<FindCopiesPass>(); }

}  // namespace reinit
