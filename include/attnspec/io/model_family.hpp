// attnspec: what attnspec knows about each architecture family, in one table: config.json's keys, tensor names,
// projection layout, biases, norm, position scheme. The adapters (model_adapters.hpp), their shape checks and the
// forward passes in examples/ all read it, so a new family is one more entry in model_families().
#pragma once

#include <Eigen/Core>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

#include "json.hpp"
#include "npy.hpp"

namespace attnspec::io {

enum class ModelFamily { gpt2, llama, mistral, qwen2 };
enum class NormKind { layer_norm, rms_norm };
enum class PositionScheme { learned, rotary };
/// GPT-2 packs Q, K and V in one Conv1D ([in, 3·out]); the others keep one nn.Linear ([out, in]) each.
enum class ProjectionLayout { packed_conv1d, separate_linear };
/// Which of the attention projections carry biases: none, Q/K/V (Qwen-2), all four (GPT-2), or as config.json's
/// "attention_bias" says (Llama: all four when true).
enum class AttentionBias { none, qkv, qkvo, from_config };

/// One architecture family. Tensor names are suffixes after the layer prefix ("<layer_prefix><l>.") or the model
/// prefix; a null name means the family has no such tensor. The defaults describe a Llama-style family.
struct FamilyDescription {
  ModelFamily family = ModelFamily::llama;
  const char* model_type = "llama";  ///< config.json's "model_type"
  ProjectionLayout projections = ProjectionLayout::separate_linear;
  AttentionBias attention_bias = AttentionBias::from_config;
  NormKind norm = NormKind::rms_norm;
  PositionScheme positions = PositionScheme::rotary;
  bool sliding_window = false;      ///< reads config.json's "sliding_window" (one window for every layer)
  const char* activation = "silu";  ///< the MLP activation config.json must name

  // config.json keys, and Transformers' defaults where a key may be absent
  const char* model_dim_key = "hidden_size";
  const char* heads_key = "num_attention_heads";
  const char* kv_heads_key = "num_key_value_heads";  ///< null: as many KV heads as query heads
  const char* layers_key = "num_hidden_layers";
  const char* context_key = "max_position_embeddings";
  Eigen::Index default_context = 2048;
  const char* mlp_dim_key = "intermediate_size";
  const char* activation_key = "hidden_act";
  const char* norm_eps_key = "rms_norm_eps";
  double default_norm_eps = 1e-6;
  bool default_tied_embeddings = false;

  // tensor names
  const char* model_prefix = "model.";         ///< before the embeddings and the final norm
  const char* layer_prefix = "model.layers.";  ///< before the layer index
  const char* token_embedding = "embed_tokens";
  const char* position_embedding = nullptr;
  const char* final_norm = "norm";
  const char* output_head = "lm_head";  ///< the untied output head, without the model prefix
  const char* attention_norm = "input_layernorm";
  const char* mlp_norm = "post_attention_layernorm";
  const char* query = "self_attn.q_proj";  ///< the packed projection for packed_conv1d
  const char* key = "self_attn.k_proj";
  const char* value = "self_attn.v_proj";
  const char* attention_output = "self_attn.o_proj";
  const char* mlp_gate = "mlp.gate_proj";  ///< null: no gated MLP
  const char* mlp_up = "mlp.up_proj";
  const char* mlp_down = "mlp.down_proj";
};

/// Every family attnspec reads, indexed by ModelFamily.
inline const std::array<FamilyDescription, 4>& model_families() {
  static const std::array<FamilyDescription, 4> families = [] {
    FamilyDescription gpt2;  // packed Conv1D projections with biases, LayerNorm, learned positions, GELU MLP
    gpt2.family = ModelFamily::gpt2;
    gpt2.model_type = "gpt2";
    gpt2.projections = ProjectionLayout::packed_conv1d;
    gpt2.attention_bias = AttentionBias::qkvo;
    gpt2.norm = NormKind::layer_norm;
    gpt2.positions = PositionScheme::learned;
    gpt2.activation = "gelu_new";
    gpt2.model_dim_key = "n_embd";
    gpt2.heads_key = "n_head";
    gpt2.kv_heads_key = nullptr;
    gpt2.layers_key = "n_layer";
    gpt2.context_key = "n_positions";
    gpt2.default_context = 1024;
    gpt2.mlp_dim_key = "n_inner";
    gpt2.activation_key = "activation_function";
    gpt2.norm_eps_key = "layer_norm_epsilon";
    gpt2.default_norm_eps = 1e-5;
    gpt2.default_tied_embeddings = true;
    gpt2.model_prefix = "";
    gpt2.layer_prefix = "h.";
    gpt2.token_embedding = "wte";
    gpt2.position_embedding = "wpe";
    gpt2.final_norm = "ln_f";
    gpt2.output_head = nullptr;
    gpt2.attention_norm = "ln_1";
    gpt2.mlp_norm = "ln_2";
    gpt2.query = gpt2.key = gpt2.value = "attn.c_attn";
    gpt2.attention_output = "attn.c_proj";
    gpt2.mlp_gate = nullptr;
    gpt2.mlp_up = "mlp.c_fc";
    gpt2.mlp_down = "mlp.c_proj";

    const FamilyDescription llama;  // biases as "attention_bias" / "mlp_bias" say

    FamilyDescription mistral = llama;  // no biases, one sliding window for every layer
    mistral.family = ModelFamily::mistral;
    mistral.model_type = "mistral";
    mistral.attention_bias = AttentionBias::none;
    mistral.sliding_window = true;
    mistral.default_context = 131072;

    FamilyDescription qwen2 = llama;  // q/k/v biases
    qwen2.family = ModelFamily::qwen2;
    qwen2.model_type = "qwen2";
    qwen2.attention_bias = AttentionBias::qkv;
    qwen2.default_context = 32768;
    return std::array<FamilyDescription, 4>{gpt2, llama, mistral, qwen2};
  }();
  return families;
}

inline const FamilyDescription& family_description(ModelFamily family) {
  return model_families()[static_cast<std::size_t>(family)];
}

inline const char* family_name(ModelFamily family) { return family_description(family).model_type; }

/// The model_type values attnspec reads, for error messages: "gpt2, llama, mistral, qwen2".
inline std::string supported_model_types() {
  std::string list;
  for (const FamilyDescription& family : model_families())
    list += (list.empty() ? "" : ", ") + std::string(family.model_type);
  return list;
}

/// Rotary position embedding as config.json describes it ("rope_theta", "rope_scaling").
struct RotaryConfig {
  double theta = 10000;
  std::string scaling = "default";  ///< rope_scaling's type: "default" (none) or "llama3"
  double factor = 1, low_freq_factor = 1, high_freq_factor = 4;
  double original_context = 8192;  ///< rope_scaling's original_max_position_embeddings

  /// The rotation frequency of each pair (i, i + d/2), in radians per position, in double: θ^(−2i/d), with
  /// Llama-3's scaling applied (wavelengths beyond original_context/low_freq_factor divided by `factor`, those
  /// below original_context/high_freq_factor kept, those between interpolated).
  Eigen::VectorXd inverse_frequencies(Eigen::Index head_dim) const {
    Eigen::VectorXd frequencies(head_dim / 2);
    for (Eigen::Index i = 0; i < frequencies.size(); ++i) {
      frequencies(i) = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
    }
    if (scaling == "default") return frequencies;
    const double pi = 3.14159265358979323846;
    const double long_wavelength = original_context / low_freq_factor;
    const double short_wavelength = original_context / high_freq_factor;
    for (Eigen::Index i = 0; i < frequencies.size(); ++i) {
      const double wavelength = 2 * pi / frequencies(i);
      if (wavelength > long_wavelength) {
        frequencies(i) /= factor;
      } else if (wavelength >= short_wavelength) {
        const double smooth = (original_context / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor);
        frequencies(i) = (1 - smooth) * frequencies(i) / factor + smooth * frequencies(i);
      }
    }
    return frequencies;
  }
};

/// What attnspec needs from config.json. Sizes the analysis of weights does not need (vocabulary, MLP width) are 0
/// when config.json does not give them.
struct ModelConfig {
  ModelFamily family = ModelFamily::gpt2;
  Eigen::Index layers = 0, query_heads = 0, kv_heads = 0, head_dim = 0, model_dim = 0, context = 0;
  Eigen::Index vocab_size = 0, mlp_dim = 0;
  double norm_eps = 1e-5;
  bool query_key_value_bias = false;   ///< q/k/v projections carry biases
  bool attention_output_bias = false;  ///< the attention's output projection carries a bias
  bool mlp_bias = false;               ///< the MLP's projections carry biases
  bool tied_embeddings = true;         ///< the output head is the token embedding
  Eigen::Index sliding_window = 0;     ///< keys at most this far back (itself included) are visible; 0: all
  std::optional<RotaryConfig> rotary;  ///< for rotary families
  std::string activation;              ///< the MLP activation config.json names
  std::string unsupported;             ///< features the forward passes do not implement, empty if none

  Eigen::Index group_size() const { return query_heads / kv_heads; }
  const FamilyDescription& description() const { return family_description(family); }
};

namespace detail {

/// Reads config.json's members for one family; `path` names the source in errors. A key set to null counts as
/// absent, as in Transformers.
class ConfigReader {
 public:
  ConfigReader(const JsonValue& root, const std::string& path) : m_root(root), m_path(path) {}

  const JsonValue* find(const char* key) const {
    const JsonValue* value = key == nullptr ? nullptr : m_root.find(key);
    return value == nullptr || value->kind == JsonValue::Kind::null ? nullptr : value;
  }

  Eigen::Index integer(const char* key, std::optional<Eigen::Index> fallback = std::nullopt) const {
    const JsonValue* value = find(key);
    if (value == nullptr) {
      if (fallback) return *fallback;
      throw_io_error(m_path, "lacks \"", key, "\"");
    }
    const std::uint64_t number = json_unsigned(*value, m_path, key, std::uint64_t{1} << 24);
    if (number == 0) throw_io_error(m_path, "\"", key, "\" must be positive");
    return static_cast<Eigen::Index>(number);
  }

  double positive_number(const JsonValue& object, const char* key, double fallback) const {
    const JsonValue* value = object.find(key);
    if (value == nullptr || value->kind == JsonValue::Kind::null) return fallback;
    const double number = json_number(*value, m_path, key);
    if (!(number > 0) || !std::isfinite(number)) throw_io_error(m_path, "\"", key, "\" must be a positive number");
    return number;
  }
  double positive_number(const char* key, double fallback) const { return positive_number(m_root, key, fallback); }

  bool boolean(const char* key, bool fallback) const {
    const JsonValue* value = find(key);
    if (value == nullptr) return fallback;
    if (value->kind != JsonValue::Kind::boolean) {
      throw_io_error_at(m_path, value->offset, "\"", key, "\" at byte ", value->offset, " must be true or false");
    }
    return value->boolean;
  }

  std::string string(const char* key, const char* fallback) const {
    const JsonValue* value = find(key);
    return value == nullptr ? fallback : json_string(*value, m_path, key);
  }

  const std::string& path() const { return m_path; }

 private:
  const JsonValue& m_root;
  const std::string& m_path;
};

inline RotaryConfig read_rotary(const ConfigReader& reader, std::string& unsupported) {
  RotaryConfig rotary;
  rotary.theta = reader.positive_number("rope_theta", 10000.0);
  if (!(rotary.theta > 1)) throw_io_error(reader.path(), "\"rope_theta\" = ", rotary.theta, " must exceed 1");
  const JsonValue* scaling = reader.find("rope_scaling");
  if (scaling == nullptr) return rotary;
  if (!scaling->is_object()) throw_io_error(reader.path(), "\"rope_scaling\" must be an object or null");
  const JsonValue* type = scaling->find("rope_type");
  if (type == nullptr) type = scaling->find("type");  // the older spelling
  rotary.scaling = type == nullptr ? "default" : json_string(*type, reader.path(), "rope_scaling.rope_type");
  if (rotary.scaling == "llama3") {
    rotary.factor = reader.positive_number(*scaling, "factor", 1.0);
    rotary.low_freq_factor = reader.positive_number(*scaling, "low_freq_factor", 1.0);
    rotary.high_freq_factor = reader.positive_number(*scaling, "high_freq_factor", 4.0);
    rotary.original_context = reader.positive_number(*scaling, "original_max_position_embeddings", 8192.0);
    if (!(rotary.factor >= 1)) throw_io_error(reader.path(), "rope_scaling: factor ", rotary.factor, " must be >= 1");
    if (!(rotary.high_freq_factor > rotary.low_freq_factor)) {
      throw_io_error(reader.path(), "rope_scaling: high_freq_factor ", rotary.high_freq_factor,
                     " must exceed low_freq_factor ", rotary.low_freq_factor);
    }
  } else if (rotary.scaling != "default") {
    unsupported += "rope_scaling of type \"" + rotary.scaling + "\" (supported: none, \"default\", \"llama3\"); ";
  }
  return rotary;
}

}  // namespace detail

/// Interprets the text of a config.json; the family comes from "model_type". `path` names the source in errors.
/// Features that change the forward pass but that attnspec's forward passes do not implement (another
/// rope_scaling type, mixture-of-experts, per-layer window patterns) are listed in ModelConfig::unsupported: the
/// weights can still be analysed, a forward pass must refuse them.
inline ModelConfig parse_model_config(std::string_view text, const std::string& path) {
  const JsonValue root = parse_json(text, path);
  if (!root.is_object()) detail::throw_io_error(path, "is not a JSON object");
  const detail::ConfigReader reader(root, path);
  const JsonValue* type_value = reader.find("model_type");
  if (type_value == nullptr) detail::throw_io_error(path, "lacks \"model_type\"");
  const std::string& type = json_string(*type_value, path, "model_type");
  const FamilyDescription* family = nullptr;
  for (const FamilyDescription& candidate : model_families()) {
    if (type == candidate.model_type) family = &candidate;
  }
  if (family == nullptr) {
    detail::throw_io_error(path, "model_type \"", type, "\" is not one attnspec reads (", supported_model_types(), ")");
  }

  ModelConfig config;
  config.family = family->family;
  config.model_dim = reader.integer(family->model_dim_key);
  config.query_heads = reader.integer(family->heads_key);
  config.kv_heads =
      family->kv_heads_key ? reader.integer(family->kv_heads_key, config.query_heads) : config.query_heads;
  config.layers = reader.integer(family->layers_key);
  config.context = reader.integer(family->context_key, family->default_context);
  config.vocab_size = reader.integer("vocab_size", 0);
  config.mlp_dim = reader.integer(family->mlp_dim_key, family->mlp_gate ? 0 : 4 * config.model_dim);
  config.norm_eps = reader.positive_number(family->norm_eps_key, family->default_norm_eps);
  config.activation = reader.string(family->activation_key, family->activation);
  config.tied_embeddings = reader.boolean("tie_word_embeddings", family->default_tied_embeddings);
  const bool from_config =
      family->attention_bias == AttentionBias::from_config && reader.boolean("attention_bias", false);
  config.query_key_value_bias =
      family->attention_bias == AttentionBias::qkv || family->attention_bias == AttentionBias::qkvo || from_config;
  config.attention_output_bias = family->attention_bias == AttentionBias::qkvo || from_config;
  config.mlp_bias = family->projections == ProjectionLayout::packed_conv1d || reader.boolean("mlp_bias", false);
  if (config.query_heads % config.kv_heads != 0) {
    detail::throw_io_error(path, config.query_heads, " query heads are not a multiple of ", config.kv_heads,
                           " KV heads");
  }
  if (family->projections == ProjectionLayout::packed_conv1d && config.model_dim % config.query_heads != 0) {
    detail::throw_io_error(path, family->model_dim_key, " = ", config.model_dim, " is not a multiple of ",
                           family->heads_key, " = ", config.query_heads);
  }
  const Eigen::Index implied = config.model_dim / config.query_heads;
  config.head_dim =
      family->projections == ProjectionLayout::packed_conv1d ? implied : reader.integer("head_dim", implied);
  // integer() refuses an explicit 0, so a zero here is the size implied by fewer model dimensions than heads.
  if (config.head_dim == 0) {
    detail::throw_io_error(path, "gives no \"head_dim\", and the model size ", config.model_dim, " over ",
                           config.query_heads, " query heads leaves heads of size 0");
  }

  if (family->positions == PositionScheme::rotary) {
    if (config.head_dim % 2 != 0) {
      detail::throw_io_error(path, "head_dim = ", config.head_dim, " is odd; rotary embeddings rotate pairs");
    }
    config.rotary = detail::read_rotary(reader, config.unsupported);
  }
  if (family->sliding_window) {
    const JsonValue* window = reader.find("sliding_window");
    if (window != nullptr && window->kind != JsonValue::Kind::number) {
      config.unsupported += "a sliding_window that is not one number (per-layer windows); ";
    } else if (window != nullptr) {
      config.sliding_window = static_cast<Eigen::Index>(json_unsigned(*window, path, "sliding_window", 1u << 30));
    }
  } else if (reader.boolean("use_sliding_window", false)) {
    config.unsupported += "use_sliding_window (per-layer window patterns); ";
  }
  for (const char* experts : {"num_local_experts", "num_experts", "n_routed_experts"}) {
    if (reader.find(experts) != nullptr)
      config.unsupported += "mixture-of-experts (\"" + std::string(experts) + "\"); ";
  }
  if (reader.find("layer_types") != nullptr) config.unsupported += "per-layer attention types (\"layer_types\"); ";
  if (config.activation != family->activation) {
    config.unsupported += "activation \"" + config.activation + "\" (supported: \"" + family->activation + "\"); ";
  }
  if (!config.unsupported.empty()) config.unsupported.resize(config.unsupported.size() - 2);
  return config;
}

/// Reads and interprets config.json (a regular file of at most 16 MiB).
inline ModelConfig read_model_config(const std::string& path) {
  const std::vector<unsigned char> bytes = detail::read_whole_file(path, std::size_t{16} << 20);
  return parse_model_config(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

}  // namespace attnspec::io
