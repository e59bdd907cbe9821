// How numbers are written in tables, reasons and messages: in one place, so that a value reads the
// same wherever it appears.
#pragma once

#include <cstdio>
#include <string>

namespace reinit {

// `v` with at most `digits` significant digits, as printf's %g writes it: "0.01", "1.5e+04", "inf".
inline std::string FormatNumber(double v, int digits = 6) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

// `v` with `decimals` digits after the point, as printf's %f writes it: "0.42".
inline std::string FormatFixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace reinit
