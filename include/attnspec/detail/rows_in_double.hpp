// attnspec: a matrix read in double a block of rows at a time, whether it is held in double or in float — how the
// stability pass reads a field's Q, K and singular vectors without a double copy of a float field's.
#pragma once

#include <Eigen/Core>
#include <algorithm>

namespace attnspec::detail {

/// A matrix the pass reads in double, a block of rows at a time: views of the field's own storage when the field ran
/// in double, rows converted block by block from a float field's, so the pass holds no double copy of Q, K, U or V.
class RowsInDouble {
 public:
  using Rows = Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>>;

  explicit RowsInDouble(const Eigen::MatrixXd& x) : m_double(&x) {}
  explicit RowsInDouble(const Eigen::MatrixXf& x) : m_float(&x) {}
  Eigen::Index rows() const { return m_double != nullptr ? m_double->rows() : m_float->rows(); }
  Eigen::Index cols() const { return m_double != nullptr ? m_double->cols() : m_float->cols(); }
  /// Whether reading converts (and so costs a pass over the rows read).
  bool converts() const { return m_float != nullptr; }
  /// Rows [first, first + count) of columns [first_col, first_col + col_count): a view of a double matrix, or
  /// converted into `buffer`, valid until the buffer is used again. The buffer only grows, so reads allocate once.
  Rows block(Eigen::Index first, Eigen::Index count, Eigen::Index first_col, Eigen::Index col_count,
             Eigen::MatrixXd& buffer) const {
    if (m_double != nullptr) {
      const Eigen::Index stride = m_double->outerStride();
      return Rows(m_double->data() + first + first_col * stride, count, col_count, Eigen::OuterStride<>(stride));
    }
    if (buffer.rows() < count || buffer.cols() < col_count) {
      buffer.resize(std::max(count, buffer.rows()), std::max(col_count, buffer.cols()));
    }
    buffer.topLeftCorner(count, col_count) = m_float->block(first, first_col, count, col_count).cast<double>();
    return Rows(buffer.data(), count, col_count, Eigen::OuterStride<>(buffer.outerStride()));
  }
  Rows middle_rows(Eigen::Index first, Eigen::Index count, Eigen::MatrixXd& buffer) const {
    return block(first, count, 0, cols(), buffer);
  }

 private:
  const Eigen::MatrixXd* m_double = nullptr;
  const Eigen::MatrixXf* m_float = nullptr;
};

}  // namespace attnspec::detail
