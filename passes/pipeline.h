// The pass pipeline. A pipeline is a list of pass names, run in order over one ParamTable; every pass
// is registered once, in passes/pipeline.cc, and appears under the same name in --list-passes,
// --passes, --dump-after and --stats.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/graph_index.h"
#include "passes/graph/param_table.h"
#include "passes/policy/policy.h"
#include "passes/graph/status.h"
#include "passes/io/tensor_store.h"

namespace reinit {

struct PassContext {
  onnx::ModelProto* model = nullptr;
  const GraphIndex* index = nullptr;
  ParamTable* table = nullptr;
  Policy policy;
  unsigned threads = 0;  // for generation; 0: one per core. Output never depends on it.
  // Per-pass counters for --stats: counters[pass][counter] = value.
  std::map<std::string, std::map<std::string, int64_t>> counters;
  // Messages for the user that do not stop the run (printed to stderr unless -q).
  std::vector<std::string> warnings;
  // Where each tensor's bytes are (passes/io/tensor_store.h): values of tensors still in a file are read
  // through it, and tensors still on disk get their new bytes through it. Null: every tensor is in memory.
  TensorStore* store = nullptr;
  // The copies --untie-shared made: separate on purpose, so find-copies never ties them back.
  std::set<std::string> untied;
  // Called by long passes with (done, total); the tool prints a progress line from it.
  std::function<void(const std::string& pass, size_t done, size_t total)> progress;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual Status Run(PassContext& ctx) = 0;
};

struct PassInfo {
  std::string name;
  std::string summary;
  std::function<std::unique_ptr<Pass>()> create;
};

// Every pass, in pipeline order.
const std::vector<PassInfo>& PassRegistry();

// The pipelines of the two commands: plan stops before regenerate, rewrite runs them all.
std::vector<std::string> PlanPipeline();
std::vector<std::string> RewritePipeline();

// Parses "a,b,c". Every name must be a registered pass and the list must be a prefix of
// `full` (each pass reads what the ones before it wrote). Errors are usage errors naming the pass.
Status ParsePipeline(const std::string& text, const std::vector<std::string>& full, std::vector<std::string>* names);

// Runs `names` in order; `after_pass` (if set) sees the table after each pass.
Status RunPipeline(const std::vector<std::string>& names, PassContext& ctx,
                   const std::function<void(const std::string&, const ParamTable&)>& after_pass = nullptr);

}  // namespace reinit
