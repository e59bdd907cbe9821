#include "passes/graph_index.h"

namespace reinit {

GraphIndex::GraphIndex(onnx::GraphProto* graph) : graph_(graph) {
  for (auto& init : *graph->mutable_initializer()) initializers_[init.name()] = &init;
  for (int n = 0; n < graph->node_size(); ++n) {
    const onnx::NodeProto& node = graph->node(n);
    positions_[&node] = n;
    for (int i = 0; i < node.input_size(); ++i) {
      if (!node.input(i).empty()) consumers_[node.input(i)].push_back({&node, i});
    }
    for (const auto& out : node.output()) {
      if (!out.empty()) producers_[out] = &node;
    }
  }
  for (const auto& out : graph->output()) outputs_.insert(out.name());
}

const std::vector<Use>& GraphIndex::Consumers(const std::string& value) const {
  static const std::vector<Use> kNone;
  auto it = consumers_.find(value);
  return it == consumers_.end() ? kNone : it->second;
}

const onnx::NodeProto* GraphIndex::Producer(const std::string& value) const {
  auto it = producers_.find(value);
  return it == producers_.end() ? nullptr : it->second;
}

onnx::TensorProto* GraphIndex::Initializer(const std::string& name) const {
  auto it = initializers_.find(name);
  return it == initializers_.end() ? nullptr : it->second;
}

bool GraphIndex::IsGraphOutput(const std::string& value) const { return outputs_.count(value) > 0; }

const onnx::TensorProto* GraphIndex::ConstantValue(const std::string& value) const {
  if (const onnx::TensorProto* init = Initializer(value)) return init;
  const onnx::NodeProto* producer = Producer(value);
  if (producer == nullptr || producer->op_type() != "Constant") return nullptr;
  for (const auto& attr : producer->attribute()) {
    if (attr.name() == "value" && attr.has_t()) return &attr.t();
  }
  return nullptr;
}

std::string GraphIndex::NodeLabel(const onnx::NodeProto& node) const {
  if (!node.name().empty()) return node.name();
  auto it = positions_.find(&node);
  return "#" + std::to_string(it == positions_.end() ? -1 : it->second);
}

static const onnx::AttributeProto* FindAttr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& attr : node.attribute()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

int64_t IntAttr(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  const auto* attr = FindAttr(node, name);
  return attr != nullptr && attr->type() == onnx::AttributeProto::INT ? attr->i() : fallback;
}

float FloatAttr(const onnx::NodeProto& node, const std::string& name, float fallback) {
  const auto* attr = FindAttr(node, name);
  return attr != nullptr && attr->type() == onnx::AttributeProto::FLOAT ? attr->f() : fallback;
}

std::string StringAttr(const onnx::NodeProto& node, const std::string& name, const std::string& fallback) {
  const auto* attr = FindAttr(node, name);
  return attr != nullptr && attr->type() == onnx::AttributeProto::STRING ? attr->s() : fallback;
}

int64_t DefaultOpset(const onnx::ModelProto& model) {
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") return opset.version();
  }
  return 0;
}

}  // namespace reinit
