// The all-rank stability pass (certificate and measured TV/KL for every k), the certificate alone at every k, and
// the certificate with the change measured at one rank, next to one n×m×d GEMM (the product that materialising the
// field would cost) and one exponential per field entry.
#include <benchmark/benchmark.h>
#include <attnspec/softmax_stability.hpp>

#include "bench_inputs.hpp"

namespace {

using attnspec_bench::random_matrix;

template <unsigned threads>
void BM_StabilityAllRanks(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const Eigen::MatrixXd q = random_matrix(n, d, 1), k = random_matrix(n, d, 2);
  attnspec::StabilityOptions options;
  options.threads = threads;
  for (auto _ : state) {
    attnspec::SoftmaxStabilityBound<double> bound(q, k, options);
    benchmark::DoNotOptimize(bound.at_rank(0).certified_max_tv);
  }
  state.counters["ranks"] = double(d);
}

// measured_ranks = {}: the certificate at every rank, no exponential. {8}: and the change measured at k = 8.
template <int measured_rank>
void BM_StabilityCertificate(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const Eigen::MatrixXd q = random_matrix(n, d, 1), k = random_matrix(n, d, 2);
  attnspec::StabilityOptions options;
  options.measured_ranks = std::vector<Eigen::Index>{};
  if (measured_rank >= 0) options.measured_ranks->push_back(measured_rank);
  for (auto _ : state) {
    attnspec::SoftmaxStabilityBound<double> bound(q, k, options);
    benchmark::DoNotOptimize(bound.at_rank(0).certified_max_tv);
  }
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

// One exponential per field entry: the pass needs this once per evaluated rank for the measured TV and KL, so
// (ranks + 1) times this is a floor for the all-rank pass that no reordering of the rest can go below.
void BM_ExpPerEntry(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Eigen::ArrayXXd logits = random_matrix(n, n, 3).array();
  Eigen::ArrayXXd weights(n, n);
  for (auto _ : state) {
    weights = logits.exp();
    benchmark::DoNotOptimize(weights.data());
  }
}

}  // namespace

BENCHMARK(BM_StabilityAllRanks<1>)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StabilityAllRanks<2>)
    ->ArgsProduct({{512, 1024, 4096}, {64, 128}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_StabilityCertificate<-1>)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StabilityCertificate<8>)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ExpPerEntry)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FieldGemm)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
