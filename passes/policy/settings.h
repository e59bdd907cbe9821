// The policy settings, each declared once: its rules-file key, its command-line flag, its help, which
// commands take it, how a value is parsed, checked and stored, and how the policy echoes it in JSON.
// The command line (tool/cli.cc), the rules-file reader (passes/policy/policy.cc) and Policy::ToJson all read
// this table, so a value is accepted or refused the same way wherever it is written.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "passes/policy/policy.h"

namespace reinit {

// The commands that take an option (a bit mask).
enum CommandMask : unsigned {
  kPlanCommand = 1,
  kRewriteCommand = 2,
  kCheckCommand = 4,
  kAuditCommand = 8,
  kExportCommand = 16,  // export-weights: takes plan's settings (they say which tensors are re-initialized)
  kEveryCommand = kPlanCommand | kRewriteCommand | kCheckCommand | kAuditCommand | kExportCommand,
};

struct Setting {
  const char* key;         // rules-file key: embedding_std
  const char* flag;        // command-line flag: --embedding-std
  const char* value_name;  // in --help: "S"; nullptr for a flag that takes no value (--allow-empty)
  const char* help;
  unsigned commands;       // CommandMask
  bool list;               // repeatable; the command line replaces the rules file's list
  // Parses one value into `policy` (a list setting appends it); returns "" or what is wrong with the
  // value, to follow the flag or the key: "must be a positive number, not '0'".
  std::string (*set)(const std::string& text, Policy& policy);
  void (*clear)(Policy& policy);  // list settings: empties the list
  // The JSON echo: under `echo_key` (in the `selection` object when `in_selection`); null echo: none.
  const char* echo_key;
  bool in_selection;
  nlohmann::ordered_json (*echo)(const Policy& policy);
};

// Every setting, in the order the help and the JSON echo list them.
const std::vector<Setting>& Settings();
const Setting* FindSetting(const std::string& key);

// Value parsers shared by settings and the command line's own options; each returns "" or what is
// wrong with the text, as Setting::set does.
std::string ParseUint64(const std::string& text, uint64_t* value);        // 0 .. 2^64-1
std::string ParsePositiveInteger(const std::string& text, int64_t* value);  // 1 .. 2^63-1
std::string ParseNonNegativeInteger(const std::string& text, uint64_t* value, uint64_t max);
std::string ParseNumber(const std::string& text, double* value);          // finite
std::string ParsePositiveNumber(const std::string& text, double* value);  // finite, > 0
std::string ParseBool(const std::string& text, bool* value);              // true/false (yes/no, on/off)

}  // namespace reinit
