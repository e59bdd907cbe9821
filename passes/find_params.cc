// find-params: one row per tensor that could be a parameter — every initializer of every graph
// (main and If/Loop/Scan bodies) and every Constant node's `value` — with its dtype, shape, consumers and
// a role read from how it is consumed.
//
// A role comes from a use, never from a tensor's name or size. The use may sit behind layout ops
// (Identity, Cast, Transpose, Reshape, Squeeze, Unsqueeze, Flatten, Expand, QuantizeLinear,
// DequantizeLinear); the shape is carried through them so fans are read in the layout the layer sees:
//   W -> Transpose -> MatMul(X, .)      weight; fans from the transposed shape
//   W(int8) -> DequantizeLinear -> Conv weight, quantized: reported, kept
//   Conv(X, W, B)                       W -> weight, B -> bias               (the op table)
//   MatMul(X, W) -> Add(., b)           b -> bias (one value per output feature)
//   (x - mean(x)) / sqrt(..) -> Mul(., s) -> Add(., b)    s, b -> norm scale and bias
//   Gather(E, ids) or Conv(patches) .. -> Add(., P)        P -> positional embedding
//   Concat(Expand(C), patches)          C -> class token
//   Add(x, Mul(branch, g))              g -> layer scale (per channel, before a residual Add)
// When several uses give roles, an embedding use decides (a tied LM head is an embedding first);
// otherwise the first use in graph order does, and the others are listed as conflicts.
#include "passes/passes.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <optional>

#include "passes/graph/assembly.h"
#include "passes/graph/op_table.h"
#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

using Shape = std::vector<int64_t>;
constexpr int kMaxChain = 16;  // layout ops followed from a tensor to its layer
constexpr int kMaxTrace = 12;  // ops walked back from an Add/Concat operand to an embedding

int64_t Count(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

int NonUnitDims(const Shape& s) {
  int n = 0;
  for (int64_t d : s) n += d != 1;
  return n;
}

std::optional<std::vector<int64_t>> ConstInts(const GraphIndex& index, const onnx::NodeProto& node, int input) {
  if (node.input_size() <= input || node.input(input).empty()) return std::nullopt;
  const onnx::TensorProto* t = index.ConstantValue(node.input(input));
  if (t == nullptr || t->data_type() != onnx::TensorProto::INT64) return std::nullopt;
  if (t->has_raw_data()) {
    std::vector<int64_t> v(t->raw_data().size() / 8);
    std::memcpy(v.data(), t->raw_data().data(), v.size() * 8);
    return v;
  }
  return std::vector<int64_t>(t->int64_data().begin(), t->int64_data().end());
}

// Axes from the attribute (older opsets) or the second input (Squeeze/Unsqueeze 13+).
std::optional<std::vector<int64_t>> Axes(const GraphIndex& index, const onnx::NodeProto& node) {
  if (HasAttr(node, "axes")) return IntsAttr(node, "axes");
  return ConstInts(index, node, 1);
}

// How each layout op maps its data input's shape to its output's; false when it cannot be known.
using ShapeFn = std::function<bool(const onnx::NodeProto&, const GraphIndex&, Shape&)>;

bool SameShape(const onnx::NodeProto&, const GraphIndex&, Shape&) { return true; }

bool TransposeShape(const onnx::NodeProto& node, const GraphIndex&, Shape& s) {
  std::vector<int64_t> perm = IntsAttr(node, "perm");
  if (perm.empty()) {
    for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) perm.push_back(i);
  }
  if (perm.size() != s.size()) return false;
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(s.size())) return false;
    out.push_back(s[p]);
  }
  s = out;
  return true;
}

bool ReshapeShape(const onnx::NodeProto& node, const GraphIndex& index, Shape& s) {
  auto target = ConstInts(index, node, 1);
  if (!target) return false;
  const bool allowzero = IntAttr(node, "allowzero", 0) != 0;
  Shape out;
  int infer = -1;
  for (size_t i = 0; i < target->size(); ++i) {
    int64_t d = (*target)[i];
    if (d == 0 && !allowzero) {
      if (i >= s.size()) return false;
      d = s[i];
    }
    if (d == -1) {
      if (infer >= 0) return false;
      infer = static_cast<int>(i);
      d = 1;
    }
    if (d < 0) return false;
    out.push_back(d);
  }
  if (infer >= 0) {
    const int64_t known = Count(out);
    if (known == 0 || Count(s) % known != 0) return false;
    out[infer] = Count(s) / known;
  }
  if (Count(out) != Count(s)) return false;
  s = out;
  return true;
}

bool UnsqueezeShape(const onnx::NodeProto& node, const GraphIndex& index, Shape& s) {
  auto axes = Axes(index, node);
  if (!axes) return false;
  const int64_t rank = static_cast<int64_t>(s.size() + axes->size());
  std::vector<bool> is_new(rank, false);
  for (int64_t a : *axes) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return false;
    is_new[a] = true;
  }
  Shape out;
  size_t from = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(is_new[i] ? 1 : (from < s.size() ? s[from++] : 1));
  s = out;
  return true;
}

bool SqueezeShape(const onnx::NodeProto& node, const GraphIndex& index, Shape& s) {
  auto axes = Axes(index, node);
  const bool has_axes_input = node.input_size() > 1 && !node.input(1).empty();
  if (!axes && has_axes_input) return false;
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    bool drop = false;
    if (!axes) {
      drop = s[i] == 1;
    } else {
      for (int64_t a : *axes) drop = drop || a == i || a + static_cast<int64_t>(s.size()) == i;
    }
    if (!drop) out.push_back(s[i]);
  }
  s = out;
  return true;
}

bool FlattenShape(const onnx::NodeProto& node, const GraphIndex&, Shape& s) {
  int64_t axis = IntAttr(node, "axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  if (axis < 0 || axis > static_cast<int64_t>(s.size())) return false;
  s = {Count(Shape(s.begin(), s.begin() + axis)), Count(Shape(s.begin() + axis, s.end()))};
  return true;
}

bool ExpandShape(const onnx::NodeProto& node, const GraphIndex& index, Shape& s) {
  auto target = ConstInts(index, node, 1);
  if (!target) return false;
  const size_t rank = std::max(s.size(), target->size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t a = i + s.size() >= rank ? s[i + s.size() - rank] : 1;
    const int64_t b = i + target->size() >= rank ? (*target)[i + target->size() - rank] : 1;
    if (a != b && a != 1 && b != 1) return false;
    out[i] = a == 1 ? b : a;
  }
  s = out;
  return true;
}

struct LayoutOp {
  const char* op_type;
  ShapeFn shape;
};

// Ops a parameter may pass through on its way to its layer (data input 0 only).
const LayoutOp kLayoutOps[] = {
    {"Identity", SameShape},       {"Cast", SameShape},          {"QuantizeLinear", SameShape},
    {"DequantizeLinear", SameShape}, {"Transpose", TransposeShape}, {"Reshape", ReshapeShape},
    {"Unsqueeze", UnsqueezeShape}, {"Squeeze", SqueezeShape},     {"Flatten", FlattenShape},
    {"Expand", ExpandShape},
};

const LayoutOp* FindLayoutOp(const onnx::NodeProto& node) {
  if (!IsOnnxDomain(node)) return nullptr;
  for (const auto& op : kLayoutOps) {
    if (node.op_type() == op.op_type) return &op;
  }
  return nullptr;
}

// The shape of `value` when it is a constant, possibly seen through layout ops (Transpose(W), ...).
std::optional<Shape> ConstantShape(const std::string& value, const GraphIndex& index, int depth = 0) {
  if (const onnx::TensorProto* t = index.ConstantValue(value)) return Shape(t->dims().begin(), t->dims().end());
  const onnx::NodeProto* p = index.Producer(value);
  const LayoutOp* op = p != nullptr ? FindLayoutOp(*p) : nullptr;
  if (op == nullptr || depth > kMaxChain || p->input_size() == 0) return std::nullopt;
  std::optional<Shape> s = ConstantShape(p->input(0), index, depth + 1);
  if (!s || !op->shape(*p, index, *s)) return std::nullopt;
  return s;
}

// The number of output features of a layer node whose weight is a constant, if it can be read. The
// integer ops (ConvInteger, MatMulInteger) take no bias input: their inputs 2 and 3 are zero points.
std::optional<int64_t> OutputFeatures(const onnx::NodeProto& layer, const GraphIndex& index, bool with_bias = false) {
  if (layer.input_size() < 2) return std::nullopt;
  std::optional<Shape> w = ConstantShape(layer.input(1), index);
  if (auto a = Assemble(layer.input(1), index)) w = a->shape();  // also through Slice, Split, Concat
  const std::string& op = layer.op_type();
  const bool integer = op == "ConvInteger" || op == "MatMulInteger";
  const bool has_bias = !with_bias && !integer && layer.input_size() > 2 && !layer.input(2).empty();
  if (!w || w->size() < 2 || has_bias) return std::nullopt;
  const bool trans_b = IntAttr(layer, "transB", 0) != 0;
  if (op == "Conv" || op == "ConvInteger") return (*w)[0];
  if (op == "ConvTranspose") return (*w)[1] * IntAttr(layer, "group", 1);
  if (op == "Gemm") return w->size() == 2 ? std::optional<int64_t>(trans_b ? (*w)[0] : (*w)[1]) : std::nullopt;
  if (op == "MatMul" || op == "FusedMatMul" || op == "MatMulInteger") return (*w)[w->size() - (trans_b ? 2 : 1)];
  return std::nullopt;
}

// The integer layer (ConvInteger, MatMulInteger) whose output `value` is, after the dequantize chain a
// quantization tool writes behind it: Cast to float, then Mul by the scale (a constant, or computed from
// the input's dynamic scale and the weight's). Its float bias follows as an Add.
const onnx::NodeProto* QuantizedLayerBehind(const std::string& value, const GraphIndex& index, int depth = 0) {
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || !IsOnnxDomain(*p) || depth > 4) return nullptr;
  const std::string& op = p->op_type();
  if (op == "ConvInteger" || op == "MatMulInteger") return p;
  const bool to_float = op == "Cast" && IsFloatType(static_cast<int32_t>(IntAttr(*p, "to", 0)));
  if (to_float) return QuantizedLayerBehind(p->input(0), index, depth + 1);
  if (op != "Mul" || p->input_size() != 2) return nullptr;
  for (const auto& in : p->input()) {
    if (const onnx::NodeProto* q = QuantizedLayerBehind(in, index, depth + 1)) return q;
  }
  return nullptr;
}

// The operand of a binary node that is not at `input`.
const std::string& Other(const onnx::NodeProto& node, int input) { return node.input(1 - input); }

// A per-feature vector: at most one non-unit dimension.
bool PerFeature(const Shape& s) { return NonUnitDims(s) <= 1; }

// (x - mean(x)) / sqrt(var + eps), x * rsqrt(mean(x^2) + eps), ...: the output of a normalization's
// division or multiplication, one of whose operands comes from a ReduceMean within a few ops.
bool IsNormalized(const std::string& value, const GraphIndex& index) {
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || !IsOnnxDomain(*p) || (p->op_type() != "Div" && p->op_type() != "Mul")) return false;
  std::function<bool(const std::string&, int)> from_mean = [&](const std::string& v, int depth) {
    const onnx::NodeProto* q = index.Producer(v);
    if (q == nullptr || depth > 4 || !IsOnnxDomain(*q)) return false;
    if (q->op_type() == "ReduceMean") return true;
    static const char* kSteps[] = {"Sub", "Sqrt", "Add", "Reciprocal", "Pow", "Div"};
    if (std::find_if(std::begin(kSteps), std::end(kSteps), [&](const char* s) { return q->op_type() == s; }) ==
        std::end(kSteps)) {
      return false;
    }
    for (const auto& in : q->input()) {
      if (!in.empty() && index.ConstantValue(in) == nullptr && from_mean(in, depth + 1)) return true;
    }
    return false;
  };
  for (const auto& in : p->input()) {
    if (from_mean(in, 0)) return true;
  }
  return false;
}

// Walks back from `value` through reshaping and elementwise ops to a token embedding (Gather on a
// constant table) or a patch embedding (Conv).
bool FromEmbedding(const std::string& value, const GraphIndex& index, int depth = 0) {
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || depth > kMaxTrace || !IsOnnxDomain(*p)) return false;
  if (p->op_type() == "Gather") return index.ConstantValue(p->input(0)) != nullptr;
  if (p->op_type() == "Conv") return true;
  static const char* kThrough[] = {"Reshape", "Transpose", "Flatten", "Identity", "Cast", "Squeeze",
                                   "Unsqueeze", "Mul", "Div", "Add", "Concat", "Expand"};
  if (std::find_if(std::begin(kThrough), std::end(kThrough), [&](const char* s) { return p->op_type() == s; }) ==
      std::end(kThrough)) {
    return false;
  }
  for (const auto& in : p->input()) {
    if (!in.empty() && index.ConstantValue(in) == nullptr && FromEmbedding(in, index, depth + 1)) return true;
  }
  return false;
}

// What one use makes of a tensor (seen with `shape`), besides the op table. Each rule is one pattern.
struct UseContext {
  const onnx::NodeProto& node;
  int input;
  const Shape& shape;
  const GraphIndex& index;
};
using PatternRule = std::optional<Role> (*)(const UseContext&);

std::optional<Role> TrailingBias(const UseContext& u) {
  if (u.node.op_type() != "Add" || u.node.input_size() != 2) return std::nullopt;
  const onnx::NodeProto* layer = u.index.Producer(Other(u.node, u.input));
  if (layer == nullptr || !TakesTrailingBias(layer->op_type())) layer = QuantizedLayerBehind(Other(u.node, u.input), u.index);
  if (layer == nullptr) return std::nullopt;
  const std::optional<int64_t> features = OutputFeatures(*layer, u.index);
  if (!features || Count(u.shape) != *features || !PerFeature(u.shape)) return std::nullopt;
  return Role::kBias;
}

std::optional<Role> DecomposedNormScale(const UseContext& u) {
  if (u.node.op_type() != "Mul" || u.node.input_size() != 2 || !PerFeature(u.shape)) return std::nullopt;
  if (!IsNormalized(Other(u.node, u.input), u.index)) return std::nullopt;
  return Role::kNormScale;
}

std::optional<Role> DecomposedNormBias(const UseContext& u) {
  if (u.node.op_type() != "Add" || u.node.input_size() != 2 || !PerFeature(u.shape)) return std::nullopt;
  const onnx::NodeProto* mul = u.index.Producer(Other(u.node, u.input));
  if (mul == nullptr || mul->op_type() != "Mul" || mul->input_size() != 2) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    if (u.index.ConstantValue(mul->input(i)) != nullptr && IsNormalized(mul->input(1 - i), u.index)) {
      return Role::kNormBias;
    }
  }
  return std::nullopt;
}

std::optional<Role> PositionalEmbedding(const UseContext& u) {
  if (u.node.op_type() != "Add" || u.node.input_size() != 2 || NonUnitDims(u.shape) < 2) return std::nullopt;
  if (!FromEmbedding(Other(u.node, u.input), u.index)) return std::nullopt;
  return Role::kPositionalEmbedding;
}

std::optional<Role> ClassToken(const UseContext& u) {
  if (u.node.op_type() != "Concat" || u.shape.size() < 2 || NonUnitDims(u.shape) > 1) return std::nullopt;
  for (int i = 0; i < u.node.input_size(); ++i) {
    if (i != u.input && FromEmbedding(u.node.input(i), u.index)) return Role::kClassToken;
  }
  return std::nullopt;
}

// Layer scale (ConvNeXt, CaiT): a residual branch multiplied by a learned per-channel vector just
// before it is added back: Add(x, Mul(branch, gamma)).
std::optional<Role> LayerScale(const UseContext& u) {
  if (u.node.op_type() != "Mul" || u.node.input_size() != 2 || !PerFeature(u.shape) || Count(u.shape) < 2) {
    return std::nullopt;
  }
  if (u.index.ConstantValue(Other(u.node, u.input)) != nullptr || u.node.output_size() == 0) return std::nullopt;
  for (const Use& next : u.index.Consumers(u.node.output(0))) {
    if (next.node->op_type() != "Add" || next.node->input_size() != 2) continue;
    if (u.index.ConstantValue(next.node->input(1 - next.index)) == nullptr) return Role::kLayerScale;
  }
  return std::nullopt;
}

// The layer whose output `value` is, directly or after the layer's own bias Add.
const onnx::NodeProto* LayerOutput(const std::string& value, const GraphIndex& index) {
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || !IsOnnxDomain(*p)) return nullptr;
  if (TakesTrailingBias(p->op_type())) return p;
  if (p->op_type() != "Add" || p->input_size() != 2) return nullptr;
  for (int i = 0; i < 2; ++i) {
    const onnx::NodeProto* layer = index.Producer(p->input(i));
    if (index.ConstantValue(p->input(1 - i)) != nullptr && layer != nullptr && TakesTrailingBias(layer->op_type())) {
      return layer;
    }
  }
  return nullptr;
}

// A BatchNorm folded into the layer's output as an affine step, as Paddle2ONNX and TensorFlow converters
// write it: Mul(layer output, scale) -> Add(., shift), one value per output channel each. Fresh, such a
// BatchNorm is scale 1 and shift 0 (gamma 1, beta 0, mean 0, var 1): the roles of a norm's scale and B.
bool PerOutputChannel(const onnx::NodeProto& layer, const Shape& shape, const GraphIndex& index) {
  const std::optional<int64_t> features = OutputFeatures(layer, index, /*with_bias=*/true);
  return features && Count(shape) == *features && *features >= 2 && PerFeature(shape);
}

std::optional<Role> FoldedNormScale(const UseContext& u) {
  if (u.node.op_type() != "Mul" || u.node.input_size() != 2) return std::nullopt;
  const onnx::NodeProto* layer = LayerOutput(Other(u.node, u.input), u.index);
  if (layer == nullptr || !PerOutputChannel(*layer, u.shape, u.index)) return std::nullopt;
  return Role::kNormScale;
}

std::optional<Role> FoldedNormShift(const UseContext& u) {
  if (u.node.op_type() != "Add" || u.node.input_size() != 2) return std::nullopt;
  const onnx::NodeProto* mul = u.index.Producer(Other(u.node, u.input));
  if (mul == nullptr || mul->op_type() != "Mul" || mul->input_size() != 2) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    const onnx::TensorProto* scale = u.index.ConstantValue(mul->input(i));
    const onnx::NodeProto* layer = LayerOutput(mul->input(1 - i), u.index);
    if (scale != nullptr && layer != nullptr && PerOutputChannel(*layer, u.shape, u.index) &&
        PerOutputChannel(*layer, Shape(scale->dims().begin(), scale->dims().end()), u.index)) {
      return Role::kNormBias;
    }
  }
  return std::nullopt;
}

// First match wins: a layer scale (before a residual Add) is tried before a folded BatchNorm.
constexpr PatternRule kPatternRules[] = {TrailingBias, DecomposedNormScale, DecomposedNormBias, LayerScale,
                                         FoldedNormScale, FoldedNormShift, PositionalEmbedding, ClassToken};

class UseFinder {
 public:
  UseFinder(const GraphIndex& index, bool integer) : index_(index), integer_(integer) {}

  // Every use of `value` (seen with `shape`) that gives a role, following the ops that move data
  // (layout ops, and Slice, Split, Concat, Gather that cut or assemble weights: passes/graph/assembly.h).
  void Follow(const std::string& value, const Shape& shape, bool shape_known, const onnx::NodeProto* entry,
              int entry_input, std::vector<std::string> through, std::vector<LayerUse>* uses) {
    if (through.size() > kMaxChain) return;
    for (const Use& use : index_.Consumers(value)) {
      const onnx::NodeProto* first = entry != nullptr ? entry : use.node;
      const int first_input = entry != nullptr ? entry_input : use.index;
      if (Moves(*use.node, use.index)) {
        // An integer tensor is a parameter only as the quantized side of a DequantizeLinear.
        if (integer_ && through.empty() && use.node->op_type() != "DequantizeLinear") continue;
        const LayoutOp* op = FindLayoutOp(*use.node);
        Shape next = shape;
        const bool known = shape_known && op != nullptr && op->shape(*use.node, index_, next);
        std::vector<std::string> chain = through;
        chain.push_back(use.node->op_type());
        const size_t before = uses->size();
        for (const auto& out : use.node->output()) {
          if (!out.empty()) Follow(out, next, known, first, first_input, chain, uses);
        }
        // A Gather with constant indices that leads to no layer is an embedding lookup after all.
        if (uses->size() > before || use.node->op_type() != "Gather") continue;
      }
      LayerUse found{nullptr, first, first_input, use.node, use.index, Role::kUnknown, through, shape, shape_known,
                     {{first, first_input}}, nullptr};
      // The value the layer reads, traced back to the stored tensors it is assembled from.
      if (auto a = Assemble(use.node->input(use.index), index_)) {
        found.shape = a->shape();
        found.shape_known = true;
        found.assembly = std::make_shared<const Assembly>(std::move(*a));
      }
      if (const OpInputRule* rule = FindOpInputRule(*use.node, use.index)) {
        if (integer_ && !rule->quantized && (through.empty() || through[0] != "DequantizeLinear")) continue;
        found.rule = rule;
        found.role = rule->role;
        // Gather of a matrix is an embedding lookup; Gather of a vector or scalar is indexing.
        if (found.role == Role::kEmbedding && found.shape.size() != 2) continue;
      } else if (!integer_ && IsOnnxDomain(*use.node)) {
        const UseContext context{*use.node, use.index, found.shape, index_};
        for (PatternRule rule : kPatternRules) {
          if (auto role = rule(context)) {
            found.role = *role;
            break;
          }
        }
      }
      if (found.role != Role::kUnknown) Add(std::move(found), uses);
    }
  }

 private:
  // Whether the walk goes on through `node`: a Concat only when every input is a constant (a weight
  // assembled from pieces); one with a computed input is where a class token joins the patches.
  bool Moves(const onnx::NodeProto& node, int input) const {
    if (!MovesData(node, input, index_)) return false;
    return node.op_type() != "Concat" || (node.output_size() > 0 && Assemble(node.output(0), index_).has_value());
  }

  // One use per layer input: a tensor cut into Slices that meet again in one Concat reaches its layer
  // by several paths, which are entries of the same use.
  static void Add(LayerUse found, std::vector<LayerUse>* uses) {
    for (LayerUse& u : *uses) {
      if (u.layer == found.layer && u.layer_input == found.layer_input) {
        u.entries.push_back(found.entries[0]);
        return;
      }
    }
    uses->push_back(std::move(found));
  }

  const GraphIndex& index_;
  bool integer_;
};

std::string Where(const LayerUse& u, const GraphIndex& index) {
  return u.layer->op_type() + " '" + index.NodeLabel(*u.layer) + "' input " + std::to_string(u.layer_input);
}

ParamRow MakeRow(const std::string& name, onnx::TensorProto* tensor, const std::string& source,
                 const GraphInfo& graph, const GraphIndex& index) {
  ParamRow row;
  row.name = name;
  row.dtype = tensor->data_type();
  row.shape.assign(tensor->dims().begin(), tensor->dims().end());
  row.source = source;
  row.graph = graph.path;
  row.tensor = tensor;
  for (const Use& use : index.Consumers(name)) {
    row.consumers.push_back({index.NodeLabel(*use.node), use.node->op_type(), use.index});
  }
  return row;
}

// A tensor of another type where a layer expects its float weight (a string tensor as MatMul's B): the
// model cannot be what its exporter meant, and the tool will not touch it — the user should hear it.
std::string MisplacedWarning(const ParamRow& row, const GraphIndex& index) {
  for (const Use& use : index.Consumers(row.name)) {
    const OpInputRule* rule = FindOpInputRule(*use.node, use.index);
    if (rule == nullptr || rule->quantized) continue;
    return "tensor '" + row.name + "' (" + DTypeName(row.dtype) + ") is in the " + NameOf(rule->role) + " slot of " +
           use.node->op_type() + " '" + index.NodeLabel(*use.node) + "' input " + std::to_string(use.index) +
           ": only float tensors are re-initialized, so it is kept";
  }
  return "";
}

// The role and what goes with it, from the row's uses: an embedding use decides (tied embedding / LM
// head); otherwise the first use in graph order, and uses with other roles are conflicts.
void Decide(ParamRow& row, const GraphIndex& index) {
  std::stable_partition(row.uses.begin(), row.uses.end(),
                        [](const LayerUse& u) { return u.role == Role::kEmbedding; });
  const LayerUse& primary = row.uses[0];
  row.role = primary.role;
  row.quantized = !IsFloatType(row.dtype);
  row.role_reason = std::string(NameOf(row.role)) + " of " + Where(primary, index);
  // The float bias of an integer layer stays with that layer's (kept) quantized weights.
  if (row.role == Role::kBias && primary.rule == nullptr && primary.layer->input_size() == 2) {
    if (const onnx::NodeProto* q = QuantizedLayerBehind(Other(*primary.layer, primary.layer_input), index)) {
      row.quantized = true;
      row.role_reason += ", the bias of " + q->op_type() + " '" + index.NodeLabel(*q) + "'";
    }
  }
  if (!primary.through.empty()) {
    std::string chain;
    for (const auto& op : primary.through) chain += (chain.empty() ? "" : ", ") + op;
    row.role_reason += " through " + chain;
  }
  row.conflicts.clear();
  for (size_t i = 1; i < row.uses.size(); ++i) {
    if (row.uses[i].role != row.role) {
      row.conflicts.push_back(std::string("also used as ") + NameOf(row.uses[i].role) + " by " +
                              Where(row.uses[i], index));
    }
  }
}

// Fills the row's role from its uses; returns a warning for the user, or "".
std::string Classify(ParamRow& row, const GraphIndex& index) {
  const bool is_float = IsFloatType(row.dtype);
  UseFinder(index, !is_float).Follow(row.name, row.shape, true, nullptr, 0, {}, &row.uses);
  if (row.uses.empty()) {
    row.role_reason = !is_float ? "not a float tensor (" + DTypeName(row.dtype) + ")"
                      : row.consumers.empty() ? "no node consumes it"
                                              : "no rule for how it is consumed";
    return is_float ? "" : MisplacedWarning(row, index);
  }
  Decide(row, index);
  return "";
}

// "[:, 0:16]": the box of stored coordinates a piece covers, for the report and the table.
std::string BoxText(const std::vector<int64_t>& elements, const Shape& shape) {
  Shape lo(shape.size(), INT64_MAX), hi(shape.size(), -1);
  for (int64_t e : elements) {
    for (size_t k = shape.size(); k-- > 0;) {
      const int64_t c = e % shape[k];
      e /= shape[k];
      lo[k] = std::min(lo[k], c);
      hi[k] = std::max(hi[k], c);
    }
  }
  std::string text = "[";
  for (size_t k = 0; k < shape.size(); ++k) {
    text += k ? ", " : "";
    text += lo[k] == 0 && hi[k] == shape[k] - 1 ? ":" : std::to_string(lo[k]) + ":" + std::to_string(hi[k] + 1);
  }
  return text + "]";
}

// Pieces of one tensor that reach different layers (a fused QKV weight Split into three MatMuls): the
// uses are grouped by the stored elements they read; when the groups are disjoint, each is a row of
// its own, decided by its own uses and generated over its own elements. Otherwise the tensor is one
// row (its first use decides, as for any shared tensor).
std::vector<ParamRow> SplitIntoPieces(ParamRow row, const GraphIndex& index) {
  // The common cases, without listing elements: one use, or every use reading the whole tensor.
  if (row.uses.size() < 2) return {std::move(row)};
  const int64_t stored = Product(row.shape);
  if (std::all_of(row.uses.begin(), row.uses.end(), [&](const LayerUse& use) {
        return use.assembly == nullptr || use.assembly->UsesAllOnce(row.name, stored);
      })) {
    return {std::move(row)};
  }
  std::vector<std::pair<std::vector<int64_t>, std::vector<LayerUse>>> groups;
  for (const LayerUse& use : row.uses) {
    if (use.assembly == nullptr) return {std::move(row)};
    std::vector<int64_t> elements = use.assembly->Uses(row.name);
    auto same = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == elements; });
    if (same != groups.end()) {
      same->second.push_back(use);
      continue;
    }
    for (const auto& g : groups) {
      std::vector<int64_t> common;
      std::set_intersection(g.first.begin(), g.first.end(), elements.begin(), elements.end(), std::back_inserter(common));
      if (!common.empty()) return {std::move(row)};  // overlapping reads: one row
    }
    groups.emplace_back(std::move(elements), std::vector<LayerUse>{use});
  }
  if (groups.size() < 2) return {std::move(row)};
  std::vector<ParamRow> pieces;
  for (auto& [elements, uses] : groups) {
    ParamRow piece = row;
    piece.uses = std::move(uses);
    for (int64_t e : elements) {
      if (!piece.piece.empty() && piece.piece.back().second == e) ++piece.piece.back().second;
      else piece.piece.emplace_back(e, e + 1);
    }
    piece.piece_text = BoxText(elements, row.shape);
    Decide(piece, index);
    piece.role_reason = "piece " + piece.piece_text + ": " + piece.role_reason;
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

// ---- gated projections: recurrent cells exported without an LSTM/GRU op ------------------------

// The gate nonlinearities (Sigmoid, Tanh) a dense layer's output is split into: the layer's output,
// possibly after its bias Add and an Add of the other projection, Split into `gates` equal chunks on
// the feature axis, each reaching a Sigmoid or Tanh through at most a few Add/Mul/Sub. Empty otherwise.
struct GateSplit {
  int64_t gates = 0;
  std::set<const onnx::NodeProto*> nonlinearities;
};

GateSplit FindGateSplit(const onnx::NodeProto& layer, const GraphIndex& index) {
  std::vector<std::pair<std::string, int>> queue = {{layer.output(0), 0}};
  for (size_t q = 0; q < queue.size(); ++q) {
    const auto [value, depth] = queue[q];
    for (const Use& use : index.Consumers(value)) {
      const onnx::NodeProto& n = *use.node;
      if (!IsOnnxDomain(n)) continue;
      if (n.op_type() == "Add" && depth < 3) queue.push_back({n.output(0), depth + 1});
      if (n.op_type() != "Split" || use.index != 0 || (n.output_size() != 3 && n.output_size() != 4)) continue;
      // Equal chunks (the sizes input or attribute, when given, all alike).
      Shape sizes = IntsAttr(n, "split");
      if (auto s = ConstInts(index, n, 1)) sizes = *s;
      if (!sizes.empty() && std::adjacent_find(sizes.begin(), sizes.end(), std::not_equal_to<>()) != sizes.end()) continue;
      GateSplit found{n.output_size(), {}};
      for (const auto& out : n.output()) {
        std::vector<std::pair<std::string, int>> walk = {{out, 0}};
        size_t before = found.nonlinearities.size();
        for (size_t w = 0; w < walk.size(); ++w) {
          for (const Use& next : index.Consumers(walk[w].first)) {
            const std::string& op = next.node->op_type();
            if (op == "Sigmoid" || op == "Tanh") found.nonlinearities.insert(next.node);
            else if ((op == "Add" || op == "Mul" || op == "Sub") && walk[w].second < 3) {
              walk.push_back({next.node->output(0), walk[w].second + 1});
            }
          }
        }
        if (found.nonlinearities.size() == before) return {};
      }
      return found;
    }
  }
  return {};
}

// PyTorch exports nn.LSTMCell and nn.GRUCell as dense layers, x W_ih^T + b_ih and h W_hh^T + b_hh, whose
// outputs are split into the gates (LSTM: summed, then 4 gates; GRU: each split into 3). Their weights
// are recurrent weights of G gate blocks: the projections that feed one set of gates are a cell, and
// the one whose input size is the gate size H — when only one is — reads the hidden state (R); the
// others read the input (W). With input size = H the two cannot be told apart: both are W (Xavier per
// gate, the same as W's rule), none made orthogonal on a guess.
void MarkGatedProjections(ParamTable& table, const GraphIndex& index) {
  std::map<std::set<const onnx::NodeProto*>, std::vector<std::pair<ParamRow*, int64_t>>> cells;
  for (ParamRow& row : table) {
    if (row.role != Role::kWeight || row.uses[0].rule == nullptr || row.shape.size() != 2 || !row.piece.empty()) continue;
    const std::string& op = row.layer()->op_type();
    if (op != "Gemm" && op != "MatMul") continue;
    const GateSplit split = FindGateSplit(*row.layer(), index);
    if (split.gates == 0) continue;
    // W [out, in] (Gemm transB) or [in, out].
    const bool out_first = row.uses[0].rule->fan == FanRule::kGemmB && IntAttr(*row.layer(), "transB", 0) != 0;
    const int64_t out = row.uses[0].shape[out_first ? 0 : 1], in = row.uses[0].shape[out_first ? 1 : 0];
    if (out % split.gates != 0) continue;
    row.split_gates = split.gates;
    cells[split.nonlinearities].emplace_back(&row, in == out / split.gates ? 1 : 0);
  }
  for (auto& [gates, projections] : cells) {
    int hidden = 0;
    for (const auto& p : projections) hidden += static_cast<int>(p.second);
    for (auto& [row, square] : projections) {
      const bool is_hidden = projections.size() >= 2 && hidden == 1 && square;
      row->role = is_hidden ? Role::kRecurrentHidden : Role::kRecurrentInput;
      row->role_reason = std::string(NameOf(row->role)) + ": " + row->layer()->op_type() + " '" +
                         index.NodeLabel(*row->layer()) + "' is a gate projection of a recurrent cell (its output is "
                         "split into " + std::to_string(row->split_gates) + " gates)";
    }
  }
}

class FindParamsPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status FindParamsPass::Run(PassContext& ctx, Counters& counters) {
  const GraphIndex& index = *ctx.index;
  if (!index.complete()) {
    return {ExitCode::kUnsupported, "subgraphs are nested deeper than " + std::to_string(kMaxGraphDepth) + " levels"};
  }
  REINIT_RETURN_IF_ERROR(CheckStructure(index));
  auto add = [&](ParamRow row) -> Status {
    int64_t count = 0;
    REINIT_RETURN_IF_ERROR(ElementCount(*row.tensor, &count));
    if (row.dtype == onnx::TensorProto::UNDEFINED || !onnx::TensorProto_DataType_IsValid(row.dtype)) {
      return {ExitCode::kBadModel, "tensor '" + row.name + "': " +
                                       (row.dtype == 0 ? std::string("data_type is undefined")
                                                       : "unknown data_type " + std::to_string(row.dtype))};
    }
    if (std::string warning = Classify(row, index); !warning.empty()) ctx.warnings.push_back(warning);
    // A parameter will be rewritten: its data must match its shape before anything is allocated for it.
    if (row.role != Role::kUnknown && !row.quantized) REINIT_RETURN_IF_ERROR(ValidateStorage(*row.tensor));
    ++counters[row.role == Role::kUnknown ? "unclassified" : "classified"];
    if (row.uses.size() > 1) ++counters["shared"];
    std::vector<ParamRow> pieces = SplitIntoPieces(std::move(row), index);
    if (pieces.size() > 1) counters["pieces"] += static_cast<int64_t>(pieces.size());
    for (ParamRow& piece : pieces) ctx.table->push_back(std::move(piece));
    return Status::Ok();
  };
  for (const InitializerRef& init : index.initializers()) {
    REINIT_RETURN_IF_ERROR(add(MakeRow(init.tensor->name(), init.tensor, "initializer", *init.graph, index)));
  }
  for (const ConstantTensor& c : index.constants()) {
    if (c.node->output_size() == 0 || c.node->output(0).empty()) continue;
    REINIT_RETURN_IF_ERROR(add(MakeRow(c.node->output(0), c.tensor, "constant_node", *c.graph, index)));
  }
  MarkGatedProjections(*ctx.table, index);
  counters["tensors"] = static_cast<int64_t>(ctx.table->size());
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Pass> MakeFindParamsPass() { return std::make_unique<FindParamsPass>(); }

}  // namespace reinit
