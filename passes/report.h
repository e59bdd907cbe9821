// The report: the parameter table as JSON (schema in schema/report.schema.json, documented in the
// README) and as the per-layer terminal table.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "passes/param_table.h"
#include "passes/pipeline.h"

namespace reinit {

inline constexpr int kReportSchemaVersion = 1;

struct RunInfo {
  std::string command;  // "plan" or "rewrite"
  std::string input_path, input_sha256;
  std::string output_path, output_sha256;  // empty for plan
  Policy policy;
};

nlohmann::ordered_json BuildReport(const ParamTable& table, const RunInfo& run);

// One line per tensor: tensor, op, shape, fan_in, fan_out, activation, scheme, std/bound, action.
std::string FormatTable(const ParamTable& table);

// Rows of cells (the first row a header) as aligned columns separated by two spaces, or as a Markdown
// table ('|' escaped; the first column in code spans when asked). Any command's table uses these.
std::string FormatColumns(const std::vector<std::vector<std::string>>& rows);
std::string FormatMarkdownRows(const std::vector<std::vector<std::string>>& rows, bool code_first_column);

// The same table in Markdown, for a pull-request comment.
std::string FormatMarkdown(const ParamTable& table);

// Counters of --stats, one line each: "pass: counter = value".
std::string FormatCounters(const std::map<std::string, std::map<std::string, int64_t>>& counters,
                           const std::vector<std::string>& pass_order);

}  // namespace reinit
