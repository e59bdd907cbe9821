#include "passes/report/report.h"

#include "passes/report/audit_report.h"

#include <algorithm>
#include <sstream>

#include "passes/graph/assembly.h"
#include "passes/graph/tensor_values.h"
#include "passes/report/version.h"

namespace reinit {

// ordered_json keeps keys in the order written here, which is the order the README documents.
using json = nlohmann::ordered_json;

namespace {

// The distribution only means something for the random, variance-scaled schemes.
bool HasDistribution(Scheme s) {
  return s == Scheme::kXavier || s == Scheme::kHe || s == Scheme::kLeCun || s == Scheme::kNormal || s == Scheme::kUniform ||
         s == Scheme::kProxy;
}

// Preset proxy: the statistics a row was drawn from (null for any other row).
json ProxySourceJson(const ParamRow& r) {
  if (r.init.scheme != Scheme::kProxy || r.init.proxy == nullptr || r.init.action != Action::kReinitialize) return nullptr;
  const ProxySource& p = *r.init.proxy;
  const TensorStats& w = p.whole;
  return {{"layout", p.layout},
          {"channels", p.channels()},
          {"per_channel", p.per_channel},
          {"mean", p.mean},
          {"std", p.std},
          {"whole", {{"mean", w.mean}, {"std", w.std}, {"min", w.min}, {"max", w.max}}}};
}

// Why a row is kept, for the table: the reason without what it would have been or its conflicts.
std::string KeptWords(const std::string& reason) {
  size_t end = reason.size();
  for (const char* tail : {" (would be: ", "; conflict: ", " (seen: "}) end = std::min(end, reason.find(tail));
  return reason.substr(0, end);
}

json RowJson(const ParamRow& r) {
  json consumers = json::array();
  for (const auto& c : r.consumers) {
    consumers.push_back({{"node", c.node}, {"op_type", c.op_type}, {"input_index", c.input_index}});
  }
  json row = {
      {"name", r.name},
      {"piece", r.piece.empty() ? json(nullptr) : json(r.piece_text)},
      {"dtype", DTypeName(r.dtype)},
      {"shape", r.shape},
      {"source", r.source},
      {"graph", r.graph},
      {"consumers", consumers},
      {"role", NameOf(r.role)},
      {"fixed", r.fixed.kind == Fixed::kNone ? json(nullptr) : json(NameOf(r.fixed.kind))},
      {"through", r.primary_use() ? json(r.primary_use()->through) : json::array()},
      {"conflicts", r.conflicts},
      {"copy_of", r.copy.of.empty() ? json(nullptr) : json({{"name", r.copy.of}, {"transposed", r.copy.transposed}})},
      {"fan_in", r.fans.has_value() ? json(r.fans->in) : json(nullptr)},
      {"fan_out", r.fans.has_value() ? json(r.fans->out) : json(nullptr)},
      {"receptive_field", r.fans.value_or(Fans{}).receptive_field},
      {"groups", r.fans.value_or(Fans{}).groups},
      {"gate_blocks", r.gates.blocks},
      {"directions", r.gates.directions},
      {"activation", r.act.name.empty() ? json(nullptr) : json(r.act.name)},
      {"activation_path", r.act.path},
      {"scheme", NameOf(r.init.scheme)},
      {"distribution", HasDistribution(r.init.scheme) ? json(NameOf(r.init.distribution)) : json(nullptr)},
      {"gain", r.init.action == Action::kReinitialize ? json(r.init.gain) : json(nullptr)},
      {"mode", r.init.mode.empty() || r.init.action != Action::kReinitialize ? json(nullptr) : json(r.init.mode)},
      {"std", r.init.action == Action::kReinitialize ? json(r.init.std) : json(nullptr)},
      {"bound", r.init.bound ? json(*r.init.bound) : json(nullptr)},
      {"value", r.init.scheme == Scheme::kConstant ? json(r.init.constant) : json(nullptr)},
      {"action", r.init.action == Action::kReinitialize ? json("reinitialized")
                 : r.init.action == Action::kKeep       ? json("kept")
                                                   : json(nullptr)},
      {"reason", r.init.reason},
      {"stats", nullptr},
      {"proxy_source", ProxySourceJson(r)},
  };
  if (r.stats) {
    row["stats"] = {{"mean", r.stats->mean}, {"std", r.stats->std}, {"min", r.stats->min}, {"max", r.stats->max}};
  }
  return row;
}

}  // namespace

json BuildReport(const ParamTable& table, const RunInfo& run) {
  json tensors = json::array();
  json by_role = json::object(), by_scheme = json::object();
  for (const auto& r : table) {
    tensors.push_back(RowJson(r));
    by_role[NameOf(r.role)] = by_role.value(NameOf(r.role), 0) + 1;
    if (r.init.action == Action::kReinitialize) by_scheme[NameOf(r.init.scheme)] = by_scheme.value(NameOf(r.init.scheme), 0) + 1;
  }
  const Tally tally = Count(table);
  json report = {
      {"schema_version", kReportSchemaVersion},
      {"tool", {{"name", kToolName}, {"version", kToolVersion}}},
      {"command", run.command},
      {"dry_run", run.command != "rewrite"},
      {"input", {{"path", run.input_path}, {"sha256", run.input_sha256}}},
      {"output", run.output_path.empty() ? json(nullptr)
                                         : json({{"path", run.output_path}, {"sha256", run.output_sha256}})},
      {"seed", run.policy.seed},
      {"policy", run.policy.ToJson()},
      {"summary",
       {{"tensors", table.size()},
        {"reinitialized", tally.reinitialized},
        {"kept", tally.kept},
        {"kept_by_selection", tally.by[static_cast<int>(Kept::kBySelection)]},
        {"not_parameters", tally.by[static_cast<int>(Kept::kNotAParameter)]},
        {"fixed_kept", tally.by[static_cast<int>(Kept::kFixedConstant)]},
        {"undecided", tally.undecided},
        {"by_role", by_role},
        {"by_scheme", by_scheme}}},
      {"tensors", tensors},
  };
  if (run.audit != nullptr) report["audit"] = AuditJson(*run.audit);
  return report;
}

Tally Count(const ParamTable& table) {
  Tally t;
  for (const auto& r : table) {
    if (r.init.action == Action::kReinitialize) ++t.reinitialized;
    if (r.init.action == Action::kUndecided) ++t.undecided;
    if (r.init.action == Action::kKeep) ++t.kept, ++t.by[static_cast<int>(r.init.kept)];
  }
  return t;
}

std::string SummaryLine(const ParamTable& table, bool all) {
  const Tally t = Count(table);
  auto by = [&](Kept k) { return t.by[static_cast<int>(k)]; };
  std::string line = std::to_string(table.size()) + " tensors: " + std::to_string(t.reinitialized) + " re-initialized, " +
                     std::to_string(by(Kept::kBySelection)) + " kept by selection";
  const std::pair<int64_t, const char*> parts[] = {
      {by(Kept::kByRule), " kept by rules"},
      {by(Kept::kFixedConstant), " fixed constants kept"},
      {by(Kept::kQuantized), " quantized kept"},
      {by(Kept::kUnfit) + by(Kept::kNoRule), " other parameters kept (see reason)"},
      {t.undecided, " undecided (the pipeline stopped before select-init)"},
      {by(Kept::kNotAParameter), all ? " non-parameters kept" : " non-parameters not shown (--all)"},
  };
  for (const auto& [n, words] : parts) {
    if (n > 0) line += ", " + std::to_string(n) + words;
  }
  return line + "\n";
}

namespace {

// "a, b, c and 4 more"
std::string FirstNames(const std::vector<std::string>& names) {
  std::string list;
  for (size_t i = 0; i < names.size() && i < 3; ++i) list += (i ? ", " : "") + names[i];
  return names.size() > 3 ? list + " and " + std::to_string(names.size() - 3) + " more" : list;
}

int64_t Elements(const ParamRow& r) { return Product(r.shape); }

}  // namespace

std::string NothingToDo(const ParamTable& table) {
  const Tally t = Count(table);
  auto by = [&](Kept k) { return t.by[static_cast<int>(k)]; };
  const std::pair<int64_t, const char*> kinds[] = {
      {by(Kept::kQuantized), " are quantized (kept)"},
      {by(Kept::kBySelection), " are left out by the selection"},
      {by(Kept::kByRule), " are kept by rules"},
      {by(Kept::kUnfit) + by(Kept::kNoRule), " have no rule that fits them"},
  };
  std::string why;
  for (const auto& [n, words] : kinds) {
    if (n > 0) why += (why.empty() ? "" : "; ") + std::to_string(n) + (n == 1 ? " parameter" : " parameters") + words;
  }
  return why.empty() ? "the model has no learnable parameter (" + std::to_string(table.size()) + " tensors, none with a role)"
                     : why;
}

std::vector<std::string> Notes(const ParamTable& table) {
  // Large enough to be a layer's weight matrix, not a scalar, a shape or a small mask.
  constexpr int64_t kLarge = 1024;
  std::vector<std::string> unknown, conflicts, quantized;
  for (const auto& r : table) {
    if (r.role == Role::kUnknown && IsFloatType(r.dtype) && Elements(r) >= kLarge) {
      unknown.push_back(r.name + " " + ShapeText(r.shape));
    }
    if (!r.conflicts.empty()) conflicts.push_back(r.name);
    if (r.init.action == Action::kKeep && r.init.kept == Kept::kQuantized) quantized.push_back(r.name);
  }
  std::vector<std::string> notes;
  auto note = [&](const std::vector<std::string>& names, const std::string& one, const std::string& many) {
    if (names.empty()) return;
    notes.push_back(std::to_string(names.size()) + " " + (names.size() == 1 ? one : many) + ": " + FirstNames(names));
  };
  note(unknown, "float tensor of 1024 or more values has no role and is kept",
       "float tensors of 1024 or more values have no role and are kept");
  note(conflicts, "shared tensor has uses that disagree (the deciding use is in its reason)",
       "shared tensors have uses that disagree (the deciding use is in each reason)");
  note(quantized, "quantized tensor is kept", "quantized tensors are kept");
  return notes;
}

namespace {

// The per-layer table's cells: a header row, then one row per tensor (parameters only, unless `all`).
// A kept row shows why, in the report's words, and no numbers.
std::vector<std::vector<std::string>> TableCells(const ParamTable& table, bool all) {
  std::vector<std::vector<std::string>> rows = {
      {"tensor", "role", "op", "shape", "fan_in", "fan_out", "activation", "scheme", "std", "bound", "action"}};
  for (const auto& r : table) {
    if (!all && r.role == Role::kUnknown && r.init.action != Action::kReinitialize) continue;
    const bool reinit = r.init.action == Action::kReinitialize;
    std::string scheme = reinit ? NameOf(r.init.scheme) : "-";
    if (reinit && r.init.scheme == Scheme::kConstant) scheme += "(" + Short(r.init.constant) + ")";
    if (reinit && HasDistribution(r.init.scheme)) {
      scheme += r.init.bound ? " U" : r.init.distribution == Distribution::kTruncatedNormal ? " TN" : " N";
    }
    std::string action = reinit ? "reinit" : r.init.action == Action::kUndecided ? "-" : KeptWords(r.init.reason);
    if (reinit && r.init.scheme == Scheme::kProxy && r.init.proxy) action += " from its own mean/std " + r.init.proxy->layout;
    // A copy is drawn with its original: the table says whose values it gets, as the report's copy_of.
    if (reinit && !r.copy.of.empty()) {
      action += ": copy of " + r.copy.of + (r.copy.transposed ? ", transposed" : "");
    }
    rows.push_back({
        r.name + r.piece_text,
        r.role == Role::kUnknown ? "-" : NameOf(r.role),
        r.layer() != nullptr ? r.layer()->op_type() : (r.consumers.empty() ? "-" : r.consumers[0].op_type),
        ShapeText(r.shape),
        r.fans.has_value() ? std::to_string(r.fans->in) : "-",
        r.fans.has_value() ? std::to_string(r.fans->out) : "-",
        r.act.name.empty() ? "-" : r.act.name,
        scheme,
        reinit && r.init.scheme != Scheme::kConstant ? Short(r.init.std) : "-",
        reinit && r.init.bound ? Short(*r.init.bound) : "-",
        action,
    });
  }
  return rows;
}

}  // namespace

std::string FormatColumns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(rows.empty() ? 0 : rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::ostringstream out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
  return out.str();
}

std::string FormatMarkdownRows(const std::vector<std::vector<std::string>>& rows, bool code_first_column) {
  std::ostringstream out;
  for (size_t r = 0; r < rows.size(); ++r) {
    out << "|";
    for (size_t c = 0; c < rows[r].size(); ++c) {
      std::string escaped;
      for (char ch : rows[r][c]) escaped += ch == '|' ? std::string("\\|") : std::string(1, ch);
      out << " " << (r > 0 && c == 0 && code_first_column ? "`" + escaped + "`" : escaped) << " |";
    }
    out << "\n";
    if (r == 0) {
      out << "|";
      for (size_t i = 0; i < rows[0].size(); ++i) out << " --- |";
      out << "\n";
    }
  }
  return out.str();
}

std::string FormatTable(const ParamTable& table, bool all) {
  return FormatColumns(TableCells(table, all)) + SummaryLine(table, all);
}

std::string FormatMarkdown(const ParamTable& table, bool all) {
  return FormatMarkdownRows(TableCells(table, all), true) + "\n" + SummaryLine(table, all);
}

std::string FormatTableRows(const ParamTable& table) { return FormatColumns(TableCells(table, true)); }

std::string FormatCounters(const std::map<std::string, std::map<std::string, int64_t>>& counters,
                           const std::vector<std::string>& pass_order) {
  std::ostringstream out;
  for (const auto& pass : pass_order) {
    auto it = counters.find(pass);
    if (it == counters.end()) continue;
    for (const auto& [name, value] : it->second) out << pass << ": " << name << " = " << value << "\n";
  }
  return out.str();
}

}  // namespace reinit
