// infer-activation: for every weight row, follow the layer's output forward to the first nonlinearity.
// residual_add is the residual Add passed before the activation (the layer ends a residual branch); a
// conflict is noted when another use of a shared weight sees a different activation.
//
//   Conv -> Add(bias) -> BatchNormalization -> Relu        relu, path Add,BatchNormalization,Relu
//   MatMul -> Add -> Div -> Erf -> Add -> Mul(x, .)        gelu (decomposed: x * f(x))
//   MatMul -> Sigmoid, Mul(x, Sigmoid(x))                  silu
//   Gemm -> (graph output)                                 linear
//   MatMul -> Add -> MatMul                                linear (the next layer came first)
//   com.microsoft FusedConv <activation = "Relu">          relu (from the attribute)
//   Conv -> Mul(s [1,C,1,1]) -> Add(t) -> x*Clip(x+3,0,6)/6  hardswish (through a folded BatchNorm)
//   Conv -> Concat -> BatchNormalization -> Relu           relu (DenseNet)
//   ConvInteger -> Cast -> Mul(x_scale * w_scale) -> Add -> Relu    relu (dequantized)
//   Gemm -> ReduceMean, Sub, Pow, .., Div, Mul, Add -> Relu  relu (through a decomposed LayerNorm)
//
// The walk is breadth first through pass-through ops (activations.cc lists them, with the inputs they
// carry) and decomposed normalizations, into Loop/Scan bodies through their inputs, out of bodies
// through their outputs, and stops on each branch at the first activation, the next layer or any other
// op. Shape and Size consumers are not uses of the values and are skipped. The first activation found
// wins; the layer is linear only when no branch finds one. Recurrent weights take the gate activations
// of their op.
#include "passes/passes.h"

#include <cctype>
#include <deque>
#include <unordered_set>

#include "passes/graph/activations.h"

namespace reinit {

namespace {

// Longest chain of ops followed before giving up (a guard against pathological graphs).
constexpr size_t kMaxPathLength = 64;

struct Found {
  Activation activation;
  std::vector<std::string> path;
  const onnx::NodeProto* residual_add = nullptr;  // a residual Add passed on the way
};

// An Add of two computed values (not a bias, even one the exporter reads through an Identity) that
// `value` reaches as the branch side: where a residual branch rejoins the main path. The skip side is
// the value the branch also starts from, so it has other consumers besides the Add (Shape and Size
// aside); a layer whose output is the skip (a stem, a patch embedding) does not end a branch.
bool IsResidualAdd(const onnx::NodeProto& node, const std::string& value, const GraphIndex& index) {
  if (node.op_type() != "Add" || node.input_size() != 2 || ConstantThroughIdentity(node.input(0), index) != nullptr ||
      ConstantThroughIdentity(node.input(1), index) != nullptr) {
    return false;
  }
  for (const Use& use : index.Consumers(value)) {
    if (use.node != &node && !ReadsOnlyShape(*use.node)) return false;
  }
  return true;
}

Found FollowToActivation(const onnx::NodeProto& layer, const GraphIndex& index, int64_t opset) {
  if (auto fused = FusedActivation(layer, opset)) return {*fused, {layer.op_type() + ".activation"}};
  struct Item {
    std::string value;
    std::vector<std::string> path;
    const onnx::NodeProto* residual = nullptr;
  };
  std::deque<Item> queue;
  std::unordered_set<std::string> seen;
  if (layer.output_size() > 0) queue.push_back({layer.output(0), {}});
  std::optional<std::vector<std::string>> first_end;
  const onnx::NodeProto* first_end_residual = nullptr;
  while (!queue.empty()) {
    Item item = std::move(queue.front());
    queue.pop_front();
    if (!seen.insert(item.value).second || item.path.size() > kMaxPathLength) continue;
    if (index.IsGraphOutput(item.value) && !first_end) {
      first_end = item.path;
      first_end->push_back("(graph output)");
      first_end_residual = item.residual;
    }
    if (auto outer = index.OuterValue(item.value)) {
      std::vector<std::string> path = item.path;
      path.push_back("(body output)");
      queue.push_back({*outer, std::move(path), item.residual});
    }
    if (auto gated = MatchGatedActivation(item.value, index)) {
      std::vector<std::string> path = item.path;
      path.insert(path.end(), gated->ops.begin(), gated->ops.end());
      return {gated->activation, path, item.residual};
    }
    // A decomposed normalization of the value: the search goes on from its output, and the nodes it
    // is made of are no consumers that end the search.
    std::unordered_set<const onnx::NodeProto*> norm_nodes;
    if (auto norm = MatchNormalization(item.value, index)) {
      std::vector<std::string> path = item.path;
      path.insert(path.end(), norm->ops.begin(), norm->ops.end());
      for (const auto& output : norm->outputs) queue.push_back({output, path, item.residual});
      norm_nodes.insert(norm->nodes.begin(), norm->nodes.end());
    }
    for (const Use& use : index.Consumers(item.value)) {
      if (norm_nodes.count(use.node) || ReadsOnlyShape(*use.node)) continue;
      std::vector<std::string> path = item.path;
      path.push_back(use.node->op_type());
      if (auto body_inputs = index.BodyInputs(*use.node, use.index); !body_inputs.empty()) {
        for (const auto& input : body_inputs) queue.push_back({input, path, item.residual});
        continue;
      }
      if (use.index == 0) {
        if (auto act = ClassifyActivation(*use.node, index, opset, kPReluInitSlope)) return {*act, path, item.residual};
      }
      if (auto outputs = PassThroughOutputs(*use.node, use.index, index); !outputs.empty()) {
        const onnx::NodeProto* residual =
            item.residual != nullptr ? item.residual : IsResidualAdd(*use.node, item.value, index) ? use.node : nullptr;
        for (const auto& output : outputs) queue.push_back({output, path, residual});
        continue;
      }
      if (!first_end) {  // the next layer, or an op that ends the search
        first_end = path;
        first_end_residual = item.residual;
      }
    }
  }
  return {Activation{"linear", ActivationFamily::kLinear}, first_end.value_or(std::vector<std::string>{}),
          first_end_residual};
}

// The gate activations of LSTM/GRU/RNN: the `activations` attribute, else the ONNX defaults.
std::string RecurrentActivations(const onnx::NodeProto& node) {
  std::string names;
  for (const auto& attr : node.attribute()) {
    if (attr.name() != "activations") continue;
    for (const auto& s : attr.strings()) {
      std::string lower;
      for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      names += (names.empty() ? "" : ",") + lower;
    }
  }
  if (!names.empty()) return names;
  if (node.op_type() == "LSTM") return "sigmoid,tanh,tanh";
  if (node.op_type() == "GRU") return "sigmoid,tanh";
  if (node.op_type() == "RNN") return "tanh";
  return "sigmoid,tanh";  // a cell's dense gate projection (find-params): its gates
}

class InferActivationPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status InferActivationPass::Run(PassContext& ctx, Counters& counters) {
  const int64_t opset = DefaultOpset(*ctx.model);
  for (ParamRow& row : *ctx.table) {
    if (row.layer() == nullptr || !row.fans.has_value()) continue;
    if (IsRecurrentWeight(row.role)) {
      row.act.name = RecurrentActivations(*row.layer());
      row.act.family = ActivationFamily::kSigmoidTanh;
      row.act.path = {row.layer()->op_type()};
      ++counters["recurrent"];
      continue;
    }
    if (row.role != Role::kWeight) continue;
    Found found = FollowToActivation(*row.layer(), *ctx.index, opset);
    row.act.name = found.activation.kind;
    row.act.family = found.activation.family;
    row.act.param = found.activation.slope;
    row.act.path = std::move(found.path);
    row.act.residual_add = found.residual_add;
    ++counters[found.activation.kind == "linear" ? "linear" : "activation found"];
    // A shared weight whose other layers see another activation family: the first use decides.
    for (size_t u = 1; u < row.uses.size(); ++u) {
      if (row.uses[u].role != Role::kWeight) continue;
      Found other = FollowToActivation(*row.uses[u].layer, *ctx.index, opset);
      if (other.activation.family != found.activation.family) {
        row.conflicts.push_back("also used by " + row.uses[u].layer->op_type() + " '" +
                                ctx.index->NodeLabel(*row.uses[u].layer) + "' followed by " + other.activation.kind +
                                " (first use decides)");
        ++counters["activation conflicts"];
      }
    }
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Pass> MakeInferActivationPass() { return std::make_unique<InferActivationPass>(); }

}  // namespace reinit
