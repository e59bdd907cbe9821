// One run of the pipeline over one model. It owns the model and what the passes share — the graph
// index, the parameter table and the PassContext that points at them — so the tool, the tests and the
// fuzzer set a run up the same way: make one from a model and a policy, set what else the context needs
// (a tensor store, threads, progress), run passes, read the table.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/graph_index.h"
#include "passes/graph/param_table.h"
#include "passes/pipeline.h"
#include "passes/policy/policy.h"

namespace reinit {

// Called after each pass with its name and the table as the pass left it (--dump-after).
using AfterPass = std::function<void(const std::string& pass, const ParamTable& table)>;

class PipelineRun {
 public:
  explicit PipelineRun(onnx::ModelProto model = {}, Policy policy = {});
  // The context points into the run, so a run stays where it was made.
  PipelineRun(const PipelineRun&) = delete;
  PipelineRun& operator=(const PipelineRun&) = delete;

  // Runs `passes` (names of passes/passes.h) in order, stopping at the first error. The graph is indexed
  // before the first pass that reads it; a pass that changes the graph runs without an index, and the
  // passes after it index the graph as it has become.
  Status Run(const std::vector<std::string>& passes, const AfterPass& after_pass = nullptr);

  onnx::ModelProto& model() { return model_; }
  const onnx::ModelProto& model() const { return model_; }
  ParamTable& table() { return table_; }
  const ParamTable& table() const { return table_; }
  PassContext& ctx() { return ctx_; }
  const PassContext& ctx() const { return ctx_; }

 private:
  onnx::ModelProto model_;
  std::unique_ptr<GraphIndex> index_;  // null until a pass needs it
  ParamTable table_;
  PassContext ctx_;
};

}  // namespace reinit
