// rewrite: runs the whole pipeline and writes the new model (and the --report file) through the
// library's ModelWriter (passes/io/model_writer.h: where each tensor's bytes go, the data file, atomic
// commits). The input is never written unless --in-place replaces it.
#include <chrono>

#include "passes/io/model_writer.h"
#include "passes/report/report.h"
#include "passes/report/version.h"
#include "tool/session.h"

namespace reinit {

namespace {

// "writing out.onnx: 312/531 MB" lines while a large file is written.
void ShowProgress(AtomicFile* file, Progress* progress) {
  if (progress == nullptr) return;
  const std::string stage = "writing " + file->path();
  file->OnProgress([progress, stage](uint64_t written, bool done) {
    progress->Update(stage, written, 0, "MB");
    if (done) progress->Finish(stage);
  });
}

// "0.42 s": a duration for the closing line.
std::string Seconds(double s) { return FormatFixed(s, 2) + " s"; }

// "6.99 kB": a file size for the closing line.
std::string Size(uint64_t bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  return u == 0 ? std::to_string(bytes) + " bytes" : Short(v) + " " + units[u];
}

// "onnx-reinit: wrote out.onnx (6.99 kB), report r.json: 13 tensors re-initialized, 0 kept, in 0.02 s"
void Closing(const Options& o, const ModelWriter& writer, const ParamTable& table, double seconds, std::ostream& err) {
  const Tally tally = Count(table);
  err << kToolName << ": wrote " << (writer.to_stdout() ? std::string("the model to stdout") : o.output) << " ("
      << Size(writer.size()) << ")" << (writer.data_file().empty() ? "" : " and " + writer.data_file())
      << (o.report.empty() ? "" : ", report " + o.report) << ": " << tally.reinitialized << " tensors re-initialized, "
      << tally.kept << " kept, in " << Seconds(seconds) << "\n";
}

Status CheckDataFileName(const std::string& name) {
  if (name.empty() || (name.find('/') == std::string::npos && name != "." && name != "..")) return Status::Ok();
  return {ExitCode::kUsage, "--external-data-file " + name + ": must be a file name (it goes beside the output)"};
}

// A rewrite that changes nothing is almost always a mistake (every weight quantized, a selection that
// leaves everything out): it says why instead of writing a copy.
Status SomethingToDo(const Options& o, const Session& s) {
  if (Count(s.run.table()).reinitialized > 0 || s.run.ctx().policy.selection.allow_empty) return Status::Ok();
  return {ExitCode::kUsage, o.input + ": nothing to re-initialize: " + NothingToDo(s.run.table()) +
                                " (use --allow-empty to write the model anyway)"};
}

}  // namespace

int RunRewrite(const Options& options, std::ostream& out, std::ostream& err) {
  const auto start = std::chrono::steady_clock::now();
  Session s;
  Status status = CheckDataFileName(options.external_data_file);
  if (status.ok()) status = s.files.Write(options.output, "the output", /*may_be_input_model=*/options.in_place);
  if (status.ok()) status = RunSession(options, RewritePipeline(), /*whole_pipeline=*/true, &s, err);
  if (status.ok()) status = SomethingToDo(options, s);
  if (!status.ok()) return Fail(status, err);
  ModelWriter writer(&s.run.model(), s.store, s.files,
                     {options.output, options.external_data_file, options.size_threshold, ReportNeeded(options),
                      [&s](AtomicFile* file) { ShowProgress(file, s.progress.get()); }});
  status = writer.Write();
  if (status.ok() && writer.over_2gb() && options.verbosity > 0) {
    err << kToolName << ": warning: the model is over 2 GB: tensors of at least " << options.size_threshold
        << " bytes went to " << writer.data_file() << "\n";
  }
  nlohmann::ordered_json exported;
  if (status.ok() && !options.export_weights.empty()) {
    status = ExportRewritten(options, writer.written(), s.run.table(), &exported, &writer, err);
  }
  std::string input_sha256;
  if (status.ok()) status = InputSha256(s, &input_sha256);
  const SignalAudit* audit = options.audit ? &*s.run.ctx().signal.audit : nullptr;
  auto report = BuildReport(s.run.table(), {"rewrite", options.input, input_sha256, options.output,
                                                  status.ok() ? writer.sha256() : "", s.run.ctx().policy, audit});
  if (!exported.is_null()) report["export"] = exported;
  if (status.ok()) status = WriteReport(options, report, &writer);
  if (status.ok()) status = writer.Commit();
  if (!status.ok()) return Fail(status, err);
  PrintResults(options, s.run.table(), report, Results(options, out, err), audit);
  PrintNotes(options, s.run.table(), err);
  if (!exported.is_null() && options.verbosity > 0) {
    WarnNotExported(options, exported, err);
    err << kToolName << ": wrote " << options.export_weights << ": " << exported["tensors"].size()
        << " tensors under the framework's names\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.verbosity > 0) Closing(options, writer, s.run.table(), seconds, err);
  return 0;
}

}  // namespace reinit
