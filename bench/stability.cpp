// The all-rank stability pass (certificate and measured TV/KL for every k), next to one n×m×d GEMM, the
// product that materialising the field would cost.
#include <benchmark/benchmark.h>
#include <attnspec/softmax_stability.hpp>

#include "bench_inputs.hpp"

namespace {

using attnspec_bench::random_matrix;

void BM_StabilityAllRanks(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const Eigen::MatrixXd q = random_matrix(n, d, 1), k = random_matrix(n, d, 2);
  for (auto _ : state) {
    attnspec::SoftmaxStabilityBound<double> bound(q, k);
    benchmark::DoNotOptimize(bound.at_rank(0).certified_max_tv);
  }
  state.counters["ranks"] = double(d);
}

void BM_FieldGemm(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const Eigen::MatrixXd q = random_matrix(n, d, 1), k = random_matrix(n, d, 2);
  Eigen::MatrixXd field(n, n);
  for (auto _ : state) {
    field.noalias() = q * k.transpose();
    benchmark::DoNotOptimize(field.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * double(n) * double(n) * double(d) * double(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_StabilityAllRanks)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FieldGemm)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
