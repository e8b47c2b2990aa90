// attnspec: the R of a thin QR, X = Q·R, without Q. Singular values of a product A·Bᵀ need only R_A and R_B, so
// this is where the field and interaction-matrix spectra spend their time.
//
// Cholesky QR first: R₁ = chol(XᵀX), one level-3 pass (a SYRK). R₁ alone is kept when it is provably as good as an
// exact R up to a relative 1e-10 (double): R₁ = W·R with ‖WᵀW − I‖ <= ‖D⁻¹ED⁻¹‖ / λ_min(D⁻¹XᵀXD⁻¹), where E is the
// rounding of XᵀX and its Cholesky factorisation and D² = diag(XᵀX), and a product of such factors has every singular
// value within that relative distance (multiplicative perturbation). The rounding is bounded entry by entry
// (probabilistically for the length-n sums, Higham & Mary 2019, λ = 8; deterministically for the Cholesky) and the
// smallest eigenvalue is certified by a second Cholesky factorisation, of XᵀX − t·D². Column scaling costs nothing
// here; a condition number of the column-scaled X up to about 4 (n = 4096, d = 128) passes, so well-conditioned
// heads cost one pass. Otherwise CholeskyQR2 goes on from R₁: Q₁ = X·R₁⁻¹, R₂ = chol(Q₁ᵀQ₁), R = R₂·R₁ — two more
// passes (TRSM and SYRK; 1.5× the flops of one XᵀX product in all) — and is as accurate as Householder QR whenever
// Q₁ comes out nearly orthonormal, which it checks (‖Q₁ᵀQ₁ − I‖_F <= 1/2). When it cannot be trusted either — X too
// ill-conditioned (roughly κ(X) > ε^(-1/2): 1e8 in double, 3e3 in float), rank deficient, wider than tall or all
// zero — blocked Householder QR takes over, so accuracy never depends on the route. Columns whose squares would
// overflow or underflow are first rescaled by powers of two (the caller's choice, column_scaling.hpp), for every
// route.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "../algorithms.hpp"
#include "checks.hpp"
#include "extern_instantiation.hpp"
#include "factor_rows.hpp"
#include "gram_accumulator.hpp"

namespace attnspec::detail {

template <typename Scalar>
class TriangularFactor {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  using Rows = FactorRows<Scalar>;

  /// R (min(n, d) × d, upper trapezoidal) of the n×d factor x, its column j first multiplied by
  /// 2^column_exponents(j) when any are given; held or read block by block (then held whole only if Householder QR
  /// has to take over). Reuses this object's storage. `keep_q` (a held factor) forces Householder QR, whose implicit
  /// Q (householder()) can then lift singular vectors.
  const Matrix& compute(const Rows& x, bool keep_q = false, const Eigen::VectorXi& column_exponents = {});
  const Matrix& compute(const Matrix& x, bool keep_q = false, const Eigen::VectorXi& column_exponents = {}) {
    return compute(Rows::of(x), keep_q, column_exponents);
  }

  const Matrix& r() const { return m_r; }
  FactorRoute route() const { return m_route; }
  /// The Householder QR of the last factor; meaningful only when route() is FactorRoute::householder.
  const Eigen::HouseholderQR<Matrix>& householder() const { return m_householder; }
  /// Frees the storage that holds a whole factor (Householder QR's), keeping the block-sized and d×d buffers.
  void release_whole_factor() {
    m_householder = Eigen::HouseholderQR<Matrix>();
    m_whole.resize(0, 0);
  }

 private:
  // Rows per block of the second pass: Q₁ is never held whole, only one block of it (about 1 MB at d = 128).
  static constexpr Eigen::Index kBlockRows = 1024;

  // Cholesky QR, with the second pass only when one pass cannot be certified; sets m_route on success.
  bool try_cholesky_qr(const Rows& x, const typename Rows::Reader& read) {
    const Eigen::Index n = x.rows, d = x.cols;
    if (n < d) return false;

    m_gram.setZero(d, d);
    for (Eigen::Index first = 0; first < n; first += x.block_rows) {
      m_accumulator.add(m_gram, read(first, std::min(x.block_rows, n - first)));
    }
    m_cholesky.compute(m_gram);
    if (m_cholesky.info() != Eigen::Success) return false;
    if (one_pass_is_certified(n)) {
      m_r = m_cholesky.matrixU();
      m_route = FactorRoute::cholesky_qr;
      return true;
    }
    m_r1 = m_cholesky.matrixU();

    m_gram.setZero(d, d);
    m_block.resize(std::min(kBlockRows, n), d);  // once: a shorter last block uses its top rows
    for (Eigen::Index first = 0; first < n; first += kBlockRows) {
      const Eigen::Index rows = std::min(kBlockRows, n - first);
      auto block = m_block.topRows(rows);
      block = read(first, rows);
      m_r1.template triangularView<Eigen::Upper>().template solveInPlace<Eigen::OnTheRight>(block);
      m_accumulator.add(m_gram, block);
    }
    if (!nearly_identity(m_gram)) return false;
    m_cholesky.compute(m_gram);
    if (m_cholesky.info() != Eigen::Success) return false;
    m_r.noalias() = m_cholesky.matrixU() * m_r1;  // upper × upper: upper, with exact zeros below
    m_route = FactorRoute::cholesky_qr2;
    return true;
  }

  // Is R₁ = chol(m_gram), the Gram matrix of n rows, within a relative τ (`tolerance`) of an exact R (header
  // comment)? With u the unit roundoff, ‖D⁻¹ED⁻¹‖ <= δ = d·(8·√n + d + 1)·u: every scaled entry of E is below 8·√n·u
  // (the sums) plus (d + 1)·u (the factorisation). XᵀX − t·D² positive definite in floating point gives λ_min >= t − 2δ
  // once the same rounding of the test and of XᵀX is allowed for, so t = δ/τ + 2δ certifies ‖WᵀW − I‖ <= τ.
  bool one_pass_is_certified(Eigen::Index n) {
    constexpr double tolerance = std::is_same_v<Scalar, double> ? 1e-10 : 1e-6;
    const double d = static_cast<double>(m_gram.cols());
    const double roundoff = std::numeric_limits<Scalar>::epsilon() / 2;
    const double delta = d * (8 * std::sqrt(static_cast<double>(n)) + d + 1) * roundoff;
    const double shift = delta / tolerance + 2 * delta;
    if (shift >= 0.5) return false;  // float, or so many rows or columns that no scaled spectrum could pass
    m_shifted = m_gram;
    m_shifted.diagonal() *= static_cast<Scalar>(1 - shift);
    m_shifted_cholesky.compute(m_shifted);
    return m_shifted_cholesky.info() == Eigen::Success;
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

  Matrix m_gram, m_shifted, m_r1, m_block, m_r, m_scaled, m_whole;
  Eigen::LLT<Matrix, Eigen::Lower> m_cholesky, m_shifted_cholesky;
  Eigen::HouseholderQR<Matrix> m_householder;
  GramAccumulator<Scalar> m_accumulator;
  FactorRoute m_route = FactorRoute::householder;
};

// Defined outside the class, so they are not inline: with ATTNSPEC_EXTERN_TEMPLATES a translation unit that
// uses them leaves them to src/instantiations.cpp instead of compiling them again.

template <typename Scalar>
const typename TriangularFactor<Scalar>::Matrix& TriangularFactor<Scalar>::compute(
    const Rows& x, bool keep_q, const Eigen::VectorXi& column_exponents) {
  typename Rows::Reader read = x.read;
  const bool rescaled = column_exponents.size() > 0;
  if (rescaled) {
    // Entry by entry: 2^exponent itself is not representable when a column's largest entry is subnormal.
    read = [this, &x, &column_exponents](Eigen::Index first, Eigen::Index count) {
      m_scaled = x.read(first, count);
      for (Eigen::Index j = 0; j < x.cols; ++j) {
        const int exponent = column_exponents(j);
        m_scaled.col(j) = m_scaled.col(j).unaryExpr([exponent](Scalar value) { return std::ldexp(value, exponent); });
      }
      return typename Rows::Block(m_scaled.data(), count, x.cols, Eigen::OuterStride<>(count));
    };
  }
  if (keep_q || !try_cholesky_qr(x, read)) {
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

ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(attnspec::detail::TriangularFactor)
