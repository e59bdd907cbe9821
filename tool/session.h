// What plan and rewrite share: load the model, index it, run the pipeline with --dump-after and
// --stats, and the error line every command prints.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/external_data.h"
#include "passes/graph_index.h"
#include "passes/pipeline.h"
#include "tool/options.h"

namespace reinit {

struct Session {
  onnx::ModelProto model;
  ExternalTensors external;  // tensors that were in side files: they go to the output's data file
  std::unique_ptr<GraphIndex> index;
  ParamTable table;
  PassContext ctx;
  std::vector<std::string> passes;  // the pipeline that ran
};

// Loads options.input and runs options.passes (or `full` when none are given) over it. With
// `whole_pipeline`, a --passes list that stops before the end of `full` is a usage error.
Status RunSession(const Options& options, const std::vector<std::string>& full, bool whole_pipeline,
                  Session* session, std::ostream& err);

// Prints "onnx-reinit: error: <message>" and returns the status's exit code.
int Fail(const Status& status, std::ostream& err);

int RunPlan(const Options& options, std::ostream& out, std::ostream& err);
int RunRewrite(const Options& options, std::ostream& out, std::ostream& err);

}  // namespace reinit
