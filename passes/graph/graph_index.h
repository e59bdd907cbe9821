// GraphIndex: who produces and who consumes each value, across the main graph and every subgraph
// (If/Loop/Scan bodies, at any depth), which values are initializers or Constant outputs, and how values
// cross a subgraph boundary. ONNX graphs are in SSA form across nested scopes (the checker rejects a
// body that redefines an outer name), so one name space serves all graphs.
// Built before the first pass that reads it (after untie-shared, which changes the graph); passes only
// read it.
// Pointers stay valid as long as no node, initializer or attribute list is resized.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/status.h"

namespace reinit {

struct Use {
  const onnx::NodeProto* node = nullptr;
  int index = 0;  // input slot of `node`
};

struct GraphInfo {
  onnx::GraphProto* graph = nullptr;
  const onnx::NodeProto* parent = nullptr;  // the If/Loop/Scan node owning this body; null for main
  std::string attribute;                    // then_branch, else_branch, body
  std::string path;                         // "main", "main/<parent label>.<attribute>", ...
  int depth = 0;
};

// A Constant node whose `value` attribute holds a tensor.
struct ConstantTensor {
  onnx::NodeProto* node = nullptr;
  onnx::TensorProto* tensor = nullptr;
  const GraphInfo* graph = nullptr;
};

// An initializer and the graph it belongs to.
struct InitializerRef {
  onnx::TensorProto* tensor = nullptr;
  const GraphInfo* graph = nullptr;
};

// Subgraphs nested deeper than this are reported as an error, never recursed into without bound.
inline constexpr int kMaxGraphDepth = 64;

class GraphIndex {
 public:
  explicit GraphIndex(onnx::GraphProto* graph);

  // False when the nesting exceeded kMaxGraphDepth (the deeper bodies are not indexed).
  bool complete() const { return complete_; }

  const std::vector<Use>& Consumers(const std::string& value) const;
  const onnx::NodeProto* Producer(const std::string& value) const;
  onnx::TensorProto* Initializer(const std::string& name) const;
  // True for outputs of the main graph.
  bool IsGraphOutput(const std::string& value) const;
  // The value of a compile-time constant: an initializer, or the `value` of a Constant node.
  const onnx::TensorProto* ConstantValue(const std::string& value) const;

  // When `value` is an output of a body graph: the output of the owning node it becomes
  // (If: same position; Loop: position - 1, after the condition; Scan: same position).
  std::optional<std::string> OuterValue(const std::string& value) const;
  // The body input that input `index` of a Loop or Scan node binds to (same position), if any.
  std::vector<std::string> BodyInputs(const onnx::NodeProto& node, int index) const;

  // A readable label: the node's name, or "#<position>" (prefixed by the body's path) when unnamed.
  std::string NodeLabel(const onnx::NodeProto& node) const;
  const GraphInfo& GraphOf(const onnx::NodeProto& node) const;
  // Orders nodes topologically across graphs: a body node sorts with the main-graph node that owns it.
  std::vector<int> TopologicalKey(const onnx::NodeProto& node) const;

  // The If branches a graph lies in, outermost first: (the If node, "then_branch" or "else_branch").
  std::vector<std::pair<const onnx::NodeProto*, std::string>> Branches(const GraphInfo& graph) const;
  // True when nothing in `a` and `b` runs in the same execution: they lie in the two branches of one If.
  bool Exclusive(const GraphInfo& a, const GraphInfo& b) const;
  // The graph whose path is `path` ("main", "main/<node>.<attribute>", ...), or null.
  const GraphInfo* GraphAt(const std::string& path) const;

  const std::vector<GraphInfo>& graphs() const { return graphs_; }
  const std::vector<InitializerRef>& initializers() const { return initializer_list_; }
  const std::vector<ConstantTensor>& constants() const { return constants_; }
  const onnx::GraphProto& graph() const { return *graphs_[0].graph; }
  onnx::GraphProto* mutable_graph() const { return graphs_[0].graph; }

 private:
  void Visit(onnx::GraphProto* graph, const onnx::NodeProto* parent, const std::string& attribute,
             const std::string& path, int depth);

  std::vector<GraphInfo> graphs_;  // reserved up front: GraphInfo pointers stay valid
  bool complete_ = true;
  std::unordered_map<std::string, std::vector<Use>> consumers_;
  std::unordered_map<std::string, const onnx::NodeProto*> producers_;
  std::unordered_map<std::string, onnx::TensorProto*> initializers_;
  std::vector<InitializerRef> initializer_list_;
  std::vector<ConstantTensor> constants_;
  std::unordered_map<const onnx::NodeProto*, std::pair<int, size_t>> positions_;  // position, graph
  std::unordered_set<std::string> outputs_;
  std::unordered_map<std::string, std::string> outer_values_;
};

// A graph ONNX's checker and ONNX Runtime refuse: a node input that no node, graph input or
// initializer produces, or a cycle. kBadModel naming the node; rewriting it would only give back an
// invalid model.
Status CheckStructure(const GraphIndex& index);

// Attribute helpers: the value of a node attribute, or `fallback` when it is absent.
int64_t IntAttr(const onnx::NodeProto& node, const std::string& name, int64_t fallback);
float FloatAttr(const onnx::NodeProto& node, const std::string& name, float fallback);
std::string StringAttr(const onnx::NodeProto& node, const std::string& name, const std::string& fallback);
std::vector<int64_t> IntsAttr(const onnx::NodeProto& node, const std::string& name);
bool HasAttr(const onnx::NodeProto& node, const std::string& name);

// The opset version of the default ("" / "ai.onnx") domain; 0 when the model does not import it.
int64_t DefaultOpset(const onnx::ModelProto& model);

// True for nodes of the default ONNX domain.
inline bool IsOnnxDomain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

}  // namespace reinit
