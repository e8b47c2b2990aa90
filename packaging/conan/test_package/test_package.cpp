// Conan's package test: the packaged headers compile, link and give a rank-2 head's spectrum.
#include <attnspec/attnspec.hpp>

#include <cstdio>

int main() {
  const Eigen::MatrixXd basis = Eigen::MatrixXd::Random(2, 8);
  const attnspec::LogitEnergyField<double> field(Eigen::MatrixXd::Random(30, 2) * basis,
                                                 Eigen::MatrixXd::Random(30, 2) * basis);
  const Eigen::Index rank = attnspec::SpectrumStats<double>(field.singular_values()).rank_at(0.999);
  std::printf("attnspec %s: k@0.999 = %ld\n", ATTNSPEC_VERSION_STRING, static_cast<long>(rank));
  return rank <= 2 ? 0 : 1;
}
