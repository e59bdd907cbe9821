// select-tensors: narrows a rewrite to the tensors the user selected; every other row is kept, bit for
// bit, with the reason. Reads: the policy's selection, roles, layers. Writes: action, reason.
//
//   --only S, --reinit-last N, --reinit-blocks N   select (a row must match at least one, if any is given)
//   --exclude S, --keep S                          then deselect (excludes win over every selection)
//
// --reinit-last N: the N parameterized layers (Conv, Gemm, MatMul, recurrent, embedding) that come last
// in topological order, with the tensors they own: their biases (in the op or a following Add) and the
// parameters of the normalizations that follow them before the next layer.
// --reinit-blocks N: the last N repeated blocks ("encoder.layers.3", or "/encoder/layers.3/..." from node
// names; passes/blocks.h says how they are read).
// A tensor shared by several layers (a tie, or equal tensors the exporter merged) belongs to each of
// them: it is taken when any of them is.
// A selector that matches no tensor is an error (--allow-empty: a warning), so a typo never passes.
#include "passes/select_tensors.h"

#include <algorithm>
#include <map>
#include <set>

#include "passes/blocks.h"

namespace reinit {

namespace {

struct Selected {
  std::set<const ParamRow*> rows;
  bool any_matched = false;
};

class Selector {
 public:
  Selector(PassContext& ctx)
      : ctx_(ctx), index_(*ctx.index), table_(*ctx.table), layers_(Layers(table_)), blocks_(table_, index_, layers_) {}

  // Rows matched by a --only/--exclude/--keep selector.
  std::set<const ParamRow*> ByMatch(const Match& m) const {
    std::set<const ParamRow*> rows;
    for (const auto& row : table_) {
      if (m.Matches(row, index_)) rows.insert(&row);
    }
    return rows;
  }

  // A row goes with the layer of each of its uses (a tied embedding with the LM head too).
  std::set<const ParamRow*> LastLayers(int64_t n) const {
    std::vector<const onnx::NodeProto*> order(layers_.begin(), layers_.end());
    std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return index_.TopologicalKey(*a) < index_.TopologicalKey(*b); });
    const std::set<const onnx::NodeProto*> chosen(order.end() - std::min<int64_t>(n, order.size()), order.end());
    std::set<const ParamRow*> rows;
    for (const auto& row : table_) {
      for (const auto& use : row.uses) {
        if (chosen.count(OwnerLayer(use.layer, layers_, index_))) rows.insert(&row);
      }
    }
    return rows;
  }

  // A row goes with each block it is in (a tensor the exporter merged across blocks with every one).
  Status LastBlocks(int64_t n, std::set<const ParamRow*>* rows) const {
    const std::vector<std::string>& order = blocks_.order();
    if (order.empty()) {
      return {ExitCode::kUsage, "--reinit-blocks: no repeated blocks found (blocks are read from numbered names such as "
                                "'layers.3.', 'layer4.1.' or 'encoder_layer_3')"};
    }
    const std::set<std::string> chosen(order.end() - std::min<size_t>(n, order.size()), order.end());
    for (const auto& row : table_) {
      for (const auto& block : blocks_.Of(row)) {
        if (chosen.count(block)) rows->insert(&row);
      }
    }
    return Status::Ok();
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
  const LayerSet layers_;
  const Blocks blocks_;
};

void Keep(ParamRow& row, const std::string& why) {
  if (row.action != Action::kReinitialize) return;
  row.action = Action::kKeep;
  row.stats.reset();
  row.reason = "kept: " + why + " (would be: " + row.reason + ")";
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
