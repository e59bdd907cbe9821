// Selectors: which rows a --only/--exclude/--keep flag or a rules-file `match` names.
//
//   [field=]pattern      field: name (tensor), node (a node that reads it), op (that node's op type),
//                        role (any role its uses give it), activation; without a field: the tensor's
//                        or a reading node's name.
//   pattern              a glob (fnmatch: * ? [..], '*' also crosses '.' and '/'), or /regex/
//                        (ECMAScript, must match the whole value).
//   e.g. --only 'head.*'  --exclude op=BatchNormalization  --keep 'name=/.*\.bias$/'
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "passes/graph/param_table.h"
#include "passes/graph/status.h"

namespace reinit {

class GraphIndex;

class Pattern {
 public:
  static Status Parse(const std::string& text, Pattern* out);
  bool Matches(const std::string& value) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::optional<std::regex> regex_;
};

// All given fields must match (a rules-file `match` may give several; a flag gives one).
struct Match {
  std::optional<Pattern> name, node, op, role, activation, any_name;
  bool Matches(const ParamRow& row, const GraphIndex& index) const;
  std::string text;  // as written, for messages and the report
};

// Parses one flag value, "[field=]pattern".
Status ParseSelector(const std::string& text, Match* out);

struct Selection {
  std::vector<Match> only, exclude, keep;
  std::optional<int64_t> reinit_last;    // the last N parameterized layers (with their biases and norms)
  std::optional<int64_t> reinit_blocks;  // the last N repeated blocks
  bool allow_empty = false;              // a selector that matches nothing warns instead of failing
  bool empty() const { return only.empty() && exclude.empty() && keep.empty() && !reinit_last && !reinit_blocks; }
};

}  // namespace reinit
