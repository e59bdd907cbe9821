// How a layer's input is assembled from stored tensors by data-movement ops, read from the graph.
//
// Exporters do not always hand a layer its weight as stored. PyTorch without constant folding reorders
// an LSTM's gates (i,f,g,o -> i,o,f,c) with Slices of weight_ih on axis 0, a Concat and an Unsqueeze;
// a fused QKV weight is Split into three MatMuls; two initializers are Concatenated into one matrix.
// An Assembly describes the value a layer reads as rectangular blocks, each a strided view into one
// stored tensor (numpy-style: an element offset, and a size and stride per axis), placed at an origin
// in the assembled tensor:
//
//   W [32, 6] -> Slice [0:8], Slice [24:32], Slice [8:24] -> Concat(axis 0) -> Unsqueeze(0) -> LSTM
//   assembled [1, 32, 6] = { W rows 0..7 at row 0, W rows 24..31 at row 8, W rows 8..23 at row 16 }
//
// So the fans are read in the layout the layer sees, and each gate block (or piece) can be traced back
// to the stored elements it comes from: orthogonal blocks and a forget-gate bias are generated in the
// stored layout, and pieces of one tensor that reach different layers are told apart.
//
// Followed: Identity, Cast (to a float type), QuantizeLinear/DequantizeLinear, Transpose, Reshape,
// Flatten, Unsqueeze, Squeeze, Expand (with constant shapes), Slice, Split, Concat and Gather (with
// constant indices). Anything else — a computed value — ends the assembly (Assemble returns nullopt).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "passes/graph/graph_index.h"

namespace reinit {

using Shape = std::vector<int64_t>;

// The number of elements of a shape (1 for a scalar).
int64_t Product(const Shape& shape);

// A strided view into a stored tensor: element (i0, i1, ...) of the view is stored element
// offset + sum(ik * strides[k]).
struct View {
  std::string tensor;  // the stored tensor (an initializer's name, or a Constant node's output)
  int64_t offset = 0;
  Shape sizes, strides;
  int64_t Elements() const;
};

// A view placed in the assembled tensor: it covers [origin[k], origin[k] + view.sizes[k]) on each axis.
struct Block {
  Shape origin;
  View view;
};

class Assembly {
 public:
  // A stored tensor as it is: one block, the whole tensor, row-major.
  static Assembly Whole(const std::string& tensor, const Shape& shape);

  const Shape& shape() const { return shape_; }
  const std::vector<Block>& blocks() const { return blocks_; }
  int64_t Elements() const;
  // True when the assembly is `tensor` itself, whole and in its own order (only reshaped, or not at all).
  bool IsWhole(const std::string& tensor) const;

  // Each data-movement op, applied to the assembly; false when it cannot be described (then the
  // assembly is unchanged and must not be used).
  bool Transpose(const Shape& perm);
  bool Unsqueeze(const Shape& axes);
  bool Squeeze(const Shape& axes);
  bool Reshape(const Shape& shape);
  bool Expand(const Shape& shape);
  bool Slice(int64_t axis, int64_t start, int64_t end, int64_t step);
  bool Gather(int64_t axis, const Shape& indices, bool scalar);
  static std::optional<Assembly> Concat(int64_t axis, const std::vector<Assembly>& parts);

  // The stored elements of `tensor` that land in the region [lo, hi) of the assembled tensor, in the
  // region's row-major order (an element used twice appears twice).
  std::vector<int64_t> StoredElements(const std::string& tensor, const Shape& lo, const Shape& hi) const;
  // Every stored element of `tensor` the assembly uses, once each, sorted.
  std::vector<int64_t> Uses(const std::string& tensor) const;
  // True when the assembly uses each of the `stored` elements of `tensor` exactly once, in any order
  // (the tensor whole, reshaped or transposed): what Uses would list as 0..stored-1, said without
  // listing them (a weight of 100 M elements would take seconds to sort).
  bool UsesAllOnce(const std::string& tensor, int64_t stored) const;

 private:
  // Rearranges the axes of the shape and of every block alike: `axes(v, unit)` maps one per-axis
  // vector, `unit` being what a new axis holds (1 for extents, 0 for origins and strides).
  void RemapAxes(const std::function<Shape(const Shape& v, int64_t unit)>& axes);

  Shape shape_;
  std::vector<Block> blocks_;
};

// The assembly of `value` (a layer's input), from stored tensors through the ops above; nullopt when
// any part of it is computed at run time or an op cannot be followed.
std::optional<Assembly> Assemble(const std::string& value, const GraphIndex& index);

// True for the ops an assembly follows (a data input of them carries a parameter towards its layer).
// `input` is the slot of `node` that reads the value: Concat carries every input, the others input 0;
// Gather only with constant indices (with computed ones it is a lookup: an embedding).
bool MovesData(const onnx::NodeProto& node, int input, const GraphIndex& index);

// "[8:24, :]": the stored rows (first axis) a set of stored elements covers, for reports; the elements
// of a tensor of `shape`.
std::string PieceText(const std::vector<int64_t>& elements, const Shape& shape);

}  // namespace reinit
