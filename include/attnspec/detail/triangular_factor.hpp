// attnspec: the R of a thin QR, X = Q·R, without Q. Singular values of a product A·Bᵀ need only R_A and R_B, so
// this is where the field and interaction-matrix spectra spend their time.
//
// CholeskyQR2 first: R₁ = chol(XᵀX), Q₁ = X·R₁⁻¹, R₂ = chol(Q₁ᵀQ₁), R = R₂·R₁. It is three level-3 passes over X
// (SYRK, TRSM, SYRK; 1.5× the flops of one XᵀX product) and is as
// accurate as Householder QR whenever Q₁ comes out nearly orthonormal, which it checks (‖Q₁ᵀQ₁ − I‖_F <= 1/2). When it
// cannot be trusted — X too ill-conditioned (roughly κ(X) > ε^(-1/2): 1e8 in double, 3e3 in float), rank deficient,
// wider than tall or all zero — blocked Householder QR takes over, so accuracy never depends on the route. Entries
// whose squares would overflow or underflow are first rescaled by a power of two, for either route.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <limits>

#include "../algorithms.hpp"
#include "factor_rows.hpp"

namespace attnspec::detail {

template <typename Scalar>
class TriangularFactor {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  using Rows = FactorRows<Scalar>;

  /// R (min(n, d) × d, upper trapezoidal) of the n×d factor x·2^(−exponent()), held or read block by block (then
  /// held whole only if Householder QR has to take over). Reuses this object's storage. `keep_q` (a held factor)
  /// forces Householder QR, whose implicit Q (householder()) can then lift singular vectors.
  const Matrix& compute(const Rows& x, bool keep_q = false);
  const Matrix& compute(const Matrix& x, bool keep_q = false) { return compute(Rows::of(x), keep_q); }

  const Matrix& r() const { return m_r; }
  /// The power of two taken out of x before factoring: x = Q·R·2^exponent().
  int exponent() const { return m_exponent; }
  FactorRoute route() const { return m_route; }
  /// The Householder QR of the last factor; meaningful only when route() is FactorRoute::householder.
  const Eigen::HouseholderQR<Matrix>& householder() const { return m_householder; }

 private:
  // Rows per block of the second pass: Q₁ is never held whole, only one block of it (about 1 MB at d = 128).
  static constexpr Eigen::Index kBlockRows = 1024;

  bool try_cholesky_qr2(const Rows& x, const typename Rows::Reader& read) {
    const Eigen::Index n = x.rows, d = x.cols;
    if (n < d) return false;

    m_gram.setZero(d, d);
    for (Eigen::Index first = 0; first < n; first += x.block_rows) {
      m_gram.template selfadjointView<Eigen::Lower>().rankUpdate(
          read(first, std::min(x.block_rows, n - first)).transpose());
    }
    m_cholesky.compute(m_gram);
    if (m_cholesky.info() != Eigen::Success) return false;
    m_r1 = m_cholesky.matrixU();

    m_gram.setZero(d, d);
    for (Eigen::Index first = 0; first < n; first += kBlockRows) {
      const Eigen::Index rows = std::min(kBlockRows, n - first);
      m_block = read(first, rows);
      m_r1.template triangularView<Eigen::Upper>().template solveInPlace<Eigen::OnTheRight>(m_block);
      m_gram.template selfadjointView<Eigen::Lower>().rankUpdate(m_block.transpose());
    }
    if (!nearly_identity(m_gram)) return false;
    m_cholesky.compute(m_gram);
    if (m_cholesky.info() != Eigen::Success) return false;
    m_r.noalias() = m_cholesky.matrixU() * m_r1;  // upper × upper: upper, with exact zeros below
    return true;
  }

  // XᵀX must neither overflow nor lose the leading entries' squares to underflow. Entries far below the largest
  // may underflow: their share of XᵀX is below rounding anyway.
  static bool squares_are_safe(Scalar largest, Eigen::Index rows) {
    using std::sqrt;
    const Scalar lowest = sqrt(std::numeric_limits<Scalar>::min()) / std::numeric_limits<Scalar>::epsilon();
    const Scalar highest = sqrt(std::numeric_limits<Scalar>::max() / static_cast<Scalar>(rows)) / Scalar(4);
    return largest > lowest && largest < highest;
  }

  // ‖G − I‖_F <= 1/2 from the lower triangle of the symmetric G.
  static bool nearly_identity(const Matrix& gram) {
    Scalar off_diagonal = 0, diagonal = 0;
    for (Eigen::Index j = 0; j < gram.cols(); ++j) {
      diagonal += (gram(j, j) - Scalar(1)) * (gram(j, j) - Scalar(1));
      off_diagonal += gram.col(j).tail(gram.rows() - j - 1).squaredNorm();
    }
    const Scalar distance_squared = diagonal + 2 * off_diagonal;
    return distance_squared <= Scalar(0.25);
  }

  Matrix m_gram, m_r1, m_block, m_r, m_scaled, m_whole;
  int m_exponent = 0;
  Eigen::LLT<Matrix, Eigen::Lower> m_cholesky;
  Eigen::HouseholderQR<Matrix> m_householder;
  FactorRoute m_route = FactorRoute::householder;
};

// Defined outside the class, so they are not inline: with ATTNSPEC_EXTERN_TEMPLATES a translation unit that
// uses them leaves them to src/instantiations.cpp instead of compiling them again.

template <typename Scalar>
const typename TriangularFactor<Scalar>::Matrix& TriangularFactor<Scalar>::compute(const Rows& x, bool keep_q) {
  // Entries whose squares would overflow or underflow (beyond ~1e154 or below ~1e-138 in double) are first
  // brought to a largest entry in [1, 2) by an exact power of two, block by block; the caller scales the result back.
  typename Rows::Reader read = x.read;
  m_exponent = 0;
  const Scalar largest = x.largest >= 0 ? x.largest : (x.held->size() > 0 ? x.held->cwiseAbs().maxCoeff() : Scalar(0));
  const bool rescaled = largest > 0 && !squares_are_safe(largest, x.rows);
  if (rescaled) {
    // Entry by entry: 2^(−exponent) itself is not representable when the largest entry is subnormal.
    const int exponent = m_exponent = std::ilogb(largest);
    read = [this, &x, exponent](Eigen::Index first, Eigen::Index count) {
      m_scaled = x.read(first, count).unaryExpr([exponent](Scalar value) { return std::ldexp(value, -exponent); });
      return typename Rows::Block(m_scaled.data(), count, x.cols, Eigen::OuterStride<>(count));
    };
  }
  if (!keep_q && largest > 0 && try_cholesky_qr2(x, read)) {
    m_route = FactorRoute::cholesky_qr2;
  } else {
    if (x.held && !rescaled) {
      m_householder.compute(*x.held);
    } else {
      m_whole.resize(x.rows, x.cols);
      for (Eigen::Index first = 0; first < x.rows; first += x.block_rows) {
        const Eigen::Index count = std::min(x.block_rows, x.rows - first);
        m_whole.middleRows(first, count) = read(first, count);
      }
      m_householder.compute(m_whole);
    }
    const Eigen::Index rank = std::min(x.rows, x.cols);
    m_r = m_householder.matrixQR().topRows(rank).template triangularView<Eigen::Upper>();
    m_route = FactorRoute::householder;
  }
  return m_r;
}

}  // namespace attnspec::detail
