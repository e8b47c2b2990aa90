#include <attnspec/attnspec.hpp>

#include <iostream>

int main() {
  // One head: 256 queries and keys of size 64 that mostly live in 3 directions, plus noise.
  const Eigen::MatrixXd basis = Eigen::MatrixXd::Random(3, 64);
  const Eigen::MatrixXd Q = Eigen::MatrixXd::Random(256, 3) * basis + 0.01 * Eigen::MatrixXd::Random(256, 64);
  const Eigen::MatrixXd K = Eigen::MatrixXd::Random(256, 3) * basis + 0.01 * Eigen::MatrixXd::Random(256, 64);

  attnspec::LogitEnergyField<double> field(Q, K);  // E~ = Q·(K − mean key)ᵀ/√64, never formed
  attnspec::SpectrumStats<double> stats(field.singular_values());

  std::cout << "k@0.9 = " << stats.rank_at(0.9) << ", entropy effective rank = " << stats.entropy_effective_rank()
            << "\n";
}
