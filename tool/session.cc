#include "tool/session.h"

#include <iostream>

#include "passes/model_io.h"
#include "passes/report.h"
#include "passes/untie_shared.h"
#include "passes/version.h"

namespace reinit {

Status RunSession(const Options& options, const std::vector<std::string>& full, bool whole_pipeline, Session* s,
                  std::ostream& err) {
  s->passes = full;
  if (!options.passes.empty()) REINIT_RETURN_IF_ERROR(ParsePipeline(options.passes, full, &s->passes));
  if (whole_pipeline && s->passes.size() != full.size()) {
    return {ExitCode::kUsage, options.command + " needs the whole pipeline, up to " + full.back() +
                                  "; use plan to run a prefix"};
  }
  if (!options.dump_after.empty()) {
    bool runs = false;
    for (const auto& p : s->passes) runs = runs || p == options.dump_after;
    if (!runs) return {ExitCode::kUsage, "--dump-after " + options.dump_after + ": that pass is not in the pipeline"};
  }
  REINIT_RETURN_IF_ERROR(LoadModel(options.input, &s->model));
  REINIT_RETURN_IF_ERROR(LoadExternalData(options.input, &s->model, &s->external));
  if (options.untie_shared) {
    std::vector<std::pair<std::string, std::string>> copies;
    REINIT_RETURN_IF_ERROR(UntieShared(&s->model, &copies));
    for (const auto& [original, copy] : copies) {
      if (s->external.keys.count(original)) s->external.keys.insert(copy);
    }
    s->ctx.counters["untie-shared"]["copies"] = static_cast<int64_t>(copies.size());
  }
  s->index = std::make_unique<GraphIndex>(s->model.mutable_graph());
  s->ctx.model = &s->model;
  s->ctx.index = s->index.get();
  s->ctx.table = &s->table;
  s->ctx.policy.seed = options.seed;
  s->ctx.policy.distribution = options.distribution;
  Status status = RunPipeline(s->passes, s->ctx, [&](const std::string& pass, const ParamTable& table) {
    if (pass == options.dump_after) err << "// parameter table after " << pass << "\n" << FormatTable(table);
  });
  if (status.ok() && options.stats) {
    std::vector<std::string> order = {"untie-shared"};
    order.insert(order.end(), s->passes.begin(), s->passes.end());
    err << FormatCounters(s->ctx.counters, order);
  }
  return status;
}

int Fail(const Status& status, std::ostream& err) {
  err << kToolName << ": error: " << status.message() << "\n";
  return static_cast<int>(status.code());
}

int RunCommand(const Options& options, std::ostream& out, std::ostream& err) {
  try {
    if (options.command == "list-passes") {
      for (const auto& p : PassRegistry()) out << p.name << std::string(18 - p.name.size(), ' ') << p.summary << "\n";
      return 0;
    }
    if (options.command == "plan") return RunPlan(options, out, err);
    if (options.command == "rewrite") return RunRewrite(options, out, err);
    return Fail({ExitCode::kUsage, "unknown command '" + options.command + "'"}, err);
  } catch (const std::exception& e) {
    // Exceptions from protobuf or the ONNX library end here, as one line.
    return Fail({ExitCode::kInternal, std::string("unexpected failure: ") + e.what()}, err);
  }
}

}  // namespace reinit
