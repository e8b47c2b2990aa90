// attnspec: each head's W_Q/W_K slices out of a real checkpoint, as its family's description (model_family.hpp)
// names and lays them out: GPT-2 (packed Conv1D c_attn with biases, LayerNorm), Llama and Mistral (q_proj/k_proj,
// grouped-query, RMSNorm) and Qwen-2 (the same with q/k biases). Shapes are checked against config.json before
// anything is sliced.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

#include "../head_slicing.hpp"
#include "../interaction_matrix.hpp"
#include "../pipeline.hpp"
#include "checkpoint.hpp"
#include "model_family.hpp"

namespace attnspec::io {

/// How a head's weights are prepared before M is formed (see WeightPreparation).
struct AdapterOptions {
  bool fold_norm = false;  ///< fold the pre-attention norm's gain (and LayerNorm's bias) into M
  /// include the q/k biases the family has (GPT-2, Qwen-2, Llama with attention_bias) through the constant
  /// coordinate
  bool biases = false;
  bool logit_scale = true;  ///< scale M by 1/sqrt(d), so its singular values are on the logits' scale
};

/// A checkpoint read through its family's tensor names.
class ModelWeights {
 public:
  explicit ModelWeights(const std::string& path)
      : m_checkpoint(path), m_config(read_model_config(m_checkpoint.config_path().string())) {
    // Checkpoints saved from a model with its LM head (GPT2LMHeadModel) put "transformer." before every name.
    const std::string first_norm = layer_tensor_name(0, std::string(description().attention_norm) + ".weight");
    if (!m_checkpoint.contains(first_norm) && m_checkpoint.contains("transformer." + first_norm)) {
      m_prefix = "transformer.";
    }
    for (Eigen::Index layer = 0; layer < m_config.layers; ++layer) check_layer(layer);
  }

  const ModelConfig& config() const { return m_config; }
  const FamilyDescription& description() const { return m_config.description(); }
  const Checkpoint& checkpoint() const { return m_checkpoint; }

  /// The pipeline's input for one unit with its weights filled in (the host adds queries and keys if it has them).
  template <typename Scalar>
  HeadInput<Scalar> input(const HeadId& unit, const AdapterOptions& options = {}) const {
    return heads<Scalar>(unit.layer, unit.first_query_head, unit.query_heads, options);
  }

  /// The weights of query heads [first, first + count) of `layer` (count = 1: one head; count = g: the KV group
  /// of query head `first`), with the key weights of their KV head, as the pipeline's input (no queries or keys).
  template <typename Scalar>
  HeadInput<Scalar> heads(Eigen::Index layer, Eigen::Index first, Eigen::Index count,
                          const AdapterOptions& options = {}) const {
    const Eigen::Index d = m_config.head_dim, model_dim = m_config.model_dim;
    const Eigen::Index kv_head = kv_head_for_query_head(first, m_config.query_heads, m_config.kv_heads);
    if (count <= 0 || kv_head_for_query_head(first + count - 1, m_config.query_heads, m_config.kv_heads) != kv_head) {
      attnspec::detail::throw_invalid_argument("ModelWeights::heads", "query heads [", first, ", ", first + count,
                                               ") do not share one KV head (", m_config.query_heads, " query heads, ",
                                               m_config.kv_heads, " KV heads)");
    }
    const FamilyDescription& family = description();
    HeadInput<Scalar> out;
    WeightPreparation& prep = out.preparation;
    prep.scale = options.logit_scale ? 1.0 / std::sqrt(static_cast<double>(d)) : 1.0;
    const TensorView query = tensor(layer, family.query, "weight"), key = tensor(layer, family.key, "weight");
    // Rows of the heads' W in the stored tensor: nn.Linear keeps W ([out, in], row i at i·D, stride 1 per input);
    // the packed Conv1D keeps Wᵀ ([D, 3D]: row i of W is column block·D + i, stride 3D per input). The key block
    // starts after the D query outputs in the packed tensor.
    const bool packed = family.projections == ProjectionLayout::packed_conv1d;
    const Eigen::Index key_start = packed ? model_dim : 0;
    const Eigen::Index row_stride = packed ? 1 : model_dim, input_stride = packed ? 3 * model_dim : 1;
    out.query_weight =
        query.strided_block<Scalar>(first * d * row_stride, count * d, row_stride, model_dim, input_stride);
    out.key_weight =
        key.strided_block<Scalar>((key_start + kv_head * d) * row_stride, d, row_stride, model_dim, input_stride);
    if (options.biases && m_config.query_key_value_bias) {
      const Eigen::VectorXd query_bias = tensor(layer, family.query, "bias").matrix<double>().reshaped();
      const Eigen::VectorXd key_bias = tensor(layer, family.key, "bias").matrix<double>().reshaped();
      prep.query_bias = query_bias.segment(first * d, count * d);
      prep.key_bias = key_bias.segment(key_start + kv_head * d, d);
    }
    if (options.fold_norm) {
      prep.norm_gain = tensor(layer, family.attention_norm, "weight").matrix<double>();
      if (family.norm == NormKind::layer_norm)
        prep.norm_bias = tensor(layer, family.attention_norm, "bias").matrix<double>();
    }
    return out;
  }

  /// The checkpoint's name of a tensor outside the layers, e.g. "wte.weight" or "model.embed_tokens.weight".
  std::string model_tensor_name(const std::string& name) const { return m_prefix + description().model_prefix + name; }

  /// The checkpoint's name of a per-layer tensor, e.g. "model.layers.3.self_attn.q_proj.weight".
  std::string layer_tensor_name(Eigen::Index layer, const std::string& suffix) const {
    return m_prefix + description().layer_prefix + std::to_string(layer) + "." + suffix;
  }

  /// Tensor `<name>.<kind>` of `layer` (kind "weight" or "bias"), checked to have `shape`.
  TensorView layer_tensor(Eigen::Index layer, const char* name, const char* kind,
                          const std::vector<Eigen::Index>& shape) const {
    return expect_shape(m_checkpoint.tensor(layer_tensor_name(layer, std::string(name) + "." + kind)), shape);
  }

  /// Tensor `<name>.<kind>` outside the layers, checked to have `shape`.
  TensorView model_tensor(const char* name, const char* kind, const std::vector<Eigen::Index>& shape) const {
    return expect_shape(m_checkpoint.tensor(model_tensor_name(std::string(name) + "." + kind)), shape);
  }

 private:
  TensorView tensor(Eigen::Index layer, const char* name, const char* kind) const {
    return m_checkpoint.tensor(layer_tensor_name(layer, std::string(name) + "." + kind));
  }

  TensorView expect_shape(TensorView view, const std::vector<Eigen::Index>& shape) const {
    if (view.shape() != shape) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), " but ", m_checkpoint.config_path().string(),
                             " implies ", shape_text(shape));
    }
    return view;
  }

  // What the analysis of the weights reads: the query and key projections (and their biases) and the norm before
  // attention. The forward passes check the rest of a layer when they read it.
  void check_layer(Eigen::Index layer) const {
    const FamilyDescription& family = description();
    const Eigen::Index model_dim = m_config.model_dim, d = m_config.head_dim;
    if (family.projections == ProjectionLayout::packed_conv1d) {
      layer_tensor(layer, family.query, "weight", {model_dim, 3 * model_dim});
      if (m_config.query_key_value_bias) layer_tensor(layer, family.query, "bias", {3 * model_dim});
    } else {
      layer_tensor(layer, family.query, "weight", {m_config.query_heads * d, model_dim});
      layer_tensor(layer, family.key, "weight", {m_config.kv_heads * d, model_dim});
      if (m_config.query_key_value_bias) {
        layer_tensor(layer, family.query, "bias", {m_config.query_heads * d});
        layer_tensor(layer, family.key, "bias", {m_config.kv_heads * d});
      }
    }
    layer_tensor(layer, family.attention_norm, "weight", {model_dim});
    if (family.norm == NormKind::layer_norm) layer_tensor(layer, family.attention_norm, "bias", {model_dim});
  }

  Checkpoint m_checkpoint;
  ModelConfig m_config;
  std::string m_prefix;
};

}  // namespace attnspec::io
