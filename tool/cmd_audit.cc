// audit: what the network will do with its weights (passes/audit_signal.cc), per layer and for the
// whole model: the table (or JSON, Markdown), the report's "audit" object, the SVG plot, and exit 6 when a
// ratio leaves the --fail-outside band (for CI).
#include <cmath>

#include "passes/io/atomic_file.h"
#include "passes/report/audit_report.h"
#include "passes/report/report.h"
#include "passes/report/signal_plot.h"
#include "passes/report/version.h"
#include "tool/session.h"

namespace reinit {

namespace {

Status WritePlot(const Options& options, const SignalAudit& audit) {
  if (options.plot.empty()) return Status::Ok();
  const std::string svg = SignalPlotSvg(audit, options.input + (options.planned ? " (planned)" : " (as stored)"));
  AtomicFile file(options.plot, false);
  REINIT_RETURN_IF_ERROR(file.Open());
  REINIT_RETURN_IF_ERROR(file.Write(svg.data(), svg.size()));
  return file.Commit();
}

bool Outside(const Options& options, double ratio) {
  return !std::isfinite(ratio) || ratio < options.fail_outside->first || ratio > options.fail_outside->second;
}

}  // namespace

int RunAudit(const Options& options, std::ostream& out, std::ostream& err) {
  Session s;
  Status status = RunSession(options, PlanPipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);
  const SignalAudit& audit = *s.run.ctx().signal.audit;
  std::string sha256;
  status = InputSha256(s, &sha256);
  if (!status.ok()) return Fail(status, err);
  RunInfo run{"audit", options.input, sha256, "", "", s.run.ctx().policy, &audit};
  const auto report = BuildReport(s.run.table(), run);
  status = WriteReport(options, report);
  if (status.ok()) status = WritePlot(options, audit);
  if (!status.ok()) return Fail(status, err);
  if (options.verbosity > 0) {
    if (options.format == OutputFormat::kJson) out << report.dump(2) << "\n";
    else out << FormatAuditTable(audit, options.format == OutputFormat::kMarkdown);
  }
  if (options.fail_outside && (Outside(options, audit.forward_ratio) || Outside(options, audit.backward_ratio))) {
    err << kToolName << ": error: " << options.input << ": forward ratio " << Short(audit.forward_ratio)
        << ", backward ratio " << Short(audit.backward_ratio) << ": outside --fail-outside "
        << Short(options.fail_outside->first) << "," << Short(options.fail_outside->second) << "\n";
    return static_cast<int>(ExitCode::kCheckFailed);
  }
  return 0;
}

}  // namespace reinit
