#include "passes/pipeline.h"

#include <sstream>

#include "passes/passes.h"

namespace reinit {

const PassInfo* FindPass(const std::string& name) {
  for (const PassInfo& p : kPasses) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string> RewritePipeline() {
  std::vector<std::string> names;
  for (const PassInfo& p : kPasses) {
    if (p.asked_by == nullptr) names.push_back(p.name);
  }
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
    const PassInfo* pass = FindPass(name);
    if (pass == nullptr) return {ExitCode::kUsage, "unknown pass '" + name + "' (see --list-passes)"};
    if (pass->asked_by != nullptr) {
      return {ExitCode::kUsage, "pass '" + name + "' runs with " + pass->asked_by + ", not in --passes"};
    }
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

Status RunPass(const std::string& name, PassContext& ctx) {
  const PassInfo* info = FindPass(name);
  if (info == nullptr) return {ExitCode::kUsage, "unknown pass '" + name + "'"};
  ctx.running = name;
  return info->create()->Run(ctx, ctx.counters[name]);
}

}  // namespace reinit
