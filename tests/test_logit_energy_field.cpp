#include <attnspec/logit_energy_field.hpp>

#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "test_support.hpp"

using attnspec::FieldOptions;
using attnspec::LogitEnergyField;
using namespace attnspec_test;

namespace {
struct HeadShape {
  Index n, m, d;
};
// Square, n != m, fewer queries than d, fewer keys than d, a single key, a single query.
const HeadShape kShapes[] = {{60, 40, 16}, {30, 90, 8}, {10, 20, 64}, {100, 5, 16}, {64, 64, 64}, {7, 1, 4}, {1, 9, 4}};

template <typename Scalar>
void require_field_matches_dense(const MatrixXd& q, const MatrixXd& k, const FieldOptions& options) {
  const double scale = options.scale.value_or(1 / std::sqrt(double(q.cols())));
  const MatrixX<Scalar> qs = q.cast<Scalar>(), ks = k.cast<Scalar>();
  LogitEnergyField<Scalar> field(qs, ks, options);
  FieldOptions keep = options;  // the same kernel and inputs, keeping the factors for dense()
  keep.keep_factors = true;
  const LogitEnergyField<Scalar> kept(qs, ks, keep);
  CHECK(kept.singular_values() == field.singular_values());
  // The oracle sees the same (rounded) inputs, in double.
  const MatrixXd reference = reference_field(qs.template cast<double>(), ks.template cast<double>(), scale,
                                             options.center_rows, options.drop_leading_keys);
  INFO("n = " << q.rows() << " m = " << k.rows() << " d = " << q.cols() << " centred " << options.center_rows);
  REQUIRE(field.singular_values().size() == std::min({q.rows(), reference.cols(), q.cols()}));
  require_same_spectrum(field.singular_values(), dense_singular_values(reference), spectrum_tolerance<Scalar>());
  const double sigma1 = std::max(dense_singular_values(reference)(0), std::numeric_limits<double>::min());
  REQUIRE((kept.dense().template cast<double>() - reference).cwiseAbs().maxCoeff() <=
          spectrum_tolerance<Scalar>() * sigma1);
}
}  // namespace

TEMPLATE_TEST_CASE("field spectrum equals the dense SVD of the materialised field", "[field]", float, double) {
  std::mt19937_64 rng(2024);
  for (const auto& shape : kShapes) {
    const MatrixXd q = gaussian(shape.n, shape.d, rng), k = gaussian(shape.m, shape.d, rng);
    FieldOptions options;
    require_field_matches_dense<TestType>(q, k, options);
    options.center_rows = false;
    require_field_matches_dense<TestType>(q, k, options);
    if (shape.m > 1) {
      options.center_rows = true;
      options.drop_leading_keys = 1;
      require_field_matches_dense<TestType>(q, k, options);
    }
  }
}

TEMPLATE_TEST_CASE("structured heads: low rank plus noise, attention sink, offset keys", "[field]", float, double) {
  std::mt19937_64 rng(99);
  FieldOptions options;
  SECTION("low rank plus noise") {
    const MatrixXd q = low_rank_plus_noise(200, 64, 3, 1e-3, rng), k = low_rank_plus_noise(150, 64, 3, 1e-3, rng);
    require_field_matches_dense<TestType>(q, k, options);
  }
  SECTION("an attention-sink key of huge norm") {
    const MatrixXd q = gaussian(80, 32, rng);
    MatrixXd k = gaussian(120, 32, rng);
    k.row(0) *= 1e4;
    require_field_matches_dense<TestType>(q, k, options);
    options.drop_leading_keys = 1;
    require_field_matches_dense<TestType>(q, k, options);
  }
  SECTION("keys sharing a large common offset") {
    const MatrixXd q = gaussian(50, 16, rng);
    const MatrixXd k = gaussian(70, 16, rng).rowwise() + Eigen::RowVectorXd::Constant(16, 1e3);
    require_field_matches_dense<TestType>(q, k, options);
  }
  SECTION("a zero query block") {
    MatrixXd q = gaussian(40, 16, rng);
    q.topRows(20).setZero();
    require_field_matches_dense<TestType>(q, gaussian(30, 16, rng), options);
  }
}

TEMPLATE_TEST_CASE("constant keys give exactly the zero field", "[field]", float, double) {
  std::mt19937_64 rng(5);
  const MatrixXd q = gaussian(20, 8, rng);
  const MatrixXd k = MatrixXd::Ones(30, 1) * gaussian(1, 8, rng);
  FieldOptions keep;
  keep.keep_factors = true;
  LogitEnergyField<TestType> field(q.cast<TestType>(), k.cast<TestType>(), keep);
  CHECK(field.singular_values().size() == 8);
  CHECK(field.singular_values().isZero(0));
  CHECK(field.dense().isZero(0));
}

TEST_CASE("scales from 1e-150 to 1e150 multiply the spectrum exactly", "[field]") {
  std::mt19937_64 rng(11);
  const MatrixXd q = gaussian(40, 16, rng), k = gaussian(50, 16, rng);
  FieldOptions options;
  options.scale = 1.0;
  const Eigen::VectorXd unit = LogitEnergyField<double>(q, k, options).singular_values();
  for (double scale : {1e-150, 1e-100, 1e-20, 1e20, 1e100, 1e150}) {
    options.scale = scale;
    const Eigen::VectorXd scaled = LogitEnergyField<double>(q, k, options).singular_values();
    INFO("scale " << scale);
    require_same_spectrum(scaled / scale, unit, 1e-14);
  }
}

TEST_CASE("float handles scales across its range", "[field]") {
  std::mt19937_64 rng(12);
  const Eigen::MatrixXf q = gaussian(40, 16, rng).cast<float>(), k = gaussian(50, 16, rng).cast<float>();
  FieldOptions options;
  options.scale = 1.0;
  const Eigen::VectorXd unit = LogitEnergyField<float>(q, k, options).singular_values().cast<double>();
  for (double scale : {1e-30, 1e-10, 1e10, 1e30}) {
    options.scale = scale;
    const Eigen::VectorXd scaled = LogitEnergyField<float>(q, k, options).singular_values().cast<double>();
    require_same_spectrum(scaled / scale, unit, 1e-6);
  }
}

TEST_CASE("oracle 7: a prescribed spectrum comes back exactly", "[field]") {
  std::mt19937_64 rng(3);
  for (const auto& [n, m, d] : {std::tuple<Index, Index, Index>{100, 80, 16}, {64, 300, 64}, {512, 512, 128}}) {
    const MatrixXd a = Eigen::HouseholderQR<MatrixXd>(gaussian(n, d, rng)).householderQ() * MatrixXd::Identity(n, d);
    MatrixXd centred = gaussian(m, d, rng);
    centred.rowwise() -= centred.colwise().mean();
    const MatrixXd b = Eigen::HouseholderQR<MatrixXd>(centred).householderQ() * MatrixXd::Identity(m, d);
    Eigen::VectorXd sigma(d);
    for (Index l = 0; l < d; ++l) sigma(l) = std::pow(0.8, double(l)) * 5;
    const MatrixXd q = std::sqrt(double(d)) * a * sigma.asDiagonal();
    const MatrixXd k = b.rowwise() + gaussian(1, d, rng).row(0);
    LogitEnergyField<double> field(q, k);
    INFO("n " << n << " m " << m << " d " << d);
    require_same_spectrum(field.singular_values(), sigma, 1e-14);
  }
}

TEMPLATE_TEST_CASE("invariances: row constants, token permutations, key shifts", "[field]", float, double) {
  std::mt19937_64 rng(17);
  const Index n = 45, m = 35, d = 12;
  const MatrixXd q = gaussian(n, d, rng), k = gaussian(m, d, rng);
  FieldOptions options;
  options.scale = 0.3;
  const Eigen::VectorXd base = LogitEnergyField<TestType>(q.cast<TestType>(), k.cast<TestType>(), options)
                                   .singular_values()
                                   .template cast<double>();
  const double tol = spectrum_tolerance<TestType>() * 10;

  SECTION("adding a constant c_i to row i of E leaves E~ unchanged") {
    // E' = s·[Q, c/s]·[K, 1]ᵀ = E + c·1ᵀ
    MatrixXd q_aug(n, d + 1), k_aug(m, d + 1);
    q_aug << q, gaussian(n, 1, rng) * 100 / *options.scale;
    k_aug << k, MatrixXd::Ones(m, 1);
    const Eigen::VectorXd shifted = LogitEnergyField<TestType>(q_aug.cast<TestType>(), k_aug.cast<TestType>(), options)
                                        .singular_values()
                                        .template cast<double>();
    require_same_spectrum(shifted, base, tol * 100);  // the added column carries logits 100x larger
  }
  SECTION("permuting queries and keys") {
    std::vector<int> rows(n), cols(m);
    std::iota(rows.begin(), rows.end(), 0);
    std::iota(cols.begin(), cols.end(), 0);
    std::shuffle(rows.begin(), rows.end(), rng);
    std::shuffle(cols.begin(), cols.end(), rng);
    const MatrixXd qp = q(rows, Eigen::all), kp = k(cols, Eigen::all);
    require_same_spectrum(
        LogitEnergyField<TestType>(qp.cast<TestType>(), kp.cast<TestType>(), options).singular_values(), base, tol);
  }
  SECTION("shifting every key by one vector changes E but not E~") {
    const MatrixXd shifted_keys = k.rowwise() + 3 * gaussian(1, d, rng).row(0);
    require_same_spectrum(
        LogitEnergyField<TestType>(q.cast<TestType>(), shifted_keys.cast<TestType>(), options).singular_values(), base,
        tol);
    FieldOptions raw = options;
    raw.center_rows = false;
    const double raw_top = LogitEnergyField<double>(q, k, raw).singular_values()(0);
    const double raw_shifted_top = LogitEnergyField<double>(q, shifted_keys, raw).singular_values()(0);
    CHECK(std::abs(raw_top - raw_shifted_top) > 1e-3 * raw_top);
  }
}

TEMPLATE_TEST_CASE("centred rows sum to zero; vectors are orthonormal and rebuild the field", "[field]", float,
                   double) {
  std::mt19937_64 rng(23);
  const MatrixXd q = low_rank_plus_noise(70, 32, 4, 0.05, rng), k = low_rank_plus_noise(50, 32, 4, 0.05, rng);
  FieldOptions options;
  options.compute_vectors = true;
  LogitEnergyField<TestType> field(q.cast<TestType>(), k.cast<TestType>(), options);
  const double tol = spectrum_tolerance<TestType>();
  const double sigma1 = double(field.singular_values()(0));
  const MatrixXd e = field.dense().template cast<double>();
  CHECK(e.rowwise().sum().cwiseAbs().maxCoeff() <= 10 * tol * sigma1);

  const MatrixXd u = field.left_singular_vectors().template cast<double>();
  const MatrixXd v = field.right_singular_vectors().template cast<double>();
  const Index r = field.singular_values().size();
  REQUIRE(u.rows() == 70);
  REQUIRE(v.rows() == 50);
  REQUIRE(u.cols() == r);
  CHECK((u.transpose() * u - MatrixXd::Identity(r, r)).cwiseAbs().maxCoeff() <= 10 * tol);
  CHECK((v.transpose() * v - MatrixXd::Identity(r, r)).cwiseAbs().maxCoeff() <= 10 * tol);
  // Right singular vectors of a centred field are orthogonal to the all-ones vector.
  CHECK((v.transpose() * Eigen::VectorXd::Ones(50)).head(4).cwiseAbs().maxCoeff() <= 100 * tol);
  CHECK((field.rank_k_rows(r, 0, 70).template cast<double>() - e).cwiseAbs().maxCoeff() <= 10 * tol * sigma1);
  CHECK(field.rank_k_rows(0, 3, 5).isZero(0));

  // Best rank-k rows against the truncated dense SVD; k = 4 sits at a wide gap, so the subspace is unique.
  const MatrixXd reference = reference_field(q.cast<TestType>().template cast<double>(),
                                             k.cast<TestType>().template cast<double>(), field.scale(), true);
  Eigen::JacobiSVD<MatrixXd> svd(reference, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const MatrixXd best4 =
      svd.matrixU().leftCols(4) * svd.singularValues().head(4).asDiagonal() * svd.matrixV().leftCols(4).transpose();
  CHECK((field.rank_k_rows(4, 10, 30).template cast<double>() - best4.middleRows(10, 30)).cwiseAbs().maxCoeff() <=
        100 * tol * sigma1);
}

TEST_CASE("zero-copy maps over row-major host buffers, in float, feed a double field", "[field]") {
  std::mt19937_64 rng(31);
  const Index n = 33, m = 27, d = 16;
  std::vector<float> q_buffer(n * d), k_buffer(m * d);
  std::normal_distribution<float> normal;
  for (float& x : q_buffer) x = normal(rng);
  for (float& x : k_buffer) x = normal(rng);
  using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const RowMajorF> q(q_buffer.data(), n, d), k(k_buffer.data(), m, d);
  LogitEnergyField<double> field(q, k);
  const MatrixXd reference = reference_field(q.cast<double>(), k.cast<double>(), 0.25, true);
  require_same_spectrum(field.singular_values(), dense_singular_values(reference), 1e-12);

  // A strided view: head 1 of a row-major [seq, 2·d] buffer (the [seq, heads·d] layout) used in place.
  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajorD packed = gaussian(n, 2 * d, rng);
  const Eigen::Map<const RowMajorD, 0, Eigen::OuterStride<>> head1(packed.data() + d, n, d,
                                                                   Eigen::OuterStride<>(2 * d));
  const MatrixXd head1_copy = packed.rightCols(d);
  require_same_spectrum(LogitEnergyField<double>(head1, k).singular_values(),
                        LogitEnergyField<double>(head1_copy, k).singular_values(), 0.0);

  // Column-major float views with a longer column stride, read in place by the float Gram route (widened while
  // packed, through the view's own stride): the same bits as their copies, on shapes around the 1,024-row blocks
  // and the packing's panel widths.
  for (const auto& [rows, cols] : {std::pair<Index, Index>{1, 1}, {3, 5}, {1025, 9}, {2100, 27}, {700, 70}}) {
    const Eigen::MatrixXf wide_q = gaussian(rows + 5, cols + 2, rng).cast<float>();
    const Eigen::MatrixXf wide_k = (gaussian(rows + 3, cols, rng).array() + 2.0).matrix().cast<float>();
    const auto q_view = wide_q.block(2, 1, rows, cols);
    const auto k_view = wide_k.topRows(rows);
    const Eigen::VectorXf in_place = LogitEnergyField<float>(q_view, k_view).singular_values();
    const Eigen::MatrixXf q_copy = q_view, k_copy = k_view;
    CHECK(in_place == LogitEnergyField<float>(q_copy, k_copy).singular_values());
  }
}

TEST_CASE("field errors name the function, the argument and the shapes", "[field][errors]") {
  std::mt19937_64 rng(41);
  const MatrixXd q = gaussian(10, 8, rng), k = gaussian(12, 8, rng);
  require_invalid_argument([&] { LogitEnergyField<double> f(q, gaussian(12, 6, rng)); },
                           {"LogitEnergyField", "Q (10x8)", "K (12x6)", "same number of columns"});
  require_invalid_argument([&] { LogitEnergyField<double> f(MatrixXd(0, 8), k); },
                           {"LogitEnergyField", "Q is empty", "0x8"});
  require_invalid_argument([&] { LogitEnergyField<double> f(q, MatrixXd(12, 0)); }, {"K is empty", "12x0"});
  MatrixXd bad = k;
  bad(3, 5) = std::nan("");
  require_invalid_argument([&] { LogitEnergyField<double> f(q, bad); }, {"K(3, 5)", "nan", "not finite", "12x8"});
  bad = q;
  bad(9, 0) = -std::numeric_limits<double>::infinity();
  require_invalid_argument([&] { LogitEnergyField<double> f(bad, k); }, {"Q(9, 0)", "-inf"});
  bad = q;
  bad(1, 1) = 1e300;  // finite in double, infinite once converted to float
  require_invalid_argument([&] { LogitEnergyField<float> f(bad, k); }, {"Q(1, 1) = 1", "e+300 overflows float"});
  for (double scale : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    FieldOptions options;
    options.scale = scale;
    require_invalid_argument([&] { LogitEnergyField<double> f(q, k, options); }, {"LogitEnergyField", "scale ="});
  }
  FieldOptions drop;
  drop.drop_leading_keys = 12;
  require_invalid_argument([&] { LogitEnergyField<double> f(q, k, drop); }, {"drop_leading_keys = 12", "12x8"});
  drop.drop_leading_keys = -1;
  require_invalid_argument([&] { LogitEnergyField<double> f(q, k, drop); }, {"drop_leading_keys = -1"});
  FieldOptions huge;
  huge.scale = 1e300;
  require_invalid_argument([&] { LogitEnergyField<double> f(q * 1e10, k, huge); }, {"overflows"});
  // A fuzz_field finding: keys of ±1e308 are finite, their differences are not.
  bad = k;
  bad(0, 2) = 1.5e308;
  bad(4, 2) = -1.5e308;
  require_invalid_argument([&] { LogitEnergyField<double> f(q, bad); },
                           {"LogitEnergyField", "centring K (12x8) overflows", "1.5e+308", "FieldOptions::scale"});
  FieldOptions raw;
  raw.center_rows = false;
  // Uncentred, the same keys give σ₁ beyond double's range, reported at its true size.
  require_invalid_argument([&] { LogitEnergyField<double> f(q, bad, raw); }, {"e+308) overflows the scalar type"});

  LogitEnergyField<double> no_vectors(q, k);
  require_invalid_argument([&] { (void)no_vectors.left_singular_vectors(); },
                           {"left_singular_vectors", "not computed"});
  require_invalid_argument([&] { (void)no_vectors.rank_k_rows(1, 0, 1); }, {"rank_k_rows", "not computed"});
  FieldOptions with_vectors;
  with_vectors.compute_vectors = true;
  LogitEnergyField<double> field(q, k, with_vectors);
  require_invalid_argument([&] { (void)field.rank_k_rows(9, 0, 1); }, {"rank_k_rows", "k = 9", "[0, 8]"});
  require_invalid_argument([&] { (void)field.rank_k_rows(2, 8, 5); }, {"rank_k_rows", "[8, 13)", "10 rows"});
}

TEST_CASE("a float field names the first entry that is not finite, in any block, on either thread",
          "[field][float][errors]") {
  // Float factors are summed in double by widening them while they are packed, and checked only when the Gram
  // matrix shows an entry that is not finite: the message must still name that entry.
  std::mt19937_64 rng(43);
  const Eigen::Index n = 2600, d = 12;  // three blocks of rows, the last one short
  const MatrixXd q = gaussian(n, d, rng), k = gaussian(n, d, rng);
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  for (const auto& [row, column, value, text] :
       {std::tuple{0, 0, nan, "nan"}, std::tuple{1500, 7, inf, "inf"}, std::tuple{2599, 11, -inf, "-inf"},
        std::tuple{2048, 3, 1e300, "1e+300 overflows float"}}) {
    for (const unsigned threads : {1u, 2u}) {
      FieldOptions options;
      options.threads = threads;
      const std::string at = "(" + std::to_string(row) + ", " + std::to_string(column) + ")";
      MatrixXd bad = q;
      bad(row, column) = value;
      const Eigen::MatrixXf bad_float = bad.cast<float>();
      const Eigen::MatrixXf k_float = k.cast<float>();
      for (const std::string& argument : {std::string("Q"), std::string("K")}) {
        const bool queries = argument == "Q";
        require_invalid_argument([&] { LogitEnergyField<float> f(queries ? bad : q, queries ? k : bad, options); },
                                 {"LogitEnergyField", argument + at, text});
        if (value == 1e300) continue;  // a float matrix cannot hold it
        require_invalid_argument(
            [&] {
              LogitEnergyField<float> f(queries ? bad_float : Eigen::MatrixXf(q.cast<float>()),
                                        queries ? k_float : bad_float, options);
            },
            {"LogitEnergyField", argument + at, text});
      }
    }
  }
}

TEMPLATE_TEST_CASE("keys near half the largest value centre without overflow on every route", "[field]", float,
                   double) {
  // A fuzz_field finding: the bound on the centred keys that chooses their rescaling (the largest difference from
  // the first key plus the largest mean) overflowed although every centred key is finite, and the kernel took a
  // power of two from infinity (double values without vectors read through that bound; the other routes measure
  // what they hold). Here one difference is 0.9·max and the mean 0.13·max. The oracle scales K down by an exact
  // power of two, centres and scales back.
  const double top = 0.45 * double(std::numeric_limits<TestType>::max());
  constexpr int shift = std::numeric_limits<TestType>::max_exponent - 4;
  std::mt19937_64 rng(71);
  const MatrixXd q = gaussian(6, 3, rng);
  MatrixXd k = gaussian(7, 3, rng);
  k.col(0) = -top * (1.0 - 0.02 * k.col(0).array().abs()).matrix();
  k(0, 0) = -top;
  k(1, 0) = top;
  k.col(1) *= 0.05 * top;
  const MatrixXd small_keys = k.unaryExpr([](double x) { return std::ldexp(x, -shift); });
  FieldOptions options;
  options.scale = 1e-3;
  const VectorXd expected =
      dense_singular_values(reference_field(q, small_keys, *options.scale, true)) * std::ldexp(1.0, shift);
  for (const bool vectors : {false, true}) {
    options.compute_vectors = vectors;
    const LogitEnergyField<TestType> field(q.cast<TestType>(), k.cast<TestType>(), options);
    require_same_spectrum(field.singular_values(), expected, spectrum_tolerance<TestType>());
  }
}

TEST_CASE("one object is reused across heads of different shapes", "[field]") {
  std::mt19937_64 rng(43);
  LogitEnergyField<double> field;
  for (const auto& shape : kShapes) {
    const MatrixXd q = gaussian(shape.n, shape.d, rng), k = gaussian(shape.m, shape.d, rng);
    field.compute(q, k);
    const MatrixXd reference = reference_field(q, k, 1 / std::sqrt(double(shape.d)), true);
    require_same_spectrum(field.singular_values(), dense_singular_values(reference), 1e-12);
    CHECK(field.rows() == shape.n);
    CHECK(field.cols() == shape.m);
    CHECK(field.head_dim() == shape.d);
  }
  // A head that fails (a NaN in K, keys that overflow when centred) leaves the previous head's results whole.
  const MatrixXd q = gaussian(12, 4, rng), k = gaussian(15, 4, rng);
  FieldOptions keep;
  keep.keep_factors = true;
  field.compute(q, k, keep);
  const VectorXd before = field.singular_values();
  MatrixXd bad_keys = gaussian(9, 4, rng);
  bad_keys(2, 3) = std::nan("");
  require_invalid_argument([&] { field.compute(gaussian(9, 4, rng), bad_keys); }, {"K(2, 3) = nan"});
  MatrixXd huge_keys = gaussian(9, 4, rng);
  huge_keys(0, 0) = 1.7e308;
  huge_keys(1, 0) = -1.7e308;
  require_invalid_argument([&] { field.compute(gaussian(9, 4, rng), huge_keys); }, {"centring K (9x4) overflows"});
  // The kernel itself failing (σ₁ times the scale overflows) after the factors were reduced, with and without
  // vectors: the kernel keeps its workspace but publishes nothing.
  for (const bool vectors : {false, true}) {
    FieldOptions huge_scale;
    huge_scale.scale = 1e300;
    huge_scale.compute_vectors = vectors;
    require_invalid_argument([&] { field.compute(1e10 * gaussian(9, 4, rng), gaussian(9, 4, rng), huge_scale); },
                             {"overflows the scalar type"});
  }
  CHECK(field.singular_values() == before);
  CHECK(field.rows() == 12);
  CHECK(field.cols() == 15);
  CHECK(field.keys().rows() == 15);
  require_invalid_argument([&] { (void)field.left_singular_vectors(); }, {"not computed"});
}

TEMPLATE_TEST_CASE("keep_factors = false reads Q and K in place, block by block, to the same spectrum", "[field]",
                   float, double) {
  std::mt19937_64 rng(61);
  using Field = LogitEnergyField<TestType>;
  const double tol = spectrum_tolerance<TestType>();
  FieldOptions streamed;
  streamed.keep_factors = false;
  auto check_same = [&](const auto& q, const auto& k, FieldOptions kept_options) {
    FieldOptions streamed_options = kept_options;
    streamed_options.keep_factors = false;
    kept_options.keep_factors = true;
    const Field kept(q, k, kept_options), read_in_place(q, k, streamed_options);
    const double sigma1 = std::max(double(kept.singular_values()(0)), 1e-300);
    REQUIRE(read_in_place.singular_values().size() == kept.singular_values().size());
    CHECK((read_in_place.singular_values() - kept.singular_values()).template cast<double>().cwiseAbs().maxCoeff() <=
          10 * tol * sigma1);
    CHECK(read_in_place.rows() == kept.rows());
    CHECK(read_in_place.cols() == kept.cols());
    CHECK(read_in_place.head_dim() == kept.head_dim());
    CHECK(read_in_place.query_route() == kept.query_route());
    CHECK(read_in_place.key_route() == kept.key_route());
  };
  // Several 1,024-row blocks with a ragged last one; sink keys dropped; raw logits; the Gram route.
  const MatrixXd q = low_rank_plus_noise(2500, 24, 5, 0.1, rng), k = low_rank_plus_noise(3100, 24, 5, 0.1, rng);
  check_same(q, k, FieldOptions{});
  FieldOptions dropped;
  dropped.drop_leading_keys = 1500;
  check_same(q, k, dropped);
  FieldOptions raw;
  raw.center_rows = false;
  check_same(q.cast<TestType>(), k.cast<TestType>(), raw);  // in Scalar already: read as views
  FieldOptions gram;
  gram.algorithm = attnspec::FieldAlgorithm::gram;
  check_same(q, k, gram);
  // Row-major host buffers, converted block by block.
  const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = q.cast<float>();
  check_same(row_major, k, FieldOptions{});
  // Entries whose squares overflow (rescaled block by block) and a rank-deficient K (Householder takes over).
  const double squares_overflow = std::is_same_v<TestType, float> ? 1e25 : 1e160;
  check_same(MatrixXd(squares_overflow * q.topRows(700)), k.topRows(900), FieldOptions{});
  MatrixXd deficient = k.topRows(1300);
  deficient.col(3) = deficient.col(5);
  check_same(q.topRows(1100), deficient, FieldOptions{});
  // Keys sharing a large offset centre as the kept path centres them.
  check_same(q.topRows(50), MatrixXd((k.topRows(60).array() + 1e6).matrix()), FieldOptions{});

  // Errors name the entry in the caller's matrix, beyond the first block and after dropped keys.
  MatrixXd broken = k;
  broken(2000, 7) = std::numeric_limits<double>::quiet_NaN();
  require_invalid_argument([&] { Field(q, broken, streamed); }, {"K(2000, 7) = nan", "(K is 3100x24)"});
  FieldOptions streamed_dropped = streamed;
  streamed_dropped.drop_leading_keys = 10;
  require_invalid_argument([&] { Field(q, broken, streamed_dropped); }, {"K(2000, 7) = nan"});
  MatrixXd huge_keys = k.topRows(9);
  huge_keys(0, 0) = 1.5e308;
  huge_keys(1, 0) = -1.5e308;
  if constexpr (std::is_same_v<TestType, double>) {
    require_invalid_argument([&] { Field(q.topRows(9), huge_keys, streamed); }, {"centring K (9x24) overflows"});
  }
  // The default keeps no copies; keep_factors or compute_vectors keep them.
  CHECK_FALSE(FieldOptions{}.keep_factors);
  const Field field(q.topRows(30), k.topRows(40));
  require_invalid_argument([&] { (void)field.queries(); }, {"LogitEnergyField::queries", "keep_factors = false"});
  require_invalid_argument([&] { (void)field.dense(); }, {"LogitEnergyField::dense", "keep_factors = true"});
  FieldOptions vectors = streamed;
  vectors.compute_vectors = true;
  const Field with_vectors(q.topRows(30), k.topRows(40), vectors);
  CHECK(with_vectors.queries() == q.topRows(30).cast<TestType>());
  CHECK(with_vectors.dense().rows() == 30);
}

TEMPLATE_TEST_CASE("Q and K moved in are kept themselves, with the bits of copies", "[field]", float, double) {
  std::mt19937_64 rng(67);
  using Field = LogitEnergyField<TestType>;
  using Matrix = MatrixX<TestType>;
  // Two 1,024-row blocks of keys sharing a large offset, centred in place block by block; n != m.
  const Matrix q = low_rank_plus_noise(1500, 16, 4, 0.1, rng).cast<TestType>();
  const Matrix k = (low_rank_plus_noise(2100, 16, 4, 0.1, rng).array() + 50).matrix().cast<TestType>();
  FieldOptions vectors, kept, values_only, raw, dropped, gram;
  vectors.compute_vectors = true;
  kept.keep_factors = raw.keep_factors = gram.keep_factors = true;
  raw.center_rows = false;
  dropped = vectors;
  dropped.drop_leading_keys = 7;  // the keys are copied: the kept ones start 7 rows in
  gram.algorithm = attnspec::FieldAlgorithm::gram;
  for (const FieldOptions& options : {vectors, kept, values_only, raw, dropped, gram}) {
    INFO("vectors " << options.compute_vectors << ", kept " << options.keep_factors << ", centred "
                    << options.center_rows << ", dropped " << options.drop_leading_keys);
    const Field copied(q, k, options);
    Matrix q_moved = q, k_moved = k;
    const TestType* q_storage = q_moved.data();
    const TestType* k_storage = k_moved.data();
    const Field moved(std::move(q_moved), std::move(k_moved), options);
    CHECK(q_moved.size() == 0);
    CHECK(k_moved.size() == 0);
    CHECK(moved.singular_values() == copied.singular_values());
    CHECK(moved.rows() == copied.rows());
    CHECK(moved.cols() == copied.cols());
    CHECK(moved.head_dim() == copied.head_dim());
    CHECK(moved.scale() == copied.scale());
    CHECK(moved.query_route() == copied.query_route());
    CHECK(moved.key_route() == copied.key_route());
    if (options.keep_factors || options.compute_vectors) {
      CHECK(moved.queries() == copied.queries());
      CHECK(moved.keys() == copied.keys());
      CHECK(moved.queries().data() == q_storage);
      CHECK((moved.keys().data() == k_storage) == (options.drop_leading_keys == 0));
    }
    if (options.compute_vectors) {
      CHECK(moved.left_singular_vectors() == copied.left_singular_vectors());
      CHECK(moved.right_singular_vectors() == copied.right_singular_vectors());
    }
  }
  // Matrices of another precision, moved or not, are converted as any expression is.
  using Other = std::conditional_t<std::is_same_v<TestType, float>, double, float>;
  const MatrixX<Other> q_other = q.template cast<Other>(), k_other = k.template cast<Other>();
  const Field converted{MatrixX<Other>(q_other), MatrixX<Other>(k_other)};
  CHECK(converted.singular_values() == Field(q_other, k_other).singular_values());
}

TEST_CASE("float keys that centre in double but not in float fail before anything is kept", "[field][float][errors]") {
  // Differences from the first key of 3e38 each way: finite in float and summed in double, but one centred key is
  // -4.2e38. The Gram route centres in double and would succeed; the kept float copy cannot hold the keys.
  std::mt19937_64 rng(73);
  const Eigen::MatrixXf q = gaussian(4, 2, rng).cast<float>(), k = gaussian(5, 2, rng).cast<float>();
  FieldOptions keep;
  keep.keep_factors = true;
  LogitEnergyField<float> field(q, k, keep);
  const Eigen::VectorXf first_values = field.singular_values();
  Eigen::MatrixXf wide = gaussian(5, 2, rng).cast<float>();
  wide.col(0) << 0.0f, 3e38f, -3e38f, 3e38f, 3e38f;
  keep.scale = 1e-30;
  require_invalid_argument([&] { field.compute(gaussian(7, 2, rng).cast<float>(), wide, keep); },
                           {"centring K (5x2) overflows", "3.0000000054977558e+38"});
  CHECK(field.singular_values() == first_values);  // the previous head, whole
  CHECK(field.rows() == 4);
  CHECK(field.queries() == q);
  CHECK(field.keys().rows() == 5);
  // Taken over for vectors, the keys are checked before they are centred in place: the message names them as given.
  FieldOptions vectors = keep;
  vectors.compute_vectors = true;
  Eigen::MatrixXf q_moved = q, k_moved = wide;
  require_invalid_argument([&] { field.compute(std::move(q_moved), std::move(k_moved), vectors); },
                           {"centring K (5x2) overflows", "3.0000000054977558e+38"});
  CHECK(k_moved == wide);
  CHECK(field.singular_values() == first_values);
}

TEST_CASE("float data are checked, centred and summed in double as they are read", "[field][float]") {
  // The float field's default route reads Q and K widened to double, centring the keys there; the oracle is the
  // double field of the same (exactly representable) numbers, reduced by its own route.
  std::mt19937_64 rng(67);
  using Eigen::MatrixXf;
  const MatrixXf q = low_rank_plus_noise(2100, 16, 4, 0.05, rng).cast<float>();
  const MatrixXf k = low_rank_plus_noise(2300, 16, 4, 0.05, rng).cast<float>();
  auto check = [](const MatrixXf& queries, const MatrixXf& keys, const FieldOptions& options) {
    const LogitEnergyField<float> field(queries, keys, options);
    const LogitEnergyField<double> reference(queries.cast<double>(), keys.cast<double>(), options);
    require_same_spectrum(field.singular_values(), reference.singular_values().cast<double>(),
                          spectrum_tolerance<float>());
    return field;
  };
  CHECK(check(q, k, FieldOptions{}).key_route() == attnspec::FactorRoute::gram);
  FieldOptions dropped;
  dropped.drop_leading_keys = 1500;
  check(q, k, dropped);
  FieldOptions raw;
  raw.center_rows = false;
  check(q, k, raw);
  // Keys sharing an offset far above their spread: centred in double from the first key.
  check(q, MatrixXf((k.array() + 3000.0f).matrix()), FieldOptions{});
  // A zero column and entries whose squares overflow float: the Gram matrix is singular, so the accurate route takes
  // over, measuring (then rescaling) the factor it was handed unmeasured, two blocks of it.
  MatrixXf singular = 1e25f * q.topRows(1100);
  singular.col(7).setZero();
  CHECK(check(singular, k.topRows(1200), FieldOptions{}).query_route() == attnspec::FactorRoute::householder);

  // Errors found while reading name the entry, beyond the first block and after dropped keys.
  MatrixXf broken = q;
  broken(1500, 3) = std::numeric_limits<float>::quiet_NaN();
  require_invalid_argument([&] { LogitEnergyField<float> f(broken, k); }, {"Q(1500, 3) = nan", "(Q is 2100x16)"});
  broken = k;
  broken(2200, 9) = -std::numeric_limits<float>::infinity();
  require_invalid_argument([&] { LogitEnergyField<float> f(q, broken, dropped); }, {"K(2200, 9) = -inf"});
  // Keys of ±3e38 in different blocks centre in double without overflow; the field's σ₁ is what leaves float.
  broken = k;
  broken(5, 0) = 3e38f;
  broken(2000, 0) = -3e38f;
  require_invalid_argument([&] { LogitEnergyField<float> f(q, broken); }, {"overflows the scalar type"});
  // A difference from the first key beyond float's range spoils the mean, which is summed from float differences.
  broken(0, 0) = -3e38f;
  require_invalid_argument([&] { LogitEnergyField<float> f(q, broken); }, {"centring K (2300x16) overflows"});
}
