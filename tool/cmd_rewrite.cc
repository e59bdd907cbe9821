// rewrite: runs the whole pipeline and writes the new model (and the --report file). The input is
// never written unless --in-place replaces it.
//
// External data: tensors that were in side files, and, with --external-data-file or when the model
// would not fit protobuf's 2 GB, every tensor of at least --size-threshold bytes, go to one new data
// file beside the output ("<output>.data" unless named), 4 KiB aligned; it is never one of the input's
// data files. The input's external tensors are never all in memory: regenerate hands each new tensor
// to the data file as soon as it is made, and kept ones are copied file to file in pieces. The model
// itself is streamed to disk too. Every file is written atomically: the data file and the report are
// committed first and the model renamed into place last; if anything fails, what this run committed is
// removed again (unless it existed before), so a failure leaves no partial output.
#include <unistd.h>

#include <chrono>
#include <climits>
#include <map>
#include <memory>
#include <unordered_set>

#include "passes/io/atomic_file.h"
#include "passes/gen/fill.h"
#include "passes/io/inline_split.h"
#include "passes/graph/tensor_values.h"
#include "passes/io/model_io.h"
#include "passes/io/paths.h"
#include "passes/report/report.h"
#include "passes/report/version.h"
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
std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

// "6.99 kB": a file size for the closing line.
std::string Size(uint64_t bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  return u == 0 ? std::to_string(bytes) + " bytes" : Short(v) + " " + units[u];
}


// The output's data file, opened on first use (after the input's data files are known).
class DataFile {
 public:
  DataFile(const Options& o, Session& session)
      : location_(o.external_data_file.empty() ? DataFileName(o.output) : o.external_data_file),
        path_(DirectoryOf(o.output) + "/" + location_),
        output_(o.output),
        session_(session) {}

  Status Open() {
    if (file_) return Status::Ok();
    OutputTarget model;
    REINIT_RETURN_IF_ERROR(ResolveOutput(output_, &model));
    if (model.kind == OutputTarget::Kind::kStream) {
      return {ExitCode::kUsage, output_ + ": this model needs a data file beside it (external data), so it cannot be "
                                          "written to a pipe or device; write it to a file"};
    }
    REINIT_RETURN_IF_ERROR(session_.files.Write(path_, "the output's data file"));
    existed_ = Exists(path_);
    file_ = std::make_unique<AtomicFile>(path_);
    REINIT_RETURN_IF_ERROR(file_->Open());
    ShowProgress(file_.get(), session_.progress.get());
    return Status::Ok();
  }

  // A regenerated tensor: its bytes go out and are freed.
  Status Put(onnx::TensorProto& t) {
    REINIT_RETURN_IF_ERROR(Open());
    REINIT_RETURN_IF_ERROR(file_->Pad(4096));
    const uint64_t offset = file_->size(), length = t.raw_data().size();
    REINIT_RETURN_IF_ERROR(file_->Write(t.raw_data().data(), length));
    std::string().swap(*t.mutable_raw_data());
    PointAt(t, location_, offset, length);
    done_.insert(&t);
    return Status::Ok();
  }

  // A kept tensor still in the input's file: copied across in pieces.
  Status Copy(onnx::TensorProto& t, const ExternalSource& source) {
    REINIT_RETURN_IF_ERROR(Open());
    uint64_t offset = 0;
    REINIT_RETURN_IF_ERROR(CopySource(source, file_.get(), &offset));
    PointAt(t, location_, offset, static_cast<uint64_t>(source.length));
    done_.insert(&t);
    return Status::Ok();
  }

  bool Done(const onnx::TensorProto& t) const { return done_.count(&t) > 0; }
  AtomicFile* file() { return file_.get(); }
  const std::string& location() const { return location_; }
  const std::string& path() const { return path_; }
  bool existed() const { return existed_; }

 private:
  std::string location_, path_, output_;
  Session& session_;
  std::unique_ptr<AtomicFile> file_;
  bool existed_ = false;
  std::unordered_set<const onnx::TensorProto*> done_;
};

// Writes the model with its streamed tensors (Session::streamed) put back inline: each one regenerated
// piece by piece (`deferred`) or copied from the input, straight into the file; the rest of the model
// is serialized without them (passes/inline_split.h).
Status WriteStreamed(Session& s, const std::map<int, ParamRow*>& deferred, unsigned threads, AtomicFile* file) {
  std::map<int, int64_t> lengths;
  int64_t total = 0;
  for (const auto& [index, source] : s.streamed) {
    onnx::TensorProto* t = s.model.mutable_graph()->mutable_initializer(index);
    if (t->has_raw_data()) continue;  // regenerated in memory (not chunk by chunk): an ordinary tensor now
    auto d = deferred.find(index);
    int64_t n = source.length;
    if (d != deferred.end()) {
      REINIT_RETURN_IF_ERROR(ElementCount(*t, &n));
      n *= static_cast<int64_t>(FloatByteWidth(d->second->dtype));
    }
    lengths[index] = n;
    total += n + 16;  // the bytes and at most their field header
    t->clear_external_data();
    t->clear_data_location();
  }
  std::string skeleton;
  if (!s.model.SerializeToString(&skeleton) || total + static_cast<int64_t>(skeleton.size()) > INT_MAX) {
    return {ExitCode::kWriteFailed, file->path() + ": the model is over protobuf's 2 GB limit (use --external-data-file)"};
  }
  ByteSink out;
  out.write = [file](const char* data, size_t n) { return file->Write(data, n); };
  out.room = [file](size_t want, size_t* got) { return file->Room(want, got); };
  out.produced = [file](size_t n) { return file->Produced(n); };
  return WriteWithRawData(skeleton, lengths, [&](int index, const ByteSink& sink) -> Status {
    auto d = deferred.find(index);
    if (d == deferred.end()) return StreamSource(s.streamed.at(index), sink.write);
    ParamRow& row = *d->second;
    TensorStats stats;
    REINIT_RETURN_IF_ERROR(FillPieces(row, s.ctx.policy.seed, threads, sink, &stats));
    row.stats = stats;
    return Status::Ok();
  }, out);
}

}  // namespace

int RunRewrite(const Options& options, std::ostream& out, std::ostream& err) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& name = options.external_data_file;
  if (!name.empty() && (name.find('/') != std::string::npos || name == "." || name == "..")) {
    return Fail({ExitCode::kUsage, "--external-data-file " + name + ": must be a file name (it goes beside the output)"}, err);
  }
  Session s;
  Status status = s.files.Write(options.output, "the output", /*may_be_input_model=*/options.in_place);
  if (!status.ok()) return Fail(status, err);
  OutputTarget target;
  status = ResolveOutput(options.output, &target);
  if (!status.ok()) return Fail(status, err);
  DataFile data(options, s);
  // Streamed tensors (Session::streamed): one generated chunk by chunk waits for the writer; one
  // regenerated otherwise is made in memory and stays inline; a kept one is copied by the writer.
  std::map<const onnx::TensorProto*, int> streamed_index;
  std::map<int, ParamRow*> deferred;
  auto streamed_at = [&](const onnx::TensorProto* t) {
    if (streamed_index.size() != s.streamed.size()) {
      for (const auto& entry : s.streamed) streamed_index[&s.model.graph().initializer(entry.first)] = entry.first;
    }
    auto it = streamed_index.find(t);
    return it == streamed_index.end() ? -1 : it->second;
  };
  s.ctx.defer = [&](ParamRow& row) {
    const int index = streamed_at(row.tensor);
    if (index < 0 || !FillsByChunks(row)) return false;
    deferred[index] = &row;
    return true;
  };
  s.ctx.external_sink = [&](onnx::TensorProto& t) {
    if (streamed_at(&t) < 0) return data.Put(t);
    t.clear_data_location();  // was inline: stays inline
    return Status::Ok();
  };
  status = RunSession(options, RewritePipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);
  // A rewrite that changes nothing is almost always a mistake (every weight quantized, a selection
  // that leaves everything out): say why instead of writing a copy.
  if (Count(s.table).reinitialized == 0 && !s.ctx.policy.selection.allow_empty) {
    return Fail({ExitCode::kUsage, options.input + ": nothing to re-initialize: " + NothingToDo(s.table) +
                                       " (use --allow-empty to write the model anyway)"},
                err);
  }

  // The input's external tensors that were kept: file to file.
  ForEachTensor(&s.model, [&](onnx::TensorProto& t, const std::string& key) {
    auto it = s.external.sources.find(key);
    if (status.ok() && it != s.external.sources.end() && !data.Done(t) && streamed_at(&t) < 0) {
      status = data.Copy(t, it->second);
    }
  });
  if (!status.ok()) return Fail(status, err);

  // Tensors in memory that go to the data file: the input's eagerly loaded ones, and all large ones
  // when asked for or when the model would not fit protobuf's 2 GB.
  std::set<std::string> keys = s.external.keys;
  bool force = !name.empty();
  if (!force && s.model.ByteSizeLong() > static_cast<size_t>(INT_MAX)) {
    force = true;
    if (options.verbosity > 0) {
      err << kToolName << ": warning: the model is over 2 GB: tensors of at least " << options.size_threshold
          << " bytes go to " << data.location() << "\n";
    }
  }
  if (force) {
    const auto large = LargeTensors(&s.model, options.size_threshold);
    keys.insert(large.begin(), large.end());
  }
  bool inline_to_file = false;
  ForEachTensor(&s.model, [&](onnx::TensorProto& t, const std::string& key) {
    inline_to_file = inline_to_file || (keys.count(key) && t.has_raw_data());
  });
  if (inline_to_file) {
    status = data.Open();
    if (status.ok()) status = WriteExternalData(keys, data.location(), &s.model, data.file());
    if (!status.ok()) return Fail(status, err);
  }
  Written written;
  if (data.file() != nullptr) {
    status = data.file()->Commit();
    if (!status.ok()) return Fail(status, err);
    written.Add(data.file()->target(), data.existed());
  }

  // The model is written and flushed under a temporary name, the report (which carries its SHA-256)
  // is committed, and only then is the model renamed into place: a failure anywhere leaves no output,
  // and --in-place replaces the input in one step, after everything else has succeeded. (A model
  // written to a pipe or device goes out as it is written: that alone cannot be taken back.)
  AtomicFile model(options.output, ReportNeeded(options));
  status = model.Open();
  ShowProgress(&model, s.progress.get());
  if (status.ok()) {
    status = s.streamed.empty() ? model.WriteMessage(s.model) : WriteStreamed(s, deferred, options.threads, &model);
  }
  if (status.ok()) status = model.Close();
  if (!status.ok()) return Fail(status, err);
  std::string input_sha256;
  status = InputSha256(s, &input_sha256);
  if (!status.ok()) return Fail(status, err);
  RunInfo run{"rewrite", options.input, input_sha256, options.output, model.sha256(), s.ctx.policy};
  const auto report = BuildReport(s.table, run);
  if (!options.report.empty()) {
    AtomicFile file(options.report, false);
    status = file.Open();
    const bool existed = Exists(file.target());
    const std::string text = report.dump(2) + "\n";
    if (status.ok()) status = file.Write(text.data(), text.size());
    if (status.ok()) status = file.Commit();
    if (!status.ok()) return Fail(status, err);
    if (!file.streamed()) written.Add(file.target(), existed);
  }
  status = model.Commit();
  if (!status.ok()) return Fail(status, err);
  written.Keep();
  PrintResults(options, s.table, report, Results(options, out, err));
  PrintNotes(options, s.table, err);
  if (options.verbosity > 0) {
    const Tally tally = Count(s.table);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    err << kToolName << ": wrote " << (target.fd == 1 ? std::string("the model to stdout") : options.output) << " ("
        << Size(model.size()) << ")" << (data.file() ? " and " + data.path() : std::string())
        << (options.report.empty() ? std::string() : ", report " + options.report) << ": " << tally.reinitialized
        << " tensors re-initialized, " << tally.kept << " kept, in " << Seconds(seconds) << "\n";
  }
  return 0;
}

}  // namespace reinit
