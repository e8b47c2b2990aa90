// attnspec: the row extremes of the residual R_k = Σ_{l>=k} σ_l·u_l·v_lᵀ at many ranks k in one sweep — all the
// certificate tanh(osc(R_i)/4) needs, with no exponential and no n×m matrix. R is built tile by tile from the last
// rank down; a tile (a few rows by a few hundred keys) stays in the first-level cache while every rank is added to
// it, so the sweep runs at the speed of the additions and comparisons rather than at the speed of memory.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

#include "rows_in_double.hpp"

namespace attnspec::detail {

/// max_j R_k(i, j) and min_j R_k(i, j) over the keys row i sees, one row per query row and one column per rank.
/// A row that sees no key keeps −∞ and +∞.
struct ResidualExtremes {
  Eigen::MatrixXd max, min;
};

/// The largest and smallest entry seen.
struct Extremes {
  double high = -std::numeric_limits<double>::infinity(), low = std::numeric_limits<double>::infinity();
};

/// Adds w·v to the `keys` entries of x (the ones its query row sees) and, when `widen`, returns their extremes —
/// in the same pass, the sum and both comparisons on the same registers, eight entries at a time (a run of
/// accumulators long enough that the comparisons do not wait on each other).
template <bool widen>
Extremes add_term(double* x, const double* v, double w, Eigen::Index keys) {
  using Chunk = Eigen::Array<double, 8, 1>;
  constexpr Eigen::Index chunk = Chunk::SizeAtCompileTime;
  Chunk high = Chunk::Constant(Extremes{}.high), low = Chunk::Constant(Extremes{}.low);
  Eigen::Index j = 0;
  for (; j + chunk <= keys; j += chunk) {
    Eigen::Map<Chunk> entries(x + j);
    entries += w * Eigen::Map<const Chunk>(v + j);
    if constexpr (widen) {
      high = high.max(entries);
      low = low.min(entries);
    }
  }
  Extremes out;
  if constexpr (widen) out = {high.maxCoeff(), low.minCoeff()};
  for (; j < keys; ++j) {
    x[j] += w * v[j];
    out = {std::max(out.high, x[j]), std::min(out.low, x[j])};
  }
  return out;
}

/// The extremes for the rows of `weighted_u` (U·Σ restricted to those rows, the first being query row `first`) at
/// each of `ranks` (ascending, each in [0, r]); `v` is m×r, `visible_keys(i)` the number of keys query row i sees.
/// Each entry of R_k is summed term by term from l = r−1 down to k, whatever the rows around it and the ranks asked
/// for, so a row's extremes do not depend on how rows are grouped into blocks, threads or processes.
template <class WeightedU>
ResidualExtremes residual_extremes(const WeightedU& weighted_u, const RowsInDouble& v,
                                   const std::vector<Eigen::Index>& ranks, Eigen::Index first,
                                   const std::function<Eigen::Index(Eigen::Index)>& visible_keys) {
  // 8 rows × 512 keys of double (32 KiB, a first-level data cache): long rows spread each pass's final comparison
  // over many entries, and the 512 keys' terms of every rank (4 KiB each) stay in the second-level cache. Measured
  // against 4–16 rows of 128–1,024 keys at n = m = 4096, d = 128 (docs/performance.md). The keys' terms are read
  // once for all the rows (a float field's converted once), then every group of rows sweeps them.
  constexpr Eigen::Index tile_rows = 8, tile_cols = 512;
  const Eigen::Index rows = weighted_u.rows(), m = v.rows(), r = v.cols();
  const auto rank_count = static_cast<Eigen::Index>(ranks.size());
  constexpr double infinity = std::numeric_limits<double>::infinity();
  ResidualExtremes out;
  out.max.setConstant(rows, rank_count, -infinity);
  out.min.setConstant(rows, rank_count, infinity);
  std::vector<Eigen::Index> seen(static_cast<std::size_t>(rows));
  for (Eigen::Index i = 0; i < rows; ++i) seen[static_cast<std::size_t>(i)] = visible_keys(first + i);
  const Eigen::Index any_sees = rows == 0 ? 0 : *std::max_element(seen.begin(), seen.end());

  Eigen::Matrix<double, tile_rows, tile_cols, Eigen::RowMajor> tile;
  Eigen::MatrixXd converted;
  for (Eigen::Index j0 = 0; j0 < std::min(m, any_sees); j0 += tile_cols) {
    const Eigen::Index width = std::min(tile_cols, m - j0);
    const RowsInDouble::Rows terms = v.middle_rows(j0, width, converted);
    for (Eigen::Index i0 = 0; i0 < rows; i0 += tile_rows) {
      const Eigen::Index group = std::min(tile_rows, rows - i0);
      const Eigen::Index group_sees =
          *std::max_element(seen.begin() + i0, seen.begin() + i0 + group);  // causal rows see a prefix of keys
      if (group_sees <= j0) continue;
      tile.setZero();
      Eigen::Index previous = r;  // R_r = 0; adding terms l = k..previous−1 turns R_previous into R_k
      for (Eigen::Index slot = rank_count - 1; slot >= 0; --slot) {
        const Eigen::Index k = ranks[static_cast<std::size_t>(slot)];
        for (Eigen::Index t = 0; t < group; ++t) {
          const Eigen::Index keys = std::clamp<Eigen::Index>(seen[static_cast<std::size_t>(i0 + t)] - j0, 0, width);
          if (keys <= 0) continue;
          double* x = tile.row(t).data();
          // One term at a time, through the same arithmetic whether or not its rank is asked for, so an entry's
          // sum does not depend on the tile's shape or on the ranks; only the last term's pass compares.
          Extremes seen_here;
          for (Eigen::Index l = previous - 1; l > k; --l) {
            add_term<false>(x, terms.col(l).data(), weighted_u(i0 + t, l), keys);
          }
          if (previous > k) {
            seen_here = add_term<true>(x, terms.col(k).data(), weighted_u(i0 + t, k), keys);
          } else {  // no term to add (k = r): the tile as it is
            seen_here = {tile.row(t).head(keys).maxCoeff(), tile.row(t).head(keys).minCoeff()};
          }
          out.max(i0 + t, slot) = std::max(out.max(i0 + t, slot), seen_here.high);
          out.min(i0 + t, slot) = std::min(out.min(i0 + t, slot), seen_here.low);
        }
        previous = k;
      }
    }
  }
  return out;
}

}  // namespace attnspec::detail
