// The interaction-matrix spectrum of one head (D×d weight slices, D = 768…4096) next to the floor of the same
// shapes, and the statistics of a spectrum.
#include <benchmark/benchmark.h>
#include <attnspec/interaction_matrix.hpp>
#include <attnspec/spectrum_stats.hpp>

#include "bench_inputs.hpp"

namespace {

using attnspec_bench::count_floor_flops;
using attnspec_bench::label_routes;
using attnspec_bench::random_matrix;

void BM_InteractionMatrix(benchmark::State& state) {
  const Eigen::Index model_dim = state.range(0), d = state.range(1);
  const Eigen::MatrixXd query_weight = random_matrix(d, model_dim, 3), key_weight = random_matrix(d, model_dim, 4);
  attnspec::InteractionMatrix<double> interaction;
  for (auto _ : state) {
    interaction.compute(query_weight, key_weight);
    benchmark::DoNotOptimize(interaction.singular_values().data());
  }
  label_routes(state, interaction);
  count_floor_flops(state, model_dim, d);
}

void BM_InteractionFloor(benchmark::State& state) {
  const Eigen::Index model_dim = state.range(0), d = state.range(1);
  const Eigen::MatrixXd query_weight = random_matrix(d, model_dim, 3), key_weight = random_matrix(d, model_dim, 4);
  Eigen::MatrixXd gram_q(d, d), gram_k(d, d);
  for (auto _ : state) {
    gram_q.noalias() = query_weight * query_weight.transpose();
    gram_k.noalias() = key_weight * key_weight.transpose();
    benchmark::DoNotOptimize(gram_q.data());
    benchmark::DoNotOptimize(gram_k.data());
  }
  count_floor_flops(state, model_dim, d);
}

void BM_SpectrumStats(benchmark::State& state) {
  const Eigen::VectorXd sigma = random_matrix(state.range(0), 1, 5).cwiseAbs();
  for (auto _ : state) {
    const attnspec::SpectrumStats<double> stats(sigma);
    benchmark::DoNotOptimize(stats.rank_at(0.9));
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_InteractionMatrix)->ArgsProduct({{768, 2048, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InteractionFloor)->ArgsProduct({{768, 2048, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpectrumStats)->Arg(64)->Arg(128)->Unit(benchmark::kMicrosecond);
