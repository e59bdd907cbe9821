#include "passes/graph/blocks.h"

#include <algorithm>
#include <cctype>
#include <deque>

namespace reinit {

namespace {

// The tensor reaches more than one layer: a tie, or equal tensors the exporter merged into one.
bool Shared(const ParamRow& row) {
  for (const auto& use : row.uses) {
    if (use.layer != row.uses[0].layer) return true;
  }
  return false;
}

}  // namespace

LayerSet Layers(const ParamTable& table) {
  LayerSet layers;
  for (const auto& row : table) {
    for (const auto& use : row.uses) {
      if (IsLayerRole(use.role)) layers.insert(use.layer);
    }
  }
  return layers;
}

namespace {

// Every node upstream of `value` (through node inputs, not into constants), at most `limit` of them.
std::set<const onnx::NodeProto*> Upstream(const std::string& value, const GraphIndex& index, size_t limit = 100000) {
  std::set<const onnx::NodeProto*> seen;
  std::vector<std::string> stack = {value};
  while (!stack.empty() && seen.size() < limit) {
    const std::string v = std::move(stack.back());
    stack.pop_back();
    const onnx::NodeProto* p = index.Producer(v);
    if (p == nullptr || !seen.insert(p).second) continue;
    for (const auto& in : p->input()) {
      if (!in.empty() && index.ConstantValue(in) == nullptr) stack.push_back(in);
    }
  }
  return seen;
}

}  // namespace

std::map<const onnx::NodeProto*, LayerSet> ResidualBranchLayers(const ParamTable& table, const GraphIndex& index,
                                                                const LayerSet& layers) {
  std::map<const onnx::NodeProto*, LayerSet> branches;
  for (const ParamRow& row : table) {
    const onnx::NodeProto* add = row.act.residual_add;
    if (add == nullptr || branches.count(add) || add->input_size() != 2) continue;
    const auto a = Upstream(add->input(0), index), b = Upstream(add->input(1), index);
    LayerSet side_a, side_b;
    for (const auto* n : a) {
      if (layers.count(n) && !b.count(n)) side_a.insert(n);
    }
    for (const auto* n : b) {
      if (layers.count(n) && !a.count(n)) side_b.insert(n);
    }
    if (side_a.size() != side_b.size()) branches[add] = side_a.size() > side_b.size() ? side_a : side_b;
  }
  return branches;
}

const onnx::NodeProto* OwnerLayer(const onnx::NodeProto* node, const LayerSet& layers, const GraphIndex& index) {
  if (node == nullptr) return nullptr;
  std::deque<std::pair<const onnx::NodeProto*, int>> queue = {{node, 0}};
  std::set<const onnx::NodeProto*> seen;
  while (!queue.empty()) {
    auto [n, depth] = queue.front();
    queue.pop_front();
    if (!seen.insert(n).second || depth > 16) continue;
    if (layers.count(n)) return n;
    for (const auto& in : n->input()) {
      if (in.empty() || index.ConstantValue(in) != nullptr) continue;
      if (const onnx::NodeProto* p = index.Producer(in)) queue.push_back({p, depth + 1});
    }
  }
  return nullptr;
}

std::pair<std::string, std::string> BlockOf(const std::string& name) {
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find_first_of("./", start);
    if (end == std::string::npos) end = name.size();
    const std::string part = name.substr(start, end - start);
    // A numbered component: "3", or "encoder_layer_3".
    size_t digits = part.size();
    while (digits > 0 && std::isdigit(static_cast<unsigned char>(part[digits - 1]))) --digits;
    const bool numbered = digits < part.size() && (digits == 0 || part[digits - 1] == '_');
    // "layers.3", not a bare leading "3." or "/3/" (an nn.Sequential's layer index).
    const bool has_prefix = name.find_first_not_of("./") < start;
    if (numbered && end < name.size() && has_prefix) {
      return {name.substr(0, end), name.substr(0, start) + part.substr(0, digits) + "#"};
    }
    start = end + 1;
  }
  return {};
}

Blocks::Blocks(const ParamTable& table, const GraphIndex& index, const LayerSet& layers)
    : table_(table), index_(index), layers_(layers) {
  for (bool by_node : {false, true}) {
    if (Build(by_node)) return;
  }
}

// The block name each use is under (empty: none), before it is known which names are blocks;
// `families` receives each name's family ("encoder.layers.#").
std::vector<std::pair<const LayerUse*, std::string>> Blocks::UseKeys(
    bool by_node, std::map<std::string, std::string>* families) const {
  auto key = [&](const std::string& text) {
    auto [block, family] = BlockOf(text);
    if (!block.empty()) (*families)[block] = family;
    return block;
  };
  auto node_block = [&](const LayerUse& use) { return BlockOf(index_.NodeLabel(*use.layer)).first; };
  // A shared tensor's name tells the block of one of its layers only. From tensor names, its uses are
  // placed by their layers' node names instead, under the name the unshared tensors there carry.
  std::map<std::string, std::string> named;  // node-name block -> tensor-name block
  for (const auto& row : table_) {
    if (by_node || row.uses.empty() || Shared(row)) continue;
    const std::string from_node = node_block(row.uses[0]), from_name = key(row.name);
    if (!from_node.empty() && !from_name.empty()) named.emplace(from_node, from_name);
  }
  std::vector<std::pair<const LayerUse*, std::string>> keys;
  for (const auto& row : table_) {
    for (const auto& use : row.uses) {
      if (by_node) {
        keys.emplace_back(&use, key(index_.NodeLabel(*use.layer)));
        continue;
      }
      auto it = Shared(row) ? named.find(node_block(use)) : named.end();
      keys.emplace_back(&use, it != named.end() ? it->second : key(row.name));
    }
  }
  return keys;
}

bool Blocks::Build(bool by_node) {
  std::map<std::string, std::string> family_of;
  const auto keys = UseKeys(by_node, &family_of);
  // A name that holds a layer, in a family of at least two such names, is a block.
  std::map<std::string, std::set<std::string>> families;
  for (const auto& [use, key] : keys) {
    if (!key.empty() && IsLayerRole(use->role)) families[family_of[key]].insert(key);
  }
  std::set<std::string> blocks;
  for (const auto& [family, members] : families) {
    if (members.size() >= 2) blocks.insert(members.begin(), members.end());
  }
  if (blocks.empty()) return false;
  // Each layer's block, and each block's first layer in topological order.
  std::map<const onnx::NodeProto*, std::string> layer_block;
  std::map<std::string, std::vector<int>> first;
  for (const auto& [use, key] : keys) {
    if (!IsLayerRole(use->role) || !blocks.count(key)) continue;
    layer_block.emplace(use->layer, key);
    const std::vector<int> at = index_.TopologicalKey(*use->layer);
    auto [it, fresh] = first.emplace(key, at);
    if (!fresh) it->second = std::min(it->second, at);
  }
  std::vector<std::pair<std::vector<int>, std::string>> sorted;
  for (const auto& [key, at] : first) sorted.emplace_back(at, key);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [at, key] : sorted) {
    position_[key] = order_.size();
    order_.push_back(key);
  }
  // A use under a name that is no block (BatchNorm-only "features.5") goes with its layer's block.
  for (const auto& [use, key] : keys) {
    if (blocks.count(key)) {
      use_block_[use] = key;
    } else if (!key.empty()) {
      auto it = layer_block.find(OwnerLayer(use->layer, layers_, index_));
      if (it != layer_block.end()) use_block_[use] = it->second;
    }
  }
  return true;
}

std::vector<std::string> Blocks::Of(const ParamRow& row) const {
  std::set<size_t> at;
  for (const auto& use : row.uses) {
    auto it = use_block_.find(&use);
    if (it != use_block_.end()) at.insert(position_.at(it->second));
  }
  std::vector<std::string> blocks;
  for (size_t i : at) blocks.push_back(order_[i]);
  return blocks;
}

}  // namespace reinit
