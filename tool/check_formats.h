// check's CI formats: the verdicts of a check report (the JSON object cmd_check.cc builds and --report
// writes) as a JUnit XML report, or as GitHub Actions workflow commands. Both read only the report, so
// what they call off is exactly what the report's "verdict" says.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace reinit {

// One <testsuite> named after the model, one <testcase> per checked tensor, a <failure> for each one
// that is off (measured and target std, ratio, allowed deviation, and the orthogonality error when that
// is what failed). Every name is XML-escaped.
std::string FormatJunit(const nlohmann::ordered_json& report);

// An ::error annotation per tensor that is off, then one summary line: ::error when any is off, ::notice
// when all are ok. With `quiet`, nothing when all are ok. Data and properties are escaped by the
// workflow-command rules.
std::string FormatGithub(const nlohmann::ordered_json& report, bool quiet);

// The one-line reason a checked tensor is off, or its figures when ok: "measured std 0.1, target 0.2722
// (ratio 0.3674, allowed ±0.2611)" and ", orthogonality error 0.5 > 0.25" when that failed.
std::string VerdictMessage(const nlohmann::ordered_json& layer, double tolerance);

}  // namespace reinit
