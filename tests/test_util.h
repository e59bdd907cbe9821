// Helpers for tests: models written inline in ONNX text syntax, initializers added with known values,
// and a way to run a prefix of the pipeline and look at the table.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/param_table.h"
#include "passes/pipeline_run.h"

namespace reinit::test {

// Parses a model in ONNX text syntax; fails the test (throws) on a syntax error.
onnx::ModelProto ParseModel(const std::string& text);

enum class Storage { kRaw, kTyped };

// Adds an initializer whose element i holds 0.5 + 0.001*i (a pattern no initializer scheme produces).
onnx::TensorProto* AddInitializer(onnx::ModelProto& model, const std::string& name, const std::vector<int64_t>& dims,
                                  int32_t dtype = onnx::TensorProto::FLOAT, Storage storage = Storage::kRaw);

// "float16_raw", "bfloat16_typed", ...: readable names for tests parameterized by type and storage.
std::string TypeStorageName(int32_t dtype, Storage storage);

// A model and the table after running some passes over it (a PipelineRun), with the run's status.
struct Run {
  explicit Run(onnx::ModelProto model = {}, Policy policy = {}) : pipeline(std::move(model), std::move(policy)) {}

  PipelineRun pipeline;
  // The parts of the run that tests look at, by their short names.
  onnx::ModelProto& model = pipeline.model();
  ParamTable& table = pipeline.table();
  PassContext& ctx = pipeline.ctx();
  Status status;

  const ParamRow& Row(const std::string& name) const;
};

std::unique_ptr<Run> RunPasses(onnx::ModelProto model, const std::vector<std::string>& passes, Policy policy = {});
// The same, for a run that may fail: run->status says how (RunPasses fails the test instead).
std::unique_ptr<Run> TryPasses(onnx::ModelProto model, const std::vector<std::string>& passes, Policy policy = {});
std::unique_ptr<Run> TryPlan(onnx::ModelProto model, Policy policy = {});
// Shorthand: the plan pipeline (everything but regenerate) / the whole pipeline.
std::unique_ptr<Run> Plan(onnx::ModelProto model, Policy policy = {});
std::unique_ptr<Run> Rewrite(onnx::ModelProto model, Policy policy = {});

// Values of a tensor as doubles (fails the test on a read error).
std::vector<double> Values(const onnx::TensorProto& tensor);

// Every tensor that can be a row of the table, by row name: initializers of all graphs and the values
// of Constant nodes (named by the Constant's output).
std::map<std::string, onnx::TensorProto*> TensorsByName(onnx::ModelProto& model);

// Checks the rewrite contract between a model and its rewrite, given the report: every row of the
// report is a tensor of the model and vice versa; putting the re-initialized tensors' old values back
// gives the input model exactly, but for the one metadata entry. Returns "" or what is wrong.
std::string CompareRewrite(const onnx::ModelProto& before, const onnx::ModelProto& after,
                           const std::vector<std::pair<std::string, bool>>& rows_reinitialized);

// Runs the built onnx-reinit with `args` (shell words), capturing its exit code, stdout and stderr
// through files in `scratch_dir`.
struct ToolResult {
  int code = -1;
  std::string out, err;
};
ToolResult RunTool(const std::string& args, const std::string& scratch_dir);

// A file's bytes.
std::string Slurp(const std::string& path);

// A model rewritten in-process through RunCommand (seed `seed`, --allow-empty), with the model before and
// after and the parsed JSON report. Fails the test if the rewrite fails.
struct Rewritten {
  onnx::ModelProto before, after;
  nlohmann::json report;
};
Rewritten RewriteFile(const std::string& path, const std::string& tag, uint64_t seed);

// Path of a file in the source tree's models/ directory.
std::string ModelPath(const std::string& name);

// A fresh empty directory for one test's outputs.
std::string TempDir(const std::string& test_name);

}  // namespace reinit::test
