// Inputs shared by the benchmarks: reproducible random heads, built outside the timed loops.
#pragma once

#include <Eigen/Core>
#include <random>

namespace attnspec_bench {

inline Eigen::MatrixXd random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  return Eigen::MatrixXd::NullaryExpr(rows, cols, [&] { return normal(rng); });
}

}  // namespace attnspec_bench
