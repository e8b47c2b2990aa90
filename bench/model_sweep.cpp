// A whole-model sweep: the field spectrum of every head of a 32-layer × 32-head model at d = 128 on n = 2048
// tokens, through analyse_model on 1 and 2 threads. The loader hands out copies of a few pre-drawn heads, as a host
// would copy activations out of its own buffers.
#include <benchmark/benchmark.h>
#include <attnspec/pipeline.hpp>

#include <vector>

#include "bench_inputs.hpp"

namespace {

using attnspec_bench::kAccurate;
using attnspec_bench::kGram;
using attnspec_bench::random_matrix;

template <typename Scalar, attnspec::FieldAlgorithm algorithm>
void BM_ModelSweep(benchmark::State& state) {
  const Eigen::Index layers = 32, heads_per_layer = 32, n = state.range(0), d = state.range(1);
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  std::vector<Matrix> pool;
  for (unsigned seed = 0; seed < 8; ++seed) pool.push_back(random_matrix(n, d, seed).cast<Scalar>());
  const std::vector<attnspec::HeadId> units = attnspec::model_heads(layers, heads_per_layer, heads_per_layer);
  auto load = [&](const attnspec::HeadId& head) {
    attnspec::HeadInput<Scalar> input;
    const auto index = static_cast<std::size_t>(head.layer + head.first_query_head);
    input.queries = pool[index % pool.size()];
    input.keys = pool[(index + 1) % pool.size()];
    return input;
  };
  attnspec::PipelineOptions options;
  options.stability = false;
  options.field.algorithm = algorithm;
  options.threads = static_cast<unsigned>(state.range(2));
  for (auto _ : state) {
    const attnspec::ModelReport report = attnspec::analyse_model<Scalar>(units, load, options);
    benchmark::DoNotOptimize(report.heads.data());
  }
  state.counters["heads/s"] =
      benchmark::Counter(double(units.size()) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void sweep_runs(benchmark::internal::Benchmark* b) {
  b->Args({2048, 128, 1})->Args({2048, 128, 2})->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_ModelSweep<double, kAccurate>)->Apply(sweep_runs);
BENCHMARK(BM_ModelSweep<float, kAccurate>)->Apply(sweep_runs);
BENCHMARK(BM_ModelSweep<double, kGram>)->Apply(sweep_runs);
