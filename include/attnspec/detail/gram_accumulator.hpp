// attnspec: G += XᵀX, lower triangle, for a factor X read block by block — Eigen's own SYRK kernel, with the
// packing buffers it needs kept from call to call; and the same for float rows summed in double, widened as they are
// packed.
//
// Why not selfAdjointView().rankUpdate(): it allocates those buffers (a few hundred kB) on every call and frees them
// at its end, and when the C library hands the freed memory back to the system each time, every call page-faults
// afresh. A factor read 1,024 rows at a time makes one call per block: measured in a user's program (float field read
// in place, n = 4096, d = 64, -march=native) that took 9.6 ms where the same arithmetic takes 1.5 ms.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <type_traits>

#include "widening_mapper.hpp"

namespace attnspec::detail {

template <typename Scalar>
class GramAccumulator {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  GramAccumulator() = default;
  // A copy starts with no buffers of its own (they are workspace, not state).
  GramAccumulator(const GramAccumulator&) {}
  GramAccumulator& operator=(const GramAccumulator&) { return *this; }
  GramAccumulator(GramAccumulator&&) noexcept = default;
  GramAccumulator& operator=(GramAccumulator&&) noexcept = default;
  ~GramAccumulator() = default;

  /// The lower triangle of `gram` (d×d) += rowsᵀ·rows for a column-major block of rows (count×d, any outer stride).
  template <class Block>
  void add(Matrix& gram, const Block& rows) {
    static_assert(!(Block::Flags & Eigen::RowMajorBit), "GramAccumulator::add reads a column-major block");
    const Eigen::Index size = gram.cols(), depth = rows.rows();
    if (depth == 0 || size == 0) return;
    prepare(size, depth);
    // rowsᵀ is a row-major d×count operand; the product rowsᵀ·rows updates the lower triangle only.
    Eigen::internal::general_matrix_matrix_triangular_product<
        Eigen::Index, Scalar, Eigen::RowMajor, false, Scalar, Eigen::ColMajor, false, Eigen::ColMajor, 1,
        Eigen::Lower>::run(size, depth, rows.data(), rows.outerStride(), rows.data(), rows.outerStride(), gram.data(),
                           1, gram.outerStride(), Scalar(1), *m_blocking);
  }

  /// gram (d×d, double) += XᵀX for X = rows − 1·pivotᵀ − 1·meanᵀ in double, rows a column-major float block (count×d,
  /// any outer stride), `pivot` and `mean` of d entries each or empty (no shift). The widened rows are never
  /// written out: Eigen's packing reads them through WideningMapper. Widening into a buffer first, which the packing
  /// then read twice, took 15% of a float field at n = 16384, d = 64 with -march=native.
  template <class Block>
  void add_widened(Eigen::MatrixXd& gram, const Block& rows, const Eigen::RowVectorXd& pivot,
                   const Eigen::RowVectorXd& mean) {
    static_assert(std::is_same_v<Scalar, double>, "GramAccumulator::add_widened sums in double");
    static_assert(std::is_same_v<typename Block::Scalar, float> && !(Block::Flags & Eigen::RowMajorBit),
                  "GramAccumulator::add_widened reads a column-major float block");
    const Eigen::Index size = gram.cols(), depth = rows.rows();
    if (depth == 0 || size == 0) return;
    if (m_zero.size() != size) m_zero.setZero(size);
    const double* pivot_data = pivot.size() == 0 ? m_zero.data() : pivot.data();
    const double* mean_data = mean.size() == 0 ? m_zero.data() : mean.data();
#ifdef EIGEN_USE_BLAS
    // Eigen hands a double rank update to the BLAS's dsyrk, whose kernels beat Eigen's own in a build without
    // -march (OpenBLAS, n = 16384, d = 64: 3.0x the float floor through the mappers, 1.9x through a buffer).
    using Shift = Eigen::Map<const Eigen::RowVectorXd>;
    m_widened = (rows.template cast<double>().rowwise() - Shift(pivot_data, size)).rowwise() - Shift(mean_data, size);
    add(gram, m_widened);
#else
    prepare(size, depth);
    add_packed_widened(gram, WideningMapper<float, true>(rows.data(), rows.outerStride(), pivot_data, mean_data),
                       WideningMapper<float, false>(rows.data(), rows.outerStride(), pivot_data, mean_data), depth);
#endif
  }

 private:
  // Eigen's own rank update (general_matrix_matrix_triangular_product::run, lower triangle) with operands read
  // through mappers: per slice of the depth, pack all of X's columns once as the right operand, then per panel of
  // mc columns pack Xᵀ as the left one, update the part left of the diagonal with the GEMM kernel and the diagonal
  // block with the triangular one.
  template <class TransposedMapper, class Mapper>
  void add_packed_widened(Eigen::MatrixXd& gram, const TransposedMapper& lhs, const Mapper& rhs, Eigen::Index depth) {
    using namespace Eigen::internal;
    using Traits = gebp_traits<double, double>;
    using Result = blas_data_mapper<double, Eigen::Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
    const Eigen::Index size = gram.cols();
    const Result result(gram.data(), gram.outerStride());
    const Eigen::Index kc = m_blocking->kc();
    Eigen::Index mc = std::min(size, m_blocking->mc());
    if (mc > Traits::nr) mc = (mc / Traits::nr) * Traits::nr;  // the triangular kernel needs whole nr panels
    double* const packed_lhs = m_blocking->blockA();
    double* const packed_rhs = m_blocking->blockB();
    gemm_pack_lhs<double, Eigen::Index, TransposedMapper, Traits::mr, Traits::LhsProgress,
                  typename Traits::LhsPacket4Packing, Eigen::RowMajor>
        pack_lhs;
    gemm_pack_rhs<double, Eigen::Index, Mapper, Traits::nr, Eigen::ColMajor> pack_rhs;
    gebp_kernel<double, double, Eigen::Index, Result, Traits::mr, Traits::nr, false, false> below_diagonal;
    tribb_kernel<double, double, Eigen::Index, Traits::mr, Traits::nr, false, false, 1, Eigen::Lower> on_diagonal;
    for (Eigen::Index k2 = 0; k2 < depth; k2 += kc) {
      const Eigen::Index slice = std::min(k2 + kc, depth) - k2;
      pack_rhs(packed_rhs, rhs.getSubMapper(k2, 0), slice, size);
      for (Eigen::Index i2 = 0; i2 < size; i2 += mc) {
        const Eigen::Index panel = std::min(i2 + mc, size) - i2;
        pack_lhs(packed_lhs, lhs.getSubMapper(i2, k2), slice, panel);
        below_diagonal(result.getSubMapper(i2, 0), packed_lhs, packed_rhs, panel, slice, std::min(size, i2), 1.0, -1,
                       -1, 0, 0);
        on_diagonal(gram.data() + gram.outerStride() * i2 + i2, 1, gram.outerStride(), packed_lhs,
                    packed_rhs + slice * i2, panel, slice, 1.0);
      }
    }
  }

  using Blocking = Eigen::internal::gemm_blocking_space<Eigen::ColMajor, Scalar, Scalar, Eigen::Dynamic, Eigen::Dynamic,
                                                        Eigen::Dynamic>;

  void prepare(Eigen::Index size, Eigen::Index depth) {
    if (!m_blocking || m_size != size || m_depth < depth) {
      // Block sizes are chosen for the largest depth seen; shorter blocks (a factor's last) reuse them.
      m_blocking = std::make_unique<Blocking>(size, size, depth, 1, false);
      m_blocking->allocateAll();
      m_size = size;
      m_depth = depth;
    }
  }

  std::unique_ptr<Blocking> m_blocking;
  Eigen::Index m_size = 0, m_depth = 0;
  Eigen::RowVectorXd m_zero;  // the shift of rows widened without one
#ifdef EIGEN_USE_BLAS
  Eigen::MatrixXd m_widened;
#endif
};

}  // namespace attnspec::detail
