// The signal audit (passes/graph/signal.h) for people and machines: the "audit" object of the JSON
// report, the per-layer table (text or Markdown), and the plot (passes/report/signal_plot.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "passes/graph/signal.h"

namespace reinit {

// {"input_std", "layers": [{"name", "op", "weight", "depth", "fan_in", "activation", "forward_std",
//  "activation_std", "backward_std", "gain_factor"}], "forward_ratio", "backward_ratio", "forward_verdict",
//  "backward_verdict", "passed_through": {op: nodes}} (a number the audit could not predict is null).
nlohmann::ordered_json AuditJson(const SignalAudit& audit);

// One line per layer (layer, op, depth, fan_in, activation, forward, after activation, backward), then
// the two ratios with their verdicts, and the ops passed through without a rule.
std::string FormatAuditTable(const SignalAudit& audit, bool markdown);

}  // namespace reinit
