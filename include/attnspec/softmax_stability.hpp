// attnspec: how much attention changes when a head's logit energy field is cut to rank k — a priori from the
// spectrum, certified from the actual residual, and measured — for every k at once.
#pragma once

#include <Eigen/Core>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detail/checks.hpp"
#include "detail/extern_instantiation.hpp"
#include "detail/stability_pass.hpp"
#include "logit_energy_field.hpp"
#include "softmax_lemmas.hpp"
#include "spectrum_stats.hpp"

namespace attnspec {

/// Everything known about cutting the field to rank k. TV and KL are per query row; "max" is the worst row,
/// "mean" the average over the n rows. Output errors are present only when values V were given.
struct StabilityAtRank {
  Eigen::Index k = 0;
  double tail_energy = 0;  ///< T_k = Σ_{l>k} σ_l² = ‖R‖_F²
  double tail_sum = 0;     ///< S_k = Σ_{l>k} σ_l
  double coherence_u = 0;  ///< μ_U = √n·max_{i, l>k} |U_il|
  double coherence_v = 0;  ///< μ_V = √m·max_{j, l>k} |V_jl|

  // A priori: from the spectrum, the sizes and the coherence only (Theorems 6–8 of docs/stability.md).
  double a_priori_sigma_tv = 0;                 ///< tanh(√2·σ_{k+1}/4); needs no coherence
  double a_priori_row_tv = 0;                   ///< tanh(√2·μ_U·√(T_k/n)/4)
  double a_priori_entry_tv = 0;                 ///< tanh(2·μ_U·μ_V·S_k/√(nm)/4)
  double a_priori_max_oscillation = 0;          ///< B_k, the smallest of the three oscillation bounds
  double a_priori_max_tv = 0;                   ///< tanh(B_k/4), the best of the three routes
  double a_priori_max_kl = 0;                   ///< φ(B_k), either direction
  double a_priori_mean_tv = 0;                  ///< tanh(√(T_k/(8n))), no coherence needed
  double a_priori_mean_kl = 0;                  ///< T_k/(4n), either direction
  double delocalisation_c = 0;                  ///< the c of Theorem 8: given by the user, or measured from R
  double delocalisation_max_tv = 0;             ///< tanh((c/2)·√(T_k/(nm)))
  std::optional<double> a_priori_output_error;  ///< tanh(B_k/4)·diam(V)

  // A posteriori: from the actual residual, per row tanh(osc(R_i)/4).
  double certified_max_tv = 0;
  double certified_mean_tv = 0;
  double certified_max_kl = 0;                   ///< worst row of φ(osc(R_i))
  std::optional<double> certified_output_error;  ///< worst row of tanh(osc(R_i)/4)·diam(V seen by row i)

  // Measured: the attention of E~ against that of E~_k, at the ranks StabilityOptions::measured_ranks asks for
  // (every evaluated rank by default); elsewhere `measured` is false and these are NaN, except the residual's size.
  bool measured = true;
  double measured_max_tv = 0;
  double measured_mean_tv = 0;
  double measured_max_kl_forward = 0;  ///< worst row of KL(a_i ‖ a_i^k)
  double measured_max_kl_reverse = 0;  ///< worst row of KL(a_i^k ‖ a_i)
  double measured_mean_kl_forward = 0;
  double measured_mean_kl_reverse = 0;
  double measured_max_abs_residual = 0;         ///< max |R_ij| over the entries rows see
  std::optional<double> measured_output_error;  ///< worst row of ‖a_i·V − a_i^k·V‖₂
};

/// What min_rank targets.
enum class StabilityTarget {
  certified_max_tv,  ///< the a posteriori certificate (the default, and the tight guarantee)
  a_priori_max_tv,   ///< best a priori route
  a_priori_sigma_tv,
  a_priori_row_tv,
  a_priori_entry_tv,
  delocalisation_max_tv,  ///< valid only under its hypothesis when c is user-given
  a_priori_mean_tv,
  a_priori_mean_kl,
  measured_max_tv,
  measured_mean_tv,
};

/// The target's name, as the figure it targets is named in StabilityAtRank and in reports.
inline const char* to_string(StabilityTarget target) {
  switch (target) {
    case StabilityTarget::certified_max_tv:
      return "certified_max_tv";
    case StabilityTarget::a_priori_max_tv:
      return "a_priori_max_tv";
    case StabilityTarget::a_priori_sigma_tv:
      return "a_priori_sigma_tv";
    case StabilityTarget::a_priori_row_tv:
      return "a_priori_row_tv";
    case StabilityTarget::a_priori_entry_tv:
      return "a_priori_entry_tv";
    case StabilityTarget::delocalisation_max_tv:
      return "delocalisation_max_tv";
    case StabilityTarget::a_priori_mean_tv:
      return "a_priori_mean_tv";
    case StabilityTarget::a_priori_mean_kl:
      return "a_priori_mean_kl";
    case StabilityTarget::measured_max_tv:
      return "measured_max_tv";
    case StabilityTarget::measured_mean_tv:
      return "measured_mean_tv";
  }
  return "unknown";
}

/// The value of `target` in `at_rank`.
inline double stability_value(const StabilityAtRank& at_rank, StabilityTarget target) {
  switch (target) {
    case StabilityTarget::certified_max_tv:
      return at_rank.certified_max_tv;
    case StabilityTarget::a_priori_max_tv:
      return at_rank.a_priori_max_tv;
    case StabilityTarget::a_priori_sigma_tv:
      return at_rank.a_priori_sigma_tv;
    case StabilityTarget::a_priori_row_tv:
      return at_rank.a_priori_row_tv;
    case StabilityTarget::a_priori_entry_tv:
      return at_rank.a_priori_entry_tv;
    case StabilityTarget::delocalisation_max_tv:
      return at_rank.delocalisation_max_tv;
    case StabilityTarget::a_priori_mean_tv:
      return at_rank.a_priori_mean_tv;
    case StabilityTarget::a_priori_mean_kl:
      return at_rank.a_priori_mean_kl;
    case StabilityTarget::measured_max_tv:
      return at_rank.measured_max_tv;
    case StabilityTarget::measured_mean_tv:
      return at_rank.measured_mean_tv;
  }
  detail::throw_invalid_argument("stability_value", "unknown target ", static_cast<int>(target));
}

/// The smallest k whose `target` is <= ε, for ε in (0, 1), among the ranks evaluated; an error when none is.
inline Eigen::Index min_rank(const std::vector<StabilityAtRank>& ranks, double epsilon,
                             StabilityTarget target = StabilityTarget::certified_max_tv) {
  if (!(epsilon > 0 && epsilon < 1)) {
    detail::throw_invalid_argument("min_rank", "epsilon = ", epsilon, " must be in (0, 1)");
  }
  for (const auto& at_rank : ranks) {
    if (stability_value(at_rank, target) <= epsilon) return at_rank.k;
  }
  // A full table always meets ε at its last rank (R = 0). A table evaluated at some ranks only may not: saying so
  // keeps "not met" from looking like "met at the last rank evaluated".
  std::string evaluated;
  for (const auto& at_rank : ranks) evaluated += (evaluated.empty() ? "" : ", ") + std::to_string(at_rank.k);
  detail::throw_invalid_argument("min_rank", "none of the evaluated ranks {", evaluated, "} meets epsilon = ", epsilon,
                                 "; evaluate more ranks (StabilityOptions::ranks empty evaluates all)");
}

/// Theorem 8: worst-row TV <= tanh((c/2)·√(T_k/(nm))) when ‖R‖_max <= c·‖R‖_F/√(nm).
inline double delocalisation_tv(double c, double tail_energy, Eigen::Index n, Eigen::Index m) {
  return std::tanh(c / 2 * std::sqrt(tail_energy / (static_cast<double>(n) * static_cast<double>(m))));
}

/// The a priori part of the table for ranks k = 0..r, from the singular values (descending), the field's size
/// n×m, and the coherences μ_U(k), μ_V(k) (each of length r+1). `delocalisation_c` (length r+1) may be empty.
inline std::vector<StabilityAtRank> a_priori_bounds(const Eigen::VectorXd& sigma, Eigen::Index n, Eigen::Index m,
                                                    const Eigen::VectorXd& coherence_u,
                                                    const Eigen::VectorXd& coherence_v,
                                                    const Eigen::VectorXd& delocalisation_c = {}) {
  constexpr const char* function = "a_priori_bounds";
  const Eigen::Index r = sigma.size();
  if (coherence_u.size() != r + 1 || coherence_v.size() != r + 1 ||
      (delocalisation_c.size() != 0 && delocalisation_c.size() != r + 1)) {
    detail::throw_invalid_argument(function, "coherences (", coherence_u.size(), ", ", coherence_v.size(),
                                   ") and delocalisation_c (", delocalisation_c.size(), ") need length r+1 = ", r + 1);
  }
  if (n <= 0 || m <= 0) detail::throw_invalid_argument(function, "n = ", n, " and m = ", m, " must be positive");
  detail::require_finite(function, "sigma", sigma);
  // Tail sums as suffix sums: total minus prefix would cancel (σ = (1e4, 1e-6) must give T_1 = 1e-12, not 0).
  Eigen::VectorXd tail_energy = Eigen::VectorXd::Zero(r + 1), tail_sum = Eigen::VectorXd::Zero(r + 1);
  for (Eigen::Index k = r - 1; k >= 0; --k) {
    tail_energy(k) = tail_energy(k + 1) + sigma(k) * sigma(k);
    tail_sum(k) = tail_sum(k + 1) + sigma(k);
  }
  const double rows = static_cast<double>(n), cols = static_cast<double>(m);
  std::vector<StabilityAtRank> ranks(static_cast<size_t>(r + 1));
  for (Eigen::Index k = 0; k <= r; ++k) {
    StabilityAtRank& at = ranks[static_cast<size_t>(k)];
    at.k = k;
    at.tail_energy = tail_energy(k);
    at.tail_sum = tail_sum(k);
    at.coherence_u = coherence_u(k);
    at.coherence_v = coherence_v(k);
    const double next_sigma = k < r ? sigma(k) : 0.0;
    const double sigma_route = std::sqrt(2.0) * next_sigma;
    const double row_route = std::sqrt(2.0) * at.coherence_u * std::sqrt(at.tail_energy / rows);
    const double entry_route = 2 * at.coherence_u * at.coherence_v * at.tail_sum / std::sqrt(rows * cols);
    at.a_priori_sigma_tv = tv_bound(sigma_route);
    at.a_priori_row_tv = tv_bound(row_route);
    at.a_priori_entry_tv = tv_bound(entry_route);
    at.a_priori_max_oscillation = std::min({sigma_route, row_route, entry_route});
    at.a_priori_max_tv = tv_bound(at.a_priori_max_oscillation);
    at.a_priori_max_kl = kl_bound(at.a_priori_max_oscillation);
    at.a_priori_mean_tv = std::tanh(std::sqrt(at.tail_energy / (8 * rows)));
    at.a_priori_mean_kl = at.tail_energy / (4 * rows);
    if (delocalisation_c.size() != 0) {
      at.delocalisation_c = delocalisation_c(k);
      at.delocalisation_max_tv = delocalisation_tv(at.delocalisation_c, at.tail_energy, n, m);
    }
  }
  return ranks;
}

/// μ(k) = √rows·max_{i, l>k} |vectors_il| for k = 0..r (suffix maxima of the column maxima; μ(r) = 0).
template <class Derived>
Eigen::VectorXd coherence_by_rank(const Eigen::MatrixBase<Derived>& vectors) {
  const Eigen::Index r = vectors.cols();
  Eigen::VectorXd coherence = Eigen::VectorXd::Zero(r + 1);
  const double root_rows = std::sqrt(static_cast<double>(vectors.rows()));
  for (Eigen::Index k = r - 1; k >= 0; --k) {
    const auto largest = static_cast<double>(vectors.col(k).cwiseAbs().maxCoeff());  // exact in double
    coherence(k) = std::max(coherence(k + 1), root_rows * largest);
  }
  return coherence;
}

/// A share of one head's stability pass, to split it across processes (MPI ranks, job-array tasks): the blocks of
/// block_rows rows numbered b = index, index + count, index + 2·count, ... Each process computes its share with
/// the same options otherwise; SoftmaxStabilityBound::share_totals() is what it sends, and complete_shares() on
/// any one of them, given every share's totals, gives the same bits as one process computing every block.
struct StabilityShare {
  std::size_t index = 0;
  std::size_t count = 1;
};

/// Options of the stability calculator.
struct StabilityOptions {
  FieldOptions field;            ///< the field's definition (scale, centring, sink keys); vectors and factors are kept
  bool causal = false;           ///< query i sees keys j <= i only (queries and keys from one sequence: n = m)
  Eigen::Index block_rows = 64;  ///< rows per streaming block; memory is O(threads·block_rows·m)
  unsigned threads = 1;          ///< threads for blocks of rows (0: all hardware threads); results do not depend on it
  std::optional<double> delocalisation_c;  ///< Theorem 8's c (>= 1), an assumption; unset: measured from R
  bool keep_row_values = false;            ///< keep per-row certified and measured TV for every evaluated rank
  /// The ranks to evaluate (each in [0, r]; order and repeats do not matter). Empty: every k = 0..r. The pass
  /// costs one O(block·m) sweep per evaluated rank, so a report at a few ranks is much cheaper than the table.
  std::vector<Eigen::Index> ranks;
  /// Also evaluate, for each τ here, the field's k@τ (SpectrumStats::rank_at), known only once its spectrum is.
  std::vector<double> ranks_at_variance;
  /// The row blocks this call computes; with count > 1 the results wait for complete_shares().
  StabilityShare share;
  /// Where the attention change itself is measured (TV, KL and output error of the rank-k attention against the
  /// true one): one exponential per entry and measured rank, the pass's main cost. Unset: at every evaluated rank.
  /// Set: at these ranks only, which are evaluated too; empty: nowhere — the certificate and the a priori bounds at
  /// every evaluated rank, with no exponential, in a few GEMMs' time for all ranks at once.
  std::optional<std::vector<Eigen::Index>> measured_ranks;
};

/// The softmax-stability calculator for one head: at_rank(k) for every k = 0..r, min_rank(ε). Shaped like
/// Eigen's decompositions: default-constructible, computing constructors, and compute() for the next head.
template <typename Scalar = double>
class SoftmaxStabilityBound {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  SoftmaxStabilityBound() = default;

  template <class DerivedQ, class DerivedK>
  SoftmaxStabilityBound(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                        const StabilityOptions& options = {}) {
    compute(queries, keys, options);
  }
  /// Takes over Q and K, Matrix rvalues: see compute(Queries&&, Keys&&, const StabilityOptions&).
  template <class Queries, class Keys, detail::IfTakenOver<Queries, Keys, Matrix> = 0>
  SoftmaxStabilityBound(Queries&& queries, Keys&& keys, const StabilityOptions& options = {}) {
    compute(std::move(queries), std::move(keys), options);
  }

  /// With value vectors V (m×d_v, one row per key as passed), so output errors are bounded and measured too.
  template <class DerivedQ, class DerivedK, class DerivedV>
  SoftmaxStabilityBound(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                        const Eigen::MatrixBase<DerivedV>& values, const StabilityOptions& options = {}) {
    compute(queries, keys, values, options);
  }

  /// (Re)computes everything for a new head. On error the object keeps the previous head's results.
  template <class DerivedQ, class DerivedK>
  SoftmaxStabilityBound& compute(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                                 const StabilityOptions& options = {}) {
    SoftmaxStabilityBound next;
    next.compute_from(queries, keys, nullptr, options);
    *this = std::move(next);
    return *this;
  }
  /// The same from Q and K given up by the caller (both Matrix rvalues): the field keeps these matrices
  /// themselves, not copies (LogitEnergyField's compute of rvalues), so a head's Q and K exist once. Both are left
  /// empty.
  template <class Queries, class Keys, detail::IfTakenOver<Queries, Keys, Matrix> = 0>
  SoftmaxStabilityBound& compute(Queries&& queries, Keys&& keys, const StabilityOptions& options = {}) {
    SoftmaxStabilityBound next;
    next.compute_from(std::move(queries), std::move(keys), nullptr, options);
    *this = std::move(next);
    return *this;
  }

  /// The same with value vectors V (m×d_v).
  template <class DerivedQ, class DerivedK, class DerivedV>
  SoftmaxStabilityBound& compute(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                                 const Eigen::MatrixBase<DerivedV>& values, const StabilityOptions& options = {}) {
    constexpr const char* function = "SoftmaxStabilityBound";
    if (values.rows() != keys.rows()) {
      detail::throw_invalid_argument(function, "V (", detail::shape_of(values), ") needs one row per key; K is ",
                                     detail::shape_of(keys));
    }
    detail::require_nonempty(function, "V", values);
    const Eigen::MatrixXd v = values.template cast<double>();
    detail::require_finite(function, "V", v);
    SoftmaxStabilityBound next;
    next.compute_from(queries, keys, &v, options);
    *this = std::move(next);
    return *this;
  }

  /// Largest rank r = min(n, m', d); at_rank accepts k = 0..r (those evaluated, when StabilityOptions::ranks is set).
  Eigen::Index max_rank() const { return m_field.singular_values().size(); }

  /// All bounds and measurements at rank k.
  const StabilityAtRank& at_rank(Eigen::Index k) const {
    constexpr const char* function = "SoftmaxStabilityBound::at_rank";
    require_complete(function);
    if (k < 0 || k > max_rank()) {
      detail::throw_invalid_argument(function, "k = ", k, " is out of range [0, ", max_rank(), "]");
    }
    const auto found = std::find_if(m_ranks.begin(), m_ranks.end(), [k](const auto& at) { return at.k == k; });
    if (found == m_ranks.end()) {
      detail::throw_invalid_argument(function, "k = ", k, " was not evaluated (it is not in StabilityOptions::ranks)");
    }
    return *found;
  }
  /// The evaluated ranks, ascending.
  const std::vector<StabilityAtRank>& ranks() const {
    require_complete("SoftmaxStabilityBound::ranks");
    return m_ranks;
  }

  /// The smallest evaluated k whose `target` (by default the certified worst-row TV) is <= ε, for ε in (0, 1);
  /// a measured target looks at the measured ranks only.
  Eigen::Index min_rank(double epsilon, StabilityTarget target = StabilityTarget::certified_max_tv) const {
    constexpr const char* function = "SoftmaxStabilityBound::min_rank";
    require_complete(function);
    if (target != StabilityTarget::measured_max_tv && target != StabilityTarget::measured_mean_tv) {
      return attnspec::min_rank(m_ranks, epsilon, target);
    }
    std::vector<StabilityAtRank> measured;
    std::copy_if(m_ranks.begin(), m_ranks.end(), std::back_inserter(measured),
                 [](const auto& at) { return at.measured; });
    if (measured.empty()) {
      detail::throw_invalid_argument(function, "target ", to_string(target),
                                     " is a measurement, and StabilityOptions::measured_ranks measured no rank");
    }
    return attnspec::min_rank(measured, epsilon, target);
  }

  /// The share of the pass this object computed (StabilityOptions::share).
  const StabilityShare& share() const { return m_share; }
  /// This share's block totals, in block order, as plain doubles: what a process sends to the one that completes.
  std::vector<double> share_totals() const {
    std::vector<double> out;
    for (const detail::StabilityTotals& block : m_share_blocks) block.append_to(out);
    return out;
  }
  /// Merges every share's share_totals() (shares[i] from share i of share().count, this object's own included) in
  /// row-block order and finishes the bounds: the same bits as one process computing every block.
  SoftmaxStabilityBound& complete_shares(const std::vector<std::vector<double>>& shares) {
    constexpr const char* function = "SoftmaxStabilityBound::complete_shares";
    if (shares.size() != m_share.count) {
      detail::throw_invalid_argument(function, "this head's pass was split into ", m_share.count, " shares, but ",
                                     shares.size(), " were given");
    }
    const auto rank_count = static_cast<Eigen::Index>(m_evaluated.size());
    const std::size_t per_block = detail::StabilityTotals::values_per_block(rank_count);
    const std::size_t blocks = detail::stability_block_count(m_field.rows(), m_block_rows);
    for (std::size_t s = 0; s < shares.size(); ++s) {
      const std::size_t expected = detail::blocks_in_share(blocks, s, shares.size()) * per_block;
      if (shares[s].size() != expected) {
        detail::throw_invalid_argument(function, "share ", s, " of ", shares.size(), " holds ", shares[s].size(),
                                       " values; a share of this head's pass (", blocks, " blocks of ", rank_count,
                                       " ranks) holds ", expected);
      }
    }
    std::vector<detail::StabilityTotals> in_order;
    for (std::size_t b = 0; b < blocks; ++b) {
      const double* block = shares[b % shares.size()].data() + (b / shares.size()) * per_block;
      in_order.push_back(detail::StabilityTotals::read_from(block, rank_count));
    }
    finish(detail::merge_in_block_order(in_order, rank_count));
    return *this;
  }

  const LogitEnergyField<Scalar>& field() const { return m_field; }
  bool causal() const { return m_causal; }
  /// h_j = ‖row j of the orthonormal basis of K_c‖²: how much of the key space key j alone spans (Σ_l V_jl² <= h_j).
  const Eigen::VectorXd& key_leverage() const { return m_key_leverage; }
  /// max_j h_j·m/d: near 1 when the field's variance is spread over key positions, large when one key dominates.
  double key_coherence() const { return m_key_coherence; }
  /// Per-row certified and measured TV (n × evaluated ranks); empty unless StabilityOptions::keep_row_values.
  const Eigen::MatrixXd& row_certified_tv() const { return m_pass.row_certified_tv; }
  const Eigen::MatrixXd& row_measured_tv() const { return m_pass.row_measured_tv; }

 private:
  // Q and K are Eigen expressions, or Matrix rvalues the field takes over.
  template <class Queries, class Keys>
  void compute_from(Queries&& queries, Keys&& keys, const Eigen::MatrixXd* values, const StabilityOptions& options) {
    constexpr const char* function = "SoftmaxStabilityBound";
    if (options.block_rows <= 0) {
      detail::throw_invalid_argument(function, "block_rows = ", options.block_rows, " must be positive");
    }
    if (options.delocalisation_c && !(std::isfinite(*options.delocalisation_c) && *options.delocalisation_c >= 1)) {
      detail::throw_invalid_argument(function, "delocalisation_c = ", *options.delocalisation_c,
                                     " must be finite and >= 1");
    }
    if (options.share.count == 0 || options.share.index >= options.share.count) {
      detail::throw_invalid_argument(function, "share ", options.share.index, " of ", options.share.count,
                                     " does not exist: count must be >= 1 and index < count");
    }
    if (options.share.count > 1 && options.keep_row_values) {
      detail::throw_invalid_argument(function,
                                     "keep_row_values needs every row in one process; it cannot be "
                                     "combined with share.count = ",
                                     options.share.count);
    }
    if (options.causal && queries.rows() != keys.rows()) {
      detail::throw_invalid_argument(function, "a causal mask needs one query per key, but Q is ",
                                     detail::shape_of(queries), " and K is ", detail::shape_of(keys));
    }
    FieldOptions field_options = options.field;
    field_options.compute_vectors = true;
    field_options.keep_factors = true;  // the pass reads the field's Q, K and vectors
    m_field.compute(std::forward<Queries>(queries), std::forward<Keys>(keys), field_options);
    m_causal = options.causal;

    const Eigen::Index n = m_field.rows(), m = m_field.cols(), dropped = field_options.drop_leading_keys;
    // The pass reads the field's own Q, K and vectors: in double as they are, from float a block at a time, so it
    // holds no double copy of them.
    compute_key_leverage();
    const detail::RowsInDouble q(m_field.queries()), k(m_field.keys());
    const detail::RowsInDouble u(m_field.left_singular_vectors()), v(m_field.right_singular_vectors());
    const Eigen::VectorXd sigma = m_field.singular_values().template cast<double>();

    // Query i sees the kept keys whose original index is <= i: a prefix of them.
    const bool causal = options.causal;
    auto visible_keys = [causal, m, dropped](Eigen::Index row) {
      return causal ? std::clamp<Eigen::Index>(row + 1 - dropped, 0, m) : m;
    };
    std::optional<Eigen::MatrixXd> kept_values;
    Eigen::VectorXd row_diameter;
    double full_diameter = 0;
    if (values) {
      kept_values = values->bottomRows(m);
      const Eigen::VectorXd prefix = detail::prefix_diameters(*kept_values);
      full_diameter = prefix(m);
      row_diameter.resize(n);
      for (Eigen::Index i = 0; i < n; ++i) row_diameter(i) = prefix(visible_keys(i));
    }
    std::vector<Eigen::Index> requested = options.ranks;
    if (!options.ranks_at_variance.empty()) {
      const SpectrumStats<double> stats(sigma);
      for (const double tau : options.ranks_at_variance) requested.push_back(stats.rank_at(tau));
    }
    // An empty request means every rank, unless ranks were asked for only through ranks_at_variance.
    m_evaluated = ranks_to_evaluate(requested, sigma.size());
    m_measured = m_evaluated;
    if (options.measured_ranks) {
      m_measured = checked_ranks(*options.measured_ranks, sigma.size(), "measured_ranks");
      m_evaluated = merged_ranks(m_evaluated, m_measured);
    }
    std::vector<std::size_t> measured_slots;
    for (const Eigen::Index k : m_measured) {
      measured_slots.push_back(
          static_cast<std::size_t>(std::lower_bound(m_evaluated.begin(), m_evaluated.end(), k) - m_evaluated.begin()));
    }
    m_share = options.share;
    m_block_rows = options.block_rows;
    m_delocalisation_c = options.delocalisation_c;
    m_output_diameter = values ? std::optional<double>(full_diameter) : std::nullopt;
    m_every_rank = a_priori_bounds(sigma, n, m, coherence_by_rank(m_field.left_singular_vectors()),
                                   coherence_by_rank(m_field.right_singular_vectors()));
    detail::StabilityPassInput pass{&q,
                                    &k,
                                    m_field.scale(),
                                    &u,
                                    &sigma,
                                    &v,
                                    kept_values ? &*kept_values : nullptr,
                                    visible_keys,
                                    row_diameter,
                                    m_evaluated,
                                    measured_slots,
                                    options.block_rows,
                                    options.keep_row_values,
                                    options.threads,
                                    m_share.index,
                                    m_share.count};
    m_share_blocks = detail::run_stability_share(pass, m_pass);
    m_ranks.clear();
    if (m_share.count == 1) {
      finish(detail::merge_in_block_order(m_share_blocks, static_cast<Eigen::Index>(m_evaluated.size())));
    }
  }

  // The per-rank results from the merged totals of every block of the pass.
  void finish(const detail::StabilityTotals& totals) {
    static_cast<detail::StabilityTotals&>(m_pass) = totals;
    const Eigen::Index n = m_field.rows(), m = m_field.cols();
    m_ranks.clear();
    for (Eigen::Index l = 0; l < static_cast<Eigen::Index>(m_evaluated.size()); ++l) {
      StabilityAtRank& at =
          m_ranks.emplace_back(m_every_rank[static_cast<size_t>(m_evaluated[static_cast<size_t>(l)])]);
      // Measured c = ‖R‖_max·√(nm)/‖R‖_F makes Theorem 8's hypothesis hold exactly; R = 0 gives c = 1.
      at.delocalisation_c = m_delocalisation_c.value_or(
          at.tail_energy > 0
              ? std::max(1.0, m_pass.max_abs_residual(l) * std::sqrt(double(n) * double(m)) / std::sqrt(at.tail_energy))
              : 1.0);
      at.delocalisation_max_tv = delocalisation_tv(at.delocalisation_c, at.tail_energy, n, m);
      at.certified_max_tv = m_pass.certified_max_tv(l);
      at.certified_mean_tv = m_pass.certified_sum_tv(l) / double(n);
      at.certified_max_kl = m_pass.certified_max_kl(l);
      at.measured_max_abs_residual = m_pass.max_abs_residual(l);
      if (m_output_diameter) {
        at.a_priori_output_error = output_bound(at.a_priori_max_tv, *m_output_diameter);
        at.certified_output_error = m_pass.certified_max_output(l);
      }
      at.measured = std::binary_search(m_measured.begin(), m_measured.end(), at.k);
      if (!at.measured) {
        constexpr double not_measured = std::numeric_limits<double>::quiet_NaN();
        for (double* figure :
             {&at.measured_max_tv, &at.measured_mean_tv, &at.measured_max_kl_forward, &at.measured_max_kl_reverse,
              &at.measured_mean_kl_forward, &at.measured_mean_kl_reverse}) {
          *figure = not_measured;
        }
        if (m_output_diameter) at.measured_output_error = not_measured;
        continue;
      }
      at.measured_max_tv = m_pass.measured_max_tv(l);
      at.measured_mean_tv = m_pass.measured_sum_tv(l) / double(n);
      at.measured_max_kl_forward = m_pass.measured_max_kl_forward(l);
      at.measured_max_kl_reverse = m_pass.measured_max_kl_reverse(l);
      at.measured_mean_kl_forward = m_pass.measured_sum_kl_forward(l) / double(n);
      at.measured_mean_kl_reverse = m_pass.measured_sum_kl_reverse(l) / double(n);
      if (m_output_diameter) at.measured_output_error = m_pass.measured_max_output(l);
    }
  }

  static std::vector<Eigen::Index> ranks_to_evaluate(std::vector<Eigen::Index> requested, Eigen::Index r) {
    if (requested.empty()) {
      requested.resize(static_cast<size_t>(r + 1));
      std::iota(requested.begin(), requested.end(), Eigen::Index{0});
      return requested;
    }
    return checked_ranks(std::move(requested), r, "ranks");
  }

  // `ranks` ascending without repeats, each checked to be in [0, r]; `option` names the StabilityOptions member.
  static std::vector<Eigen::Index> checked_ranks(std::vector<Eigen::Index> ranks, Eigen::Index r, const char* option) {
    for (const Eigen::Index k : ranks) {
      if (k < 0 || k > r) {
        detail::throw_invalid_argument("SoftmaxStabilityBound", "StabilityOptions::", option, " holds k = ", k,
                                       ", outside [0, r] = [0, ", r, "]");
      }
    }
    std::sort(ranks.begin(), ranks.end());
    ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
    return ranks;
  }

  static std::vector<Eigen::Index> merged_ranks(const std::vector<Eigen::Index>& a,
                                                const std::vector<Eigen::Index>& b) {
    std::vector<Eigen::Index> merged;
    std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(merged));
    return merged;
  }

  // The leverage of each kept key in the span of the keys, from a pivoted QR of them in double (a copy of K the
  // size of a double K, released on return).
  void compute_key_leverage() {
    const auto& keys = m_field.keys();
    const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(keys.template cast<double>());
    const Eigen::Index rank = qr.rank();  // 0 for keys that centre to zero: they span nothing
    // The basis Q·[I; 0] 64 columns at a time: no m×rank matrix beside the QR's copy of K.
    constexpr Eigen::Index kColumns = 64;
    m_key_leverage.setZero(keys.rows());
    Eigen::MatrixXd columns;
    for (Eigen::Index first = 0; first < rank; first += kColumns) {
      const Eigen::Index count = std::min(kColumns, rank - first);
      columns.setZero(keys.rows(), count);
      columns.middleRows(first, count).setIdentity();
      columns.applyOnTheLeft(qr.householderQ());
      m_key_leverage += columns.rowwise().squaredNorm();
    }
    m_key_coherence = m_key_leverage.maxCoeff() * double(keys.rows()) / double(keys.cols());
  }

  void require_complete(const char* function) const {
    if (m_ranks.empty() && !m_evaluated.empty()) {
      detail::throw_invalid_argument(function, "this object holds share ", m_share.index, " of ", m_share.count,
                                     " of the pass; complete_shares() merges them first");
    }
  }

  LogitEnergyField<Scalar> m_field;
  bool m_causal = false;
  detail::StabilityPassResult m_pass;
  std::vector<StabilityAtRank> m_ranks;
  // What completing a split pass needs: the share, the block size, the evaluated and the measured ranks, their a
  // priori bounds, this share's block totals, and the options that turn totals into bounds.
  StabilityShare m_share;
  Eigen::Index m_block_rows = 64;
  std::vector<Eigen::Index> m_evaluated, m_measured;
  std::vector<StabilityAtRank> m_every_rank;
  std::vector<detail::StabilityTotals> m_share_blocks;
  std::optional<double> m_delocalisation_c, m_output_diameter;
  Eigen::VectorXd m_key_leverage;
  double m_key_coherence = 0;
};

}  // namespace attnspec

ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(attnspec::SoftmaxStabilityBound)
