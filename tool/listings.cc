#include "tool/listings.h"

#include <utility>

#include "passes/graph/activations.h"
#include "passes/graph/op_table.h"
#include "passes/passes.h"
#include "passes/policy/policy.h"
#include "passes/policy/settings.h"
#include "passes/report/report.h"

namespace reinit {

namespace {

// Rows of a listing, the header first (as FormatMarkdownRows takes them).
using Row = std::vector<std::string>;
using Rows = std::vector<Row>;

std::string Code(const std::string& text) { return "`" + text + "`"; }

Rows Passes() {
  Rows rows = {{"pass", "what it does", "reads", "writes"}};
  for (const PassInfo& p : kPasses) rows.push_back({Code(p.name), p.summary, p.reads, p.writes});
  return rows;
}

Rows Ops() {
  Rows rows = {{"op", "input", "role", "layout and fans", "gate blocks"}};
  for (const OpInputRule& rule : AllOpInputRules()) {
    std::string op = std::string(rule.domain).empty() ? rule.op_type : std::string(rule.domain) + " " + rule.op_type;
    std::string role = NameOf(rule.role);
    if (rule.quantized) role += " (quantized: kept)";
    rows.push_back({op, std::to_string(rule.input), role, FanRuleText(rule.fan),
                    rule.gates > 1 ? std::to_string(rule.gates) : ""});
  }
  return rows;
}

Rows Activations() {
  Rows rows = {{"op", "activation", "family"}};
  for (const ActivationRow& a : FixedActivationTable()) rows.push_back({a.op_type, Code(a.kind), NameOf(a.family)});
  return rows;
}

Rows PassThroughs() {
  Rows rows = {{"op", "carries the layer's output from", "only when"}};
  for (const PassThroughRow& p : PassThroughTable()) rows.push_back({p.op_type, p.carries, p.condition});
  return rows;
}

Rows SettingsTable() {
  Rows rows = {{"flag", "rules-file key", "commands", "meaning"}};
  const std::pair<unsigned, const char*> kCommands[] = {
      {kPlanCommand, "plan"}, {kRewriteCommand, "rewrite"}, {kCheckCommand, "check"}, {kAuditCommand, "audit"}};
  for (const Setting& s : Settings()) {
    std::string flag = s.flag;
    if (s.value_name != nullptr) flag += std::string(" ") + s.value_name;
    std::string commands;
    for (const auto& [bit, name] : kCommands) {
      if (s.commands & bit) commands += (commands.empty() ? "" : ", ") + std::string(name);
    }
    rows.push_back({Code(flag), Code(s.key) + (s.list ? " (a list)" : ""), commands, s.help});
  }
  return rows;
}

Rows PresetsTable() {
  Rows rows = {{"preset", "what it gives"}};
  for (const Preset& p : Presets()) rows.push_back({Code(p.name), p.description});
  return rows;
}

struct Listing {
  const char* name;
  Rows (*rows)();
};
constexpr Listing kListings[] = {
    {"passes", Passes},
    {"ops", Ops},
    {"activations", Activations},
    {"pass-throughs", PassThroughs},
    {"settings", SettingsTable},
    {"presets", PresetsTable},
};

}  // namespace

const std::vector<std::string>& ListNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Listing& l : kListings) n.push_back(l.name);
    return n;
  }();
  return names;
}

int RunList(const std::string& what, std::ostream& out) {
  for (const Listing& l : kListings) {
    if (what != l.name) continue;
    Rows rows = l.rows();
    for (Row& row : rows) {
      for (std::string& cell : row) {
        if (cell.empty()) cell = "-";  // an empty Markdown cell reads as a mistake
      }
    }
    out << FormatMarkdownRows(rows, /*code_first_column=*/false);
    return 0;
  }
  return 2;  // the command line checks the name first
}

}  // namespace reinit
