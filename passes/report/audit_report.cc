#include "passes/report/audit_report.h"

#include <cmath>

#include "passes/report/report.h"

namespace reinit {

using json = nlohmann::ordered_json;

namespace {

json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
std::string Cell(double v) { return std::isfinite(v) ? Short(v) : "-"; }

}  // namespace

json AuditJson(const SignalAudit& audit) {
  json layers = json::array();
  for (const LayerSignal& l : audit.layers) {
    layers.push_back({{"name", l.name},
                      {"op", l.op},
                      {"weight", l.weight},
                      {"depth", l.depth},
                      {"fan_in", l.fan_in},
                      {"activation", l.activation},
                      {"forward_std", Number(l.forward_std)},
                      {"activation_std", Number(l.activation_std)},
                      {"backward_std", Number(l.backward_std)},
                      {"gain_factor", Number(l.gain_factor)},
                      {"residual_end", l.residual_end}});
  }
  json passed = json::object();
  for (const auto& [op, n] : audit.passed_through) passed[op] = n;
  return {{"input_std", audit.input_std},
          {"layers", layers},
          {"forward_ratio", Number(audit.forward_ratio)},
          {"backward_ratio", Number(audit.backward_ratio)},
          {"forward_verdict", audit.forward_verdict},
          {"backward_verdict", audit.backward_verdict},
          {"passed_through", passed}};
}

std::string FormatAuditTable(const SignalAudit& audit, bool markdown) {
  std::vector<std::vector<std::string>> rows = {
      {"layer", "op", "depth", "fan_in", "activation", "forward_std", "activation_std", "backward_std"}};
  for (const LayerSignal& l : audit.layers) {
    rows.push_back({l.name, l.op, std::to_string(l.depth), std::to_string(l.fan_in), l.activation,
                    Cell(l.forward_std), Cell(l.activation_std), Cell(l.backward_std)});
  }
  std::string out = markdown ? FormatMarkdownRows(rows, true) : FormatColumns(rows);
  out += (markdown ? "\n" : "") + std::string("forward: last/first std ") + Cell(audit.forward_ratio) + " (" +
         audit.forward_verdict + "); backward: first/last std " + Cell(audit.backward_ratio) + " (" +
         audit.backward_verdict + ")\n";
  if (!audit.passed_through.empty()) {
    std::string ops;
    for (const auto& [op, n] : audit.passed_through) ops += (ops.empty() ? "" : ", ") + op + " x" + std::to_string(n);
    out += "approximate after ops without a rule (passed through as identity): " + ops + "\n";
  }
  return out;
}

}  // namespace reinit
