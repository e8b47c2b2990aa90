// A downstream program: one head's field and weights, through the installed or vendored attnspec.
#include <attnspec/attnspec.hpp>

#include <cstdio>

int main() {
  const Eigen::MatrixXd basis = Eigen::MatrixXd::Random(2, 16);
  const Eigen::MatrixXd q = Eigen::MatrixXd::Random(40, 2) * basis, k = Eigen::MatrixXd::Random(40, 2) * basis;
  const attnspec::LogitEnergyField<double> field(q, k);
  const attnspec::SpectrumStats<double> stats(field.singular_values());
  const attnspec::InteractionMatrix<double> weights(Eigen::MatrixXd::Random(16, 32), Eigen::MatrixXd::Random(16, 32));
  std::printf("attnspec %s: k@0.9 = %ld, M has %ld singular values\n", ATTNSPEC_VERSION_STRING,
              static_cast<long>(stats.rank_at(0.9)), static_cast<long>(weights.singular_values().size()));
  return stats.rank_at(0.9) <= 2 && weights.singular_values().size() == 16 ? 0 : 1;
}
