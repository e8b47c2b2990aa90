// Compile-time probe: the umbrella header and one field's singular values (scripts/measure-compile-time.sh).
#include <attnspec/attnspec.hpp>
#include <cstdio>

int main() {
  const Eigen::MatrixXd queries = Eigen::MatrixXd::Random(512, 64), keys = Eigen::MatrixXd::Random(512, 64);
  const attnspec::LogitEnergyField<> field(queries, keys);
  std::printf("%g\n", field.singular_values()(0));
}
