// attnspec: exact powers of two, one per column, that bring both factors of a product A·Bᵀ into the range where
// their squares neither overflow nor underflow, without changing the product's singular values beyond one overall
// power of two.
//
// Scaling A's whole factor by its largest entry is not enough: a column far below A's largest entry loses its
// squares to underflow, yet that column may be all of A·Bᵀ when B's matching column is large (A's large columns
// meeting zeros in B). Column j of A times 2^s_j and of B times 2^t_j, with s_j + t_j = −P for every column that
// meets a nonzero partner, gives A'·B'ᵀ = 2^−P·A·Bᵀ exactly; choosing both to put the column's largest entry near
// 2^((p_j − P)/2), where 2^p_j is the size of the column's contribution and 2^P the largest one, keeps every column
// that matters in range. A column whose partner is zero contributes nothing and is only brought to a largest entry
// in [1, 2). The kernel scales only when some column needs it (columns_in_range), so data in range (every real
// head) keeps the same bits.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "checks.hpp"
#include "factor_rows.hpp"

namespace attnspec::detail {

struct ColumnScaling {
  Eigen::VectorXi a, b;  ///< column j of A times 2^a(j), of B times 2^b(j); both empty when nothing is scaled
  int exponent = 0;      ///< A·Bᵀ = 2^exponent·A'·B'ᵀ
};

/// Each column's largest |entry|: the caller's measurement when it made one, otherwise read block by block.
template <typename Scalar>
typename FactorRows<Scalar>::RowVector column_largest(const FactorRows<Scalar>& x) {
  if (x.column_largest.size() == x.cols) return x.column_largest;
  typename FactorRows<Scalar>::RowVector largest = FactorRows<Scalar>::RowVector::Zero(x.cols);
  for (Eigen::Index first = 0; first < x.rows; first += x.block_rows) {
    update_column_largest(x.read(first, std::min(x.block_rows, x.rows - first)), largest);
  }
  return largest;
}

/// Whether the squares of a column with this largest |entry|, summed over `rows` rows, stay in range with their
/// leading digits: no scaling needed. Zero columns are always safe.
template <typename Scalar>
bool squares_are_safe(Scalar largest, Eigen::Index rows) {
  using std::sqrt;
  const Scalar lowest = sqrt(std::numeric_limits<Scalar>::min()) / std::numeric_limits<Scalar>::epsilon();
  const Scalar highest =
      sqrt(std::numeric_limits<Scalar>::max() / static_cast<Scalar>(std::max<Eigen::Index>(rows, 1))) / Scalar(4);
  return largest == 0 || (largest > lowest && largest < highest);
}

/// Whether no column of A (a_rows rows, columns' largest |entries| `a`) or B needs scaling.
template <typename Scalar, class Largest>
bool columns_in_range(const Largest& a, Eigen::Index a_rows, const Largest& b, Eigen::Index b_rows) {
  for (Eigen::Index j = 0; j < a.size(); ++j) {
    if (!squares_are_safe<Scalar>(a(j), a_rows) || !squares_are_safe<Scalar>(b(j), b_rows)) return false;
  }
  return true;
}

/// The scaling of A and B (columns' largest |entries| `a` and `b`) against each other (header comment): the
/// largest column contribution of A'·B'ᵀ lands in [1, 4).
template <typename Scalar, class Largest>
ColumnScaling balance_columns(const Largest& a, const Largest& b) {
  ColumnScaling scaling;
  const Eigen::Index d = a.size();
  auto power = [](Scalar largest) { return largest > 0 ? std::ilogb(largest) : 0; };
  bool any_contribution = false;
  int top = std::numeric_limits<int>::min();
  for (Eigen::Index j = 0; j < d; ++j) {
    if (a(j) > 0 && b(j) > 0) {
      any_contribution = true;
      top = std::max(top, power(a(j)) + power(b(j)));
    }
  }
  scaling.a.resize(d);
  scaling.b.resize(d);
  for (Eigen::Index j = 0; j < d; ++j) {
    scaling.a(j) = -power(a(j));
    scaling.b(j) = -power(b(j));
    if (a(j) > 0 && b(j) > 0) {
      // The column's share of the distance below the largest contribution, split between the two factors.
      const int below = power(a(j)) + power(b(j)) - top;  // <= 0
      const int half = -((1 - below) / 2);                // ⌊below / 2⌋
      scaling.a(j) += half;
      scaling.b(j) += below - half;
    }
  }
  scaling.exponent = any_contribution ? top : 0;
  return scaling;
}

}  // namespace attnspec::detail
