// Shared helpers for the attnspec tests: random heads and an independent dense oracle.
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <random>
#include <string>
#include <type_traits>

#include <attnspec/errors.hpp>

#include "catch.hpp"

namespace attnspec_test {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

template <typename Scalar>
using MatrixX = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <typename Scalar>
using VectorX = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Tolerance on |Δσ_l| relative to σ₁: the 1e-12 for double, a float-sized one for float.
template <typename Scalar>
constexpr double spectrum_tolerance() {
  return std::is_same_v<Scalar, float> ? 2e-5 : 1e-12;
}

inline MatrixXd gaussian(Index rows, Index cols, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  MatrixXd m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = normal(rng);
  return m;
}

/// rows×cols of rank `rank` plus Gaussian noise of size `noise`.
inline MatrixXd low_rank_plus_noise(Index rows, Index cols, Index rank, double noise, std::mt19937_64& rng) {
  return gaussian(rows, rank, rng) * gaussian(rank, cols, rng) + noise * gaussian(rows, cols, rng);
}

/// The field s·Q·(K − mean key)ᵀ (or s·Q·Kᵀ) formed entry by entry in double, independent of the library.
inline MatrixXd reference_field(const MatrixXd& q, const MatrixXd& k, double scale, bool centre,
                                Index drop_leading_keys = 0) {
  const MatrixXd kept = k.bottomRows(k.rows() - drop_leading_keys);
  MatrixXd e = scale * q * kept.transpose();
  if (centre) e.colwise() -= e.rowwise().mean();
  return e;
}

/// Singular values of a dense matrix by one-sided Jacobi (the most accurate dense SVD Eigen has).
inline VectorXd dense_singular_values(const MatrixXd& m) { return Eigen::JacobiSVD<MatrixXd>(m).singularValues(); }

/// Every |got_l − expected_l| ≤ tol·σ₁, and any expected value beyond got's length is itself ≤ tol·σ₁.
template <class DerivedGot>
void require_same_spectrum(const Eigen::MatrixBase<DerivedGot>& got, const VectorXd& expected, double tol) {
  const double sigma1 = expected.size() ? expected(0) : 0.0;
  const VectorXd g = got.template cast<double>();
  INFO("got      " << g.transpose().head(std::min<Index>(g.size(), 8)));
  INFO("expected " << expected.transpose().head(std::min<Index>(expected.size(), 8)));
  for (Index l = 1; l < g.size(); ++l) REQUIRE(g(l) <= g(l - 1));
  for (Index l = 0; l < std::max(g.size(), expected.size()); ++l) {
    const double a = l < g.size() ? g(l) : 0.0;
    const double b = l < expected.size() ? expected(l) : 0.0;
    INFO("l = " << l << ", sigma1 = " << sigma1);
    REQUIRE(std::abs(a - b) <= tol * sigma1);
  }
}

/// Runs `action`, which must throw `Error` whose message starts with `prefix` and contains every fragment.
template <class Error, class Action>
void require_error(Action&& action, const std::string& prefix, std::initializer_list<std::string> fragments) {
  try {
    action();
  } catch (const Error& error) {
    const std::string message = error.what();
    INFO("message: " << message);
    REQUIRE(message.rfind(prefix, 0) == 0);
    for (const auto& fragment : fragments) CHECK(message.find(fragment) != std::string::npos);
    return;
  }
  FAIL("expected " << prefix);
}

template <class Action>
void require_invalid_argument(Action&& action, std::initializer_list<std::string> fragments) {
  require_error<attnspec::invalid_argument>(action, "[attnspec.invalid_argument]", fragments);
}

template <class Action>
void require_io_error(Action&& action, std::initializer_list<std::string> fragments) {
  require_error<attnspec::io_error>(action, "[attnspec.io_error] ", fragments);
}

}  // namespace attnspec_test
