// First benchmark: the factored field spectrum at head sizes 64 and 128, next to the arithmetic floor of any
// QR or Gram route (two XᵀX products of the same n×d shapes) and, where it fits, Eigen's dense SVD.
#include <benchmark/benchmark.h>
#include <attnspec/logit_energy_field.hpp>

#include <Eigen/SVD>

#include "bench_inputs.hpp"

namespace {

using attnspec_bench::random_matrix;

void BM_FieldSpectrum(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const Eigen::MatrixXd q = random_matrix(n, d, 1), k = random_matrix(n, d, 2);
  attnspec::LogitEnergyField<double> field;
  for (auto _ : state) {
    field.compute(q, k);
    benchmark::DoNotOptimize(field.singular_values().data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_GramFloor(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const Eigen::MatrixXd q = random_matrix(n, d, 1), k = random_matrix(n, d, 2);
  Eigen::MatrixXd gram_q(d, d), gram_k(d, d);
  for (auto _ : state) {
    gram_q.noalias() = q.transpose() * q;
    gram_k.noalias() = k.transpose() * k;
    benchmark::DoNotOptimize(gram_q.data());
    benchmark::DoNotOptimize(gram_k.data());
  }
  // Two n×d×d products, counted as 2·n·d² flops each.
  state.counters["FLOP/s"] = benchmark::Counter(4.0 * double(n) * double(d) * double(d) * double(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

void BM_DenseSvdOfMaterialisedField(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const Eigen::MatrixXd q = random_matrix(n, d, 1), k = random_matrix(n, d, 2);
  const Eigen::MatrixXd field = q * (k.rowwise() - k.colwise().mean()).transpose();
  for (auto _ : state) {
    Eigen::BDCSVD<Eigen::MatrixXd> svd(field);
    benchmark::DoNotOptimize(svd.singularValues().data());
  }
}

}  // namespace

BENCHMARK(BM_FieldSpectrum)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GramFloor)->ArgsProduct({{512, 1024, 4096}, {64, 128}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DenseSvdOfMaterialisedField)->ArgsProduct({{512}, {64, 128}})->Unit(benchmark::kMillisecond);
