#include "passes/graph/graph_index.h"

namespace reinit {

namespace {

// Upper bound on the number of graphs, so graphs_ never reallocates while it is filled. Counted first.
size_t CountGraphs(const onnx::GraphProto& g, int depth) {
  size_t n = 1;
  if (depth >= kMaxGraphDepth) return n;
  for (const auto& node : g.node()) {
    for (const auto& attr : node.attribute()) {
      if (attr.has_g()) n += CountGraphs(attr.g(), depth + 1);
      for (const auto& sub : attr.graphs()) n += CountGraphs(sub, depth + 1);
    }
  }
  return n;
}

}  // namespace

GraphIndex::GraphIndex(onnx::GraphProto* graph) {
  graphs_.reserve(CountGraphs(*graph, 0));
  Visit(graph, nullptr, "", "main", 0);
}

void GraphIndex::Visit(onnx::GraphProto* graph, const onnx::NodeProto* parent, const std::string& attribute,
                       const std::string& path, int depth) {
  const size_t gi = graphs_.size();
  graphs_.push_back({graph, parent, attribute, path, depth});
  const GraphInfo* info = &graphs_[gi];
  for (auto& init : *graph->mutable_initializer()) {
    initializers_[init.name()] = &init;
    initializer_list_.push_back({&init, info});
  }
  if (parent == nullptr) {
    for (const auto& out : graph->output()) outputs_.insert(out.name());
  } else {
    // Body outputs become outputs of the owning node: If keeps positions, Loop drops the condition.
    const int shift = parent->op_type() == "Loop" ? 1 : 0;
    for (int i = shift; i < graph->output_size(); ++i) {
      if (i - shift < parent->output_size()) outer_values_[graph->output(i).name()] = parent->output(i - shift);
    }
  }
  for (int n = 0; n < graph->node_size(); ++n) {
    onnx::NodeProto* node = graph->mutable_node(n);
    positions_[node] = {n, gi};
    for (int i = 0; i < node->input_size(); ++i) {
      if (!node->input(i).empty()) consumers_[node->input(i)].push_back({node, i});
    }
    for (const auto& out : node->output()) {
      if (!out.empty()) producers_[out] = node;
    }
    for (auto& attr : *node->mutable_attribute()) {
      if (node->op_type() == "Constant" && attr.name() == "value" && attr.has_t()) {
        constants_.push_back({node, attr.mutable_t(), info});
      }
      if (!attr.has_g() && attr.graphs_size() == 0) continue;
      if (depth + 1 > kMaxGraphDepth) {
        complete_ = false;
        continue;
      }
      // The node's own name or position, not NodeLabel (which already carries this graph's path).
      const std::string local = node->name().empty() ? "#" + std::to_string(n) : node->name();
      const std::string sub_path = path + "/" + local + "." + attr.name();
      if (attr.has_g()) Visit(attr.mutable_g(), node, attr.name(), sub_path, depth + 1);
      for (auto& sub : *attr.mutable_graphs()) Visit(&sub, node, attr.name(), sub_path, depth + 1);
    }
  }
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

std::optional<std::string> GraphIndex::OuterValue(const std::string& value) const {
  auto it = outer_values_.find(value);
  if (it == outer_values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> GraphIndex::BodyInputs(const onnx::NodeProto& node, int index) const {
  std::vector<std::string> names;
  if (node.op_type() != "Loop" && node.op_type() != "Scan") return names;
  for (const auto& info : graphs_) {
    if (info.parent == &node && index < info.graph->input_size()) names.push_back(info.graph->input(index).name());
  }
  return names;
}

const GraphInfo& GraphIndex::GraphOf(const onnx::NodeProto& node) const {
  auto it = positions_.find(&node);
  return graphs_[it == positions_.end() ? 0 : it->second.second];
}

std::vector<std::pair<const onnx::NodeProto*, std::string>> GraphIndex::Branches(const GraphInfo& graph) const {
  std::vector<std::pair<const onnx::NodeProto*, std::string>> chain;
  for (const GraphInfo* g = &graph; g->parent != nullptr; g = &GraphOf(*g->parent)) {
    if (g->parent->op_type() == "If") chain.insert(chain.begin(), {g->parent, g->attribute});
  }
  return chain;
}

bool GraphIndex::Exclusive(const GraphInfo& a, const GraphInfo& b) const {
  const auto in_a = Branches(a), in_b = Branches(b);
  for (const auto& [node, branch] : in_a) {
    for (const auto& [other, other_branch] : in_b) {
      if (node == other && branch != other_branch) return true;
    }
  }
  return false;
}

const GraphInfo* GraphIndex::GraphAt(const std::string& path) const {
  for (const GraphInfo& g : graphs_) {
    if (g.path == path) return &g;
  }
  return nullptr;
}

std::vector<int> GraphIndex::TopologicalKey(const onnx::NodeProto& node) const {
  std::vector<int> key;
  for (const onnx::NodeProto* n = &node; n != nullptr;) {
    auto it = positions_.find(n);
    if (it == positions_.end()) break;
    key.insert(key.begin(), it->second.first);
    n = graphs_[it->second.second].parent;
  }
  return key;
}

std::string GraphIndex::NodeLabel(const onnx::NodeProto& node) const {
  if (!node.name().empty()) return node.name();
  auto it = positions_.find(&node);
  if (it == positions_.end()) return "#?";
  const std::string label = "#" + std::to_string(it->second.first);
  return it->second.second == 0 ? label : graphs_[it->second.second].path + "/" + label;
}

static const onnx::AttributeProto* FindAttr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& attr : node.attribute()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

bool HasAttr(const onnx::NodeProto& node, const std::string& name) { return FindAttr(node, name) != nullptr; }

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

std::vector<int64_t> IntsAttr(const onnx::NodeProto& node, const std::string& name) {
  const auto* attr = FindAttr(node, name);
  if (attr == nullptr) return {};
  return {attr->ints().begin(), attr->ints().end()};
}

int64_t DefaultOpset(const onnx::ModelProto& model) {
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") return opset.version();
  }
  return 0;
}

Status CheckStructure(const GraphIndex& index) {
  // Every value a node may read: graph inputs, initializers and node outputs, of any graph (bodies read
  // enclosing scopes' values by name; ONNX names are unique across scopes).
  std::unordered_set<std::string> defined;
  for (const GraphInfo& g : index.graphs()) {
    for (const auto& in : g.graph->input()) defined.insert(in.name());
    for (const auto& init : g.graph->initializer()) defined.insert(init.name());
    for (const auto& node : g.graph->node()) defined.insert(node.output().begin(), node.output().end());
  }
  auto label = [&](const onnx::NodeProto& node) { return "node '" + index.NodeLabel(node) + "' (" + node.op_type() + ")"; };
  for (const GraphInfo& g : index.graphs()) {
    for (const auto& node : g.graph->node()) {
      for (const auto& in : node.input()) {
        if (!in.empty() && !defined.count(in)) {
          return {ExitCode::kBadModel, label(node) + ": input '" + in + "' is produced by no node, graph input or initializer"};
        }
      }
    }
    // Kahn's algorithm over the graph's own edges: what is left over sits on a cycle.
    std::unordered_map<const onnx::NodeProto*, int> waiting;
    std::vector<const onnx::NodeProto*> ready;
    for (const auto& node : g.graph->node()) {
      int n = 0;
      for (const auto& in : node.input()) {
        const onnx::NodeProto* p = in.empty() ? nullptr : index.Producer(in);
        n += p != nullptr && &index.GraphOf(*p) == &g;
      }
      waiting[&node] = n;
      if (n == 0) ready.push_back(&node);
    }
    size_t done = 0;
    while (!ready.empty()) {
      const onnx::NodeProto* node = ready.back();
      ready.pop_back();
      ++done;
      for (const auto& out : node->output()) {
        if (out.empty()) continue;
        for (const Use& use : index.Consumers(out)) {
          auto it = waiting.find(use.node);
          if (it != waiting.end() && --it->second == 0) ready.push_back(use.node);
        }
      }
    }
    if (done == static_cast<size_t>(g.graph->node_size())) continue;
    for (const auto& node : g.graph->node()) {
      if (waiting[&node] > 0) return {ExitCode::kBadModel, label(node) + " is on a cycle: the graph is not acyclic"};
    }
  }
  return Status::Ok();
}

}  // namespace reinit
