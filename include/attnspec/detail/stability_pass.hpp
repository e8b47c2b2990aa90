// attnspec: the streaming pass behind SoftmaxStabilityBound. For a set of ranks k (by default all of 0..r) at once
// it measures, row by row, the residual R = E~ − E~_k on the keys each query sees, its certificate tanh(osc/4), and the
// actual change of the attention weights. Rows are processed in blocks: memory O(block·m + (n + m)·r), never n×m.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "../softmax_lemmas.hpp"

namespace attnspec::detail {

/// Per-rank results of the pass (entry t belongs to rank ranks[t]), plus optional per-row values.
struct StabilityPassResult {
  Eigen::VectorXd certified_max_tv, certified_sum_tv, certified_max_kl, certified_max_output;
  Eigen::VectorXd measured_max_tv, measured_sum_tv, measured_max_kl_forward, measured_max_kl_reverse;
  Eigen::VectorXd measured_sum_kl_forward, measured_sum_kl_reverse;
  Eigen::VectorXd measured_max_output, max_abs_residual;
  Eigen::MatrixXd row_certified_tv, row_measured_tv;  // n × ranks, only when asked for
};

/// Inputs of the pass, all in double and with the kept keys only.
struct StabilityPassInput {
  const Eigen::MatrixXd* queries;  // n×d
  const Eigen::MatrixXd* keys;     // m×d, as the field used them
  double scale;
  const Eigen::MatrixXd* u;                                // n×r
  const Eigen::VectorXd* sigma;                            // r
  const Eigen::MatrixXd* v;                                // m×r
  const Eigen::MatrixXd* values;                           // m×d_v or nullptr
  std::function<Eigen::Index(Eigen::Index)> visible_keys;  // row i sees keys [0, visible_keys(i))
  Eigen::VectorXd value_diameter;   // diameter of the values row i sees, per row (empty without values)
  std::vector<Eigen::Index> ranks;  // ascending, distinct, each in [0, r]
  Eigen::Index block_rows;
  bool keep_rows;
};

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

inline double log_sum_exp(const Eigen::Ref<const Eigen::RowVectorXd>& x) {
  const double top = x.maxCoeff();
  return top + std::log((x.array() - top).exp().sum());
}

inline StabilityPassResult run_stability_pass(const StabilityPassInput& in) {
  const Eigen::Index n = in.queries->rows(), m = in.keys->rows(), r = in.sigma->size();
  const auto rank_count = static_cast<Eigen::Index>(in.ranks.size());
  const bool with_values = in.values != nullptr;
  StabilityPassResult out;
  for (Eigen::VectorXd* per_rank :
       {&out.certified_max_tv, &out.certified_sum_tv, &out.certified_max_kl, &out.certified_max_output,
        &out.measured_max_tv, &out.measured_sum_tv, &out.measured_max_kl_forward, &out.measured_max_kl_reverse,
        &out.measured_sum_kl_forward, &out.measured_sum_kl_reverse, &out.measured_max_output, &out.max_abs_residual}) {
    per_rank->setZero(rank_count);
  }
  if (in.keep_rows) {
    out.row_certified_tv.setZero(n, rank_count);
    out.row_measured_tv.setZero(n, rank_count);
  }

  // Row-major blocks: every per-row step below reads contiguous memory.
  using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMajorMatrix field, log_p, p, residual, change;  // reused across blocks
  Eigen::MatrixXd weighted_u;
  Eigen::Array<double, 1, Eigen::Dynamic> shifted(m), q(m), log_q(m);
  for (Eigen::Index first = 0; first < n; first += in.block_rows) {
    const Eigen::Index rows = std::min(in.block_rows, n - first);
    // The true field rows, from the factors rather than from the SVD, so "measured" means measured.
    field.noalias() = in.scale * in.queries->middleRows(first, rows) * in.keys->transpose();
    log_p.resize(rows, m);
    p.resize(rows, m);
    for (Eigen::Index t = 0; t < rows; ++t) {
      const Eigen::Index seen = in.visible_keys(first + t);
      if (seen == 0) continue;
      log_p.row(t).head(seen) = field.row(t).head(seen).array() - log_sum_exp(field.row(t).head(seen));
      p.row(t).head(seen) = log_p.row(t).head(seen).array().exp();
    }
    weighted_u.noalias() = in.u->middleRows(first, rows) * in.sigma->asDiagonal();
    residual.setZero(rows, m);
    if (with_values) change.setZero(rows, m);
    // Rank r has R = 0. Going down the ranks, adding terms l = k..previous−1 turns R^(previous) into R^(k).
    Eigen::Index previous = r;
    for (Eigen::Index slot = rank_count - 1; slot >= 0; --slot) {
      const Eigen::Index k = in.ranks[static_cast<size_t>(slot)];
      if (k < previous) {
        residual.noalias() += weighted_u.middleCols(k, previous - k) * in.v->middleCols(k, previous - k).transpose();
        previous = k;
      }
      for (Eigen::Index t = 0; t < rows; ++t) {
        const Eigen::Index seen = in.visible_keys(first + t);
        if (seen == 0) continue;
        const auto r_row = residual.row(t).head(seen).array();
        const auto log_p_row = log_p.row(t).head(seen).array();
        const auto p_row = p.row(t).head(seen).array();
        const double oscillation = r_row.maxCoeff() - r_row.minCoeff();
        const double certified = tv_bound(oscillation);
        // q = softmax(log p − R) is the attention of the rank-k field E~ − R; one exponential per entry.
        auto s = shifted.head(seen);
        s = log_p_row - r_row;
        const double top = s.maxCoeff();
        auto q_row = q.head(seen);
        q_row = (s - top).exp();
        const double total = q_row.sum();
        q_row /= total;
        auto log_q_row = log_q.head(seen);
        log_q_row = s - (top + std::log(total));
        const double tv = 0.5 * (p_row - q_row).abs().sum();
        const double kl_forward = (p_row * (log_p_row - log_q_row)).sum();
        const double kl_reverse = (q_row * (log_q_row - log_p_row)).sum();

        out.certified_max_tv(slot) = std::max(out.certified_max_tv(slot), certified);
        out.certified_sum_tv(slot) += certified;
        out.certified_max_kl(slot) = std::max(out.certified_max_kl(slot), kl_bound(oscillation));
        out.measured_max_tv(slot) = std::max(out.measured_max_tv(slot), tv);
        out.measured_sum_tv(slot) += tv;
        out.measured_max_kl_forward(slot) = std::max(out.measured_max_kl_forward(slot), kl_forward);
        out.measured_max_kl_reverse(slot) = std::max(out.measured_max_kl_reverse(slot), kl_reverse);
        out.measured_sum_kl_forward(slot) += kl_forward;
        out.measured_sum_kl_reverse(slot) += kl_reverse;
        out.max_abs_residual(slot) = std::max(out.max_abs_residual(slot), r_row.abs().maxCoeff());
        if (with_values) {
          change.row(t).head(seen) = (p_row - q_row).matrix();
          out.certified_max_output(slot) =
              std::max(out.certified_max_output(slot), output_bound(certified, in.value_diameter(first + t)));
        }
        if (in.keep_rows) {
          out.row_certified_tv(first + t, slot) = certified;
          out.row_measured_tv(first + t, slot) = tv;
        }
      }
      if (with_values) {
        const Eigen::VectorXd output_change = (change * *in.values).rowwise().norm();
        out.measured_max_output(slot) = std::max(out.measured_max_output(slot), output_change.maxCoeff());
      }
    }
  }
  return out;
}

}  // namespace attnspec::detail
