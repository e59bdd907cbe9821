// select-tensors: narrows a rewrite to the tensors the user selected; every other row is kept, bit for
// bit, with the reason. Reads: the policy's selection, roles, layers. Writes: action, reason.
//
//   --only S, --reinit-last N, --reinit-blocks N   select (a row must match at least one, if any is given)
//   --exclude S, --keep S                          then deselect (excludes win over every selection)
//
// --reinit-last N: the N parameterized layers (Conv, Gemm, MatMul, recurrent, embedding) that come last
// in topological order, with the tensors they own: their biases (in the op or a following Add) and the
// parameters of the normalizations that follow them before the next layer.
// --reinit-blocks N: the last N repeated blocks. A block is named by the tensor names exporters write:
// the prefix up to the first numbered component ("encoder.layers.3", "layer4.1", "features.12",
// "encoder_layer_3"); prefixes that repeat with at least two numbers are blocks, ordered by their first
// layer. A bare leading number ("0.weight" of an nn.Sequential) is a layer index, not a block. When
// tensor names carry no numbered blocks (onnx::Conv_12), the layers' node names are used.
// A selector that matches no tensor is an error (--allow-empty: a warning), so a typo never passes.
#include "passes/select_tensors.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <set>

namespace reinit {

namespace {

bool IsLayerRole(Role r) {
  return r == Role::kWeight || r == Role::kRecurrentInput || r == Role::kRecurrentHidden || r == Role::kEmbedding;
}

// The layer a row belongs to: its own layer for weights; otherwise the nearest layer upstream of the
// node that reads it (a bias Add after a MatMul, a BatchNormalization after a Conv).
const onnx::NodeProto* OwnerLayer(const ParamRow& row, const std::set<const onnx::NodeProto*>& layers,
                                  const GraphIndex& index) {
  if (row.layer == nullptr) return nullptr;
  std::deque<std::pair<const onnx::NodeProto*, int>> queue = {{row.layer, 0}};
  std::set<const onnx::NodeProto*> seen;
  while (!queue.empty()) {
    auto [node, depth] = queue.front();
    queue.pop_front();
    if (!seen.insert(node).second || depth > 16) continue;
    if (layers.count(node)) return node;
    for (const auto& in : node->input()) {
      if (in.empty() || index.ConstantValue(in) != nullptr) continue;
      if (const onnx::NodeProto* p = index.Producer(in)) queue.push_back({p, depth + 1});
    }
  }
  return nullptr;
}

// "encoder.layers.3.linear1.weight" -> {"encoder.layers.3", "encoder.layers.#"}; empty when unnumbered.
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

struct Selected {
  std::set<const ParamRow*> rows;
  bool any_matched = false;
};

class Selector {
 public:
  Selector(PassContext& ctx) : ctx_(ctx), index_(*ctx.index), table_(*ctx.table) {
    for (const auto& row : table_) {
      if (IsLayerRole(row.role) && row.layer != nullptr) layers_.insert(row.layer);
    }
  }

  // Rows matched by a --only/--exclude/--keep selector.
  std::set<const ParamRow*> ByMatch(const Match& m) const {
    std::set<const ParamRow*> rows;
    for (const auto& row : table_) {
      if (m.Matches(row, index_)) rows.insert(&row);
    }
    return rows;
  }

  std::set<const ParamRow*> LastLayers(int64_t n) const {
    std::vector<const onnx::NodeProto*> order(layers_.begin(), layers_.end());
    std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return index_.TopologicalKey(*a) < index_.TopologicalKey(*b); });
    const std::set<const onnx::NodeProto*> chosen(order.end() - std::min<int64_t>(n, order.size()), order.end());
    std::set<const ParamRow*> rows;
    for (const auto& row : table_) {
      if (row.role != Role::kUnknown && chosen.count(OwnerLayer(row, layers_, index_))) rows.insert(&row);
    }
    return rows;
  }

  Status LastBlocks(int64_t n, std::set<const ParamRow*>* rows) const {
    for (bool by_node : {false, true}) {
      // block key -> (topological key of its first layer, rows)
      std::map<std::string, std::pair<std::vector<int>, std::vector<const ParamRow*>>> blocks;
      std::map<std::string, std::set<std::string>> by_template;
      for (const auto& row : table_) {
        if (row.role == Role::kUnknown || row.layer == nullptr) continue;
        const auto [key, templ] = BlockOf(by_node ? index_.NodeLabel(*row.layer) : row.name);
        if (key.empty()) continue;
        by_template[templ].insert(key);
        auto& block = blocks[key];
        const std::vector<int> order = index_.TopologicalKey(*row.layer);
        if (block.second.empty() || order < block.first) block.first = order;
        block.second.push_back(&row);
      }
      std::vector<std::pair<std::vector<int>, std::string>> order;
      for (const auto& [key, block] : blocks) {
        const auto [k, templ] = BlockOf(by_node ? index_.NodeLabel(*block.second[0]->layer) : block.second[0]->name);
        if (by_template[templ].size() >= 2) order.emplace_back(block.first, key);
      }
      if (order.empty()) continue;
      std::sort(order.begin(), order.end());
      for (size_t i = order.size() - std::min<size_t>(n, order.size()); i < order.size(); ++i) {
        for (const ParamRow* row : blocks[order[i].second].second) rows->insert(row);
      }
      return Status::Ok();
    }
    return {ExitCode::kUsage, "--reinit-blocks: no repeated blocks found (blocks are read from numbered names such as "
                              "'layers.3.', 'layer4.1.' or 'encoder_layer_3')"};
  }

  // A selector that matched nothing: an error, or a warning with --allow-empty.
  Status Empty(const std::string& what) {
    const std::string message = what + " matches no tensor";
    if (!ctx_.policy.selection.allow_empty) return {ExitCode::kUsage, message + " (use --allow-empty to accept that)"};
    ctx_.warnings.push_back(message);
    return Status::Ok();
  }

 private:
  PassContext& ctx_;
  const GraphIndex& index_;
  const ParamTable& table_;
  std::set<const onnx::NodeProto*> layers_;
};

// Keeps a row the selection leaves out: the reason tells what it would have been; the decision's
// scheme, std and bound go, so neither the table nor the report shows numbers for a kept tensor.
void Keep(ParamRow& row, const std::string& why) {
  if (row.action != Action::kReinitialize) return;
  row.action = Action::kKeep;
  row.kept = Kept::kBySelection;
  row.stats.reset();
  row.reason = "kept: " + why + " (would be: " + row.reason + ")";
  row.scheme = Scheme::kNone;
  row.std = 0;
  row.bound.reset();
  row.mode.clear();
}

}  // namespace

Status SelectTensorsPass::Run(PassContext& ctx) {
  const Selection& sel = ctx.policy.selection;
  if (sel.empty()) return Status::Ok();
  Selector selector(ctx);
  auto& counters = ctx.counters["select-tensors"];

  // Positive selections: union of --only, --reinit-last, --reinit-blocks.
  std::set<const ParamRow*> selected;
  bool positive = false;
  std::string positive_words;
  for (const Match& m : sel.only) {
    auto rows = selector.ByMatch(m);
    if (rows.empty()) REINIT_RETURN_IF_ERROR(selector.Empty("--only " + m.text));
    selected.insert(rows.begin(), rows.end());
    positive = true;
    positive_words += (positive_words.empty() ? "" : ", ") + ("--only " + m.text);
  }
  if (sel.reinit_last) {
    auto rows = selector.LastLayers(*sel.reinit_last);
    if (rows.empty()) REINIT_RETURN_IF_ERROR(selector.Empty("--reinit-last " + std::to_string(*sel.reinit_last)));
    selected.insert(rows.begin(), rows.end());
    positive = true;
    positive_words += (positive_words.empty() ? "" : ", ") + ("--reinit-last " + std::to_string(*sel.reinit_last));
  }
  if (sel.reinit_blocks) {
    std::set<const ParamRow*> rows;
    REINIT_RETURN_IF_ERROR(selector.LastBlocks(*sel.reinit_blocks, &rows));
    selected.insert(rows.begin(), rows.end());
    positive = true;
    positive_words += (positive_words.empty() ? "" : ", ") + ("--reinit-blocks " + std::to_string(*sel.reinit_blocks));
  }
  if (positive) {
    for (auto& row : *ctx.table) {
      if (!selected.count(&row)) Keep(row, "not selected by " + positive_words);
    }
  }
  // Deselections: excludes and keeps win.
  for (const auto& [flag, list] : {std::pair<const char*, const std::vector<Match>*>{"--exclude", &sel.exclude},
                                   {"--keep", &sel.keep}}) {
    for (const Match& m : *list) {
      auto rows = selector.ByMatch(m);
      if (rows.empty()) REINIT_RETURN_IF_ERROR(selector.Empty(std::string(flag) + " " + m.text));
      for (auto& row : *ctx.table) {
        if (rows.count(&row)) Keep(row, std::string(flag == std::string("--keep") ? "frozen by " : "excluded by ") + flag + " " + m.text);
      }
    }
  }
  for (const auto& row : *ctx.table) ++counters[row.action == Action::kReinitialize ? "selected" : "kept"];
  return Status::Ok();
}

}  // namespace reinit
