// The forward pass of a host inference engine for the decoder-only families attnspec reads — GPT-2 (learned
// positions, LayerNorm, GELU MLP, packed Conv1D projections) and Llama, Mistral, Qwen-2 (rotary positions in the
// Hugging Face rotate-half convention with Llama-3 frequency scaling, RMSNorm, SwiGLU MLP, grouped-query attention,
// biases and sliding windows where configured) — in plain Eigen (float). What differs between families is read
// from their description in attnspec/io/model_family.hpp, so one pass serves them all.
//
// It streams: weights stay in the memory-mapped checkpoint, and only one layer's are converted to float at a time;
// each layer's queries and keys go to a callback (the tensors an engine would hand to attnspec) and are then
// dropped. Peak memory is the mapped file's touched pages, one layer's weights in float and the activations.
#pragma once

#include <attnspec/io/model_adapters.hpp>

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace decoder {

using Matrix = Eigen::MatrixXf;
using RowVector = Eigen::RowVectorXf;
using attnspec::io::ModelConfig;

/// One layer's queries ([seq, query_heads·d]) and keys ([seq, kv_heads·d]) as softmax sees them — after the
/// rotation for rotary families — and, for rotary families, the same before the rotation (empty otherwise).
struct LayerActivations {
  Eigen::Index layer = 0;
  Matrix queries, keys;
  Matrix queries_before_rotation, keys_before_rotation;
};

/// y = x·weight + bias, with weight stored [in, out] (converted from either checkpoint layout).
struct Affine {
  Matrix weight;
  RowVector bias;  ///< empty: no bias

  Matrix operator()(const Matrix& x) const {
    Matrix y = x * weight;
    if (bias.size() > 0) y.rowwise() += bias;
    return y;
  }
};

struct Norm {
  RowVector gain, bias;  ///< bias only for LayerNorm
};

class Model {
 public:
  /// Checks what the whole pass will need up front (supported configuration, embeddings, final norm, output head);
  /// each layer's tensors are checked when the pass reaches the layer. `weights` must outlive the model.
  explicit Model(const attnspec::io::ModelWeights& weights) : m_weights(weights), m_config(weights.config()) {
    const auto& family = weights.description();
    if (!m_config.unsupported.empty()) {
      attnspec::io::detail::throw_io_error(weights.checkpoint().config_path().string(),
                                           "the forward pass does not implement ", m_config.unsupported);
    }
    const Eigen::Index model_dim = m_config.model_dim;
    const attnspec::TensorView embedding =
        weights.checkpoint().tensor(weights.model_tensor_name(std::string(family.token_embedding) + ".weight"));
    m_vocab = embedding.shape().empty() ? 0 : embedding.shape()[0];
    if (m_config.vocab_size != 0) m_vocab = m_config.vocab_size;
    m_token_embedding = weights.model_tensor(family.token_embedding, "weight", {m_vocab, model_dim});
    if (family.position_embedding != nullptr) {
      m_position_embedding = weights.model_tensor(family.position_embedding, "weight", {m_config.context, model_dim});
    }
    m_final_norm = norm(weights.model_tensor(family.final_norm, "weight", {model_dim}),
                        family.norm == attnspec::io::NormKind::layer_norm
                            ? weights.model_tensor(family.final_norm, "bias", {model_dim})
                            : attnspec::TensorView());
    if (m_config.tied_embeddings) {
      m_output_head = m_token_embedding;
    } else {
      const std::string name = std::string(family.output_head) + ".weight";
      m_output_head =
          weights.checkpoint().tensor(weights.checkpoint().contains(name) ? name : weights.model_tensor_name(name));
      if (m_output_head.shape() != std::vector<Eigen::Index>{m_vocab, model_dim}) {
        attnspec::io::detail::throw_io_error(m_output_head.name(), "has shape ", m_output_head.shape_text(),
                                             " but the output head must be [", m_vocab, ", ", model_dim, "]");
      }
    }
    if (m_config.rotary) m_frequencies = m_config.rotary->inverse_frequencies(m_config.head_dim);
    if (m_config.mlp_dim == 0) {  // config.json need not give it: the first layer's up projection tells
      const std::string up = weights.layer_tensor_name(0, std::string(family.mlp_up) + ".weight");
      const attnspec::TensorView up_weight = weights.checkpoint().tensor(up);
      const bool conv1d = family.projections == attnspec::io::ProjectionLayout::packed_conv1d;  // [in, out]
      m_mlp_dim = up_weight.rank() == 2 ? up_weight.shape()[conv1d ? 1 : 0] : 0;
    } else {
      m_mlp_dim = m_config.mlp_dim;
    }
  }

  const ModelConfig& config() const { return m_config; }
  Eigen::Index vocab_size() const { return m_vocab; }

  /// Runs the model on token ids (each in [0, vocab), at most config().context of them). After each layer's
  /// queries and keys are computed, `on_layer` receives them. Returns the final normalised hidden states
  /// [seq, model_dim]; logits() and next_token_bits() take it from there.
  Matrix forward(const std::vector<std::int64_t>& tokens,
                 const std::function<void(const LayerActivations&)>& on_layer = {}) const {
    const auto n = static_cast<Eigen::Index>(tokens.size());
    const Eigen::Index model_dim = m_config.model_dim;
    if (n == 0 || n > m_config.context) {
      attnspec::detail::throw_invalid_argument("decoder::Model::forward", n, " tokens; the model takes 1 to ",
                                               m_config.context, " (its context in config.json)");
    }
    Matrix x(n, model_dim);
    for (Eigen::Index t = 0; t < n; ++t) {
      const std::int64_t token = tokens[static_cast<std::size_t>(t)];
      if (token < 0 || token >= m_vocab) {
        attnspec::detail::throw_invalid_argument("decoder::Model::forward", "token ", token, " at position ", t,
                                                 " is outside the vocabulary [0, ", m_vocab, ")");
      }
      x.row(t) = row_of(m_token_embedding, token);
      if (m_position_embedding.rank() > 0) x.row(t) += row_of(m_position_embedding, t);
    }
    const Rotation rotation = rotation_for(n);
    for (Eigen::Index l = 0; l < m_config.layers; ++l) {
      const Layer layer = load_layer(l);  // the only layer in float at this point
      LayerActivations activations;
      activations.layer = l;
      const Matrix normed = apply(layer.attention_norm, x);
      activations.queries = layer.query(normed);
      activations.keys = layer.key(normed);
      const Matrix values = layer.value(normed);
      if (m_config.rotary) {
        activations.queries_before_rotation = activations.queries;
        activations.keys_before_rotation = activations.keys;
        rotate(activations.queries, rotation);
        rotate(activations.keys, rotation);
      }
      if (on_layer) on_layer(activations);
      x += layer.attention_output(attend(activations.queries, activations.keys, values));
      const Matrix mlp_in = apply(layer.mlp_norm, x);
      if (layer.mlp_gate.weight.size() > 0) {  // SwiGLU: down(silu(gate(x)) ⊙ up(x))
        const Matrix gate = layer.mlp_gate(mlp_in).unaryExpr([](float z) { return z / (1.0f + std::exp(-z)); });
        x += layer.mlp_down(gate.cwiseProduct(layer.mlp_up(mlp_in)));
      } else {  // GPT-2: c_proj(gelu_tanh(c_fc(x)))
        x += layer.mlp_down(layer.mlp_up(mlp_in).unaryExpr(
            [](float z) { return 0.5f * z * (1.0f + std::tanh(0.7978845608f * (z + 0.044715f * z * z * z))); }));
      }
    }
    return apply(m_final_norm, x);
  }

  /// Logits [rows, vocab] of final hidden states, converting the output head a block of rows at a time.
  Matrix logits(const Matrix& hidden) const {
    Matrix out(hidden.rows(), m_vocab);
    for_each_output_block(
        hidden, [&](Eigen::Index first, const Matrix& block) { out.middleCols(first, block.cols()) = block; });
    return out;
  }

  /// Mean next-token loss in bits: hidden row t (of forward(tokens)) predicting tokens[t + 1]. Streams over the
  /// vocabulary, so a 128k-token vocabulary never needs its logits in memory at once.
  double next_token_bits(const Matrix& hidden, const std::vector<std::int64_t>& tokens) const {
    const Eigen::Index rows = hidden.rows() - 1;
    if (rows <= 0) return std::numeric_limits<double>::quiet_NaN();
    Eigen::VectorXd top = Eigen::VectorXd::Constant(rows, -std::numeric_limits<double>::infinity());
    Eigen::VectorXd sum = Eigen::VectorXd::Zero(rows), target = Eigen::VectorXd::Zero(rows);
    for_each_output_block(hidden.topRows(rows), [&](Eigen::Index first, const Matrix& block) {
      for (Eigen::Index t = 0; t < rows; ++t) {  // running log-sum-exp per row
        const double block_top = block.row(t).maxCoeff();
        if (block_top > top(t)) {
          sum(t) *= std::exp(top(t) - block_top);
          top(t) = block_top;
        }
        sum(t) += (block.row(t).cast<double>().array() - top(t)).exp().sum();
        const std::int64_t next = tokens[static_cast<std::size_t>(t + 1)];
        if (next >= first && next < first + block.cols()) target(t) = block(t, next - first);
      }
    });
    return (top.array() + sum.array().log() - target.array()).mean() / std::log(2.0);
  }

 private:
  struct Layer {
    Norm attention_norm, mlp_norm;
    Affine query, key, value, attention_output, mlp_gate, mlp_up, mlp_down;
  };
  /// cos and sin of every position's angle for every rotated pair, [seq, d/2].
  struct Rotation {
    Matrix cos, sin;
  };

  static RowVector row_of(const attnspec::TensorView& matrix, Eigen::Index row) {
    const Eigen::Index cols = matrix.shape()[1];
    return matrix.strided_block<float>(row * cols, 1, 0, cols, 1);
  }

  static Norm norm(const attnspec::TensorView& gain, const attnspec::TensorView& bias) {
    Norm out;
    out.gain = gain.matrix<float>().transpose();
    if (bias.rank() > 0) out.bias = bias.matrix<float>().transpose();
    return out;
  }

  // LayerNorm when the norm has a bias, RMSNorm otherwise; row statistics in double.
  Matrix apply(const Norm& norm, const Matrix& x) const {
    Matrix out(x.rows(), x.cols());
    const double eps = m_config.norm_eps;
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
      const Eigen::RowVectorXd row = x.row(t).cast<double>();
      if (norm.bias.size() > 0) {
        const double mean = row.mean();
        const double variance = (row.array() - mean).square().mean();
        out.row(t) = ((row.array() - mean) / std::sqrt(variance + eps)).cast<float>().matrix().cwiseProduct(norm.gain) +
                     norm.bias;
      } else {
        out.row(t) = (row / std::sqrt(row.squaredNorm() / static_cast<double>(row.size()) + eps))
                         .cast<float>()
                         .cwiseProduct(norm.gain);
      }
    }
    return out;
  }

  // Angles in double: position·frequency loses digits in float as positions grow (at position 1000 a float angle
  // is off by about 3e-5 rad, as large as the tolerance the engine is held to).
  Rotation rotation_for(Eigen::Index n) const {
    Rotation rotation;
    if (!m_config.rotary) return rotation;
    const Eigen::Index pairs = m_frequencies.size();
    rotation.cos.resize(n, pairs);
    rotation.sin.resize(n, pairs);
    for (Eigen::Index t = 0; t < n; ++t) {
      for (Eigen::Index i = 0; i < pairs; ++i) {
        const double angle = static_cast<double>(t) * m_frequencies(i);
        rotation.cos(t, i) = static_cast<float>(std::cos(angle));
        rotation.sin(t, i) = static_cast<float>(std::sin(angle));
      }
    }
    return rotation;
  }

  // Hugging Face's rotate-half convention: within each head, element i pairs with element i + d/2.
  void rotate(Matrix& x, const Rotation& rotation) const {
    const Eigen::Index d = m_config.head_dim, half = d / 2;
    for (Eigen::Index head = 0; head < x.cols() / d; ++head) {
      auto first = x.middleCols(head * d, half);
      auto second = x.middleCols(head * d + half, half);
      const Matrix a = first, b = second;
      first = a.cwiseProduct(rotation.cos) - b.cwiseProduct(rotation.sin);
      second = b.cwiseProduct(rotation.cos) + a.cwiseProduct(rotation.sin);
    }
  }

  // Causal (and, where configured, sliding-window) softmax attention; query head h reads KV head h / group.
  Matrix attend(const Matrix& queries, const Matrix& keys, const Matrix& values) const {
    const Eigen::Index n = queries.rows(), d = m_config.head_dim, group = m_config.group_size();
    const Eigen::Index window = m_config.sliding_window > 0 ? m_config.sliding_window : n;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    Matrix out(n, queries.cols());
    for (Eigen::Index h = 0; h < m_config.query_heads; ++h) {
      const Eigen::Index kv = h / group;
      Matrix weights = scale * queries.middleCols(h * d, d) * keys.middleCols(kv * d, d).transpose();
      for (Eigen::Index i = 0; i < n; ++i) {  // row i sees keys max(0, i − window + 1) .. i
        const Eigen::Index first = std::max<Eigen::Index>(0, i - window + 1);
        auto visible = weights.row(i).segment(first, i - first + 1);
        visible = (visible.array() - visible.maxCoeff()).exp();
        visible /= visible.sum();
        weights.row(i).head(first).setZero();
        weights.row(i).tail(n - i - 1).setZero();
      }
      out.middleCols(h * d, d) = weights * values.middleCols(kv * d, d);
    }
    return out;
  }

  template <class Visit>
  void for_each_output_block(const Matrix& hidden, Visit visit) const {
    constexpr Eigen::Index block_rows = 4096;
    const Eigen::Index model_dim = m_config.model_dim;
    for (Eigen::Index first = 0; first < m_vocab; first += block_rows) {
      const Eigen::Index rows = std::min(block_rows, m_vocab - first);
      const Matrix head = m_output_head.strided_block<float>(first * model_dim, rows, model_dim, model_dim, 1);
      visit(first, Matrix(hidden * head.transpose()));
    }
  }

  // A projection's weight as [in, out] and its bias, from nn.Linear's [out, in] or GPT-2's Conv1D [in, out].
  Affine linear(Eigen::Index layer, const char* name, Eigen::Index in, Eigen::Index out, bool bias) const {
    Affine affine;
    const bool conv1d = m_weights.description().projections == attnspec::io::ProjectionLayout::packed_conv1d;
    const attnspec::TensorView weight = m_weights.layer_tensor(
        layer, name, "weight", conv1d ? std::vector<Eigen::Index>{in, out} : std::vector<Eigen::Index>{out, in});
    if (conv1d) {
      affine.weight = weight.matrix<float>();
    } else {  // [out, in] in C order is [in, out] in Fortran order: a sequential copy
      affine.weight.resize(in, out);
      for (Eigen::Index k = 0; k < in * out; ++k) affine.weight.data()[k] = weight.element<float>(k);
    }
    if (bias) affine.bias = m_weights.layer_tensor(layer, name, "bias", {out}).matrix<float>().transpose();
    return affine;
  }

  Layer load_layer(Eigen::Index l) const {
    const auto& family = m_weights.description();
    const Eigen::Index model_dim = m_config.model_dim, d = m_config.head_dim;
    const Eigen::Index query_dim = m_config.query_heads * d, key_dim = m_config.kv_heads * d;
    const bool layer_norm = family.norm == attnspec::io::NormKind::layer_norm;
    auto load_norm = [&](const char* name) {
      return norm(m_weights.layer_tensor(l, name, "weight", {model_dim}),
                  layer_norm ? m_weights.layer_tensor(l, name, "bias", {model_dim}) : attnspec::TensorView());
    };
    Layer layer;
    layer.attention_norm = load_norm(family.attention_norm);
    layer.mlp_norm = load_norm(family.mlp_norm);
    if (family.projections == attnspec::io::ProjectionLayout::packed_conv1d) {
      const Affine packed = linear(l, family.query, model_dim, query_dim + 2 * key_dim, m_config.query_key_value_bias);
      auto split = [&](Eigen::Index first, Eigen::Index width) {
        Affine part{packed.weight.middleCols(first, width), RowVector()};
        if (packed.bias.size() > 0) part.bias = packed.bias.segment(first, width);
        return part;
      };
      layer.query = split(0, query_dim);
      layer.key = split(query_dim, key_dim);
      layer.value = split(query_dim + key_dim, key_dim);
    } else {
      layer.query = linear(l, family.query, model_dim, query_dim, m_config.query_key_value_bias);
      layer.key = linear(l, family.key, model_dim, key_dim, m_config.query_key_value_bias);
      layer.value = linear(l, family.value, model_dim, key_dim, m_config.query_key_value_bias);
    }
    layer.attention_output = linear(l, family.attention_output, query_dim, model_dim, m_config.attention_output_bias);
    if (family.mlp_gate != nullptr)
      layer.mlp_gate = linear(l, family.mlp_gate, model_dim, m_mlp_dim, m_config.mlp_bias);
    layer.mlp_up = linear(l, family.mlp_up, model_dim, m_mlp_dim, m_config.mlp_bias);
    layer.mlp_down = linear(l, family.mlp_down, m_mlp_dim, model_dim, m_config.mlp_bias);
    return layer;
  }

  const attnspec::io::ModelWeights& m_weights;
  ModelConfig m_config;
  Eigen::Index m_vocab = 0, m_mlp_dim = 0;
  attnspec::TensorView m_token_embedding, m_position_embedding, m_output_head;
  Norm m_final_norm;
  Eigen::VectorXd m_frequencies;
};

}  // namespace decoder
