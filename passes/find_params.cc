// find-params: one row per initializer of the main graph, with its dtype, shape and consumers, and a
// role read from how it is consumed. Reads: the model. Writes: name, dtype, shape, source, tensor,
// consumers, role, layer, layer_input, role_reason.
//
// A role comes from the op table (op type + input index), never from a tensor's name or size:
//   Conv(X, W, B)         W -> weight, B -> bias
//   MatMul(X, W) -> Add(., b)   W -> weight; b -> bias when the Add follows a layer with a parameter
//                         and b holds one value per output feature (shape [N], [1,N], [1,M,1,1], ...)
// A float tensor no rule covers keeps role "unknown" and is left untouched.
#include "passes/find_params.h"

#include <optional>

#include "passes/op_table.h"
#include "passes/tensor_data.h"

namespace reinit {

namespace {

bool IsDefaultDomain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

// The number of output features of a layer node whose weight is an initializer, if it can be read.
std::optional<int64_t> OutputFeatures(const onnx::NodeProto& layer, const GraphIndex& index) {
  auto weight = [&](int input) -> const onnx::TensorProto* {
    return layer.input_size() > input ? index.Initializer(layer.input(input)) : nullptr;
  };
  const std::string& op = layer.op_type();
  if (op == "Conv" || op == "ConvTranspose") {
    const onnx::TensorProto* w = weight(1);
    if (w == nullptr || w->dims_size() < 2 || (layer.input_size() > 2 && !layer.input(2).empty())) return std::nullopt;
    return op == "Conv" ? w->dims(0) : w->dims(1) * IntAttr(layer, "group", 1);
  }
  if (op == "Gemm") {
    const onnx::TensorProto* w = weight(1);
    if (w == nullptr || w->dims_size() != 2 || (layer.input_size() > 2 && !layer.input(2).empty())) return std::nullopt;
    return IntAttr(layer, "transB", 0) != 0 ? w->dims(0) : w->dims(1);
  }
  if (op == "MatMul") {
    const onnx::TensorProto* w = weight(1);
    if (w == nullptr || w->dims_size() < 2) return std::nullopt;
    return w->dims(w->dims_size() - 1);
  }
  return std::nullopt;
}

// A bias added by a separate Add: one value per output feature of the layer that produces the Add's
// other operand, laid out so it broadcasts along the feature axis only.
bool IsTrailingBias(const onnx::TensorProto& t, const onnx::NodeProto& add, int input, const GraphIndex& index) {
  if (add.op_type() != "Add" || !IsDefaultDomain(add) || add.input_size() != 2) return false;
  const onnx::NodeProto* layer = index.Producer(add.input(1 - input));
  if (layer == nullptr || !IsDefaultDomain(*layer) || !TakesTrailingBias(layer->op_type())) return false;
  const std::optional<int64_t> features = OutputFeatures(*layer, index);
  if (!features) return false;
  int non_unit = 0;
  int64_t count = 1;
  for (int64_t d : t.dims()) {
    count *= d;
    non_unit += d != 1;
  }
  return count == *features && non_unit <= 1;
}

}  // namespace

Status FindParamsPass::Run(PassContext& ctx) {
  const GraphIndex& index = *ctx.index;
  auto& counters = ctx.counters["find-params"];
  for (auto& tensor : *index.mutable_graph()->mutable_initializer()) {
    ParamRow row;
    row.name = tensor.name();
    row.dtype = tensor.data_type();
    row.shape.assign(tensor.dims().begin(), tensor.dims().end());
    row.source = "initializer";
    row.tensor = &tensor;
    for (const Use& use : index.Consumers(tensor.name())) {
      row.consumers.push_back({index.NodeLabel(*use.node), use.node->op_type(), use.index});
    }
    int64_t count = 0;
    REINIT_RETURN_IF_ERROR(ElementCount(tensor, &count));

    if (!IsFloatType(tensor.data_type())) {
      row.role_reason = "not a float tensor (" + DTypeName(tensor.data_type()) + ")";
    } else if (row.consumers.empty()) {
      row.role_reason = "no node of the main graph consumes it";
    } else {
      for (const Use& use : index.Consumers(tensor.name())) {
        Role role = Role::kUnknown;
        const OpInputRule* rule = IsDefaultDomain(*use.node) ? FindOpInputRule(use.node->op_type(), use.index) : nullptr;
        if (rule != nullptr) {
          role = rule->role;
          // Gather of a matrix is an embedding lookup; Gather of a vector or scalar is indexing.
          if (role == Role::kEmbedding && tensor.dims_size() != 2) role = Role::kUnknown;
        } else if (IsTrailingBias(tensor, *use.node, use.index, index)) {
          role = Role::kBias;
        }
        if (role == Role::kUnknown) continue;
        const std::string where = use.node->op_type() + " '" + index.NodeLabel(*use.node) + "' input " +
                                  std::to_string(use.index);
        if (row.role == Role::kUnknown) {
          row.role = role;
          row.layer = use.node;
          row.layer_input = use.index;
          row.role_reason = RoleName(role) + std::string(" of ") + where;
        } else if (role != row.role) {
          row.role_reason += "; also used as " + std::string(RoleName(role)) + " by " + where + " (first use decides)";
        }
      }
      if (row.role == Role::kUnknown) row.role_reason = "no rule for how it is consumed";
    }
    ++counters[row.role == Role::kUnknown ? "unclassified" : "classified"];
    ctx.table->push_back(std::move(row));
  }
  counters["tensors"] = static_cast<int64_t>(ctx.table->size());
  return Status::Ok();
}

}  // namespace reinit
