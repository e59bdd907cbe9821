// find-fixed-constants: marks the weights whose values are a fixed signal-processing constant — an
// STFT/DFT basis, a triangular (mel) filterbank, a normalized smoothing kernel — that the source
// framework registered as a buffer, not a parameter (passes/graph/fixed_constants.h has the detectors and
// their thresholds). select-init keeps them unless reinit_fixed is set or a rule names them.
//
// Looked at: float weights of a Conv (a DFT basis along the kernel, a smoothing kernel, a filterbank as a
// 1x1 conv) or a Gemm/MatMul (a DFT basis or a filterbank along the layer's input axis), of at most
// kMaxElements values, reaching the layer through ops that keep the order of their elements (or one
// Transpose of a matrix). Each is probed first — its first two vectors, its first output channel, its
// first values — and read whole only if a probe fits, so an ordinary weight costs a few kilobytes.
// Tensors whose bytes are still on disk (external data; the large inline tensors that plan and rewrite
// leave in the file) are read through the tensor store; where there is none they are not examined.
#include "passes/passes.h"

#include <algorithm>
#include <optional>

#include "passes/graph/fixed_constants.h"
#include "passes/graph/op_table.h"
#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

// An n_fft 2048 STFT basis ([2050, 1, 2048]) is 4.2M values; the cap leaves room for it and bounds what
// one examination holds in memory (8 bytes a value: 64 MiB) and the time its FFTs take.
constexpr int64_t kMaxElements = int64_t{1} << 23;
// The probe of a filterbank: its first values must all be nonnegative (a quarter-million-element
// trained or random weight has a negative one among its first few).
constexpr int64_t kPrefixProbe = 4096;

// Ops between a tensor and its layer that keep its elements in row-major order.
bool KeepsOrder(const std::string& op) {
  for (const char* o : {"Identity", "Cast", "QuantizeLinear", "DequantizeLinear", "Reshape", "Squeeze", "Unsqueeze",
                        "Flatten"}) {
    if (op == o) return true;
  }
  return false;
}

// How a weight's stored elements form what its layer contracts with the input.
struct Layout {
  bool conv = false;            // a Conv weight [M, C/g, k...] as stored
  int64_t rows = 0, cols = 0;   // the stored elements as a row-major matrix (conv: [M, C/g * prod(k)])
  bool vectors_are_rows = true; // the contracted vectors are that matrix's rows (or its columns)
  int64_t inputs = 1, area = 1, longest = 1;  // conv: C/g, prod(k), the largest k
};

std::optional<Layout> LayoutOf(const ParamRow& row) {
  const LayerUse& use = row.uses[0];
  if (use.rule == nullptr || !use.shape_known || row.layer() == nullptr) return std::nullopt;
  Layout l;
  if (use.rule->fan == FanRule::kConv) {
    // Kernel axes are read as stored: the tensor must reach the Conv in its own shape.
    if (use.shape != row.shape || row.shape.size() < 3) return std::nullopt;
    for (const auto& op : use.through) {
      if (!KeepsOrder(op)) return std::nullopt;
    }
    l.conv = true;
    l.rows = row.shape[0];
    l.inputs = row.shape[1];
    for (size_t i = 2; i < row.shape.size(); ++i) {
      l.area *= row.shape[i];
      l.longest = std::max(l.longest, row.shape[i]);
    }
    l.cols = l.inputs * l.area;
    return l;
  }
  // A matrix: the input (K) axis of the layout the layer sees; leading unit axes (a batch of one) go.
  bool k_first = false;  // K is the matrix's first axis: the contracted vectors are its columns
  const onnx::NodeProto& layer = *row.layer();
  switch (use.rule->fan) {
    case FanRule::kGemmB: k_first = IntAttr(layer, "transB", 0) == 0; break;
    case FanRule::kGemmA: k_first = IntAttr(layer, "transA", 0) != 0; break;
    case FanRule::kMatMulRight: k_first = IntAttr(layer, "transB", 0) == 0; break;
    case FanRule::kMatMulLeft: k_first = false; break;
    default: return std::nullopt;
  }
  std::vector<int64_t> seen = use.shape;
  while (seen.size() > 2 && seen[0] == 1) seen.erase(seen.begin());
  if (seen.size() != 2) return std::nullopt;
  l.rows = seen[0];
  l.cols = seen[1];
  l.vectors_are_rows = !k_first;
  // Stored as seen (only order-keeping ops on the way), or as its transpose (one Transpose of the stored
  // matrix, nothing else).
  int transposes = 0;
  for (const auto& op : use.through) {
    if (op == "Transpose") {
      ++transposes;
    } else if (!KeepsOrder(op)) {
      return std::nullopt;
    }
  }
  if (transposes == 0) return l;
  if (transposes != 1 || use.through.size() != 1 || row.shape.size() != 2 || use.entry == nullptr ||
      use.entry->op_type() != "Transpose") {
    return std::nullopt;
  }
  const std::vector<int64_t> perm = IntsAttr(*use.entry, "perm");
  if (perm == std::vector<int64_t>{0, 1}) return l;  // a Transpose that changes nothing
  if (!perm.empty() && perm != std::vector<int64_t>{1, 0}) return std::nullopt;
  std::swap(l.rows, l.cols);
  l.vectors_are_rows = !l.vectors_are_rows;
  return l;
}

// Which detectors a layout admits (by shape alone), and the vectors of the DFT and filterbank tests.
struct Candidates {
  bool smoothing = false, dft = false, filterbank = false;
  int64_t count = 0, length = 0;  // the vectors
};

Candidates CandidatesOf(const Layout& l) {
  Candidates c;
  c.count = l.vectors_are_rows ? l.rows : l.cols;
  c.length = l.vectors_are_rows ? l.cols : l.rows;
  if (l.conv) {
    c.smoothing = l.area > 1;
    // An STFT as Conv1d (or a Conv2d with a 1 x n_fft kernel): one input channel, one long kernel axis.
    c.dft = l.inputs == 1 && l.longest == l.area && c.length >= kDftMinLength && c.count >= kDftMinVectors;
    // A filterbank over input channels: a 1x1 conv.
    c.filterbank = l.area == 1 && c.count >= kFilterbankMinFilters && c.length >= kFilterbankMinLength;
  } else {
    c.dft = c.length >= kDftMinLength && c.count >= kDftMinVectors;
    c.filterbank = c.count >= kFilterbankMinFilters && c.length >= kFilterbankMinLength;
  }
  return c;
}

// A row's elements, wherever its bytes are: in memory (raw_data or a typed field), or on disk.
class Reader {
 public:
  Reader(const onnx::TensorProto& tensor, const PassContext& ctx) : t_(tensor), ctx_(ctx) {}

  bool on_disk() const { return t_.data_location() == onnx::TensorProto::EXTERNAL; }

  // `runs` runs of `width` elements, run r starting at element first + r * stride, one after another.
  Status Read(int64_t first, int64_t stride, int64_t runs, int64_t width, std::vector<double>* out) {
    const uint64_t w = FloatByteWidth(t_.data_type());
    std::string bytes;
    if (on_disk()) {
      REINIT_RETURN_IF_ERROR(ctx_.store->ReadBytes(t_, first * w, stride * w, runs, width * w, &bytes));
    } else if (t_.has_raw_data()) {
      const std::string& raw = t_.raw_data();
      if ((first + (runs - 1) * stride + width) * w > raw.size()) {
        return {ExitCode::kInternal, "tensor '" + t_.name() + "': read past its data"};
      }
      bytes.reserve(runs * width * w);
      for (int64_t r = 0; r < runs; ++r) bytes.append(raw, (first + r * stride) * w, width * w);
    } else {
      // Typed fields (rare, small): all of it once, then slices.
      if (typed_.empty()) REINIT_RETURN_IF_ERROR(ReadValues(t_, &typed_));
      out->clear();
      for (int64_t r = 0; r < runs; ++r) {
        const auto from = typed_.begin() + first + r * stride;
        out->insert(out->end(), from, from + width);
      }
      return Status::Ok();
    }
    onnx::TensorProto piece;
    piece.set_name(t_.name());
    piece.set_data_type(t_.data_type());
    piece.add_dims(runs * width);
    piece.set_raw_data(std::move(bytes));
    return ReadValues(piece, out);
  }

 private:
  const onnx::TensorProto& t_;
  const PassContext& ctx_;
  std::vector<double> typed_;
};

// The vectors of `l` in `values` (the whole tensor, or a probe of the first `count` of them laid out
// as Probe reads them).
Vectors VectorsOf(const std::vector<double>& values, int64_t count, int64_t length, bool contiguous) {
  Vectors v;
  v.data = values.data();
  v.count = count;
  v.length = length;
  v.vector_stride = contiguous ? length : 1;
  v.element_stride = contiguous ? 1 : count;
  return v;
}

// The cheap tests: which candidates survive a look at the first values.
Status Probe(const Layout& l, Reader& reader, int32_t dtype, Candidates& c) {
  std::vector<double> probe;
  if (c.smoothing) {
    REINIT_RETURN_IF_ERROR(reader.Read(0, 0, 1, l.cols, &probe));
    c.smoothing = FirstOutputMayBeSmoothing(probe, dtype);
  }
  if (c.dft) {
    // The first two vectors: two rows in a row, or the first two values of every row.
    if (l.vectors_are_rows) {
      REINIT_RETURN_IF_ERROR(reader.Read(0, 0, 1, 2 * l.cols, &probe));
      c.dft = MayBeDftBasis(VectorsOf(probe, 2, l.cols, true));
    } else {
      REINIT_RETURN_IF_ERROR(reader.Read(0, l.cols, l.rows, 2, &probe));
      c.dft = MayBeDftBasis(VectorsOf(probe, 2, l.rows, false));
    }
  }
  if (c.filterbank) {
    REINIT_RETURN_IF_ERROR(reader.Read(0, 0, 1, std::min(kPrefixProbe, l.rows * l.cols), &probe));
    c.filterbank = std::all_of(probe.begin(), probe.end(), [](double x) { return x >= 0; });
  }
  return Status::Ok();
}

FixedFinding Detect(const Layout& l, const Candidates& c, const ParamRow& row, const std::vector<double>& values) {
  FixedFinding found;
  if (c.smoothing) found = DetectSmoothingKernel(values, row.shape, row.dtype);
  const Vectors vectors = VectorsOf(values, c.count, c.length, l.vectors_are_rows);
  if (found.kind == Fixed::kNone && c.dft) found = DetectDftBasis(vectors);
  if (found.kind == Fixed::kNone && c.filterbank) found = DetectFilterbank(vectors);
  return found;
}

class FindFixedConstantsPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status FindFixedConstantsPass::Run(PassContext& ctx, Counters& counters) {
  for (ParamRow& row : *ctx.table) {
    row.fixed.kind = Fixed::kNone;
    row.fixed.seen.clear();
    if (row.role != Role::kWeight || row.quantized || !IsFloatType(row.dtype) || row.uses.empty()) continue;
    const std::optional<Layout> layout = LayoutOf(row);
    if (!layout) continue;
    Candidates candidates = CandidatesOf(*layout);
    if (!candidates.smoothing && !candidates.dft && !candidates.filterbank) continue;
    int64_t n = 0;
    REINIT_RETURN_IF_ERROR(ElementCount(*row.tensor, &n));
    if (n != layout->rows * layout->cols || n == 0) continue;
    if (n > kMaxElements) {
      ++counters["too large to examine"];
      continue;
    }
    Reader reader(*row.tensor, ctx);
    if (reader.on_disk() && ctx.store == nullptr) {
      ++counters["on disk, not examined"];
      continue;
    }
    ++counters["examined"];
    REINIT_RETURN_IF_ERROR(Probe(*layout, reader, row.dtype, candidates));
    if (!candidates.smoothing && !candidates.dft && !candidates.filterbank) continue;
    ++counters["read whole"];
    std::vector<double> values;
    REINIT_RETURN_IF_ERROR(reader.Read(0, 0, 1, n, &values));
    const FixedFinding found = Detect(*layout, candidates, row, values);
    if (found.kind == Fixed::kNone) continue;
    row.fixed.kind = found.kind;
    row.fixed.seen = found.seen;
    ++counters[NameOf(found.kind)];
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Pass> MakeFindFixedConstantsPass() { return std::make_unique<FindFixedConstantsPass>(); }

}  // namespace reinit
