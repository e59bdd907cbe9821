// What the command line asked for, as plain data: commands are run from this struct, so tests can run
// them without argv. Optional fields were not given; the rules file (--config) or the preset decides.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "passes/param_table.h"

namespace reinit {

enum class OutputFormat { kText, kJson, kMarkdown };

struct Options {
  std::string command;  // "plan", "rewrite", "check" or "list-passes"
  std::string input;
  std::string output;   // rewrite: the new model
  std::string report;   // --report: JSON report path, empty for none
  std::string config;   // --config: rules file (YAML or JSON)
  std::optional<std::string> preset;
  std::optional<uint64_t> seed;
  std::optional<std::string> distribution, gain, mode, residual_scaling;
  std::optional<double> forget_bias, embedding_std;
  std::vector<std::string> only, exclude, keep;
  std::optional<int64_t> reinit_last, reinit_blocks;
  bool allow_empty = false;
  std::string passes;      // --passes a,b,c; empty: the command's whole pipeline
  std::string dump_after;  // --dump-after PASS
  bool stats = false;
  bool untie_shared = false;  // --untie-shared: each layer gets its own copy of a shared parameter
  double tolerance = 0.25;    // check: allowed relative deviation of a measured std
  OutputFormat format = OutputFormat::kText;
  int verbosity = 1;          // 0 with -q, 2 with -v
  unsigned threads = 0;       // --threads: generation threads, 0 = one per core (never changes the output)
  bool in_place = false;            // rewrite: replace the input model (atomically)
  std::string external_data_file;  // rewrite: write tensors to this data file beside the output
  uint64_t size_threshold = 1024;  // rewrite: tensors of at least this many bytes go to the data file
  // rewrite, plan: main-graph initializers of an inline model with at least this many raw bytes are never
  // read into memory; rewrite streams them (regenerated or copied) into the output. 0: never. Not a
  // flag (tests lower it to stream every tensor).
  int64_t stream_threshold = int64_t{1} << 20;
};

// Runs a parsed command; results go to `out`, diagnostics (errors, warnings, dumps, stats, progress)
// to `err`. Returns the process exit code (see ExitCode).
int RunCommand(const Options& options, std::ostream& out, std::ostream& err);

// Parses argv into `options`. Returns -1 to go on and run the command, or the exit code to stop with
// (0 after --help, kUsage after a parse error, which has been printed to `err`).
int ParseCommandLine(int argc, const char* const* argv, Options* options, std::ostream& out, std::ostream& err);

}  // namespace reinit
