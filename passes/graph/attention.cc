#include "passes/graph/attention.h"

#include <algorithm>
#include <set>

namespace reinit {

namespace {

constexpr int kMaxDepth = 16;

bool IsOp(const onnx::NodeProto& node, std::initializer_list<const char*> ops) {
  return std::any_of(ops.begin(), ops.end(), [&](const char* op) { return node.op_type() == op; });
}

// A value computed from constants alone: a weight, or a weight sliced, transposed or cast.
bool FromConstants(const std::string& value, const GraphIndex& index, int depth = 0) {
  if (index.ConstantValue(value) != nullptr) return true;
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || depth > kMaxDepth || p->input_size() == 0) return false;
  for (const auto& in : p->input()) {
    if (!in.empty() && !FromConstants(in, index, depth + 1)) return false;
  }
  return true;
}

// A layer: MatMul or Gemm of a computed value and a weight.
bool IsProjection(const onnx::NodeProto& node, const GraphIndex& index) {
  if (!IsOp(node, {"MatMul", "Gemm"}) || node.input_size() < 2) return false;
  const bool a = FromConstants(node.input(0), index), b = FromConstants(node.input(1), index);
  return a != b;
}

// The projection layer a value of the attention comes from: back through layout ops (a packed
// projection's output is sliced, split or gathered into Q, K and V), scaling by a constant and bias
// Adds. Null when there is none.
const onnx::NodeProto* ProjectionBehind(const std::string& value, const GraphIndex& index, int depth = 0) {
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || depth > kMaxDepth) return nullptr;
  if (IsProjection(*p, index)) return p;
  if (IsOp(*p, {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Cast", "Slice", "Split", "Gather",
                "Flatten"})) {
    return p->input_size() > 0 ? ProjectionBehind(p->input(0), index, depth + 1) : nullptr;
  }
  if (IsOp(*p, {"Add", "Mul", "Div"}) && p->input_size() == 2) {
    const bool c0 = FromConstants(p->input(0), index), c1 = FromConstants(p->input(1), index);
    if (c0 != c1) return ProjectionBehind(p->input(c0 ? 1 : 0), index, depth + 1);
  }
  return nullptr;
}

// The MatMul of Q and K^T behind a Softmax's input: back through scaling, the mask (Add, Where) and
// casts.
const onnx::NodeProto* ScoresBehind(const std::string& value, const GraphIndex& index, int depth = 0) {
  const onnx::NodeProto* p = index.Producer(value);
  if (p == nullptr || depth > 6) return nullptr;
  if (p->op_type() == "MatMul") {
    return p->input_size() == 2 && !FromConstants(p->input(0), index) && !FromConstants(p->input(1), index) ? p
                                                                                                            : nullptr;
  }
  if (!IsOp(*p, {"Div", "Mul", "Add", "Sub", "Where", "Cast", "Identity"})) return nullptr;
  for (const auto& in : p->input()) {
    if (in.empty() || FromConstants(in, index)) continue;
    if (const onnx::NodeProto* m = ScoresBehind(in, index, depth + 1)) return m;
  }
  return nullptr;
}

// The first node reading `value` at input 0 among `ops`, through `through` (one consumer each).
const onnx::NodeProto* Forward(const std::string& value, const GraphIndex& index,
                               std::initializer_list<const char*> through, int depth = 0) {
  if (depth > kMaxDepth) return nullptr;
  for (const Use& use : index.Consumers(value)) {
    if (use.node->op_type() == "MatMul" || use.node->op_type() == "Gemm") {
      if (use.index == 0) return use.node;
      continue;
    }
    if (std::any_of(through.begin(), through.end(), [&](const char* op) { return use.node->op_type() == op; }) &&
        use.index == 0 && use.node->output_size() > 0) {
      if (const onnx::NodeProto* n = Forward(use.node->output(0), index, through, depth + 1)) return n;
    }
  }
  return nullptr;
}

std::string Scope(const onnx::NodeProto& node) {
  const size_t slash = node.name().rfind('/');
  return slash == std::string::npos ? std::string() : node.name().substr(0, slash);
}

}  // namespace

std::vector<AttentionLayers> FindAttention(const GraphIndex& index) {
  std::vector<AttentionLayers> found;
  for (const GraphInfo& graph : index.graphs()) {
    for (const onnx::NodeProto& softmax : graph.graph->node()) {
      if (softmax.op_type() != "Softmax" || softmax.input_size() < 1 || softmax.output_size() < 1) continue;
      const onnx::NodeProto* scores = ScoresBehind(softmax.input(0), index);
      const onnx::NodeProto* context = Forward(softmax.output(0), index, {"Dropout", "Cast", "Identity"});
      if (scores == nullptr || context == nullptr || context->op_type() != "MatMul" || context->output_size() < 1 ||
          FromConstants(context->input(1), index)) {
        continue;
      }
      AttentionLayers a;
      for (const std::string* v : {&scores->input(0), &scores->input(1), &context->input(1)}) {
        const onnx::NodeProto* proj = ProjectionBehind(*v, index);
        if (proj == nullptr) {
          a.in_proj.clear();
          break;
        }
        if (std::find(a.in_proj.begin(), a.in_proj.end(), proj) == a.in_proj.end()) a.in_proj.push_back(proj);
      }
      a.out_proj = Forward(context->output(0), index, {"Transpose", "Reshape", "Identity", "Cast", "Flatten"});
      if (a.in_proj.empty() || a.out_proj == nullptr || !IsProjection(*a.out_proj, index)) continue;
      const std::string scope = Scope(*a.out_proj);
      a.one_scope = !scope.empty() && std::all_of(a.in_proj.begin(), a.in_proj.end(), [&](const onnx::NodeProto* n) {
        return Scope(*n) == scope;
      });
      found.push_back(std::move(a));
    }
  }
  return found;
}

}  // namespace reinit
