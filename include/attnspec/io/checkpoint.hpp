// attnspec: a model checkpoint on disk: one safetensors file, or shards listed by model.safetensors.index.json,
// with the config.json beside them. Tensors are found by name whichever shard holds them.
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "npy.hpp"
#include "safetensors.hpp"

namespace attnspec::io {

class Checkpoint {
 public:
  /// `path` is a directory (holding model.safetensors.index.json or model.safetensors), an index .json, or a
  /// single .safetensors file.
  explicit Checkpoint(const std::string& path) {
    namespace fs = std::filesystem;
    fs::path location(path);
    if (fs::is_directory(location)) {
      m_directory = location;
      if (fs::exists(location / "model.safetensors.index.json")) {
        open_index(location / "model.safetensors.index.json");
      } else if (fs::exists(location / "model.safetensors")) {
        open_single(location / "model.safetensors");
      } else {
        detail::throw_io_error(path, "holds neither model.safetensors.index.json nor model.safetensors");
      }
    } else if (fs::exists(location)) {
      m_directory = location.parent_path();
      if (location.extension() == ".json") {
        open_index(location);
      } else {
        open_single(location);
      }
    } else {
      detail::throw_io_error(path, "no such file or directory");
    }
  }

  const std::filesystem::path& directory() const { return m_directory; }
  /// config.json beside the weights.
  std::filesystem::path config_path() const { return m_directory / "config.json"; }

  bool contains(const std::string& name) const { return m_shard_of.count(name) != 0; }

  /// A zero-copy view of tensor `name`, from whichever shard holds it.
  TensorView tensor(const std::string& name) const {
    const auto found = m_shard_of.find(name);
    if (found == m_shard_of.end()) {
      detail::throw_io_error(m_description, "the checkpoint has no tensor named '", name, "'");
    }
    return m_shards[found->second]->view(name);
  }

  /// Every tensor name, sorted.
  std::vector<std::string> tensor_names() const {
    std::vector<std::string> names;
    for (const auto& entry : m_shard_of) names.push_back(entry.first);
    return names;
  }

 private:
  void open_single(const std::filesystem::path& file) {
    m_description = file.string();
    m_shards.push_back(std::make_unique<SafetensorsFile>(file.string()));
    for (const auto& entry : m_shards.back()->entries()) m_shard_of[entry.name] = 0;
  }

  // The index maps tensor names to shard file names; every shard it names must exist, be a plain file name in
  // the same directory (no path tricks), and really hold the tensors the index puts there.
  void open_index(const std::filesystem::path& index_path) {
    m_description = index_path.string();
    // At most 100 MiB, like a safetensors header: an index lists one line per tensor.
    const std::vector<unsigned char> bytes = detail::read_whole_file(m_description, std::size_t{100} << 20);
    const JsonValue root =
        parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), m_description);
    const JsonValue* weight_map = root.is_object() ? root.find("weight_map") : nullptr;
    if (weight_map == nullptr || !weight_map->is_object()) {
      detail::throw_io_error(m_description, "has no \"weight_map\" object");
    }
    std::map<std::string, std::size_t> shard_index;
    for (const auto& [tensor, shard_value] : weight_map->members) {
      const std::string& shard = json_string(shard_value, m_description, "weight_map['" + tensor + "']");
      const bool control = std::any_of(shard.begin(), shard.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;  // a NUL would cut the name the OS opens
      });
      if (shard.empty() || control || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
          shard == "." || shard == "..") {
        detail::throw_io_error(m_description, "weight_map['", detail::printable(tensor), "'] = '",
                               detail::printable(shard), "' is not a plain file name in the checkpoint's directory");
      }
      auto [slot, inserted] = shard_index.emplace(shard, m_shards.size());
      if (inserted) {
        const std::filesystem::path shard_path = index_path.parent_path() / shard;
        if (!std::filesystem::exists(shard_path)) {
          detail::throw_io_error(m_description, "names shard '", shard, "', which does not exist");
        }
        m_shards.push_back(std::make_unique<SafetensorsFile>(shard_path.string()));
      }
      if (m_shards[slot->second]->find(tensor) == nullptr) {
        detail::throw_io_error(m_description, "puts tensor '", tensor, "' in shard '", shard,
                               "', which does not hold it");
      }
      m_shard_of[tensor] = slot->second;
    }
  }

  std::filesystem::path m_directory;
  std::string m_description;
  std::vector<std::unique_ptr<SafetensorsFile>> m_shards;
  std::map<std::string, std::size_t> m_shard_of;
};

}  // namespace attnspec::io
