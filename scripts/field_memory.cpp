// The memory and time of one field over many float tokens, with and without the field keeping its own copies of
// Q and K (FieldOptions::keep_factors). Prints the peak resident set beyond the inputs, so run each setting in its
// own process: scripts/measure-field-memory.sh does.
//   field_memory keep|in-place TOKENS HEAD_DIM
#include <sys/resource.h>
#include <attnspec/logit_energy_field.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

double peak_resident_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || (std::strcmp(argv[1], "keep") != 0 && std::strcmp(argv[1], "in-place") != 0)) {
    std::fprintf(stderr, "usage: field_memory keep|in-place TOKENS HEAD_DIM\n");
    return 2;
  }
  const Eigen::Index n = std::atol(argv[2]), d = std::atol(argv[3]);
  const Eigen::MatrixXf q = Eigen::MatrixXf::Random(n, d), k = Eigen::MatrixXf::Random(n, d);
  const double inputs_mib = 2.0 * static_cast<double>(n * d) * sizeof(float) / (1024.0 * 1024.0);
  const double before = peak_resident_mib();
  attnspec::FieldOptions options;
  options.keep_factors = std::strcmp(argv[1], "keep") == 0;
  options.threads = 2;
  const auto started = std::chrono::steady_clock::now();
  const attnspec::LogitEnergyField<float> field(q, k, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "%-8s n = %ld, d = %ld: %.2f s, inputs %.0f MiB, peak %.0f MiB (%.0f MiB before the field), sigma_1 %.6g\n",
      argv[1], static_cast<long>(n), static_cast<long>(d), seconds, inputs_mib, peak_resident_mib(), before,
      static_cast<double>(field.singular_values()(0)));
}
