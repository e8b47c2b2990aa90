// attnspec: the streaming pass behind SoftmaxStabilityBound. For a set of ranks k (by default all of 0..r) at once
// it finds, row by row, the extremes of the residual R = E~ − E~_k on the keys each query sees and so its certificate
// tanh(osc/4) (no exponential: residual_extremes.hpp), and, at the ranks asked for, the actual change of the attention
// weights. Rows are processed in blocks: memory O(block·m + (n + m)·r), never n×m.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "../softmax_lemmas.hpp"
#include "checks.hpp"
#include "parallel_for.hpp"
#include "residual_extremes.hpp"
#include "rows_in_double.hpp"

namespace attnspec::detail {

/// Per-rank maxima and sums over rows (entry t belongs to rank ranks[t]). Each block of rows gets its own, merged
/// in row order, so the result does not depend on how many threads ran the blocks.
struct StabilityTotals {
  Eigen::VectorXd certified_max_tv, certified_sum_tv, certified_max_kl, certified_max_output;
  Eigen::VectorXd measured_max_tv, measured_sum_tv, measured_max_kl_forward, measured_max_kl_reverse;
  Eigen::VectorXd measured_sum_kl_forward, measured_sum_kl_reverse;
  Eigen::VectorXd measured_max_output, max_abs_residual;

  StabilityTotals() = default;
  explicit StabilityTotals(Eigen::Index rank_count) {
    for (Eigen::VectorXd* per_rank : maxima()) per_rank->setZero(rank_count);
    for (Eigen::VectorXd* per_rank : sums()) per_rank->setZero(rank_count);
  }
  // The members merged by maximum, and by sum; const when `self` is.
  template <class Self>
  static auto maxima_of(Self& self) {
    return std::array{&self.certified_max_tv,    &self.certified_max_kl,        &self.certified_max_output,
                      &self.measured_max_tv,     &self.measured_max_kl_forward, &self.measured_max_kl_reverse,
                      &self.measured_max_output, &self.max_abs_residual};
  }
  template <class Self>
  static auto sums_of(Self& self) {
    return std::array{&self.certified_sum_tv, &self.measured_sum_tv, &self.measured_sum_kl_forward,
                      &self.measured_sum_kl_reverse};
  }
  std::array<Eigen::VectorXd*, 8> maxima() { return maxima_of(*this); }
  std::array<Eigen::VectorXd*, 4> sums() { return sums_of(*this); }
  /// The values, maxima then sums, rank by rank: how a share of the pass travels between processes.
  void append_to(std::vector<double>& out) const {
    for (const Eigen::VectorXd* per_rank : maxima_of(*this))
      out.insert(out.end(), per_rank->data(), per_rank->data() + per_rank->size());
    for (const Eigen::VectorXd* per_rank : sums_of(*this))
      out.insert(out.end(), per_rank->data(), per_rank->data() + per_rank->size());
  }
  /// Reads what append_to wrote, from `in`, which holds at least values_per_block(rank_count) values.
  static StabilityTotals read_from(const double* in, Eigen::Index rank_count) {
    StabilityTotals totals;
    auto next = [&](Eigen::VectorXd* per_rank) {
      *per_rank = Eigen::Map<const Eigen::VectorXd>(in, rank_count);
      in += rank_count;
    };
    for (Eigen::VectorXd* per_rank : totals.maxima()) next(per_rank);
    for (Eigen::VectorXd* per_rank : totals.sums()) next(per_rank);
    return totals;
  }
  static std::size_t values_per_block(Eigen::Index rank_count) {
    constexpr std::size_t figures = std::tuple_size_v<decltype(maxima_of(std::declval<StabilityTotals&>()))> +
                                    std::tuple_size_v<decltype(sums_of(std::declval<StabilityTotals&>()))>;
    return figures * static_cast<std::size_t>(rank_count);
  }

  void merge(StabilityTotals& block) {
    const auto into_max = maxima(), from_max = block.maxima();
    for (std::size_t i = 0; i < into_max.size(); ++i) *into_max[i] = into_max[i]->cwiseMax(*from_max[i]);
    const auto into_sum = sums(), from_sum = block.sums();
    for (std::size_t i = 0; i < into_sum.size(); ++i) *into_sum[i] += *from_sum[i];
  }
};

/// The totals plus, when asked for, per-row values (n × ranks).
struct StabilityPassResult : StabilityTotals {
  Eigen::MatrixXd row_certified_tv, row_measured_tv;
};

/// Inputs of the pass, read in double, with the kept keys only.
struct StabilityPassInput {
  const RowsInDouble* queries;  // n×d
  const RowsInDouble* keys;     // m×d, as the field used them
  double scale;
  const RowsInDouble* u;                                   // n×r
  const Eigen::VectorXd* sigma;                            // r
  const RowsInDouble* v;                                   // m×r
  const Eigen::MatrixXd* values;                           // m×d_v or nullptr
  std::function<Eigen::Index(Eigen::Index)> visible_keys;  // row i sees keys [0, visible_keys(i))
  Eigen::VectorXd value_diameter;           // diameter of the values row i sees, per row (empty without values)
  std::vector<Eigen::Index> ranks;          // ascending, distinct, each in [0, r]: certified
  std::vector<std::size_t> measured_slots;  // ascending positions in `ranks` whose attention change is measured
  Eigen::Index block_rows;
  bool keep_rows;
  unsigned threads;  // blocks of rows run concurrently
  // The blocks this call computes: share_index, share_index + share_count, ... (all of them by default).
  std::size_t share_index = 0, share_count = 1;
};

inline std::size_t stability_block_count(Eigen::Index rows, Eigen::Index block_rows) {
  return static_cast<std::size_t>((rows + block_rows - 1) / block_rows);
}

/// How many of `blocks` blocks share `index` of `count` holds.
inline std::size_t blocks_in_share(std::size_t blocks, std::size_t index, std::size_t count) {
  return blocks > index ? (blocks - index + count - 1) / count : 0;
}

/// Block totals merged in block order: the same bits whichever threads or processes computed the blocks.
inline StabilityTotals merge_in_block_order(std::vector<StabilityTotals>& blocks, Eigen::Index rank_count) {
  StabilityTotals total(rank_count);
  for (StabilityTotals& block : blocks) total.merge(block);
  return total;
}

/// Diameter of {v_0, ..., v_{c−1}} for every prefix length c = 0..m; O(m²·d_v), computed pairwise (not through a
/// Gram matrix, whose cancellation could make the diameter, and so a bound, too small).
inline Eigen::VectorXd prefix_diameters(const Eigen::MatrixXd& values) {
  const Eigen::Index m = values.rows();
  Eigen::VectorXd diameter = Eigen::VectorXd::Zero(m + 1);
  for (Eigen::Index j = 1; j < m; ++j) {
    const double farthest = (values.topRows(j).rowwise() - values.row(j)).rowwise().norm().maxCoeff();
    diameter(j + 1) = std::max(diameter(j), farthest);
  }
  if (m >= 1) diameter(1) = 0;
  return diameter;
}

// visit(first_key, keys) over the rows of x (K or V, one per key), columns [first_col, first_col + col_count): a
// double field's in one view, a float field's converted 512 keys at a time (512 KiB at d = 128).
template <class Visit>
void for_key_chunks(const RowsInDouble& x, Eigen::Index first_col, Eigen::Index col_count, Visit visit) {
  constexpr Eigen::Index kConvertedKeys = 512;
  const Eigen::Index chunk = x.converts() ? kConvertedKeys : std::max<Eigen::Index>(x.rows(), 1);
  Eigen::MatrixXd buffer;
  for (Eigen::Index first = 0; first < x.rows(); first += chunk) {
    visit(first, x.block(first, std::min(chunk, x.rows() - first), first_col, col_count, buffer));
  }
}

// The certificate for rows [first, first + rows) at every rank of the pass, from the residual's row extremes.
inline void certify_block(const StabilityPassInput& in, Eigen::Index first, const Eigen::MatrixXd& weighted_u,
                          StabilityTotals& out, StabilityPassResult& rows_out) {
  const ResidualExtremes extremes = residual_extremes(weighted_u, *in.v, in.ranks, first, in.visible_keys);
  const bool with_values = in.values != nullptr;
  for (Eigen::Index slot = 0; slot < extremes.max.cols(); ++slot) {
    double widest = 0;
    for (Eigen::Index t = 0; t < extremes.max.rows(); ++t) {
      if (in.visible_keys(first + t) == 0) continue;
      const double high = extremes.max(t, slot), low = extremes.min(t, slot);
      const double oscillation = high - low;
      const double certified = tv_bound(oscillation);
      widest = std::max(widest, oscillation);
      out.certified_max_tv(slot) = std::max(out.certified_max_tv(slot), certified);
      out.certified_sum_tv(slot) += certified;
      out.max_abs_residual(slot) = std::max({out.max_abs_residual(slot), high, -low});
      if (with_values) {
        out.certified_max_output(slot) =
            std::max(out.certified_max_output(slot), output_bound(certified, in.value_diameter(first + t)));
      }
      if (in.keep_rows) rows_out.row_certified_tv(first + t, slot) = certified;
    }
    // φ increases with the oscillation, so the worst row's KL bound is φ of the widest row: one φ per block.
    out.certified_max_kl(slot) = kl_bound(widest);
  }
}

// The measured change of attention for rows [first, first + rows) at the measured ranks: one product with Kᵀ for
// the true field's rows, one with the first k_max right vectors for the rank-k fields, one exponential per entry for
// the true attention and one per entry and measured rank.
inline void measure_block(const StabilityPassInput& in, Eigen::Index first, Eigen::Index rows,
                          const Eigen::MatrixXd& weighted_u, StabilityTotals& out, StabilityPassResult& rows_out) {
  const Eigen::Index m = in.keys->rows();
  const bool with_values = in.values != nullptr;
  // Row-major blocks: every per-row step below reads contiguous memory.
  using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMajorMatrix log_p, p, truncated, change;
  Eigen::Array<double, 1, Eigen::Dynamic> q(m), log_q(m);
  // The true field's rows, from Q and K rather than from the SVD, so "measured" means measured; then, in place,
  // the true attention's logarithm.
  Eigen::MatrixXd query_buffer;
  const RowsInDouble::Rows query_rows = in.queries->middle_rows(first, rows, query_buffer);
  log_p.resize(rows, m);
  for_key_chunks(*in.keys, 0, in.keys->cols(), [&](Eigen::Index first_key, const RowsInDouble::Rows& keys) {
    log_p.middleCols(first_key, keys.rows()).noalias() = in.scale * query_rows * keys.transpose();
  });
  if (!all_finite(log_p)) {
    // The field itself scales only its singular values, so it takes any Q·Kᵀ whose scaled values fit; here the
    // products are formed before the scale multiplies them.
    throw_invalid_argument("SoftmaxStabilityBound", "the measured pass's logits s·q_i·k_j of rows [", first, ", ",
                           first + rows, ") overflow double (scale ", in.scale,
                           "); scale Q or K down and the scale up, or measure no rank (an empty "
                           "StabilityOptions::measured_ranks)");
  }
  p.resize(rows, m);
  for (Eigen::Index t = 0; t < rows; ++t) {
    const Eigen::Index seen = in.visible_keys(first + t);
    if (seen == 0) continue;
    auto logits = log_p.row(t).head(seen).array();
    auto weights = p.row(t).head(seen).array();
    logits -= logits.maxCoeff();
    weights = logits.exp();  // the one exponential per entry: p and its normaliser from the same values
    const double total = weights.sum();
    weights /= total;
    logits -= std::log(total);
  }
  truncated.setZero(rows, m);
  if (with_values) change.setZero(rows, m);
  // E~_0 = 0. Going up the ranks, adding terms l = built..k−1 turns E~_built into E~_k: the products' depth is the
  // largest measured rank, small for the usual k@τ.
  Eigen::Index built = 0;
  for (const std::size_t measured : in.measured_slots) {
    const auto slot = static_cast<Eigen::Index>(measured);
    const Eigen::Index k = in.ranks[measured];
    if (k > built) {
      for_key_chunks(*in.v, built, k - built, [&](Eigen::Index first_key, const RowsInDouble::Rows& v) {
        truncated.middleCols(first_key, v.rows()).noalias() += weighted_u.middleCols(built, k - built) * v.transpose();
      });
      built = k;
    }
    for (Eigen::Index t = 0; t < rows; ++t) {
      const Eigen::Index seen = in.visible_keys(first + t);
      if (seen == 0) {  // a row that sees no key has no attention to change
        if (in.keep_rows) rows_out.row_measured_tv(first + t, slot) = 0;
        continue;
      }
      const auto log_p_row = log_p.row(t).head(seen).array();
      const auto p_row = p.row(t).head(seen).array();
      // q = softmax(E~_k), the attention of the rank-k field; one exponential per entry.
      const auto s = truncated.row(t).head(seen).array();
      const double top = s.maxCoeff();
      auto q_row = q.head(seen);
      q_row = (s - top).exp();
      const double total = q_row.sum();
      q_row /= total;
      auto log_q_row = log_q.head(seen);
      log_q_row = s - (top + std::log(total));
      // TV <= 1 and KL >= 0 exactly; two rows that each sum to one only within a few roundings could step past
      // either bound (fuzz_field: a TV of 1 + 2.2e-16 between two attentions on different keys).
      const double tv = std::min(1.0, 0.5 * (p_row - q_row).abs().sum());
      const double kl_forward = std::max(0.0, (p_row * (log_p_row - log_q_row)).sum());
      const double kl_reverse = std::max(0.0, (q_row * (log_q_row - log_p_row)).sum());

      out.measured_max_tv(slot) = std::max(out.measured_max_tv(slot), tv);
      out.measured_sum_tv(slot) += tv;
      out.measured_max_kl_forward(slot) = std::max(out.measured_max_kl_forward(slot), kl_forward);
      out.measured_max_kl_reverse(slot) = std::max(out.measured_max_kl_reverse(slot), kl_reverse);
      out.measured_sum_kl_forward(slot) += kl_forward;
      out.measured_sum_kl_reverse(slot) += kl_reverse;
      if (with_values) change.row(t).head(seen) = (p_row - q_row).matrix();
      if (in.keep_rows) rows_out.row_measured_tv(first + t, slot) = tv;
    }
    if (with_values) {
      const Eigen::VectorXd output_change = (change * *in.values).rowwise().norm();
      out.measured_max_output(slot) = std::max(out.measured_max_output(slot), output_change.maxCoeff());
    }
  }
}

// Rows [first, first + rows) of the pass; `rows_out` receives per-row values when the caller keeps them.
inline StabilityTotals run_stability_block(const StabilityPassInput& in, Eigen::Index first, Eigen::Index rows,
                                           StabilityPassResult& rows_out) {
  StabilityTotals out(static_cast<Eigen::Index>(in.ranks.size()));
  Eigen::MatrixXd u_buffer;
  const Eigen::MatrixXd weighted_u = in.u->middle_rows(first, rows, u_buffer) * in.sigma->asDiagonal();
  certify_block(in, first, weighted_u, out, rows_out);
  if (!in.measured_slots.empty()) measure_block(in, first, rows, weighted_u, out, rows_out);
  return out;
}

/// The totals of this share's blocks, each its own, in block order; per-row values go into `rows` when kept.
inline std::vector<StabilityTotals> run_stability_share(const StabilityPassInput& in, StabilityPassResult& rows) {
  const Eigen::Index n = in.queries->rows();
  const auto rank_count = static_cast<Eigen::Index>(in.ranks.size());
  if (in.keep_rows) {
    rows.row_certified_tv.setZero(n, rank_count);
    // A rank whose change is not measured keeps NaN, which no comparison mistakes for a measurement.
    rows.row_measured_tv.setConstant(n, rank_count, std::numeric_limits<double>::quiet_NaN());
  }
  const std::size_t blocks = stability_block_count(n, in.block_rows);
  std::vector<StabilityTotals> partials(blocks_in_share(blocks, in.share_index, in.share_count));
  std::atomic<bool> stop{false};
  parallel_for(partials.size(), in.threads, stop, [&](std::size_t slot) {
    const auto first = static_cast<Eigen::Index>(in.share_index + slot * in.share_count) * in.block_rows;
    partials[slot] = run_stability_block(in, first, std::min(in.block_rows, n - first), rows);
  });
  return partials;
}

}  // namespace attnspec::detail
