// attnspec: the one SVD kernel behind both fields. It takes the SVD of a product A·Bᵀ of two tall-skinny
// factors without ever forming the n×m product: thin QRs A = Q_A·R_A and B = Q_B·R_B leave a small core
// C = R_A·R_Bᵀ with the same singular values, and U = Q_A·U_C, V = Q_B·V_C.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <type_traits>

#include "checks.hpp"
#include "parallel_for.hpp"
#include "triangular_factor.hpp"

namespace attnspec::detail {

template <typename Scalar>
class FactoredSvd {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// SVD of scale·a·bᵀ for a (n×d) and b (m×d); singular vectors only when `with_vectors`. With `threads` >= 2
  /// the two factors are reduced concurrently. `caller` names the public function in errors.
  FactoredSvd& compute(const Matrix& a, const Matrix& b, double scale, bool with_vectors, unsigned threads,
                       const char* caller) {
    m_has_vectors = with_vectors;
    // Lifting the core's vectors needs Q, which only the Householder route keeps (implicitly).
    for_both(
        threads, [&](FactorWork& factor, const Matrix& x) { factor.triangular.compute(x, with_vectors); }, a, b);
    m_core.noalias() = m_a.triangular.r() * m_b.triangular.r().transpose();
    m_routes = {m_a.triangular.route(), m_b.triangular.route()};
    m_core_svd.compute(m_core, with_vectors ? (Eigen::ComputeThinU | Eigen::ComputeThinV) : 0u);
    set_singular_values(m_core_svd.singularValues(), scale, m_a.triangular.exponent() + m_b.triangular.exponent(),
                        caller);
    if (with_vectors) {
      m_u = lift(m_a.triangular.householder(), m_core_svd.matrixU());
      m_v = lift(m_b.triangular.householder(), m_core_svd.matrixV());
    } else {
      m_u.resize(0, 0);
      m_v.resize(0, 0);
    }
    return *this;
  }

  /// Singular values only, from the two d×d Gram matrices accumulated in double: about the cost of the two XᵀX
  /// products alone, but σ_i carries an absolute error of order ε·σ₁²/σ_i (squared condition numbers), so values
  /// far below σ₁ lose digits. σ(A·Bᵀ)² are the eigenvalues of Lᵀ·G_B·L for G_A = L·Lᵀ.
  FactoredSvd& compute_from_grams(const Matrix& a, const Matrix& b, double scale, unsigned threads,
                                  const char* caller) {
    m_has_vectors = false;
    m_u.resize(0, 0);
    m_v.resize(0, 0);
    for_both(
        threads, [](FactorWork& factor, const Matrix& x) { gram_in_double(x, factor.gram, factor.block); }, a, b);
    if (!m_a.gram.allFinite() || !m_b.gram.allFinite()) {
      throw_invalid_argument(caller,
                             "the Gram matrices of the factors overflow double; entries this large need "
                             "FieldAlgorithm::accurate");
    }
    const Eigen::MatrixXd symmetric = congruence_by_root(m_a.gram, m_b.gram);
    m_gram_eigen.compute(symmetric, Eigen::EigenvaluesOnly);
    const Eigen::Index rank = std::min({a.rows(), b.rows(), a.cols()});
    const Eigen::VectorXd values =
        m_gram_eigen.eigenvalues().reverse().head(rank).cwiseMax(0.0).cwiseSqrt();  // ascending → descending
    set_singular_values(values, scale, 0, caller);
    m_routes = {FactorRoute::gram, FactorRoute::gram};
    return *this;
  }

  const Vector& singular_values() const { return m_singular_values; }
  /// n×r left singular vectors (orthonormal columns); `caller` names the public function in the error
  /// thrown when the vectors were not asked for.
  const Matrix& left_vectors(const char* caller) const { return require_vectors(caller, m_u); }
  /// m×r right singular vectors (orthonormal columns).
  const Matrix& right_vectors(const char* caller) const { return require_vectors(caller, m_v); }
  /// How the factors a and b were reduced.
  FactorRoute route_a() const { return m_routes.first; }
  FactorRoute route_b() const { return m_routes.second; }

 private:
  // Workspace of one factor, kept across calls so that a head of the same shape allocates nothing new.
  struct FactorWork {
    TriangularFactor<Scalar> triangular;
    Eigen::MatrixXd gram, block;  // the Gram route's
  };

  template <class Step>
  void for_both(unsigned threads, Step&& step, const Matrix& a, const Matrix& b) {
    std::atomic<bool> stop{false};
    parallel_for(2, threads, stop, [&](std::size_t which) { which == 0 ? step(m_a, a) : step(m_b, b); });
  }

  // The factors stay unscaled and the scale (with any power of two the factors' rescaling took out) multiplies
  // only the singular values, in double, so scales from 1e-150 to 1e150 neither overflow nor underflow inside the
  // factorisations.
  template <class Values>
  void set_singular_values(const Values& unscaled, double scale, int exponent, const char* caller) {
    const Eigen::VectorXd scaled = unscaled.template cast<double>() * scale;
    m_singular_values =
        scaled.unaryExpr([exponent](double value) { return std::ldexp(value, exponent); }).template cast<Scalar>();
    if (!m_singular_values.allFinite()) {
      // long double: the product's own σ₁ may lie beyond double's range once the power of two is put back.
      throw_invalid_argument(caller, "scale = ", scale, " times the largest singular value of the unscaled product (",
                             std::ldexp(static_cast<long double>(unscaled(0)), exponent),
                             ") overflows the scalar type");
    }
  }

  const Matrix& require_vectors(const char* caller, const Matrix& vectors) const {
    if (!m_has_vectors) {
      throw_invalid_argument(caller, "singular vectors were not computed; ask for them when computing");
    }
    return vectors;
  }

  // Q·[small; 0] for the orthogonal factor Q of `qr`, without forming Q itself.
  template <class Derived>
  static Matrix lift(const Eigen::HouseholderQR<Matrix>& qr, const Eigen::MatrixBase<Derived>& small) {
    Matrix lifted = Matrix::Zero(qr.rows(), small.cols());
    lifted.topRows(small.rows()) = small;
    lifted.applyOnTheLeft(qr.householderQ());
    return lifted;
  }

  // G = xᵀx in double; float data is widened one block of rows at a time, so no double copy of x exists.
  static void gram_in_double(const Matrix& x, Eigen::MatrixXd& gram, Eigen::MatrixXd& block) {
    gram.setZero(x.cols(), x.cols());
    if constexpr (std::is_same_v<Scalar, double>) {
      gram.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
    } else {
      constexpr Eigen::Index kBlockRows = 1024;
      for (Eigen::Index first = 0; first < x.rows(); first += kBlockRows) {
        block = x.middleRows(first, std::min(kBlockRows, x.rows() - first)).template cast<double>();
        gram.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
      }
    }
    gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
  }

  // S·G_b·S for a square root S of G_a (S·S = G_a up to congruence): Cholesky when G_a is positive definite,
  // else the eigenvalue square root with negative rounding noise clamped to zero.
  static Eigen::MatrixXd congruence_by_root(const Eigen::MatrixXd& gram_a, const Eigen::MatrixXd& gram_b) {
    const Eigen::LLT<Eigen::MatrixXd> cholesky(gram_a);
    if (cholesky.info() == Eigen::Success) {
      const Eigen::MatrixXd lower = cholesky.matrixL();
      return lower.transpose() * gram_b * lower;
    }
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(gram_a);
    const Eigen::MatrixXd root = eigen.eigenvectors() * eigen.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() *
                                 eigen.eigenvectors().transpose();
    return root * gram_b * root;
  }

  FactorWork m_a, m_b;
  std::pair<FactorRoute, FactorRoute> m_routes{FactorRoute::householder, FactorRoute::householder};
  Matrix m_core;
  Eigen::BDCSVD<Matrix> m_core_svd;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> m_gram_eigen;
  Vector m_singular_values;
  Matrix m_u, m_v;
  bool m_has_vectors = false;
};

}  // namespace attnspec::detail
