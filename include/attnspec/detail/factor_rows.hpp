// attnspec: one tall-skinny factor of a product as the kernel reads it — a matrix held whole, or rows read block by
// block (converted, and centred for keys) straight from the caller's memory, so that a field over a million tokens
// needs no copy of its queries and keys.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <functional>

namespace attnspec::detail {

template <typename Scalar>
struct FactorRows {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  /// A block of rows: a view into the factor's storage or into a reader's buffer.
  using Block = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
  /// Rows [first, first + count) of the factor, valid until the reader is called again.
  using Reader = std::function<Block(Eigen::Index first, Eigen::Index count)>;

  using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

  Eigen::Index rows = 0, cols = 0;
  /// Each column's largest |entry|, or a bound at most four times it (they decide rescaling, column_scaling.hpp);
  /// empty when not measured yet, which the kernel then measures only where its route needs it (the Gram route
  /// does not).
  RowVector column_largest;
  Eigen::Index block_rows = 1;  ///< rows per read: all of them for a held matrix
  Reader read;
  /// Optional, for float factors, whose Gram route sums in double: the rows before centring, read without a check,
  /// and what centring subtracts from each column in double — the pivot, then the mean (both empty when the factor
  /// is not centred). The route widens and centres them while packing them for the rank update. Unset, it widens
  /// `read`'s rows as they are.
  Reader read_uncentred;
  Eigen::RowVectorXd pivot_wide, mean_wide;
  /// Set with read_uncentred: throws naming the factor's first entry that is not finite. Called when the Gram
  /// matrix's diagonal is not finite, which happens exactly when an entry is not (float entries squared and summed
  /// in double cannot overflow).
  std::function<void()> require_finite;
  const Matrix* held = nullptr;  ///< the factor itself, when it is held whole

  /// A matrix held whole, read as one block.
  static FactorRows of(const Matrix& x) {
    FactorRows factor;
    factor.rows = x.rows();
    factor.cols = x.cols();
    factor.block_rows = std::max<Eigen::Index>(x.rows(), 1);
    factor.held = &x;
    factor.read = [&x](Eigen::Index first, Eigen::Index count) {
      return Block(x.data() + first, count, x.cols(), Eigen::OuterStride<>(x.outerStride()));
    };
    return factor;
  }
};

}  // namespace attnspec::detail
