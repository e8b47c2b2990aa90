// attnspec: how many directions a spectrum uses — cumulative variance, k@τ and three effective ranks.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "detail/checks.hpp"
#include "detail/extern_instantiation.hpp"

namespace attnspec {

/// Statistics of a vector of singular values. The values are sorted descending and normalised by the largest
/// (x = σ/σ₁) before anything is summed, so the results are scale-free and do not overflow at 1e200 or
/// underflow at 1e-200. Sums are accumulated in double whatever `Scalar` is, so exact ties come out exact.
/// An empty or all-zero spectrum has every metric 0 and rank_at(τ) = 0.
template <typename Scalar = double>
class SpectrumStats {
 public:
  /// An empty spectrum; compute() gives it one.
  SpectrumStats() = default;

  /// Any real vector expression of singular values (non-negative, finite; order does not matter).
  template <class Derived>
  explicit SpectrumStats(const Eigen::MatrixBase<Derived>& singular_values) {
    compute(singular_values);
  }

  /// (Re)computes the statistics for new singular values. On error the object keeps the previous ones.
  template <class Derived>
  SpectrumStats& compute(const Eigen::MatrixBase<Derived>& singular_values) {
    constexpr const char* function = "SpectrumStats";
    if (singular_values.rows() != 1 && singular_values.cols() != 1 && singular_values.size() != 0) {
      detail::throw_invalid_argument(function, "singular_values must be a vector, got ",
                                     detail::shape_of(singular_values));
    }
    Eigen::VectorXd sigma = singular_values.reshaped().template cast<double>();
    for (Eigen::Index i = 0; i < sigma.size(); ++i) {
      if (!std::isfinite(sigma(i)) || sigma(i) < 0) {
        detail::throw_invalid_argument(function, "singular_values(", i, ") = ", sigma(i), " must be finite and >= 0");
      }
    }
    std::sort(sigma.begin(), sigma.end(), std::greater<double>());
    SpectrumStats next;  // filled, then swapped in: nothing below leaves *this half-updated
    next.m_sigma = sigma;
    const Eigen::Index r = sigma.size();
    next.m_cumulative = Eigen::VectorXd::Zero(r + 1);
    next.m_fractions = Eigen::VectorXd::Zero(r);
    if (r > 0 && sigma(0) > 0) {
      const Eigen::VectorXd x = sigma / sigma(0);
      const Eigen::VectorXd x2 = x.array().square();
      // Prefix sums in one order, so that c_r = total / total = 1 exactly.
      for (Eigen::Index k = 0; k < r; ++k) next.m_cumulative(k + 1) = next.m_cumulative(k) + x2(k);
      const double energy = next.m_cumulative(r);
      next.m_cumulative /= energy;
      next.m_fractions = x2 / energy;
      next.m_stable_rank = energy;  // Σx² with x₁ = 1
      next.m_participation_ratio = energy * energy / x2.array().square().sum();
      const double x_sum = x.sum();
      double entropy = 0;
      for (Eigen::Index i = 0; i < r; ++i) {
        if (x(i) > 0) {
          const double q = x(i) / x_sum;
          entropy -= q * std::log(q);
        }
      }
      next.m_entropy_effective_rank = std::exp(entropy);
    }
    *this = std::move(next);
    return *this;
  }

  /// Number of singular values given (zeros included).
  Eigen::Index size() const { return m_sigma.size(); }
  /// The singular values, sorted descending, in double.
  const Eigen::VectorXd& singular_values() const { return m_sigma; }
  /// p_i = σ_i² / Σσ².
  const Eigen::VectorXd& energy_fractions() const { return m_fractions; }
  /// c_k for k = 0..r (length r+1): the share of Σσ² in the top k values; c_0 = 0, c_r = 1 exactly.
  const Eigen::VectorXd& cumulative_variance() const { return m_cumulative; }

  /// k(τ): the smallest k with c_k >= τ − 1e-12. The tolerance makes exact ties (flat spectra, σ = (3, 2, 1) at
  /// τ = 9/14) come out right; k(1) is therefore the smallest k whose tail holds at most 1e-12 of the energy.
  /// τ outside (0, 1] (or NaN) is an error.
  Eigen::Index rank_at(double tau) const {
    if (!(tau > 0 && tau <= 1)) {
      detail::throw_invalid_argument("SpectrumStats::rank_at", "tau = ", tau, " must be in (0, 1]");
    }
    if (m_stable_rank == 0) return 0;
    const double target = tau - kTieTolerance;
    const auto* first = std::lower_bound(m_cumulative.data(), m_cumulative.data() + m_cumulative.size(), target);
    return static_cast<Eigen::Index>(first - m_cumulative.data());
  }

  /// Roy–Vetterli effective rank exp(−Σ q_i ln q_i) with q = σ/Σσ (on σ, not σ²); in [1, rank].
  double entropy_effective_rank() const { return m_entropy_effective_rank; }
  /// (Σσ²)² / Σσ⁴ = 1/Σp_i²; in [stable_rank, rank].
  double participation_ratio() const { return m_participation_ratio; }
  /// Σσ² / σ₁²; in [1, participation_ratio].
  double stable_rank() const { return m_stable_rank; }

  static constexpr double kTieTolerance = 1e-12;

 private:
  Eigen::VectorXd m_sigma, m_fractions, m_cumulative;
  double m_stable_rank = 0, m_participation_ratio = 0, m_entropy_effective_rank = 0;
};

template <class Derived>
SpectrumStats(const Eigen::MatrixBase<Derived>&) -> SpectrumStats<typename Derived::Scalar>;

/// How many times more directions one spectrum needs than another, metric by metric (wide / narrow);
/// in the paper's use, wide = the interaction matrix M and narrow = the field E~.
struct SpectrumGap {
  double tau = 0.9;
  double rank_at_tau = 0;  ///< k_wide(τ) / k_narrow(τ)
  double entropy_effective_rank = 0;
  double participation_ratio = 0;
  double stable_rank = 0;
};

namespace detail {
// a / b, with a zero denominator reported as +inf (or 1 when both are zero) rather than NaN.
inline double metric_ratio(double a, double b) {
  if (b == 0) return a == 0 ? 1.0 : std::numeric_limits<double>::infinity();
  return a / b;
}
}  // namespace detail

template <typename ScalarWide, typename ScalarNarrow>
SpectrumGap spectrum_gap(const SpectrumStats<ScalarWide>& wide, const SpectrumStats<ScalarNarrow>& narrow,
                         double tau = 0.9) {
  SpectrumGap gap;
  gap.tau = tau;
  gap.rank_at_tau =
      detail::metric_ratio(static_cast<double>(wide.rank_at(tau)), static_cast<double>(narrow.rank_at(tau)));
  gap.entropy_effective_rank = detail::metric_ratio(wide.entropy_effective_rank(), narrow.entropy_effective_rank());
  gap.participation_ratio = detail::metric_ratio(wide.participation_ratio(), narrow.participation_ratio());
  gap.stable_rank = detail::metric_ratio(wide.stable_rank(), narrow.stable_rank());
  return gap;
}

}  // namespace attnspec

ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(attnspec::SpectrumStats)
