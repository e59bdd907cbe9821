// The report: the parameter table as JSON (schema in schema/report.schema.json, documented in the
// README) and as the per-layer terminal table.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "passes/graph/numbers.h"
#include "passes/graph/param_table.h"
#include "passes/graph/signal.h"
#include "passes/policy/policy.h"

namespace reinit {

inline constexpr int kReportSchemaVersion = 1;

struct RunInfo {
  std::string command;  // "plan" or "rewrite"
  std::string input_path, input_sha256;
  std::string output_path, output_sha256;  // empty for plan
  Policy policy;
  const SignalAudit* audit = nullptr;  // the signal audit, when one was asked for: the "audit" object
};

nlohmann::ordered_json BuildReport(const ParamTable& table, const RunInfo& run);

// The per-layer table: one line per parameter (per tensor with `all`): tensor, role, op, shape, fan_in,
// fan_out, activation, scheme, std, bound, action (kept rows say why), then the summary line.
std::string FormatTable(const ParamTable& table, bool all = false);
// The table of every tensor, without the summary (--dump-after: the columns filled so far).
std::string FormatTableRows(const ParamTable& table);

// How many rows were re-initialized, kept (by why) and left undecided.
struct Tally {
  int64_t reinitialized = 0, kept = 0, undecided = 0;
  int64_t by[static_cast<int>(Kept::kBySelection) + 1] = {};  // kept rows, indexed by Kept
};
Tally Count(const ParamTable& table);

// "277 tensors: 80 re-initialized, 0 kept by selection, 197 non-parameters not shown (--all)"
std::string SummaryLine(const ParamTable& table, bool all);

// Why a run re-initializes nothing ("119 parameters are quantized (kept)"), for rewrite's refusal.
std::string NothingToDo(const ParamTable& table);

// What deserves a look once a run is done: float tensors of a layer's size kept for having no role,
// shared tensors whose uses disagree, quantized tensors kept — one line per kind, with the count and
// the first names.
std::vector<std::string> Notes(const ParamTable& table);

// A number as the tables print it: 4 significant digits.
inline std::string Short(double v) { return FormatNumber(v, 4); }

// Rows of cells (the first row a header) as aligned columns separated by two spaces, or as a Markdown
// table ('|' escaped; the first column in code spans when asked). Any command's table uses these.
std::string FormatColumns(const std::vector<std::vector<std::string>>& rows);
std::string FormatMarkdownRows(const std::vector<std::vector<std::string>>& rows, bool code_first_column);

// The same table in Markdown, for a pull-request comment (names in code spans, the summary after it).
std::string FormatMarkdown(const ParamTable& table, bool all = false);

// Counters of --stats, one line each: "pass: counter = value".
std::string FormatCounters(const std::map<std::string, std::map<std::string, int64_t>>& counters,
                           const std::vector<std::string>& pass_order);

}  // namespace reinit
