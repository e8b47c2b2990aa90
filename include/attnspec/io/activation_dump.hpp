// attnspec: per-layer query/key activations dumped by a host (for example with PyTorch forward hooks): either a
// directory of layers.<l>.query.npy / layers.<l>.key.npy files or one safetensors file with tensors of those
// names. Each tensor is [heads, seq, d] or [seq, heads, d] (3-D) or [seq, heads·d] (2-D, the output of a q/k
// projection). Files are memory-mapped and opened only when a tensor in them is asked for, so other files in a
// dump folder (token ids, logits) are never read.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "../host_tensor.hpp"
#include "npy.hpp"
#include "safetensors.hpp"

namespace attnspec::io {

class ActivationDump {
 public:
  /// `layout` states how 3-D tensors are laid out; unset, it is read from the shape, and a shape that fits both
  /// [heads, seq, d] and [seq, heads, d] (as many tokens as heads) is an error asking for it.
  explicit ActivationDump(const std::string& path, std::optional<HeadLayout> layout = std::nullopt)
      : m_path(path), m_layout(layout) {
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        const std::string file = entry.path().filename().string();
        if (entry.path().extension() == ".npy") m_npy_paths.emplace(file.substr(0, file.size() - 4), entry.path());
      }
      if (m_npy_paths.empty()) detail::throw_io_error(path, "holds no .npy files");
    } else {
      m_safetensors = std::make_unique<SafetensorsFile>(path);
    }
  }

  static std::string query_name(Eigen::Index layer) { return "layers." + std::to_string(layer) + ".query"; }
  static std::string key_name(Eigen::Index layer) { return "layers." + std::to_string(layer) + ".key"; }

  bool contains(const std::string& name) const {
    return m_safetensors ? m_safetensors->find(name) != nullptr : m_npy_paths.count(name) != 0;
  }

  /// The tensor `name` as per-head activations with `heads` heads of size `head_dim`: 2-D is read as
  /// [seq, heads·d], 3-D as the layout given or as the one its shape allows. Other counts or sizes are errors
  /// naming the file and the tensor. Safe to call from several threads.
  HeadActivations activations(const std::string& name, Eigen::Index heads, Eigen::Index head_dim) const {
    const TensorView view = tensor(name);
    if (view.rank() != 2 && view.rank() != 3) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(),
                             "; expected [heads, seq, d], [seq, heads, d] or [seq, heads*d]");
    }
    if (view.rank() == 2 && view.shape()[1] % heads != 0) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), " ([seq, heads*d]) whose ", view.shape()[1],
                             " columns do not split into ", heads, " heads");
    }
    const HeadLayout layout = view.rank() == 3 ? layout_of(view, heads) : HeadLayout::seq_heads_dim;
    HeadActivations activations(view, layout, heads);
    if (activations.head_dim() != head_dim) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), ": ", heads, " heads of size ",
                             activations.head_dim(), ", but the model's head size is ", head_dim);
    }
    return activations;
  }

 private:
  HeadLayout layout_of(const TensorView& view, Eigen::Index heads) const {
    const bool heads_first = view.shape()[0] == heads, heads_second = view.shape()[1] == heads;
    if (m_layout) {
      if (!(*m_layout == HeadLayout::heads_seq_dim ? heads_first : heads_second)) {
        detail::throw_io_error(view.name(), "has shape ", view.shape_text(), ", which does not hold the model's ",
                               heads, " heads in the stated layout ",
                               *m_layout == HeadLayout::heads_seq_dim ? "[heads, seq, d]" : "[seq, heads, d]");
      }
      return *m_layout;
    }
    if (heads_first && heads_second) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(),
                             ", which is [heads, seq, d] or [seq, heads, d]", " alike (", heads, " tokens and ", heads,
                             " heads): state the layout");
    }
    if (!heads_first && !heads_second) {
      detail::throw_io_error(view.name(), "has shape ", view.shape_text(), " but the model has ", heads,
                             " heads: neither [heads, seq, d] nor [seq, heads, d]");
    }
    return heads_first ? HeadLayout::heads_seq_dim : HeadLayout::seq_heads_dim;
  }

  TensorView tensor(const std::string& name) const {
    if (m_safetensors) return m_safetensors->view(name);
    const auto path = m_npy_paths.find(name);
    if (path == m_npy_paths.end()) detail::throw_io_error(m_path, "has no ", name, ".npy");
    std::lock_guard<std::mutex> lock(m_opening);
    auto opened = m_npy.find(name);
    if (opened == m_npy.end()) opened = m_npy.emplace(name, read_npy(path->second.string())).first;
    return opened->second.view();
  }

  std::string m_path;
  std::optional<HeadLayout> m_layout;
  std::unique_ptr<SafetensorsFile> m_safetensors;
  std::map<std::string, std::filesystem::path> m_npy_paths;
  mutable std::mutex m_opening;                   // guards m_npy
  mutable std::map<std::string, NpyArray> m_npy;  // the files opened so far (map nodes never move)
};

}  // namespace attnspec::io
