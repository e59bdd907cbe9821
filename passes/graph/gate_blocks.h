// Where a recurrent weight's gate blocks and an LSTM bias's forget gate are in the stored tensor.
//
// ONNX's LSTM/GRU/RNN read W [dirs, G*H, I], R [dirs, G*H, H] and B [dirs, 2*G*H] with the gates in
// ONNX's order (LSTM i,o,f,c; GRU z,r,h). An exporter may store them otherwise — PyTorch's weight_hh
// [4H, H] in its own gate order, reordered by Slices and a Concat on the way (passes/graph/assembly.h). The
// note's orthogonal R is orthogonal per gate block of the layer; generated in the stored layout, that
// holds when every gate block the layer reads is a whole run of stored rows (a permutation of whole
// rows keeps a block orthogonal). The forget-gate bias goes to the stored elements that land in the
// forget block of Wb.
#pragma once

#include "passes/graph/param_table.h"

namespace reinit {

// Fills row.gates.block_offsets (the first stored element of each gate block the layer reads from this
// tensor, per direction and gate, in the layer's order), or leaves it empty when a gate block is not a
// whole run of stored rows; and, for an LSTM bias, row.gates.forget_elements. Reads the use's assembly and
// the row's fans (fan_out = H), gate_blocks and directions.
void FindGateBlocks(ParamRow& row, const LayerUse& use);

// The offsets of the whole-kernel blocks (all gates of a direction: Keras), from the gate blocks; empty
// when a direction's gate blocks do not form one run.
std::vector<int64_t> DirectionBlockOffsets(const ParamRow& row);

}  // namespace reinit
