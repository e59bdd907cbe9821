#include "passes/gen/schemes.h"
#include "passes/gen/orthogonal.h"
#include "passes/gen/kernels.h"

#include "passes/gen/rng.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

namespace reinit {
namespace {

// The note's worked examples.
TEST(Formulas, XavierWorkedExample100To50Is0_2) {
  EXPECT_NEAR(XavierBound(100, 50), 0.2, 1e-12);
  EXPECT_NEAR(XavierStd(100, 50), std::sqrt(2.0 / 150), 1e-12);
}

TEST(Formulas, HeWorkedExample100InputsIs0_245) {
  EXPECT_NEAR(HeBound(100), 0.2449, 5e-5);
  EXPECT_NEAR(HeBound(100), std::sqrt(0.06), 1e-12);
  EXPECT_NEAR(HeStd(100), std::sqrt(2.0 / 100), 1e-12);
}

TEST(Formulas, LeCun) {
  EXPECT_NEAR(LeCunBound(100), std::sqrt(3.0 / 100), 1e-12);
  EXPECT_NEAR(LeCunStd(100), 0.1, 1e-12);
}

TEST(Formulas, LeakySlopeScalesHeByOnePlusASquared) {
  const double a = 0.2;
  EXPECT_NEAR(HeStd(100, a), std::sqrt(2.0 / ((1 + a * a) * 100)), 1e-12);
  EXPECT_NEAR(HeBound(100, a), std::sqrt(6.0 / ((1 + a * a) * 100)), 1e-12);
}

TEST(Formulas, UniformBoundHasTheSameVarianceAsTheNormal) {
  // U(-b, b) has variance b^2/3: the bound and std formulas describe the same variance.
  EXPECT_NEAR(XavierBound(30, 70) * XavierBound(30, 70) / 3, XavierStd(30, 70) * XavierStd(30, 70), 1e-15);
  EXPECT_NEAR(LeCunBound(30) * LeCunBound(30) / 3, LeCunStd(30) * LeCunStd(30), 1e-15);
}

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double OrthogonalityError(const RowMatrix& m) {
  // Rows orthonormal when wide, columns when tall.
  const Eigen::MatrixXd g = m.rows() <= m.cols() ? Eigen::MatrixXd(m * m.transpose()) : Eigen::MatrixXd(m.transpose() * m);
  return (g - Eigen::MatrixXd::Identity(g.rows(), g.cols())).cwiseAbs().maxCoeff();
}

TEST(Orthogonal, SquareTallAndWideAreOrthonormal) {
  for (auto [rows, cols] : {std::pair<int, int>{32, 32}, {40, 16}, {16, 40}}) {
    RowMatrix m(rows, cols);
    FillOrthogonal(5, "w", 0, rows, cols, 1.0, m.data());
    EXPECT_LT(OrthogonalityError(m), 1e-12) << rows << "x" << cols;
  }
}

TEST(Orthogonal, GainScalesAndSeedIsDeterministic) {
  RowMatrix a(8, 8), b(8, 8), c(8, 8);
  FillOrthogonal(5, "w", 0, 8, 8, 2.0, a.data());
  FillOrthogonal(5, "w", 0, 8, 8, 2.0, b.data());
  FillOrthogonal(6, "w", 0, 8, 8, 2.0, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_LT(OrthogonalityError(a / 2.0), 1e-12);
}

TEST(Orthogonal, SignFoldMakesDiagonalOfRPositive) {
  // With the sign of diag(R) folded into Q, A = Q R' with R' = Q^T A upper triangular and diag > 0.
  RowMatrix q(6, 6), a(6, 6);
  FillOrthogonal(9, "w", 0, 6, 6, 1.0, q.data());
  // The Gaussian matrix FillOrthogonal factors: the float32 normal stream of (seed, name).
  std::vector<float> normal(36);
  GenerateF32(TensorRng(9, "w"), Draw::kNormal, 1.0f, 0, normal.size(), normal.data());
  for (int i = 0; i < 36; ++i) a.data()[i] = normal[i];
  const Eigen::MatrixXd r = q.transpose() * a;
  for (int i = 0; i < 6; ++i) {
    EXPECT_GT(r(i, i), 0) << i;
    for (int j = 0; j < i; ++j) EXPECT_NEAR(r(i, j), 0, 1e-10);
  }
}

// Many panels (48 reflectors) and column groups (256): the blocked, threaded QR gives the same Q as
// Eigen's own HouseholderQR (to rounding), orthonormal, and the same bits for any thread count.
TEST(Orthogonal, BlockedThreadedQrMatchesEigenAndIgnoresThreadCount) {
  for (auto [rows, cols] : {std::pair<int, int>{700, 530}, {530, 530}}) {
    Eigen::MatrixXd a(rows, cols);
    std::vector<float> normal(static_cast<size_t>(rows) * cols);
    GenerateF32(TensorRng(3, "qr"), Draw::kNormal, 1.0f, 0, normal.size(), normal.data());
    for (size_t i = 0; i < normal.size(); ++i) a.data()[i] = normal[i];
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
    Eigen::MatrixXd expected = qr.householderQ() * Eigen::MatrixXd::Identity(rows, cols);
    for (int j = 0; j < cols; ++j) {
      if (qr.matrixQR()(j, j) < 0) expected.col(j) *= -1;
    }
    Eigen::MatrixXd one = a, two = a, three = a, baseline = a;
    OrthonormalizeColumns(one.data(), rows, cols, 1);
    OrthonormalizeColumns(two.data(), rows, cols, 2);
    OrthonormalizeColumns(three.data(), rows, cols, 3);
    OrthonormalizeColumnsBaseline(baseline.data(), rows, cols, 2);
    EXPECT_TRUE(one == two && one == three) << rows << "x" << cols;
    EXPECT_LT((one - expected).cwiseAbs().maxCoeff(), 1e-10);
    EXPECT_LT((baseline - expected).cwiseAbs().maxCoeff(), 1e-10);
    EXPECT_LT((one.transpose() * one - Eigen::MatrixXd::Identity(cols, cols)).cwiseAbs().maxCoeff(), 1e-12);
  }
}

}  // namespace
}  // namespace reinit
