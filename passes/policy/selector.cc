#include "passes/policy/selector.h"

#include <fnmatch.h>

#include "passes/graph/graph_index.h"

namespace reinit {

Status Pattern::Parse(const std::string& text, Pattern* out) {
  out->text_ = text;
  out->regex_.reset();
  if (text.empty()) return {ExitCode::kUsage, "empty pattern"};
  if (text.size() >= 2 && text.front() == '/' && text.back() == '/') {
    try {
      out->regex_.emplace(text.substr(1, text.size() - 2), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return {ExitCode::kUsage, "bad regular expression " + text + ": " + e.what()};
    }
  }
  return Status::Ok();
}

bool Pattern::Matches(const std::string& value) const {
  if (regex_) return std::regex_match(value, *regex_);
  return ::fnmatch(text_.c_str(), value.c_str(), 0) == 0;
}

bool Match::Matches(const ParamRow& row, const GraphIndex& index) const {
  // The nodes that read the tensor (directly) and the layer that gave its role.
  std::vector<std::pair<std::string, std::string>> nodes;  // label, op type
  for (const auto& c : row.consumers) nodes.emplace_back(c.node, c.op_type);
  for (const auto& use : row.uses) nodes.emplace_back(index.NodeLabel(*use.layer), use.layer->op_type());
  auto any_node = [&](const Pattern& p, bool op) {
    for (const auto& [label, op_type] : nodes) {
      if (p.Matches(op ? op_type : label)) return true;
    }
    return false;
  };
  if (name && !name->Matches(row.name)) return false;
  if (node && !any_node(*node, false)) return false;
  if (op && !any_node(*op, true)) return false;
  // A tensor the exporter merged from several (a BatchNorm scale that is also another's running
  // variance) has each of its uses' roles, not only the deciding one.
  auto any_role = [&](const Pattern& p) {
    if (p.Matches(NameOf(row.role))) return true;
    for (const auto& use : row.uses) {
      if (p.Matches(NameOf(use.role))) return true;
    }
    return false;
  };
  if (role && !any_role(*role)) return false;
  if (activation && !activation->Matches(row.act.name)) return false;
  if (any_name && !any_name->Matches(row.name) && !any_node(*any_name, false)) return false;
  return true;
}

Status ParseSelector(const std::string& text, Match* out) {
  *out = Match{};
  out->text = text;
  const size_t eq = text.find('=');
  const std::string field = eq == std::string::npos ? "" : text.substr(0, eq);
  const std::string pattern = eq == std::string::npos ? text : text.substr(eq + 1);
  std::optional<Pattern>* slot = nullptr;
  if (field.empty() || (field.find('/') != std::string::npos)) {
    slot = &out->any_name;  // no field (a regex may itself contain '=')
  } else if (field == "name") {
    slot = &out->name;
  } else if (field == "node") {
    slot = &out->node;
  } else if (field == "op") {
    slot = &out->op;
  } else if (field == "role") {
    slot = &out->role;
  } else if (field == "activation") {
    slot = &out->activation;
  } else {
    return {ExitCode::kUsage, "selector '" + text + "': unknown field '" + field +
                                  "' (name, node, op, role or activation)"};
  }
  Pattern p;
  REINIT_RETURN_IF_ERROR(Pattern::Parse(slot == &out->any_name ? text : pattern, &p));
  *slot = std::move(p);
  return Status::Ok();
}

}  // namespace reinit
