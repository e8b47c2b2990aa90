// attnspec: the learned interaction matrix of one head, M = W_Qᵀ·W_K (D×D, rank <= d).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <locale>
#include <sstream>
#include <string>

#include "detail/checks.hpp"
#include "detail/extern_instantiation.hpp"
#include "detail/factored_svd.hpp"
#include "detail/thread_workspace.hpp"

namespace attnspec {

/// How a head's weights were prepared before M was formed. Every report carries this, because the same head
/// gives different spectra with and without each step.
struct WeightPreparation {
  double scale = 1.0;          ///< multiplies M; use the head's logit scale (1/sqrt(d)) to compare with logits
  Eigen::VectorXd norm_gain;   ///< γ of the norm before attention (length D), folded as diag(γ)·M·diag(γ)
  Eigen::VectorXd norm_bias;   ///< β of a LayerNorm (length D), folded into the biases as W·β
  Eigen::VectorXd query_bias;  ///< b_q (length d)
  Eigen::VectorXd key_bias;    ///< b_k (length d)

  /// True when any bias term is present, so M gains a constant input coordinate and becomes (D+1)×(D+1).
  bool augmented() const { return norm_bias.size() > 0 || query_bias.size() > 0 || key_bias.size() > 0; }

  /// One line saying what was done, e.g. "scale=0.125; norm gain folded; biases augmented (constant coordinate)".
  std::string describe() const {
    std::ostringstream text;
    text.imbue(std::locale::classic());
    text.precision(17);
    text << "scale=" << scale;
    if (norm_gain.size() > 0) text << "; norm gain folded";
    if (norm_bias.size() > 0) text << "; norm bias folded";
    if (query_bias.size() > 0) text << "; query bias";
    if (key_bias.size() > 0) text << "; key bias";
    if (augmented()) text << "; augmented with a constant coordinate";
    return text.str();
  }
};

/// How M's spectrum is computed.
struct InteractionOptions {
  bool compute_vectors = false;  ///< also keep singular vectors: left (g·D)×r, right D×r (D+1 when augmented)
  unsigned threads = 1;          ///< threads for one matrix (0: all hardware threads; W_Q, W_K reduced concurrently)
};

/// Spectrum of M = s·W_Qᵀ·W_K for one head's d×D weight slices in nn.Linear layout [out, in]. Under grouped-query
/// attention W_Q may instead hold a KV group's g query heads (g·d×D, consecutive rows of q_proj); M is then the
/// (g·D)×D stack [M_1; ...; M_g], of rank <= d.
template <typename Scalar = double>
class InteractionMatrix {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  InteractionMatrix() = default;

  template <class DerivedQ, class DerivedK>
  InteractionMatrix(const Eigen::MatrixBase<DerivedQ>& query_weight, const Eigen::MatrixBase<DerivedK>& key_weight,
                    const WeightPreparation& preparation = {}, const InteractionOptions& options = {}) {
    compute(query_weight, key_weight, preparation, options);
  }

  /// (Re)computes M for a new head. On error the object keeps the previous head's results.
  template <class DerivedQ, class DerivedK>
  InteractionMatrix& compute(const Eigen::MatrixBase<DerivedQ>& query_weight,
                             const Eigen::MatrixBase<DerivedK>& key_weight, const WeightPreparation& preparation = {},
                             const InteractionOptions& options = {}) {
    constexpr const char* function = "InteractionMatrix";
    detail::require_nonempty(function, "W_Q", query_weight);
    detail::require_nonempty(function, "W_K", key_weight);
    if (query_weight.cols() != key_weight.cols() || query_weight.rows() % key_weight.rows() != 0) {
      detail::throw_invalid_argument(function, "W_Q (", detail::shape_of(query_weight), ") must be d x D like W_K (",
                                     detail::shape_of(key_weight), "), or g*d x D for a KV group of g query heads");
    }
    const Eigen::Index d = key_weight.rows(), model_dim = key_weight.cols(), group = query_weight.rows() / d;
    detail::require_positive_finite(function, "preparation.scale", preparation.scale);
    check_length(preparation.norm_gain, model_dim, "preparation.norm_gain", "D");
    check_length(preparation.norm_bias, model_dim, "preparation.norm_bias", "D");
    check_length(preparation.query_bias, group * d, "preparation.query_bias", "the rows of W_Q");
    check_length(preparation.key_bias, d, "preparation.key_bias", "d");

    // A KV group's M is the stack [M_1; ...; M_g] of its query heads' matrices: the map behind the field of the
    // group's stacked queries. Its query factor stacks each head's prepared W_Qᵀ.
    // The factors are built in this thread's workspace and swapped in at the end, and the kernel publishes its
    // results only on success, so a head that fails leaves the previous one. The swap hands the previous head's
    // storage to the workspace: an object recomputed head after head allocates nothing (fresh pages of a few MiB
    // per head cost more than the preparation itself on a virtual machine).
    const Eigen::Index block_rows = model_dim + (preparation.augmented() ? 1 : 0);
    const detail::ThreadWorkspace<Factors> building;
    Matrix& query_factor = building->query;
    Matrix& key_factor = building->key;
    query_factor.resize(group * block_rows, d);
    key_factor.resize(block_rows, d);
    for (Eigen::Index h = 0; h < group; ++h) {
      const Eigen::VectorXd bias = preparation.query_bias.size() > 0
                                       ? Eigen::VectorXd(preparation.query_bias.segment(h * d, d))
                                       : Eigen::VectorXd();
      prepare_factor(query_weight.middleRows(h * d, d), bias, preparation,
                     query_factor.middleRows(h * block_rows, block_rows));
    }
    prepare_factor(key_weight, preparation.key_bias, preparation, key_factor);
    require_finite_factor(query_weight, query_factor, "W_Q");
    require_finite_factor(key_weight, key_factor, "W_K");

    m_svd.compute(query_factor, key_factor, preparation.scale, options.compute_vectors, options.threads, function);
    m_query_factor.swap(query_factor);
    m_key_factor.swap(key_factor);
    m_preparation = preparation;
    return *this;
  }

  /// Singular values of M, descending; min(d, D) of them (D+1 counts the constant coordinate when augmented).
  /// The field counterpart of a group's M is the field of its stacked queries.
  const Vector& singular_values() const { return m_svd.singular_values(); }
  const Matrix& left_singular_vectors() const { return m_svd.left_vectors("left_singular_vectors"); }
  const Matrix& right_singular_vectors() const { return m_svd.right_vectors("right_singular_vectors"); }
  const WeightPreparation& preparation() const { return m_preparation; }
  Eigen::Index head_dim() const { return m_query_factor.cols(); }
  /// D, or D+1 when biases augment the input with a constant coordinate.
  Eigen::Index input_dim() const { return m_key_factor.rows(); }
  /// Query heads stacked in W_Q: 1, or g for a KV group.
  Eigen::Index group_size() const { return m_query_factor.rows() / m_key_factor.rows(); }
  /// M itself ((g·input_dim) × input_dim); allocates, for small cases and checking.
  Matrix dense() const { return static_cast<Scalar>(m_preparation.scale) * m_query_factor * m_key_factor.transpose(); }
  /// How the prepared W_Qᵀ and W_Kᵀ were reduced: for diagnostics and benchmarks.
  FactorRoute query_route() const { return m_svd.route_a(); }
  FactorRoute key_route() const { return m_svd.route_b(); }

 private:
  static void check_length(const Eigen::VectorXd& vector, Eigen::Index expected, const char* argument,
                           const char* name) {
    if (vector.size() != 0 && vector.size() != expected) {
      detail::throw_invalid_argument("InteractionMatrix", argument, " has length ", vector.size(), " but ", name, " = ",
                                     expected);
    }
    detail::require_finite("InteractionMatrix", argument, vector);
  }

  // Wᵀ as the D×d factor of M into `factor`, with γ folded into its rows and, when augmented, a last row holding
  // the effective bias W·β + b: q = W·(γ⊙x + β) + b = (W·diag(γ))·x + (W·β + b). One pass over the caller's W, in
  // panels of kPanel columns: a panel is read while it is in cache, transposed, converted, scaled and folded into
  // the bias. (A whole-matrix transposed assignment writes rows D apart and thrashes the cache at power-of-two D.)
  template <class DerivedWeight, class Factor>
  static void prepare_factor(const Eigen::MatrixBase<DerivedWeight>& weight, const Eigen::VectorXd& bias,
                             const WeightPreparation& prep, Factor&& factor) {
    constexpr Eigen::Index kPanel = 32;
    const Eigen::Index d = weight.rows(), model_dim = weight.cols();
    Matrix panel(d, kPanel);
    Vector effective_bias = Vector::Zero(d);
    for (Eigen::Index first = 0; first < model_dim; first += kPanel) {
      const Eigen::Index count = std::min(kPanel, model_dim - first);
      auto columns = panel.leftCols(count);
      columns = weight.middleCols(first, count).template cast<Scalar>();
      if (prep.norm_bias.size() > 0) {
        effective_bias.noalias() += columns * prep.norm_bias.segment(first, count).template cast<Scalar>();
      }
      if (prep.norm_gain.size() > 0) {
        columns.array().rowwise() *= prep.norm_gain.segment(first, count).template cast<Scalar>().array().transpose();
      }
      factor.middleRows(first, count) = columns.transpose();
    }
    if (prep.augmented()) {
      if (bias.size() > 0) effective_bias += bias.cast<Scalar>();
      factor.row(model_dim) = effective_bias.transpose();
    }
  }

  // One vectorised scan of a prepared factor; only when it finds an entry that is not finite does the search for
  // its cause run: an entry of W (not finite, or too large for Scalar) is named in W's own indices, else the
  // preparation overflowed and the entry is named in the prepared Wᵀ's.
  template <class DerivedWeight>
  static void require_finite_factor(const Eigen::MatrixBase<DerivedWeight>& weight, const Matrix& factor,
                                    const char* argument) {
    constexpr const char* function = "InteractionMatrix";
    if (detail::all_finite(factor)) return;
    detail::require_finite_after_cast(function, argument, weight, Matrix(weight.template cast<Scalar>()));
    detail::require_finite(function, (std::string(argument) + "^T (prepared)").c_str(), factor);
  }

  struct Factors {
    Matrix query, key;
  };

  Matrix m_query_factor, m_key_factor;  // prepared W_Qᵀ and W_Kᵀ
  WeightPreparation m_preparation;
  detail::FactoredSvd<Scalar> m_svd;
};

}  // namespace attnspec

ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(attnspec::InteractionMatrix)
