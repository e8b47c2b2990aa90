// attnspec: cutting one head's query/key weights out of the packed projections that checkpoints store.
#pragma once

#include <Eigen/Core>

#include "detail/checks.hpp"

namespace attnspec {

/// A head's query and key parts, each in nn.Linear layout (d×D for weights, length d for biases).
template <class Value>
struct QueryKeyPair {
  Value query;
  Value key;
};

namespace detail {
// d = D / heads, after checking that it divides and that `head` is one of them.
inline Eigen::Index checked_head_dim(const char* function, Eigen::Index model_dim, Eigen::Index head,
                                     Eigen::Index heads) {
  if (heads <= 0 || model_dim % heads != 0) {
    throw_invalid_argument(function, "heads = ", heads, " does not divide D = ", model_dim);
  }
  require_index_in_range(function, "head", head, heads);
  return model_dim / heads;
}
}  // namespace detail

template <class Derived>
using PlainMatrixOf = Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Rows [head·d, (head+1)·d) of a packed nn.Linear projection weight [heads·d, D] (q_proj, k_proj, ...).
template <class Derived>
PlainMatrixOf<Derived> head_rows(const Eigen::MatrixBase<Derived>& packed, Eigen::Index head, Eigen::Index head_dim) {
  constexpr const char* function = "head_rows";
  if (head_dim <= 0 || packed.rows() % head_dim != 0) {
    detail::throw_invalid_argument(function, "head_dim = ", head_dim, " does not divide the ", packed.rows(),
                                   " rows of the packed weight (", detail::shape_of(packed), ")");
  }
  detail::require_index_in_range(function, "head", head, packed.rows() / head_dim);
  return packed.middleRows(head * head_dim, head_dim);
}

/// Query head h reads key/value head h / (n_q / n_kv) under grouped-query attention (n_kv = n_q: multi-head).
inline Eigen::Index kv_head_for_query_head(Eigen::Index query_head, Eigen::Index query_heads, Eigen::Index kv_heads) {
  constexpr const char* function = "kv_head_for_query_head";
  if (query_heads <= 0 || kv_heads <= 0 || query_heads % kv_heads != 0) {
    detail::throw_invalid_argument(function, "query_heads = ", query_heads,
                                   " must be a positive multiple of kv_heads = ", kv_heads);
  }
  detail::require_index_in_range(function, "query_head", query_head, query_heads);
  return query_head / (query_heads / kv_heads);
}

/// W_Q and W_K (d×D each) of one head from GPT-2's packed Conv1D c_attn.weight, stored [in, out] = [D, 3·D]
/// with the query, key and value blocks side by side; Conv1D is the transpose of nn.Linear.
template <class Derived>
QueryKeyPair<PlainMatrixOf<Derived>> gpt2_head_weights(const Eigen::MatrixBase<Derived>& c_attn_weight,
                                                       Eigen::Index head, Eigen::Index heads) {
  constexpr const char* function = "gpt2_head_weights";
  const Eigen::Index model_dim = c_attn_weight.rows();
  if (c_attn_weight.cols() != 3 * model_dim) {
    detail::throw_invalid_argument(function, "c_attn.weight is ", detail::shape_of(c_attn_weight),
                                   " but GPT-2 stores it as [D, 3*D]");
  }
  const Eigen::Index head_dim = detail::checked_head_dim(function, model_dim, head, heads);
  return {c_attn_weight.middleCols(head * head_dim, head_dim).transpose(),
          c_attn_weight.middleCols(model_dim + head * head_dim, head_dim).transpose()};
}

/// b_q and b_k (length d each) of one head from GPT-2's packed c_attn.bias (length 3·D).
template <class Derived>
QueryKeyPair<Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1>> gpt2_head_biases(
    const Eigen::MatrixBase<Derived>& c_attn_bias, Eigen::Index head, Eigen::Index heads) {
  constexpr const char* function = "gpt2_head_biases";
  if (c_attn_bias.cols() != 1 || c_attn_bias.rows() % 3 != 0) {
    detail::throw_invalid_argument(function, "c_attn.bias is ", detail::shape_of(c_attn_bias),
                                   " but GPT-2 stores a vector of length 3*D");
  }
  const Eigen::Index model_dim = c_attn_bias.rows() / 3;
  const Eigen::Index head_dim = detail::checked_head_dim(function, model_dim, head, heads);
  return {c_attn_bias.segment(head * head_dim, head_dim), c_attn_bias.segment(model_dim + head * head_dim, head_dim)};
}

}  // namespace attnspec
