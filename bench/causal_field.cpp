// The causal prefix-centred field (CausalLogitEnergyField) beside the full field of the same head: a random head,
// where k@0.9 of F is about a hundred and Lanczos runs a few hundred steps, and a compressible one (three
// directions plus noise), where it stops after a few dozen.
#include <benchmark/benchmark.h>
#include <attnspec/causal_logit_field.hpp>

#include <type_traits>

#include "bench_inputs.hpp"

namespace {

using attnspec_bench::random_matrix;

// range(2): 0 for a random head, else the number of directions of a compressible one.
std::pair<Eigen::MatrixXd, Eigen::MatrixXd> causal_head(const benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1), directions = state.range(2);
  if (directions == 0) return {random_matrix(n, d, 1), random_matrix(n, d, 2)};
  const Eigen::MatrixXd basis = random_matrix(directions, d, 3);
  return {random_matrix(n, directions, 4) * basis + 0.05 * random_matrix(n, d, 5),
          random_matrix(n, directions, 6) * basis + 0.05 * random_matrix(n, d, 7)};
}

// Field: CausalLogitEnergyField<double> or LogitEnergyField<double>, timed on the same heads.
template <class Field>
void BM_FieldOfCausalHead(benchmark::State& state) {
  const auto [q, k] = causal_head(state);
  Field field;
  for (auto _ : state) {
    field.compute(q, k);
    benchmark::DoNotOptimize(field.singular_values().data());
  }
  if constexpr (std::is_same_v<Field, attnspec::CausalLogitEnergyField<double>>) {
    state.counters["k@0.9"] = double(field.rank_at(0.9));
  }
}

}  // namespace

BENCHMARK(BM_FieldOfCausalHead<attnspec::CausalLogitEnergyField<double>>)
    ->ArgsProduct({{1024, 2048}, {64}, {0, 3}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FieldOfCausalHead<attnspec::LogitEnergyField<double>>)
    ->ArgsProduct({{1024, 2048}, {64}, {0, 3}})
    ->Unit(benchmark::kMillisecond);
