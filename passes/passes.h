// Every pass, declared once, in the order they run: the name that --list-passes, --passes, --dump-after
// and --stats use, what the pass does, which groups of ParamRow (passes/graph/param_table.h) it reads
// and writes, and the function in its .cc file that makes it. A pass's class is private to its .cc file:
// the pipeline (passes/pipeline.h) reaches it only through this table, so a new pass is one more line
// here and nowhere else.
#pragma once

#include <memory>

#include "passes/pipeline.h"

namespace reinit {

struct PassInfo {
  const char* name;
  const char* summary;  // one line, for --list-passes
  const char* reads;    // the ParamRow groups and fields (and whatever else) the pass reads
  const char* writes;   // the ParamRow groups and fields (and whatever else) the pass writes
  std::unique_ptr<Pass> (*create)();
  // A pass that runs only when asked for, by this option, and then before all others; null: always runs.
  const char* asked_by = nullptr;
  // The pass changes the graph (adds tensors, points node inputs at them): it runs before the graph is
  // indexed, and without an index.
  bool changes_graph = false;
};

std::unique_ptr<Pass> MakeUntieSharedPass();
std::unique_ptr<Pass> MakeFindParamsPass();
std::unique_ptr<Pass> MakeInferFansPass();
std::unique_ptr<Pass> MakeInferActivationPass();
std::unique_ptr<Pass> MakeFindFixedConstantsPass();
std::unique_ptr<Pass> MakeFindCopiesPass();
std::unique_ptr<Pass> MakeSelectInitPass();
std::unique_ptr<Pass> MakeSelectTensorsPass();
std::unique_ptr<Pass> MakeAuditSignalPass();
std::unique_ptr<Pass> MakeRegeneratePass();

inline constexpr char kUntieShared[] = "untie-shared";

// clang-format off
inline constexpr PassInfo kPasses[] = {
    {kUntieShared,
     "with --untie-shared: give each layer that shares a parameter its own copy (<name>.untied.<k>)",
     "the model",
     "the model (a copy of each shared tensor per further layer input); the copies' names, for find-copies",
     MakeUntieSharedPass, "--untie-shared", /*changes_graph=*/true},
    {"find-params",
     "one row per tensor; role from how it is consumed (op type + input index)",
     "the model",
     "name, dtype, shape, source, graph, tensor, consumers, role, uses (uses[0] decides: layer()), piece, "
     "piece_text, conflicts, quantized, split_gates, role_reason",
     MakeFindParamsPass},
    {"infer-fans",
     "fan_in/fan_out from the consumer's layout (conv groups, gate blocks, transB)",
     "uses, split_gates; the policy's fan convention",
     "fans (absent when the shape does not fit: role_reason says why), gates, conflicts",
     MakeInferFansPass},
    {"infer-activation",
     "follow each layer's output to its first nonlinearity",
     "role, uses, fans",
     "act, conflicts",
     MakeInferActivationPass},
    {"find-fixed-constants",
     "mark weights whose values are a fixed DFT basis, filterbank or smoothing kernel",
     "role, quantized, dtype, uses; the tensor's values",
     "fixed",
     MakeFindFixedConstantsPass},
    {"find-copies",
     "one parameter stored twice: copies in the branches of an If, a tied head stored transposed",
     "role, dtype, shape, graph, piece; the tensors' values; the copies untie-shared made",
     "copy",
     MakeFindCopiesPass},
    {"select-init",
     "pick scheme, distribution, gain and std/bound by the note's rules",
     "role, quantized, fans, gates, act, fixed, conflicts, copy; the policy",
     "init",
     MakeSelectInitPass},
    {"select-tensors",
     "apply --only/--exclude/--keep/--reinit-last/--reinit-blocks: unselected rows are kept",
     "role, uses, consumers, copy, init; the policy's selection",
     "init (of the rows it leaves out: kept, with why), stats (their measured values); warnings",
     MakeSelectTensorsPass},
    {"audit-signal",
     "predict each layer's forward and backward signal std from the weights' statistics (audit, --audit, "
     "--preserve-signal)",
     "role, uses, fans, act, init; the tensors' values (kept ones, or all with audit); the graph",
     "init of re-initialized plain layers (--preserve-signal: std, gain, bound, reason); the audit (ctx.signal)",
     MakeAuditSignalPass},
    {"regenerate",
     "write freshly generated values into every tensor marked for re-initialization",
     "init, gates, fans, copy, piece",
     "the tensors' data, stats; the model's metadata (the run)",
     MakeRegeneratePass},
};
// clang-format on

// The pass of that name, or null.
const PassInfo* FindPass(const std::string& name);

}  // namespace reinit
