#include "passes/report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "passes/tensor_data.h"
#include "passes/version.h"

namespace reinit {

// ordered_json keeps keys in the order written here, which is the order the README documents.
using json = nlohmann::ordered_json;

namespace {

// The distribution only means something for the random, variance-scaled schemes.
bool HasDistribution(Scheme s) {
  return s == Scheme::kXavier || s == Scheme::kHe || s == Scheme::kLeCun || s == Scheme::kNormal || s == Scheme::kUniform;
}

std::string Short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

json RowJson(const ParamRow& r) {
  json consumers = json::array();
  for (const auto& c : r.consumers) {
    consumers.push_back({{"node", c.node}, {"op_type", c.op_type}, {"input_index", c.input_index}});
  }
  json row = {
      {"name", r.name},
      {"dtype", DTypeName(r.dtype)},
      {"shape", r.shape},
      {"source", r.source},
      {"graph", r.graph},
      {"consumers", consumers},
      {"role", RoleName(r.role)},
      {"through", r.through},
      {"conflicts", r.conflicts},
      {"fan_in", r.has_fans ? json(r.fan_in) : json(nullptr)},
      {"fan_out", r.has_fans ? json(r.fan_out) : json(nullptr)},
      {"receptive_field", r.receptive_field},
      {"groups", r.groups},
      {"gate_blocks", r.gate_blocks},
      {"directions", r.directions},
      {"activation", r.activation.empty() ? json(nullptr) : json(r.activation)},
      {"activation_path", r.activation_path},
      {"scheme", SchemeName(r.scheme)},
      {"distribution", HasDistribution(r.scheme) ? json(DistributionName(r.distribution)) : json(nullptr)},
      {"gain", r.gain},
      {"mode", r.mode.empty() || r.action != Action::kReinitialize ? json(nullptr) : json(r.mode)},
      {"std", r.action == Action::kReinitialize ? json(r.std) : json(nullptr)},
      {"bound", r.bound ? json(*r.bound) : json(nullptr)},
      {"value", r.scheme == Scheme::kConstant ? json(r.constant) : json(nullptr)},
      {"action", r.action == Action::kReinitialize ? "reinitialized" : "kept"},
      {"reason", r.reason},
      {"stats", nullptr},
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
  int64_t reinitialized = 0, kept = 0;
  for (const auto& r : table) {
    tensors.push_back(RowJson(r));
    by_role[RoleName(r.role)] = by_role.value(RoleName(r.role), 0) + 1;
    if (r.action == Action::kReinitialize) {
      by_scheme[SchemeName(r.scheme)] = by_scheme.value(SchemeName(r.scheme), 0) + 1;
      ++reinitialized;
    } else {
      ++kept;
    }
  }
  return {
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
        {"reinitialized", reinitialized},
        {"kept", kept},
        {"by_role", by_role},
        {"by_scheme", by_scheme}}},
      {"tensors", tensors},
  };
}

namespace {

// The per-layer table's cells: a header row, then one row per tensor.
std::vector<std::vector<std::string>> TableCells(const ParamTable& table) {
  std::vector<std::vector<std::string>> rows = {
      {"tensor", "op", "shape", "fan_in", "fan_out", "activation", "scheme", "std", "bound", "action"}};
  for (const auto& r : table) {
    const bool reinit = r.action == Action::kReinitialize;
    std::string scheme = reinit ? SchemeName(r.scheme) : "-";
    if (reinit && r.scheme == Scheme::kConstant) scheme += "(" + Short(r.constant) + ")";
    if (reinit && HasDistribution(r.scheme)) {
      scheme += r.bound ? " U" : r.distribution == Distribution::kTruncatedNormal ? " TN" : " N";
    }
    rows.push_back({
        r.name,
        r.layer != nullptr ? r.layer->op_type() : (r.consumers.empty() ? "-" : r.consumers[0].op_type),
        ShapeText(r.shape),
        r.has_fans ? std::to_string(r.fan_in) : "-",
        r.has_fans ? std::to_string(r.fan_out) : "-",
        r.activation.empty() ? "-" : r.activation,
        scheme,
        reinit && r.scheme != Scheme::kConstant ? Short(r.std) : "-",
        r.bound ? Short(*r.bound) : "-",
        reinit ? "reinit" : "kept: " + std::string(RoleName(r.role)),
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

std::string FormatTable(const ParamTable& table) { return FormatColumns(TableCells(table)); }

std::string FormatMarkdown(const ParamTable& table) { return FormatMarkdownRows(TableCells(table), true); }

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
