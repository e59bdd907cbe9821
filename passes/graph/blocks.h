// Layers and repeated blocks: what --reinit-last and --reinit-blocks count, and what the warnings about
// shared tensors name.
//
// A layer is a node that gives a tensor a layer role (Conv, ConvTranspose, Gemm, MatMul, LSTM/GRU/RNN,
// embedding Gather) through any of the tensor's uses, so a tied LM head is a layer as well as the
// embedding it shares. Every other parameter belongs to the nearest layer upstream of the node that
// reads it (a bias Add after a MatMul, a BatchNormalization after a Conv).
//
// A block is named by the tensor names exporters write: the prefix up to the first numbered component
// ("encoder.layers.3", "layer4.1", "features.12", "encoder_layer_3"). A bare leading number ("0.weight"
// of an nn.Sequential) is a layer index, not a block. Prefixes that repeat with at least two numbers,
// each holding a layer, are blocks, ordered by their first layer; a prefix that holds no layer (the
// BatchNorm-only "features.5" after the Conv "features.4") is none, and its tensors go with their
// layer's block. When tensor names give no blocks (onnx::Conv_12, or every layer merged into one tensor
// by the exporter), the layers' node names ("/encoder/layers.3/...") are read instead.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "passes/graph/graph_index.h"
#include "passes/graph/param_table.h"

namespace reinit {

using LayerSet = std::set<const onnx::NodeProto*>;

// Every layer of the table.
LayerSet Layers(const ParamTable& table);

// The layer whose parameters `node` reads: `node` itself if it is a layer, else the nearest upstream.
const onnx::NodeProto* OwnerLayer(const onnx::NodeProto* node, const LayerSet& layers, const GraphIndex& index);

// The layers of each residual branch, by its residual Add (the Adds rows' act.residual_add name): the
// layers upstream of one input of the Add and not of the other, on the side that holds more of them (the
// skip holds none, or a projection shortcut's one). An Add whose two sides hold as many is left out:
// which is the branch would be a guess.
std::map<const onnx::NodeProto*, LayerSet> ResidualBranchLayers(const ParamTable& table, const GraphIndex& index,
                                                                const LayerSet& layers);

// "encoder.layers.3.linear1.weight" -> {"encoder.layers.3", "encoder.layers.#"}; empty when unnumbered.
std::pair<std::string, std::string> BlockOf(const std::string& name);

class Blocks {
 public:
  Blocks(const ParamTable& table, const GraphIndex& index, const LayerSet& layers);
  // Every block, in order of its first layer; empty when the model has none.
  const std::vector<std::string>& order() const { return order_; }
  // The blocks a row belongs to, in block order: one for each of its uses' layers, so a tensor the
  // exporter merged across blocks is in each of them.
  std::vector<std::string> Of(const ParamRow& row) const;

 private:
  // Reads blocks from tensor names or from node names; false when there are none.
  bool Build(bool by_node);
  std::vector<std::pair<const LayerUse*, std::string>> UseKeys(bool by_node,
                                                               std::map<std::string, std::string>* families) const;

  const ParamTable& table_;
  const GraphIndex& index_;
  const LayerSet& layers_;
  std::vector<std::string> order_;
  std::map<std::string, size_t> position_;              // block -> index in order_
  std::map<const LayerUse*, std::string> use_block_;    // the block each use is in
};

}  // namespace reinit
