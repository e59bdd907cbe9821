// rewrite: runs the whole pipeline and writes the new model (and the --report file). The input is
// never written: -o naming the input file is refused. Both files are written atomically; if the
// report cannot be written after the model was, the new model is removed again.
#include <unistd.h>

#include "passes/model_io.h"
#include "passes/report.h"
#include "tool/session.h"

namespace reinit {

int RunRewrite(const Options& options, std::ostream& out, std::ostream& err) {
  if (SameFile(options.input, options.output) || options.input == options.output) {
    return Fail({ExitCode::kUsage, options.output + ": the output would overwrite the input model"}, err);
  }
  if (!options.report.empty() && (SameFile(options.input, options.report) || options.input == options.report)) {
    return Fail({ExitCode::kUsage, options.report + ": the report would overwrite the input model"}, err);
  }
  Session s;
  Status status = RunSession(options, RewritePipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);
  std::string bytes;
  status = SerializeModel(s.model, options.output, &bytes);
  if (!status.ok()) return Fail(status, err);
  const bool existed = ::access(options.output.c_str(), F_OK) == 0;
  status = WriteFileAtomic(options.output, bytes);
  if (!status.ok()) return Fail(status, err);
  if (!options.report.empty()) {
    RunInfo run{"rewrite", options.input, Sha256OfFile(options.input), options.output, Sha256(bytes), s.ctx.policy};
    status = WriteFileAtomic(options.report, BuildReport(s.table, run).dump(2) + "\n");
    if (!status.ok()) {
      if (!existed) ::unlink(options.output.c_str());
      return Fail(status, err);
    }
  }
  out << FormatTable(s.table);
  return 0;
}

}  // namespace reinit
