// The audit as a picture: a self-contained SVG (no scripts, no external files; opens in any browser)
// of log std against depth, the forward line (each layer's pre-activation std) and the backward line
// (the gradient's std at each layer's input), one marker per layer, residual blocks shaded in
// alternation, and the layers where the signal changes most labeled.
#pragma once

#include <string>

#include "passes/graph/signal.h"

namespace reinit {

std::string SignalPlotSvg(const SignalAudit& audit, const std::string& title);

}  // namespace reinit
