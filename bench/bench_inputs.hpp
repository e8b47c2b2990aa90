// Inputs and counters shared by the benchmarks: reproducible random heads, built outside the timed loops.
#pragma once

#include <benchmark/benchmark.h>

#include <attnspec/logit_energy_field.hpp>

#include <Eigen/Core>
#include <random>
#include <string>

namespace attnspec_bench {

// Short names for the field algorithms, as they appear in the benchmark names.
constexpr auto kAccurate = attnspec::FieldAlgorithm::accurate;
constexpr auto kGram = attnspec::FieldAlgorithm::gram;

inline Eigen::MatrixXd random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  return Eigen::MatrixXd::NullaryExpr(rows, cols, [&] { return normal(rng); });
}

/// Names the route each factor of a spectrum took (`Q cholesky_qr, K cholesky_qr`) as the benchmark's label.
template <class Spectrum>
void label_routes(benchmark::State& state, const Spectrum& spectrum) {
  state.SetLabel(std::string("Q ") + attnspec::to_string(spectrum.query_route()) + ", K " +
                 attnspec::to_string(spectrum.key_route()));
}

/// Rates every benchmark of an n×d pair of factors by the same yardstick, the 4·n·d² flops of the two XᵀX
/// products (the floor), so a FLOP/s figure below the floor's own says how far from the floor a route is.
inline void count_floor_flops(benchmark::State& state, Eigen::Index rows, Eigen::Index d) {
  state.counters["FLOP/s"] = benchmark::Counter(4.0 * double(rows) * double(d) * double(d) * double(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.SetItemsProcessed(state.iterations());
}

}  // namespace attnspec_bench
