// The kernels under the field and the stability pass: the bidiagonal QR sweeps (detail/bidiagonal_values.hpp)
// against Jacobi SVD on structured and adversarial bidiagonals, the root-free tridiagonal QL sweeps
// (detail/tridiagonal_values.hpp) against a long double eigensolver, the inputs' largest-entry scan
// (detail/checks.hpp), float fields through Gram matrices in double, and the residual's row extremes at every rank
// (detail/residual_extremes.hpp) against dense residuals.
#include <attnspec/detail/bidiagonal_values.hpp>
#include <attnspec/detail/checks.hpp>
#include <attnspec/detail/gram_accumulator.hpp>
#include <attnspec/detail/residual_extremes.hpp>
#include <attnspec/detail/tridiagonal_values.hpp>
#include <attnspec/logit_energy_field.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <tuple>
#include <vector>

#include "test_support.hpp"

using namespace attnspec_test;

namespace {

MatrixXd bidiagonal_matrix(const VectorXd& diagonal, const VectorXd& upper) {
  const Index q = diagonal.size();
  MatrixXd b = MatrixXd::Zero(q, q);
  for (Index i = 0; i < q; ++i) {
    b(i, i) = diagonal(i);
    if (i + 1 < q) b(i, i + 1) = upper(i);
  }
  return b;
}

// The kernel's values next to Jacobi SVD of the same bidiagonal, to 1e-13·σ₁: both are backward stable, with
// errors growing like q·ε (about 5e-14·σ₁ between the two at q = 128).
void require_bidiagonal_values(const VectorXd& diagonal, const VectorXd& upper) {
  const VectorXd expected = dense_singular_values(bidiagonal_matrix(diagonal, upper));
  VectorXd values = diagonal, superdiagonal = upper;
  REQUIRE(attnspec::detail::bidiagonal_singular_values(values, superdiagonal));
  const double scale = std::max(expected.size() > 0 ? expected(0) : 0.0, std::numeric_limits<double>::min());
  INFO("diagonal = " << diagonal.transpose() << "\nupper = " << upper.transpose());
  CHECK((values - expected).cwiseAbs().maxCoeff() <= 1e-13 * scale);
  // With vectors: the same values bit for bit (the rotations do not touch them), orthonormal vectors, and
  // B = U·diag(σ)·Vᵀ back to 1e-13·σ₁.
  const Index q = diagonal.size();
  VectorXd with_vectors = diagonal, upper_copy = upper;
  MatrixXd left = MatrixXd::Identity(q, q), right = MatrixXd::Identity(q, q);
  REQUIRE(attnspec::detail::bidiagonal_singular_values(with_vectors, upper_copy, &left, &right));
  CHECK(with_vectors == values);
  CHECK((left.transpose() * left - MatrixXd::Identity(q, q)).cwiseAbs().maxCoeff() <= 1e-13);
  CHECK((right.transpose() * right - MatrixXd::Identity(q, q)).cwiseAbs().maxCoeff() <= 1e-13);
  const MatrixXd rebuilt = left * with_vectors.asDiagonal() * right.transpose();
  CHECK((rebuilt - bidiagonal_matrix(diagonal, upper)).cwiseAbs().maxCoeff() <= 1e-13 * scale);
}

}  // namespace

TEST_CASE("bidiagonal QR sweeps match Jacobi SVD on structured and adversarial bidiagonals", "[kernels]") {
  std::mt19937_64 rng(82);
  require_bidiagonal_values(VectorXd::Constant(1, -3.0), VectorXd::Zero(1));
  require_bidiagonal_values(VectorXd::Zero(5), VectorXd::Zero(5));  // all zero
  for (const Index q : {2, 3, 7, 40, 128}) {
    INFO("q = " << q);
    const VectorXd d = gaussian(q, 1, rng), e = gaussian(q, 1, rng);
    require_bidiagonal_values(d, e);                                  // random signs
    require_bidiagonal_values(VectorXd::Ones(q), VectorXd::Ones(q));  // clustered values
    require_bidiagonal_values(VectorXd::Zero(q), e);                  // every diagonal entry zero
    require_bidiagonal_values(d, 1e-300 * e);                         // already diagonal to rounding
    VectorXd graded = d, holes = d, split = e;
    for (Index i = 0; i < q; ++i) {
      graded(i) *= std::pow(10.0, -12.0 * double(i) / double(q));  // ten decades, either end large
      if (i % 3 == 1) holes(i) = 0;                                // zeros inside the blocks
      if (i % 4 == 2) split(i) = 0;                                // blocks that split at once
    }
    require_bidiagonal_values(graded, e);
    require_bidiagonal_values(graded.reverse(), e);
    require_bidiagonal_values(holes, e);
    require_bidiagonal_values(d, split);
    require_bidiagonal_values(1e-200 * d, 1e-200 * e);  // squares underflow
    require_bidiagonal_values(1e200 * d, 1e200 * e);    // squares overflow
  }
}

namespace {

// The QL sweeps' eigenvalues next to Eigen's symmetric eigensolver run in long double on the same matrix, to
// 1e-13·max|T| (the sweeps are backward stable; the two agree to about 1e-14 at n = 128).
void require_tridiagonal_values(const VectorXd& diagonal, const VectorXd& off) {
  using LongMatrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
  const Index n = diagonal.size();
  LongMatrix t = LongMatrix::Zero(n, n);
  t.diagonal() = diagonal.cast<long double>();
  if (n > 1) {
    t.diagonal<1>() = off.head(n - 1).cast<long double>();
    t.diagonal<-1>() = off.head(n - 1).cast<long double>();
  }
  const Eigen::SelfAdjointEigenSolver<LongMatrix> exact(t, Eigen::EigenvaluesOnly);
  REQUIRE(exact.info() == Eigen::Success);
  VectorXd values = diagonal, coupling = off;
  REQUIRE(attnspec::detail::tridiagonal_eigenvalues(values, coupling));
  const double scale = std::max(double(t.cwiseAbs().maxCoeff()), std::numeric_limits<double>::min());
  INFO("diagonal = " << diagonal.transpose() << "\noff = " << off.transpose());
  REQUIRE(values.size() == n);
  CHECK((values - exact.eigenvalues().cast<double>()).cwiseAbs().maxCoeff() <= 1e-13 * scale);
}

}  // namespace

TEST_CASE("root-free QL sweeps match a long double eigensolver on structured and adversarial tridiagonals",
          "[kernels]") {
  std::mt19937_64 rng(83);
  require_tridiagonal_values(VectorXd::Constant(1, -3.0), VectorXd::Zero(0));
  require_tridiagonal_values(VectorXd::Zero(4), VectorXd::Zero(3));                  // all zero
  require_tridiagonal_values((VectorXd(2) << 1, 1).finished(), VectorXd::Ones(1));   // 2×2, equal diagonal
  require_tridiagonal_values((VectorXd(2) << 1, -1).finished(), VectorXd::Ones(1));  // 2×2, zero trace
  require_tridiagonal_values((VectorXd(2) << 1, 1e-12).finished(), VectorXd::Constant(1, 1e-7));  // tiny det
  for (const Index n : {3, 7, 40, 128}) {
    INFO("n = " << n);
    const VectorXd d = gaussian(n, 1, rng), e = gaussian(n - 1, 1, rng);
    require_tridiagonal_values(d, e);                                      // random signs
    require_tridiagonal_values(VectorXd::Ones(n), VectorXd::Ones(n - 1));  // 2cos spectrum shifted
    require_tridiagonal_values(VectorXd::Zero(n), e);                      // every diagonal entry zero
    require_tridiagonal_values(d, 1e-200 * e);                             // squared couplings underflow
    require_tridiagonal_values(d, 1e-9 * e);                               // nearly diagonal
    require_tridiagonal_values(d, gaussian(n, 1, rng));  // longer: only its first n − 1 entries count
    VectorXd graded = d.cwiseAbs(), split = e, wilkinson(n);
    for (Index i = 0; i < n; ++i) {
      graded(i) *= std::pow(10.0, -12.0 * double(i) / double(n));  // twelve decades, either end large
      if (i % 4 == 2 && i < n - 1) split(i) = 0;                   // blocks that split at once
      wilkinson(i) = double(std::abs(n / 2 - i));                  // eigenvalues in close pairs
    }
    require_tridiagonal_values(graded, e.cwiseAbs() * 1e-3);
    require_tridiagonal_values(graded.reverse(), e.cwiseAbs() * 1e-3);
    require_tridiagonal_values(d, split);
    require_tridiagonal_values(wilkinson, VectorXd::Ones(n - 1));
    // The tridiagonal the Gram route sees: of CᵀC for a core with decaying columns and a zero one (semidefinite).
    MatrixXd core = gaussian(n, n, rng);
    for (Index j = 0; j < n; ++j) core.col(j) *= std::pow(0.6, double(j));
    core.col(n / 2).setZero();
    const Eigen::Tridiagonalization<MatrixXd> reduced(core.transpose() * core);
    require_tridiagonal_values(reduced.diagonal(), reduced.subDiagonal());
  }
}

namespace {

// The reference: entry by entry, NaN and Inf reported as not finite.
template <class Matrix>
double largest_entry_by_loop(const Matrix& m, bool& finite) {
  double largest = 0;
  finite = true;
  for (Index j = 0; j < m.cols(); ++j) {
    for (Index i = 0; i < m.rows(); ++i) {
      finite = finite && std::isfinite(m(i, j));
      largest = std::max(largest, std::abs(double(m(i, j))));
    }
  }
  return largest;
}

template <class Matrix>
void require_largest_magnitude(const Matrix& m) {
  bool finite = true;
  const double expected = largest_entry_by_loop(m, finite);
  using attnspec::detail::largest_magnitude;
  using attnspec::detail::largest_magnitude_by_bits;
  using attnspec::detail::largest_magnitude_by_reductions;
  INFO(m.rows() << "x" << m.cols() << ", finite: " << finite);
  // A strided view of the same entries (the field's block readers pass these) and a row-major copy.
  typename Matrix::PlainObject padded = Matrix::PlainObject::Constant(m.rows() + 3, m.cols(), 0);
  padded.topRows(m.rows()) = m;
  const auto view = padded.topRows(m.rows());
  const Eigen::Matrix<typename Matrix::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = m;
  for (const double got : {double(largest_magnitude_by_bits(m)), double(largest_magnitude_by_reductions(m)),
                           double(largest_magnitude(m)), double(largest_magnitude_by_bits(view)),
                           double(largest_magnitude(view)), double(largest_magnitude(row_major))}) {
    if (finite) {
      CHECK(got == expected);
    } else {
      CHECK_FALSE(std::isfinite(got));
    }
  }
  CHECK(attnspec::detail::all_finite(m) == finite);
}

}  // namespace

TEMPLATE_TEST_CASE("the largest-entry scan finds the largest magnitude and every NaN and Inf", "[kernels]", float,
                   double) {
  using Matrix = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic>;
  std::mt19937_64 rng(84);
  const TestType nan = std::numeric_limits<TestType>::quiet_NaN(), inf = std::numeric_limits<TestType>::infinity();
  for (const Index rows : {1, 7, 64, 1027}) {
    for (const Index cols : {1, 3}) {
      const Matrix random = gaussian(rows, cols, rng).template cast<TestType>();
      require_largest_magnitude(random);
      // The largest entry negative, at either end; tiny, subnormal, huge and signed-zero entries.
      Matrix edges = random;
      edges(rows - 1, cols - 1) = -std::numeric_limits<TestType>::max();
      require_largest_magnitude(edges);
      edges = Matrix::Constant(rows, cols, TestType(-0.0));
      require_largest_magnitude(edges);
      edges(0, 0) = -std::numeric_limits<TestType>::denorm_min();
      require_largest_magnitude(edges);
      // One NaN or Inf anywhere: first, last, inside a vector's lanes; quiet and signalling NaN, negative NaN.
      for (const Index at : {Index(0), rows * cols - 1, (rows * cols) / 2}) {
        for (const TestType bad : {nan, -nan, inf, -inf, std::numeric_limits<TestType>::signaling_NaN()}) {
          Matrix poisoned = random;
          poisoned(at % rows, at / rows) = bad;
          require_largest_magnitude(poisoned);
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("the Gram accumulator adds XᵀX block by block with its buffers kept across shapes", "[kernels]",
                   float, double) {
  using Matrix = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic>;
  std::mt19937_64 rng(85);
  attnspec::detail::GramAccumulator<TestType> accumulator;
  // Depths that grow (new block sizes) and shrink (reused buffers), head dimensions that change, a strided view.
  for (const auto& [rows, d, block] : std::vector<std::tuple<Index, Index, Index>>{
           {5, 3, 5}, {3000, 64, 1024}, {2000, 64, 333}, {700, 128, 1024}, {4096, 16, 4096}, {1, 1, 1}}) {
    INFO(rows << "x" << d << " in blocks of " << block);
    const Matrix x = gaussian(rows, d, rng).template cast<TestType>();
    Matrix gram = Matrix::Zero(d, d);
    for (Index first = 0; first < rows; first += block) {
      const Index count = std::min(block, rows - first);
      accumulator.add(gram, x.middleRows(first, count));
    }
    const Matrix expected =
        (x.template cast<double>().transpose() * x.template cast<double>()).template cast<TestType>();
    const double scale = expected.diagonal().template cast<double>().maxCoeff();
    const Matrix lower_expected = expected.template triangularView<Eigen::Lower>();
    const Matrix lower_gram = gram.template triangularView<Eigen::Lower>();
    CHECK((lower_gram - lower_expected).template cast<double>().cwiseAbs().maxCoeff() <=
          50 * std::numeric_limits<TestType>::epsilon() * std::sqrt(double(rows)) * scale);
    CHECK(gram.template triangularView<Eigen::StrictlyUpper>().toDenseMatrix().isZero(0));  // only the lower half
  }
  // A copy starts without buffers and still adds correctly.
  const attnspec::detail::GramAccumulator<TestType> copy = accumulator;
  attnspec::detail::GramAccumulator<TestType> again = copy;
  const Matrix x = gaussian(50, 4, rng).template cast<TestType>();
  Matrix gram = Matrix::Zero(4, 4);
  again.add(gram, x);
  const Matrix expected = x.transpose() * x;
  CHECK((gram - expected).template triangularView<Eigen::Lower>().toDenseMatrix().cwiseAbs().maxCoeff() <=
        1e-4 * expected.norm());
}

TEST_CASE("float fields take the Gram route in double, and CholeskyQR2 where a Gram matrix is singular",
          "[kernels][field]") {
  std::mt19937_64 rng(83);
  const MatrixXd q = gaussian(600, 32, rng), k = gaussian(500, 32, rng);
  const attnspec::LogitEnergyField<float> field(q, k);
  CHECK(field.query_route() == attnspec::FactorRoute::gram);
  const MatrixXd q_rounded = q.cast<float>().cast<double>(), k_rounded = k.cast<float>().cast<double>();
  require_same_spectrum(field.singular_values(),
                        dense_singular_values(reference_field(q_rounded, k_rounded, field.scale(), true)),
                        spectrum_tolerance<float>());
  // Q of rank 16 in 32 columns: QᵀQ is singular, so the float factorisation takes over and still agrees.
  const MatrixXd deficient = gaussian(600, 16, rng) * gaussian(16, 32, rng);
  const attnspec::LogitEnergyField<float> fallback(deficient, k);
  CHECK(fallback.query_route() != attnspec::FactorRoute::gram);
  const MatrixXd deficient_rounded = deficient.cast<float>().cast<double>();
  require_same_spectrum(fallback.singular_values(),
                        dense_singular_values(reference_field(deficient_rounded, k_rounded, fallback.scale(), true)),
                        spectrum_tolerance<float>());
  attnspec::FieldOptions with_vectors;
  with_vectors.compute_vectors = true;
  CHECK(attnspec::LogitEnergyField<float>(q, k, with_vectors).query_route() != attnspec::FactorRoute::gram);
}

namespace {

// max and min of each row of R_k = W[:, k:]·V[:, k:]ᵀ over its first visible(i) entries, formed densely.
attnspec::detail::ResidualExtremes dense_extremes(const MatrixXd& w, const MatrixXd& v, const std::vector<Index>& ranks,
                                                  const std::vector<Index>& visible) {
  const Index n = w.rows(), r = w.cols();
  attnspec::detail::ResidualExtremes out;
  out.max.setConstant(n, Index(ranks.size()), -std::numeric_limits<double>::infinity());
  out.min.setConstant(n, Index(ranks.size()), std::numeric_limits<double>::infinity());
  for (std::size_t slot = 0; slot < ranks.size(); ++slot) {
    const Index k = ranks[slot];
    const MatrixXd residual = w.rightCols(r - k) * v.rightCols(r - k).transpose();
    for (Index i = 0; i < n; ++i) {
      if (visible[std::size_t(i)] == 0) continue;
      out.max(i, Index(slot)) = residual.row(i).head(visible[std::size_t(i)]).maxCoeff();
      out.min(i, Index(slot)) = residual.row(i).head(visible[std::size_t(i)]).minCoeff();
    }
  }
  return out;
}

bool same_bits(const MatrixXd& a, const MatrixXd& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * std::size_t(a.size())) == 0;
}

}  // namespace

TEST_CASE("the residual's row extremes at every rank match dense residuals across tiles, prefixes and rank subsets",
          "[kernels]") {
  std::mt19937_64 rng(83);
  using attnspec::detail::residual_extremes;
  struct Case {
    Index n, m, r;
    const char* visibility;  // every key, a causal prefix, or a count drawn per row (not monotone)
    double magnitude;
  };
  // Key counts around the 8-entry chunks and the 512-key tiles; row counts around the 8-row tiles; entries from
  // 1e-150 to 1e150 (the kernel must neither underflow to a false zero oscillation nor overflow).
  for (const Case& c :
       {Case{1, 1, 1, "all", 1.0}, Case{9, 7, 3, "all", 1.0}, Case{8, 8, 2, "causal", 1.0},
        Case{17, 513, 5, "causal", 1.0}, Case{21, 1100, 4, "drawn", 1e150}, Case{5, 512, 6, "all", 1e-150},
        Case{40, 1031, 7, "drawn", 1.0}, Case{12, 1536, 3, "causal", 3.0}}) {
    INFO("n = " << c.n << ", m = " << c.m << ", r = " << c.r << ", " << c.visibility << ", scale " << c.magnitude);
    const MatrixXd w = c.magnitude * gaussian(c.n, c.r, rng), v = gaussian(c.m, c.r, rng);
    std::vector<Index> visible(std::size_t(c.n), c.m);
    std::uniform_int_distribution<Index> drawn(0, c.m);
    for (Index i = 0; i < c.n; ++i) {
      if (std::string(c.visibility) == "causal") visible[std::size_t(i)] = std::min(c.m, (i + 1) * c.m / c.n);
      if (std::string(c.visibility) == "drawn") visible[std::size_t(i)] = drawn(rng);
    }
    const auto sees = [&](Index row) { return visible[std::size_t(row)]; };
    std::vector<Index> every(std::size_t(c.r + 1));
    std::iota(every.begin(), every.end(), Index{0});
    const attnspec::detail::RowsInDouble v_rows(v);
    const auto got = residual_extremes(w, v_rows, every, 0, sees);
    const auto expected = dense_extremes(w, v, every, visible);
    // Each entry is a sum of at most r products; two summation orders differ by about r·ε of the terms' size.
    const double tolerance = 1e-14 * double(c.r) * c.magnitude * 30;
    for (Index i = 0; i < c.n; ++i) {
      for (Index slot = 0; slot <= c.r; ++slot) {
        if (visible[std::size_t(i)] == 0) {
          REQUIRE(got.max(i, slot) == -std::numeric_limits<double>::infinity());
          continue;
        }
        REQUIRE(std::abs(got.max(i, slot) - expected.max(i, slot)) <= tolerance);
        REQUIRE(std::abs(got.min(i, slot) - expected.min(i, slot)) <= tolerance);
      }
    }
    if (c.magnitude == 1e-150) CHECK(got.max(0, 0) - got.min(0, 0) > 1e-152);  // tiny, not flushed to zero
    // R_r = 0 exactly.
    CHECK((got.max.col(c.r).array() <= 0).all());
    // A subset of ranks gives the same bits as the full sweep's columns, and rows computed on their own (another
    // block, thread or process) the same bits as rows computed together.
    std::vector<Index> some;
    for (Index k = 0; k <= c.r; k += 2) some.push_back(k);
    const auto subset = residual_extremes(w, v_rows, some, 0, sees);
    for (std::size_t slot = 0; slot < some.size(); ++slot) {
      CHECK(same_bits(subset.max.col(Index(slot)), got.max.col(some[slot])));
      CHECK(same_bits(subset.min.col(Index(slot)), got.min.col(some[slot])));
    }
    const Index split = c.n / 2;
    const MatrixXd tail_w = w.bottomRows(c.n - split);
    const auto tail = residual_extremes(tail_w, v_rows, every, split, sees);
    CHECK(same_bits(tail.max, got.max.bottomRows(c.n - split)));
    CHECK(same_bits(tail.min, got.min.bottomRows(c.n - split)));
    // A float field's vectors, converted 512 keys at a time, give the bits of the same vectors converted whole.
    if (c.magnitude != 1.0) continue;  // float range
    const Eigen::MatrixXf v_float = v.cast<float>();
    const MatrixXd v_widened = v_float.cast<double>();
    const auto from_float = residual_extremes(w, attnspec::detail::RowsInDouble(v_float), every, 0, sees);
    const auto from_widened = residual_extremes(w, attnspec::detail::RowsInDouble(v_widened), every, 0, sees);
    CHECK(same_bits(from_float.max, from_widened.max));
    CHECK(same_bits(from_float.min, from_widened.min));
  }
}

TEST_CASE("field vectors from the core's bidiagonal sweeps: any core shape, rank-deficient and zero fields",
          "[kernels]") {
  std::mt19937_64 rng(84);
  struct Case {
    Index n, m, d, rank;  // rank < d: Q and K share a rank-`rank` row space; 0: Q is zero
  };
  for (const Case& c : {Case{5, 30, 16, 16}, Case{30, 5, 16, 16}, Case{40, 40, 12, 3}, Case{9, 9, 9, 0},
                        Case{300, 200, 128, 128}, Case{1, 7, 4, 4}}) {
    INFO("n = " << c.n << ", m = " << c.m << ", d = " << c.d << ", rank " << c.rank);
    MatrixXd q = c.rank == 0 ? MatrixXd::Zero(c.n, c.d) : low_rank_plus_noise(c.n, c.d, c.rank, 0.0, rng);
    const MatrixXd k = low_rank_plus_noise(c.m, c.d, std::max<Index>(c.rank, 1), 0.0, rng);
    if (c.rank == c.d) q = gaussian(c.n, c.d, rng);
    attnspec::FieldOptions options;
    options.compute_vectors = true;
    const attnspec::LogitEnergyField<double> field(q, k, options);
    const MatrixXd e = reference_field(q, k, field.scale(), true);
    const VectorXd expected = dense_singular_values(e);
    const VectorXd& sigma = field.singular_values();
    const double scale = std::max(expected(0), 1e-300);
    const Index r = sigma.size();
    CHECK((sigma - expected.head(r)).cwiseAbs().maxCoeff() <= 1e-12 * scale);
    const MatrixXd& u = field.left_singular_vectors();
    const MatrixXd& v = field.right_singular_vectors();
    CHECK((u.transpose() * u - MatrixXd::Identity(r, r)).cwiseAbs().maxCoeff() <= 1e-12);
    CHECK((v.transpose() * v - MatrixXd::Identity(r, r)).cwiseAbs().maxCoeff() <= 1e-12);
    CHECK((u * sigma.asDiagonal() * v.transpose() - e).cwiseAbs().maxCoeff() <= 1e-12 * scale);
    // The values with vectors are those without, to rounding.
    const attnspec::LogitEnergyField<double> values_only(q, k);
    CHECK((values_only.singular_values() - sigma).cwiseAbs().maxCoeff() <= 1e-13 * scale);
  }
}
