// The command line: CLI11 definitions of the subcommands and their options, filling Options.
#include <CLI/CLI.hpp>
#include <ostream>

#include "passes/status.h"
#include "passes/version.h"
#include "tool/options.h"

namespace reinit {

namespace {

// Options shared by plan and rewrite.
void AddCommonOptions(CLI::App* cmd, Options* o, std::string* distribution) {
  cmd->add_option("model", o->input, "input ONNX model")->required();
  cmd->add_option("--report", o->report, "write the JSON report to this file");
  cmd->add_option("--seed", o->seed, "random seed (default 0): same seed, same bytes");
  cmd->add_option("--distribution", *distribution, "uniform (default) or normal, for Xavier/He/LeCun")
      ->check(CLI::IsMember({"uniform", "normal"}));
  cmd->add_option("--passes", o->passes, "run only this prefix of the pipeline, e.g. find-params,infer-fans");
  cmd->add_option("--dump-after", o->dump_after, "print the parameter table to stderr after this pass");
  cmd->add_flag("--stats", o->stats, "print per-pass counters to stderr");
  cmd->add_flag("--untie-shared", o->untie_shared,
                "give each layer that shares a parameter its own copy (named <name>.untied.<k>)");
}

}  // namespace

int ParseCommandLine(int argc, const char* const* argv, Options* o, std::ostream& out, std::ostream& err) {
  CLI::App app{std::string(kToolName) + " " + kToolVersion +
               ": re-initialize the learnable parameters of an ONNX model by the weight-initialization note"};
  app.name(kToolName);
  app.footer(
      "Examples:\n"
      "  onnx-reinit plan model.onnx\n"
      "  onnx-reinit rewrite model.onnx -o fresh.onnx --seed 7 --report fresh.json\n"
      "  onnx-reinit --list-passes\n"
      "Exit codes: 0 ok, 1 internal error, 2 usage error, 3 unreadable or invalid model,\n"
      "            4 unsupported construct, 5 write failure.");
  bool list_passes = false;
  std::string distribution = "uniform";
  app.add_flag("--list-passes", list_passes, "print every pass of the pipeline with a one-line summary");

  CLI::App* plan = app.add_subcommand("plan", "dry run: print the per-layer decisions, write nothing but --report");
  AddCommonOptions(plan, o, &distribution);
  plan->footer("Example:\n  onnx-reinit plan models/cnn_bn.onnx --report plan.json");

  CLI::App* rewrite = app.add_subcommand("rewrite", "re-initialize the parameters and write a new model");
  AddCommonOptions(rewrite, o, &distribution);
  rewrite->add_option("-o,--output", o->output, "output model (must differ from the input)")->required();
  rewrite->footer("Example:\n  onnx-reinit rewrite models/cnn_bn.onnx -o fresh.onnx --seed 7 --report fresh.json");

  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help
    err << kToolName << ": error: " << e.what() << " (see --help)\n";
    return static_cast<int>(ExitCode::kUsage);
  }
  o->distribution = *ParseDistribution(distribution);
  if (list_passes) {
    o->command = "list-passes";
  } else if (plan->parsed()) {
    o->command = "plan";
  } else if (rewrite->parsed()) {
    o->command = "rewrite";
  } else {
    err << app.help();
    err << kToolName << ": error: a command is required (plan or rewrite)\n";
    return static_cast<int>(ExitCode::kUsage);
  }
  return -1;
}

}  // namespace reinit
