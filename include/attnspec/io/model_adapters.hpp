// attnspec: each head's W_Q/W_K slices out of a real checkpoint, by architecture family: GPT-2 (packed Conv1D
// c_attn with biases, LayerNorm), Llama and Mistral (q_proj/k_proj, grouped-query, RMSNorm) and Qwen-2 (the same
// with q/k biases). Shapes are checked against config.json before anything is sliced.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

#include "../head_slicing.hpp"
#include "../interaction_matrix.hpp"
#include "checkpoint.hpp"

namespace attnspec::io {

enum class ModelFamily { gpt2, llama, mistral, qwen2 };

inline const char* family_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::gpt2:
      return "gpt2";
    case ModelFamily::llama:
      return "llama";
    case ModelFamily::mistral:
      return "mistral";
    case ModelFamily::qwen2:
      return "qwen2";
  }
  return "unknown";
}

/// What the analysis needs from config.json.
struct ModelConfig {
  ModelFamily family = ModelFamily::gpt2;
  Eigen::Index layers = 0, query_heads = 0, kv_heads = 0, head_dim = 0, model_dim = 0, context = 0;
  Eigen::Index group_size() const { return query_heads / kv_heads; }
};

/// Interprets the text of a config.json; the family comes from "model_type". `path` names the source in errors.
inline ModelConfig parse_model_config(std::string_view text, const std::string& path) {
  const JsonValue root = parse_json(text, path);
  if (!root.is_object()) detail::throw_io_error(path, "is not a JSON object");
  auto integer = [&](const char* key, std::optional<std::uint64_t> fallback = std::nullopt) -> Eigen::Index {
    const JsonValue* value = root.find(key);
    if (value == nullptr) {
      if (fallback) return static_cast<Eigen::Index>(*fallback);
      detail::throw_io_error(path, "lacks \"", key, "\"");
    }
    const std::uint64_t number = json_unsigned(*value, path, key, std::uint64_t{1} << 24);
    if (number == 0) detail::throw_io_error(path, "\"", key, "\" must be positive");
    return static_cast<Eigen::Index>(number);
  };
  const JsonValue* type_value = root.find("model_type");
  if (type_value == nullptr) detail::throw_io_error(path, "lacks \"model_type\"");
  const std::string& type = json_string(*type_value, path, "model_type");

  ModelConfig config;
  if (type == "gpt2") {
    config.family = ModelFamily::gpt2;
    config.model_dim = integer("n_embd");
    config.query_heads = config.kv_heads = integer("n_head");
    config.layers = integer("n_layer");
    config.context = integer("n_positions", 1024);
  } else if (type == "llama" || type == "mistral" || type == "qwen2") {
    config.family = type == "llama"     ? ModelFamily::llama
                    : type == "mistral" ? ModelFamily::mistral
                                        : ModelFamily::qwen2;
    config.model_dim = integer("hidden_size");
    config.query_heads = integer("num_attention_heads");
    config.kv_heads = integer("num_key_value_heads", static_cast<std::uint64_t>(config.query_heads));
    config.layers = integer("num_hidden_layers");
    config.context = integer("max_position_embeddings", 2048);
  } else {
    detail::throw_io_error(path, "model_type \"", type, "\" is not one attnspec reads (gpt2, llama, mistral, qwen2)");
  }
  if (config.query_heads % config.kv_heads != 0) {
    detail::throw_io_error(path, config.query_heads, " query heads are not a multiple of ", config.kv_heads,
                           " KV heads");
  }
  if (config.family == ModelFamily::gpt2 && config.model_dim % config.query_heads != 0) {
    detail::throw_io_error(path, "n_embd = ", config.model_dim, " is not a multiple of n_head = ", config.query_heads);
  }
  const Eigen::Index implied = config.model_dim / config.query_heads;
  config.head_dim =
      config.family == ModelFamily::gpt2 ? implied : integer("head_dim", static_cast<std::uint64_t>(implied));
  // integer() refuses an explicit 0, so a zero here is the size implied by fewer model dimensions than heads.
  if (config.head_dim == 0) {
    detail::throw_io_error(path, "gives no \"head_dim\", and the model size ", config.model_dim, " over ",
                           config.query_heads, " query heads leaves heads of size 0");
  }
  return config;
}

/// Reads and interprets config.json.
inline ModelConfig read_model_config(const std::string& path) {
  const std::vector<unsigned char> bytes = detail::read_whole_file(path);
  return parse_model_config(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

/// How a head's weights are prepared before M is formed (see WeightPreparation).
struct AdapterOptions {
  bool fold_norm = false;   ///< fold the pre-attention norm's gain (and LayerNorm's bias) into M
  bool biases = false;      ///< include q/k biases (GPT-2, Qwen-2) through the constant coordinate
  bool logit_scale = true;  ///< scale M by 1/sqrt(d), so its singular values are on the logits' scale
};

/// One head's (or one KV group's) weights, ready for InteractionMatrix.
template <typename Scalar>
struct HeadWeights {
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> query_weight;  ///< d×D, or g·d×D for a KV group
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> key_weight;    ///< d×D
  WeightPreparation preparation;
};

/// A checkpoint read through its architecture's tensor names.
class ModelWeights {
 public:
  explicit ModelWeights(const std::string& path)
      : m_checkpoint(path), m_config(read_model_config(m_checkpoint.config_path().string())) {
    m_prefix = m_config.family == ModelFamily::gpt2 && !m_checkpoint.contains("h.0.attn.c_attn.weight") &&
                       m_checkpoint.contains("transformer.h.0.attn.c_attn.weight")
                   ? "transformer."
                   : "";
    for (Eigen::Index layer = 0; layer < m_config.layers; ++layer) check_layer(layer);
  }

  const ModelConfig& config() const { return m_config; }
  const Checkpoint& checkpoint() const { return m_checkpoint; }

  /// The weights of query heads [first, first + count) of `layer` (count = 1: one head; count = g: the KV group
  /// of query head `first`), with the key weights of their KV head.
  template <typename Scalar>
  HeadWeights<Scalar> heads(Eigen::Index layer, Eigen::Index first, Eigen::Index count,
                            const AdapterOptions& options = {}) const {
    const Eigen::Index d = m_config.head_dim, model_dim = m_config.model_dim;
    const Eigen::Index kv_head = kv_head_for_query_head(first, m_config.query_heads, m_config.kv_heads);
    if (count <= 0 || kv_head_for_query_head(first + count - 1, m_config.query_heads, m_config.kv_heads) != kv_head) {
      attnspec::detail::throw_invalid_argument("ModelWeights::heads", "query heads [", first, ", ", first + count,
                                               ") do not share one KV head (", m_config.query_heads, " query heads, ",
                                               m_config.kv_heads, " KV heads)");
    }
    HeadWeights<Scalar> out;
    WeightPreparation& prep = out.preparation;
    prep.scale = options.logit_scale ? 1.0 / std::sqrt(static_cast<double>(d)) : 1.0;
    if (m_config.family == ModelFamily::gpt2) {
      // Conv1D stores [D, 3D] = Wᵀ: row i of a head's W is column (block·D + head·d + i), stride 3D per input.
      const TensorView c_attn = tensor(layer, "attn.c_attn.weight");
      out.query_weight = c_attn.strided_block<Scalar>(first * d, count * d, 1, model_dim, 3 * model_dim);
      out.key_weight = c_attn.strided_block<Scalar>(model_dim + kv_head * d, d, 1, model_dim, 3 * model_dim);
      if (options.biases) {
        const Eigen::VectorXd bias = tensor(layer, "attn.c_attn.bias").matrix<double>();
        prep.query_bias = bias.segment(first * d, count * d);
        prep.key_bias = bias.segment(model_dim + kv_head * d, d);
      }
      if (options.fold_norm) {
        prep.norm_gain = tensor(layer, "ln_1.weight").matrix<double>();
        prep.norm_bias = tensor(layer, "ln_1.bias").matrix<double>();
      }
    } else {
      const TensorView q_proj = tensor(layer, "self_attn.q_proj.weight");
      const TensorView k_proj = tensor(layer, "self_attn.k_proj.weight");
      out.query_weight = q_proj.strided_block<Scalar>(first * d * model_dim, count * d, model_dim, model_dim, 1);
      out.key_weight = k_proj.strided_block<Scalar>(kv_head * d * model_dim, d, model_dim, model_dim, 1);
      if (options.biases && m_config.family == ModelFamily::qwen2) {
        prep.query_bias = tensor(layer, "self_attn.q_proj.bias").matrix<double>().col(0).segment(first * d, count * d);
        prep.key_bias = tensor(layer, "self_attn.k_proj.bias").matrix<double>().col(0).segment(kv_head * d, d);
      }
      if (options.fold_norm) prep.norm_gain = tensor(layer, "input_layernorm.weight").matrix<double>();
    }
    return out;
  }

  /// The checkpoint's name of a tensor outside the layers, e.g. "wte.weight" or "model.embed_tokens.weight".
  std::string model_tensor_name(const std::string& name) const {
    return m_config.family == ModelFamily::gpt2 ? m_prefix + name : "model." + name;
  }

  /// The checkpoint's name of a per-layer tensor, e.g. "model.layers.3.self_attn.q_proj.weight".
  std::string tensor_name(Eigen::Index layer, const std::string& suffix) const {
    return m_config.family == ModelFamily::gpt2 ? m_prefix + "h." + std::to_string(layer) + "." + suffix
                                                : "model.layers." + std::to_string(layer) + "." + suffix;
  }

 private:
  TensorView tensor(Eigen::Index layer, const std::string& suffix) const {
    return m_checkpoint.tensor(tensor_name(layer, suffix));
  }

  void expect_shape(Eigen::Index layer, const std::string& suffix, std::vector<Eigen::Index> shape) const {
    const TensorView view = tensor(layer, suffix);
    if (view.shape() != shape) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), " but ", m_checkpoint.config_path().string(),
                             " implies ", shape_text(shape));
    }
  }

  void check_layer(Eigen::Index layer) const {
    const Eigen::Index model_dim = m_config.model_dim, d = m_config.head_dim;
    if (m_config.family == ModelFamily::gpt2) {
      expect_shape(layer, "attn.c_attn.weight", {model_dim, 3 * model_dim});
      expect_shape(layer, "attn.c_attn.bias", {3 * model_dim});
      expect_shape(layer, "ln_1.weight", {model_dim});
      expect_shape(layer, "ln_1.bias", {model_dim});
      return;
    }
    expect_shape(layer, "self_attn.q_proj.weight", {m_config.query_heads * d, model_dim});
    expect_shape(layer, "self_attn.k_proj.weight", {m_config.kv_heads * d, model_dim});
    expect_shape(layer, "input_layernorm.weight", {model_dim});
    if (m_config.family == ModelFamily::qwen2) {
      expect_shape(layer, "self_attn.q_proj.bias", {m_config.query_heads * d});
      expect_shape(layer, "self_attn.k_proj.bias", {m_config.kv_heads * d});
    }
  }

  Checkpoint m_checkpoint;
  ModelConfig m_config;
  std::string m_prefix;
};

}  // namespace attnspec::io
