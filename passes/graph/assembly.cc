#include "passes/graph/assembly.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

constexpr int kMaxDepth = 32;          // ops followed back from a layer's input
constexpr size_t kMaxBlocks = 4096;    // a Gather of scattered indices could make one block per index

Shape RowMajorStrides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// Calls fn(stored element, position in the view) for every element of the view, row-major.
void ForEachElement(const View& v, const std::function<void(int64_t, const Shape&)>& fn) {
  if (v.Elements() == 0) return;
  Shape at(v.sizes.size(), 0);
  for (;;) {
    int64_t stored = v.offset;
    for (size_t k = 0; k < at.size(); ++k) stored += at[k] * v.strides[k];
    fn(stored, at);
    size_t k = at.size();
    while (k > 0 && ++at[k - 1] == v.sizes[k - 1]) at[--k] = 0;
    if (k == 0) return;
  }
}

int64_t Normalize(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

}  // namespace

int64_t Product(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t View::Elements() const { return Product(sizes); }

Assembly Assembly::Whole(const std::string& tensor, const Shape& shape) {
  Assembly a;
  a.shape_ = shape;
  a.blocks_.push_back({Shape(shape.size(), 0), View{tensor, 0, shape, RowMajorStrides(shape)}});
  return a;
}

int64_t Assembly::Elements() const { return Product(shape_); }

bool Assembly::IsWhole(const std::string& tensor) const {
  if (blocks_.size() != 1) return false;
  const View& v = blocks_[0].view;
  if (v.tensor != tensor || v.offset != 0 || v.sizes != shape_) return false;
  // Row-major over the non-unit axes: the stored order itself.
  int64_t expected = 1;
  for (size_t k = shape_.size(); k-- > 0;) {
    if (shape_[k] == 1) continue;
    if (v.strides[k] != expected) return false;
    expected *= shape_[k];
  }
  return true;
}

void Assembly::RemapAxes(const std::function<Shape(const Shape& v, int64_t unit)>& axes) {
  shape_ = axes(shape_, 1);
  for (Block& b : blocks_) {
    b.origin = axes(b.origin, 0);
    b.view.sizes = axes(b.view.sizes, 1);
    b.view.strides = axes(b.view.strides, 0);
  }
}

bool Assembly::Transpose(const Shape& perm) {
  if (perm.size() != shape_.size()) return false;
  std::vector<bool> seen(perm.size(), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(perm.size()) || seen[p]) return false;
    seen[p] = true;
  }
  RemapAxes([&](const Shape& v, int64_t) {
    Shape out;
    for (int64_t p : perm) out.push_back(v[p]);
    return out;
  });
  return true;
}

bool Assembly::Unsqueeze(const Shape& axes) {
  const int64_t rank = static_cast<int64_t>(shape_.size() + axes.size());
  std::vector<bool> is_new(rank, false);
  for (int64_t a : axes) {
    a = Normalize(a, rank);
    if (a < 0 || a >= rank || is_new[a]) return false;
    is_new[a] = true;
  }
  RemapAxes([&](const Shape& v, int64_t unit) {
    Shape out;
    size_t from = 0;
    for (int64_t i = 0; i < rank; ++i) out.push_back(is_new[i] ? unit : v[from++]);
    return out;
  });
  return true;
}

bool Assembly::Squeeze(const Shape& axes) {
  const int64_t rank = static_cast<int64_t>(shape_.size());
  std::vector<bool> drop(rank, false);
  for (int64_t i = 0; i < rank; ++i) drop[i] = axes.empty() && shape_[i] == 1;
  for (int64_t a : axes) {
    a = Normalize(a, rank);
    if (a < 0 || a >= rank || shape_[a] != 1) return false;
    drop[a] = true;
  }
  RemapAxes([&](const Shape& v, int64_t) {
    Shape out;
    for (int64_t i = 0; i < rank; ++i) {
      if (!drop[i]) out.push_back(v[i]);
    }
    return out;
  });
  return true;
}

bool Assembly::Reshape(const Shape& target) {
  if (Product(target) != Elements()) return false;
  // Only unit axes added or removed: the same as squeezing them all and unsqueezing the new ones.
  Shape own, theirs;
  for (int64_t d : shape_) {
    if (d != 1) own.push_back(d);
  }
  for (int64_t d : target) {
    if (d != 1) theirs.push_back(d);
  }
  if (own == theirs) {
    Assembly a = *this;
    Shape units;
    for (size_t i = 0; i < target.size(); ++i) {
      if (target[i] == 1) units.push_back(static_cast<int64_t>(i));
    }
    if (!a.Squeeze({}) || !a.Unsqueeze(units)) return false;
    *this = a;
    return true;
  }
  // Otherwise only one stored tensor read whole and in order can be re-viewed (as numpy reshapes a
  // contiguous array without copying).
  if (blocks_.size() != 1 || !IsWhole(blocks_[0].view.tensor)) return false;
  *this = Whole(blocks_[0].view.tensor, target);
  return true;
}

bool Assembly::Expand(const Shape& target) {
  const size_t rank = std::max(shape_.size(), target.size());
  Assembly a = *this;
  Shape front;
  for (size_t i = 0; i < rank - shape_.size(); ++i) front.push_back(static_cast<int64_t>(i));
  if (!front.empty() && !a.Unsqueeze(front)) return false;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t want = i + target.size() >= rank ? target[i + target.size() - rank] : 1;
    if (want == a.shape_[i] || want == 1) continue;
    if (a.shape_[i] != 1) return false;
    // Broadcast: the one element along this axis is read `want` times (stride 0).
    a.shape_[i] = want;
    for (Block& b : a.blocks_) {
      b.view.sizes[i] = want;
      b.view.strides[i] = 0;
    }
  }
  *this = a;
  return true;
}

bool Assembly::Slice(int64_t axis, int64_t start, int64_t end, int64_t step) {
  const int64_t rank = static_cast<int64_t>(shape_.size());
  axis = Normalize(axis, rank);
  if (axis < 0 || axis >= rank || step < 1) return false;  // negative steps reverse: not followed
  const int64_t dim = shape_[axis];
  // ONNX's clamping of starts and ends.
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  start = std::clamp<int64_t>(start, 0, dim);
  end = std::clamp<int64_t>(end, 0, dim);
  const int64_t count = end > start ? (end - start + step - 1) / step : 0;
  std::vector<Block> out;
  for (const Block& b : blocks_) {
    const int64_t o = b.origin[axis], n = b.view.sizes[axis];
    // Output positions k whose source start + k*step lies in [o, o + n).
    const int64_t k_lo = std::max<int64_t>(0, (o - start + step - 1) / step);
    const int64_t k_hi = std::min<int64_t>(count - 1, (o + n - 1 - start) >= 0 ? (o + n - 1 - start) / step : -1);
    if (k_lo > k_hi) continue;
    Block c = b;
    c.origin[axis] = k_lo;
    c.view.sizes[axis] = k_hi - k_lo + 1;
    c.view.offset += (start + k_lo * step - o) * b.view.strides[axis];
    c.view.strides[axis] *= step;
    out.push_back(std::move(c));
  }
  shape_[axis] = count;
  blocks_ = std::move(out);
  return true;
}

bool Assembly::Gather(int64_t axis, const Shape& indices, bool scalar) {
  const int64_t rank = static_cast<int64_t>(shape_.size());
  axis = Normalize(axis, rank);
  if (axis < 0 || axis >= rank) return false;
  std::vector<Block> out;
  std::vector<std::pair<size_t, int64_t>> last;  // per output block: its source block and last index
  for (size_t q = 0; q < indices.size(); ++q) {
    int64_t i = indices[q] < 0 ? indices[q] + shape_[axis] : indices[q];
    if (i < 0 || i >= shape_[axis]) return false;
    for (size_t s = 0; s < blocks_.size(); ++s) {
      const Block& b = blocks_[s];
      if (i < b.origin[axis] || i >= b.origin[axis] + b.view.sizes[axis]) continue;
      // Consecutive indices from the same source block extend the block made for the previous one.
      bool extended = false;
      for (size_t k = 0; k < out.size() && !extended; ++k) {
        Block& o = out[k];
        if (last[k].first == s && last[k].second + 1 == i && o.origin[axis] + o.view.sizes[axis] == static_cast<int64_t>(q)) {
          ++o.view.sizes[axis];
          last[k].second = i;
          extended = true;
        }
      }
      if (extended) continue;
      Block c = b;
      c.origin[axis] = static_cast<int64_t>(q);
      c.view.sizes[axis] = 1;
      c.view.offset += (i - b.origin[axis]) * b.view.strides[axis];
      out.push_back(std::move(c));
      last.emplace_back(s, i);
      if (out.size() > kMaxBlocks) return false;
    }
  }
  shape_[axis] = static_cast<int64_t>(indices.size());
  blocks_ = std::move(out);
  return !scalar || (indices.size() == 1 && Squeeze({axis}));
}

std::optional<Assembly> Assembly::Concat(int64_t axis, const std::vector<Assembly>& parts) {
  if (parts.empty()) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(parts[0].shape_.size());
  axis = Normalize(axis, rank);
  if (axis < 0 || axis >= rank) return std::nullopt;
  Assembly a;
  a.shape_ = parts[0].shape_;
  a.shape_[axis] = 0;
  for (const Assembly& p : parts) {
    if (static_cast<int64_t>(p.shape_.size()) != rank) return std::nullopt;
    for (int64_t k = 0; k < rank; ++k) {
      if (k != axis && p.shape_[k] != a.shape_[k]) return std::nullopt;
    }
    for (Block b : p.blocks_) {
      b.origin[axis] += a.shape_[axis];
      a.blocks_.push_back(std::move(b));
    }
    a.shape_[axis] += p.shape_[axis];
  }
  if (a.blocks_.size() > kMaxBlocks) return std::nullopt;
  return a;
}

std::vector<int64_t> Assembly::StoredElements(const std::string& tensor, const Shape& lo, const Shape& hi) const {
  const Shape region = [&] {
    Shape s;
    for (size_t k = 0; k < lo.size(); ++k) s.push_back(hi[k] - lo[k]);
    return s;
  }();
  const Shape region_strides = RowMajorStrides(region);
  std::vector<std::pair<int64_t, int64_t>> found;  // (position in the region, stored element)
  for (const Block& b : blocks_) {
    if (b.view.tensor != tensor) continue;
    // The block's part inside the region.
    View part = b.view;
    Shape start(lo.size());
    bool empty = false;
    for (size_t k = 0; k < lo.size(); ++k) {
      const int64_t from = std::max(lo[k], b.origin[k]), to = std::min(hi[k], b.origin[k] + b.view.sizes[k]);
      if (from >= to) empty = true;
      part.offset += (from - b.origin[k]) * b.view.strides[k];
      part.sizes[k] = std::max<int64_t>(0, to - from);
      start[k] = from - lo[k];
    }
    if (empty) continue;
    ForEachElement(part, [&](int64_t stored, const Shape& at) {
      int64_t position = 0;
      for (size_t k = 0; k < at.size(); ++k) position += (start[k] + at[k]) * region_strides[k];
      found.emplace_back(position, stored);
    });
  }
  std::sort(found.begin(), found.end());
  std::vector<int64_t> elements;
  for (const auto& f : found) elements.push_back(f.second);
  return elements;
}

std::vector<int64_t> Assembly::Uses(const std::string& tensor) const {
  std::vector<int64_t> elements;
  for (const Block& b : blocks_) {
    if (b.view.tensor == tensor) ForEachElement(b.view, [&](int64_t stored, const Shape&) { elements.push_back(stored); });
  }
  std::sort(elements.begin(), elements.end());
  elements.erase(std::unique(elements.begin(), elements.end()), elements.end());
  return elements;
}

bool Assembly::UsesAllOnce(const std::string& tensor, int64_t stored) const {
  if (blocks_.size() != 1 || blocks_[0].view.tensor != tensor) return false;
  const View& v = blocks_[0].view;
  if (v.offset != 0 || v.Elements() != stored) return false;
  // The axes, ordered by stride, must tile the stored elements row-major: stride 1, then each stride
  // the product of the sizes before it (a permutation of the tensor's own axes, unit axes aside).
  std::vector<std::pair<int64_t, int64_t>> axes;  // (stride, size) of the axes longer than 1
  for (size_t k = 0; k < v.sizes.size(); ++k) {
    if (v.sizes[k] != 1) axes.emplace_back(v.strides[k], v.sizes[k]);
  }
  std::sort(axes.begin(), axes.end());
  int64_t expected = 1;
  for (const auto& [stride, size] : axes) {
    if (stride != expected) return false;
    expected *= size;
  }
  return true;
}

// ---- reading the graph ----------------------------------------------------------------------------

namespace {

std::optional<Shape> IntsOf(const onnx::TensorProto* t) {
  if (t == nullptr || (t->data_type() != onnx::TensorProto::INT64 && t->data_type() != onnx::TensorProto::INT32)) {
    return std::nullopt;
  }
  Shape v;
  if (t->has_raw_data()) {
    const size_t width = t->data_type() == onnx::TensorProto::INT64 ? 8 : 4;
    for (size_t i = 0; i + width <= t->raw_data().size(); i += width) {
      if (width == 8) {
        int64_t x;
        std::memcpy(&x, t->raw_data().data() + i, 8);
        v.push_back(x);
      } else {
        int32_t x;
        std::memcpy(&x, t->raw_data().data() + i, 4);
        v.push_back(x);
      }
    }
  } else if (t->data_type() == onnx::TensorProto::INT64) {
    v.assign(t->int64_data().begin(), t->int64_data().end());
  } else {
    v.assign(t->int32_data().begin(), t->int32_data().end());
  }
  return v;
}

// An integer list given as input `input` (a constant), or absent (nullopt with `present` false).
std::optional<Shape> ConstInput(const onnx::NodeProto& node, int input, const GraphIndex& index, bool* present) {
  *present = node.input_size() > input && !node.input(input).empty();
  return *present ? IntsOf(index.ConstantValue(node.input(input))) : std::nullopt;
}

// Axes from the attribute (older opsets) or input 1 (Squeeze/Unsqueeze from opset 13).
std::optional<Shape> AxesOf(const onnx::NodeProto& node, const GraphIndex& index) {
  if (HasAttr(node, "axes")) return IntsAttr(node, "axes");
  bool present = false;
  std::optional<Shape> axes = ConstInput(node, 1, index, &present);
  if (!present) return Shape{};
  return axes;
}

// Reshape's target with ONNX's 0 (copy) and -1 (infer) resolved.
std::optional<Shape> ReshapeTarget(const onnx::NodeProto& node, const Shape& from, const GraphIndex& index) {
  bool present = false;
  std::optional<Shape> target = ConstInput(node, 1, index, &present);
  if (!target) return std::nullopt;
  const bool allowzero = IntAttr(node, "allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target->size(); ++i) {
    int64_t& d = (*target)[i];
    if (d == 0 && !allowzero) {
      if (i >= from.size()) return std::nullopt;
      d = from[i];
    }
    if (d == -1) {
      if (infer >= 0) return std::nullopt;
      infer = static_cast<int>(i);
      continue;
    }
    if (d < 0) return std::nullopt;
    known *= d;
  }
  if (infer >= 0) {
    if (known == 0 || Product(from) % known != 0) return std::nullopt;
    (*target)[infer] = Product(from) / known;
  }
  return target;
}

bool ApplySlice(const onnx::NodeProto& node, const GraphIndex& index, Assembly& a) {
  Shape starts, ends, axes, steps;
  if (HasAttr(node, "starts")) {  // opset < 10: attributes
    starts = IntsAttr(node, "starts");
    ends = IntsAttr(node, "ends");
    axes = IntsAttr(node, "axes");
  } else {
    bool present = false;
    auto s = ConstInput(node, 1, index, &present);
    auto e = ConstInput(node, 2, index, &present);
    if (!s || !e) return false;
    starts = *s;
    ends = *e;
    auto x = ConstInput(node, 3, index, &present);
    if (present && !x) return false;
    if (x) axes = *x;
    auto t = ConstInput(node, 4, index, &present);
    if (present && !t) return false;
    if (t) steps = *t;
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) return false;
  for (size_t i = 0; i < starts.size(); ++i) {
    if (!a.Slice(axes[i], starts[i], ends[i], steps[i])) return false;
  }
  return true;
}

bool ApplySplit(const onnx::NodeProto& node, int output, const GraphIndex& index, Assembly& a) {
  const int64_t rank = static_cast<int64_t>(a.shape().size());
  const int64_t axis = Normalize(IntAttr(node, "axis", 0), rank);
  if (axis < 0 || axis >= rank) return false;
  Shape sizes = IntsAttr(node, "split");  // opset < 13
  bool present = false;
  if (sizes.empty()) {
    auto s = ConstInput(node, 1, index, &present);
    if (present && !s) return false;
    if (s) sizes = *s;
  }
  if (sizes.empty()) {  // equal parts (opset 18's num_outputs: the last may be smaller)
    const int64_t parts = node.output_size(), dim = a.shape()[axis];
    const int64_t each = (dim + parts - 1) / parts;
    for (int64_t p = 0; p < parts; ++p) sizes.push_back(std::max<int64_t>(0, std::min(each, dim - p * each)));
  }
  if (output >= static_cast<int>(sizes.size())) return false;
  const int64_t start = std::accumulate(sizes.begin(), sizes.begin() + output, int64_t{0});
  return a.Slice(axis, start, start + sizes[output], 1);
}

std::optional<Assembly> AssembleAt(const std::string& value, const GraphIndex& index, int depth) {
  if (const onnx::TensorProto* t = index.ConstantValue(value)) {
    if (!IsFloatType(t->data_type()) && t->data_type() != onnx::TensorProto::INT8 &&
        t->data_type() != onnx::TensorProto::UINT8 && t->data_type() != onnx::TensorProto::INT32) {
      return std::nullopt;
    }
    return Assembly::Whole(value, Shape(t->dims().begin(), t->dims().end()));
  }
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || depth > kMaxDepth || !IsOnnxDomain(*p) || p->input_size() == 0) return std::nullopt;
  const std::string& op = p->op_type();
  if (op == "Concat") {
    std::vector<Assembly> parts;
    for (const auto& in : p->input()) {
      if (in.empty()) continue;
      auto part = AssembleAt(in, index, depth + 1);
      if (!part) return std::nullopt;
      parts.push_back(std::move(*part));
    }
    return Assembly::Concat(IntAttr(*p, "axis", 0), parts);
  }
  if (!MovesData(*p, 0, index)) return std::nullopt;
  std::optional<Assembly> a = AssembleAt(p->input(0), index, depth + 1);
  if (!a) return std::nullopt;
  bool ok = true;
  bool present = false;
  if (op == "Transpose") {
    Shape perm = IntsAttr(*p, "perm");
    if (perm.empty()) {
      for (int64_t i = static_cast<int64_t>(a->shape().size()) - 1; i >= 0; --i) perm.push_back(i);
    }
    ok = a->Transpose(perm);
  } else if (op == "Unsqueeze" || op == "Squeeze") {
    auto axes = AxesOf(*p, index);
    ok = axes && (op == "Unsqueeze" ? !axes->empty() && a->Unsqueeze(*axes) : a->Squeeze(*axes));
  } else if (op == "Reshape") {
    auto target = ReshapeTarget(*p, a->shape(), index);
    ok = target && a->Reshape(*target);
  } else if (op == "Flatten") {
    const Shape& s = a->shape();
    int64_t axis = Normalize(IntAttr(*p, "axis", 1), static_cast<int64_t>(s.size()));
    ok = axis >= 0 && axis <= static_cast<int64_t>(s.size()) &&
         a->Reshape({Product(Shape(s.begin(), s.begin() + axis)), Product(Shape(s.begin() + axis, s.end()))});
  } else if (op == "Expand") {
    auto target = ConstInput(*p, 1, index, &present);
    ok = target && a->Expand(*target);
  } else if (op == "Slice") {
    ok = ApplySlice(*p, index, *a);
  } else if (op == "Split") {
    const auto& outs = p->output();
    const int k = static_cast<int>(std::find(outs.begin(), outs.end(), value) - outs.begin());
    ok = ApplySplit(*p, k, index, *a);
  } else if (op == "Gather") {
    const onnx::TensorProto* t = index.ConstantValue(p->input(1));
    auto indices = IntsOf(t);
    ok = indices && a->Gather(IntAttr(*p, "axis", 0), *indices, t->dims_size() == 0);
  }
  // Identity, Cast, QuantizeLinear, DequantizeLinear: the same elements in the same places.
  if (!ok) return std::nullopt;
  return a;
}

}  // namespace

std::optional<Assembly> Assemble(const std::string& value, const GraphIndex& index) {
  return AssembleAt(value, index, 0);
}

bool MovesData(const onnx::NodeProto& node, int input, const GraphIndex& index) {
  if (!IsOnnxDomain(node)) return false;
  static const char* kOps[] = {"Identity", "Cast",      "QuantizeLinear", "DequantizeLinear", "Transpose", "Reshape",
                               "Flatten",  "Unsqueeze", "Squeeze",        "Expand",           "Slice",     "Split",
                               "Gather"};
  const std::string& op = node.op_type();
  if (op == "Concat") return true;
  if (input != 0) return false;
  if (op == "Cast" && !IsFloatType(static_cast<int32_t>(IntAttr(node, "to", 0)))) return false;
  // A Gather with computed indices is a lookup (an embedding), not a fixed rearrangement.
  if (op == "Gather" && (node.input_size() < 2 || index.ConstantValue(node.input(1)) == nullptr)) return false;
  return std::find_if(std::begin(kOps), std::end(kOps), [&](const char* o) { return op == o; }) != std::end(kOps);
}

std::string PieceText(const std::vector<int64_t>& elements, const Shape& shape) {
  if (elements.empty() || shape.empty()) return "[]";
  const int64_t row = Product(Shape(shape.begin() + 1, shape.end()));
  const int64_t first = elements.front() / row, last = elements.back() / row + 1;
  std::string text = "[" + std::to_string(first) + ":" + std::to_string(last);
  for (size_t i = 1; i < shape.size(); ++i) text += ", :";
  return text + "]";
}

}  // namespace reinit
