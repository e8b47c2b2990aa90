// attnspec: the logit energy field of one attention head on one text, E~ = s·Q·K_cᵀ.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "algorithms.hpp"
#include "detail/checks.hpp"
#include "detail/extern_instantiation.hpp"
#include "detail/factor_rows.hpp"
#include "detail/factored_svd.hpp"
#include "detail/thread_workspace.hpp"

namespace attnspec {

/// How the field is built from Q and K.
struct FieldOptions {
  std::optional<double> scale;         ///< logit scale s; unset means 1/sqrt(d)
  bool center_rows = true;             ///< subtract each row's mean (E~); false gives the raw logits E = s·Q·Kᵀ
  Eigen::Index drop_leading_keys = 0;  ///< ignore the first j keys (an attention sink / BOS column)
  bool compute_vectors = false;        ///< also keep singular vectors (needed for rank_k_rows)
  /// Keep copies of the queries and keys as used (converted, centred) for queries(), keys() and dense(). The
  /// default, false, reads them block by block from the caller's memory and holds no copy: memory O(block·d) beyond
  /// the inputs, and no fresh n×d storage to touch per head. compute_vectors keeps them whatever this says (the
  /// vectors are lifted through them).
  bool keep_factors = false;
  FieldAlgorithm algorithm = FieldAlgorithm::accurate;
  /// Threads for one field (0: all hardware threads; Q and K are reduced concurrently when >= 2).
  /// analyse_model parallelises across heads instead and leaves this at 1.
  unsigned threads = 1;
};

namespace detail {
/// Selects the overloads that take over Q and K: both rvalues of exactly `Matrix` (a forwarding reference deduces
/// a plain type only for rvalues). An lvalue, an expression or another precision is read as given instead.
template <class Queries, class Keys, class Matrix>
using IfTakenOver = std::enable_if_t<std::is_same_v<Queries, Matrix> && std::is_same_v<Keys, Matrix>, int>;
}  // namespace detail

/// Spectrum of the n×m field of a head, computed from its n×d queries and m×d keys without forming n×m.
/// Centring the rows subtracts the mean key, since E·(I − 11ᵀ/m) = s·Q·(K − 1·k̄ᵀ)ᵀ.
template <typename Scalar = double>
class LogitEnergyField {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

  LogitEnergyField() = default;

  /// Queries Q (n×d) and keys K (m×d): any real dense Eigen expression or Map, in any precision.
  template <class DerivedQ, class DerivedK>
  LogitEnergyField(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                   const FieldOptions& options = {}) {
    compute(queries, keys, options);
  }
  /// Takes over Q and K, Matrix rvalues: see compute(Queries&&, Keys&&, const FieldOptions&).
  template <class Queries, class Keys, detail::IfTakenOver<Queries, Keys, Matrix> = 0>
  LogitEnergyField(Queries&& queries, Keys&& keys, const FieldOptions& options = {}) {
    compute(std::move(queries), std::move(keys), options);
  }

  /// (Re)computes the field for a new head. On error the object keeps the previous head's results.
  template <class DerivedQ, class DerivedK>
  LogitEnergyField& compute(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                            const FieldOptions& options = {}) {
    return compute_from(queries, keys, nullptr, nullptr, options);
  }
  /// The same from Q and K given up by the caller (both Matrix rvalues: std::move(q), std::move(k)), so that a
  /// head's factors exist once: when the field keeps them (keep_factors, compute_vectors) it keeps these matrices
  /// themselves, the keys centred in place, instead of copies (keys with drop_leading_keys > 0 are still copied).
  /// Both are left empty, whether kept or not (on error, unspecified).
  template <class Queries, class Keys, detail::IfTakenOver<Queries, Keys, Matrix> = 0>
  LogitEnergyField& compute(Queries&& queries, Keys&& keys, const FieldOptions& options = {}) {
    compute_from(queries, keys, &queries, &keys, options);
    queries.resize(0, 0);
    keys.resize(0, 0);
    return *this;
  }

  /// Singular values, descending; min(n, m', d) of them, where m' counts the keys kept.
  const Vector& singular_values() const { return m_svd.singular_values(); }
  /// n×r left singular vectors; requires FieldOptions::compute_vectors.
  const Matrix& left_singular_vectors() const { return m_svd.left_vectors("left_singular_vectors"); }
  /// m'×r right singular vectors; requires FieldOptions::compute_vectors.
  const Matrix& right_singular_vectors() const { return m_svd.right_vectors("right_singular_vectors"); }

  /// The queries as used (converted to Scalar); needs FieldOptions::keep_factors (or compute_vectors).
  const Matrix& queries() const { return kept("LogitEnergyField::queries", m_queries); }
  /// The keys as used: leading keys dropped, centred when rows are centred; needs FieldOptions::keep_factors (or
  /// compute_vectors).
  const Matrix& keys() const { return kept("LogitEnergyField::keys", m_keys); }
  Eigen::Index rows() const { return m_shape.rows; }
  Eigen::Index cols() const { return m_shape.cols; }
  Eigen::Index head_dim() const { return m_shape.head_dim; }
  double scale() const { return m_scale; }
  const FieldOptions& options() const { return m_options; }
  /// How Q and K were reduced (Cholesky QR in one or two passes, Householder or Gram): for diagnostics and benchmarks.
  FactorRoute query_route() const { return m_svd.route_a(); }
  FactorRoute key_route() const { return m_svd.route_b(); }

  /// The n×m' field itself. Allocates n×m': for small cases and for checking. Needs FieldOptions::keep_factors (or
  /// compute_vectors).
  Matrix dense() const {
    return static_cast<Scalar>(m_scale) * kept("LogitEnergyField::dense", m_queries) * m_keys.transpose();
  }

  /// Rows [first_row, first_row + row_count) of the best rank-k approximation; requires vectors.
  Matrix rank_k_rows(Eigen::Index k, Eigen::Index first_row, Eigen::Index row_count) const {
    constexpr const char* function = "LogitEnergyField::rank_k_rows";
    const Matrix& u = m_svd.left_vectors(function);
    const Matrix& v = m_svd.right_vectors(function);
    const Vector& sigma = singular_values();
    if (k < 0 || k > sigma.size()) {
      detail::throw_invalid_argument(function, "k = ", k, " is out of range [0, ", sigma.size(), "]");
    }
    if (first_row < 0 || row_count < 0 || first_row + row_count > rows()) {
      detail::throw_invalid_argument(function, "rows [", first_row, ", ", first_row + row_count,
                                     ") are out of range for a field with ", rows(), " rows");
    }
    return u.block(first_row, 0, row_count, k) * sigma.head(k).asDiagonal() * v.leftCols(k).transpose();
  }

 private:
  using Rows = detail::FactorRows<Scalar>;

  // `own_queries` / `own_keys`, when given, are the matrices behind `queries` / `keys`, which the caller gave up.
  template <class DerivedQ, class DerivedK>
  LogitEnergyField& compute_from(const Eigen::MatrixBase<DerivedQ>& queries, const Eigen::MatrixBase<DerivedK>& keys,
                                 Matrix* own_queries, Matrix* own_keys, const FieldOptions& options) {
    constexpr const char* function = "LogitEnergyField";
    detail::require_nonempty(function, "Q", queries);
    detail::require_nonempty(function, "K", keys);
    if (queries.cols() != keys.cols()) {
      detail::throw_invalid_argument(function, "Q (", detail::shape_of(queries), ") and K (", detail::shape_of(keys),
                                     ") must have the same number of columns (the head dimension d)");
    }
    if (options.drop_leading_keys < 0 || options.drop_leading_keys >= keys.rows()) {
      detail::throw_invalid_argument(function, "drop_leading_keys = ", options.drop_leading_keys,
                                     " must leave at least one of the ", keys.rows(), " keys (K is ",
                                     detail::shape_of(keys), ")");
    }
    // Taken now: matrices taken over are empty once kept.
    const Shape shape{queries.rows(), keys.rows() - options.drop_leading_keys, queries.cols()};
    const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(queries.cols())));
    detail::require_positive_finite(function, "scale", scale);
    if (options.algorithm == FieldAlgorithm::gram && options.compute_vectors) {
      detail::throw_invalid_argument(function,
                                     "FieldAlgorithm::gram computes singular values only; "
                                     "compute_vectors needs FieldAlgorithm::accurate");
    }

    // Float data take the Gram route on the accurate setting too: Gram matrices accumulated in double put σ_i
    // within ~1e-8·‖Q‖·‖K_c‖ (√ε of double), no more than the rounding of the float data themselves, in half
    // the time of CholeskyQR2 in float (docs/performance.md). Vectors still need the orthogonal factors.
    const bool grams_in_double =
        options.algorithm == FieldAlgorithm::gram || (std::is_same_v<Scalar, float> && !options.compute_vectors);
    auto decompose = [&](const Rows& used_queries, const Rows& used_keys) {
      if (grams_in_double) {
        m_svd.compute_from_grams(used_queries, used_keys, scale, options.threads, function);
      } else {
        m_svd.compute(used_queries, used_keys, scale, options.compute_vectors, options.threads, function);
      }
    };
    // The kernel publishes its results only on success, and the factors kept for queries(), keys() and dense() are
    // replaced only after it, so a head that fails leaves the previous one.
    const Eigen::Index dropped = options.drop_leading_keys;
    const detail::ThreadWorkspace<Readers> readers;
    FactorReader& query_reader = readers->queries;
    FactorReader& key_reader = readers->keys;
    // Float data summed in double never need rescaling: that route measures only the keys' mean up front and checks
    // finiteness as the kernel reads, one pass over Q and K fewer.
    const bool widened = grams_in_double && std::is_same_v<Scalar, float>;
    query_reader.measure(queries, 0, "Q", false, widened);
    key_reader.measure(keys, dropped, "K", options.center_rows, widened);
    if (options.compute_vectors) {
      // The vectors are lifted through Householder QRs of held factors: copies (or the caller's matrices, taken
      // over), swapped in on success.
      Matrix used_queries, used_keys;
      // Keys taken over are centred in place: checked first, so that an overflow leaves them as they were given.
      if (own_keys != nullptr) key_reader.require_centrable(keys);
      query_reader.keep(queries, own_queries, used_queries);
      key_reader.keep(keys, own_keys, used_keys);
      decompose(Rows::of(used_queries), Rows::of(used_keys));
      m_queries.swap(used_queries);
      m_keys.swap(used_keys);
    } else {
      // Values alone never need a factor whole: the kernel reads Q and K from the caller's memory, and the kept
      // copies are written afterwards into the previous head's storage (a fresh copy per head page-faults: 13% of a
      // float field's time at n = 4096, d = 128, native), unless the caller's matrices are taken over. Widened keys
      // are centred in double, where nothing overflows, and kept in Scalar, where a difference can: checked first,
      // so a head whose keys cannot be kept publishes nothing.
      if (options.keep_factors && widened) key_reader.require_centrable(keys);
      decompose(query_reader.rows(queries), key_reader.rows(keys));
      if (options.keep_factors) {
        query_reader.keep(queries, own_queries, m_queries);
        key_reader.keep(keys, own_keys, m_keys);
      } else {
        m_queries.resize(0, 0);
        m_keys.resize(0, 0);
      }
    }
    m_shape = shape;
    m_options = options;
    m_scale = scale;
    return *this;
  }

  // A factor read from the caller's memory 1,024 rows at a time: one pass checks it for finite entries and
  // measures it (its largest entry and, for keys to be centred, the mean that centring subtracts); the kernel then
  // reads it the same way — as views when the caller's matrix is column-major Scalar already, centred per block.
  // A `widened` factor (float data for the Gram route, which sums in double) is also read widened to double, centred
  // there; its measuring pass takes only the keys' mean, and those reads check finiteness.
  class FactorReader {
   public:
    template <class Derived>
    void measure(const Eigen::MatrixBase<Derived>& x, Eigen::Index first_row, const char* argument, bool centre,
                 bool widened) {
      m_first_row = first_row;
      m_rows = x.rows() - first_row;
      m_argument = argument;
      m_centred = centre;
      m_widened = widened;
      // Left empty when widened: not measured, and the kernel measures it only if its route needs it.
      m_column_largest = widened ? RowVector() : RowVector::Zero(x.cols());
      if (widened && !centre) return;
      // Keys are centred relative to the first key ("shifted data"), which keeps digits when all keys share a
      // large offset and makes constant keys centre to exactly zero; the mean of the differences sums in double.
      if (centre) {
        m_pivot = x.row(first_row).template cast<Scalar>();
        m_difference.resize(std::min(kRowsPerBlock, m_rows));
      }
      Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(x.cols());
      for (Eigen::Index first = 0; first < m_rows; first += kRowsPerBlock) {
        const Eigen::Index count = std::min(kRowsPerBlock, m_rows - first);
        const typename Rows::Block block = converted(x, first, count, m_converted);
        if (!centre) {
          detail::update_column_largest(block, m_column_largest);
          if (!m_column_largest.allFinite()) require_finite_rows(x, block, first);
          continue;
        }
        // Column by column through a buffer that stays in cache: the differences from the pivot, their sum and
        // (unless widened) their largest magnitude, which is not finite exactly when a key is not or a difference
        // overflows — the check of the keys themselves.
        for (Eigen::Index j = 0; j < x.cols(); ++j) {
          auto difference = m_difference.head(count);
          difference = block.col(j).array() - m_pivot(j);
          sum(j) += sum_in_double(difference);
          if (widened) continue;
          const Scalar largest = detail::largest_magnitude(difference);
          if (!std::isfinite(largest)) {
            require_finite_rows(x, block, first);
            throw_centring_overflow(x);
          }
          m_column_largest(j) = std::max(m_column_largest(j), largest);
        }
      }
      if (centre) {
        m_mean_wide = sum / static_cast<double>(m_rows);
        m_mean = m_mean_wide.template cast<Scalar>();
        m_pivot_wide = m_pivot.template cast<double>();
        // Column by column |k − pivot − mean| <= max|k − pivot| + |mean|, within a factor of four of the centred
        // keys' largest entry: all the kernel's choice of rescaling needs, without another pass. The sum can overflow
        // where no centred key does (keys near ±max/2); every finite centred key is within the largest finite value.
        if (!widened) {
          m_column_largest = (m_column_largest + m_mean.cwiseAbs()).cwiseMin(std::numeric_limits<Scalar>::max());
        }
        if (!m_mean.allFinite()) {
          // A key that is not finite (widened keys were not checked yet), or differences whose sum leaves the range.
          require_finite_rows(x);
          throw_centring_overflow(x);
        }
      }
    }

    // The kernel's view of the factor measured last; it reads `x`, which must outlive the returned rows' use.
    template <class Derived>
    Rows rows(const Eigen::MatrixBase<Derived>& x) {
      Rows factor;
      factor.rows = m_rows;
      factor.cols = x.cols();
      factor.column_largest = m_column_largest;
      factor.block_rows = kRowsPerBlock;
      factor.read = [this, &x](Eigen::Index first, Eigen::Index count) {
        const typename Rows::Block block = converted(x, first, count, m_buffer);
        if (!m_centred) return block;
        auto centred = buffer_rows(m_centred_block, count, x.cols());
        centred = block.rowwise() - m_pivot;
        centred.rowwise() -= m_mean;
        if (!detail::all_finite(centred)) throw_centring_overflow(x);
        return typename Rows::Block(centred.data(), count, x.cols(), Eigen::OuterStride<>(centred.outerStride()));
      };
      if (m_widened) {
        // The rows as given, widened and centred in double by the Gram route while it packs them (nothing
        // overflows there); checked only if the Gram matrix shows an entry that is not finite.
        factor.read_uncentred = [this, &x](Eigen::Index first, Eigen::Index count) {
          return converted(x, first, count, m_buffer);
        };
        if (m_centred) {
          factor.pivot_wide = m_pivot_wide;
          factor.mean_wide = m_mean_wide;
        }
        factor.require_finite = [this, &x] { require_finite_rows(x); };
      }
      return factor;
    }

    // The factor as the kernel read it (converted, centred) into `out`, whose storage is reused when the shape
    // matches.
    template <class Derived>
    void copy(const Eigen::MatrixBase<Derived>& x, Matrix& out) {
      const Rows factor = rows(x);
      out.resize(factor.rows, factor.cols);
      for_each_block(
          [&](Eigen::Index first, Eigen::Index count) { out.middleRows(first, count) = factor.read(first, count); });
    }

    // The same into `out`, but in `owned`'s storage when the caller gave x up (`owned` is x) and no leading rows
    // are dropped: centred in place, block by block through the read buffer, instead of copied. Keys must be known
    // to centre within Scalar's range first (require_centrable, or the kernel's own reads of them): a centring that
    // failed halfway would leave the caller's matrix half centred.
    template <class Derived>
    void keep(const Eigen::MatrixBase<Derived>& x, Matrix* owned, Matrix& out) {
      if (owned == nullptr || m_first_row != 0) return copy(x, out);
      if (m_centred) copy(x, *owned);
      out.swap(*owned);
    }

    // Throws as a read of the factor in Scalar would, when a block does not centre within Scalar's range; writes
    // nothing.
    template <class Derived>
    void require_centrable(const Eigen::MatrixBase<Derived>& x) {
      if (!m_centred) return;
      const Rows factor = rows(x);
      for_each_block([&](Eigen::Index first, Eigen::Index count) { factor.read(first, count); });
    }

   private:
    static constexpr Eigen::Index kRowsPerBlock = 1024;

    // visit(first, count) for the blocks of rows the reader reads, in order.
    template <class Visit>
    void for_each_block(Visit visit) const {
      for (Eigen::Index first = 0; first < m_rows; first += kRowsPerBlock) {
        visit(first, std::min(kRowsPerBlock, m_rows - first));
      }
    }

    // The sum of a column in double. Float sums entries 32 apart, 32 such sums side by side (vertical vector adds;
    // each within a few float roundings of exact), then adds those in double: Eigen's sum of a column cast to double
    // is not vectorised and took 15% of a float field, and sums of 32 consecutive entries, each ending in a
    // horizontal reduction, 4%.
    template <class Column>
    static double sum_in_double(const Column& column) {
      if constexpr (std::is_same_v<Scalar, double>) {
        return column.sum();
      } else {
        constexpr Eigen::Index kSums = 32;
        const Eigen::Index strided = column.size() / kSums * kSums;
        const Eigen::Map<const Eigen::Matrix<float, kSums, Eigen::Dynamic>> rows(column.data(), kSums, strided / kSums);
        const Eigen::Array<float, kSums, 1> sums = rows.rowwise().sum();
        return sums.template cast<double>().sum() + column.tail(column.size() - strided).template cast<double>().sum();
      }
    }

    // Throws naming the first entry of rows [first, first + count) that is not finite as read. Checked after
    // conversion, so a double too large for float is caught as well as NaN and Inf.
    template <class Derived>
    void require_finite_rows(const Eigen::MatrixBase<Derived>& x, const typename Rows::Block& block,
                             Eigen::Index first) const {
      if (!detail::all_finite(block)) {
        detail::require_finite_after_cast("LogitEnergyField", m_argument, x, block, m_first_row + first);
      }
    }

    // The same for every row read.
    template <class Derived>
    void require_finite_rows(const Eigen::MatrixBase<Derived>& x) {
      for_each_block([&](Eigen::Index first, Eigen::Index count) {
        require_finite_rows(x, converted(x, first, count, m_converted), first);
      });
    }

    // The top `count` rows of a buffer of kRowsPerBlock rows, allocated once: a shorter last block allocates nothing.
    template <class Buffer>
    static Eigen::Block<Buffer> buffer_rows(Buffer& buffer, Eigen::Index count, Eigen::Index cols) {
      if (buffer.rows() != kRowsPerBlock || buffer.cols() != cols) buffer.resize(kRowsPerBlock, cols);
      return buffer.topRows(count);
    }

    // Rows [first, first + count) in Scalar: a view of the caller's memory when it is column-major Scalar already,
    // otherwise converted into `buffer`.
    template <class Derived>
    typename Rows::Block converted(const Eigen::MatrixBase<Derived>& x, Eigen::Index first, Eigen::Index count,
                                   Matrix& buffer) const {
      const auto source = x.middleRows(m_first_row + first, count);
      if constexpr (std::is_same_v<typename Derived::Scalar, Scalar> && bool(Derived::Flags & Eigen::DirectAccessBit) &&
                    !bool(Derived::Flags & Eigen::RowMajorBit) && Derived::InnerStrideAtCompileTime == 1) {
        return typename Rows::Block(source.data(), count, x.cols(), Eigen::OuterStride<>(source.outerStride()));
      } else {
        auto rows = buffer_rows(buffer, count, x.cols());
        rows = source.template cast<Scalar>();
        return typename Rows::Block(rows.data(), count, x.cols(), Eigen::OuterStride<>(rows.outerStride()));
      }
    }

    Eigen::Index m_first_row = 0, m_rows = 0;
    const char* m_argument = "";
    bool m_centred = false, m_widened = false;
    RowVector m_column_largest, m_pivot, m_mean;
    Vector m_difference;
    Eigen::RowVectorXd m_pivot_wide, m_mean_wide;
    Matrix m_converted, m_buffer, m_centred_block;
  };

  // Differences of keys overflow only for entries within a factor of two of the largest finite value.
  template <class Derived>
  [[noreturn]] static void throw_centring_overflow(const Eigen::MatrixBase<Derived>& keys) {
    detail::throw_invalid_argument("LogitEnergyField", "centring K (", detail::shape_of(keys),
                                   ") overflows: its largest |entry| ", keys.cwiseAbs().maxCoeff(),
                                   " is too close to the largest finite value; "
                                   "scale the keys down and put the factor into FieldOptions::scale");
  }

  const Matrix& kept(const char* function, const Matrix& factor) const {
    if (!m_options.keep_factors && !m_options.compute_vectors) {
      detail::throw_invalid_argument(function,
                                     "the field kept no queries and keys (FieldOptions::keep_factors = false, the "
                                     "default); compute it with keep_factors = true to keep them");
    }
    return factor;
  }

  // The readers of Q and K with their block buffers, kept per thread (detail/thread_workspace.hpp).
  struct Readers {
    FactorReader queries, keys;
  };

  Matrix m_queries, m_keys;  // the factors actually used: converted, sink keys dropped, centred (when kept)
  struct Shape {
    Eigen::Index rows = 0, cols = 0, head_dim = 0;
  } m_shape;
  FieldOptions m_options;
  double m_scale = 0;
  detail::FactoredSvd<Scalar> m_svd;
};

}  // namespace attnspec

ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(attnspec::LogitEnergyField)
