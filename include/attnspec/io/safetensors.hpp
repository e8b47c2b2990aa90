// attnspec: safetensors files, memory-mapped. The header is validated as an attacker's input before any tensor is
// touched: its length, its JSON, each dtype and shape, and that the tensors tile the data buffer exactly (no
// offsets past the end, no overlaps, no holes, byte span = element count × element size).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../host_tensor.hpp"
#include "json.hpp"
#include "mapped_file.hpp"

namespace attnspec::io {

/// One tensor's entry in a safetensors header. Offsets are relative to the data buffer, as in the file.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  ///< as written: "F32", "BF16", "I64", ...
  std::vector<Eigen::Index> shape;
  std::uint64_t begin = 0, end = 0;
};

/// A parsed and validated header: the entries (in data order) and the free-form __metadata__.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  ///< 8 + header length: where the data buffer begins in the file
};

namespace detail {

// Byte size of each dtype the format defines; 0 for an unknown name.
inline std::uint64_t safetensors_dtype_size(std::string_view dtype) {
  static const std::map<std::string_view, std::uint64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8}};
  const auto found = sizes.find(dtype);
  return found == sizes.end() ? 0 : found->second;
}

// Largest accepted header: real checkpoints with tens of thousands of tensors stay far below it.
constexpr std::uint64_t kMaxSafetensorsHeader = 100u << 20;

}  // namespace detail

/// Parses and validates the header of a safetensors image of `size` bytes; `source` names it in errors.
inline SafetensorsHeader parse_safetensors_header(const unsigned char* bytes, std::size_t size,
                                                  const std::string& source) {
  if (size < 8) {
    detail::throw_io_error(source, "truncated: ", size, " bytes, but the header length alone takes 8");
  }
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | bytes[i];
  if (header_length > size - 8) {
    detail::throw_io_error_at(source, 0, "header length ", header_length, " at byte 0 runs past the end of the file (",
                              size, " bytes)");
  }
  if (header_length > detail::kMaxSafetensorsHeader) {
    detail::throw_io_error_at(source, 0, "header length ", header_length, " at byte 0 exceeds the 100 MiB limit");
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes) + 8, header_length);
  const JsonValue root = parse_json(text, source + " (header, byte offsets from 8)");
  if (!root.is_object()) detail::throw_io_error(source, "the header is not a JSON object");

  SafetensorsHeader header;
  header.data_start = 8 + header_length;
  const std::uint64_t data_size = size - header.data_start;
  for (const auto& [name, value] : root.members) {
    const std::string where = "tensor '" + name + "'";
    if (name == "__metadata__") {
      if (!value.is_object()) detail::throw_io_error(source, "__metadata__ must be an object of strings");
      for (const auto& [key, text_value] : value.members) {
        header.metadata[key] = json_string(text_value, source, "__metadata__." + key);
      }
      continue;
    }
    if (!value.is_object())
      detail::throw_io_error(source, where, " at header byte ", value.offset, " is not an object");
    const JsonValue* dtype = value.find("dtype");
    const JsonValue* shape = value.find("shape");
    const JsonValue* offsets = value.find("data_offsets");
    if (dtype == nullptr || shape == nullptr || offsets == nullptr || value.members.size() != 3) {
      detail::throw_io_error(source, where, " needs exactly 'dtype', 'shape' and 'data_offsets'");
    }
    SafetensorsEntry entry;
    entry.name = name;
    entry.dtype = json_string(*dtype, source, where + " dtype");
    const std::uint64_t element_bytes = detail::safetensors_dtype_size(entry.dtype);
    if (element_bytes == 0) detail::throw_io_error(source, where, " has unknown dtype '", entry.dtype, "'");
    if (shape->kind != JsonValue::Kind::array || shape->items.size() > 8) {
      detail::throw_io_error(source, where, " shape must be an array of at most 8 integers");
    }
    for (const JsonValue& extent_value : shape->items) {
      const std::uint64_t extent = json_unsigned(extent_value, source, where + " shape entry", std::uint64_t{1} << 40);
      entry.shape.push_back(static_cast<Eigen::Index>(extent));
    }
    const std::uint64_t count = detail::checked_element_count(entry.shape, source, where);
    if (offsets->kind != JsonValue::Kind::array || offsets->items.size() != 2) {
      detail::throw_io_error(source, where, " data_offsets must be [begin, end]");
    }
    entry.begin = json_unsigned(offsets->items[0], source, where + " data_offsets[0]");
    entry.end = json_unsigned(offsets->items[1], source, where + " data_offsets[1]");
    if (entry.begin > entry.end || entry.end > data_size) {
      detail::throw_io_error(source, where, " data_offsets [", entry.begin, ", ", entry.end,
                             ") fall outside the data buffer of ", data_size, " bytes (file bytes ", header.data_start,
                             "..", size, ")");
    }
    if (entry.end - entry.begin != count * element_bytes) {
      detail::throw_io_error(source, where, " spans ", entry.end - entry.begin, " bytes but dtype ", entry.dtype,
                             " and its shape need ", count * element_bytes);
    }
    header.entries.push_back(std::move(entry));
  }
  std::sort(header.entries.begin(), header.entries.end(),
            [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t covered = 0;
  for (const auto& entry : header.entries) {
    if (entry.begin < covered) {
      detail::throw_io_error(source, "tensor '", entry.name, "' at data bytes [", entry.begin, ", ", entry.end,
                             ") overlaps the tensor before it");
    }
    if (entry.begin > covered) {
      detail::throw_io_error(source, "data bytes [", covered, ", ", entry.begin, ") belong to no tensor");
    }
    covered = entry.end;
  }
  if (covered != data_size) {
    detail::throw_io_error(source, "data bytes [", covered, ", ", data_size, ") at the end belong to no tensor");
  }
  return header;
}

/// The element type attnspec reads for a safetensors dtype (F16, BF16, F32, F64); nothing for the others.
inline std::optional<ElementType> safetensors_element_type(std::string_view dtype) {
  if (dtype == "F16") return ElementType::float16;
  if (dtype == "BF16") return ElementType::bfloat16;
  if (dtype == "F32") return ElementType::float32;
  if (dtype == "F64") return ElementType::float64;
  return std::nullopt;
}

/// A safetensors file, memory-mapped and validated on open. Views stay valid while this object lives.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path)
      : m_file(path), m_header(parse_safetensors_header(m_file.data(), m_file.size(), path)) {
    for (std::size_t i = 0; i < m_header.entries.size(); ++i) m_entry_of.emplace(m_header.entries[i].name, i);
  }

  const std::string& path() const { return m_file.path(); }
  const std::vector<SafetensorsEntry>& entries() const { return m_header.entries; }
  const std::map<std::string, std::string>& metadata() const { return m_header.metadata; }

  /// The entry called `name`, or nullptr.
  const SafetensorsEntry* find(std::string_view name) const {
    const auto found = m_entry_of.find(name);
    return found == m_entry_of.end() ? nullptr : &m_header.entries[found->second];
  }

  /// A zero-copy view of tensor `name` (F16, BF16, F32 or F64).
  TensorView view(std::string_view name) const {
    const SafetensorsEntry* entry = find(name);
    if (entry == nullptr) detail::throw_io_error(path(), "no tensor named '", name, "'");
    const std::optional<ElementType> type = safetensors_element_type(entry->dtype);
    if (!type) {
      detail::throw_io_error(path(), "tensor '", name, "' has dtype ", entry->dtype,
                             "; attnspec reads F16, BF16, F32 and F64");
    }
    return TensorView(m_file.data() + m_header.data_start + entry->begin, *type, entry->shape, {},
                      path() + ":" + std::string(name));
  }

 private:
  MappedFile m_file;
  SafetensorsHeader m_header;
  std::map<std::string, std::size_t, std::less<>> m_entry_of;  // name -> index into m_header.entries
};

}  // namespace attnspec::io
