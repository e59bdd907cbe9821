#include "passes/gen/schemes.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <vector>

#include "passes/graph/gate_blocks.h"
#include "passes/gen/kernels.h"
#include "passes/gen/orthogonal.h"
#include "passes/gen/parallel.h"
#include "passes/gen/rng.h"

namespace reinit {

double XavierStd(double fan_in, double fan_out, double gain) { return gain * std::sqrt(2.0 / (fan_in + fan_out)); }
double XavierBound(double fan_in, double fan_out, double gain) {
  return gain * std::sqrt(6.0 / (fan_in + fan_out));
}
double HeStd(double fan_in, double slope, double gain) {
  return gain * std::sqrt(2.0 / ((1.0 + slope * slope) * fan_in));
}
double HeBound(double fan_in, double slope, double gain) { return UniformBoundForStd(HeStd(fan_in, slope, gain)); }
double LeCunStd(double fan_in, double gain) { return gain * std::sqrt(1.0 / fan_in); }
double LeCunBound(double fan_in, double gain) { return gain * std::sqrt(3.0 / fan_in); }

void FillOrthogonal(uint64_t seed, const std::string& tensor_name, uint64_t first, int64_t rows, int64_t cols,
                    double gain, double* out, unsigned threads) {
  const TensorRng rng(seed, tensor_name);
  const size_t n = static_cast<size_t>(rows * cols);
  // The Gaussian matrix from the float32 kernel (a Gaussian's low bits do not matter to Q's
  // distribution; the kernel is 20x faster than the double path), QR in double.
  std::vector<float> normal(n);
  GenerateF32(rng, Draw::kNormal, 1.0f, first, n, normal.data());
  // QR wants a tall matrix; a wide one is factored transposed (as torch.nn.init.orthogonal_ does). The
  // row-major wide matrix already is its transpose in column-major order.
  const bool wide = rows < cols;
  const int64_t tall_rows = wide ? cols : rows, tall_cols = wide ? rows : cols;
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::MatrixXd tall(tall_rows, tall_cols);
  const Eigen::Map<const Eigen::MatrixXf> col_major(normal.data(), tall_rows, tall_cols);
  const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> row_major(
      normal.data(), tall_rows, tall_cols);
  if (wide) tall = col_major.cast<double>();
  else tall = row_major.cast<double>();
  std::vector<float>().swap(normal);
  OrthonormalizeColumns(tall.data(), tall_rows, tall_cols, threads);
  // Back to row-major rows x cols: the wide result is the transpose of tall, which is the same memory.
  if (wide) Eigen::Map<Eigen::MatrixXd>(out, tall_rows, tall_cols) = gain * tall;
  else Eigen::Map<RowMajor>(out, rows, cols) = gain * tall;
}

void ProxyValues(const ParamRow& row, uint64_t seed, uint64_t first, size_t n, double* out) {
  const ProxySource& source = *row.init.proxy;
  std::vector<float> z(n);
  GenerateF32(TensorRng(seed, row.name), Draw::kNormal, 1.0f, first, n, z.data());
  ChannelCursor cursor(source, static_cast<int64_t>(first));
  for (size_t j = 0; j < n; ++j, cursor.next()) {
    const int64_t c = cursor.channel();
    out[j] = source.mean[c] + source.std[c] * static_cast<double>(z[j]);
  }
}

Status GenerateValues(const ParamRow& row, uint64_t seed, unsigned threads, std::vector<double>* values) {
  int64_t n = 1;
  for (int64_t d : row.shape) n *= d;
  values->assign(static_cast<size_t>(n), 0.0);
  const TensorRng rng(seed, row.name);
  switch (row.init.scheme) {
    case Scheme::kConstant:
      values->assign(static_cast<size_t>(n), row.init.constant);
      // LSTM B: the stored elements of the forget block of Wb (passes/graph/gate_blocks.h).
      if (row.init.forget_bias != 0) {
        for (int64_t e : row.gates.forget_elements) (*values)[static_cast<size_t>(e)] = row.init.forget_bias;
      }
      return Status::Ok();
    case Scheme::kXavier:
    case Scheme::kHe:
    case Scheme::kLeCun:
    case Scheme::kNormal:
    case Scheme::kUniform:
      if (row.init.bound) rng.Uniform(0, values->size(), -*row.init.bound, *row.init.bound, values->data());
      else if (row.init.distribution == Distribution::kTruncatedNormal) rng.TruncatedNormal(0, values->size(), row.init.std, values->data());
      else rng.Normal(0, values->size(), row.init.std, values->data());
      return Status::Ok();
    case Scheme::kProxy:
      if (row.init.proxy == nullptr) break;
      ProxyValues(row, seed, 0, values->size(), values->data());
      return Status::Ok();
    case Scheme::kOrthogonal: {
      // Recurrent R (or W): one orthogonal [H, cols] block per direction and gate, where the gate blocks
      // are in the stored tensor (passes/graph/gate_blocks.h); Keras: one [G*H, cols] block per direction.
      // Any other weight: one block [dim0, prod(rest)], as torch.nn.init.orthogonal_ flattens it.
      const bool recurrent = IsRecurrentWeight(row.role);
      if (n == 0 || (!recurrent && row.shape.size() < 2)) break;
      std::vector<int64_t> offsets = {0};
      int64_t rows = row.shape[0], cols = n / row.shape[0];
      if (recurrent) {
        offsets = row.init.whole_kernel ? DirectionBlockOffsets(row) : row.gates.block_offsets;
        rows = row.fans->out * (row.init.whole_kernel ? row.gates.blocks : 1);
        cols = row.fans->in;
        if (offsets.empty()) {
          return {ExitCode::kInternal, "tensor '" + row.name + "': orthogonal gate blocks are not in the stored layout"};
        }
      }
      // Blocks are independent (each from its own stretch of the stream): several blocks run in
      // parallel, one per thread; a single block parallelizes its QR instead. Either way each block is
      // the same whichever thread computes it.
      struct Task {
        const ParamRow& row;
        uint64_t seed;
        const std::vector<int64_t>& offsets;
        int64_t rows, cols;
        unsigned inner_threads;
        double* out;
        static void Run(void* ctx, int64_t b) {
          const Task& t = *static_cast<const Task*>(ctx);
          const uint64_t first = static_cast<uint64_t>(t.offsets[b]);
          FillOrthogonal(t.seed, t.row.name, first, t.rows, t.cols, t.row.init.gain, t.out + first, t.inner_threads);
        }
      } task{row, seed, offsets, rows, cols, offsets.size() == 1 ? threads : 1u, values->data()};
      ParallelFor(static_cast<int64_t>(offsets.size()), threads, &Task::Run, &task);
      return Status::Ok();
    }
    case Scheme::kNone:
      break;
  }
  return {ExitCode::kInternal, "tensor '" + row.name + "': no generator for scheme " + NameOf(row.init.scheme)};
}

}  // namespace reinit
