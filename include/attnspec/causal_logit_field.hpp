// attnspec: the causal prefix-centred field of one head, F_ij = s·q_i·(k_j − k̄_i) for j <= i (0 otherwise),
// k̄_i the mean of the keys query i sees. It is what a causal softmax sees, each row centred over its visible
// prefix, where Ẽ centres every row over all keys. Its numerical rank is about n, so it is never formed: products
// with F and Fᵀ cost O(n·d), ‖F‖_F² comes exactly from a Welford recursion, and the leading singular values from
// Golub–Kahan–Lanczos bidiagonalisation, run until k@τ is settled.
#pragma once

#include <Eigen/Core>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "detail/checks.hpp"
#include "detail/column_scaling.hpp"
#include "detail/extern_instantiation.hpp"

namespace attnspec {

struct CausalFieldOptions {
  std::optional<double> scale;  ///< logit scale s; unset means 1/sqrt(d)
  /// The largest variance fraction rank_at() will be asked for: the leading singular values are computed until
  /// k@tau is certain (each of the first k@tau + 1 values converged to `tolerance`·σ₁).
  double tau = 0.9;
  /// Convergence of a singular value, relative to σ₁ (its Lanczos residual bound); 0 picks 1e-10 for double,
  /// 1e-4 for float.
  double tolerance = 0;
};

/// Leading spectrum and exact energy of the causal field of n queries against the same n positions' keys.
template <typename Scalar = double>
class CausalLogitEnergyField {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  CausalLogitEnergyField() = default;

  /// Queries Q (n×d) and keys K (n×d) of the same n positions: any real dense Eigen expression, any precision.
  template <class DerivedQ, class DerivedK>
  CausalLogitEnergyField(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                         const CausalFieldOptions& options = {}) {
    compute(queries, keys, options);
  }

  /// (Re)computes the field for a new head. On error the object keeps its previous state.
  template <class DerivedQ, class DerivedK>
  CausalLogitEnergyField& compute(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                                  const CausalFieldOptions& options = {}) {
    constexpr const char* function = "CausalLogitEnergyField";
    detail::require_nonempty(function, "Q", queries);
    detail::require_nonempty(function, "K", keys);
    if (queries.rows() != keys.rows() || queries.cols() != keys.cols()) {
      detail::throw_invalid_argument(function, "Q (", detail::shape_of(queries), ") and K (", detail::shape_of(keys),
                                     ") must have the same shape: query i sees the keys of positions 0..i");
    }
    const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(queries.cols())));
    detail::require_positive_finite(function, "scale", scale);
    if (!(options.tau > 0 && options.tau <= 1)) {
      detail::throw_invalid_argument(function, "tau = ", options.tau, " must be in (0, 1]");
    }
    if (!(options.tolerance >= 0 && options.tolerance < 1)) {
      detail::throw_invalid_argument(function, "tolerance = ", options.tolerance, " must be in [0, 1)");
    }
    CausalLogitEnergyField next;
    next.m_queries = queries.template cast<Scalar>();
    next.m_keys = keys.template cast<Scalar>();
    detail::require_finite(function, "Q", next.m_queries);
    detail::require_finite(function, "K", next.m_keys);
    // F does not change when every key moves by the same vector; centring first keeps the prefix means small.
    next.m_keys.rowwise() -= next.m_keys.colwise().mean();
    detail::require_finite(function, "K", next.m_keys);
    next.balance_columns();
    next.m_scale = scale;
    next.m_tau = options.tau;
    next.prefix_means();
    next.m_reduced_energy = next.exact_energy();
    const double tolerance = options.tolerance > 0 ? options.tolerance : (sizeof(Scalar) == 4 ? 1e-4 : 1e-10);
    next.lanczos(tolerance);
    next.m_energy = next.to_field_units(next.m_reduced_energy, 2);
    next.m_singular_values =
        next.m_reduced_values.unaryExpr([&next](double value) { return next.to_field_units(value, 1); })
            .template cast<Scalar>();
    if (!std::isfinite(next.m_energy) || !detail::all_finite(next.m_singular_values)) {
      detail::throw_invalid_argument(function, "the field of Q (", detail::shape_of(queries), ") and K at scale ",
                                     scale, " leaves the range of ", sizeof(Scalar) == 4 ? "float" : "double",
                                     " (its energy ‖F‖² is ", next.m_energy,
                                     "); scale Q or K down and put the factor into CausalFieldOptions::scale");
    }
    *this = std::move(next);
    return *this;
  }

  Eigen::Index rows() const { return m_queries.rows(); }
  Eigen::Index head_dim() const { return m_queries.cols(); }
  Scalar scale() const { return static_cast<Scalar>(m_scale); }
  /// ‖F‖_F², exact (not the sum of the computed singular values squared).
  double energy() const { return m_energy; }
  /// The leading singular values, descending: at least the first k@tau + 1 (fewer when F has fewer nonzero).
  const Vector& singular_values() const { return m_singular_values; }
  /// Cumulative variance of the leading values against the exact energy: c_0 = 0, c_l = Σ_{i<=l} σ_i² / ‖F‖².
  Eigen::VectorXd cumulative_variance() const {
    // In the units the values were computed in: the same ratios, and no square leaves the range.
    Eigen::VectorXd c = Eigen::VectorXd::Zero(m_reduced_values.size() + 1);
    for (Eigen::Index l = 0; l < m_reduced_values.size(); ++l) {
      const double sigma = m_reduced_values(l);
      c(l + 1) = m_reduced_energy > 0 ? std::min(1.0, c(l) + sigma * sigma / m_reduced_energy) : 1.0;
    }
    return c;
  }
  /// Smallest k whose leading k values hold a fraction >= τ of ‖F‖² (τ in (0, options.tau]); 0 for F = 0.
  Eigen::Index rank_at(double tau) const {
    if (!(tau > 0 && tau <= m_tau)) {
      detail::throw_invalid_argument("CausalLogitEnergyField::rank_at", "tau = ", tau, " must be in (0, ", m_tau,
                                     "], the options.tau the field was computed for");
    }
    return rank_in(cumulative_variance(), tau);
  }

  /// y = F·x (x of length n).
  Vector apply(const Vector& x) const { return in_field_units(apply_reduced(x)); }
  /// x = Fᵀ·y (y of length n).
  Vector apply_transpose(const Vector& y) const { return in_field_units(apply_transpose_reduced(y)); }

 private:
  using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

  // Columns of Q times 2^a_j and of the centred K times 2^b_j with a_j + b_j = −exponent (column_scaling.hpp):
  // F = 2^exponent·F' exactly, and F', whose largest column contribution is about 1, is what Lanczos works on:
  // its vectors' squared norms stay in range whatever the data's (F's own entries may be 1e200). Powers of two
  // change no digit, so data in range gets the same values as unscaled, to the last bit or two.
  void balance_columns() {
    const RowVector query_largest = m_queries.cwiseAbs().colwise().maxCoeff();
    const RowVector key_largest = m_keys.cwiseAbs().colwise().maxCoeff();
    const detail::ColumnScaling scaling = detail::balance_columns<Scalar>(query_largest, key_largest);
    m_exponent = scaling.exponent;
    for (Eigen::Index j = 0; j < scaling.a.size(); ++j) {
      const int a = scaling.a(j), b = scaling.b(j);
      m_queries.col(j) = m_queries.col(j).unaryExpr([a](Scalar value) { return std::ldexp(value, a); });
      m_keys.col(j) = m_keys.col(j).unaryExpr([b](Scalar value) { return std::ldexp(value, b); });
    }
  }

  // A value of F' (power 1) or of its square (power 2) in F's units: times (s·2^exponent)^power, with s split into
  // its mantissa and exponent so that only the final ldexp can leave the range.
  double to_field_units(double reduced, int power) const {
    int scale_exponent = 0;
    const double mantissa = std::frexp(m_scale, &scale_exponent);
    const double scaled = power == 2 ? reduced * mantissa * mantissa : reduced * mantissa;
    return std::ldexp(scaled, power * (m_exponent + scale_exponent));
  }

  Vector in_field_units(const Vector& reduced) const {
    return reduced.unaryExpr(
        [this](Scalar value) { return static_cast<Scalar>(to_field_units(static_cast<double>(value), 1)); });
  }

  // F'·x, where F = s·2^exponent·F' (balance_columns).
  Vector apply_reduced(const Vector& x) const {
    const Eigen::Index n = rows(), d = head_dim();
    Vector y(n);
    Eigen::Matrix<Scalar, 1, Eigen::Dynamic> weighted_keys = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>::Zero(d);
    Scalar weight = 0;
    for (Eigen::Index i = 0; i < n; ++i) {  // P_i = Σ_{j<=i} x_j·k_j, X_i = Σ_{j<=i} x_j
      weighted_keys += x(i) * m_keys.row(i);
      weight += x(i);
      y(i) = m_queries.row(i).dot(weighted_keys - weight * m_means.row(i));
    }
    return y;
  }

  // F'ᵀ·y.
  Vector apply_transpose_reduced(const Vector& y) const {
    const Eigen::Index n = rows(), d = head_dim();
    Vector x(n);
    Eigen::Matrix<Scalar, 1, Eigen::Dynamic> weighted_queries = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>::Zero(d);
    Scalar weighted_means = 0;
    for (Eigen::Index j = n; j-- > 0;) {  // G_j = Σ_{i>=j} y_i·q_i, h_j = Σ_{i>=j} y_i·q_i·k̄_i
      weighted_queries += y(j) * m_queries.row(j);
      weighted_means += y(j) * m_queries.row(j).dot(m_means.row(j));
      x(j) = m_keys.row(j).dot(weighted_queries) - weighted_means;
    }
    return x;
  }

  static Eigen::Index rank_in(const Eigen::VectorXd& cumulative, double tau) {
    for (Eigen::Index k = 0; k < cumulative.size(); ++k) {
      if (cumulative(k) >= tau - 1e-12) return k;
    }
    return cumulative.size() - 1;
  }

  void prefix_means() {
    const Eigen::Index n = rows();
    m_means.resize(n, head_dim());
    Eigen::Matrix<Scalar, 1, Eigen::Dynamic> mean = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>::Zero(head_dim());
    for (Eigen::Index i = 0; i < n; ++i) {  // running mean, no large prefix sum to cancel
      mean += (m_keys.row(i) - mean) / static_cast<Scalar>(i + 1);
      m_means.row(i) = mean;
    }
  }

  // ‖F'‖² = Σ_i q_iᵀ·S_i·q_i with S_i the scatter of keys 0..i about their mean, updated by Welford's
  // recursion S_i = S_{i−1} + (i/(i+1))·δδᵀ, δ = k_i − k̄_{i−1}; in double whatever Scalar is.
  double exact_energy() const {
    const Eigen::Index n = rows(), d = head_dim();
    Eigen::MatrixXd scatter = Eigen::MatrixXd::Zero(d, d);
    double total = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      if (i > 0) {
        const Eigen::VectorXd delta = (m_keys.row(i) - m_means.row(i - 1)).template cast<double>().transpose();
        scatter.noalias() += (static_cast<double>(i) / static_cast<double>(i + 1)) * delta * delta.transpose();
      }
      const Eigen::VectorXd q = m_queries.row(i).template cast<double>().transpose();
      total += q.dot(scatter * q);
    }
    return std::max(total, 0.0);
  }

  // Golub–Kahan–Lanczos with full reorthogonalisation: F·V_j = U_j·B_j, B_j upper bidiagonal; the singular values
  // of B_j approach F's leading ones from below, and a Ritz value's error is at most β_j·|last entry of its left
  // singular vector of B_j|. Runs until every one of the first k@τ + 1 Ritz values has converged, so k@τ computed
  // from them and the exact energy is F's.
  void lanczos(double tolerance) {
    const Eigen::Index n = rows();
    m_reduced_values.resize(0);
    if (!(m_reduced_energy > 0)) return;
    Matrix u_basis(n, std::min<Eigen::Index>(n, 32)), v_basis(n, u_basis.cols());
    std::vector<double> alpha, beta;
    Vector v = Vector::Ones(n);  // deterministic start, with a component along every position
    for (Eigen::Index i = 0; i < n; ++i) v(i) += static_cast<Scalar>(std::sin(1.0 + static_cast<double>(i)));
    v.normalize();
    Vector u = Vector::Zero(n);
    Eigen::Index next_check = 8;  // checks at geometrically spaced steps: the SVDs of B cost O(j³) in all
    for (Eigen::Index j = 0; j < n; ++j) {
      if (j == v_basis.cols()) {  // grow both bases by doubling
        v_basis.conservativeResize(n, std::min(n, 2 * j));
        u_basis.conservativeResize(n, v_basis.cols());
      }
      v_basis.col(j) = v;
      u = apply_reduced(v) - static_cast<Scalar>(beta.empty() ? 0.0 : beta.back()) * u;
      reorthogonalise(u, u_basis.leftCols(j));
      const double a = static_cast<double>(u.norm());
      if (a > 0) u /= static_cast<Scalar>(a);
      u_basis.col(j) = u;
      alpha.push_back(a);
      Vector next = apply_transpose_reduced(u) - static_cast<Scalar>(a) * v;
      reorthogonalise(next, v_basis.leftCols(j + 1));
      double b = static_cast<double>(next.norm());
      if (b <= 1e-14 * std::sqrt(m_reduced_energy) && j + 1 < n) {
        // An invariant subspace: go on from a fresh direction orthogonal to the basis so far (β_j = 0).
        next = Vector::Unit(n, (j * 7919 + 1) % n) + Vector::Constant(n, static_cast<Scalar>(1e-3));
        reorthogonalise(next, v_basis.leftCols(j + 1));
        b = 0;
      }
      beta.push_back(b);
      if (j + 1 == next_check || j + 1 == n) {
        if (settled(alpha, beta, j + 1 == n ? 0.0 : tolerance)) return;
        next_check += std::max<Eigen::Index>(4, next_check / 4);
      }
      v = b > 0 ? Vector(next / static_cast<Scalar>(b)) : Vector(next.normalized());
    }
  }

  template <class Basis>
  static void reorthogonalise(Vector& x, const Basis& basis) {
    if (basis.cols() == 0) return;
    // Classical Gram–Schmidt, repeated only when it removed most of x (the Daniel–Gragg–Kaufman–Stewart test).
    for (int pass = 0; pass < 2; ++pass) {
      const Scalar before = x.norm();
      x.noalias() -= basis * (basis.transpose() * x);
      if (x.norm() > Scalar(0.7) * before) break;
    }
  }

  // SVD of B_j; keeps the values when the first k@τ + 1 have converged (tolerance 0: after n steps, where B holds
  // F in other bases and its values are F's).
  bool settled(const std::vector<double>& alpha, const std::vector<double>& beta, double tolerance) {
    const auto j = static_cast<Eigen::Index>(alpha.size());
    // Σ_l θ_l² = ‖B‖_F²: while that is below τ·‖F‖², no SVD of B is needed to know k@τ is not reached yet.
    double captured = 0;
    for (Eigen::Index i = 0; i < j; ++i) {
      captured += alpha[static_cast<std::size_t>(i)] * alpha[static_cast<std::size_t>(i)];
      if (i + 1 < j) captured += beta[static_cast<std::size_t>(i)] * beta[static_cast<std::size_t>(i)];
    }
    if (tolerance > 0 && captured < (m_tau - 1e-12) * m_reduced_energy) return false;
    Eigen::MatrixXd bidiagonal = Eigen::MatrixXd::Zero(j, j);
    for (Eigen::Index i = 0; i < j; ++i) {
      bidiagonal(i, i) = alpha[static_cast<std::size_t>(i)];
      if (i + 1 < j) bidiagonal(i, i + 1) = beta[static_cast<std::size_t>(i)];
    }
    const Eigen::JacobiSVD<Eigen::MatrixXd> svd(bidiagonal, Eigen::ComputeThinU);
    const Eigen::VectorXd& values = svd.singularValues();
    // With B = P·Θ·Rᵀ: F·(V·r_l) = θ_l·(U·p_l) exactly, and Fᵀ·(U·p_l) = θ_l·(V·r_l) + β_j·(e_jᵀ·p_l)·v_{j+1},
    // so Ritz pair l is off by β_j·|last entry of p_l|.
    const double last_beta = beta.back();
    Eigen::VectorXd cumulative = Eigen::VectorXd::Zero(j + 1);
    for (Eigen::Index l = 0; l < j; ++l)
      cumulative(l + 1) = std::min(1.0, cumulative(l) + values(l) * values(l) / m_reduced_energy);
    if (tolerance > 0 && cumulative(j) < m_tau - 1e-12) return false;  // not enough energy yet
    const Eigen::Index needed = std::min<Eigen::Index>(rank_in(cumulative, m_tau) + 1, j);
    if (tolerance > 0) {
      for (Eigen::Index l = 0; l < needed; ++l) {
        if (last_beta * std::abs(svd.matrixU()(j - 1, l)) > tolerance * values(0)) return false;
      }
    }
    m_reduced_values = values.head(needed);
    return true;
  }

  Matrix m_queries, m_keys, m_means;
  double m_scale = 1, m_tau = 0.9;
  int m_exponent = 0;                         // F = s·2^exponent·F'
  double m_reduced_energy = 0, m_energy = 0;  // ‖F'‖², ‖F‖²
  Eigen::VectorXd m_reduced_values;           // the leading singular values of F'
  Vector m_singular_values;
};

}  // namespace attnspec

ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(attnspec::CausalLogitEnergyField)
