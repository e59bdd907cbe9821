// The command line: CLI11 definitions of the subcommands, built from two tables — the policy settings
// (passes/policy/settings.h, shared with rules files) and the options only the command line has (below) — so
// each subcommand offers exactly the options it takes. Values are checked by the same parsers rules
// files use, and errors say in words what is wrong; an unknown option suggests the closest one.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>
#include <ostream>

#include "passes/graph/names.h"
#include "passes/policy/settings.h"
#include "passes/graph/status.h"
#include "passes/report/version.h"
#include "tool/listings.h"
#include "tool/options.h"

namespace reinit {

template <>
struct Names<OutputFormat> {
  static constexpr Named<OutputFormat> table[] = {
      {OutputFormat::kText, "text"},   {OutputFormat::kJson, "json"},     {OutputFormat::kMarkdown, "markdown"},
      {OutputFormat::kJunit, "junit"}, {OutputFormat::kGithub, "github"}};
};

namespace {

constexpr unsigned kPlan = kPlanCommand, kRewrite = kRewriteCommand, kCheck = kCheckCommand, kAudit = kAuditCommand,
                   kExport = kExportCommand, kAll = kEveryCommand;

// export-weights takes plan's policy settings: they decide which tensors count as re-initialized.
unsigned SettingsBit(unsigned command) { return command == kExport ? kPlan : command; }

// The commands each --format serves: the CI formats report check's verdicts, which only check has.
constexpr std::pair<OutputFormat, unsigned> kFormatCommands[] = {
    {OutputFormat::kText, kAll},    {OutputFormat::kJson, kAll},     {OutputFormat::kMarkdown, kAll},
    {OutputFormat::kJunit, kCheck}, {OutputFormat::kGithub, kCheck}};

unsigned FormatCommands(OutputFormat f) {
  for (auto [format, commands] : kFormatCommands) {
    if (format == f) return commands;
  }
  return 0;
}

// Commands by bit, for messages ("--tolerance is an option of check").
constexpr std::pair<unsigned, const char*> kCommandNames[] = {
    {kPlan, "plan"}, {kRewrite, "rewrite"}, {kCheck, "check"}, {kAudit, "audit"}, {kExport, "export-weights"}};

// What the command line gives, before it is checked: the raw texts of the options.
struct Raw {
  std::map<std::string, std::string> values;              // option -> text (the last one given)
  std::map<std::string, std::vector<std::string>> lists;  // repeatable setting -> texts
  std::map<std::string, bool> flags;
};

// The options only the command line has. `value` null: a flag.
struct CliOption {
  const char* names;  // CLI11 names: "-o,--output"
  const char* value;
  const char* help;
  unsigned commands;
};

// clang-format off
const CliOption kCliOptions[] = {
  {"-o,--output",          "OUT",  "output model (must differ from the input; '-' writes it to stdout)", kRewrite},
  {"--in-place",           nullptr, "replace the input model itself (written atomically)", kRewrite},
  {"--external-data-file", "NAME", "write tensors to this data file beside the output (a file name; automatic over 2 GB)", kRewrite},
  {"--size-threshold",     "BYTES", "with external data: tensors of at least this many bytes go to the data file (default 1024)", kRewrite},
  {"--threads",            "N",    "generation threads (default: one per core); the output never depends on it", kRewrite},
  {"--export-weights",     "W.safetensors", "also write the re-initialized tensors as safetensors, keyed by the framework's names and in its layouts", kRewrite},
  {"--export-all",         nullptr, "with --export-weights: every parameter, not only the re-initialized ones", kRewrite},
  {"--name-map",           "FILE", "JSON or YAML map of ONNX tensor names to the names to export them under", kRewrite | kExport},
  {"--tolerance",          "T",    "allowed relative deviation of a measured std (default 0.25)", kCheck},
  {"--audit",              nullptr, "also print the signal audit (as the audit command) and put it in the report", kPlan | kRewrite},
  {"--planned",            nullptr, "audit what rewrite with these options would produce, not the model as stored", kAudit},
  {"--input-std",          "S",    "the audit's input std (default 1)", kPlan | kRewrite | kAudit},
  {"--bn",                 "MODE", "the audit's BatchNormalization: training (batch statistics, default) or inference (running statistics)", kPlan | kRewrite | kAudit},
  {"--plot",               "P.svg", "write the audit as an SVG plot of std against depth", kAudit},
  {"--fail-outside",       "LO,HI", "exit 6 when the forward or backward ratio leaves [LO, HI]", kAudit},
  {"--config",             "RULES", "rules file (YAML or JSON): settings and ordered match -> init rules", kAll},
  {"--untie-shared",       nullptr, "give each layer that shares a parameter its own copy (named <name>.untied.<k>)", kAll},
  {"--report",             "R.json", "write the JSON report to this file", kAll},
  {"--format",             "F",    "stdout: text (default), json (the report) or markdown; check also junit (JUnit XML) or github (workflow annotations)", kAll},
  {"--all",                nullptr, "list every tensor in the table, not only parameters", kPlan | kRewrite},
  {"--all",                nullptr, "export every parameter, not only those the options select for re-initialization", kExport},
  {"--passes",             "LIST", "run only this prefix of the pipeline, e.g. find-params,infer-fans", kPlan},
  {"--dump-after",         "PASS", "print the parameter table to stderr after this pass", kAll},
  {"--stats",              nullptr, "print per-pass counters to stderr", kAll},
  {"-q,--quiet",           nullptr, "print nothing but errors (check: only the layers that are off)", kAll},
  {"-v,--verbose",         nullptr, "also print per-pass counters to stderr", kAll},
};
// clang-format on

// "-o,--output" -> "--output".
std::string LongName(const std::string& names) { return names.substr(names.rfind(',') + 1); }

void AddOptions(CLI::App* cmd, unsigned command, Raw* raw) {
  cmd->add_option("model", raw->values["model"], "input ONNX model")->required();
  if (command == kExport) cmd->add_option("weights", raw->values["weights"], "the safetensors file to write")->required();
  auto add = [&](const std::string& names, const char* value, const std::string& help, bool list) {
    const std::string key = LongName(names);
    if (value == nullptr) {
      cmd->add_flag(names, raw->flags[key], help);
    } else if (list) {
      cmd->add_option(names, raw->lists[key], help)->type_name(value);
    } else {
      cmd->add_option(names, raw->values[key], help)->type_name(value)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  };
  for (const CliOption& o : kCliOptions) {
    if (o.commands & command) add(o.names, o.value, o.help, false);
  }
  for (const Setting& s : Settings()) {
    if (s.commands & SettingsBit(command)) add(s.flag, s.value_name, s.help, s.list);
  }
}

// Levenshtein distance, for suggesting the option a typo meant.
size_t Distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest of `candidates` to `word`, if it is close enough to be a typo of it.
std::string Closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const size_t d = Distance(word, c);
    if (d < best_distance) best = c, best_distance = d;
  }
  return best;
}

// "check", "plan and rewrite": the commands whose bits are set, for messages.
std::string CommandList(unsigned bits) {
  std::vector<std::string> names;
  for (auto [bit, c] : kCommandNames) {
    if (bits & bit) names.push_back(c);
  }
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) list += (i ? (i + 1 == names.size() ? " and " : ", ") : "") + names[i];
  return list;
}

// "text, json or markdown": the formats `command` takes, for its error message.
std::string FormatList(unsigned command) {
  std::vector<std::string> names;
  for (auto [format, commands] : kFormatCommands) {
    if (commands & command) names.push_back(NameOf(format));
  }
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) list += (i ? (i + 1 == names.size() ? " or " : ", ") : "") + names[i];
  return list;
}

// What is wrong with the arguments a subcommand did not take ("" if none).
std::string Unexpected(const CLI::App& cmd, unsigned command, const std::vector<std::string>& extras) {
  if (extras.empty()) return "";
  std::string arg = extras[0];
  for (const auto& e : extras) {
    if (e.rfind("-", 0) == 0) {
      arg = e;
      break;
    }
  }
  if (arg.rfind("-", 0) != 0) return "unexpected argument '" + arg + "'";
  const std::string name = arg.substr(0, arg.find('='));
  // An option of another command.
  unsigned commands = 0;
  for (const CliOption& o : kCliOptions) {
    if (LongName(o.names) == name && !(o.commands & command)) commands |= o.commands;
  }
  for (const Setting& s : Settings()) {
    if (s.flag == name && !(s.commands & SettingsBit(command))) commands |= s.commands;
  }
  if (commands != 0) return name + " is an option of " + CommandList(commands) + ", not of " + cmd.get_name();
  std::vector<std::string> names;
  for (const CLI::Option* o : cmd.get_options()) {
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
  }
  const std::string suggestion = Closest(name, names);
  return "unknown option " + name + (suggestion.empty() ? "" : "; did you mean " + suggestion + "?");
}

// Moves the raw texts into `o`, checking each; "" or the error.
std::string Apply(const Raw& raw, unsigned command, Options* o) {
  auto value = [&](const std::string& key) -> const std::string* {
    auto it = raw.values.find(key);
    return it == raw.values.end() || it->second.empty() ? nullptr : &it->second;
  };
  auto flag = [&](const std::string& key) {
    auto it = raw.flags.find(key);
    return it != raw.flags.end() && it->second;
  };
  o->input = raw.values.at("model");
  if (auto* v = value("--output")) o->output = *v;
  if (auto* v = value("--config")) o->config = *v;
  if (auto* v = value("--report")) o->report = *v;
  if (auto* v = value("--passes")) o->passes = *v;
  if (auto* v = value("--dump-after")) o->dump_after = *v;
  if (auto* v = value("--external-data-file")) o->external_data_file = *v;
  if (auto* v = value("weights")) o->export_weights = *v;
  if (auto* v = value("--export-weights")) o->export_weights = *v;
  if (auto* v = value("--name-map")) o->name_map = *v;
  if (auto* v = value("--format")) {
    const auto f = ParseName<OutputFormat>(*v);
    if (f && !(FormatCommands(*f) & command)) {
      return "--format " + *v + " is a format of " + CommandList(FormatCommands(*f)) + ", not of " + o->command;
    }
    if (!f) return "--format must be " + FormatList(command) + ", not '" + *v + "'";
    o->format = *f;
  }
  if (auto* v = value("--size-threshold")) {
    const std::string e = ParseNonNegativeInteger(*v, &o->size_threshold, UINT64_MAX);
    if (!e.empty()) return "--size-threshold " + e;
  }
  if (auto* v = value("--threads")) {
    uint64_t n = 0;
    const std::string e = ParseNonNegativeInteger(*v, &n, 1024);
    if (!e.empty()) return "--threads " + e;
    o->threads = static_cast<unsigned>(n);
  }
  if (auto* v = value("--tolerance")) {
    const std::string e = ParsePositiveNumber(*v, &o->tolerance);
    if (!e.empty()) return "--tolerance " + e;
  }
  if (auto* v = value("--input-std")) {
    const std::string e = ParsePositiveNumber(*v, &o->input_std);
    if (!e.empty()) return "--input-std " + e;
  }
  if (auto* v = value("--bn")) {
    if (*v != "training" && *v != "inference") return "--bn must be training or inference, not '" + *v + "'";
    o->bn_inference = *v == "inference";
  }
  if (auto* v = value("--plot")) o->plot = *v;
  if (auto* v = value("--fail-outside")) {
    const size_t comma = v->find(',');
    double lo = 0, hi = 0;
    if (comma == std::string::npos || !ParsePositiveNumber(v->substr(0, comma), &lo).empty() ||
        !ParsePositiveNumber(v->substr(comma + 1), &hi).empty() || lo > hi) {
      return "--fail-outside must be LO,HI with 0 < LO <= HI, not '" + *v + "'";
    }
    o->fail_outside = std::pair{lo, hi};
  }
  o->audit = flag("--audit");
  o->planned = flag("--planned");
  o->in_place = flag("--in-place");
  o->untie_shared = flag("--untie-shared");
  o->all = flag("--all");
  o->export_all = flag("--export-all") || (command == kExport && o->all);
  if (flag("--export-all") && o->export_weights.empty()) return "--export-all needs --export-weights";
  if (!o->name_map.empty() && o->export_weights.empty()) return "--name-map needs --export-weights";
  o->stats = flag("--stats");
  if (flag("--quiet") && flag("--verbose")) return "-q and -v cannot be combined";
  o->verbosity = flag("--quiet") ? 0 : flag("--verbose") ? 2 : 1;
  // Policy settings: checked here, with the flag's name, so a bad value stops before any work.
  for (const Setting& s : Settings()) {
    if (!(s.commands & SettingsBit(command))) continue;
    std::vector<std::string> texts;
    if (s.list) {
      auto it = raw.lists.find(s.flag);
      if (it != raw.lists.end()) texts = it->second;
    } else if (s.value_name == nullptr) {
      if (flag(s.flag)) texts = {"true"};
    } else if (auto* v = value(s.flag)) {
      texts = {*v};
    }
    for (const auto& text : texts) {
      Policy scratch;
      const std::string error = s.set(text, scratch);
      if (!error.empty()) return std::string(s.flag) + " " + error;
      o->Set(s.key, text);
    }
  }
  return "";
}

}  // namespace

int ParseCommandLine(int argc, const char* const* argv, Options* o, std::ostream& out, std::ostream& err) {
  CLI::App app{std::string(kToolName) + " " + kToolVersion +
               ": re-initialize the learnable parameters of an ONNX model by the weight-initialization note"};
  app.name(kToolName);
  app.set_version_flag("--version", std::string(kToolName) + " " + kToolVersion);
  app.footer(
      "Examples:\n"
      "  onnx-reinit plan model.onnx\n"
      "  onnx-reinit rewrite model.onnx -o fresh.onnx --seed 7 --report fresh.json\n"
      "  onnx-reinit rewrite model.onnx -o tuned.onnx --reinit-last 1\n"
      "  onnx-reinit check fresh.onnx --tolerance 0.25\n"
      "  onnx-reinit audit model.onnx --planned --plot signal.svg\n"
      "  onnx-reinit rewrite model.onnx -o fresh.onnx --export-weights fresh.safetensors\n"
      "  onnx-reinit --list-passes\n"
      "Exit codes: 0 ok, 1 internal error, 2 usage error, 3 unreadable or invalid model,\n"
      "            4 unsupported construct, 5 write failure, 6 check found layers off (audit: a ratio\n"
      "            left --fail-outside).");
  bool list_passes = false;
  app.add_flag("--list-passes", list_passes, "print every pass of the pipeline with a one-line summary");
  std::string list;
  app.add_option("--list", list, "print a table the tool decides by, in Markdown")
      ->check(CLI::IsMember(ListNames()))
      ->type_name([] {
        std::string names;
        for (const std::string& name : ListNames()) names += (names.empty() ? "" : "|") + name;
        return names;
      }());
  app.allow_extras();

  struct Command {
    const char* name;
    unsigned bit;
    const char* summary;
    const char* example;
    CLI::App* app = nullptr;
    Raw raw;
  };
  Command commands[] = {
      {"plan", kPlan, "dry run: print the per-layer decisions, write nothing but --report",
       "onnx-reinit plan models/cnn_bn.onnx --report plan.json", nullptr, {}},
      {"rewrite", kRewrite, "re-initialize the parameters and write a new model",
       "onnx-reinit rewrite models/cnn_bn.onnx -o fresh.onnx --seed 7 --report fresh.json", nullptr, {}},
      {"check", kCheck, "compare an initialized model's parameters with what the policy recommends",
       "onnx-reinit check fresh.onnx --tolerance 0.25   # exit 6 if a layer is off", nullptr, {}},
      {"audit", kAudit, "predict each layer's forward and backward signal std from the graph and the weights",
       "onnx-reinit audit models/mlp_tanh.onnx --planned --plot signal.svg", nullptr, {}},
      {"export-weights", kExport, "write a model's parameters as safetensors, keyed by the framework's names and in its layouts",
       "onnx-reinit export-weights fresh.onnx fresh.safetensors --all", nullptr, {}},
  };
  for (Command& c : commands) {
    c.app = app.add_subcommand(c.name, c.summary);
    AddOptions(c.app, c.bit, &c.raw);
    c.app->allow_extras();
    c.app->footer(std::string("Example:\n  ") + c.example);
  }
  app.require_subcommand(0, 1);
  auto usage = [&](const std::string& message) {
    err << kToolName << ": error: " << message << " (see --help)\n";
    return static_cast<int>(ExitCode::kUsage);
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help, --version
    return usage(e.what());
  }
  if (list_passes) {
    o->command = "list-passes";
    return -1;
  }
  if (!list.empty()) {
    o->command = "list";
    o->list = list;
    return -1;
  }
  for (Command& c : commands) {
    if (!c.app->parsed()) continue;
    o->command = c.name;
    if (std::string problem = Unexpected(*c.app, c.bit, c.app->remaining()); !problem.empty()) return usage(problem);
    if (std::string problem = Apply(c.raw, c.bit, o); !problem.empty()) return usage(problem);
    if (o->command == "rewrite") {
      if (o->in_place && !o->output.empty()) return usage("--output and --in-place cannot be combined");
      if (o->in_place) o->output = o->input;
      if (o->output.empty()) return usage("rewrite needs -o OUT.onnx, or --in-place");
      if (!o->export_weights.empty() && o->output == "-") {
        return usage("--export-weights needs the model written to a file, not to stdout");
      }
    }
    return -1;
  }
  const std::vector<std::string> extras = app.remaining();
  if (!extras.empty()) {
    std::string word = extras[0];
    if (word.rfind("-", 0) == 0) return usage("unknown option " + word);
    const std::string suggestion = Closest(word, {"plan", "rewrite", "check", "audit", "export-weights"});
    return usage("unknown command '" + word + "' (plan, rewrite, check, audit or export-weights" +
                 (suggestion.empty() ? "" : "; did you mean " + suggestion + "?") + ")");
  }
  err << app.help();
  err << kToolName << ": error: a command is required (plan, rewrite, check, audit or export-weights)\n";
  return static_cast<int>(ExitCode::kUsage);
}

}  // namespace reinit
