// GraphIndex: who produces and who consumes each value of the main graph, which values are
// initializers or Constant outputs, and which are graph outputs. Built once after loading; passes
// only read it. Pointers stay valid as long as the graph's node and initializer lists are not resized
// (regenerate only rewrites tensor contents, never the lists).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "onnx/onnx_pb.h"

namespace reinit {

struct Use {
  const onnx::NodeProto* node = nullptr;
  int index = 0;  // input slot of `node`
};

class GraphIndex {
 public:
  explicit GraphIndex(onnx::GraphProto* graph);

  const std::vector<Use>& Consumers(const std::string& value) const;
  const onnx::NodeProto* Producer(const std::string& value) const;
  onnx::TensorProto* Initializer(const std::string& name) const;
  bool IsGraphOutput(const std::string& value) const;
  // The value of a compile-time constant: an initializer, or the `value` of a Constant node.
  const onnx::TensorProto* ConstantValue(const std::string& value) const;
  // A readable label for a node: its name, or "#<position>" when the exporter left the name empty.
  std::string NodeLabel(const onnx::NodeProto& node) const;

  const onnx::GraphProto& graph() const { return *graph_; }
  onnx::GraphProto* mutable_graph() const { return graph_; }

 private:
  onnx::GraphProto* graph_;
  std::unordered_map<std::string, std::vector<Use>> consumers_;
  std::unordered_map<std::string, const onnx::NodeProto*> producers_;
  std::unordered_map<std::string, onnx::TensorProto*> initializers_;
  std::unordered_map<const onnx::NodeProto*, int> positions_;
  std::unordered_set<std::string> outputs_;
};

// Attribute helpers: the value of a node attribute, or `fallback` when it is absent.
int64_t IntAttr(const onnx::NodeProto& node, const std::string& name, int64_t fallback);
float FloatAttr(const onnx::NodeProto& node, const std::string& name, float fallback);
std::string StringAttr(const onnx::NodeProto& node, const std::string& name, const std::string& fallback);

// The opset version of the default ("" / "ai.onnx") domain; 0 when the model does not import it.
int64_t DefaultOpset(const onnx::ModelProto& model);

}  // namespace reinit
