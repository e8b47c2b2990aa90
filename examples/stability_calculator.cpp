// How much does attention change if a head's logit energy field is cut to rank k? One synthetic head (token
// states on a few directions, like text), every rank at once: the a priori routes, the certificate and the truth.
// Usage: stability_calculator [tokens] [head_dim] [causal 0|1]
// Built as stability_calculator_mpi and run under mpirun -n N (or srun), each rank computes every N-th block of
// rows of the pass (StabilityOptions::share) and rank 0 completes and prints exactly what one process prints.
#include <attnspec/attnspec.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>

#include "command_line.hpp"
#ifdef ATTNSPEC_EXAMPLES_MPI
#include "mpi_ranks.hpp"
#endif

int main(int argc, char** argv) {
  // argv[i] as a positive whole number, or `fallback` when absent; anything else is a usage error.
  auto argument = [&](int i, Eigen::Index fallback, Eigen::Index smallest) {
    if (argc <= i) return fallback;
    const std::optional<Eigen::Index> value = parse_number<Eigen::Index>(argv[i]);
    if (!value || *value < smallest) {
      std::fprintf(stderr,
                   "stability_calculator: '%s' is not a whole number >= %ld\n"
                   "usage: stability_calculator [tokens] [head_dim] [causal 0|1]\n",
                   argv[i], static_cast<long>(smallest));
      std::exit(2);
    }
    return *value;
  };
  if (argc > 4) {
    std::fprintf(stderr, "usage: stability_calculator [tokens] [head_dim] [causal 0|1]\n");
    return 2;
  }
  const Eigen::Index tokens = argument(1, 512, 2);
  const Eigen::Index head_dim = argument(2, 64, 1);
  const bool causal = argument(3, 1, 0) != 0;
  const Eigen::Index model_dim = 4 * head_dim;

  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  auto gaussian = [&](Eigen::Index rows, Eigen::Index cols) {
    return Eigen::MatrixXd::NullaryExpr(rows, cols, [&] { return normal(rng); }).eval();
  };
  const Eigen::MatrixXd states = gaussian(tokens, 8) * gaussian(8, model_dim) + 0.3 * gaussian(tokens, model_dim);
  // Weights scaled like a trained head's, so logits spread over a few units.
  const double weight_scale = 1.5 / std::sqrt(static_cast<double>(model_dim * 8));
  const Eigen::MatrixXd q = states * (weight_scale * gaussian(head_dim, model_dim)).transpose();
  const Eigen::MatrixXd k = states * (weight_scale * gaussian(head_dim, model_dim)).transpose();
  const Eigen::MatrixXd v = states * gaussian(head_dim, model_dim).transpose() / std::sqrt(double(model_dim));

  attnspec::StabilityOptions options;
  options.causal = causal;
#ifdef ATTNSPEC_EXAMPLES_MPI
  const MpiRanks ranks(argc, argv);
  options.share = {static_cast<std::size_t>(ranks.rank()), static_cast<std::size_t>(ranks.size())};
  attnspec::SoftmaxStabilityBound<double> bound(q, k, v, options);
  const std::vector<std::vector<double>> shares = ranks.gather(bound.share_totals());
  if (ranks.rank() != 0) return 0;
  bound.complete_shares(shares);
#else
  const attnspec::SoftmaxStabilityBound<double> bound(q, k, v, options);
#endif
  const attnspec::SpectrumStats<double> stats(bound.field().singular_values());

  std::printf("n = m = %ld, d = %ld, %s; field k@0.9 = %ld, key coherence %.2f\n", static_cast<long>(tokens),
              static_cast<long>(head_dim), causal ? "causal" : "bidirectional", static_cast<long>(stats.rank_at(0.9)),
              bound.key_coherence());
  std::printf("worst-row TV of attention when the field is cut to rank k:\n");
  std::printf("%4s %7s | %9s %9s %9s %9s | %9s %9s | %9s %9s | %9s %9s\n", "k", "energy", "sigma", "row", "entry",
              "deloc(c)", "mean(apr)", "mean", "certified", "measured", "out(cert)", "out(meas)");
  for (Eigen::Index rank : {0, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64}) {
    if (rank > bound.max_rank()) break;
    const auto& at = bound.at_rank(rank);
    std::printf("%4ld %7.4f | %9.3g %9.3g %9.3g %9.3g | %9.3g %9.3g | %9.3g %9.3g | %9.3g %9.3g\n",
                static_cast<long>(rank), stats.cumulative_variance()(rank), at.a_priori_sigma_tv, at.a_priori_row_tv,
                at.a_priori_entry_tv, at.delocalisation_max_tv, at.a_priori_mean_tv, at.measured_mean_tv,
                at.certified_max_tv, at.measured_max_tv, *at.certified_output_error, *at.measured_output_error);
  }
  std::printf("smallest rank for worst-row TV <= 0.05: certified %ld, measured %ld, best a priori %ld\n",
              static_cast<long>(bound.min_rank(0.05)),
              static_cast<long>(bound.min_rank(0.05, attnspec::StabilityTarget::measured_max_tv)),
              static_cast<long>(bound.min_rank(0.05, attnspec::StabilityTarget::a_priori_max_tv)));
  return 0;
}
