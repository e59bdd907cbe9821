// select-tensors: narrows a rewrite to the tensors the user selected; every other row is kept, bit for
// bit, with the reason.
//
//   --only S, --reinit-last N, --reinit-blocks N   select (a row must match at least one, if any is given)
//   --exclude S, --keep S                          then deselect (excludes win over every selection)
//
// --reinit-last N: the N parameterized layers (Conv, Gemm, MatMul, recurrent, embedding) that come last
// in topological order, with the tensors they own: their biases (in the op or a following Add) and the
// parameters of the normalizations that follow them before the next layer.
// --reinit-blocks N: the last N repeated blocks ("encoder.layers.3", or "/encoder/layers.3/..." from node
// names; passes/graph/blocks.h says how they are read).
// A tensor shared by several layers (a tie, or equal tensors the exporter merged) belongs to each of
// them: it is taken when any of them is, with a warning naming the layers or blocks outside the
// selection that it changes too. Every run warns about tensors shared across blocks, which stay shared.
// A selector that matches no tensor is an error (--allow-empty: a warning), so a typo never passes.
#include "passes/passes.h"

#include <algorithm>
#include <map>
#include <set>

#include "passes/graph/blocks.h"

namespace reinit {

namespace {

struct Selected {
  std::set<const ParamRow*> rows;
  bool any_matched = false;
};

// What a layer or block selection took; for a shared tensor among it, the layers or blocks outside the
// selection that use it too, which re-initializing it changes as well.
struct Taken {
  std::set<const ParamRow*> rows;
  std::map<const ParamRow*, std::vector<std::string>> also;

  // `places`: where the row's uses are (name, chosen); the row is taken if one of them is chosen.
  void Add(const ParamRow& row, const std::vector<std::pair<std::string, bool>>& places) {
    std::vector<std::string> outside;
    bool in = false;
    for (const auto& [name, chosen] : places) {
      in = in || chosen;
      if (!chosen && std::find(outside.begin(), outside.end(), name) == outside.end()) outside.push_back(name);
    }
    if (!in) return;
    rows.insert(&row);
    if (!outside.empty()) also[&row] = outside;
  }
};

// --untie-shared can give the tensor's layers copies of their own: they read it through different
// node inputs (not one Transpose feeding them all).
bool Untieable(const ParamRow& row) {
  for (const auto& use : row.uses) {
    if (use.entry != row.uses[0].entry || use.entry_input != row.uses[0].entry_input) return true;
  }
  return false;
}

// "a, b, c, d and 5 more"
std::string List(const std::vector<std::string>& items) {
  constexpr size_t kShown = 4;
  std::string text;
  for (size_t i = 0; i < items.size() && i < kShown; ++i) text += (i ? ", " : "") + items[i];
  if (items.size() > kShown) text += " and " + std::to_string(items.size() - kShown) + " more";
  return text;
}

// "tensor 'W'", "3 tensors ('A', 'B', 'C')"
std::string Tensors(const std::vector<std::string>& names) {
  if (names.size() == 1) return "tensor '" + names[0] + "'";
  std::vector<std::string> quoted;
  for (const auto& n : names) quoted.push_back("'" + n + "'");
  return std::to_string(names.size()) + " tensors (" + List(quoted) + ")";
}

std::string UntieHint(bool untieable, const std::string& then) {
  return untieable ? " (--untie-shared gives each layer its own copy" + then + ")"
                   : " (--untie-shared cannot split a tensor that reaches its layers through one node input)";
}

// Shared tensors grouped by where they are shared: one warning per group, naming the first few tensors
// and counting the rest, so an encoder whose 12 layers the exporter merged is reported once, not once
// for each of its tensors.
class SharedGroups {
 public:
  struct Group {
    std::vector<std::string> places, names;
    bool untieable;
  };
  void Add(const ParamRow& row, const std::vector<std::string>& places) {
    const auto key = std::make_pair(places, Untieable(row));
    auto [it, fresh] = index_.emplace(key, groups_.size());
    if (fresh) groups_.push_back({places, {}, key.second});
    groups_[it->second].names.push_back(row.name);
  }
  const std::vector<Group>& groups() const { return groups_; }

 private:
  std::map<std::pair<std::vector<std::string>, bool>, size_t> index_;
  std::vector<Group> groups_;
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
  // The last N layers on every path: a layer is among them when fewer than N layers follow it on the
  // longest path through it. Layers in the two branches of an If are alternatives, not one after the
  // other, so a model with one head per branch has every head as its last layer.
  Taken LastLayers(int64_t n) const {
    auto before = [&](auto* a, auto* b) { return index_.TopologicalKey(*a) < index_.TopologicalKey(*b); };
    std::vector<const onnx::NodeProto*> order(layers_.begin(), layers_.end());
    std::sort(order.begin(), order.end(), before);
    std::set<const onnx::NodeProto*> chosen;
    for (size_t i = 0; i < order.size(); ++i) {
      std::vector<const onnx::NodeProto*> after;
      for (size_t j = i + 1; j < order.size(); ++j) {
        if (!index_.Exclusive(index_.GraphOf(*order[i]), index_.GraphOf(*order[j]))) after.push_back(order[j]);
      }
      if (static_cast<int64_t>(PathLength(after, 0)) < n) chosen.insert(order[i]);
    }
    Taken taken;
    for (const auto& row : table_) {
      std::vector<const onnx::NodeProto*> owners;
      for (const auto& use : row.uses) {
        const onnx::NodeProto* owner = OwnerLayer(use.layer, layers_, index_);
        if (owner != nullptr && std::find(owners.begin(), owners.end(), owner) == owners.end()) owners.push_back(owner);
      }
      std::sort(owners.begin(), owners.end(), before);
      std::vector<std::pair<std::string, bool>> places;
      for (const auto* owner : owners) places.emplace_back("'" + index_.NodeLabel(*owner) + "'", chosen.count(owner) > 0);
      taken.Add(row, places);
    }
    return taken;
  }

  // How many of `layers` one execution passes: the layers of an If count as the longer of its branches.
  size_t PathLength(const std::vector<const onnx::NodeProto*>& layers, size_t level) const {
    size_t count = 0;
    std::map<const onnx::NodeProto*, std::map<std::string, std::vector<const onnx::NodeProto*>>> branches;
    for (const onnx::NodeProto* layer : layers) {
      const auto chain = index_.Branches(index_.GraphOf(*layer));
      if (chain.size() <= level) ++count;
      else branches[chain[level].first][chain[level].second].push_back(layer);
    }
    for (const auto& [node, by_branch] : branches) {
      size_t longest = 0;
      for (const auto& [branch, inside] : by_branch) longest = std::max(longest, PathLength(inside, level + 1));
      count += longest;
    }
    return count;
  }

  Status LastBlocks(int64_t n, Taken* taken) const {
    const std::vector<std::string>& order = blocks_.order();
    if (order.empty()) {
      return {ExitCode::kUsage, "--reinit-blocks: no repeated blocks found (blocks are read from numbered names such as "
                                "'layers.3.', 'layer4.1.' or 'encoder_layer_3')"};
    }
    const std::set<std::string> chosen(order.end() - std::min<size_t>(n, order.size()), order.end());
    for (const auto& row : table_) {
      std::vector<std::pair<std::string, bool>> places;
      for (const auto& block : blocks_.Of(row)) places.emplace_back(block, chosen.count(block) > 0);
      taken->Add(row, places);
    }
    return Status::Ok();
  }

  // Tensors used by layers of several blocks: a rewrite keeps them one tensor.
  void WarnSharedAcrossBlocks() {
    SharedGroups shared;
    for (const auto& row : table_) {
      const std::vector<std::string> blocks = blocks_.Of(row);
      if (blocks.size() >= 2) shared.Add(row, blocks);
    }
    for (const auto& g : shared.groups()) {
      const bool one = g.names.size() == 1;
      ctx_.warnings.push_back(Tensors(g.names) + (one ? " is" : " are") + " shared by layers of blocks " +
                              List(g.places) + " and " + (one ? "stays" : "stay") + " shared after the rewrite" +
                              UntieHint(g.untieable, ""));
    }
  }

  // Re-initialized tensors that `flag` took for its `kind`s (layer, block) and that others use too.
  void WarnAlsoChanged(const std::string& flag, const std::string& kind, const Taken& taken) {
    SharedGroups shared;
    for (const auto& row : table_) {
      auto it = taken.also.find(&row);
      if (it != taken.also.end() && row.init.action == Action::kReinitialize) shared.Add(row, it->second);
    }
    for (const auto& g : shared.groups()) {
      const bool one = g.places.size() == 1;
      ctx_.warnings.push_back(flag + " re-initializes " + Tensors(g.names) + ", which " + kind + (one ? " " : "s ") +
                              List(g.places) + " outside the selection also use" + (one ? "s: that " : ": those ") +
                              kind + (one ? " changes" : "s change") + " too" +
                              UntieHint(g.untieable, ", and then only the selected copies change"));
    }
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

// Keeps a row the selection leaves out: the reason tells what it would have been; the decision's
// scheme, std and bound go, so neither the table nor the report shows numbers for a kept tensor.
void Keep(ParamRow& row, const std::string& why) {
  if (row.init.action != Action::kReinitialize) return;
  row.init.action = Action::kKeep;
  row.init.kept = Kept::kBySelection;
  row.stats.reset();
  row.init.reason = "kept: " + why + " (would be: " + row.init.reason + ")";
  row.init.scheme = Scheme::kNone;
  row.init.std = 0;
  row.init.bound.reset();
  row.init.mode.clear();
}

// A tensor and its copies (passes/find_copies.cc) are one parameter: selecting or leaving out any of
// them does so for all.
void WithCopies(const ParamTable& table, std::set<const ParamRow*>* rows) {
  std::set<std::string> groups;  // the originals' names of the rows in the set
  for (const ParamRow* row : *rows) groups.insert(row->copy.of.empty() ? row->name : row->copy.of);
  for (const ParamRow& row : table) {
    if ((row.copy.has_copies && groups.count(row.name)) || (!row.copy.of.empty() && groups.count(row.copy.of))) {
      rows->insert(&row);
    }
  }
}

class SelectTensorsPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override;
};

Status SelectTensorsPass::Run(PassContext& ctx, Counters& counters) {
  const Selection& sel = ctx.policy.selection;
  Selector selector(ctx);
  selector.WarnSharedAcrossBlocks();
  if (sel.empty()) return Status::Ok();

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
  const std::string last_flag = sel.reinit_last ? "--reinit-last " + std::to_string(*sel.reinit_last) : "";
  const std::string blocks_flag = sel.reinit_blocks ? "--reinit-blocks " + std::to_string(*sel.reinit_blocks) : "";
  Taken last, blocks;
  if (sel.reinit_last) {
    last = selector.LastLayers(*sel.reinit_last);
    if (last.rows.empty()) REINIT_RETURN_IF_ERROR(selector.Empty(last_flag));
    selected.insert(last.rows.begin(), last.rows.end());
    positive = true;
    positive_words += (positive_words.empty() ? "" : ", ") + last_flag;
  }
  if (sel.reinit_blocks) {
    REINIT_RETURN_IF_ERROR(selector.LastBlocks(*sel.reinit_blocks, &blocks));
    selected.insert(blocks.rows.begin(), blocks.rows.end());
    positive = true;
    positive_words += (positive_words.empty() ? "" : ", ") + blocks_flag;
  }
  if (positive) {
    WithCopies(*ctx.table, &selected);
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
      WithCopies(*ctx.table, &rows);
      for (auto& row : *ctx.table) {
        if (rows.count(&row)) Keep(row, std::string(flag == std::string("--keep") ? "frozen by " : "excluded by ") + flag + " " + m.text);
      }
    }
  }
  // Only now is it known which shared tensors are re-initialized after all.
  selector.WarnAlsoChanged(last_flag, "layer", last);
  selector.WarnAlsoChanged(blocks_flag, "block", blocks);
  for (const auto& row : *ctx.table) ++counters[row.init.action == Action::kReinitialize ? "selected" : "kept"];
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Pass> MakeSelectTensorsPass() { return std::make_unique<SelectTensorsPass>(); }

}  // namespace reinit
