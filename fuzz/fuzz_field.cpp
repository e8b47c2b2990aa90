// libFuzzer target: arbitrary bytes as the matrices of one head. The first bytes choose n, m, d, D, the scalar
// type and options; the rest are reinterpreted as IEEE doubles (NaN, Inf, subnormals and 1e308 included). The
// field, interaction matrix and statistics must either refuse the input with attnspec::invalid_argument or return
// finite, non-negative, descending singular values. With flag 64 the same Q and K also go to the softmax stability
// bound (causal when flag 128 is set and n = m) and to the causal field: total variations must lie in [0, 1], and
// no measured change may exceed its certificate.
#include <attnspec/attnspec.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "fuzz_support.hpp"

namespace {

class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : m_data(data), m_size(size) {}
  std::uint8_t byte() { return m_position < m_size ? m_data[m_position++] : 0; }
  double value() {
    double x = 0;
    if (m_position + sizeof(double) <= m_size) {
      std::memcpy(&x, m_data + m_position, sizeof(double));
      m_position += sizeof(double);
    }
    return x;
  }
  Eigen::MatrixXd matrix(Eigen::Index rows, Eigen::Index cols) {
    Eigen::MatrixXd m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = value();
    return m;
  }

 private:
  const std::uint8_t* m_data;
  std::size_t m_size, m_position = 0;
};

template <class Vector>
void check_spectrum(const Vector& sigma) {
  for (Eigen::Index i = 0; i < sigma.size(); ++i) {
    if (!(sigma(i) >= 0) || !std::isfinite(double(sigma(i)))) attnspec_fuzz::finding("non-finite or negative value");
    if (i > 0 && sigma(i) > sigma(i - 1)) attnspec_fuzz::finding("singular values out of order");
  }
  const attnspec::SpectrumStats<double> stats(sigma.template cast<double>());
  if (stats.size() > 0 && stats.rank_at(0.9) > stats.size()) attnspec_fuzz::finding("k@0.9 beyond the spectrum");
}

// `rounding`: how far a measured TV may exceed its certificate. The certificate bounds the change in exact
// arithmetic; the measured pass forms s·Q·Kᵀ and U_k·Σ_k·V_kᵀ in floating point, each logit off by up to about
// (d + 2)·ε·s·‖q_i‖·‖k_j‖, and a shift of δ in every logit of a row moves its TV by at most δ/2.
void check_stability(const attnspec::StabilityAtRank& at, double rounding) {
  const double certified[] = {at.certified_max_tv, at.certified_mean_tv, at.a_priori_max_tv, at.a_priori_mean_tv};
  for (const double tv : certified) {
    if (!(tv >= 0 && tv <= 1)) attnspec_fuzz::finding("a total variation outside [0, 1]");
  }
  if (!(at.certified_max_kl >= 0)) attnspec_fuzz::finding("a negative or NaN certified KL");
  if (!at.measured) return;
  if (!(at.measured_max_tv >= 0 && at.measured_max_tv <= 1 && at.measured_mean_tv <= at.measured_max_tv + 1e-12)) {
    attnspec_fuzz::finding("a measured total variation outside [0, 1] or a mean above the max");
  }
  if (at.measured_max_tv > at.certified_max_tv + rounding) attnspec_fuzz::finding("measured TV above its certificate");
}

template <typename Scalar>
double logit_rounding(const attnspec::LogitEnergyField<Scalar>& field) {
  const Eigen::MatrixXd q = field.queries().template cast<double>(), k = field.keys().template cast<double>();
  const double largest_logit = field.scale() * q.rowwise().norm().maxCoeff() * k.rowwise().norm().maxCoeff();
  const double sigma1 = field.singular_values().size() ? double(field.singular_values()(0)) : 0.0;
  const double epsilon = std::numeric_limits<Scalar>::epsilon();
  return 1e-12 + 4 * double(q.cols() + 2) * epsilon * (largest_logit + sigma1);
}

template <typename Scalar>
void run_softmax_stability(const Eigen::MatrixXd& q, const Eigen::MatrixXd& k, const attnspec::FieldOptions& field,
                           std::uint8_t flags, std::uint8_t block_rows) {
  attnspec::StabilityOptions options;
  options.field = field;
  options.field.compute_vectors = false;
  options.field.algorithm = attnspec::FieldAlgorithm::accurate;
  options.causal = (flags & 128) != 0 && q.rows() == k.rows();
  options.block_rows = 1 + block_rows % 8;
  options.threads = 1 + block_rows / 128;
  attnspec_fuzz::expect_success_or_attnspec_error([&] {
    const attnspec::SoftmaxStabilityBound<Scalar> bound(q, k, options);
    check_spectrum(bound.field().singular_values());
    const double rounding = logit_rounding(bound.field());
    for (const attnspec::StabilityAtRank& at : bound.ranks()) check_stability(at, rounding);
  });
  attnspec_fuzz::expect_success_or_attnspec_error([&] {
    attnspec::CausalFieldOptions causal;
    causal.scale = field.scale;
    const attnspec::CausalLogitEnergyField<Scalar> causal_field(q, k, causal);
    check_spectrum(causal_field.singular_values());
    if (!(causal_field.energy() >= 0) || !std::isfinite(causal_field.energy())) {
      attnspec_fuzz::finding("a negative or non-finite causal field energy");
    }
  });
}

template <typename Scalar>
void run(ByteReader& reader, Eigen::Index n, Eigen::Index m, Eigen::Index d, Eigen::Index model_dim,
         std::uint8_t flags) {
  attnspec::FieldOptions options;
  options.center_rows = (flags & 1) != 0;
  options.algorithm = (flags & 2) ? attnspec::FieldAlgorithm::gram : attnspec::FieldAlgorithm::accurate;
  options.compute_vectors = (flags & 4) != 0 && options.algorithm == attnspec::FieldAlgorithm::accurate;
  options.drop_leading_keys = (flags >> 3) & 1;
  if (flags & 16) options.scale = reader.value();
  const Eigen::MatrixXd q = reader.matrix(n, d), k = reader.matrix(m, d);
  attnspec_fuzz::expect_success_or_attnspec_error([&] {
    const attnspec::LogitEnergyField<Scalar> field(q, k, options);
    check_spectrum(field.singular_values());
  });
  if (flags & 64) run_softmax_stability<Scalar>(q, k, options, flags, reader.byte());
  const Eigen::MatrixXd query_weight = reader.matrix(d, model_dim), key_weight = reader.matrix(d, model_dim);
  attnspec_fuzz::expect_success_or_attnspec_error([&] {
    const attnspec::InteractionMatrix<Scalar> interaction(query_weight, key_weight);
    check_spectrum(interaction.singular_values());
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteReader reader(data, size);
  const Eigen::Index n = reader.byte() % 24, m = reader.byte() % 24, d = reader.byte() % 12;
  const Eigen::Index model_dim = reader.byte() % 20;
  const std::uint8_t flags = reader.byte();
  if (flags & 32) {
    run<float>(reader, n, m, d, model_dim, flags);
  } else {
    run<double>(reader, n, m, d, model_dim, flags);
  }
  return 0;
}
