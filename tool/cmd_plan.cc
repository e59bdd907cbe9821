// plan: the dry run. Prints the per-layer table; writes nothing but the --report file, if asked.
#include "passes/model_io.h"
#include "passes/report.h"
#include "tool/session.h"

namespace reinit {

int RunPlan(const Options& options, std::ostream& out, std::ostream& err) {
  Session s;
  Status status = RunSession(options, PlanPipeline(), /*whole_pipeline=*/false, &s, err);
  if (!status.ok()) return Fail(status, err);
  out << FormatTable(s.table);
  if (!options.report.empty()) {
    RunInfo run{"plan", options.input, Sha256OfFile(options.input), "", "", s.ctx.policy};
    status = WriteFileAtomic(options.report, BuildReport(s.table, run).dump(2) + "\n");
    if (!status.ok()) return Fail(status, err);
  }
  return 0;
}

}  // namespace reinit
