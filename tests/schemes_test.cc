#include "passes/schemes.h"

#include "passes/rng.h"

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
  const TensorRng rng(9, "w");
  rng.Normal(0, 36, 1.0, a.data());
  const Eigen::MatrixXd r = q.transpose() * a;
  for (int i = 0; i < 6; ++i) {
    EXPECT_GT(r(i, i), 0) << i;
    for (int j = 0; j < i; ++j) EXPECT_NEAR(r(i, j), 0, 1e-10);
  }
}

}  // namespace
}  // namespace reinit
