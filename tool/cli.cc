// The command line: CLI11 definitions of the subcommands and their options, filling Options.
#include <CLI/CLI.hpp>
#include <ostream>

#include "passes/status.h"
#include "passes/version.h"
#include "tool/options.h"

namespace reinit {

namespace {

// What plan, rewrite and check share: the model, the policy and the output.
void AddPolicyOptions(CLI::App* cmd, Options* o, std::string* format, bool* quiet, bool* verbose) {
  cmd->add_option("model", o->input, "input ONNX model")->required();
  cmd->add_option("--config", o->config, "rules file (YAML or JSON): defaults and ordered match -> init rules");
  cmd->add_option("--preset", o->preset, "note (default), pytorch, keras or jax")
      ->check(CLI::IsMember({"note", "pytorch", "keras", "jax"}));
  cmd->add_option("--seed", o->seed, "random seed (default 0): same seed, same bytes");
  cmd->add_option("--distribution", o->distribution, "uniform, normal or truncated_normal, for Xavier/He/LeCun")
      ->check(CLI::IsMember({"uniform", "normal", "truncated_normal"}));
  cmd->add_option("--gain", o->gain, "a number, or auto (torch.nn.init.calculate_gain of the activation)");
  cmd->add_option("--mode", o->mode, "fan_in, fan_out or fan_avg: the fan Xavier/He/LeCun divide by")
      ->check(CLI::IsMember({"fan_in", "fan_out", "fan_avg"}));
  cmd->add_option("--forget-bias", o->forget_bias, "LSTM forget-gate bias (default: 0; keras preset: 1)");
  cmd->add_option("--embedding-std", o->embedding_std, "embeddings drawn from N(0, std^2)");
  cmd->add_option("--residual-scaling", o->residual_scaling,
                  "none (default), gpt2 (last layer of each residual branch * 1/sqrt(branches)) or zero (Fixup)")
      ->check(CLI::IsMember({"none", "gpt2", "zero"}));
  cmd->add_option("--only", o->only, "re-initialize only tensors matching [field=]glob or /regex/ (repeatable)");
  cmd->add_option("--exclude", o->exclude, "leave tensors matching this selector alone (repeatable; wins)");
  cmd->add_option("--keep", o->keep, "freeze tensors matching this selector (repeatable; wins)");
  cmd->add_option("--reinit-last", o->reinit_last, "only the last N parameterized layers, with their biases and norms")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--reinit-blocks", o->reinit_blocks, "only the last N repeated blocks (transformer layers, stages)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--allow-empty", o->allow_empty, "a selector that matches nothing is a warning, not an error");
  cmd->add_flag("--untie-shared", o->untie_shared,
                "give each layer that shares a parameter its own copy (named <name>.untied.<k>)");
  cmd->add_option("--threads", o->threads, "generation threads (default: one per core); the output never depends on it");
  cmd->add_option("--report", o->report, "write the JSON report to this file");
  cmd->add_option("--format", *format, "stdout: text (default), json (the report) or markdown")
      ->check(CLI::IsMember({"text", "json", "markdown"}));
  cmd->add_option("--passes", o->passes, "run only this prefix of the pipeline, e.g. find-params,infer-fans");
  cmd->add_option("--dump-after", o->dump_after, "print the parameter table to stderr after this pass");
  cmd->add_flag("--stats", o->stats, "print per-pass counters to stderr");
  cmd->add_flag("-q,--quiet", *quiet, "print nothing but errors (and check's verdict lines)");
  cmd->add_flag("-v,--verbose", *verbose, "also print per-pass counters to stderr");
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
      "  onnx-reinit rewrite model.onnx -o tuned.onnx --reinit-last 1\n"
      "  onnx-reinit check fresh.onnx --tolerance 0.25\n"
      "  onnx-reinit --list-passes\n"
      "Exit codes: 0 ok, 1 internal error, 2 usage error, 3 unreadable or invalid model,\n"
      "            4 unsupported construct, 5 write failure, 6 check found layers off.");
  bool list_passes = false;
  app.add_flag("--list-passes", list_passes, "print every pass of the pipeline with a one-line summary");

  std::string format = "text";
  bool quiet = false, verbose = false;
  CLI::App* plan = app.add_subcommand("plan", "dry run: print the per-layer decisions, write nothing but --report");
  AddPolicyOptions(plan, o, &format, &quiet, &verbose);
  plan->footer("Example:\n  onnx-reinit plan models/cnn_bn.onnx --report plan.json");

  CLI::App* rewrite = app.add_subcommand("rewrite", "re-initialize the parameters and write a new model");
  AddPolicyOptions(rewrite, o, &format, &quiet, &verbose);
  auto* output = rewrite->add_option("-o,--output", o->output, "output model (must differ from the input)");
  auto* in_place = rewrite->add_flag("--in-place", o->in_place, "replace the input model itself (written atomically)");
  output->excludes(in_place);
  rewrite->add_option("--external-data-file", o->external_data_file,
                      "write tensors to this data file beside the output (a file name; automatic over 2 GB)");
  rewrite->add_option("--size-threshold", o->size_threshold,
                      "with external data: tensors of at least this many bytes go to the data file (default 1024)");
  rewrite->footer("Example:\n  onnx-reinit rewrite models/cnn_bn.onnx -o fresh.onnx --seed 7 --report fresh.json");

  CLI::App* check = app.add_subcommand("check", "compare an initialized model's parameters with what the policy recommends");
  AddPolicyOptions(check, o, &format, &quiet, &verbose);
  check->add_option("--tolerance", o->tolerance, "allowed relative deviation of a measured std (default 0.25)")
      ->check(CLI::PositiveNumber);
  check->footer("Example:\n  onnx-reinit check fresh.onnx --tolerance 0.25   # exit 6 if a layer is off");

  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help
    err << kToolName << ": error: " << e.what() << " (see --help)\n";
    return static_cast<int>(ExitCode::kUsage);
  }
  o->format = format == "json" ? OutputFormat::kJson : format == "markdown" ? OutputFormat::kMarkdown : OutputFormat::kText;
  if (quiet && verbose) {
    err << kToolName << ": error: -q and -v cannot be combined (see --help)\n";
    return static_cast<int>(ExitCode::kUsage);
  }
  o->verbosity = quiet ? 0 : verbose ? 2 : 1;
  if (list_passes) {
    o->command = "list-passes";
  } else if (plan->parsed()) {
    o->command = "plan";
  } else if (rewrite->parsed()) {
    o->command = "rewrite";
    if (o->in_place) {
      o->output = o->input;
    } else if (o->output.empty()) {
      err << kToolName << ": error: rewrite needs -o OUT.onnx, or --in-place (see --help)\n";
      return static_cast<int>(ExitCode::kUsage);
    }
  } else if (check->parsed()) {
    o->command = "check";
  } else {
    err << app.help();
    err << kToolName << ": error: a command is required (plan, rewrite or check)\n";
    return static_cast<int>(ExitCode::kUsage);
  }
  return -1;
}

}  // namespace reinit
