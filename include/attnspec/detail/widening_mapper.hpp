// attnspec: a column-major float block as Eigen's GEMM packing routines see a double matrix — each packet converted
// (and shifted) as it is loaded — so a float factor's Gram matrix sums in double without a widened copy of its rows.
//
// Eigen's packing reads its operands through a "data mapper" (internal::const_blas_data_mapper: element and packet
// loads, sub-mappers, and linear mappers down one column). This is the same interface over float storage: the
// double matrix X − 1·pivotᵀ − 1·meanᵀ (two subtractions in double, the keys' centring), or its transpose. Packets
// always run down a column of X, the only direction the rank update's packing loads them in.
#pragma once

#include <Eigen/Core>

namespace attnspec::detail {

template <typename Float, bool Transposed>
class WideningMapper {
 public:
  using Index = Eigen::Index;

  /// Down one column of X from a given row: what the right-hand packing reads.
  class LinearMapper {
   public:
    LinearMapper(const Float* column, double pivot, double mean) : m_column(column), m_pivot(pivot), m_mean(mean) {}
    double operator()(Index row) const { return widened(m_column[row], m_pivot, m_mean); }
    template <class Packet>
    Packet loadPacket(Index row) const {
      return widened_packet<Packet>(m_column + row, m_pivot, m_mean);
    }

   private:
    const Float* m_column;
    double m_pivot, m_mean;
  };

  /// X (`stride` floats between columns) and, per column, the two shifts subtracted from it.
  WideningMapper(const Float* data, Index stride, const double* pivot, const double* mean)
      : m_data(data), m_stride(stride), m_pivot(pivot), m_mean(mean) {}

  // (i, j) of the mapped matrix: X(i, j), or X(j, i) when Transposed.
  double operator()(Index i, Index j) const {
    return widened(m_data[row_of(i, j) + column_of(i, j) * m_stride], m_pivot[column_of(i, j)],
                   m_mean[column_of(i, j)]);
  }
  template <class Packet>
  Packet loadPacket(Index i, Index j) const {
    return getLinearMapper(i, j).template loadPacket<Packet>(0);
  }
  WideningMapper getSubMapper(Index i, Index j) const {
    const Index column = column_of(i, j);
    return WideningMapper(m_data + row_of(i, j) + column * m_stride, m_stride, m_pivot + column, m_mean + column);
  }
  LinearMapper getLinearMapper(Index i, Index j) const {
    const Index column = column_of(i, j);
    return LinearMapper(m_data + row_of(i, j) + column * m_stride, m_pivot[column], m_mean[column]);
  }

 private:
  static Index row_of(Index i, Index j) { return Transposed ? j : i; }
  static Index column_of(Index i, Index j) { return Transposed ? i : j; }

  static double widened(Float x, double pivot, double mean) { return (static_cast<double>(x) - pivot) - mean; }

  // Consecutive entries of one column, widened through an aligned buffer; compilers turn the loop into one vector
  // conversion and two subtractions.
  template <class Packet>
  static Packet widened_packet(const Float* from, double pivot, double mean) {
    constexpr int kSize = Eigen::internal::unpacket_traits<Packet>::size;
    EIGEN_ALIGN_MAX double wide[kSize];
    for (int t = 0; t < kSize; ++t) wide[t] = widened(from[t], pivot, mean);
    return Eigen::internal::pload<Packet>(wide);
  }

  const Float* m_data;
  Index m_stride;
  const double *m_pivot, *m_mean;
};

}  // namespace attnspec::detail
