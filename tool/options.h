// What the command line asked for, as plain data: commands are run from this struct, so tests can run
// them without argv.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "passes/param_table.h"

namespace reinit {

struct Options {
  std::string command;  // "plan", "rewrite" or "list-passes"
  std::string input;
  std::string output;   // rewrite: the new model
  std::string report;   // --report: JSON report path, empty for none
  uint64_t seed = 0;
  Distribution distribution = Distribution::kUniform;
  std::string passes;      // --passes a,b,c; empty: the command's whole pipeline
  std::string dump_after;  // --dump-after PASS
  bool stats = false;
  bool untie_shared = false;  // --untie-shared: each layer gets its own copy of a shared parameter
};

// Runs a parsed command; results go to `out`, diagnostics (errors, dumps, stats) to `err`.
// Returns the process exit code (see ExitCode).
int RunCommand(const Options& options, std::ostream& out, std::ostream& err);

// Parses argv into `options`. Returns -1 to go on and run the command, or the exit code to stop with
// (0 after --help, kUsage after a parse error, which has been printed to `err`).
int ParseCommandLine(int argc, const char* const* argv, Options* options, std::ostream& out, std::ostream& err);

}  // namespace reinit
