// The GPT-2 forward pass of a host inference engine, in plain Eigen (float): token and position embeddings,
// pre-norm LayerNorm, causal multi-head attention, GELU (tanh) MLP, tied output embeddings. It reads a Hugging
// Face GPT-2 safetensors checkpoint through attnspec's checkpoint reader and keeps every layer's queries and keys,
// the tensors an engine would hand to attnspec.
#pragma once

#include <attnspec/io/model_adapters.hpp>

#include <Eigen/Core>
#include <cmath>
#include <string>
#include <vector>

namespace gpt2 {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;

/// Queries and keys of every layer ([seq, heads·d] each, before the head split) and the final logits.
struct ForwardResult {
  std::vector<Matrix> queries, keys;
  Matrix logits;  ///< [seq, vocab]
};

class Model {
 public:
  explicit Model(const attnspec::io::ModelWeights& weights) : m_config(weights.config()) {
    if (m_config.family != attnspec::io::ModelFamily::gpt2) {
      throw attnspec::io_error("[attnspec.io_error] gpt2::Model: the checkpoint is not a GPT-2 model");
    }
    auto load = [&](const std::string& name) { return weights.checkpoint().tensor(name).matrix<float>(); };
    auto layer_tensor = [&](Eigen::Index layer, const std::string& suffix) {
      return load(weights.tensor_name(layer, suffix));
    };
    m_token_embedding = load(weights.model_tensor_name("wte.weight"));
    m_position_embedding = load(weights.model_tensor_name("wpe.weight"));
    m_final_gain = load(weights.model_tensor_name("ln_f.weight")).transpose();
    m_final_bias = load(weights.model_tensor_name("ln_f.bias")).transpose();
    for (Eigen::Index l = 0; l < m_config.layers; ++l) {
      Layer layer;
      layer.ln1_gain = layer_tensor(l, "ln_1.weight").transpose();
      layer.ln1_bias = layer_tensor(l, "ln_1.bias").transpose();
      layer.qkv_weight = layer_tensor(l, "attn.c_attn.weight");  // Conv1D: [in, out], y = x·W + b
      layer.qkv_bias = layer_tensor(l, "attn.c_attn.bias").transpose();
      layer.proj_weight = layer_tensor(l, "attn.c_proj.weight");
      layer.proj_bias = layer_tensor(l, "attn.c_proj.bias").transpose();
      layer.ln2_gain = layer_tensor(l, "ln_2.weight").transpose();
      layer.ln2_bias = layer_tensor(l, "ln_2.bias").transpose();
      layer.fc_weight = layer_tensor(l, "mlp.c_fc.weight");
      layer.fc_bias = layer_tensor(l, "mlp.c_fc.bias").transpose();
      layer.out_weight = layer_tensor(l, "mlp.c_proj.weight");
      layer.out_bias = layer_tensor(l, "mlp.c_proj.bias").transpose();
      m_layers.push_back(std::move(layer));
    }
    if (m_token_embedding.cols() != m_config.model_dim || m_position_embedding.rows() < m_config.context) {
      throw attnspec::io_error("[attnspec.io_error] gpt2::Model: wte/wpe shapes do not match config.json");
    }
  }

  const attnspec::io::ModelConfig& config() const { return m_config; }

  /// Runs the model on byte tokens (or any ids < vocab); at most config().context of them.
  ForwardResult forward(const std::vector<int>& tokens) const {
    const auto n = static_cast<Eigen::Index>(tokens.size());
    const Eigen::Index model_dim = m_config.model_dim, heads = m_config.query_heads, d = m_config.head_dim;
    if (n == 0 || n > m_config.context) {
      throw attnspec::invalid_argument("[attnspec.invalid_argument] gpt2::Model::forward: " + std::to_string(n) +
                                       " tokens; the model takes 1 to " + std::to_string(m_config.context));
    }
    Matrix x(n, model_dim);
    for (Eigen::Index t = 0; t < n; ++t) {
      const int token = tokens[static_cast<std::size_t>(t)];
      if (token < 0 || token >= m_token_embedding.rows()) {
        throw attnspec::invalid_argument("[attnspec.invalid_argument] gpt2::Model::forward: token " +
                                         std::to_string(token) + " at position " + std::to_string(t) +
                                         " is outside the vocabulary");
      }
      x.row(t) = m_token_embedding.row(token) + m_position_embedding.row(t);
    }
    ForwardResult result;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (const Layer& layer : m_layers) {
      const Matrix qkv = (layer_norm(x, layer.ln1_gain, layer.ln1_bias) * layer.qkv_weight).rowwise() + layer.qkv_bias;
      result.queries.push_back(qkv.leftCols(model_dim));
      result.keys.push_back(qkv.middleCols(model_dim, model_dim));
      Matrix attended(n, model_dim);
      for (Eigen::Index h = 0; h < heads; ++h) {
        const Matrix q = qkv.middleCols(h * d, d), k = qkv.middleCols(model_dim + h * d, d);
        const Matrix v = qkv.middleCols(2 * model_dim + h * d, d);
        Matrix weights = scale * q * k.transpose();
        for (Eigen::Index i = 0; i < n; ++i) {  // causal softmax: row i sees keys 0..i
          auto row = weights.row(i).head(i + 1);
          row = (row.array() - row.maxCoeff()).exp();
          row /= row.sum();
          weights.row(i).tail(n - i - 1).setZero();
        }
        attended.middleCols(h * d, d) = weights * v;
      }
      x += (attended * layer.proj_weight).rowwise() + layer.proj_bias;
      Matrix hidden = (layer_norm(x, layer.ln2_gain, layer.ln2_bias) * layer.fc_weight).rowwise() + layer.fc_bias;
      hidden = hidden.unaryExpr([](float z) {  // GPT-2's GELU, tanh approximation
        return 0.5f * z * (1.0f + std::tanh(0.7978845608f * (z + 0.044715f * z * z * z)));
      });
      x += (hidden * layer.out_weight).rowwise() + layer.out_bias;
    }
    result.logits = layer_norm(x, m_final_gain, m_final_bias) * m_token_embedding.transpose();
    return result;
  }

 private:
  struct Layer {
    RowVector ln1_gain, ln1_bias, qkv_bias, proj_bias, ln2_gain, ln2_bias, fc_bias, out_bias;
    Matrix qkv_weight, proj_weight, fc_weight, out_weight;
  };

  static Matrix layer_norm(const Matrix& x, const RowVector& gain, const RowVector& bias) {
    Matrix out(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
      const float mean = x.row(t).mean();
      const float variance = (x.row(t).array() - mean).square().mean();
      out.row(t) = ((x.row(t).array() - mean) / std::sqrt(variance + 1e-5f)).matrix().cwiseProduct(gain) + bias;
    }
    return out;
  }

  attnspec::io::ModelConfig m_config;
  Matrix m_token_embedding, m_position_embedding;
  RowVector m_final_gain, m_final_bias;
  std::vector<Layer> m_layers;
};

}  // namespace gpt2
