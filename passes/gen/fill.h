// Writing a row's new values into its tensor, fast: float32/float16/bfloat16 tensors drawn at random
// (Xavier, He, LeCun, normal, uniform) are generated chunk by chunk straight into their storage by the
// vectorized kernels, on several threads, with no copy of the tensor as doubles. Everything else
// (constants, orthogonal matrices, float64) takes the general path through GenerateValues.
// Stats are summed per chunk and combined in chunk order, so they too do not depend on thread count.
#pragma once

#include <functional>
#include <vector>

#include "passes/io/byte_sink.h"
#include "passes/graph/param_table.h"
#include "passes/graph/status.h"

namespace reinit {

// Threads for one tensor; 0 means one per core.
Status FillTensor(const ParamRow& row, uint64_t seed, unsigned threads, TensorStats* stats);

// Whether `row` is generated chunk by chunk (float32/float16/bfloat16, random schemes): such a tensor
// can also be generated piece by piece as it is written, never whole in memory.
bool FillsByChunks(const ParamRow& row);

// The raw_data bytes FillTensor would store for `row` (the shape's element count, in its dtype), generated
// into the sink's room a piece at a time (or written, for pieces smaller than a chunk), and their stats:
// the same bytes and stats as FillTensor.
Status FillPieces(const ParamRow& row, uint64_t seed, unsigned threads, const ByteSink& sink, TensorStats* stats);

}  // namespace reinit
