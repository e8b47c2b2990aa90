// attnspec: the one SVD kernel behind both fields. It takes the SVD of a product A·Bᵀ of two tall-skinny
// factors without ever forming the n×m product: thin QRs A = Q_A·R_A and B = Q_B·R_B leave a small core
// C = R_A·R_Bᵀ with the same singular values, and U = Q_A·U_C, V = Q_B·V_C.
#pragma once

#include <Eigen/Core>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>

#include "checks.hpp"

namespace attnspec::detail {

template <typename Scalar>
class FactoredSvd {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// SVD of scale·a·bᵀ for a (n×d) and b (m×d); singular vectors only when `with_vectors`. `caller` names the
  /// public function in errors.
  template <class DerivedA, class DerivedB>
  FactoredSvd& compute(const Eigen::MatrixBase<DerivedA>& a, const Eigen::MatrixBase<DerivedB>& b, double scale,
                       bool with_vectors, const char* caller) {
    m_qr_a.compute(a);
    m_qr_b.compute(b);
    // When a factor has fewer rows than columns its R is trapezoidal with min(rows, d) rows.
    const Eigen::Index rank_a = std::min(a.rows(), a.cols());
    const Eigen::Index rank_b = std::min(b.rows(), b.cols());
    const Matrix r_b = m_qr_b.matrixQR().topRows(rank_b).template triangularView<Eigen::Upper>();
    m_core.noalias() = m_qr_a.matrixQR().topRows(rank_a).template triangularView<Eigen::Upper>() * r_b.transpose();

    const unsigned options = with_vectors ? (Eigen::ComputeThinU | Eigen::ComputeThinV) : 0u;
    m_core_svd.compute(m_core, options);
    // The factors stay unscaled and the scale multiplies only the singular values, so scales from 1e-150 to
    // 1e150 neither overflow nor underflow inside the QR.
    m_scale = scale;
    m_singular_values = m_core_svd.singularValues() * static_cast<Scalar>(scale);
    if (!m_singular_values.allFinite()) {
      throw_invalid_argument(caller, "scale = ", scale, " times the largest singular value of the unscaled product (",
                             m_core_svd.singularValues()(0), ") overflows the scalar type");
    }
    m_has_vectors = with_vectors;
    if (with_vectors) {
      m_u = lift(m_qr_a, m_core_svd.matrixU());
      m_v = lift(m_qr_b, m_core_svd.matrixV());
    } else {
      m_u.resize(0, 0);
      m_v.resize(0, 0);
    }
    return *this;
  }

  const Vector& singular_values() const { return m_singular_values; }
  /// n×r left singular vectors (orthonormal columns); `caller` names the public function in the error
  /// thrown when the vectors were not asked for.
  const Matrix& left_vectors(const char* caller) const { return require_vectors(caller, m_u); }
  /// m×r right singular vectors (orthonormal columns).
  const Matrix& right_vectors(const char* caller) const { return require_vectors(caller, m_v); }

  /// The n×m product scale·a·bᵀ rebuilt from the factors; allocates n×m, meant for small cases and checks.
  Matrix product() const {
    const Eigen::Index n = m_qr_a.rows(), m = m_qr_b.rows();
    Matrix left = lift(m_qr_a, m_core);  // Q_A·C, n × rank_b
    Matrix product_t = Matrix::Zero(m, n);
    product_t.topRows(left.cols()) = left.transpose();
    product_t.applyOnTheLeft(m_qr_b.householderQ());
    return product_t.transpose() * static_cast<Scalar>(m_scale);
  }

 private:
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

  Eigen::HouseholderQR<Matrix> m_qr_a, m_qr_b;
  double m_scale = 1;
  Matrix m_core;
  Eigen::BDCSVD<Matrix> m_core_svd;
  Vector m_singular_values;
  Matrix m_u, m_v;
  bool m_has_vectors = false;
};

}  // namespace attnspec::detail
