#include "passes/graph/gate_blocks.h"

#include <algorithm>

#include "passes/graph/assembly.h"

namespace reinit {

namespace {

// The first stored element of a gate block read as `elements` (in the block's row-major order), when
// the block is `rows` whole stored rows of `cols` elements forming one run of stored elements; else -1.
int64_t WholeRows(std::vector<int64_t> elements, int64_t rows, int64_t cols) {
  if (static_cast<int64_t>(elements.size()) != rows * cols) return -1;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 1; c < cols; ++c) {
      if (elements[r * cols + c] != elements[r * cols + c - 1] + 1) return -1;
    }
  }
  std::sort(elements.begin(), elements.end());
  for (size_t i = 1; i < elements.size(); ++i) {
    if (elements[i] != elements[i - 1] + 1) return -1;
  }
  return elements.empty() ? -1 : elements[0];
}

}  // namespace

void FindGateBlocks(ParamRow& row, const LayerUse& use) {
  row.gates.block_offsets.clear();
  row.gates.forget_elements.clear();
  if (use.assembly == nullptr) return;
  const Assembly& a = *use.assembly;
  const Shape& s = a.shape();
  if (row.role == Role::kRecurrentBias) {
    // B [dirs, 2*G*H] = [Wb, Rb], LSTM gates i, o, f, c: the forget block of Wb is [2H, 3H).
    if (row.gates.blocks != 4 || s.size() != 2 || s[1] % 8 != 0) return;
    const int64_t h = s[1] / 8;
    for (int64_t d = 0; d < s[0]; ++d) {
      for (int64_t e : a.StoredElements(row.name, {d, 2 * h}, {d + 1, 3 * h})) row.gates.forget_elements.push_back(e);
    }
    return;
  }
  // [dirs, G*H, cols] for the recurrent ops; [G*H, cols] for a cell's dense gate projection (Gemm with
  // transB: one direction).
  if ((s.size() != 3 && s.size() != 2) || !row.fans || row.fans->out <= 0) return;
  const bool dense = s.size() == 2;
  const int64_t h = row.fans->out, cols = s.back(), dirs = dense ? 1 : s[0];
  if (s[dense ? 0 : 1] != h * row.gates.blocks) return;
  int64_t covered = 0;
  for (int64_t d = 0; d < dirs; ++d) {
    for (int64_t g = 0; g < row.gates.blocks; ++g) {
      std::vector<int64_t> elements = dense ? a.StoredElements(row.name, {g * h, 0}, {(g + 1) * h, cols})
                                            : a.StoredElements(row.name, {d, g * h, 0}, {d + 1, (g + 1) * h, cols});
      if (elements.empty()) continue;  // a block of another tensor (the other direction's weight)
      const int64_t offset = WholeRows(std::move(elements), h, cols);
      if (offset < 0) {
        row.gates.block_offsets.clear();
        return;
      }
      row.gates.block_offsets.push_back(offset);
      covered += h * cols;
    }
  }
  // Each stored element in exactly one block (a row read twice would break orthogonality).
  std::vector<int64_t> sorted = row.gates.block_offsets;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i] < sorted[i - 1] + h * cols) sorted.clear();
  }
  const int64_t stored = Product(row.shape);
  const int64_t used = a.UsesAllOnce(row.name, stored) ? stored : static_cast<int64_t>(a.Uses(row.name).size());
  if (sorted.empty() || covered != used) row.gates.block_offsets.clear();
}

std::vector<int64_t> DirectionBlockOffsets(const ParamRow& row) {
  std::vector<int64_t> offsets;
  if (!row.fans) return offsets;
  const int64_t g = row.gates.blocks, per_block = row.fans->out * row.fans->in;
  if (g <= 0 || row.gates.block_offsets.size() % g != 0) return offsets;
  for (size_t d = 0; d < row.gates.block_offsets.size(); d += g) {
    std::vector<int64_t> mine(row.gates.block_offsets.begin() + d, row.gates.block_offsets.begin() + d + g);
    std::sort(mine.begin(), mine.end());
    for (size_t i = 1; i < mine.size(); ++i) {
      if (mine[i] != mine[i - 1] + per_block) return {};
    }
    offsets.push_back(mine[0]);
  }
  return offsets;
}

}  // namespace reinit
