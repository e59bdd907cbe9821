// plan: the dry run. Prints the per-layer table; writes nothing but the --report file, if asked.
#include "passes/io/model_io.h"
#include "passes/report/report.h"
#include "passes/report/version.h"
#include "tool/session.h"

namespace reinit {

int RunPlan(const Options& options, std::ostream& out, std::ostream& err) {
  Session s;
  Status status = RunSession(options, PlanPipeline(), /*whole_pipeline=*/false, &s, err);
  if (!status.ok()) return Fail(status, err);
  std::string sha256;
  status = InputSha256(s, &sha256);
  if (!status.ok()) return Fail(status, err);
  const SignalAudit* audit = options.audit ? &*s.run.ctx().signal.audit : nullptr;
  RunInfo run{"plan", options.input, sha256, "", "", s.run.ctx().policy, audit};
  const auto report = BuildReport(s.run.table(), run);
  status = WriteReport(options, report);
  if (!status.ok()) return Fail(status, err);
  PrintResults(options, s.run.table(), report, out, audit);
  const Tally tally = Count(s.run.table());
  if (options.verbosity > 0 && tally.reinitialized == 0 && tally.undecided == 0) {
    err << kToolName << ": warning: a rewrite would re-initialize nothing: " << NothingToDo(s.run.table()) << "\n";
  }
  PrintNotes(options, s.run.table(), err);
  return 0;
}

}  // namespace reinit
