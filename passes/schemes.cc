#include "passes/schemes.h"

#include <Eigen/Dense>
#include <cmath>

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
      return Status::Ok();
    case Scheme::kXavier:
    case Scheme::kHe:
    case Scheme::kLeCun:
    case Scheme::kNormal:
      if (row.bound) rng.Uniform(0, values->size(), -*row.bound, *row.bound, values->data());
      else rng.Normal(0, values->size(), row.std, values->data());
      return Status::Ok();
    case Scheme::kOrthogonal: {
      // Recurrent R [dirs, G*H, H]: one orthogonal [H, H] block per direction and gate. Any other
      // weight: one block [dim0, prod(rest)], as torch.nn.init.orthogonal_ flattens it.
      if (row.shape.size() < 2 || n == 0) break;
      const bool recurrent = row.role == Role::kRecurrentHidden || row.role == Role::kRecurrentInput;
      const int64_t blocks = recurrent ? row.shape[0] * row.gate_blocks : 1;
      const int64_t rows = recurrent ? row.shape[1] / row.gate_blocks : row.shape[0];
      const int64_t cols = n / blocks / rows;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint64_t first = static_cast<uint64_t>(b * rows * cols);
        FillOrthogonal(seed, row.name, first, rows, cols, row.gain, values->data() + first);
      }
      return Status::Ok();
    }
    case Scheme::kNone:
      break;
  }
  return {ExitCode::kInternal, "tensor '" + row.name + "': no generator for scheme " + SchemeName(row.scheme)};
}

}  // namespace reinit
