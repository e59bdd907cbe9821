// check --format junit and --format github (tool/check_formats.h).
#include "tool/check_formats.h"

#include <cstdio>

#include "passes/report/report.h"

namespace reinit {

namespace {

using json = nlohmann::ordered_json;

// A number of the report as the tables print it; the report has null where a value was not finite.
std::string Number(const json& value) { return value.is_number() ? Short(value.get<double>()) : "not finite"; }

// XML character data and attribute values: the five markup characters as entities; tab, newline and
// carriage return as character references (an attribute value would turn them into spaces); and the
// other control characters, which XML 1.0 cannot carry at all, as U+FFFD.
std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\t': out += "&#9;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += "\xEF\xBF\xBD";
        else out += c;
    }
  }
  return out;
}

// The workflow-command rules (@actions/core's escapeData and escapeProperty): '%', CR and LF as
// percent-escapes in the message; in a property (file=, title=) also ':' and ',', which end it.
std::string GithubData(const std::string& text, bool property = false) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '%': out += "%25"; break;
      case '\r': out += "%0D"; break;
      case '\n': out += "%0A"; break;
      case ':': out += property ? "%3A" : ":"; break;
      case ',': out += property ? "%2C" : ","; break;
      default: out += c;
    }
  }
  return out;
}

const char kTitle[] = "onnx-reinit check";

}  // namespace

std::string VerdictMessage(const json& layer, double tolerance) {
  std::string message = "measured std " + Number(layer["measured_std"]) + ", target " + Number(layer["target_std"]) +
                        " (ratio " + Number(layer["ratio"]) + ", allowed ±" + Number(layer["allowed_deviation"]) + ")";
  // Only orthogonal recurrent weights have an orthogonality error; one that is not finite comes with a
  // std that is not finite either, which the ratio already shows.
  const json& orthogonality = layer["orthogonality_error"];
  if (orthogonality.is_number() && !(orthogonality.get<double>() <= tolerance)) {
    message += ", orthogonality error " + Number(orthogonality) + " > " + Short(tolerance);
  }
  return message;
}

std::string FormatJunit(const json& report) {
  const std::string model = XmlEscape(report["input"]["path"].get<std::string>());
  const json& summary = report["summary"];
  const double tolerance = report["tolerance"].get<double>();
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  const std::string counts = "tests=\"" + std::to_string(summary["checked"].get<int64_t>()) + "\" failures=\"" +
                             std::to_string(summary["off"].get<int64_t>()) + "\" errors=\"0\" skipped=\"0\"";
  xml += "<testsuites name=\"" + std::string(kTitle) + "\" " + counts + ">\n";
  xml += "  <testsuite name=\"" + model + "\" " + counts + ">\n";
  xml += "    <properties>\n";
  const std::pair<std::string, std::string> properties[] = {
      {"tool", report["tool"]["name"].get<std::string>()},
      {"version", report["tool"]["version"].get<std::string>()},
      {"tolerance", Short(tolerance)},
      {"preset", report["policy"]["name"].get<std::string>()},
      {"sha256", report["input"]["sha256"].get<std::string>()}};
  for (const auto& [name, value] : properties) {
    xml += "      <property name=\"" + name + "\" value=\"" + XmlEscape(value) + "\"/>\n";
  }
  xml += "    </properties>\n";
  for (const json& layer : report["layers"]) {
    xml += "    <testcase classname=\"" + model + "\" name=\"" + XmlEscape(layer["name"].get<std::string>()) + "\"";
    if (layer["verdict"] == "off") {
      xml += ">\n      <failure type=\"off\" message=\"" + XmlEscape(VerdictMessage(layer, tolerance)) + "\"/>\n    </testcase>\n";
    } else {
      xml += "/>\n";
    }
  }
  xml += "  </testsuite>\n</testsuites>\n";
  return xml;
}

std::string FormatGithub(const json& report, bool quiet) {
  const std::string model = report["input"]["path"].get<std::string>();
  const std::string where = "file=" + GithubData(model, true) + ",title=" + GithubData(kTitle, true);
  const double tolerance = report["tolerance"].get<double>();
  std::string lines;
  for (const json& layer : report["layers"]) {
    if (layer["verdict"] != "off") continue;
    lines += "::error " + where + "::" + GithubData(layer["name"].get<std::string>() + ": " + VerdictMessage(layer, tolerance)) + "\n";
  }
  const int64_t checked = report["summary"]["checked"].get<int64_t>(), off = report["summary"]["off"].get<int64_t>();
  if (quiet && off == 0) return lines;
  const std::string settings = "(tolerance " + Short(tolerance) + ", preset " + report["policy"]["name"].get<std::string>() + ")";
  const std::string summary = off > 0 ? std::to_string(off) + " of " + std::to_string(checked) + " tensors off the policy " + settings
                                      : "all " + std::to_string(checked) + " tensors within the policy " + settings;
  lines += std::string(off > 0 ? "::error " : "::notice ") + where + "::" + GithubData(model + ": " + summary) + "\n";
  return lines;
}

}  // namespace reinit
