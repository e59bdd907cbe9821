#include "passes/io/model_writer.h"

#include <unistd.h>

#include <climits>
#include <map>
#include <set>

#include "passes/io/external_data.h"
#include "passes/io/inline_split.h"
#include "passes/io/paths.h"

namespace reinit {

namespace {

constexpr uint64_t kDataAlignment = 4096;  // offsets in the data file: page aligned, mmap-friendly

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

ByteSink SinkInto(AtomicFile* file) {
  ByteSink sink;
  sink.write = [file](const char* data, size_t n) { return file->Write(data, n); };
  sink.room = [file](size_t want, size_t* got) { return file->Room(want, got); };
  sink.produced = [file](size_t n) { return file->Produced(n); };
  return sink;
}

}  // namespace

ModelWriter::ModelWriter(onnx::ModelProto* model, const TensorStore& store, FileGuard& files, WriteRequest request)
    : model_(model), store_(store), files_(files), request_(std::move(request)) {}

ModelWriter::~ModelWriter() {
  for (const auto& path : committed_) ::unlink(path.c_str());
}

bool ModelWriter::to_stdout() const {
  OutputTarget target;
  return ResolveOutput(request_.output, &target).ok() && target.fd == 1;
}

Status ModelWriter::Write() {
  REINIT_RETURN_IF_ERROR(WriteDataFile());
  return WriteModelFile();
}

void ModelWriter::Committed(const std::string& path, bool existed) {
  if (!existed) committed_.push_back(path);
}

Status ModelWriter::Commit() {
  REINIT_RETURN_IF_ERROR(model_file_->Commit());
  committed_.clear();
  return Status::Ok();
}

// Which tensors go to the data file, in model order, and what each holds: the input's external data,
// and every large tensor when a data file is asked for or the model would be over 2 GB inline.
Status ModelWriter::WriteDataFile() {
  std::vector<onnx::TensorProto*> tensors, large;
  uint64_t inline_bytes = model_->ByteSizeLong();
  auto length = [&](const onnx::TensorProto& t) -> uint64_t {
    if (store_.ProducerOf(t) != nullptr) return store_.ProducedLength(t);
    if (const ExternalSource* s = store_.SourceOf(t)) return static_cast<uint64_t>(s->length);
    return t.has_raw_data() ? t.raw_data().size() : 0;
  };
  ForEachTensor(model_, [&](onnx::TensorProto& t, const std::string&) {
    const bool on_disk = store_.Of(t) != TensorStore::Place::kMemory;
    if (store_.FromExternalData(t)) {
      tensors.push_back(&t);
    } else {
      if (on_disk) inline_bytes += length(t) + 16;  // spliced back inline: the bytes and their field header
      if (length(t) >= request_.size_threshold) large.push_back(&t);
    }
  });
  bool force = !request_.data_file_name.empty();
  if (!force && inline_bytes > static_cast<uint64_t>(INT_MAX)) force = over_2gb_ = true;
  if (force) {
    std::set<onnx::TensorProto*> chosen(tensors.begin(), tensors.end());
    chosen.insert(large.begin(), large.end());
    tensors.clear();
    ForEachTensor(model_, [&](onnx::TensorProto& t, const std::string&) {
      if (chosen.count(&t)) tensors.push_back(&t);
    });
  }
  if (tensors.empty()) return Status::Ok();

  const std::string location = request_.data_file_name.empty() ? DataFileName(request_.output) : request_.data_file_name;
  OutputTarget model_target;
  REINIT_RETURN_IF_ERROR(ResolveOutput(request_.output, &model_target));
  if (model_target.kind == OutputTarget::Kind::kStream) {
    return {ExitCode::kUsage, request_.output + ": this model needs a data file beside it (external data), so it "
                                                "cannot be written to a pipe or device; write it to a file"};
  }
  data_path_ = DirectoryOf(model_target.path) + "/" + location;
  REINIT_RETURN_IF_ERROR(files_.Write(data_path_, "the output's data file"));
  const bool existed = Exists(data_path_);
  data_file_ = std::make_unique<AtomicFile>(data_path_, false);
  REINIT_RETURN_IF_ERROR(data_file_->Open());
  if (request_.watch) request_.watch(data_file_.get());
  const ByteSink sink = SinkInto(data_file_.get());
  for (onnx::TensorProto* t : tensors) {
    REINIT_RETURN_IF_ERROR(data_file_->Pad(kDataAlignment));
    const uint64_t offset = data_file_->size(), expected = length(*t);
    if (const TensorStore::Producer* produce = store_.ProducerOf(*t)) {
      REINIT_RETURN_IF_ERROR((*produce)(sink));  // generated straight into the write buffers
    } else if (const ExternalSource* source = store_.SourceOf(*t)) {
      REINIT_RETURN_IF_ERROR(StreamSource(*source, sink.write));  // kept: copied file to file
    } else {
      REINIT_RETURN_IF_ERROR(data_file_->Write(t->raw_data().data(), t->raw_data().size()));
      std::string().swap(*t->mutable_raw_data());  // the memory goes back at once
    }
    const uint64_t written = data_file_->size() - offset;
    if (written != expected) {
      return {ExitCode::kInternal, "tensor '" + t->name() + "': " + std::to_string(written) + " bytes written, " +
                                       std::to_string(expected) + " expected"};
    }
    PointAt(*t, location, offset, written);
    in_data_file_.insert(t);
  }
  REINIT_RETURN_IF_ERROR(data_file_->Commit());
  Committed(data_path_, existed);
  return Status::Ok();
}

// The model itself: serialized from the message, with the streamed tensors that stay inline put back
// at their place, generated or copied as they are written.
Status ModelWriter::WriteModelFile() {
  model_file_ = std::make_unique<AtomicFile>(request_.output, request_.hash);
  REINIT_RETURN_IF_ERROR(model_file_->Open());
  if (request_.watch) request_.watch(model_file_.get());
  std::map<TensorPath, const onnx::TensorProto*> streamed;
  for (const auto& [path, t] : store_.Streamed()) {
    if (!in_data_file_.count(t)) streamed[path] = t;
  }
  if (streamed.empty()) {
    REINIT_RETURN_IF_ERROR(model_file_->WriteMessage(*model_));
    return model_file_->Close();
  }
  std::map<TensorPath, int64_t> lengths;
  int64_t total = 0;
  for (const auto& [path, t] : streamed) {
    // The path was taken when the model was read; the passes add or remove no tensor of an inline model
    // (--untie-shared reads it whole), so it still names this tensor.
    onnx::TensorProto* mutable_t = FindTensor(model_, path);
    if (mutable_t != t) {
      return {ExitCode::kInternal, "tensor '" + t->name() + "' is no longer at " + PathText(path) + " in the model"};
    }
    const TensorStore::Producer* produce = store_.ProducerOf(*t);
    lengths[path] = produce ? static_cast<int64_t>(store_.ProducedLength(*t)) : store_.SourceOf(*t)->length;
    // The bytes, their field header (at most 6 bytes) and at most 4 more in each enclosing length.
    total += lengths[path] + 6 + 4 * static_cast<int64_t>(path.size());
    mutable_t->clear_external_data();
    mutable_t->clear_data_location();
  }
  std::string skeleton;
  if (!model_->SerializeToString(&skeleton) || total + static_cast<int64_t>(skeleton.size()) > INT_MAX) {
    return {ExitCode::kWriteFailed, request_.output + ": the model is over protobuf's 2 GB limit (use --external-data-file)"};
  }
  REINIT_RETURN_IF_ERROR(WriteWithRawData(skeleton, lengths, [&](const TensorPath& path, const ByteSink& sink) -> Status {
    const onnx::TensorProto& t = *streamed.at(path);
    if (const TensorStore::Producer* produce = store_.ProducerOf(t)) return (*produce)(sink);
    return StreamSource(*store_.SourceOf(t), sink.write);
  }, SinkInto(model_file_.get())));
  return model_file_->Close();
}

}  // namespace reinit
