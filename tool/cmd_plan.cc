// plan: the dry run. Prints the per-layer table; writes nothing but the --report file, if asked.
#include "passes/model_io.h"
#include "passes/report.h"
#include "tool/session.h"

namespace reinit {

int RunPlan(const Options& options, std::ostream& out, std::ostream& err) {
  Session s;
  Status status = RunSession(options, PlanPipeline(), /*whole_pipeline=*/false, &s, err);
  if (!status.ok()) return Fail(status, err);
  std::string sha256;
  status = InputSha256(s, &sha256);
  if (!status.ok()) return Fail(status, err);
  RunInfo run{"plan", options.input, sha256, "", "", s.ctx.policy};
  const auto report = BuildReport(s.table, run);
  status = WriteReport(options, report);
  if (!status.ok()) return Fail(status, err);
  PrintResults(options, s.table, report, out);
  return 0;
}

}  // namespace reinit
