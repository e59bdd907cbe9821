// What plan, rewrite and check share: build the policy (preset, rules file, flags), load the model,
// index it, run the pipeline with --dump-after, --stats, warnings and progress, print results in the
// chosen format, and the error line every command prints.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/io/external_data.h"
#include "passes/io/model_writer.h"
#include "passes/io/tensor_store.h"
#include "passes/io/file_guard.h"
#include "passes/io/model_io.h"
#include "passes/pipeline_run.h"
#include "tool/options.h"
#include "tool/progress.h"

namespace reinit {

struct Session {
  PipelineRun run;    // the model, and the table and context the passes fill
  TensorStore store;  // where each tensor's bytes are: in memory, streamed from the input, external
  std::vector<std::string> passes;  // the pipeline that ran
  // SHA-256 of the input for a report, hashed on a second thread while the session works.
  std::unique_ptr<FileHasher> input_hasher;
  // Every file the command reads and writes, so no output overwrites an input or another output.
  FileGuard files;
  std::unique_ptr<Progress> progress;
};

// The input's SHA-256 for the report ("" when no report is read), waiting for its hashing thread.
Status InputSha256(Session& s, std::string* sha256);

// The effective policy: the preset, then the rules file, then the flags (flags win).
Status BuildPolicy(const Options& options, Policy* policy);

// Loads options.input and runs options.passes (or `full` when none are given) over it, after
// untie-shared with --untie-shared. With `whole_pipeline`, a --passes list that stops before the end of
// `full` is a usage error. Registers the files it reads (the model, its data files, the rules file) and
// the --report file with s->files.
Status RunSession(const Options& options, const std::vector<std::string>& full, bool whole_pipeline,
                  Session* session, std::ostream& err);

// The table in the chosen format (text table, the JSON report, or Markdown); nothing with -q.
void PrintResults(const Options& options, const ParamTable& table, const nlohmann::ordered_json& report,
                  std::ostream& out, const SignalAudit* audit = nullptr);

// The closing notes on stderr (passes/report/report.h Notes), unless -q.
void PrintNotes(const Options& options, const ParamTable& table, std::ostream& err);

// Where results go: stdout, unless the model itself is written there (rewrite -o -), then stderr.
std::ostream& Results(const Options& options, std::ostream& out, std::ostream& err);

// Writes the --report file (if asked) atomically; registers nothing (RunSession did). With a writer, the
// report is removed again if the model cannot be put in place after it.
Status WriteReport(const Options& options, const nlohmann::ordered_json& report, ModelWriter* writer = nullptr);

// Whether a report will be read (--report, --format json on stdout, or check --format junit, which names
// the input's SHA-256): only then are the input and output hashed (SHA-256 of 500 MB is a quarter of a
// second), so a plain run does not pay for it.
bool ReportNeeded(const Options& options);

// Prints "onnx-reinit: error: <message>" and returns the status's exit code.
int Fail(const Status& status, std::ostream& err);

int RunPlan(const Options& options, std::ostream& out, std::ostream& err);
int RunRewrite(const Options& options, std::ostream& out, std::ostream& err);
int RunCheck(const Options& options, std::ostream& out, std::ostream& err);
int RunAudit(const Options& options, std::ostream& out, std::ostream& err);
int RunExportWeights(const Options& options, std::ostream& out, std::ostream& err);

// Writes options.export_weights from a session that ran the plan pipeline: the rows `wanted` accepts,
// under the framework's names (passes/graph/framework_names.h); `result` gets the report's "export"
// object. With a writer, the file is removed again if the model cannot be put in place.
Status ExportWeights(const Options& options, Session& s, const std::function<bool(const ParamRow&)>& wanted,
                     nlohmann::ordered_json* result, ModelWriter* writer);
// rewrite --export-weights: exports from the model file just written (`written`, not yet in place) the
// tensors `rewritten` re-initialized (every parameter with --export-all).
Status ExportRewritten(const Options& options, const std::string& written, const ParamTable& rewritten,
                       nlohmann::ordered_json* result, ModelWriter* writer, std::ostream& err);
// A warning per tensor the export left out (nothing with -q).
void WarnNotExported(const Options& options, const nlohmann::ordered_json& result, std::ostream& err);

}  // namespace reinit
