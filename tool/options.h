// What the command line asked for, as plain data: commands are run from this struct, so tests can run
// them without argv. Policy settings are kept as the texts given (parsed by the settings table of
// passes/policy/settings.h, as a rules file's are); the other options are typed.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace reinit {

// What stdout gets. kJunit and kGithub are check's CI formats (tool/check_formats.h); the command line
// refuses them for the other commands.
enum class OutputFormat { kText, kJson, kMarkdown, kJunit, kGithub };

struct Options {
  std::string command;  // "plan", "rewrite", "check", "audit", "export-weights", "list-passes" or "list"
  std::string list;     // --list WHAT (tool/listings.h)
  std::string input;
  std::string output;   // rewrite: the new model; "-" for stdout
  std::string report;   // --report: JSON report path, empty for none
  std::string config;   // --config: rules file (YAML or JSON)
  // Policy settings from the command line, (setting key, text) in the order given: they override the
  // rules file (a list setting given here replaces the file's list).
  std::vector<std::pair<std::string, std::string>> settings;
  std::string passes;      // --passes a,b,c; empty: the command's whole pipeline
  std::string dump_after;  // --dump-after PASS
  bool stats = false;
  bool all = false;           // --all: the table lists every tensor, not only parameters
  bool untie_shared = false;  // --untie-shared: each layer gets its own copy of a shared parameter
  double tolerance = 0.25;    // check: allowed relative deviation of a measured std
  // The signal audit (passes/graph/signal.h): plan/rewrite --audit print it; audit --planned audits the
  // plan instead of the model as stored.
  bool audit = false;
  bool planned = false;
  double input_std = 1;
  bool bn_inference = false;                          // --bn inference
  std::string plot;                                   // audit --plot P.svg
  std::optional<std::pair<double, double>> fail_outside;  // audit --fail-outside LO,HI
  OutputFormat format = OutputFormat::kText;
  int verbosity = 1;          // 0 with -q, 2 with -v
  unsigned threads = 0;       // --threads: generation threads, 0 = one per core (never changes the output)
  bool in_place = false;            // rewrite: replace the input model (atomically)
  std::string external_data_file;  // rewrite: write tensors to this data file beside the output
  uint64_t size_threshold = 1024;  // rewrite: tensors of at least this many bytes go to the data file
  // The new weights as safetensors keyed by the framework's names (export-weights' second argument,
  // rewrite --export-weights); every parameter with export-weights --all or rewrite --export-all.
  std::string export_weights;
  bool export_all = false;
  std::string name_map;  // --name-map: ONNX tensor name -> framework name (JSON or YAML)
  // rewrite, plan: tensors of an inline model (initializers and Constant values, in any graph) with at
  // least this many raw bytes are never read into memory; rewrite streams them (regenerated or copied)
  // into the output. 0: never. Not a flag (tests lower it to stream every tensor they can).
  int64_t stream_threshold = int64_t{1} << 20;
  // Progress lines start once a run has taken this long, then come at most this often. Not a flag
  // (tests set 0 to see every line).
  double progress_seconds = 1.0;

  // Adds a policy setting as if given on the command line: Set("seed", "7").
  Options& Set(const std::string& key, const std::string& text) {
    settings.emplace_back(key, text);
    return *this;
  }
};

// Runs a parsed command; results go to `out`, diagnostics (errors, warnings, dumps, stats, progress)
// to `err`. Returns the process exit code (see ExitCode).
int RunCommand(const Options& options, std::ostream& out, std::ostream& err);

// Parses argv into `options`. Returns -1 to go on and run the command, or the exit code to stop with
// (0 after --help or --version, kUsage after a parse error, which has been printed to `err`).
int ParseCommandLine(int argc, const char* const* argv, Options* options, std::ostream& out, std::ostream& err);

}  // namespace reinit
