// Writing a rewritten model: the model file, and its data file when it has one.
//
// Each tensor's bytes come from where the tensor store says (passes/io/tensor_store.h): the message,
// a producer that generates them into the write buffers, or the input file they are copied from. A
// tensor that came from the input's external data goes to the output's data file, and so does every
// tensor of at least `size_threshold` bytes (initializers and attribute tensors such as Constant values,
// of every graph, wherever their bytes are) when a data file is asked for (--external-data-file) or
// the model would not fit protobuf's 2 GB; the data file is "<output>.data" unless named, beside the
// output, 4 KiB aligned, and never one of the input's files. Streamed tensors that stay inline are
// spliced back into the model at their place (passes/io/inline_split.h).
//
// Every file is written atomically (passes/io/atomic_file.h): the data file is committed first, the
// model is written and flushed under a temporary name, the caller commits what must carry the model's
// SHA-256 (the report), and only then is the model renamed into place. If anything fails, what was
// committed is removed again (unless it existed before), so a failure leaves no partial output.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/status.h"
#include "passes/io/atomic_file.h"
#include "passes/io/file_guard.h"
#include "passes/io/tensor_store.h"

namespace reinit {

struct WriteRequest {
  std::string output;               // the model's path; "-" or a device is written to directly
  std::string data_file_name;       // --external-data-file; empty: "<output>.data" when one is needed
  uint64_t size_threshold = 1024;   // with a data file: tensors of at least this many bytes go there
  bool hash = false;                // compute the model's SHA-256 (a report will carry it)
  std::function<void(AtomicFile*)> watch;  // called with each file once it is open (progress lines)
};

class ModelWriter {
 public:
  ModelWriter(onnx::ModelProto* model, const TensorStore& store, FileGuard& files, WriteRequest request);
  ~ModelWriter();

  // Writes the data file (committed) and the model (flushed, not yet in place).
  Status Write();
  // A file the caller committed after Write() (the report): removed again if Commit() fails.
  void Committed(const std::string& path, bool existed);
  // Renames the model into place; on failure removes everything committed.
  Status Commit();

  const std::string& sha256() const { return model_file_->sha256(); }
  // After Write(): the complete model under its temporary name (readable, not yet in place); empty when
  // the model went to a device or stream.
  const std::string& written() const { return model_file_->temporary(); }
  uint64_t size() const { return model_file_->size(); }
  // The data file's path, or "" when the model has none.
  const std::string& data_file() const { return data_path_; }
  // Said once the data file was chosen for being over 2 GB (for a warning).
  bool over_2gb() const { return over_2gb_; }
  // Whether the model went to standard output.
  bool to_stdout() const;

 private:
  Status WriteDataFile();
  Status WriteModelFile();

  onnx::ModelProto* model_;
  const TensorStore& store_;
  FileGuard& files_;
  WriteRequest request_;
  std::string data_path_;
  bool over_2gb_ = false;
  std::unique_ptr<AtomicFile> data_file_, model_file_;
  std::set<const onnx::TensorProto*> in_data_file_;  // placed in the data file: not spliced inline
  std::vector<std::string> committed_;  // removed again unless Commit() succeeds
};

}  // namespace reinit
