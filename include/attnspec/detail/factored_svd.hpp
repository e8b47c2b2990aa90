// attnspec: the one SVD kernel behind both fields. It takes the SVD of a product A·Bᵀ of two tall-skinny
// factors without ever forming the n×m product: thin QRs A = Q_A·R_A and B = Q_B·R_B leave a small core
// C = R_A·R_Bᵀ with the same singular values, and U = Q_A·U_C, V = Q_B·V_C.
//
// The core's singular values come from its Householder bidiagonalisation B and implicit-shift QR sweeps on B
// (bidiagonal_values.hpp). That is backward stable like an SVD (absolute error O(ε·σ₁)), takes a fraction of
// BDCSVD's time for d = 64…128 and compiles in a fraction of its time. The Gram route, whose error is already that of
// squared singular values, ends in the symmetric eigenvalues of CᵀC instead (tridiagonal_values.hpp). Vectors
// (asked for by the stability pass) come from the same sweeps with their rotations accumulated, and the
// bidiagonalisation's reflectors applied to them: a quarter of one-sided Jacobi's time at d = 128.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <type_traits>

#include "bidiagonal_values.hpp"
#include "checks.hpp"
#include "column_scaling.hpp"
#include "extern_instantiation.hpp"
#include "factor_rows.hpp"
#include "gram_accumulator.hpp"
#include "parallel_for.hpp"
#include "thread_workspace.hpp"
#include "triangular_factor.hpp"
#include "tridiagonal_values.hpp"

namespace attnspec::detail {

// Its workspace persists across calls (a head of the same shape allocates nothing new); its results — values,
// vectors, routes — change only when a call succeeds, so a caller keeps the previous head's results on error.
template <typename Scalar>
class FactoredSvd {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Rows = FactorRows<Scalar>;

  /// SVD of scale·a·bᵀ for a (n×d) and b (m×d), held or read block by block; singular vectors only when
  /// `with_vectors` (which needs held factors). With `threads` >= 2 the two factors are reduced concurrently (their
  /// readers then run at the same time). `caller` names the public function in errors.
  FactoredSvd& compute(const Rows& a, const Rows& b, double scale, bool with_vectors, unsigned threads,
                       const char* caller);
  FactoredSvd& compute(const Matrix& a, const Matrix& b, double scale, bool with_vectors, unsigned threads,
                       const char* caller) {
    return compute(Rows::of(a), Rows::of(b), scale, with_vectors, threads, caller);
  }

  /// Singular values only, from the two d×d Gram matrices accumulated in double: about the cost of the two XᵀX
  /// products alone, but σ_i carries an absolute error of order ε·σ₁²/σ_i (squared condition numbers), so values
  /// far below σ₁ lose digits. With Cholesky factors G_A = L_A·L_Aᵀ and G_B = L_B·L_Bᵀ, σ(A·Bᵀ) = σ(L_Aᵀ·L_B): the
  /// eigenvalues of G_A·G_B are those of L_Bᵀ·L_A·L_Aᵀ·L_B, which is how they are computed. A Gram matrix that is not
  /// positive definite (a rank-deficient factor, fewer rows than d) sends the product down the accurate route instead.
  FactoredSvd& compute_from_grams(const Rows& a, const Rows& b, double scale, unsigned threads, const char* caller);
  FactoredSvd& compute_from_grams(const Matrix& a, const Matrix& b, double scale, unsigned threads,
                                  const char* caller) {
    return compute_from_grams(Rows::of(a), Rows::of(b), scale, threads, caller);
  }

  const Vector& singular_values() const { return m_singular_values; }
  /// n×r left singular vectors (orthonormal columns); `caller` names the public function in the error
  /// thrown when the vectors were not asked for.
  const Matrix& left_vectors(const char* caller) const { return require_vectors(caller, m_u); }
  /// m×r right singular vectors (orthonormal columns).
  const Matrix& right_vectors(const char* caller) const { return require_vectors(caller, m_v); }
  /// How the factors a and b were reduced.
  FactorRoute route_a() const { return m_routes.first; }
  FactorRoute route_b() const { return m_routes.second; }

 private:
  // Workspace of one factor.
  struct FactorWork {
    TriangularFactor<Scalar> triangular;
    typename Rows::RowVector column_largest;  // each column's largest |entry|, as measured for the scaling
    Eigen::VectorXi column_exponents;         // the factor's column scaling (column_scaling.hpp); empty: none
    Eigen::MatrixXd gram;                     // the Gram route's
    GramAccumulator<double> accumulator;
    Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> cholesky;
  };
  // Everything a call works in, kept per thread (thread_workspace.hpp): a head of the same shape, in this object or
  // a fresh one, allocates nothing new.
  struct Workspace {
    FactorWork a, b;
    Matrix core;
    Eigen::MatrixXd core_double, lower_b, core_square;
    Eigen::Tridiagonalization<Eigen::MatrixXd> core_square_tridiagonal;  // the Gram route's
    Eigen::VectorXd core_square_values, core_square_off_diagonal;
  };

  template <class Step>
  static void for_both(Workspace& work, unsigned threads, Step&& step, const Rows& a, const Rows& b) {
    std::atomic<bool> stop{false};
    parallel_for(2, threads, stop, [&](std::size_t which) { which == 0 ? step(work.a, a) : step(work.b, b); });
  }

  // The factors stay unscaled and the scale (with any power of two the factors' rescaling took out) multiplies
  // only the singular values, in double, so scales from 1e-150 to 1e150 neither overflow nor underflow inside the
  // factorisations.
  template <class Values>
  static Vector scaled_singular_values(const Values& unscaled, double scale, int exponent, const char* caller) {
    const Eigen::VectorXd scaled = unscaled.template cast<double>() * scale;
    Vector values =
        scaled.unaryExpr([exponent](double value) { return std::ldexp(value, exponent); }).template cast<Scalar>();
    if (!values.allFinite()) {
      // long double: the product's own σ₁ may lie beyond double's range once the power of two is put back.
      throw_invalid_argument(caller, "scale = ", scale, " times the largest singular value of the unscaled product (",
                             std::ldexp(static_cast<long double>(unscaled(0)), exponent),
                             ") overflows the scalar type");
    }
    return values;
  }

  // The results of a call that succeeded; nothing here throws but allocation.
  void publish(Vector&& values, std::pair<FactorRoute, FactorRoute> routes, Matrix&& u, Matrix&& v, bool has_vectors) {
    m_singular_values.swap(values);
    m_routes = routes;
    m_u.swap(u);
    m_v.swap(v);
    m_has_vectors = has_vectors;
  }

  const Matrix& require_vectors(const char* caller, const Matrix& vectors) const {
    if (!m_has_vectors) {
      throw_invalid_argument(caller, "singular vectors were not computed; ask for them when computing");
    }
    return vectors;
  }

  // The singular values of `core`, descending: its bidiagonalisation, then QR sweeps on the bidiagonal (in double
  // whatever Scalar is: the core is small). With `left` and `right`, also the core's thin singular vectors. `core` is
  // overwritten.
  static Eigen::VectorXd core_singular_values(Eigen::MatrixXd& core, const char* caller,
                                              Eigen::MatrixXd* left = nullptr, Eigen::MatrixXd* right = nullptr);

  // The singular values of the square `core`, descending, as the square roots of CᵀC's eigenvalues: Householder
  // tridiagonalisation (half the reduction of the bidiagonal step), then root-free QL sweeps. Forming CᵀC moves σ_i²
  // by O(ε·σ₁²), so σ_i by O(ε·σ₁²/σ_i) and at most O(√ε·σ₁): the Gram route's own error model, and nothing else may
  // use this. `core` is overwritten.
  static Eigen::VectorXd core_singular_values_squared(Workspace& work, const char* caller) {
    Eigen::MatrixXd& core = work.core_double;
    // To a largest entry of 1, so CᵀC neither overflows nor loses its leading entries.
    const double core_scale = core.cwiseAbs().maxCoeff();
    if (core_scale == 0) return Eigen::VectorXd::Zero(core.cols());
    core /= core_scale;
    work.core_square.noalias() = core.transpose() * core;
    work.core_square_tridiagonal.compute(work.core_square);
    Eigen::VectorXd& values = work.core_square_values;
    values = work.core_square_tridiagonal.diagonal();
    work.core_square_off_diagonal = work.core_square_tridiagonal.subDiagonal();
    if (!tridiagonal_eigenvalues(values, work.core_square_off_diagonal)) {
      throw_invalid_argument(caller, "the eigenvalues of the ", core.cols(), "x", core.cols(),
                             " squared core did not converge");
    }
    // Ascending, and rounding may leave the smallest slightly negative.
    return core_scale * values.reverse().cwiseMax(0.0).cwiseSqrt();
  }

  // Q·[small; 0] for the orthogonal factor Q of `qr`, without forming Q itself.
  template <class Derived>
  static Matrix lift(const Eigen::HouseholderQR<Matrix>& qr, const Eigen::MatrixBase<Derived>& small) {
    Matrix lifted = Matrix::Zero(qr.rows(), small.cols());
    lifted.topRows(small.rows()) = small;
    lifted.applyOnTheLeft(qr.householderQ());
    return lifted;
  }

  // G = xᵀx in double; float data is widened (and, through the factor's read_uncentred, centred) while it is packed
  // for the rank update, so no double copy of any of x exists.
  static void gram_in_double(const Rows& x, FactorWork& work) {
    Eigen::MatrixXd& gram = work.gram;
    gram.setZero(x.cols, x.cols);
    const typename Rows::Reader& read = x.read_uncentred ? x.read_uncentred : x.read;
    for (Eigen::Index first = 0; first < x.rows; first += x.block_rows) {
      const Eigen::Index count = std::min(x.block_rows, x.rows - first);
      if constexpr (std::is_same_v<Scalar, double>) {
        work.accumulator.add(gram, read(first, count));
      } else {
        work.accumulator.add_widened(gram, read(first, count), x.pivot_wide, x.mean_wide);
      }
    }
    if (x.require_finite && !gram.diagonal().allFinite()) x.require_finite();
    gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
  }

  std::pair<FactorRoute, FactorRoute> m_routes{FactorRoute::householder, FactorRoute::householder};
  Vector m_singular_values;
  Matrix m_u, m_v;
  bool m_has_vectors = false;
};

// Defined outside the class, so they are not inline: with ATTNSPEC_EXTERN_TEMPLATES a translation unit that
// uses them leaves them to src/instantiations.cpp instead of compiling them again.

template <typename Scalar>
FactoredSvd<Scalar>& FactoredSvd<Scalar>::compute(const Rows& a, const Rows& b, double scale, bool with_vectors,
                                                  unsigned threads, const char* caller) {
  if (with_vectors && (!a.held || !b.held)) throw_invalid_argument(caller, "singular vectors need held factors");
  ThreadWorkspace<Workspace> work;
  // The workspace outlives the call: it keeps block-sized and d×d buffers, not whole factors.
  struct ReleaseWholeFactors {
    Workspace& work;
    ~ReleaseWholeFactors() {
      work.a.triangular.release_whole_factor();
      work.b.triangular.release_whole_factor();
    }
  } release{*work};
  // A factor the caller did not measure (a held copy) is read here, each on its own thread like the reductions.
  const bool unmeasured = a.column_largest.size() != a.cols || b.column_largest.size() != b.cols;
  for_both(
      *work, unmeasured ? threads : 1,
      [](FactorWork& factor, const Rows& x) { factor.column_largest = column_largest(x); }, a, b);
  const auto& a_largest = work->a.column_largest;
  const auto& b_largest = work->b.column_largest;
  ColumnScaling scaling;
  if (!columns_in_range<Scalar>(a_largest, a.rows, b_largest, b.rows)) {
    scaling = balance_columns<Scalar>(a_largest, b_largest);
  }
  work->a.column_exponents.swap(scaling.a);
  work->b.column_exponents.swap(scaling.b);
  const int exponent = scaling.exponent;
  // Lifting the core's vectors needs Q, which only the Householder route keeps (implicitly).
  for_both(
      *work, threads,
      [&](FactorWork& factor, const Rows& x) { factor.triangular.compute(x, with_vectors, factor.column_exponents); },
      a, b);
  work->core.noalias() = work->a.triangular.r() * work->b.triangular.r().transpose();
  work->core_double = work->core.template cast<double>();
  const std::pair<FactorRoute, FactorRoute> routes{work->a.triangular.route(), work->b.triangular.route()};
  if (with_vectors) {
    Eigen::MatrixXd left, right;
    Vector values =
        scaled_singular_values(core_singular_values(work->core_double, caller, &left, &right), scale, exponent, caller);
    publish(std::move(values), routes, lift(work->a.triangular.householder(), left.template cast<Scalar>()),
            lift(work->b.triangular.householder(), right.template cast<Scalar>()), true);
  } else {
    publish(scaled_singular_values(core_singular_values(work->core_double, caller), scale, exponent, caller), routes,
            Matrix(), Matrix(), false);
  }
  return *this;
}

template <typename Scalar>
FactoredSvd<Scalar>& FactoredSvd<Scalar>::compute_from_grams(const Rows& a, const Rows& b, double scale,
                                                             unsigned threads, const char* caller) {
  {
    ThreadWorkspace<Workspace> work;
    for_both(
        *work, threads,
        [](FactorWork& factor, const Rows& x) {
          gram_in_double(x, factor);
          factor.cholesky.compute(factor.gram);
        },
        a, b);
    if (!work->a.gram.allFinite() || !work->b.gram.allFinite()) {
      throw_invalid_argument(caller,
                             "the Gram matrices of the factors overflow double; entries this large need "
                             "FieldAlgorithm::accurate");
    }
    if (work->a.cholesky.info() == Eigen::Success && work->b.cholesky.info() == Eigen::Success) {
      work->lower_b = work->b.cholesky.matrixL();
      work->core_double.noalias() = work->a.cholesky.matrixU() * work->lower_b;  // L_Aᵀ·L_B
      publish(scaled_singular_values(core_singular_values_squared(*work, caller), scale, 0, caller),
              {FactorRoute::gram, FactorRoute::gram}, Matrix(), Matrix(), false);
      return *this;
    }
  }
  // A Gram matrix that is not positive definite: the accurate route, with the workspace handed back first.
  return compute(a, b, scale, false, threads, caller);
}

template <typename Scalar>
Eigen::VectorXd FactoredSvd<Scalar>::core_singular_values(Eigen::MatrixXd& core, const char* caller,
                                                          Eigen::MatrixXd* left, Eigen::MatrixXd* right) {
  // Bidiagonalisation needs rows >= cols; the transpose's left vectors are the core's right ones.
  if (core.rows() < core.cols()) {
    core.transposeInPlace();
    std::swap(left, right);
  }
  const Eigen::Index rows = core.rows(), q = core.cols();
  // To a largest entry of 1, so the Householder vectors' squared norms neither overflow nor underflow.
  const double core_scale = core.cwiseAbs().maxCoeff();
  if (core_scale == 0) {  // every vector is a singular vector of a zero core
    if (left) *left = Eigen::MatrixXd::Identity(rows, q);
    if (right) *right = Eigen::MatrixXd::Identity(q, q);
    return Eigen::VectorXd::Zero(q);
  }
  core /= core_scale;
  // Unblocked Householder bidiagonalisation: as fast as the blocked one at these sizes, and it does not instantiate
  // the row-major products the blocked one needs. It leaves core = U_B·B·V_Bᵀ with U_B's reflectors in the columns
  // below the diagonal (their coefficients on it) and V_B's in the rows right of the superdiagonal.
  Eigen::VectorXd diagonal_b(q), upper_b(q), workspace(rows);
  Eigen::internal::upperbidiagonalization_inplace_unblocked(core, diagonal_b.data(), upper_b.data(), workspace.data());
  bool converged = false;
  if (left == nullptr) {
    converged = bidiagonal_singular_values(diagonal_b, upper_b);
  } else {
    Eigen::MatrixXd rotations_left = Eigen::MatrixXd::Identity(q, q), rotations_right = rotations_left;
    converged = bidiagonal_singular_values(diagonal_b, upper_b, &rotations_left, &rotations_right);
    const Eigen::VectorXd u_coefficients = core.diagonal();
    const Eigen::VectorXd v_coefficients = core.diagonal<1>();
    const Eigen::HouseholderSequence<Eigen::MatrixXd, Eigen::VectorXd> u_b(core, u_coefficients);
    Eigen::HouseholderSequence<Eigen::MatrixXd, Eigen::VectorXd, Eigen::OnTheRight> v_b(core, v_coefficients);
    v_b.setLength(q - 1).setShift(1);
    *left = Eigen::MatrixXd::Zero(rows, q);
    left->topRows(q) = rotations_left;
    left->applyOnTheLeft(u_b);
    *right = v_b * rotations_right;
  }
  if (!converged) {
    throw_invalid_argument(caller, "the singular values of the ", rows, "x", q, " core did not converge");
  }
  return core_scale * diagonal_b;
}

}  // namespace attnspec::detail

ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(attnspec::detail::FactoredSvd)
