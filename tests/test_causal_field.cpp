// CausalLogitEnergyField against the causal field formed entry by entry from its definition and Eigen's dense SVD:
// products with F and Fᵀ, the exact energy, the leading values and k@τ, on structured and adversarial heads in
// float and double; and the identities of the definition (F·1 = 0, n = 1, n = 2).
#include <attnspec/causal_logit_field.hpp>
#include <attnspec/spectrum_stats.hpp>

#include "test_support.hpp"

using namespace attnspec;
using namespace attnspec_test;

namespace {
// F_ij = s·q_i·(k_j − mean of k_0..k_i) for j <= i, else 0, in double straight from the definition.
MatrixXd reference_causal_field(const MatrixXd& q, const MatrixXd& k, double scale) {
  const Index n = q.rows();
  MatrixXd f = MatrixXd::Zero(n, n);
  for (Index i = 0; i < n; ++i) {
    const Eigen::RowVectorXd mean = k.topRows(i + 1).colwise().mean();
    for (Index j = 0; j <= i; ++j) f(i, j) = scale * q.row(i).dot(k.row(j) - mean);
  }
  return f;
}

template <typename Scalar>
void check_against_dense(const MatrixXd& q, const MatrixXd& k, double tau, double value_tolerance) {
  const CausalLogitEnergyField<Scalar> field(q.cast<Scalar>(), k.cast<Scalar>(), {std::nullopt, tau});
  const MatrixXd dense = reference_causal_field(q.cast<Scalar>().template cast<double>(),
                                                k.cast<Scalar>().template cast<double>(), field.scale());
  const VectorXd sigma = dense_singular_values(dense);
  const double energy = dense.squaredNorm();
  CHECK(std::abs(field.energy() - energy) <= (std::is_same_v<Scalar, float> ? 1e-5 : 1e-12) * energy);
  const auto& values = field.singular_values();
  INFO("n = " << q.rows() << ", leading values " << values.size());
  for (Index l = 0; l < values.size(); ++l) {
    CHECK(std::abs(static_cast<double>(values(l)) - sigma(l)) <= value_tolerance * sigma(0));
  }
  const SpectrumStats<double> stats(sigma);
  for (const double t : {0.5, 0.75, tau}) {
    INFO("tau = " << t);
    if (t <= tau) CHECK(field.rank_at(t) == stats.rank_at(t));
  }
  CHECK(values.size() >= std::min<Index>(stats.rank_at(tau) + 1, (sigma.array() > 1e-13 * sigma(0)).count()));
  // Products with F and Fᵀ match the dense matrix.
  std::mt19937_64 rng(5);
  const VectorXd x = gaussian(q.rows(), 1, rng);
  const double product_tolerance = std::is_same_v<Scalar, float> ? 1e-4 : 1e-12;
  const double size = sigma(0) * x.norm();
  CHECK((field.apply(x.cast<Scalar>()).template cast<double>() - dense * x).norm() <= product_tolerance * size);
  CHECK((field.apply_transpose(x.cast<Scalar>()).template cast<double>() - dense.transpose() * x).norm() <=
        product_tolerance * size);
}
}  // namespace

TEMPLATE_TEST_CASE("causal field: leading values, energy and k@tau against the dense SVD", "[causal]", double, float) {
  const double tolerance = std::is_same_v<TestType, float> ? 2e-4 : 1e-9;
  std::mt19937_64 rng(2604);
  SECTION("low rank plus noise, n > d") {
    check_against_dense<TestType>(low_rank_plus_noise(120, 16, 3, 0.05, rng),
                                  low_rank_plus_noise(120, 16, 3, 0.05, rng), 0.9, tolerance);
  }
  SECTION("Gaussian heads (a nearly flat spectrum: many values before 90%)") {
    check_against_dense<TestType>(gaussian(80, 8, rng), gaussian(80, 8, rng), 0.9, tolerance);
  }
  SECTION("keys far from the origin (offset 1e3): centring before the prefix means keeps the digits") {
    MatrixXd k = gaussian(60, 8, rng);
    k.array() += 1e3;
    check_against_dense<TestType>(gaussian(60, 8, rng), k, 0.99, std::is_same_v<TestType, float> ? 1e-2 : 1e-7);
  }
  SECTION("more dimensions than positions") {
    check_against_dense<TestType>(gaussian(12, 32, rng), gaussian(12, 32, rng), 0.99, tolerance);
  }
}

TEST_CASE("causal field: identities of the definition", "[causal]") {
  std::mt19937_64 rng(7);
  const MatrixXd q = gaussian(30, 6, rng), k = gaussian(30, 6, rng);
  const CausalLogitEnergyField<double> field(q, k);
  CHECK(field.apply(VectorXd::Ones(30)).cwiseAbs().maxCoeff() <= 1e-12 * field.singular_values()(0));  // F·1 = 0

  const CausalLogitEnergyField<double> one(q.topRows(1), k.topRows(1));  // n = 1: F = [0]
  CHECK(one.energy() == 0);
  CHECK(one.singular_values().size() == 0);
  CHECK(one.rank_at(0.9) == 0);

  const CausalLogitEnergyField<double> two(q.topRows(2), k.topRows(2));  // n = 2: ‖F‖² = s²·(q₂·(k₂ − k₁))²/2
  const double s = 1 / std::sqrt(6.0), dot = q.row(1).dot(k.row(1) - k.row(0));
  CHECK(std::abs(two.energy() - s * s * dot * dot / 2) <= 1e-14 * two.energy());
  CHECK(two.rank_at(0.9) == 1);

  const MatrixXd same_keys = MatrixXd::Ones(30, 1) * gaussian(1, 6, rng);  // every key equal: F = 0
  const CausalLogitEnergyField<double> flat(q, same_keys);
  CHECK(flat.energy() == 0);
  CHECK(flat.rank_at(0.5) == 0);

  // compute() reuses the object; a failed compute leaves the previous head's results.
  CausalLogitEnergyField<double> reused(q, k);
  const VectorXd before = reused.singular_values();
  require_invalid_argument([&] { reused.compute(q, k.topRows(29)); }, {"CausalLogitEnergyField", "30x6", "29x6"});
  CHECK(reused.singular_values() == before);
  reused.compute(q.topRows(2), k.topRows(2));
  CHECK(reused.energy() == two.energy());
}

TEST_CASE("causal field: bad arguments are named errors", "[causal][errors]") {
  std::mt19937_64 rng(9);
  MatrixXd q = gaussian(10, 4, rng), k = gaussian(10, 4, rng);
  require_invalid_argument([&] { CausalLogitEnergyField<double>(q, k.leftCols(3)); }, {"must have the same shape"});
  require_invalid_argument([&] { CausalLogitEnergyField<double>(q, k, {std::nullopt, 1.5}); }, {"tau = 1.5"});
  require_invalid_argument([&] { CausalLogitEnergyField<double>(q, k, {-1.0}); }, {"scale = -1"});
  require_invalid_argument([&] { CausalLogitEnergyField<double>(q, k).rank_at(0.95); },
                           {"rank_at", "tau = 0.9499", "options.tau"});
  // fuzz_field findings: a field beyond the range gave an infinite or NaN energy and NaN values; now an error, and
  // the object keeps the previous head. Its σ₁ fits in double but not its energy, or neither fits float.
  CausalLogitEnergyField<double> kept(q, k);
  const double energy_before = kept.energy();
  require_invalid_argument([&] { kept.compute(1e160 * q, k); },
                           {"CausalLogitEnergyField", "(10x4)", "leaves the range of double", "energy", "inf"});
  CHECK(kept.energy() == energy_before);
  require_invalid_argument([&] { CausalLogitEnergyField<float>(q, k, {1e40}); }, {"leaves the range of float"});
  const CausalLogitEnergyField<double> small(1e-200 * q, 1e-200 * k, {1e300});  // F is 1e-100 times the plain one's
  CHECK(small.energy() == Approx(1e-200 * CausalLogitEnergyField<double>(q, k, {1.0}).energy()).epsilon(1e-12));
  q(3, 2) = std::numeric_limits<double>::quiet_NaN();
  require_invalid_argument([&] { CausalLogitEnergyField<double>(q, k); }, {"Q(3, 2) = nan", "not finite"});
  require_invalid_argument([&] { CausalLogitEnergyField<double>(MatrixXd(0, 4), MatrixXd(0, 4)); }, {"Q is empty"});
}
