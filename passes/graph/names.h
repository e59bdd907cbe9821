// One table of names per enum: the name written in reports, accepted on the command line and in rules
// files, and listed in error messages ("must be uniform, normal or truncated_normal"). Each enum
// declares its table once, next to the enum, as a specialization of Names<E>:
//
//   template <> struct Names<Distribution> {
//     static constexpr Named<Distribution> table[] = {{Distribution::kUniform, "uniform"}, ...};
//   };
//
// and NameOf, ParseName and NameList read it; nothing else spells the names.
#pragma once

#include <optional>
#include <string>

namespace reinit {

template <typename E>
struct Named {
  E value;
  const char* name;
  bool accepted = true;  // false: reported, but not a value a user may give (Scheme::kNone, "none")
};

template <typename E>
struct Names;

template <typename E>
const char* NameOf(E value) {
  for (const auto& n : Names<E>::table) {
    if (n.value == value) return n.name;
  }
  return "?";
}

template <typename E>
std::optional<E> ParseName(const std::string& text) {
  for (const auto& n : Names<E>::table) {
    if (n.accepted && text == n.name) return n.value;
  }
  return std::nullopt;
}

// "uniform, normal or truncated_normal": the accepted names, for an error message.
template <typename E>
std::string NameList() {
  std::string list, last;
  for (const auto& n : Names<E>::table) {
    if (!n.accepted) continue;
    if (!last.empty()) list += (list.empty() ? "" : ", ") + last;
    last = n.name;
  }
  return list.empty() ? last : list + " or " + last;
}

}  // namespace reinit
