// libFuzzer target: arbitrary bytes through the wire walk that leaves large tensors on disk and writes
// them back (passes/io/inline_split.h), and through the loader's parse and the whole pipeline in memory
// (find-params ... regenerate). Any crash, hang, sanitizer report or leak is a bug. External-data
// tensors are not read here (no files): their rows are refused by the storage checks like any bad tensor.
// Built by scripts/fuzz.sh with clang -fsanitize=fuzzer,address,undefined.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/io/inline_split.h"
#include "passes/pipeline_run.h"

namespace {
// The walk reads a file: the input in a memory file; a skeleton it accepts is written back with the
// left-out bytes taken from the input again.
void WalkAndWriteBack(const uint8_t* data, size_t size) {
  const int fd = ::memfd_create("fuzz", 0);
  if (fd < 0) return;
  if (::write(fd, data, size) == static_cast<ssize_t>(size)) {
    std::string skeleton;
    std::vector<reinit::SplitTensor> split;
    if (reinit::SplitLargeTensors(fd, static_cast<int64_t>(size), 16, &skeleton, &split) && !split.empty()) {
      std::map<reinit::TensorPath, int64_t> lengths;
      std::map<reinit::TensorPath, reinit::SplitTensor> by_path;
      for (const auto& t : split) {
        lengths[t.path] = t.length;
        by_path[t.path] = t;
      }
      std::string out;
      reinit::ByteSink to_string;
      to_string.write = [&](const char* bytes, size_t n) {
        out.append(bytes, n);
        return reinit::Status::Ok();
      };
      (void)reinit::WriteWithRawData(
          skeleton, lengths,
          [&](const reinit::TensorPath& path, const reinit::ByteSink& sink) {
            const auto& t = by_path.at(path);
            return sink.write(reinterpret_cast<const char*>(data) + t.offset, static_cast<size_t>(t.length));
          },
          to_string);
    }
  }
  ::close(fd);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  WalkAndWriteBack(data, size);
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size)) || !model.has_graph()) return 0;
  reinit::PipelineRun run(std::move(model));
  run.ctx().threads = 1;
  (void)run.Run(reinit::RewritePipeline());
  std::string out;
  (void)run.model().SerializeToString(&out);
  return 0;
}
