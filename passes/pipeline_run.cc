#include "passes/pipeline_run.h"

#include "passes/passes.h"

namespace reinit {

PipelineRun::PipelineRun(onnx::ModelProto model, Policy policy) : model_(std::move(model)) {
  ctx_.model = &model_;
  ctx_.table = &table_;
  ctx_.policy = std::move(policy);
}

Status PipelineRun::Run(const std::vector<std::string>& passes, const AfterPass& after_pass) {
  for (const std::string& name : passes) {
    const PassInfo* info = FindPass(name);
    if (info == nullptr) return {ExitCode::kUsage, "unknown pass '" + name + "'"};
    if (info->changes_graph) {
      ctx_.index = nullptr;
      index_.reset();
    } else if (index_ == nullptr) {
      index_ = std::make_unique<GraphIndex>(model_.mutable_graph());
      ctx_.index = index_.get();
    }
    REINIT_RETURN_IF_ERROR(RunPass(name, ctx_));
    if (after_pass) after_pass(name, table_);
  }
  return Status::Ok();
}

}  // namespace reinit
