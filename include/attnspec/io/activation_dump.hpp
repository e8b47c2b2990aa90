// attnspec: per-layer query/key activations dumped by a host (for example with PyTorch forward hooks): either a
// directory of layers.<l>.query.npy / layers.<l>.key.npy files or one safetensors file with tensors of those
// names. Each tensor is [heads, seq, d] (3-D) or [seq, heads·d] (2-D, the output of a q/k projection).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "../host_tensor.hpp"
#include "npy.hpp"
#include "safetensors.hpp"

namespace attnspec::io {

class ActivationDump {
 public:
  explicit ActivationDump(const std::string& path) : m_path(path) {
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        const std::string file = entry.path().filename().string();
        if (entry.path().extension() == ".npy") {
          m_npy.emplace(file.substr(0, file.size() - 4), read_npy(entry.path().string()));
        }
      }
      if (m_npy.empty()) detail::throw_io_error(path, "holds no .npy files");
    } else {
      m_safetensors = std::make_unique<SafetensorsFile>(path);
    }
  }

  static std::string query_name(Eigen::Index layer) { return "layers." + std::to_string(layer) + ".query"; }
  static std::string key_name(Eigen::Index layer) { return "layers." + std::to_string(layer) + ".key"; }

  bool contains(const std::string& name) const {
    return m_safetensors ? m_safetensors->find(name) != nullptr : m_npy.count(name) != 0;
  }

  /// The tensor `name` as per-head activations with `heads` heads of size `head_dim`: 3-D is read as
  /// [heads, seq, d], 2-D as [seq, heads·d]. Other counts or sizes are errors naming the file and the tensor.
  HeadActivations activations(const std::string& name, Eigen::Index heads, Eigen::Index head_dim) const {
    const TensorView view = tensor(name);
    if (view.rank() == 3 && view.shape()[0] != heads) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), " ([heads, seq, d]) with ", view.shape()[0],
                             " heads, but the model has ", heads);
    }
    if (view.rank() == 2 && view.shape()[1] % heads != 0) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), " ([seq, heads*d]) whose ", view.shape()[1],
                             " columns do not split into ", heads, " heads");
    }
    if (view.rank() != 2 && view.rank() != 3) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(),
                             "; expected [heads, seq, d] or [seq, heads*d]");
    }
    HeadActivations activations(view, view.rank() == 3 ? HeadLayout::heads_seq_dim : HeadLayout::seq_heads_dim, heads);
    if (activations.head_dim() != head_dim) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), ": ", heads, " heads of size ",
                             activations.head_dim(), ", but the model's head size is ", head_dim);
    }
    return activations;
  }

 private:
  TensorView tensor(const std::string& name) const {
    if (m_safetensors) return m_safetensors->view(name);
    const auto found = m_npy.find(name);
    if (found == m_npy.end()) detail::throw_io_error(m_path, "has no ", name, ".npy");
    return found->second.view();
  }

  std::string m_path;
  std::unique_ptr<SafetensorsFile> m_safetensors;
  std::map<std::string, NpyArray> m_npy;
};

}  // namespace attnspec::io
