// The pass pipeline. A pipeline is a list of pass names, run in order over one ParamTable; every pass
// is declared once, in passes/passes.h, and appears under the same name in --list-passes, --passes,
// --dump-after and --stats. Here: what a pass is given (PassContext) and which pipelines there are.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/graph_index.h"
#include "passes/graph/param_table.h"
#include "passes/graph/signal.h"
#include "passes/policy/policy.h"
#include "passes/graph/status.h"
#include "passes/io/tensor_store.h"

namespace reinit {

// One pass's counters for --stats: counter -> value.
using Counters = std::map<std::string, int64_t>;

struct PassContext {
  onnx::ModelProto* model = nullptr;
  const GraphIndex* index = nullptr;
  ParamTable* table = nullptr;
  Policy policy;
  unsigned threads = 0;  // for generation; 0: one per core. Output never depends on it.
  // Per-pass counters for --stats, by pass name; RunPass hands each pass its own.
  std::map<std::string, Counters> counters;
  // Messages for the user that do not stop the run (printed to stderr unless -q).
  std::vector<std::string> warnings;
  // Where each tensor's bytes are (passes/io/tensor_store.h): values of tensors still in a file are read
  // through it, and tensors still on disk get their new bytes through it. Null: every tensor is in memory.
  TensorStore* store = nullptr;
  // The copies --untie-shared made: separate on purpose, so find-copies never ties them back.
  std::set<std::string> untied;
  // Called through Progress() by long passes; the tool prints a progress line from it.
  std::function<void(const std::string& pass, size_t done, size_t total)> progress;
  // The pass that is running (set by RunPass), so a pass need not name itself.
  std::string running;
  // The signal audit of audit-signal (passes/graph/signal.h): asked for by the audit command, --audit
  // or --preserve-signal; without, the pass does nothing.
  struct SignalRequest {
    bool requested = false;
    bool measured = false;  // every tensor's moments as stored (audit without --planned), not the plan's
    SignalOptions options;
    std::optional<SignalAudit> audit;  // the result
  } signal;

  // `done` of `total` items of the running pass are done.
  void Progress(size_t done, size_t total) const {
    if (progress) progress(running, done, total);
  }
};

class Pass {
 public:
  virtual ~Pass() = default;
  // `counters` are the pass's own: --stats prints them under its name.
  virtual Status Run(PassContext& ctx, Counters& counters) = 0;
};

// The pipelines of the two commands: plan stops before regenerate, rewrite runs them all. Neither
// includes the passes that run only when asked for (untie-shared).
std::vector<std::string> PlanPipeline();
std::vector<std::string> RewritePipeline();

// Parses "a,b,c". Every name must be a pass of passes/passes.h and the list must be a prefix of `full`
// (each pass reads what the ones before it wrote). Errors are usage errors naming the pass.
Status ParsePipeline(const std::string& text, const std::vector<std::string>& full, std::vector<std::string>* names);

// Runs the pass `name` over `ctx`, handing it its counters. A whole run goes through PipelineRun
// (passes/pipeline_run.h), which also wires the context.
Status RunPass(const std::string& name, PassContext& ctx);

}  // namespace reinit
