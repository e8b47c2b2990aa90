// The field kernel's last step and its float route: the bidiagonal QR sweeps (detail/bidiagonal_values.hpp)
// against Jacobi SVD on structured and adversarial bidiagonals, and float fields through Gram matrices in double.
#include <attnspec/detail/bidiagonal_values.hpp>
#include <attnspec/logit_energy_field.hpp>

#include <cmath>
#include <limits>

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
