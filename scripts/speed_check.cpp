// The accurate field next to its floor, as a user's program sees them: compiled by scripts/speed-check.sh with a
// plain compiler command line against installed headers (no benchmark library, no attnspec build flags).
// Prints, per shape and scalar, the best of several timings of LogitEnergyField and of the two XᵀX products, and
// writes every field's singular values (17 digits) to the file named by the second argument, so that builds with
// different flags or a BLAS can be compared value for value.
#include <attnspec/logit_energy_field.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace {

template <class Work>
double best_milliseconds(Work&& work, int repeats) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    work();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

template <typename Scalar>
void field_over_floor(Eigen::Index n, Eigen::Index d, int repeats, std::ofstream& values) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Matrix q = Matrix::Random(n, d), k = Matrix::Random(n, d);
  Matrix gram_q(d, d), gram_k(d, d);
  attnspec::LogitEnergyField<Scalar> field;
  const auto floor_products = [&] {
    gram_q.noalias() = q.transpose() * q;
    gram_k.noalias() = k.transpose() * k;
  };
  const double floor_before = best_milliseconds(floor_products, repeats);
  // Both ways a user's program runs it: one object recomputed head after head, and the contract's form, a field
  // constructed for each head.
  const double recomputed = best_milliseconds([&] { field.compute(q, k); }, repeats);
  const double constructed = best_milliseconds(
      [&] {
        const attnspec::LogitEnergyField<Scalar> fresh(q, k);
        if (!(fresh.singular_values()(0) >= 0)) std::abort();
      },
      repeats);
  // The floor is the products' best time in this process: Eigen allocates their packing buffers per call, and
  // whether the C library hands those back to the system (so that they page-fault afresh each time) depends on what
  // the process allocated before, so the floor is timed before and after the fields and the faster kept.
  const double floor = std::min(floor_before, best_milliseconds(floor_products, repeats));
  values.precision(17);
  values << (sizeof(Scalar) == 8 ? "double" : "float") << ' ' << n << ' ' << d << ": "
         << field.singular_values().transpose().template cast<double>() << '\n';
  std::printf(
      "%-6s n = %6ld, d = %3ld: floor %7.2f ms; field recomputed %7.2f ms (%.2fx), constructed %7.2f ms (%.2fx)\n",
      sizeof(Scalar) == 8 ? "double" : "float", static_cast<long>(n), static_cast<long>(d), floor, recomputed,
      recomputed / floor, constructed, constructed / floor);
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 15;
  std::ofstream values(argc > 2 ? argv[2] : "/dev/null");
  for (const Eigen::Index n : {4096, 16384}) {
    for (const Eigen::Index d : {64, 128}) {
      field_over_floor<double>(n, d, repeats, values);
      field_over_floor<float>(n, d, repeats, values);
    }
  }
}
