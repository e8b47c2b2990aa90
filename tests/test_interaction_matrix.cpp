#include <attnspec/head_slicing.hpp>
#include <attnspec/interaction_matrix.hpp>

#include <cmath>

#include "test_support.hpp"

using attnspec::InteractionMatrix;
using attnspec::WeightPreparation;
using namespace attnspec_test;

TEMPLATE_TEST_CASE("M spectrum equals the dense SVD of Wq^T Wk", "[interaction]", float, double) {
  std::mt19937_64 rng(101);
  for (const auto& [d, model_dim] : {std::pair<Index, Index>{16, 48}, {64, 32}, {8, 8}, {64, 256}, {1, 5}}) {
    const MatrixXd wq = gaussian(d, model_dim, rng), wk = gaussian(d, model_dim, rng);
    InteractionMatrix<TestType> im(wq.cast<TestType>(), wk.cast<TestType>());
    const MatrixXd reference =
        wq.cast<TestType>().template cast<double>().transpose() * wk.cast<TestType>().template cast<double>();
    INFO("d " << d << " D " << model_dim);
    REQUIRE(im.singular_values().size() == std::min(d, model_dim));
    require_same_spectrum(im.singular_values(), dense_singular_values(reference), spectrum_tolerance<TestType>());
    CHECK(im.head_dim() == d);
    CHECK(im.input_dim() == model_dim);
  }
}

TEST_CASE("M's singular vectors reconstruct it; a head that fails keeps the previous one", "[interaction]") {
  std::mt19937_64 rng(103);
  const MatrixXd wq = gaussian(8, 24, rng), wk = gaussian(8, 24, rng);
  attnspec::InteractionOptions options;
  options.compute_vectors = true;
  options.threads = 2;
  InteractionMatrix<double> im(wq, wk, {}, options);
  const MatrixXd& u = im.left_singular_vectors();
  const MatrixXd& v = im.right_singular_vectors();
  REQUIRE(u.rows() == 24);
  REQUIRE(u.cols() == 8);
  CHECK((u.transpose() * u - MatrixXd::Identity(8, 8)).norm() < 1e-12);
  CHECK((v.transpose() * v - MatrixXd::Identity(8, 8)).norm() < 1e-12);
  CHECK((u * im.singular_values().asDiagonal() * v.transpose() - wq.transpose() * wk).norm() <
        1e-12 * (wq.transpose() * wk).norm());

  const Eigen::VectorXd before = im.singular_values();
  MatrixXd bad = wk;
  bad(2, 3) = std::nan("");
  require_invalid_argument([&] { im.compute(wq, bad); }, {"InteractionMatrix", "W_K"});
  // A failure in the kernel itself (σ₁ times the scale overflows): nothing of the new head is published.
  attnspec::WeightPreparation huge_scale;
  huge_scale.scale = 1e300;
  require_invalid_argument([&] { im.compute(1e10 * wq, wk, huge_scale, options); }, {"overflows the scalar type"});
  CHECK(im.singular_values() == before);
  CHECK(im.left_singular_vectors().rows() == 24);
}

TEST_CASE("low-rank weights: M has exactly the rank of the product", "[interaction]") {
  std::mt19937_64 rng(5);
  const MatrixXd wq = gaussian(64, 3, rng) * gaussian(3, 128, rng);
  const MatrixXd wk = gaussian(64, 128, rng);
  InteractionMatrix<double> im(wq, wk);
  require_same_spectrum(im.singular_values(), dense_singular_values(wq.transpose() * wk), 1e-12);
  CHECK(im.singular_values()(3) <= 1e-13 * im.singular_values()(0));
}

TEMPLATE_TEST_CASE("prepared weights reproduce the logits of the prepared head", "[interaction]", float, double) {
  std::mt19937_64 rng(7);
  const Index d = 8, model_dim = 75;  // the factors are prepared 32 input coordinates at a time: two and a rest
  const MatrixXd wq = gaussian(d, model_dim, rng), wk = gaussian(d, model_dim, rng);
  WeightPreparation prep;
  prep.scale = 1 / std::sqrt(double(d));
  prep.norm_gain = (gaussian(model_dim, 1, rng).array().abs() + 0.5).matrix();
  prep.norm_bias = gaussian(model_dim, 1, rng);
  prep.query_bias = gaussian(d, 1, rng);
  prep.key_bias = gaussian(d, 1, rng);
  InteractionMatrix<TestType> im(wq.cast<TestType>(), wk.cast<TestType>(), prep);
  REQUIRE(im.input_dim() == model_dim + 1);
  const MatrixXd m = im.dense().template cast<double>();

  // The head computes q = Wq(γ⊙x + β) + b_q and k likewise; M must give s·q·k as [x;1]ᵀ·M·[y;1].
  const MatrixXd wq_r = wq.cast<TestType>().template cast<double>(), wk_r = wk.cast<TestType>().template cast<double>();
  for (int trial = 0; trial < 20; ++trial) {
    const Eigen::VectorXd x = gaussian(model_dim, 1, rng), y = gaussian(model_dim, 1, rng);
    const Eigen::VectorXd q = wq_r * (prep.norm_gain.cwiseProduct(x) + prep.norm_bias) + prep.query_bias;
    const Eigen::VectorXd k = wk_r * (prep.norm_gain.cwiseProduct(y) + prep.norm_bias) + prep.key_bias;
    Eigen::VectorXd xa(model_dim + 1), ya(model_dim + 1);
    xa << x, 1;
    ya << y, 1;
    const double logit = prep.scale * q.dot(k);
    CHECK(std::abs(xa.dot(m * ya) - logit) <=
          50 * spectrum_tolerance<TestType>() * (1 + std::abs(logit)) * std::sqrt(double(model_dim)));
  }
  require_same_spectrum(im.singular_values(), dense_singular_values(m), spectrum_tolerance<TestType>());
  // Row-major weights (a host's own layout) give the same bits.
  using RowMajor = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const InteractionMatrix<TestType> from_row_major(RowMajor(wq.cast<TestType>()), RowMajor(wk.cast<TestType>()), prep);
  CHECK(from_row_major.dense() == im.dense());
  CHECK(from_row_major.singular_values() == im.singular_values());
  const std::string how = im.preparation().describe();
  CHECK(how.find("scale=0.35355339059327") != std::string::npos);
  CHECK(how.find("norm gain folded") != std::string::npos);
  CHECK(how.find("augmented") != std::string::npos);
}

TEST_CASE("scale and gain alone: M -> s diag(g) M diag(g), no augmentation", "[interaction]") {
  std::mt19937_64 rng(8);
  const MatrixXd wq = gaussian(16, 24, rng), wk = gaussian(16, 24, rng);
  WeightPreparation prep;
  prep.scale = 0.25;
  prep.norm_gain = gaussian(24, 1, rng);
  InteractionMatrix<double> im(wq, wk, prep);
  const MatrixXd expected = 0.25 * prep.norm_gain.asDiagonal() * wq.transpose() * wk * prep.norm_gain.asDiagonal();
  CHECK(im.input_dim() == 24);
  CHECK((im.dense() - expected).cwiseAbs().maxCoeff() <= 1e-12 * expected.norm());
  require_same_spectrum(im.singular_values(), dense_singular_values(expected), 1e-12);
  CHECK(WeightPreparation{}.describe() == "scale=1");
}

TEST_CASE("head slicing from packed projections", "[interaction][slicing]") {
  std::mt19937_64 rng(9);
  const Index heads = 4, d = 8, model_dim = 32;
  SECTION("nn.Linear [heads*d, D]") {
    const MatrixXd packed = gaussian(heads * d, model_dim, rng);
    for (Index h = 0; h < heads; ++h) {
      const MatrixXd slice = attnspec::head_rows(packed, h, d);
      for (Index i = 0; i < d; ++i) REQUIRE(slice.row(i) == packed.row(h * d + i));
    }
  }
  SECTION("GPT-2 Conv1D c_attn [D, 3D] and its bias") {
    const MatrixXd c_attn = gaussian(model_dim, 3 * model_dim, rng);
    const Eigen::VectorXd bias = gaussian(3 * model_dim, 1, rng);
    for (Index h = 0; h < heads; ++h) {
      const auto w = attnspec::gpt2_head_weights(c_attn, h, heads);
      const auto b = attnspec::gpt2_head_biases(bias, h, heads);
      REQUIRE(w.query.rows() == d);
      REQUIRE(w.query.cols() == model_dim);
      for (Index i = 0; i < d; ++i) {
        for (Index j = 0; j < model_dim; ++j) {
          REQUIRE(w.query(i, j) == c_attn(j, h * d + i));
          REQUIRE(w.key(i, j) == c_attn(j, model_dim + h * d + i));
        }
        REQUIRE(b.query(i) == bias(h * d + i));
        REQUIRE(b.key(i) == bias(model_dim + h * d + i));
      }
    }
  }
  SECTION("grouped-query mapping") {
    CHECK(attnspec::kv_head_for_query_head(0, 8, 2) == 0);
    CHECK(attnspec::kv_head_for_query_head(3, 8, 2) == 0);
    CHECK(attnspec::kv_head_for_query_head(4, 8, 2) == 1);
    CHECK(attnspec::kv_head_for_query_head(7, 8, 2) == 1);
    CHECK(attnspec::kv_head_for_query_head(5, 32, 8) == 1);
    CHECK(attnspec::kv_head_for_query_head(31, 32, 8) == 7);
    CHECK(attnspec::kv_head_for_query_head(5, 12, 12) == 5);
  }
}

TEST_CASE("a KV group's interaction matrix is the stack of its query heads' matrices", "[interaction][gqa]") {
  std::mt19937_64 rng(12);
  const Index d = 4, model_dim = 20, group = 3;
  const MatrixXd wq = gaussian(group * d, model_dim, rng), wk = gaussian(d, model_dim, rng);
  WeightPreparation prep;
  prep.scale = 0.5;
  prep.norm_gain = Eigen::VectorXd::Random(model_dim);
  prep.norm_bias = Eigen::VectorXd::Random(model_dim);
  prep.query_bias = Eigen::VectorXd::Random(group * d);
  prep.key_bias = Eigen::VectorXd::Random(d);
  const InteractionMatrix<double> grouped(wq, wk, prep);
  MatrixXd stacked(group * (model_dim + 1), model_dim + 1);
  for (Index h = 0; h < group; ++h) {
    WeightPreparation one = prep;
    one.query_bias = prep.query_bias.segment(h * d, d);
    stacked.middleRows(h * (model_dim + 1), model_dim + 1) =
        InteractionMatrix<double>(wq.middleRows(h * d, d), wk, one).dense();
  }
  CHECK(grouped.group_size() == group);
  CHECK(grouped.input_dim() == model_dim + 1);
  CHECK((grouped.dense() - stacked).cwiseAbs().maxCoeff() <= 1e-12 * stacked.cwiseAbs().maxCoeff());
  require_same_spectrum(grouped.singular_values(), dense_singular_values(stacked), 1e-12);
}

TEST_CASE("interaction-matrix and slicing errors name the argument and shapes", "[interaction][errors]") {
  std::mt19937_64 rng(10);
  const MatrixXd wq = gaussian(8, 16, rng), wk = gaussian(8, 16, rng);
  require_invalid_argument([&] { InteractionMatrix<double> im(wq, gaussian(8, 12, rng)); },
                           {"InteractionMatrix", "W_Q (8x16)", "W_K (8x12)"});
  require_invalid_argument([&] { InteractionMatrix<double> im(MatrixXd(0, 16), MatrixXd(0, 16)); }, {"W_Q is empty"});
  MatrixXd bad = wk;
  bad(2, 3) = std::nan("");
  // Named in the stored tensor's own row and column, not in the prepared (transposed) factor's.
  require_invalid_argument([&] { InteractionMatrix<double> im(wq, bad); }, {"W_K(2, 3) = nan is not finite"});
  MatrixXd wide_q = gaussian(8, 48, rng), wide_k = gaussian(8, 48, rng);
  wide_k(1, 40) = 1e300;  // past the first 32 input coordinates, and too large for float
  require_invalid_argument([&] { InteractionMatrix<float> im(wide_q, wide_k); },
                           {"W_K(1, 40) = 1", "e+300 overflows float", "W_K is 8x48"});
  wide_k(1, 40) = 1;
  wide_q(0, 37) = 1e10;
  WeightPreparation overflowing;
  overflowing.norm_gain = Eigen::VectorXd::Constant(48, 1e300);
  require_invalid_argument([&] { InteractionMatrix<double> im(wide_q, wide_k, overflowing); },
                           {"W_Q^T (prepared)(37, 0) = inf is not finite", "48x8"});
  WeightPreparation prep;
  prep.scale = -2;
  require_invalid_argument([&] { InteractionMatrix<double> im(wq, wk, prep); }, {"preparation.scale = -2"});
  prep = {};
  prep.norm_gain = Eigen::VectorXd::Ones(15);
  require_invalid_argument([&] { InteractionMatrix<double> im(wq, wk, prep); },
                           {"preparation.norm_gain has length 15", "D = 16"});
  prep = {};
  prep.query_bias = Eigen::VectorXd::Ones(16);
  require_invalid_argument([&] { InteractionMatrix<double> im(wq, wk, prep); },
                           {"preparation.query_bias", "rows of W_Q = 8"});
  require_invalid_argument([&] { InteractionMatrix<double> im(gaussian(12, 16, rng), wk); },
                           {"W_Q (12x16)", "g*d x D"});
  prep.query_bias = Eigen::VectorXd::Constant(8, std::nan(""));
  require_invalid_argument([&] { InteractionMatrix<double> im(wq, wk, prep); }, {"preparation.query_bias", "nan"});

  const MatrixXd packed = gaussian(32, 16, rng);
  require_invalid_argument([&] { (void)attnspec::head_rows(packed, 4, 8); }, {"head_rows", "head = 4", "[0, 4)"});
  require_invalid_argument([&] { (void)attnspec::head_rows(packed, 0, 7); }, {"head_rows", "head_dim = 7", "32x16"});
  require_invalid_argument([&] { (void)attnspec::gpt2_head_weights(gaussian(16, 40, rng), 0, 2); },
                           {"gpt2_head_weights", "16x40", "[D, 3*D]"});
  require_invalid_argument([&] { (void)attnspec::gpt2_head_weights(gaussian(16, 48, rng), 0, 5); },
                           {"heads = 5", "D = 16"});
  require_invalid_argument([&] { (void)attnspec::gpt2_head_weights(gaussian(16, 48, rng), -1, 4); }, {"head = -1"});
  require_invalid_argument([&] { (void)attnspec::gpt2_head_biases(Eigen::VectorXd::Ones(47), 0, 1); },
                           {"gpt2_head_biases", "47x1"});
  require_invalid_argument([&] { (void)attnspec::kv_head_for_query_head(0, 12, 5); },
                           {"kv_head_for_query_head", "query_heads = 12", "kv_heads = 5"});
  require_invalid_argument([&] { (void)attnspec::kv_head_for_query_head(12, 12, 4); }, {"query_head = 12"});
}
