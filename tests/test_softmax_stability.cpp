#include <attnspec/io/report_fields.hpp>
#include <attnspec/softmax_stability.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "test_support.hpp"

using attnspec::SoftmaxStabilityBound;
using attnspec::StabilityOptions;
using attnspec::StabilityTarget;
using namespace attnspec_test;

namespace {

// Plain log-softmax, written independently of the library.
Eigen::ArrayXd log_softmax(const Eigen::ArrayXd& x) {
  const double top = x.maxCoeff();
  return x - top - std::log((x - top).exp().sum());
}

double total_variation(const Eigen::ArrayXd& x, const Eigen::ArrayXd& y) {
  return 0.5 * (log_softmax(x).exp() - log_softmax(y).exp()).abs().sum();
}

double kl_divergence(const Eigen::ArrayXd& x, const Eigen::ArrayXd& y) {
  const Eigen::ArrayXd lp = log_softmax(x), lq = log_softmax(y);
  return (lp.exp() * (lp - lq)).sum();
}

// Per row and per rank, from the dense field and its Jacobi SVD: the certificate, TV, KL both ways and the
// output error.
struct DenseReference {
  MatrixXd certified, tv, kl_forward, kl_reverse, output;
};

DenseReference dense_reference(const MatrixXd& q, const MatrixXd& k, const MatrixXd* v, double scale, bool causal,
                               Index dropped, Index r) {
  const MatrixXd e = reference_field(q, k, scale, true, dropped);
  const Index n = e.rows(), m = e.cols();
  Eigen::JacobiSVD<MatrixXd> svd(e, Eigen::ComputeThinU | Eigen::ComputeThinV);
  DenseReference ref{MatrixXd::Zero(n, r + 1), MatrixXd::Zero(n, r + 1), MatrixXd::Zero(n, r + 1),
                     MatrixXd::Zero(n, r + 1), MatrixXd::Zero(n, r + 1)};
  for (Index rank = 0; rank <= r; ++rank) {
    const MatrixXd truncated = svd.matrixU().leftCols(rank) * svd.singularValues().head(rank).asDiagonal() *
                               svd.matrixV().leftCols(rank).transpose();
    const MatrixXd residual = e - truncated;
    for (Index i = 0; i < n; ++i) {
      const Index seen = causal ? std::clamp<Index>(i + 1 - dropped, 0, m) : m;
      if (seen == 0) continue;
      const Eigen::ArrayXd x = e.row(i).head(seen).transpose(), y = truncated.row(i).head(seen).transpose();
      ref.certified(i, rank) =
          std::tanh((residual.row(i).head(seen).maxCoeff() - residual.row(i).head(seen).minCoeff()) / 4);
      ref.tv(i, rank) = total_variation(x, y);
      ref.kl_forward(i, rank) = kl_divergence(x, y);
      ref.kl_reverse(i, rank) = kl_divergence(y, x);
      if (v) {
        const Eigen::VectorXd change = log_softmax(x).exp() - log_softmax(y).exp();
        ref.output(i, rank) = (v->bottomRows(m).topRows(seen).transpose() * change).norm();
      }
    }
  }
  return ref;
}

}  // namespace

TEST_CASE("oracle 1: the per-row lemmas", "[stability][lemmas]") {
  const double l = 4 * std::log(3.0);
  CHECK(attnspec::tv_bound(l) == Approx(0.8).epsilon(1e-15));
  CHECK(attnspec::kl_bound(l) == Approx(1.9566150603706978).epsilon(1e-14));
  CHECK(attnspec::kl_bound(l) <= l * l / 8);
  CHECK(l * l / 8 == Approx(2.413897921625164).epsilon(1e-15));
  // p = (0.9, 0.1) and q = (0.1, 0.9): TV = 0.8 = tanh(ln 3), KL = 1.6 ln 3 both ways.
  Eigen::ArrayXd x(2), y(2);
  x << 2 * std::log(3.0), 0;
  y << 2 * std::log(3.0), 4 * std::log(3.0);
  CHECK(total_variation(x, y) == Approx(0.8).epsilon(1e-15));
  CHECK(kl_divergence(x, y) == Approx(1.7577796618689758).epsilon(1e-14));
  CHECK(kl_divergence(y, x) == Approx(1.7577796618689758).epsilon(1e-14));
  Eigen::ArrayXd half(2), moved(2);
  half << 0, 0;
  moved << 0, 1;
  CHECK(kl_divergence(half, moved) == Approx(0.12011450695827745).epsilon(1e-14));
  CHECK(attnspec::output_bound(0.25, 3.0) == 0.75);
}

TEST_CASE("the two-point case attains tanh(L/4) for every L", "[stability][lemmas]") {
  for (double l : {1e-6, 0.01, 0.3, 1.0, 4.0, 10.0, 30.0}) {
    Eigen::ArrayXd x(2), y(2);
    x << l / 2, 0;
    y << l / 2, l;
    CHECK(total_variation(x, y) == Approx(attnspec::tv_bound(l)).epsilon(1e-9));
    CHECK(kl_divergence(x, y) <= attnspec::kl_bound(l) * (1 + 1e-12));
  }
}

TEST_CASE("phi: the series and the closed form meet at L = 0.05; phi <= min(L^2/8, L)", "[stability][lemmas]") {
  const double below = attnspec::kl_bound(0.05 - 1e-12), above = attnspec::kl_bound(0.05);
  CHECK(below == Approx(above).epsilon(1e-9));
  CHECK(attnspec::kl_bound(0) == 0);
  CHECK(attnspec::kl_bound(1e-5) == Approx(1.25e-11).epsilon(1e-9));
  for (double l = 1e-4; l < 2000; l *= 1.37) {
    const double phi = attnspec::kl_bound(l);
    INFO("L = " << l);
    REQUIRE(std::isfinite(phi));
    REQUIRE(phi > 0);
    REQUIRE(phi <= std::min(l * l / 8, l) * (1 + 1e-12));
  }
  require_invalid_argument([] { (void)attnspec::tv_bound(-1); }, {"tv_bound", "oscillation = -1"});
  require_invalid_argument([] { (void)attnspec::kl_bound(std::nan("")); }, {"kl_bound", "nan"});
}

TEST_CASE("oracle 8: the a priori calculator on sigma = (3, 2, 1), n = m = 4", "[stability]") {
  Eigen::VectorXd sigma(3);
  sigma << 3, 2, 1;
  const auto ranks = attnspec::a_priori_bounds(sigma, 4, 4, Eigen::VectorXd::Ones(4), Eigen::VectorXd::Ones(4));
  REQUIRE(ranks.size() == 4);
  const double expected_b[] = {std::sqrt(7.0), 1.5, 0.5, 0};
  const double expected_tv[] = {0.5793194856, 0.3583573984, 0.1243530018, 0};
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(ranks[k].a_priori_max_oscillation == Approx(expected_b[k]).epsilon(1e-15).margin(1e-300));
    CHECK(ranks[k].a_priori_max_tv == Approx(expected_tv[k]).epsilon(1e-9).margin(1e-300));
  }
  CHECK(attnspec::min_rank(ranks, 0.6, StabilityTarget::a_priori_max_tv) == 0);
  CHECK(attnspec::min_rank(ranks, 0.5, StabilityTarget::a_priori_max_tv) == 1);
  CHECK(attnspec::min_rank(ranks, 0.3, StabilityTarget::a_priori_max_tv) == 2);
  CHECK(attnspec::min_rank(ranks, 0.1, StabilityTarget::a_priori_max_tv) == 3);
  // Only some ranks evaluated and none meets ε: an error, not the last rank evaluated.
  const std::vector<attnspec::StabilityAtRank> partial(ranks.begin(), ranks.begin() + 2);
  require_invalid_argument([&] { (void)attnspec::min_rank(partial, 0.1, StabilityTarget::a_priori_max_tv); },
                           {"none of the evaluated ranks {0, 1} meets epsilon = 0.1"});
  // Suffix tail sums keep tiny tails: σ = (1e4, 1e-6) has T_1 = 1e-12, not 0.
  Eigen::VectorXd skewed(2);
  skewed << 1e4, 1e-6;
  CHECK(attnspec::a_priori_bounds(skewed, 2, 2, Eigen::VectorXd::Ones(3), Eigen::VectorXd::Ones(3))[1].tail_energy ==
        Approx(1e-12).epsilon(1e-15));
}

TEST_CASE("oracle 9: residual identities", "[stability]") {
  std::mt19937_64 rng(9);
  const MatrixXd q = gaussian(30, 8, rng), k = gaussian(25, 8, rng);
  attnspec::FieldOptions options;
  options.compute_vectors = true;
  attnspec::LogitEnergyField<double> field(q, k, options);
  const MatrixXd e = field.dense();
  const Index r = field.singular_values().size();
  const SoftmaxStabilityBound<double> bound(q, k);
  for (Index rank = 0; rank <= r; ++rank) {
    const MatrixXd residual = e - field.rank_k_rows(rank, 0, 30);
    const auto& at = bound.at_rank(rank);
    CHECK(residual.rowwise().squaredNorm().sum() == Approx(at.tail_energy).epsilon(1e-12).margin(1e-24));
    CHECK(residual.rowwise().sum().cwiseAbs().maxCoeff() <= 1e-12 * field.singular_values()(0));
    if (r - rank == 1) {
      CHECK(residual.rowwise().norm().maxCoeff() ==
            Approx(at.coherence_u * std::sqrt(at.tail_energy / 30)).epsilon(1e-12));
    }
  }
}

TEST_CASE("the streaming pass equals a dense row-by-row reference", "[stability]") {
  std::mt19937_64 rng(2026);
  struct Case {
    Index n, m, d;
    bool causal;
    Index dropped;
    double logit_scale;
  };
  for (const Case& c : {Case{40, 30, 8, false, 0, 1.0}, Case{24, 24, 6, true, 0, 3.0}, Case{33, 33, 5, true, 1, 0.5},
                        Case{17, 50, 10, false, 1, 8.0}, Case{12, 12, 16, true, 0, 2.0}}) {
    const MatrixXd q = gaussian(c.n, c.d, rng), k = gaussian(c.m, c.d, rng), v = gaussian(c.m, 4, rng);
    StabilityOptions options;
    options.causal = c.causal;
    options.field.drop_leading_keys = c.dropped;
    options.field.scale = c.logit_scale / std::sqrt(double(c.d));
    options.keep_row_values = true;
    options.block_rows = 7;  // several blocks and a ragged last one
    const SoftmaxStabilityBound<double> bound(q, k, v, options);
    const Index r = bound.max_rank();
    const DenseReference ref = dense_reference(q, k, &v, *options.field.scale, c.causal, c.dropped, r);
    INFO("n " << c.n << " m " << c.m << " d " << c.d << " causal " << c.causal << " dropped " << c.dropped);
    CHECK((bound.row_certified_tv() - ref.certified).cwiseAbs().maxCoeff() <= 1e-10);
    CHECK((bound.row_measured_tv() - ref.tv).cwiseAbs().maxCoeff() <= 1e-10);
    for (Index rank = 0; rank <= r; ++rank) {
      const auto& at = bound.at_rank(rank);
      CHECK(at.certified_max_tv == Approx(ref.certified.col(rank).maxCoeff()).margin(1e-10));
      CHECK(at.certified_mean_tv == Approx(ref.certified.col(rank).mean()).margin(1e-10));
      CHECK(at.measured_max_tv == Approx(ref.tv.col(rank).maxCoeff()).margin(1e-10));
      CHECK(at.measured_mean_tv == Approx(ref.tv.col(rank).mean()).margin(1e-10));
      CHECK(at.measured_max_kl_forward == Approx(ref.kl_forward.col(rank).maxCoeff()).margin(1e-10));
      CHECK(at.measured_max_kl_reverse == Approx(ref.kl_reverse.col(rank).maxCoeff()).margin(1e-10));
      CHECK(at.measured_mean_kl_forward == Approx(ref.kl_forward.col(rank).mean()).margin(1e-10));
      REQUIRE(at.measured_output_error.has_value());
      CHECK(*at.measured_output_error == Approx(ref.output.col(rank).maxCoeff()).margin(1e-10));
    }
    if (c.causal && c.dropped == 0) {
      // The first query sees one key: nothing can change it.
      CHECK(bound.row_certified_tv().row(0).isZero(0));
      CHECK(bound.row_measured_tv().row(0).cwiseAbs().maxCoeff() <= 1e-15);
    }
    // The thread count changes no bit; the block size nothing beyond rounding.
    options.threads = 3;
    const SoftmaxStabilityBound<double> threaded(q, k, v, options);
    CHECK(threaded.row_measured_tv() == bound.row_measured_tv());
    for (Index rank = 0; rank <= r; ++rank) {
      CHECK(threaded.at_rank(rank).measured_mean_kl_forward == bound.at_rank(rank).measured_mean_kl_forward);
      CHECK(threaded.at_rank(rank).certified_max_tv == bound.at_rank(rank).certified_max_tv);
      CHECK(*threaded.at_rank(rank).measured_output_error == *bound.at_rank(rank).measured_output_error);
    }
    options.block_rows = 1000;
    const SoftmaxStabilityBound<double> one_block(q, k, v, options);
    CHECK((one_block.row_measured_tv() - bound.row_measured_tv()).cwiseAbs().maxCoeff() <= 1e-13);
  }
}

namespace {

enum class HeadKind { low_rank_noise, one_hot, attention_sink };

struct GeneratedHead {
  MatrixXd q, k, v;
  StabilityOptions options;
};

// Heads from the regimes where bounds are most likely to break: low rank plus noise at logit scales 0.1–20,
// one-hot (each query points at one key), and attention sinks (one huge key everyone attends to).
GeneratedHead generate_head(int index, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> size(4, 40);
  std::uniform_real_distribution<double> unit(0, 1);
  const HeadKind kind = static_cast<HeadKind>(index % 3);
  const Index d = index % 2 ? 64 : 128;
  GeneratedHead head;
  head.options.causal = unit(rng) < 0.5;
  const Index n = size(rng), m = head.options.causal ? n : size(rng);
  const double logit_scale = 0.1 * std::pow(200.0, unit(rng));  // 0.1 … 20, log-uniform
  switch (kind) {
    case HeadKind::low_rank_noise: {
      const Index rank = 1 + index % 5;
      head.q = low_rank_plus_noise(n, d, rank, 0.1, rng);
      head.k = low_rank_plus_noise(m, d, rank, 0.1, rng);
      break;
    }
    case HeadKind::one_hot: {
      head.k = gaussian(m, d, rng).rowwise().normalized();
      head.q.resize(n, d);
      std::uniform_int_distribution<Index> pick(0, m - 1);
      for (Index i = 0; i < n; ++i) head.q.row(i) = head.k.row(pick(rng)) + 0.05 * gaussian(1, d, rng);
      break;
    }
    case HeadKind::attention_sink: {
      head.k = gaussian(m, d, rng);
      head.k.row(0) *= 30;
      head.q = gaussian(n, d, rng) + MatrixXd::Ones(n, 1) * head.k.row(0) / 30;
      head.options.field.drop_leading_keys = unit(rng) < 0.3 ? 1 : 0;
      break;
    }
  }
  const MatrixXd logits = head.q * head.k.transpose();
  const double spread = std::sqrt((logits.array() - logits.mean()).square().mean()) + 1e-300;
  head.options.field.scale = logit_scale / spread;
  head.options.keep_row_values = true;
  head.v = gaussian(m, 8, rng);
  return head;
}

// The largest amount by which `measured` exceeds `bound` (<= 0 when the bound holds).
double excess(double measured, double bound) { return measured - bound; }

}  // namespace

TEST_CASE("property: no bound is ever below what it bounds (1,200 generated heads)", "[stability][property]") {
  std::mt19937_64 rng(1234);
  const double round_off = 1e-12;
  int heads_checked = 0;
  for (int index = 0; index < 1200; ++index) {
    const GeneratedHead head = generate_head(index, rng);
    const SoftmaxStabilityBound<double> bound(head.q, head.k, head.v, head.options);
    double worst = -1;
    const char* worst_name = "";
    Index worst_rank = -1;
    auto track = [&](double value, const char* name, Index rank) {
      if (value > worst) {
        worst = value;
        worst_name = name;
        worst_rank = rank;
      }
    };
    for (const auto& at : bound.ranks()) {
      // Per row: the certificate bounds the measured TV of that row.
      track((bound.row_measured_tv().col(at.k) - bound.row_certified_tv().col(at.k)).maxCoeff(), "row certificate",
            at.k);
      track(excess(at.measured_max_tv, at.certified_max_tv), "certified max TV", at.k);
      track(excess(at.certified_max_tv, at.a_priori_sigma_tv), "sigma route", at.k);
      track(excess(at.certified_max_tv, at.a_priori_row_tv), "row route", at.k);
      track(excess(at.certified_max_tv, at.a_priori_entry_tv), "entry route", at.k);
      track(excess(at.certified_max_tv, at.delocalisation_max_tv), "delocalisation (measured c)", at.k);
      track(excess(at.measured_max_kl_forward, at.certified_max_kl), "certified KL forward", at.k);
      track(excess(at.measured_max_kl_reverse, at.certified_max_kl), "certified KL reverse", at.k);
      track(excess(at.certified_max_kl, at.a_priori_max_kl), "a priori KL", at.k);
      track(excess(at.measured_mean_tv, at.a_priori_mean_tv), "mean TV", at.k);
      track(excess(at.measured_mean_kl_forward, at.a_priori_mean_kl), "mean KL forward", at.k);
      track(excess(at.measured_mean_kl_reverse, at.a_priori_mean_kl), "mean KL reverse", at.k);
      track(excess(*at.measured_output_error, *at.certified_output_error), "certified output", at.k);
      track(excess(*at.certified_output_error, *at.a_priori_output_error), "a priori output", at.k);
    }
    INFO("head " << index << " (" << worst_name << " at k = " << worst_rank << ") exceeds by " << worst);
    REQUIRE(worst <= round_off);
    // The calculator agrees with the table it reads.
    for (double epsilon : {0.01, 0.1, 0.5}) {
      const Index k = bound.min_rank(epsilon);
      REQUIRE(bound.at_rank(k).certified_max_tv <= epsilon);
      for (Index smaller = 0; smaller < k; ++smaller) REQUIRE(bound.at_rank(smaller).certified_max_tv > epsilon);
      REQUIRE(bound.min_rank(epsilon, StabilityTarget::a_priori_max_tv) >= bound.min_rank(epsilon) - 0);
    }
    ++heads_checked;
  }
  CHECK(heads_checked == 1200);
}

TEST_CASE("float fields give the same certificate to float accuracy", "[stability]") {
  std::mt19937_64 rng(77);
  const MatrixXd q = low_rank_plus_noise(50, 64, 3, 0.05, rng), k = low_rank_plus_noise(50, 64, 3, 0.05, rng);
  StabilityOptions options;
  options.causal = true;
  const SoftmaxStabilityBound<double> in_double(q, k, options);
  const SoftmaxStabilityBound<float> in_float(q.cast<float>(), k.cast<float>(), options);
  for (Index rank = 0; rank <= 5; ++rank) {
    CHECK(in_float.at_rank(rank).certified_max_tv == Approx(in_double.at_rank(rank).certified_max_tv).margin(1e-4));
    CHECK(in_float.at_rank(rank).measured_max_tv == Approx(in_double.at_rank(rank).measured_max_tv).margin(1e-4));
  }
}

TEST_CASE("evaluating chosen ranks gives the full table's entries at those ranks", "[stability]") {
  std::mt19937_64 rng(21);
  const MatrixXd q = low_rank_plus_noise(70, 16, 4, 0.1, rng), k = low_rank_plus_noise(70, 16, 4, 0.1, rng);
  const MatrixXd v = gaussian(70, 5, rng);
  StabilityOptions every, chosen;
  every.causal = chosen.causal = true;
  every.keep_row_values = chosen.keep_row_values = true;
  chosen.ranks = {9, 2, 16, 2, 0};  // unordered, repeated, including 0 and r
  const SoftmaxStabilityBound<double> full(q, k, v, every), some(q, k, v, chosen);
  REQUIRE(some.ranks().size() == 4);
  REQUIRE(some.max_rank() == 16);
  Index column = 0;
  for (const Index rank : {0, 2, 9, 16}) {
    const auto &a = full.at_rank(rank), &b = some.at_rank(rank);
    CHECK(some.ranks()[static_cast<size_t>(column)].k == rank);
    CHECK(b.certified_max_tv == Approx(a.certified_max_tv).margin(1e-13));
    CHECK(b.measured_max_tv == Approx(a.measured_max_tv).margin(1e-13));
    CHECK(b.measured_mean_kl_forward == Approx(a.measured_mean_kl_forward).margin(1e-13));
    CHECK(*b.measured_output_error == Approx(*a.measured_output_error).margin(1e-12));
    CHECK(b.delocalisation_max_tv == Approx(a.delocalisation_max_tv).margin(1e-13));
    CHECK(b.a_priori_max_tv == a.a_priori_max_tv);
    CHECK((some.row_measured_tv().col(column) - full.row_measured_tv().col(rank)).cwiseAbs().maxCoeff() <= 1e-13);
    ++column;
  }
  require_invalid_argument([&] { (void)some.at_rank(3); }, {"at_rank", "k = 3", "not evaluated"});
  chosen.ranks = {3, 17};
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(q, k, chosen); }, {"ranks", "k = 17", "[0, 16]"});
}

TEST_CASE("the certificate alone, and the change measured at chosen ranks only", "[stability]") {
  std::mt19937_64 rng(22);
  const MatrixXd q = low_rank_plus_noise(90, 12, 3, 0.1, rng), k = low_rank_plus_noise(90, 12, 3, 0.1, rng);
  const MatrixXd v = gaussian(90, 4, rng);
  StabilityOptions every;
  every.causal = true;
  every.keep_row_values = true;
  every.block_rows = 13;
  const SoftmaxStabilityBound<double> full(q, k, v, every);

  StabilityOptions certificate = every;
  certificate.measured_ranks = std::vector<Index>{};
  const SoftmaxStabilityBound<double> certified(q, k, v, certificate);
  StabilityOptions some = every;
  some.measured_ranks = std::vector<Index>{7, 2, 2};
  const SoftmaxStabilityBound<double> measured(q, k, v, some);
  REQUIRE(certified.ranks().size() == full.ranks().size());
  REQUIRE(measured.ranks().size() == full.ranks().size());
  for (const auto& at : full.ranks()) {
    INFO("k = " << at.k);
    const auto &alone = certified.at_rank(at.k), &partly = measured.at_rank(at.k);
    // The certificate, the a priori bounds and the residual's size do not depend on what is measured: same bits.
    for (const auto* other : {&alone, &partly}) {
      CHECK(other->certified_max_tv == at.certified_max_tv);
      CHECK(other->certified_mean_tv == at.certified_mean_tv);
      CHECK(other->certified_max_kl == at.certified_max_kl);
      CHECK(*other->certified_output_error == *at.certified_output_error);
      CHECK(other->measured_max_abs_residual == at.measured_max_abs_residual);
      CHECK(other->delocalisation_max_tv == at.delocalisation_max_tv);
      CHECK(other->a_priori_max_tv == at.a_priori_max_tv);
    }
    CHECK(at.measured);
    CHECK(!alone.measured);
    CHECK(std::isnan(alone.measured_max_tv));
    CHECK(std::isnan(alone.measured_mean_kl_reverse));
    CHECK(std::isnan(*alone.measured_output_error));
    CHECK(partly.measured == (at.k == 2 || at.k == 7));
    if (partly.measured) {
      CHECK(partly.measured_max_tv == Approx(at.measured_max_tv).margin(1e-13));
      CHECK(partly.measured_mean_kl_forward == Approx(at.measured_mean_kl_forward).margin(1e-13));
      CHECK(*partly.measured_output_error == Approx(*at.measured_output_error).margin(1e-12));
      CHECK((measured.row_measured_tv().col(at.k) - full.row_measured_tv().col(at.k)).cwiseAbs().maxCoeff() <= 1e-13);
    } else {
      CHECK(std::isnan(partly.measured_mean_tv));
      CHECK(measured.row_measured_tv().col(at.k).array().isNaN().all());
    }
  }
  CHECK(certified.row_certified_tv() == full.row_certified_tv());
  CHECK(certified.row_measured_tv().array().isNaN().all());
  // min_rank: a measured target looks at the measured ranks; with none measured it says so.
  CHECK(certified.min_rank(0.1) == full.min_rank(0.1));
  require_invalid_argument([&] { (void)certified.min_rank(0.1, StabilityTarget::measured_max_tv); },
                           {"min_rank", "measured_max_tv", "measured no rank"});
  CHECK(measured.min_rank(0.999, StabilityTarget::measured_mean_tv) == 2);

  // Measured ranks are evaluated too, next to StabilityOptions::ranks.
  StabilityOptions chosen = every;
  chosen.ranks = {5};
  chosen.measured_ranks = std::vector<Index>{9};
  const SoftmaxStabilityBound<double> two(q, k, chosen);
  REQUIRE(two.ranks().size() == 2);
  CHECK(!two.at_rank(5).measured);
  CHECK(two.at_rank(9).measured);
  CHECK(two.at_rank(5).certified_max_tv == full.at_rank(5).certified_max_tv);
  chosen.measured_ranks = std::vector<Index>{13};
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(q, k, chosen); },
                           {"measured_ranks", "k = 13", "[0, 12]"});
}

TEST_CASE("the certificate over many key tiles matches a dense residual (causal, 1,100 keys, a dropped sink)",
          "[stability]") {
  std::mt19937_64 rng(23);
  const Index n = 1100, d = 4, dropped = 1;
  const MatrixXd q = gaussian(n, d, rng), k = gaussian(n, d, rng);
  StabilityOptions options;
  options.causal = true;
  options.field.drop_leading_keys = dropped;
  options.field.scale = 2.0;
  options.keep_row_values = true;
  options.measured_ranks = std::vector<Index>{};
  options.block_rows = 100;
  options.threads = 2;
  const SoftmaxStabilityBound<double> bound(q, k, options);
  // The oracle: the dense field's own SVD (Eigen's BDCSVD, not the factored kernel), residual by residual.
  const MatrixXd e = reference_field(q, k, 2.0, true, dropped);
  const Eigen::BDCSVD<MatrixXd> svd(e, Eigen::ComputeThinU | Eigen::ComputeThinV);
  for (Index rank = 0; rank <= d; ++rank) {
    // E~ has rank d: its singular triplets d, d+1, ... are rounding noise, left out.
    const MatrixXd residual = svd.matrixU().middleCols(rank, d - rank) *
                              svd.singularValues().segment(rank, d - rank).asDiagonal() *
                              svd.matrixV().middleCols(rank, d - rank).transpose();
    double worst = 0;
    for (Index i = dropped; i < n; ++i) {
      const auto row = residual.row(i).head(i + 1 - dropped);
      worst = std::max(worst,
                       std::abs(std::tanh((row.maxCoeff() - row.minCoeff()) / 4) - bound.row_certified_tv()(i, rank)));
    }
    INFO("k = " << rank);
    CHECK(worst <= 1e-10);
    CHECK(bound.row_certified_tv().col(rank).head(dropped).isZero(0));  // rows that see no key
  }
}

TEST_CASE("key leverage bounds the right singular vectors' row mass", "[stability]") {
  std::mt19937_64 rng(8);
  MatrixXd k = gaussian(40, 6, rng);
  k.row(3) *= 50;  // one dominating key
  const SoftmaxStabilityBound<double> bound(gaussian(30, 6, rng), k);
  const MatrixXd& v = bound.field().right_singular_vectors();
  const Eigen::VectorXd mass = v.rowwise().squaredNorm();
  CHECK((mass - bound.key_leverage()).maxCoeff() <= 1e-12);
  CHECK(bound.key_leverage().sum() == Approx(6.0).epsilon(1e-12));
  Eigen::Index top;
  bound.key_leverage().maxCoeff(&top);
  CHECK(top == 3);
  CHECK(bound.key_coherence() > 5);
}

TEST_CASE("stability errors name the argument and the value", "[stability][errors]") {
  std::mt19937_64 rng(3);
  const MatrixXd q = gaussian(10, 4, rng), k = gaussian(12, 4, rng);
  const SoftmaxStabilityBound<double> bound(q, k);
  for (double epsilon : {0.0, 1.0, -0.5, 2.0, std::nan("")}) {
    require_invalid_argument([&] { (void)bound.min_rank(epsilon); }, {"min_rank", "epsilon ="});
  }
  require_invalid_argument([&] { (void)bound.at_rank(5); }, {"at_rank", "k = 5", "[0, 4]"});
  require_invalid_argument([&] { (void)bound.at_rank(-1); }, {"at_rank", "k = -1"});
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(q, k, gaussian(11, 3, rng)); },
                           {"SoftmaxStabilityBound", "V (11x3)", "K is 12x4"});
  MatrixXd bad_v = gaussian(12, 3, rng);
  bad_v(4, 1) = std::numeric_limits<double>::infinity();
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(q, k, bad_v); }, {"V(4, 1)", "inf"});
  MatrixXd bad_q = q;
  bad_q(0, 0) = std::nan("");
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(bad_q, k); }, {"Q(0, 0)", "nan"});
  StabilityOptions causal;
  causal.causal = true;
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(q, k, causal); }, {"causal", "10x4", "12x4"});
  StabilityOptions blocks;
  blocks.block_rows = 0;
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(q, k, blocks); }, {"block_rows = 0"});
  StabilityOptions assumed;
  assumed.delocalisation_c = 0.5;
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(q, k, assumed); }, {"delocalisation_c = 0.5"});
  // A fuzz_field finding: Q·Kᵀ beyond double with a (subnormal) scale that brings the field back gave NaN measured
  // TVs. Here Q and K are 2^520 times the plain head's and the scale 2^−1041 = 2^−1040·(1/√4): the same field. The
  // field and the certificate take it; the measured pass, which forms Q·Kᵀ first, names the overflow.
  const double up = std::ldexp(1.0, 520);
  StabilityOptions tiny_scale;
  tiny_scale.field.scale = std::ldexp(1.0, -1041);
  require_invalid_argument([&] { SoftmaxStabilityBound<double> b(up * q, up * k, tiny_scale); },
                           {"SoftmaxStabilityBound", "logits", "overflow double", "rows [0, 10)"});
  tiny_scale.measured_ranks = std::vector<Index>{};
  const SoftmaxStabilityBound<double> certified(up * q, up * k, tiny_scale);
  const SoftmaxStabilityBound<double> plain(q, k);
  for (const auto& at : certified.ranks()) {
    CHECK(at.certified_max_tv == Approx(plain.at_rank(at.k).certified_max_tv).margin(1e-12));
  }
}

TEST_CASE("constant keys: a zero field, no key leverage, nothing changes at any rank", "[stability]") {
  // A fuzz_field finding: keys that centre to zero have rank 0, and building their basis applied Eigen's Q to a
  // matrix of no columns (undefined behaviour, caught by UBSan).
  std::mt19937_64 rng(4);
  const MatrixXd q = gaussian(9, 4, rng);
  const MatrixXd k = MatrixXd::Constant(7, 4, 2.5);
  const SoftmaxStabilityBound<double> bound(q, k);
  CHECK(bound.key_leverage() == Eigen::VectorXd::Zero(7));
  CHECK(bound.key_coherence() == 0);
  for (const auto& at : bound.ranks()) {
    CHECK(at.certified_max_tv == 0);
    CHECK(at.measured_max_tv == 0);
  }
}

TEST_CASE("one object for many heads: default construction, compute() again, no half-updated state on error",
          "[stability]") {
  std::mt19937_64 rng(31);
  const MatrixXd q1 = gaussian(20, 6, rng), k1 = gaussian(20, 6, rng), v1 = gaussian(20, 3, rng);
  const MatrixXd q2 = gaussian(30, 6, rng), k2 = gaussian(30, 6, rng);
  StabilityOptions options;
  options.causal = true;

  SoftmaxStabilityBound<double> bound;
  CHECK(bound.ranks().empty());
  CHECK(&bound.compute(q1, k1, v1, options) == &bound);
  const SoftmaxStabilityBound<double> fresh_first(q1, k1, v1, options);
  REQUIRE(bound.ranks().size() == fresh_first.ranks().size());
  CHECK(bound.at_rank(2).measured_max_tv == fresh_first.at_rank(2).measured_max_tv);
  CHECK(bound.at_rank(2).measured_output_error == fresh_first.at_rank(2).measured_output_error);

  bound.compute(q2, k2, options);  // the next head, without values
  const SoftmaxStabilityBound<double> fresh_second(q2, k2, options);
  CHECK(bound.field().rows() == 30);
  CHECK(bound.at_rank(3).certified_max_tv == fresh_second.at_rank(3).certified_max_tv);
  CHECK(!bound.at_rank(3).measured_output_error);

  MatrixXd broken = q1;
  broken(4, 1) = std::numeric_limits<double>::infinity();
  require_invalid_argument([&] { bound.compute(broken, k1, options); }, {"Q(4, 1) = inf"});
  require_invalid_argument([&] { bound.compute(q1, k1, gaussian(19, 3, rng), options); }, {"V (19x3)", "K is 20x6"});
  CHECK(bound.field().rows() == 30);  // still the second head's results
  CHECK(bound.at_rank(3).certified_max_tv == fresh_second.at_rank(3).certified_max_tv);
}

namespace {

// Every number of every evaluated rank, nullopt as NaN, for comparisons bit by bit.
std::vector<double> every_value(const std::vector<attnspec::StabilityAtRank>& ranks) {
  std::vector<double> values;
  auto add = [&](const char*, const auto& value, const char*) {
    using Value = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<Value, std::optional<double>>) {
      values.push_back(value.value_or(std::numeric_limits<double>::quiet_NaN()));
    } else {
      values.push_back(static_cast<double>(value));
    }
  };
  for (const auto& at : ranks) attnspec::io::Record<attnspec::StabilityAtRank>::fields(at, add);
  return values;
}

}  // namespace

TEST_CASE("a pass split into shares completes to the bits of one process", "[stability][shares]") {
  std::mt19937_64 rng(2027);
  const MatrixXd q = gaussian(150, 12, rng), k = gaussian(150, 12, rng), v = gaussian(150, 5, rng);
  StabilityOptions options;
  options.causal = true;
  options.block_rows = 16;  // ten blocks, the last one ragged
  options.threads = 2;
  const SoftmaxStabilityBound<double> whole(q, k, v, options);
  const std::vector<double> expected = every_value(whole.ranks());
  for (const std::size_t count : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{13}}) {
    INFO("shares: " << count);
    std::vector<SoftmaxStabilityBound<double>> parts;
    std::vector<std::vector<double>> totals;
    for (std::size_t index = 0; index < count; ++index) {
      options.share = {index, count};
      parts.emplace_back(q, k, v, options);
      totals.push_back(parts.back().share_totals());
    }
    SoftmaxStabilityBound<double>& last = parts.back();  // any share can complete; here the last one
    if (count > 1) {
      require_invalid_argument([&] { (void)last.at_rank(1); },
                               {"share " + std::to_string(count - 1), "complete_shares"});
    }
    last.complete_shares(totals);
    const std::vector<double> got = every_value(last.ranks());
    REQUIRE(got.size() == expected.size());
    CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(double)) == 0);
    CHECK(last.min_rank(0.05) == whole.min_rank(0.05));
  }

  options.share = {0, 2};
  SoftmaxStabilityBound<double> half(q, k, v, options);
  require_invalid_argument([&] { half.complete_shares({half.share_totals()}); }, {"split into 2 shares, but 1"});
  require_invalid_argument(
      [&] {
        half.complete_shares({half.share_totals(), {1.0, 2.0}});
      },
      {"share 1 of 2 holds 2 values"});
  options.share = {2, 2};
  require_invalid_argument([&] { SoftmaxStabilityBound<double>(q, k, options); }, {"share 2 of 2 does not exist"});
  options.share = {0, 2};
  options.keep_row_values = true;
  require_invalid_argument([&] { SoftmaxStabilityBound<double>(q, k, options); }, {"keep_row_values"});
}

TEMPLATE_TEST_CASE("Q and K moved into the bound become its field's own, with the bits of copies", "[stability]", float,
                   double) {
  std::mt19937_64 rng(2029);
  using Matrix = MatrixX<TestType>;
  const Matrix q = gaussian(90, 10, rng).cast<TestType>();
  const Matrix k = (gaussian(90, 10, rng).array() + 3).matrix().cast<TestType>();  // centred in place
  StabilityOptions options;
  options.causal = true;
  options.block_rows = 16;
  const SoftmaxStabilityBound<TestType> copied(q, k, options);
  Matrix q_moved = q, k_moved = k;
  const TestType* q_storage = q_moved.data();
  const TestType* k_storage = k_moved.data();
  const SoftmaxStabilityBound<TestType> moved(std::move(q_moved), std::move(k_moved), options);
  CHECK(q_moved.size() == 0);
  CHECK(k_moved.size() == 0);
  CHECK(moved.field().queries().data() == q_storage);
  CHECK(moved.field().keys().data() == k_storage);
  CHECK(moved.field().keys() == copied.field().keys());
  CHECK(moved.key_leverage() == copied.key_leverage());
  const std::vector<double> expected = every_value(copied.ranks()), got = every_value(moved.ranks());
  REQUIRE(got.size() == expected.size());
  CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(double)) == 0);
}
