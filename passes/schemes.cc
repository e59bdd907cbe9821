#include "passes/schemes.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <thread>

#include "passes/rng.h"

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
                    double gain, double* out) {
  using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const TensorRng rng(seed, tensor_name);
  Matrix a(rows, cols);
  rng.Normal(first, static_cast<size_t>(rows * cols), 1.0, a.data());
  // QR wants a tall matrix; for a wide one factor its transpose (as torch.nn.init.orthogonal_ does).
  const bool wide = rows < cols;
  Eigen::MatrixXd tall = wide ? Eigen::MatrixXd(a.transpose()) : Eigen::MatrixXd(a);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(tall);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(tall.rows(), tall.cols());
  // Fold the signs of diag(R) into Q: without this Q is not Haar-distributed (Mezzadri 2007).
  Eigen::VectorXd signs = qr.matrixQR().diagonal().unaryExpr([](double d) { return d < 0 ? -1.0 : 1.0; });
  q = q * signs.asDiagonal();
  Matrix result = wide ? Matrix(q.transpose()) : Matrix(q);
  Eigen::Map<Matrix>(out, rows, cols) = gain * result;
}

Status GenerateValues(const ParamRow& row, uint64_t seed, std::vector<double>* values) {
  int64_t n = 1;
  for (int64_t d : row.shape) n *= d;
  values->assign(static_cast<size_t>(n), 0.0);
  const TensorRng rng(seed, row.name);
  switch (row.scheme) {
    case Scheme::kConstant:
      values->assign(static_cast<size_t>(n), row.constant);
      if (row.forget_bias != 0 && row.shape.size() == 2 && row.gate_blocks == 4) {
        // LSTM B [dirs, 8H] = [Wb(i, o, f, c), Rb(i, o, f, c)]: the forget block of Wb.
        const int64_t hidden = row.shape[1] / 8;
        for (int64_t dir = 0; dir < row.shape[0]; ++dir) {
          double* wb = values->data() + dir * row.shape[1];
          std::fill(wb + 2 * hidden, wb + 3 * hidden, row.forget_bias);
        }
      }
      return Status::Ok();
    case Scheme::kXavier:
    case Scheme::kHe:
    case Scheme::kLeCun:
    case Scheme::kNormal:
    case Scheme::kUniform:
      if (row.bound) rng.Uniform(0, values->size(), -*row.bound, *row.bound, values->data());
      else if (row.distribution == Distribution::kTruncatedNormal) rng.TruncatedNormal(0, values->size(), row.std, values->data());
      else rng.Normal(0, values->size(), row.std, values->data());
      return Status::Ok();
    case Scheme::kOrthogonal: {
      // Recurrent R [dirs, G*H, H]: one orthogonal [H, H] block per direction and gate. Any other
      // weight: one block [dim0, prod(rest)], as torch.nn.init.orthogonal_ flattens it.
      if (row.shape.size() < 2 || n == 0) break;
      // Keras: one block per direction over all gates ([G*H, H], columns orthonormal).
      const bool recurrent = row.role == Role::kRecurrentHidden || row.role == Role::kRecurrentInput;
      const int64_t per_dir = row.whole_kernel ? 1 : row.gate_blocks;
      const int64_t blocks = recurrent ? row.shape[0] * per_dir : 1;
      const int64_t rows = recurrent ? row.shape[1] / per_dir : row.shape[0];
      const int64_t cols = n / blocks / rows;
      // Blocks are independent (each from its own stretch of the stream): they run in parallel, one
      // thread per core, and each block is the same whichever thread computes it.
      const int64_t workers = std::min<int64_t>(blocks, std::max(1u, std::thread::hardware_concurrency()));
      auto run = [&](int64_t w) {
        for (int64_t b = w; b < blocks; b += workers) {
          const uint64_t first = static_cast<uint64_t>(b * rows * cols);
          FillOrthogonal(seed, row.name, first, rows, cols, row.gain, values->data() + first);
        }
      };
      std::vector<std::thread> pool;
      for (int64_t w = 1; w < workers; ++w) pool.emplace_back(run, w);
      run(0);
      for (auto& t : pool) t.join();
      return Status::Ok();
    }
    case Scheme::kNone:
      break;
  }
  return {ExitCode::kInternal, "tensor '" + row.name + "': no generator for scheme " + SchemeName(row.scheme)};
}

}  // namespace reinit
