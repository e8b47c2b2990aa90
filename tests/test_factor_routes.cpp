// The fast routes of the factored SVD: Cholesky QR in one pass (where certified) or two (with the Householder
// fallback) must be as accurate as Householder QR at every condition number, and the Gram route must meet the
// accuracy it documents.
#include <attnspec/causal_logit_field.hpp>
#include <attnspec/interaction_matrix.hpp>
#include <attnspec/logit_energy_field.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <type_traits>
#include <vector>

#include "test_support.hpp"

using namespace attnspec_test;
using attnspec::FactorRoute;
using attnspec::FieldAlgorithm;
using attnspec::FieldOptions;
using attnspec::LogitEnergyField;

namespace {

/// rows×cols with singular values logspaced from 1 down to 1/condition, between random orthonormal bases.
MatrixXd with_condition(Index rows, Index cols, double condition, std::mt19937_64& rng) {
  const Index r = std::min(rows, cols);
  const MatrixXd left =
      Eigen::HouseholderQR<MatrixXd>(gaussian(rows, r, rng)).householderQ() * MatrixXd::Identity(rows, r);
  const MatrixXd right =
      Eigen::HouseholderQR<MatrixXd>(gaussian(cols, r, rng)).householderQ() * MatrixXd::Identity(cols, r);
  VectorXd sigma(r);
  for (Index i = 0; i < r; ++i) sigma(i) = std::pow(condition, -double(i) / double(std::max<Index>(r - 1, 1)));
  return left * sigma.asDiagonal() * right.transpose();
}

template <typename Scalar>
VectorXd r_singular_values(const MatrixXd& x, FactorRoute* route = nullptr) {
  attnspec::detail::TriangularFactor<Scalar> factor;
  const MatrixX<Scalar> converted = x.cast<Scalar>();
  // The kernel's column scaling of x against itself: R of x is R of the scaled x with column j times 2^−a(j).
  const auto largest = attnspec::detail::column_largest(attnspec::detail::FactorRows<Scalar>::of(converted));
  const attnspec::detail::ColumnScaling scaling =
      attnspec::detail::columns_in_range<Scalar>(largest, x.rows(), largest, x.rows())
          ? attnspec::detail::ColumnScaling{}
          : attnspec::detail::balance_columns<Scalar>(largest, largest);
  MatrixXd r = factor.compute(converted, false, scaling.a).template cast<double>();
  for (Index j = 0; j < scaling.a.size(); ++j) {
    const int exponent = -scaling.a(j);
    r.col(j) = r.col(j).unaryExpr([exponent](double value) { return std::ldexp(value, exponent); });
  }
  if (route) *route = factor.route();
  return dense_singular_values(r);
}

}  // namespace

TEMPLATE_TEST_CASE("the R factor keeps X's singular values at every condition number", "[routes]", float, double) {
  using Scalar = TestType;
  std::mt19937_64 rng(61);
  const double max_log_condition = std::is_same_v<Scalar, float> ? 7 : 15;
  for (const Index d : {Index(8), Index(64)}) {
    for (double log_condition = 0; log_condition <= max_log_condition; log_condition += 1) {
      const double condition = std::pow(10.0, log_condition);
      const MatrixXd x = with_condition(200, d, condition, rng);
      // The oracle sees the same rounded data the library does.
      const MatrixXd rounded = x.cast<Scalar>().template cast<double>();
      FactorRoute route{};
      const VectorXd got = r_singular_values<Scalar>(x, &route);
      INFO("d = " << d << ", condition = " << condition);
      require_same_spectrum(got, dense_singular_values(rounded), std::is_same_v<Scalar, float> ? 5e-6 : 1e-13);
      // Well inside CholeskyQR2's range a fast route must be the one taken; one pass only in double, and only for
      // well-conditioned factors (the certificate needs λ_min of the column-scaled Gram matrix >= ~0.013 here).
      if (condition <= (std::is_same_v<Scalar, float> ? 10.0 : 1e4)) {
        CHECK((route == FactorRoute::cholesky_qr || route == FactorRoute::cholesky_qr2));
      }
      if (std::is_same_v<Scalar, double> && condition == 1) CHECK(route == FactorRoute::cholesky_qr);
      if (std::is_same_v<Scalar, float> || condition >= 1e3) CHECK(route != FactorRoute::cholesky_qr);
    }
  }
}

TEST_CASE("one Cholesky QR pass is kept exactly where certified, and is then relatively accurate", "[routes]") {
  std::mt19937_64 rng(70);
  const Index n = 2000, d = 32;
  // The certificate's shift for these sizes (triangular_factor.hpp): t = δ/1e-10 + 2δ, δ = d·(8√n + d + 1)·u.
  const double u = std::numeric_limits<double>::epsilon() / 2;
  const double delta = double(d) * (8 * std::sqrt(double(n)) + double(d) + 1) * u;
  const double shift = delta / 1e-10 + 2 * delta;
  // Column-scaled Gram matrices with a prescribed smallest eigenvalue: an orthonormal basis whose last column is
  // pulled towards the first, then columns scaled over sixteen decades (scaling must not matter).
  const MatrixXd basis = Eigen::HouseholderQR<MatrixXd>(gaussian(n, d, rng)).householderQ() * MatrixXd::Identity(n, d);
  VectorXd column_scales(d);
  for (Index j = 0; j < d; ++j) column_scales(j) = std::pow(10.0, -8.0 + 16.0 * double(j) / double(d - 1));
  for (const double smallest : {0.5, 1.5 * shift, 0.7 * shift, 1e-4}) {
    // Columns e₀ and c·e₀ + s·e_{d−1} (unit norm) have correlation c, so the 2×2 block's eigenvalues are 1 ± c.
    const double c = 1 - smallest;
    MatrixXd x = basis;
    x.col(d - 1) = c * basis.col(0) + std::sqrt(1 - c * c) * basis.col(d - 1);
    x = x * column_scales.asDiagonal();
    FactorRoute route{};
    const VectorXd got = r_singular_values<double>(x, &route);
    const VectorXd expected = dense_singular_values(x);
    INFO("smallest eigenvalue of the scaled Gram matrix " << smallest << ", certificate's shift " << shift);
    CHECK(route == (smallest > shift ? FactorRoute::cholesky_qr : FactorRoute::cholesky_qr2));
    // Relative accuracy of every value, including those 1e16 below σ₁ (the certified bound is 1e-10).
    for (Index i = 0; i < d; ++i) CHECK(std::abs(got(i) - expected(i)) <= 1e-12 * expected(i));
  }
}

TEST_CASE("fields of well-conditioned heads take one pass and keep every value to 1e-12 relative", "[routes][field]") {
  std::mt19937_64 rng(71);
  for (const Index d : {Index(16), Index(64), Index(128)}) {
    const MatrixXd q = gaussian(3 * d + 100, d, rng), k = gaussian(2 * d + 300, d, rng);
    const LogitEnergyField<double> field(q, k);
    INFO("d = " << d);
    CHECK(field.query_route() == FactorRoute::cholesky_qr);
    CHECK(field.key_route() == FactorRoute::cholesky_qr);
    const VectorXd expected = dense_singular_values(reference_field(q, k, field.scale(), true));
    const VectorXd& got = field.singular_values();
    for (Index i = 0; i < d; ++i) CHECK(std::abs(got(i) - expected(i)) <= 1e-12 * expected(i));
  }
  // A head with a large mean offset is ill-conditioned until centred: the queries are not centred, so they take
  // two passes, the keys (centred) one.
  const MatrixXd q = gaussian(800, 32, rng) + MatrixXd::Constant(800, 32, 30.0);
  const MatrixXd k = gaussian(600, 32, rng) + MatrixXd::Constant(600, 32, 30.0);
  const LogitEnergyField<double> offset(q, k);
  CHECK(offset.query_route() == FactorRoute::cholesky_qr2);
  CHECK(offset.key_route() == FactorRoute::cholesky_qr);
  require_same_spectrum(offset.singular_values(), dense_singular_values(reference_field(q, k, offset.scale(), true)),
                        1e-12);
}

TEMPLATE_TEST_CASE("CholeskyQR2 hands over to Householder where it cannot be trusted", "[routes]", float, double) {
  using Scalar = TestType;
  std::mt19937_64 rng(62);
  MatrixXd rank_deficient = gaussian(200, 16, rng);
  rank_deficient.col(5).setZero();
  const MatrixXd wide = gaussian(10, 16, rng);
  const std::vector<std::pair<const char*, MatrixXd>> cases = {
      {"zero column", rank_deficient},
      {"fewer rows than columns", wide},
      {"condition far beyond the route", with_condition(300, 16, std::is_same_v<Scalar, float> ? 1e7 : 1e15, rng)},
  };
  for (const auto& [name, x] : cases) {
    INFO(name);
    FactorRoute route{};
    const VectorXd got = r_singular_values<Scalar>(x, &route);
    CHECK(route == FactorRoute::householder);
    const MatrixXd rounded = x.template cast<Scalar>().template cast<double>();
    require_same_spectrum(got, dense_singular_values(rounded), std::is_same_v<Scalar, float> ? 5e-6 : 1e-13);
  }
}

TEMPLATE_TEST_CASE("entries whose squares overflow or underflow are rescaled exactly", "[routes]", float, double) {
  using Scalar = TestType;
  std::mt19937_64 rng(68);
  const double huge = std::is_same_v<Scalar, float> ? 1e30 : 1e250;
  const double tiny = std::is_same_v<Scalar, float> ? 1e-30 : 1e-250;
  for (const double size : {huge, tiny}) {
    INFO("entries of size " << size);
    const MatrixXd x = size * gaussian(200, 16, rng);
    FactorRoute route{};
    const VectorXd got = r_singular_values<Scalar>(x, &route);
    // After rescaling the well-conditioned factor takes the fast route: one pass in double, two in float.
    CHECK(route == (std::is_same_v<Scalar, double> ? FactorRoute::cholesky_qr : FactorRoute::cholesky_qr2));
    const VectorXd expected = size * dense_singular_values(x / size);
    require_same_spectrum(got, expected, std::is_same_v<Scalar, float> ? 5e-6 : 1e-13);
  }
}

TEST_CASE("fuzz findings: weights of 2.7e225, 3e296 and subnormal ones", "[routes]") {
  // libFuzzer (fuzz/fuzz_field.cpp) found these spectra coming out as zeros: Householder QR overflowed on the
  // squared norm of the 1e225 column. Both routes now rescale such factors first.
  std::mt19937_64 rng(69);
  const MatrixXd query_weight = gaussian(5, 6, rng);
  MatrixXd key_weight = gaussian(5, 6, rng);
  key_weight(3, 4) = -2.7444e225;
  key_weight(1, 4) = -6.81653e-165;
  const attnspec::InteractionMatrix<double> interaction(query_weight, key_weight);
  require_same_spectrum(interaction.singular_values(), dense_singular_values(query_weight.transpose() * key_weight),
                        1e-13);
  // The second finding: a factor whose largest entry is subnormal (2^1052 is not a double) gave NaN. The other
  // factor's columns span 180 decades; scaled column by column (column_scaling.hpp) M's one nonzero value is exact.
  const MatrixXd wide_range_query = (MatrixXd(2, 3) << 0.70, -1.03, 1.39e114, 0.52, -0.079, 3.01e296).finished();
  const MatrixXd subnormal_key = (MatrixXd(2, 3) << 4.06326e-317, 0, 0, 0, 0, 0).finished();
  const attnspec::InteractionMatrix<double> subnormal(wide_range_query, subnormal_key);
  REQUIRE(subnormal.singular_values().size() == 2);
  CHECK(subnormal.singular_values()(0) ==
        Approx(std::hypot(0.70, 1.39e114) * 4.06326e-317).epsilon(1e-6));  // the key's one entry is subnormal
  CHECK(subnormal.singular_values()(1) == 0);
  const MatrixXd alone = (MatrixXd(2, 3) << 0, 0, 3.0, 0, 0, 0).finished();
  CHECK(attnspec::InteractionMatrix<double>(alone, subnormal_key).singular_values()(0) ==
        Approx(3.0 * 4.06326e-317).epsilon(1e-6));
  const MatrixXd q = 1e200 * gaussian(40, 8, rng), k = 1e-100 * gaussian(30, 8, rng);
  const LogitEnergyField<double> field(q, k);
  require_same_spectrum(field.singular_values(), dense_singular_values(reference_field(q, k, field.scale(), true)),
                        1e-12);
}

TEMPLATE_TEST_CASE("columns scaled against each other by powers of two leave every spectrum unchanged", "[routes]",
                   float, double) {
  // Q·D and K·D⁻¹ (D diagonal, powers of two) give exactly the same field, and W_Q, W_K scaled the same way the same
  // M; with D spanning most of the exponent range a factor's columns lie hundreds of decades apart, and a column far
  // below its factor's largest one can be all of the product. A fuzz_field finding: Q with a 1e246 column against
  // zero keys there, and its 2e52 column against keys of 2e52, gave σ = 0 for a field of entries 1e104.
  using Scalar = TestType;
  const int range = std::is_same_v<Scalar, float> ? 100 : 1000;
  std::mt19937_64 rng(72);
  const Index d = 9;
  const MatrixXd q = gaussian(40, d, rng), k = low_rank_plus_noise(30, d, 3, 1e-3, rng);
  Eigen::VectorXd powers(d);
  for (Index j = 0; j < d; ++j) powers(j) = std::ldexp(1.0, int(-range + 2 * range * j / (d - 1)));
  const MatrixXd scaled_q = q * powers.asDiagonal(), scaled_k = k * powers.cwiseInverse().asDiagonal();
  const double tolerance = spectrum_tolerance<Scalar>();
  for (const bool vectors : {false, true}) {
    FieldOptions options;
    options.compute_vectors = vectors;
    const LogitEnergyField<Scalar> field(scaled_q.cast<Scalar>(), scaled_k.cast<Scalar>(), options);
    const MatrixXd rounded_q = q.cast<Scalar>().template cast<double>();
    const MatrixXd rounded_k = k.cast<Scalar>().template cast<double>();
    INFO("vectors: " << vectors);
    require_same_spectrum(field.singular_values(),
                          dense_singular_values(reference_field(rounded_q, rounded_k, field.scale(), true)), tolerance);
  }
  const MatrixXd query_weight = gaussian(d, 50, rng), key_weight = gaussian(d, 50, rng);
  const attnspec::InteractionMatrix<Scalar> interaction(
      (powers.asDiagonal() * query_weight).cast<Scalar>(),
      (powers.cwiseInverse().asDiagonal() * key_weight).cast<Scalar>());
  require_same_spectrum(interaction.singular_values(),
                        dense_singular_values(query_weight.cast<Scalar>().template cast<double>().transpose() *
                                              key_weight.cast<Scalar>().template cast<double>()),
                        tolerance);
  const MatrixXd causal_q = gaussian(30, d, rng), causal_k = gaussian(30, d, rng);
  const attnspec::CausalLogitEnergyField<Scalar> plain(causal_q.cast<Scalar>(), causal_k.cast<Scalar>());
  const attnspec::CausalLogitEnergyField<Scalar> balanced(
      (causal_q * powers.asDiagonal()).cast<Scalar>(), (causal_k * powers.cwiseInverse().asDiagonal()).cast<Scalar>());
  CHECK(balanced.energy() == Approx(plain.energy()).epsilon(tolerance));
  require_same_spectrum(balanced.singular_values(), plain.singular_values().template cast<double>(), tolerance);
}

TEMPLATE_TEST_CASE("ill-conditioned heads through the default route match the dense SVD", "[routes][field]", float,
                   double) {
  using Scalar = TestType;
  std::mt19937_64 rng(63);
  for (const double condition : {1e2, 1e5, 1e9, 1e13}) {
    const MatrixXd q = with_condition(120, 24, condition, rng);
    const MatrixXd k = with_condition(100, 24, condition, rng) * gaussian(24, 24, rng);
    const MatrixXd q_rounded = q.cast<Scalar>().template cast<double>();
    const MatrixXd k_rounded = k.cast<Scalar>().template cast<double>();
    const LogitEnergyField<Scalar> field(q_rounded, k_rounded);
    INFO("condition = " << condition);
    require_same_spectrum(field.singular_values(),
                          dense_singular_values(reference_field(q_rounded, k_rounded, field.scale(), true)),
                          spectrum_tolerance<Scalar>());
  }
}

TEMPLATE_TEST_CASE("two threads give the same bits as one", "[routes][field]", float, double) {
  using Scalar = TestType;
  std::mt19937_64 rng(64);
  // Several 1,024-row blocks, so both factors' readers work at the same time.
  const MatrixXd q = gaussian(2500, 64, rng), k = gaussian(2300, 64, rng);
  FieldOptions two;
  two.threads = 2;
  for (const FieldAlgorithm algorithm : {FieldAlgorithm::accurate, FieldAlgorithm::gram}) {
    FieldOptions one;
    one.algorithm = two.algorithm = algorithm;
    const LogitEnergyField<Scalar> serial(q, k, one), parallel(q, k, two);
    CHECK(serial.singular_values() == parallel.singular_values());
    // An error found by one thread's reader reaches the caller, naming the entry.
    MatrixXd broken = q;
    broken(2100, 5) = std::numeric_limits<double>::infinity();
    require_invalid_argument([&] { LogitEnergyField<Scalar>(broken, k, two); }, {"Q(2100, 5) = inf"});
  }
  // With vectors the kernel holds copies it measures itself, each factor on its own thread; columns spread
  // beyond the squares' range make it scale them as well.
  FieldOptions one_with_vectors, two_with_vectors;
  one_with_vectors.compute_vectors = two_with_vectors.compute_vectors = true;
  two_with_vectors.threads = 2;
  const auto same_bits_with_vectors = [&](const MatrixXd& queries, const MatrixXd& keys) {
    const LogitEnergyField<Scalar> serial(queries, keys, one_with_vectors), parallel(queries, keys, two_with_vectors);
    CHECK(serial.singular_values() == parallel.singular_values());
    CHECK(serial.left_singular_vectors() == parallel.left_singular_vectors());
    CHECK(serial.right_singular_vectors() == parallel.right_singular_vectors());
  };
  same_bits_with_vectors(q, k);
  const double spread = std::ldexp(1.0, std::is_same_v<Scalar, float> ? 70 : 600);
  MatrixXd q_spread = q, k_spread = k;
  q_spread.col(3) *= spread;
  k_spread.col(3) /= spread;
  same_bits_with_vectors(q_spread, k_spread);
}

TEST_CASE("the Gram route: leading values to double precision, the tail to its documented error", "[routes][gram]") {
  std::mt19937_64 rng(65);
  FieldOptions gram;
  gram.algorithm = FieldAlgorithm::gram;
  // A head whose field spectrum decays over ten decades: ε·σ₁²/σ_i grows as σ_i falls.
  const MatrixXd q = with_condition(512, 64, 1e5, rng), k = with_condition(512, 64, 1e5, rng);
  const LogitEnergyField<double> fast(q, k, gram);
  CHECK(fast.query_route() == FactorRoute::gram);
  std::ostringstream printed;
  printed << fast.query_route() << " " << FieldAlgorithm::gram << " " << FactorRoute::cholesky_qr << " "
          << FactorRoute::cholesky_qr2;
  CHECK(printed.str() == "gram gram cholesky_qr cholesky_qr2");
  const VectorXd expected = dense_singular_values(reference_field(q, k, fast.scale(), true));
  const VectorXd& got = fast.singular_values();
  REQUIRE(got.size() == 64);
  const double sigma1 = expected(0), epsilon = std::numeric_limits<double>::epsilon();
  for (Index i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ", sigma_i / sigma_1 = " << expected(i) / sigma1);
    // Error model: a few hundred ε·σ₁² / σ_i, and never worse than ~√ε·σ₁ (where σ_i itself is below that).
    const double allowed = std::min(1e3 * epsilon * sigma1 * sigma1 / expected(i), 1e-6 * sigma1);
    CHECK(std::abs(got(i) - expected(i)) <= std::max(allowed, 1e-12 * sigma1));
  }
  // On a well-conditioned head it is as good as the accurate route.
  const MatrixXd q2 = gaussian(700, 64, rng), k2 = gaussian(600, 64, rng);
  require_same_spectrum(LogitEnergyField<double>(q2, k2, gram).singular_values(),
                        dense_singular_values(reference_field(q2, k2, 1.0 / 8.0, true)), 1e-12);
}

TEST_CASE("the Gram route accumulates float data in double", "[routes][gram]") {
  std::mt19937_64 rng(66);
  const Eigen::MatrixXf q = gaussian(4000, 32, rng).cast<float>() + Eigen::MatrixXf::Constant(4000, 32, 3.0f);
  const Eigen::MatrixXf k = gaussian(3000, 32, rng).cast<float>();
  FieldOptions gram;
  gram.algorithm = FieldAlgorithm::gram;
  const LogitEnergyField<float> fast(q, k, gram);
  const VectorXd expected =
      dense_singular_values(reference_field(q.cast<double>(), k.cast<double>(), fast.scale(), true));
  // Float storage of the result and of the centred keys only: far below float's 2e-5 tolerance.
  require_same_spectrum(fast.singular_values(), expected, 1e-6);
}

TEST_CASE("the Gram route: rank-deficient factors and its errors", "[routes][gram][errors]") {
  std::mt19937_64 rng(67);
  FieldOptions gram;
  gram.algorithm = FieldAlgorithm::gram;
  MatrixXd q = gaussian(300, 16, rng);
  q.col(3).setZero();
  const MatrixXd k = gaussian(40, 16, rng);
  const LogitEnergyField<double> fast(q, k, gram);
  require_same_spectrum(fast.singular_values(), dense_singular_values(reference_field(q, k, 0.25, true)), 1e-6);
  CHECK(fast.query_route() != FactorRoute::gram);  // QᵀQ is singular: the accurate route took over
  // Fewer queries than d: min(n, m, d) values.
  const MatrixXd few = gaussian(5, 16, rng);
  const LogitEnergyField<double> short_field(few, k, gram);
  CHECK(short_field.singular_values().size() == 5);
  require_same_spectrum(short_field.singular_values(), dense_singular_values(reference_field(few, k, 0.25, true)),
                        1e-12);

  gram.compute_vectors = true;
  require_invalid_argument([&] { LogitEnergyField<double>(q, k, gram); }, {"LogitEnergyField", "compute_vectors"});
  gram.compute_vectors = false;
  require_invalid_argument([&] { LogitEnergyField<double>(1e160 * q, k, gram); },
                           {"LogitEnergyField", "overflow", "FieldAlgorithm::accurate"});
}
