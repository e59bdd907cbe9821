// Preset proxy: which output channel each stored element of a parameter belongs to, and the mean and
// std of every channel, read in one streaming pass (select-init uses it; passes/gen/fill.cc draws from
// the result).
#pragma once

#include "passes/graph/param_table.h"
#include "passes/graph/status.h"
#include "passes/io/tensor_store.h"

namespace reinit {

// The channel layout of `row` in its stored tensor (ProxySource's fields but the statistics):
//   Conv W [M, C/g, k..]          axis 0                    ConvTranspose W [C, M/g, k..]  group, axis 1
//   Gemm B [K, N] (transB [N, K])  the N axis                MatMul W [.., K, N]            the last axis
//   LSTM/GRU/RNN W, R [D, G*H, .]  each row (direction, gate unit)   B [D, 2*G*H]           each H-block
//   embedding [V, D]               the D axis (a feature)    other tensors of rank >= 2      the last axis
// Per tensor: 1-D tensors (biases, norm scales), pieces, tensors that reach their layer through an op
// that changes the layout (the stored axes are not the layer's), and layouts whose channels would hold
// fewer than two values.
ProxySource ProxyLayout(const ParamRow& row);

// `source`'s per-channel mean and std and whole-tensor stats of the row's stored values (of its piece,
// for a piece), wherever its bytes are (`store` may be null: every tensor is in memory). A tensor in a
// file is read a block at a time, never held whole as doubles.
Status MeasureProxySource(const ParamRow& row, const TensorStore* store, ProxySource* source);

}  // namespace reinit
