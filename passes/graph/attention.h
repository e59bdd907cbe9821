// Attention layers read from the graph: softmax(Q K^T) V between input projections (the layers whose
// outputs become Q, K and V) and an output projection (the layer that reads the attention's result).
//
// The pytorch preset needs them because torch.nn.MultiheadAttention does not initialize its projections
// as nn.Linear does: its packed in_proj_weight [3E, E] is xavier_uniform_ over the whole tensor, which
// an export may store as one [E, 3E] MatMul weight whose output is sliced into Q, K and V (self-
// attention), as Slices of the stored tensor (no constant folding), or as two or three tensors (constant
// folding of the Slices: cross-attention).
#pragma once

#include <string>
#include <vector>

#include "passes/graph/graph_index.h"

namespace reinit {

struct AttentionLayers {
  // The layers (MatMul, Gemm) whose outputs become Q, K and V, each once (one for a packed projection).
  std::vector<const onnx::NodeProto*> in_proj;
  const onnx::NodeProto* out_proj = nullptr;
  // The scope of torch's functional multi_head_attention_forward: the in- and output projections are
  // nodes of one module ("/attn/MatMul", "/attn/Gemm"), where attention built of nn.Linear layers has a
  // scope per projection ("/attn/q_proj/MatMul"). Empty when the node names do not say.
  bool one_scope = false;
};

// Every attention of the graph and its subgraphs: a Softmax whose input is a MatMul of two computed
// values (through scaling, masking and casts) and whose output is the left operand of a MatMul, with
// Q, K and V traced back through layout ops, scaling and bias Adds to their projection layers and the
// result traced forward through layout ops to its output projection. Attention without projections on
// all of Q, K, V and the output is left out.
std::vector<AttentionLayers> FindAttention(const GraphIndex& index);

}  // namespace reinit
