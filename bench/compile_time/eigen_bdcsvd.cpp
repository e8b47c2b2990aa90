// Compile-time probe: the reference, Eigen's BDCSVD once on the materialised field (scripts/measure-compile-time.sh).
#include <Eigen/SVD>
#include <cstdio>

int main() {
  const Eigen::MatrixXd queries = Eigen::MatrixXd::Random(512, 64), keys = Eigen::MatrixXd::Random(512, 64);
  const Eigen::MatrixXd field = queries * keys.transpose() / 8.0;
  const Eigen::BDCSVD<Eigen::MatrixXd> svd(field);
  std::printf("%g\n", svd.singularValues()(0));
}
