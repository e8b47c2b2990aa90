// attnspec: argument checks shared by every public entry point, so all error messages read alike.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <type_traits>

#include "../errors.hpp"

namespace attnspec::detail {

/// Throws attnspec::invalid_argument with "<function>: <parts...>" (what() adds "[attnspec.invalid_argument] ").
template <class... Parts>
[[noreturn]] void throw_invalid_argument(const char* function, const Parts&... parts) {
  std::ostringstream message;
  message.imbue(std::locale::classic());  // "1024", not a host locale's "1.024"
  message.precision(17);
  message << function << ": ";
  (message << ... << parts);
  throw attnspec::invalid_argument(message.str());
}

/// "rows x cols" of any Eigen object, for error messages.
template <class Derived>
std::string shape_of(const Eigen::EigenBase<Derived>& matrix) {
  return std::to_string(matrix.rows()) + "x" + std::to_string(matrix.cols());
}

template <class Derived>
void require_nonempty(const char* function, const char* argument, const Eigen::EigenBase<Derived>& matrix) {
  if (matrix.rows() == 0 || matrix.cols() == 0) {
    throw_invalid_argument(function, argument, " is empty (", shape_of(matrix), ")");
  }
}

/// The largest |entry| of a non-empty column-major matrix with contiguous columns, read as bit patterns: the
/// magnitude bits of IEEE numbers order like the integers they spell, with Inf and NaN above every finite value,
/// so an integer max — which compilers vectorise where the instruction set has one — finds the largest entry and
/// any non-finite one in one pass. Not finite when any entry is not.
template <class Derived>
typename Derived::Scalar largest_magnitude_by_bits(const Eigen::DenseBase<Derived>& matrix) {
  using Scalar = typename Derived::Scalar;
  using Bits = std::conditional_t<sizeof(Scalar) == 4, std::int32_t, std::int64_t>;
  static_assert(sizeof(Bits) == sizeof(Scalar) && std::numeric_limits<Scalar>::is_iec559);
  constexpr Bits magnitude = std::numeric_limits<Bits>::max();  // every bit but the sign
  Bits largest = 0;
  for (Eigen::Index j = 0; j < matrix.cols(); ++j) {
    const Scalar* column = matrix.derived().data() + j * matrix.derived().outerStride();
    Bits column_largest = 0;
    for (Eigen::Index i = 0; i < matrix.rows(); ++i) {
      Bits bits;
      std::memcpy(&bits, column + i, sizeof bits);
      bits &= magnitude;
      column_largest = bits > column_largest ? bits : column_largest;
    }
    largest = column_largest > largest ? column_largest : largest;
  }
  Scalar value;
  std::memcpy(&value, &largest, sizeof value);
  return value;
}

/// The same by two of Eigen's vectorised reductions, for any expression: max |x| (which may drop a NaN) and Σ x·0,
/// which is 0 exactly unless some x is Inf or NaN. (Eigen's NaN-propagating max is several times slower than both.)
template <class Derived>
typename Derived::Scalar largest_magnitude_by_reductions(const Eigen::DenseBase<Derived>& matrix) {
  using Scalar = typename Derived::Scalar;
  const Scalar largest = matrix.derived().cwiseAbs().maxCoeff();
  const Scalar zero = (matrix.derived().array() * Scalar(0)).sum();
  return zero == 0 ? largest : zero;
}

/// The largest |entry| of a non-empty matrix in one or two vectorised passes; not finite when any entry is not.
template <class Derived>
typename Derived::Scalar largest_magnitude(const Eigen::DenseBase<Derived>& matrix) {
  // Vector integer max (and 64-bit compare) arrive with SSE4.2 and NEON; plain SSE2 builds take the reductions.
#if defined(__SSE4_2__) || defined(__ARM_NEON)
  constexpr bool integer_max_vectorises = true;
#else
  constexpr bool integer_max_vectorises = false;
#endif
  if constexpr (integer_max_vectorises && bool(Derived::Flags & Eigen::DirectAccessBit) &&
                !bool(Derived::Flags & Eigen::RowMajorBit) && Derived::InnerStrideAtCompileTime == 1) {
    return largest_magnitude_by_bits(matrix);
  } else {
    return largest_magnitude_by_reductions(matrix);
  }
}

/// running(j) = max(running(j), largest |entry| of column j) for a column-major block; running(j) is not finite
/// once column j has held an entry that is not.
template <class Derived, class Running>
void update_column_largest(const Eigen::DenseBase<Derived>& block, Running& running) {
  if (block.rows() == 0) return;
  for (Eigen::Index j = 0; j < block.cols(); ++j) {
    const auto largest = largest_magnitude(block.derived().col(j));
    if (!(largest <= running(j))) running(j) = largest;  // a NaN replaces, never hides
  }
}

/// Whether every entry is finite: the largest |entry| as measured above is. (Eigen's allFinite() tests entry by
/// entry; on a field's inputs it took as long as a tenth of the whole spectrum.)
template <class Derived>
bool all_finite(const Eigen::DenseBase<Derived>& matrix) {
  return matrix.size() == 0 || std::isfinite(largest_magnitude(matrix));
}

/// Rejects NaN and +-Inf before any factorisation runs on the data, naming the first offending entry.
template <class Derived>
void require_finite(const char* function, const char* argument, const Eigen::DenseBase<Derived>& matrix) {
  if (all_finite(matrix)) return;
  for (Eigen::Index j = 0; j < matrix.cols(); ++j) {
    for (Eigen::Index i = 0; i < matrix.rows(); ++i) {
      const auto value = matrix(i, j);
      if (!std::isfinite(value)) {
        throw_invalid_argument(function, argument, "(", i, ", ", j, ") = ", value, " is not finite (", argument, " is ",
                               shape_of(matrix), ")");
      }
    }
  }
}

/// Rejects NaN and ±Inf in `converted`, the caller's `original` (rows from `first_row` on) cast to the analysis
/// precision, naming the entry in the caller's own indices and saying whether it was not finite to begin with or
/// overflowed that precision (1e300 in a double given to a float analysis).
template <class DerivedOriginal, class DerivedConverted>
void require_finite_after_cast(const char* function, const char* argument,
                               const Eigen::DenseBase<DerivedOriginal>& original,
                               const Eigen::DenseBase<DerivedConverted>& converted, Eigen::Index first_row = 0) {
  if (all_finite(converted)) return;
  using Converted = typename DerivedConverted::Scalar;
  for (Eigen::Index j = 0; j < converted.cols(); ++j) {
    for (Eigen::Index i = 0; i < converted.rows(); ++i) {
      if (std::isfinite(converted(i, j))) continue;
      const double value = static_cast<double>(original(first_row + i, j));
      throw_invalid_argument(function, argument, "(", first_row + i, ", ", j, ") = ", value,
                             std::isfinite(value) ? (std::is_same_v<Converted, float> ? " overflows float"
                                                                                      : " overflows the analysis type")
                                                  : " is not finite",
                             " (", argument, " is ", shape_of(original), ")");
    }
  }
}

inline void require_positive_finite(const char* function, const char* argument, double value) {
  if (!(std::isfinite(value) && value > 0)) {
    throw_invalid_argument(function, argument, " = ", value, " must be finite and > 0");
  }
}

inline void require_index_in_range(const char* function, const char* argument, Eigen::Index value, Eigen::Index size) {
  if (value < 0 || value >= size) {
    throw_invalid_argument(function, argument, " = ", value, " is out of range [0, ", size, ")");
  }
}

}  // namespace attnspec::detail
