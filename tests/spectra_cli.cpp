// Test helper for the numpy oracle: prints the singular values attnspec computes for matrices given as raw
// little-endian float64 files in row-major order.
//   spectra_cli field <n> <m> <d> <scale> <q.bin> <k.bin>
//   spectra_cli interaction <d> <D> <wq.bin> <wk.bin>
#include <attnspec/attnspec.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMajor read_matrix(const char* path, Eigen::Index rows, Eigen::Index cols) {
  RowMajor m(rows, cols);
  std::ifstream file(path, std::ios::binary);
  file.read(reinterpret_cast<char*>(m.data()), static_cast<std::streamsize>(sizeof(double)) * m.size());
  if (!file || file.peek() != EOF) {
    std::fprintf(stderr, "spectra_cli: %s does not hold exactly %ldx%ld doubles\n", path, long(rows), long(cols));
    std::exit(2);
  }
  return m;
}

void print(const Eigen::VectorXd& sigma) {
  for (Eigen::Index i = 0; i < sigma.size(); ++i) std::printf("%.17g\n", sigma(i));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "field" && argc == 8) {
    const long n = std::atol(argv[2]), m = std::atol(argv[3]), d = std::atol(argv[4]);
    attnspec::FieldOptions options;
    options.scale = std::atof(argv[5]);
    print(attnspec::LogitEnergyField<double>(read_matrix(argv[6], n, d), read_matrix(argv[7], m, d), options)
              .singular_values());
    return 0;
  }
  if (mode == "interaction" && argc == 6) {
    const long d = std::atol(argv[2]), model_dim = std::atol(argv[3]);
    print(attnspec::InteractionMatrix<double>(read_matrix(argv[4], d, model_dim), read_matrix(argv[5], d, model_dim))
              .singular_values());
    return 0;
  }
  std::fprintf(stderr, "usage: spectra_cli field n m d scale q.bin k.bin | interaction d D wq.bin wk.bin\n");
  return 2;
}
