// rewrite: runs the whole pipeline and writes the new model (and the --report file). The input is
// never written: -o naming the input file is refused. Tensors that were in external data files go to
// one new data file beside the output ("<output>.data"), never to one of the input's data files.
// Every file is written atomically; if a later one fails, the ones already written by this run are
// removed again (unless they existed before), so a failure leaves no partial output.
#include <unistd.h>

#include "passes/model_io.h"
#include "passes/report.h"
#include "tool/session.h"

namespace reinit {

namespace {

// Files written so far by this run; removed again unless the run completes.
class Outputs {
 public:
  Status Write(const std::string& path, const std::string& bytes) {
    const bool existed = ::access(path.c_str(), F_OK) == 0;
    REINIT_RETURN_IF_ERROR(WriteFileAtomic(path, bytes));
    if (!existed) written_.push_back(path);
    return Status::Ok();
  }
  void Commit() { written_.clear(); }
  ~Outputs() {
    for (const auto& path : written_) ::unlink(path.c_str());
  }

 private:
  std::vector<std::string> written_;
};

bool Overwrites(const std::string& path, const std::string& input) { return path == input || SameFile(path, input); }

}  // namespace

int RunRewrite(const Options& options, std::ostream& out, std::ostream& err) {
  if (Overwrites(options.output, options.input)) {
    return Fail({ExitCode::kUsage, options.output + ": the output would overwrite the input model"}, err);
  }
  if (!options.report.empty() && Overwrites(options.report, options.input)) {
    return Fail({ExitCode::kUsage, options.report + ": the report would overwrite the input model"}, err);
  }
  Session s;
  Status status = RunSession(options, RewritePipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);

  Outputs outputs;
  if (!s.external.keys.empty()) {
    const std::string data_path = DataFileFor(options.output);
    for (const auto& input_file : s.external.files) {
      if (Overwrites(data_path, input_file)) {
        return Fail({ExitCode::kUsage, data_path + ": the output's data file would overwrite the input's external data"},
                    err);
      }
    }
    std::string data;
    Externalize(options.output, s.external, &s.model, &data);
    status = outputs.Write(data_path, data);
    if (!status.ok()) return Fail(status, err);
  }
  std::string bytes;
  status = SerializeModel(s.model, options.output, &bytes);
  if (status.ok()) status = outputs.Write(options.output, bytes);
  RunInfo run{"rewrite", options.input, Sha256OfFile(options.input), options.output, Sha256(bytes), s.ctx.policy};
  const auto report = BuildReport(s.table, run);
  if (status.ok() && !options.report.empty()) status = outputs.Write(options.report, report.dump(2) + "\n");
  if (!status.ok()) return Fail(status, err);
  outputs.Commit();
  PrintResults(options, s.table, report, out);
  return 0;
}

}  // namespace reinit
