#include "tool/listings.h"

#include <functional>
#include <utility>

#include "passes/graph/activations.h"
#include "passes/graph/op_table.h"
#include "passes/passes.h"
#include "passes/policy/settings.h"

namespace reinit {

namespace {

using Row = std::vector<std::string>;

// A Markdown table; `|` inside a cell is escaped.
void Table(const Row& header, const std::vector<Row>& rows, std::ostream& out) {
  auto line = [&out](const Row& cells) {
    out << "|";
    for (const std::string& cell : cells) {
      std::string text;
      for (char c : cell) text += c == '|' ? std::string("\\|") : std::string(1, c);
      out << " " << (text.empty() ? "-" : text) << " |";
    }
    out << "\n";
  };
  line(header);
  out << "|";
  for (size_t i = 0; i < header.size(); ++i) out << " --- |";
  out << "\n";
  for (const Row& row : rows) line(row);
}

std::string Code(const std::string& text) { return "`" + text + "`"; }

void Passes(std::ostream& out) {
  std::vector<Row> rows;
  for (const PassInfo& p : kPasses) rows.push_back({Code(p.name), p.summary, p.reads, p.writes});
  Table({"pass", "what it does", "reads", "writes"}, rows, out);
}

void Ops(std::ostream& out) {
  std::vector<Row> rows;
  for (const OpInputRule& rule : AllOpInputRules()) {
    std::string op = std::string(rule.domain).empty() ? rule.op_type : std::string(rule.domain) + " " + rule.op_type;
    std::string role = NameOf(rule.role);
    if (rule.quantized) role += " (quantized: kept)";
    rows.push_back({op, std::to_string(rule.input), role, FanRuleText(rule.fan),
                    rule.gates > 1 ? std::to_string(rule.gates) : ""});
  }
  Table({"op", "input", "role", "layout and fans", "gate blocks"}, rows, out);
}

void Activations(std::ostream& out) {
  std::vector<Row> rows;
  for (const ActivationRow& a : FixedActivationTable()) rows.push_back({a.op_type, Code(a.kind), NameOf(a.family)});
  Table({"op", "activation", "family"}, rows, out);
}

void PassThroughs(std::ostream& out) {
  std::vector<Row> rows;
  for (const PassThroughRow& p : PassThroughTable()) rows.push_back({p.op_type, p.carries, p.condition});
  Table({"op", "carries the layer's output from", "only when"}, rows, out);
}

void SettingsTable(std::ostream& out) {
  std::vector<Row> rows;
  for (const Setting& s : Settings()) {
    std::string flag = s.flag;
    if (s.value_name != nullptr) flag += std::string(" ") + s.value_name;
    std::string commands;
    const std::pair<unsigned, const char*> kCommands[] = {
        {kPlanCommand, "plan"}, {kRewriteCommand, "rewrite"}, {kCheckCommand, "check"}};
    for (const auto& [bit, name] : kCommands) {
      if (s.commands & bit) commands += (commands.empty() ? "" : ", ") + std::string(name);
    }
    rows.push_back({Code(flag), Code(s.key) + (s.list ? " (a list)" : ""), commands, s.help});
  }
  Table({"flag", "rules-file key", "commands", "meaning"}, rows, out);
}

const std::vector<std::pair<std::string, std::function<void(std::ostream&)>>>& Listings() {
  static const std::vector<std::pair<std::string, std::function<void(std::ostream&)>>> kListings = {
      {"passes", Passes},         {"ops", Ops},
      {"activations", Activations}, {"pass-throughs", PassThroughs},
      {"settings", SettingsTable},
  };
  return kListings;
}

}  // namespace

const std::vector<std::string>& ListNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, print] : Listings()) n.push_back(name);
    return n;
  }();
  return names;
}

int RunList(const std::string& what, std::ostream& out) {
  for (const auto& [name, print] : Listings()) {
    if (name == what) {
      print(out);
      return 0;
    }
  }
  return 2;  // the command line checks the name first
}

}  // namespace reinit
