// libFuzzer target: arbitrary bytes through the loader's parse and the whole pipeline in memory
// (find-params ... regenerate). Any crash, hang, sanitizer report or leak is a bug. External-data
// tensors are not read here (no files): their rows are refused by the storage checks like any bad tensor.
// Built by scripts/fuzz.sh with clang -fsanitize=fuzzer,address,undefined.
#include <cstddef>
#include <cstdint>

#include "onnx/onnx_pb.h"
#include "passes/graph_index.h"
#include "passes/pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size)) || !model.has_graph()) return 0;
  reinit::GraphIndex index(model.mutable_graph());
  reinit::ParamTable table;
  reinit::PassContext ctx;
  ctx.model = &model;
  ctx.index = &index;
  ctx.table = &table;
  ctx.threads = 1;
  (void)reinit::RunPipeline(reinit::RewritePipeline(), ctx);
  std::string out;
  (void)model.SerializeToString(&out);
  return 0;
}
