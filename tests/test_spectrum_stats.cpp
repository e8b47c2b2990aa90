#include <attnspec/spectrum_stats.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "test_support.hpp"

using attnspec::SpectrumStats;
using attnspec_test::require_invalid_argument;

namespace {
Eigen::VectorXd values(std::initializer_list<double> list) {
  Eigen::VectorXd v(static_cast<Eigen::Index>(list.size()));
  Eigen::Index i = 0;
  for (double x : list) v(i++) = x;
  return v;
}
}  // namespace

TEMPLATE_TEST_CASE("oracle 2: sigma = (3, 2, 1), at any overall scale", "[stats]", float, double) {
  // Powers of two keep the ratios 3:2:1 exact in float; in double 1e±200 rounds only in the last bit.
  const std::vector<double> factors = std::is_same_v<TestType, float>
                                          ? std::vector<double>{1.0, std::ldexp(1.0, -120), std::ldexp(1.0, 120)}
                                          : std::vector<double>{1.0, 1e-200, 1e200};
  for (double factor : factors) {
    INFO("factor " << factor);
    const attnspec_test::VectorX<TestType> sigma = (values({3, 2, 1}) * factor).cast<TestType>();
    SpectrumStats<TestType> st(sigma);
    const Eigen::VectorXd& c = st.cumulative_variance();
    REQUIRE(c.size() == 4);
    CHECK(c(0) == 0);
    CHECK(c(1) == Approx(9.0 / 14).epsilon(1e-15));
    CHECK(c(2) == Approx(13.0 / 14).epsilon(1e-15));
    CHECK(c(3) == 1.0);  // exactly
    CHECK(st.rank_at(0.5) == 1);
    CHECK(st.rank_at(9.0 / 14) == 1);
    CHECK(st.rank_at(0.65) == 2);
    CHECK(st.rank_at(0.9) == 2);
    CHECK(st.rank_at(13.0 / 14) == 2);
    CHECK(st.rank_at(0.93) == 3);
    CHECK(st.rank_at(1.0) == 3);
    CHECK(st.entropy_effective_rank() == Approx(2.7494592739972052).epsilon(1e-14));
    CHECK(st.participation_ratio() == Approx(2.0).epsilon(1e-14));
    CHECK(st.stable_rank() == Approx(14.0 / 9).epsilon(1e-14));
    CHECK(st.energy_fractions()(0) == Approx(9.0 / 14).epsilon(1e-15));
  }
}

TEST_CASE("oracle 3: sigma = (2, 1)", "[stats]") {
  SpectrumStats<double> st(values({2, 1}));
  CHECK(st.rank_at(0.8) == 1);
  CHECK(st.rank_at(0.81) == 2);
  CHECK(st.entropy_effective_rank() == Approx(1.8898815748423097).epsilon(1e-14));
  CHECK(st.participation_ratio() == Approx(25.0 / 17).epsilon(1e-14));
  CHECK(st.stable_rank() == Approx(5.0 / 4).epsilon(1e-14));
}

TEMPLATE_TEST_CASE("oracle 4: a flat spectrum needs ceil(tau*d) values", "[stats]", float, double) {
  for (int d : {10, 30, 64, 70, 128}) {
    SpectrumStats<TestType> st(attnspec_test::VectorX<TestType>::Constant(d, TestType(0.37)));
    for (double tau : {0.1, 0.5, 0.9, 0.99, 1.0}) {
      INFO("d = " << d << " tau = " << tau);
      // ceil(tau*d) in exact rational arithmetic: tau*d is an integer here whenever it should be.
      const double exact = std::ceil(tau * d - 1e-9);
      CHECK(st.rank_at(tau) == static_cast<Eigen::Index>(exact));
    }
    CHECK(st.entropy_effective_rank() == Approx(d).epsilon(1e-13));
    CHECK(st.participation_ratio() == Approx(d).epsilon(1e-13));
    CHECK(st.stable_rank() == Approx(d).epsilon(1e-13));
  }
  CHECK(SpectrumStats<double>(Eigen::VectorXd::Ones(10)).rank_at(0.9) == 9);
  CHECK(SpectrumStats<double>(Eigen::VectorXd::Ones(30)).rank_at(0.9) == 27);
  CHECK(SpectrumStats<double>(Eigen::VectorXd::Ones(70)).rank_at(0.9) == 63);
}

TEST_CASE("oracle 5: sigma = (1, 1, 0, 0)", "[stats]") {
  SpectrumStats<double> st(values({1, 1, 0, 0}));
  CHECK(st.entropy_effective_rank() == Approx(2.0).epsilon(1e-15));
  CHECK(st.participation_ratio() == 2.0);
  CHECK(st.stable_rank() == 2.0);
  CHECK(st.rank_at(0.5) == 1);
  CHECK(st.rank_at(0.51) == 2);
  CHECK(st.rank_at(1.0) == 2);
}

TEST_CASE("oracle 6: geometric sigma = 2^-(l-1), 60 terms", "[stats]") {
  Eigen::VectorXd sigma(60);
  for (int l = 0; l < 60; ++l) sigma(l) = std::ldexp(1.0, -l);
  SpectrumStats<double> st(sigma);
  CHECK(st.stable_rank() == Approx(4.0 / 3).epsilon(1e-15));
  CHECK(st.participation_ratio() == Approx(5.0 / 3).epsilon(1e-15));
  CHECK(st.entropy_effective_rank() == Approx(4.0).epsilon(1e-14));
  CHECK(st.rank_at(0.75) == 1);
  CHECK(st.rank_at(0.9) == 2);
  CHECK(st.rank_at(0.99) == 4);
}

TEST_CASE("zero, empty and single spectra", "[stats]") {
  for (const Eigen::VectorXd& sigma : {Eigen::VectorXd(), Eigen::VectorXd::Zero(5).eval()}) {
    SpectrumStats<double> st(sigma);
    CHECK(st.rank_at(0.9) == 0);
    CHECK(st.rank_at(1.0) == 0);
    CHECK(st.entropy_effective_rank() == 0);
    CHECK(st.participation_ratio() == 0);
    CHECK(st.stable_rank() == 0);
    CHECK(st.energy_fractions().isZero(0));
  }
  SpectrumStats<double> one(values({4e-300, 0, 0}));
  CHECK(one.entropy_effective_rank() == 1);
  CHECK(one.participation_ratio() == 1);
  CHECK(one.stable_rank() == 1);
  CHECK(one.rank_at(1.0) == 1);
}

TEST_CASE("unsorted input is sorted; order does not change any metric", "[stats]") {
  SpectrumStats<double> sorted(values({5, 3, 2, 0.5}));
  SpectrumStats<double> shuffled(values({2, 0.5, 5, 3}));
  CHECK(shuffled.singular_values() == sorted.singular_values());
  CHECK(shuffled.entropy_effective_rank() == sorted.entropy_effective_rank());
  CHECK(shuffled.rank_at(0.95) == sorted.rank_at(0.95));
}

TEST_CASE("the effective ranks are ordered on random spectra", "[stats]") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> uniform(0, 1);
  for (int trial = 0; trial < 500; ++trial) {
    const Eigen::Index r = 1 + trial % 40;
    Eigen::VectorXd sigma(r);
    const double decay = 10 * uniform(rng);
    for (Eigen::Index i = 0; i < r; ++i) sigma(i) = std::exp(-decay * uniform(rng)) * (uniform(rng) < 0.1 ? 0 : 1);
    SpectrumStats<double> st(sigma);
    const double rank = static_cast<double>((sigma.array() > 0).count());
    if (rank == 0) continue;
    INFO("trial " << trial);
    CHECK(st.stable_rank() >= 1 - 1e-12);
    CHECK(st.stable_rank() <= st.participation_ratio() * (1 + 1e-12));
    CHECK(st.participation_ratio() <= rank * (1 + 1e-12));
    CHECK(st.entropy_effective_rank() >= 1 - 1e-12);
    CHECK(st.entropy_effective_rank() <= rank * (1 + 1e-12));
    // rank_at agrees with a direct scan of the cumulative curve
    const double tau = uniform(rng) * 0.999 + 0.001;
    const Eigen::Index k = st.rank_at(tau);
    CHECK(st.cumulative_variance()(k) >= tau - 1e-12);
    if (k > 0) CHECK(st.cumulative_variance()(k - 1) < tau - 1e-12);
  }
}

TEST_CASE("spectrum_gap divides metric by metric", "[stats]") {
  SpectrumStats<double> wide(Eigen::VectorXd::Ones(40));
  SpectrumStats<double> narrow(values({3, 2, 1}));
  const auto gap = attnspec::spectrum_gap(wide, narrow, 0.9);
  CHECK(gap.rank_at_tau == Approx(36.0 / 2));
  CHECK(gap.entropy_effective_rank == Approx(40 / 2.7494592739972052));
  CHECK(gap.participation_ratio == Approx(20.0));
  CHECK(gap.stable_rank == Approx(40 / (14.0 / 9)));
  const auto against_zero = attnspec::spectrum_gap(wide, SpectrumStats<double>(Eigen::VectorXd::Zero(3)));
  CHECK(std::isinf(against_zero.stable_rank));
  CHECK(attnspec::spectrum_gap(narrow, narrow).participation_ratio == 1.0);
}

TEST_CASE("bad spectra and bad tau are rejected with a message naming them", "[stats][errors]") {
  require_invalid_argument(
      [] {
        SpectrumStats<double> st(values({1, -0.5}));
      },
      {"SpectrumStats", "singular_values(1)", "-0.5"});
  require_invalid_argument([] { SpectrumStats<double> st(values({1, std::nan("")})); }, {"singular_values(1)", "nan"});
  require_invalid_argument([] { SpectrumStats<double> st(values({std::numeric_limits<double>::infinity()})); },
                           {"singular_values(0)", "inf"});
  require_invalid_argument([] { SpectrumStats<double> st(Eigen::MatrixXd::Ones(2, 3)); }, {"must be a vector", "2x3"});
  SpectrumStats<double> st(values({3, 2, 1}));
  require_invalid_argument([&] { (void)st.rank_at(1.5); }, {"rank_at", "tau = 1.5", "(0, 1]"});
  require_invalid_argument([&] { (void)st.rank_at(0.0); }, {"rank_at", "tau = 0"});
  require_invalid_argument([&] { (void)st.rank_at(-0.1); }, {"tau = -0.1"});
  require_invalid_argument([&] { (void)st.rank_at(std::nan("")); }, {"tau = nan"});
}

TEST_CASE("SpectrumStats: default-constructed, computed again for the next head, unchanged by a bad one", "[stats]") {
  attnspec::SpectrumStats<double> stats;
  CHECK(stats.size() == 0);
  stats.compute(Eigen::Vector3d(3, 2, 1));
  CHECK(stats.rank_at(0.9) == 2);
  CHECK(stats.compute(Eigen::Vector2d(2, 1)).size() == 2);
  CHECK(stats.cumulative_variance()(1) == Approx(0.8));
  require_invalid_argument([&] { stats.compute(Eigen::Vector3d(1, -1, 0)); }, {"singular_values(1) = -1"});
  CHECK(stats.size() == 2);
  CHECK(stats.cumulative_variance()(1) == Approx(0.8));
}
