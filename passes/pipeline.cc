#include "passes/pipeline.h"

#include <sstream>

#include "passes/find_copies.h"
#include "passes/find_fixed_constants.h"
#include "passes/find_params.h"
#include "passes/infer_activation.h"
#include "passes/infer_fans.h"
#include "passes/regenerate.h"
#include "passes/select_init.h"
#include "passes/select_tensors.h"

namespace reinit {

template <typename T>
static std::unique_ptr<Pass> Make() {
  return std::make_unique<T>();
}

const std::vector<PassInfo>& PassRegistry() {
  static const std::vector<PassInfo> kPasses = {
      {"find-params", "one row per tensor; role from how it is consumed (op type + input index)",
       Make<FindParamsPass>},
      {"infer-fans", "fan_in/fan_out from the consumer's layout (conv groups, gate blocks, transB)",
       Make<InferFansPass>},
      {"infer-activation", "follow each layer's output to its first nonlinearity",
       Make<InferActivationPass>},
      {"find-fixed-constants", "mark weights whose values are a fixed DFT basis, filterbank or smoothing kernel",
       Make<FindFixedConstantsPass>},
      {"find-copies", "one parameter stored twice: copies in the branches of an If, a tied head stored transposed",
       Make<FindCopiesPass>},
      {"select-init", "pick scheme, distribution, gain and std/bound by the note's rules",
       Make<SelectInitPass>},
      {"select-tensors", "apply --only/--exclude/--keep/--reinit-last/--reinit-blocks: unselected rows are kept",
       Make<SelectTensorsPass>},
      {"regenerate", "write freshly generated values into every tensor marked for re-initialization",
       Make<RegeneratePass>},
  };
  return kPasses;
}

std::vector<std::string> RewritePipeline() {
  std::vector<std::string> names;
  for (const auto& p : PassRegistry()) names.push_back(p.name);
  return names;
}

std::vector<std::string> PlanPipeline() {
  std::vector<std::string> names = RewritePipeline();
  names.pop_back();  // regenerate
  return names;
}

Status ParsePipeline(const std::string& text, const std::vector<std::string>& full, std::vector<std::string>* names) {
  names->clear();
  std::stringstream in(text);
  std::string name;
  while (std::getline(in, name, ',')) {
    bool known = false;
    for (const auto& p : PassRegistry()) known = known || p.name == name;
    if (!known) return {ExitCode::kUsage, "unknown pass '" + name + "' (see --list-passes)"};
    const size_t at = names->size();
    if (at >= full.size() || full[at] != name) {
      return {ExitCode::kUsage, "pass '" + name + "' cannot run at position " + std::to_string(at + 1) +
                                    ": the pipeline must be a prefix of " + [&] {
                                      std::string s;
                                      for (const auto& f : full) s += (s.empty() ? "" : ",") + f;
                                      return s;
                                    }()};
    }
    names->push_back(name);
  }
  if (names->empty()) return {ExitCode::kUsage, "--passes needs at least one pass"};
  return Status::Ok();
}

Status RunPipeline(const std::vector<std::string>& names, PassContext& ctx,
                   const std::function<void(const std::string&, const ParamTable&)>& after_pass) {
  for (const auto& name : names) {
    const PassInfo* info = nullptr;
    for (const auto& p : PassRegistry()) {
      if (p.name == name) info = &p;
    }
    if (info == nullptr) return {ExitCode::kUsage, "unknown pass '" + name + "'"};
    REINIT_RETURN_IF_ERROR(info->create()->Run(ctx));
    if (after_pass) after_pass(name, *ctx.table);
  }
  return Status::Ok();
}

}  // namespace reinit
