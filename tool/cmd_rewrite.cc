// rewrite: runs the whole pipeline and writes the new model (and the --report file). The input is
// never written: -o naming the input file is refused.
//
// External data: tensors that were in side files, and, with --external-data-file or when the model
// would not fit protobuf's 2 GB, every tensor of at least --size-threshold bytes, go to one new data
// file beside the output ("<output>.data" unless named), 4 KiB aligned, streamed tensor by tensor; it
// is never one of the input's data files. The model itself is streamed to disk too: no serialized copy
// is held in memory. Every file is written atomically, and if a later one fails, the ones this run
// already wrote are removed again (unless they existed before), so a failure leaves no partial output.
// --in-place replaces the input model (and is the only way to): the model is read completely first.
#include <unistd.h>

#include <climits>

#include "passes/atomic_file.h"
#include "passes/model_io.h"
#include "passes/report.h"
#include "passes/version.h"
#include "tool/session.h"

namespace reinit {

namespace {

// Files this run has committed; removed again unless the run completes.
class Written {
 public:
  void Add(const std::string& path, bool existed) {
    if (!existed) paths_.push_back(path);
  }
  void Keep() { paths_.clear(); }
  ~Written() {
    for (const auto& path : paths_) ::unlink(path.c_str());
  }

 private:
  std::vector<std::string> paths_;
};

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

bool Overwrites(const std::string& path, const std::string& input) { return path == input || SameFile(path, input); }

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

}  // namespace

int RunRewrite(const Options& options, std::ostream& out, std::ostream& err) {
  if (!options.in_place && Overwrites(options.output, options.input)) {
    return Fail({ExitCode::kUsage, options.output + ": the output would overwrite the input model (use --in-place)"},
                err);
  }
  if (!options.report.empty() && Overwrites(options.report, options.input)) {
    return Fail({ExitCode::kUsage, options.report + ": the report would overwrite the input model"}, err);
  }
  const std::string& name = options.external_data_file;
  if (!name.empty() && (name.find('/') != std::string::npos || name == "." || name == "..")) {
    return Fail({ExitCode::kUsage, "--external-data-file " + name + ": must be a file name (it goes beside the output)"}, err);
  }
  Session s;
  Status status = RunSession(options, RewritePipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);

  // Which tensors go to a data file.
  std::set<std::string> keys = s.external.keys;
  bool force = !name.empty();
  if (!force && s.model.ByteSizeLong() > static_cast<size_t>(INT_MAX)) {
    force = true;
    if (options.verbosity > 0) {
      err << kToolName << ": warning: the model is over 2 GB: tensors of at least " << options.size_threshold
          << " bytes go to " << (name.empty() ? DataFileName(options.output) : name) << "\n";
    }
  }
  if (force) {
    const auto large = LargeTensors(&s.model, options.size_threshold);
    keys.insert(large.begin(), large.end());
  }

  Written written;
  if (!keys.empty()) {
    const std::string location = name.empty() ? DataFileName(options.output) : name;
    const std::string data_path = DirectoryOf(options.output) + "/" + location;
    for (const auto& input_file : s.external.files) {
      if (Overwrites(data_path, input_file)) {
        return Fail({ExitCode::kUsage, data_path + ": the output's data file would overwrite the input's external data"},
                    err);
      }
    }
    if (Overwrites(data_path, options.input)) {
      return Fail({ExitCode::kUsage, data_path + ": the output's data file would overwrite the input model"}, err);
    }
    const bool existed = Exists(data_path);
    AtomicFile data(data_path);
    status = data.Open();
    if (status.ok()) status = WriteExternalData(keys, location, &s.model, &data);
    if (status.ok()) status = data.Commit();
    if (!status.ok()) return Fail(status, err);
    written.Add(data_path, existed);
  }
  // The model is written and flushed under a temporary name, the report (which carries its SHA-256)
  // is committed, and only then is the model renamed into place: a failure anywhere leaves no output,
  // and --in-place replaces the input in one step, after everything else has succeeded.
  AtomicFile model(options.output);
  status = model.Open();
  if (status.ok()) status = model.WriteMessage(s.model);
  if (status.ok()) status = model.Close();
  if (!status.ok()) return Fail(status, err);
  RunInfo run{"rewrite", options.input, s.input_sha256, options.output, model.sha256(), s.ctx.policy};
  const auto report = BuildReport(s.table, run);
  if (!options.report.empty()) {
    const bool existed = Exists(options.report);
    status = WriteFileAtomic(options.report, report.dump(2) + "\n");
    if (!status.ok()) return Fail(status, err);
    written.Add(options.report, existed);
  }
  status = model.Commit();
  if (!status.ok()) return Fail(status, err);
  written.Keep();
  PrintResults(options, s.table, report, out);
  return 0;
}

}  // namespace reinit
