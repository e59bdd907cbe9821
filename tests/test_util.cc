#include "tests/test_util.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <filesystem>
#include <stdexcept>

#include "onnx/defs/parser.h"
#include "passes/io/model_io.h"
#include "passes/graph/tensor_values.h"
#include "tool/options.h"

namespace reinit::test {

onnx::ModelProto ParseModel(const std::string& text) {
  onnx::ModelProto model;
  auto status = onnx::OnnxParser::Parse(model, text.c_str());
  if (!status.IsOK()) throw std::runtime_error("bad test model: " + status.ErrorMessage());
  return model;
}

onnx::TensorProto* AddInitializer(onnx::ModelProto& model, const std::string& name, const std::vector<int64_t>& dims,
                                  int32_t dtype, Storage storage) {
  onnx::TensorProto* t = model.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(dtype);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  // Give the tensor its storage field, then fill it through the library's own writer.
  const size_t width = dtype == onnx::TensorProto::DOUBLE ? 8 : dtype == onnx::TensorProto::FLOAT ? 4 : 2;
  if (storage == Storage::kRaw) {
    t->set_raw_data(std::string(static_cast<size_t>(n) * width, '\0'));
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (dtype == onnx::TensorProto::FLOAT) t->add_float_data(0);
      else if (dtype == onnx::TensorProto::DOUBLE) t->add_double_data(0);
      else t->add_int32_data(0);
    }
  }
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[i] = 0.5 + 0.001 * static_cast<double>(i);
  Status status = WriteValues(values, t);
  if (!status.ok()) throw std::runtime_error(status.message());
  return t;
}

std::string TypeStorageName(int32_t dtype, Storage storage) {
  return DTypeName(dtype) + (storage == Storage::kRaw ? "_raw" : "_typed");
}

const ParamRow& Run::Row(const std::string& name) const {
  for (const auto& row : table) {
    if (row.name == name) return row;
  }
  throw std::runtime_error("no row for tensor " + name);
}

std::unique_ptr<Run> RunPasses(onnx::ModelProto model, const std::vector<std::string>& passes, Policy policy) {
  auto run = TryPasses(std::move(model), passes, std::move(policy));
  EXPECT_TRUE(run->status.ok()) << run->status.message();
  return run;
}

std::unique_ptr<Run> TryPasses(onnx::ModelProto model, const std::vector<std::string>& passes, Policy policy) {
  auto run = std::make_unique<Run>(std::move(model), std::move(policy));
  run->status = run->pipeline.Run(passes);
  return run;
}

std::unique_ptr<Run> TryPlan(onnx::ModelProto model, Policy policy) {
  return TryPasses(std::move(model), PlanPipeline(), std::move(policy));
}

std::unique_ptr<Run> Plan(onnx::ModelProto model, Policy policy) {
  return RunPasses(std::move(model), PlanPipeline(), policy);
}

std::unique_ptr<Run> Rewrite(onnx::ModelProto model, Policy policy) {
  return RunPasses(std::move(model), RewritePipeline(), policy);
}

std::vector<double> Values(const onnx::TensorProto& tensor) {
  std::vector<double> values;
  Status status = ReadValues(tensor, &values);
  EXPECT_TRUE(status.ok()) << status.message();
  return values;
}

std::map<std::string, onnx::TensorProto*> TensorsByName(onnx::ModelProto& model) {
  std::map<std::string, onnx::TensorProto*> tensors;
  GraphIndex index(model.mutable_graph());
  for (const auto& init : index.initializers()) tensors[init.tensor->name()] = init.tensor;
  for (const auto& c : index.constants()) tensors[c.node->output(0)] = c.tensor;
  return tensors;
}

std::string CompareRewrite(const onnx::ModelProto& before, const onnx::ModelProto& after,
                           const std::vector<std::pair<std::string, bool>>& rows_reinitialized) {
  onnx::ModelProto in = before, restored = after;
  auto in_tensors = TensorsByName(in);
  auto out_tensors = TensorsByName(restored);
  if (rows_reinitialized.size() != in_tensors.size()) {
    return std::to_string(rows_reinitialized.size()) + " report rows for " + std::to_string(in_tensors.size()) +
           " tensors";
  }
  for (const auto& [name, reinitialized] : rows_reinitialized) {
    if (!in_tensors.count(name) || !out_tensors.count(name)) return "report row " + name + " is not a tensor";
    if (!reinitialized) {
      if (in_tensors[name]->SerializeAsString() != out_tensors[name]->SerializeAsString()) {
        return "kept tensor " + name + " changed";
      }
    } else {
      *out_tensors[name] = *in_tensors[name];
    }
  }
  // Drop the one metadata entry the rewrite adds; then nothing else may differ.
  auto* props = restored.mutable_metadata_props();
  for (int i = props->size() - 1; i >= 0; --i) {
    if (props->Get(i).key() == "onnx_reinit") props->DeleteSubrange(i, 1);
  }
  if (restored.SerializeAsString() != in.SerializeAsString()) return "the model differs beyond its parameters";
  return "";
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ToolResult RunTool(const std::string& args, const std::string& scratch_dir) {
  const std::string out = scratch_dir + "/.stdout", err = scratch_dir + "/.stderr";
  const std::string cmd = std::string(REINIT_TOOL) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  ToolResult r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(out), Slurp(err)};
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

Rewritten RewriteFile(const std::string& path, const std::string& tag, uint64_t seed) {
  const std::string dir = TempDir("rewrite-" + tag);
  Options o;
  o.command = "rewrite";
  o.input = path;
  o.output = dir + "/out.onnx";
  o.report = dir + "/report.json";
  o.Set("seed", std::to_string(seed));
  o.Set("allow_empty", "true");  // models without parameters are rewritten too (their contract holds)
  std::ostringstream out, err;
  EXPECT_EQ(RunCommand(o, out, err), 0) << path << ": " << err.str();
  Rewritten r;
  EXPECT_TRUE(LoadModel(o.input, &r.before).ok());
  EXPECT_TRUE(LoadModel(o.output, &r.after).ok());
  std::ifstream in(o.report);
  r.report = nlohmann::json::parse(in);
  std::filesystem::remove_all(dir);
  return r;
}

std::string ModelPath(const std::string& name) { return std::string(REINIT_SOURCE_DIR) + "/models/" + name; }

std::string TempDir(const std::string& test_name) {
  auto dir = std::filesystem::temp_directory_path() / ("onnx-reinit-test-" + test_name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace reinit::test
