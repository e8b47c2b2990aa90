// Synthetic heads in a few lines: token states with a few dominant directions, random projection weights,
// and the two spectra side by side — the gap attnspec measures on real models.
#include <attnspec/attnspec.hpp>

#include <cstdio>
#include <random>

int main() {
  const Eigen::Index tokens = 512, model_dim = 256, head_dim = 64, heads = 4;
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  auto gaussian = [&](Eigen::Index rows, Eigen::Index cols) {
    return Eigen::MatrixXd::NullaryExpr(rows, cols, [&] { return normal(rng); }).eval();
  };

  // Hidden states of a text concentrate on a few directions; the weights are full-rank.
  const Eigen::MatrixXd states = gaussian(tokens, 6) * gaussian(6, model_dim) + 0.05 * gaussian(tokens, model_dim);

  std::printf("head  k@0.9(field)  k@0.9(M)  erank(field)  erank(M)  erank gap\n");
  for (Eigen::Index head = 0; head < heads; ++head) {
    const Eigen::MatrixXd w_q = gaussian(head_dim, model_dim), w_k = gaussian(head_dim, model_dim);
    // Q = X·W_Qᵀ and K = X·W_Kᵀ, as the head computes them.
    attnspec::LogitEnergyField<double> field(states * w_q.transpose(), states * w_k.transpose());
    attnspec::InteractionMatrix<double> weights(w_q, w_k);
    const attnspec::SpectrumStats field_stats(field.singular_values());
    const attnspec::SpectrumStats weight_stats(weights.singular_values());
    const auto gap = attnspec::spectrum_gap(weight_stats, field_stats);
    std::printf("%4ld  %12ld  %8ld  %12.2f  %8.2f  %8.1fx\n", static_cast<long>(head),
                static_cast<long>(field_stats.rank_at(0.9)), static_cast<long>(weight_stats.rank_at(0.9)),
                field_stats.entropy_effective_rank(), weight_stats.entropy_effective_rank(),
                gap.entropy_effective_rank);
  }
  return 0;
}
