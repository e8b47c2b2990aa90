// The minimal contract of DESIGN.md, written exactly as outside code writes it, checked against dense SVD.
#include <attnspec/attnspec.hpp>

#include <cmath>
#include <type_traits>

#include "test_support.hpp"

using namespace attnspec_test;

TEST_CASE("the minimal contract compiles as written and holds against dense SVD", "[contract]") {
  std::mt19937_64 rng(2604);
  const MatrixXd Q = low_rank_plus_noise(96, 64, 5, 0.1, rng), K = low_rank_plus_noise(80, 64, 5, 0.1, rng);
  const MatrixXd Wq = gaussian(64, 192, rng), Wk = gaussian(64, 192, rng);

  // The contract lines stay exactly as DESIGN.md writes them.
  // clang-format off
  attnspec::LogitEnergyField<double> field(Q, K);  // Q n×d, K m×d, any dense Eigen expression; s = 1/sqrt(d); rows centred
  Eigen::VectorXd s = field.singular_values();    // descending; at most min(n, m, d) values (trailing zeros allowed)
  attnspec::InteractionMatrix<double> im(Wq, Wk); // one head's d×D slices in nn.Linear layout; M = Wqᵀ·Wk, unscaled
  Eigen::VectorXd t = im.singular_values();       // descending; at most min(d, D) values
  attnspec::SpectrumStats<double> st(s);          // from any vector of singular values
  st.rank_at(0.9); st.entropy_effective_rank(); st.participation_ratio(); st.stable_rank();

  const Eigen::Index k = st.rank_at(0.9);
  attnspec::SoftmaxStabilityBound<double> b(Q, K);     // same field definition; optional causal mask via options
  auto r = b.at_rank(k);   // r.measured_max_tv, r.certified_max_tv (a posteriori), r.a_priori_max_tv, r.measured_mean_tv
  b.min_rank(0.05);        // smallest k whose certified worst-row TV is <= 0.05
  // clang-format on

  static_assert(std::is_integral_v<decltype(st.rank_at(0.9))>, "rank_at returns an integer type");
  static_assert(
      std::is_same_v<decltype(r.measured_max_tv), double> && std::is_same_v<decltype(r.certified_max_tv), double> &&
          std::is_same_v<decltype(r.a_priori_max_tv), double> && std::is_same_v<decltype(r.measured_mean_tv), double>,
      "the r. fields are doubles");
  CHECK(r.measured_max_tv <= r.certified_max_tv + 1e-12);
  CHECK(r.certified_max_tv <= r.a_priori_max_tv + 1e-12);
  CHECK(r.measured_mean_tv <= r.measured_max_tv);
  CHECK(b.at_rank(b.min_rank(0.05)).certified_max_tv <= 0.05);
  REQUIRE(s.size() <= 64);
  REQUIRE(t.size() <= 64);
  require_same_spectrum(s, dense_singular_values(reference_field(Q, K, 1 / std::sqrt(64.0), true)), 1e-12);
  require_same_spectrum(t, dense_singular_values(Wq.transpose() * Wk), 1e-12);
  CHECK(st.rank_at(0.9) <= 6);
  CHECK(attnspec::SpectrumStats<double>(t).rank_at(0.9) > 3 * st.rank_at(0.9));
}

TEST_CASE("the header version matches the CMake project version", "[contract]") {
  CHECK(std::string(ATTNSPEC_VERSION_STRING) == ATTNSPEC_CMAKE_PROJECT_VERSION);
}
