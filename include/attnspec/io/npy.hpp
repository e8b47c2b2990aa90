// attnspec: NumPy .npy files, format versions 1.0–3.0, little-endian float16/32/64, C or Fortran order.
// Read to hand activations dumped from Python to the pipeline; written so Python can read results back.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../host_tensor.hpp"
#include "io_errors.hpp"
#include "mapped_file.hpp"
#include "write_file.hpp"

namespace attnspec::io {

/// A .npy file: memory-mapped when read from disk (read_npy), or an image in memory (parse_npy). view() is a
/// TensorView over its data, with Fortran order expressed as strides.
class NpyArray {
 public:
  ElementType type() const { return m_type; }
  const std::vector<Eigen::Index>& shape() const { return m_shape; }
  bool fortran_order() const { return m_fortran_order; }
  const std::string& source() const { return m_source; }

  TensorView view() const {
    std::vector<Eigen::Index> strides = TensorView::row_major_strides(m_shape);
    if (m_fortran_order) {
      Eigen::Index stride = 1;
      for (std::size_t i = 0; i < m_shape.size(); ++i) {
        strides[i] = stride;
        stride *= m_shape[i];
      }
    }
    return TensorView(m_data, m_type, m_shape, strides, m_source);
  }

  /// The array as a matrix (1-D arrays become a column).
  template <class Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> matrix() const {
    return view().matrix<Scalar>();
  }

 private:
  friend NpyArray parse_npy(std::vector<unsigned char> bytes, const std::string& source);
  friend NpyArray read_npy(const std::string& path);
  /// Reads the header of the whole file at `bytes` (kept alive by m_bytes or m_mapped) into this description.
  void describe(const unsigned char* bytes, std::size_t size, const std::string& source);
  std::vector<unsigned char> m_bytes;  // the image, when parsed from memory
  MappedFile m_mapped;                 // the file, when read from disk
  const unsigned char* m_data = nullptr;
  ElementType m_type = ElementType::float64;
  std::vector<Eigen::Index> m_shape;
  bool m_fortran_order = false;
  std::string m_source;
};

namespace detail {

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
// This reads exactly that grammar: string keys, and string, True/False or tuple-of-integers values.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, std::string source, std::size_t base)
      : m_text(text), m_source(std::move(source)), m_base(base) {}

  void parse(std::string& descr, bool& fortran_order, std::vector<Eigen::Index>& shape) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        descr = parse_string();
        seen_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = parse_bool();
        seen_order = true;
      } else if (key == "shape") {
        shape = parse_shape();
        seen_shape = true;
      } else {
        fail("unknown header key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++m_at;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}'");
    }
    if (!seen_descr || !seen_order || !seen_shape) fail("header lacks 'descr', 'fortran_order' or 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw_io_error_at(m_source, m_base + m_at, "bad .npy header at byte ", m_base + m_at, ": ", what);
  }
  char peek() const { return m_at < m_text.size() ? m_text[m_at] : '\0'; }
  void skip_space() {
    while (peek() == ' ' || peek() == '\n' || peek() == '\t') ++m_at;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++m_at;
  }
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = m_text.find(quote, m_at + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string value(m_text.substr(m_at + 1, end - m_at - 1));
    m_at = end + 1;
    return value;
  }
  bool parse_bool() {
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}}) {
      if (m_text.substr(m_at, word.size()) == word) {
        m_at += word.size();
        return value;
      }
    }
    fail("fortran_order must be True or False");
  }
  std::vector<Eigen::Index> parse_shape() {
    std::vector<Eigen::Index> shape;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!(peek() >= '0' && peek() <= '9')) fail("shape entries must be non-negative integers");
      Eigen::Index extent = 0;
      while (peek() >= '0' && peek() <= '9') {
        extent = extent * 10 + (peek() - '0');
        if (extent > (Eigen::Index{1} << 40)) fail("absurd extent in shape");
        ++m_at;
      }
      shape.push_back(extent);
      if (shape.size() > 8) fail("more than 8 dimensions");
      skip_space();
      if (peek() == ',') ++m_at;
    }
    ++m_at;
    return shape;
  }

  std::string_view m_text;
  std::string m_source;
  std::size_t m_base;
  std::size_t m_at = 0;
};

inline std::uint64_t read_little_endian(const unsigned char* bytes, int count) {
  std::uint64_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

}  // namespace detail

namespace detail {

/// What a .npy header says: the dtype text, the order, the shape and where the data start (checked to fill the
/// rest of the file exactly, given the element size `element_bytes(descr)` returns, 0 for an unsupported dtype).
struct NpyLayout {
  std::string descr;
  bool fortran_order = false;
  std::vector<Eigen::Index> shape;
  std::size_t data_offset = 0;
  std::uint64_t count = 0;
};

/// `bytes` and `size` are the whole file.
template <class ElementBytes>
NpyLayout parse_npy_layout(const unsigned char* bytes, std::size_t size, const std::string& source,
                           ElementBytes element_bytes, const char* supported) {
  constexpr unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(bytes, magic, 6) != 0) {
    throw_io_error(source, "not a .npy file (no \\x93NUMPY magic in the first 6 of its ", size, " bytes)");
  }
  const int major = bytes[6];
  if (major < 1 || major > 3) throw_io_error(source, "unsupported .npy format version ", major, ".", int(bytes[7]));
  const int length_bytes = major == 1 ? 2 : 4;
  const std::size_t header_start = 8 + static_cast<std::size_t>(length_bytes);
  if (size < header_start) throw_io_error(source, "truncated before the header length");
  const std::uint64_t header_length = read_little_endian(bytes + 8, length_bytes);
  if (header_length > size - header_start) {
    throw_io_error_at(source, 8, "header length ", header_length, " at byte 8 runs past the end of the file (", size,
                      " bytes)");
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes) + header_start, header_length);
  NpyLayout layout;
  NpyHeaderParser(header, source, header_start).parse(layout.descr, layout.fortran_order, layout.shape);
  const std::size_t element_size = element_bytes(layout.descr);
  if (element_size == 0) {
    throw_io_error(source, "dtype '", layout.descr, "' is not supported; attnspec reads ", supported);
  }
  layout.count = checked_element_count(layout.shape, source, "the array's");
  layout.data_offset = header_start + header_length;
  const std::uint64_t expected = layout.count * element_size;
  if (size - layout.data_offset != expected) {
    throw_io_error_at(source, layout.data_offset, "data at byte ", layout.data_offset, " holds ",
                      size - layout.data_offset, " bytes but the header's shape and dtype need ", expected);
  }
  return layout;
}

}  // namespace detail

namespace detail {

/// The element type of a float .npy dtype and its size in bytes (0: not a float attnspec reads).
inline std::size_t npy_float_bytes(const std::string& descr, ElementType& type) {
  if (descr == "<f2") {
    type = ElementType::float16;
  } else if (descr == "<f4") {
    type = ElementType::float32;
  } else if (descr == "<f8") {
    type = ElementType::float64;
  } else {
    return 0;
  }
  return element_size(type);
}

}  // namespace detail

inline void NpyArray::describe(const unsigned char* bytes, std::size_t size, const std::string& source) {
  ElementType type = ElementType::float64;
  detail::NpyLayout layout = detail::parse_npy_layout(
      bytes, size, source, [&](const std::string& descr) { return detail::npy_float_bytes(descr, type); },
      "little-endian <f2, <f4, <f8");
  m_type = type;
  m_fortran_order = layout.fortran_order;
  m_shape = std::move(layout.shape);
  m_data = bytes + layout.data_offset;
  m_source = source;
}

/// Parses a complete .npy image of floats; `source` names it in errors.
inline NpyArray parse_npy(std::vector<unsigned char> bytes, const std::string& source) {
  NpyArray array;
  array.m_bytes = std::move(bytes);
  array.describe(array.m_bytes.data(), array.m_bytes.size(), source);
  return array;
}

/// Memory-maps a .npy file of floats: only the pages the analysis touches are read, and nothing is copied.
inline NpyArray read_npy(const std::string& path) {
  NpyArray array;
  array.m_mapped = MappedFile(path);
  array.describe(array.m_mapped.data(), array.m_mapped.size(), path);
  return array;
}

/// Token ids from a .npy file of little-endian int32 or int64 (a tokenizer's output): a vector, or one row of
/// shape [1, n]. Every id must lie in [0, vocab_size).
inline std::vector<std::int64_t> read_token_ids(const std::string& path, std::int64_t vocab_size) {
  const MappedFile file(path);
  const unsigned char* bytes = file.data();
  auto integer_bytes = [](const std::string& descr) -> std::size_t {
    return descr == "<i4" ? 4 : descr == "<i8" ? 8 : 0;
  };
  const detail::NpyLayout layout =
      detail::parse_npy_layout(bytes, file.size(), path, integer_bytes, "token ids as <i4 or <i8");
  if (!(layout.shape.size() == 1 || (layout.shape.size() == 2 && layout.shape[0] == 1))) {
    detail::throw_io_error(path, "token ids have shape ", shape_text(layout.shape), "; expected [n] or [1, n]");
  }
  const std::size_t width = integer_bytes(layout.descr);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(layout.count));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::uint64_t raw =
        detail::read_little_endian(bytes + layout.data_offset + i * width, static_cast<int>(width));
    // Sign-extend a 4-byte id; an 8-byte id is already two's complement.
    ids[i] = width == 4 ? static_cast<std::int64_t>(static_cast<std::int32_t>(static_cast<std::uint32_t>(raw)))
                        : static_cast<std::int64_t>(raw);
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      detail::throw_io_error_at(path, layout.data_offset + i * width, "token id ", ids[i], " at index ", i, " (byte ",
                                layout.data_offset + i * width, ") is outside the vocabulary [0, ", vocab_size, ")");
    }
  }
  return ids;
}

/// Writes a matrix as a version 1.0 .npy file in C order: '<f4' for float, '<f8' for double. The file appears
/// complete or not at all.
template <class Derived>
void write_npy(const std::string& path, const Eigen::MatrixBase<Derived>& matrix) {
  using Scalar = typename Derived::Scalar;
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>, "write_npy writes float or double");
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = matrix;
  std::string header = std::string("{'descr': '<f") + (sizeof(Scalar) == 4 ? "4" : "8") +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(matrix.rows()) + ", " +
                       std::to_string(matrix.cols()) + "), }";
  // Total header size is a multiple of 64 and ends in a newline, as the format asks.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string image = "\x93NUMPY";
  image.push_back('\x01');
  image.push_back('\x00');
  image.push_back(static_cast<char>(header.size() & 0xFF));
  image.push_back(static_cast<char>(header.size() >> 8));
  image += header;
  image.append(reinterpret_cast<const char*>(row_major.data()),
               sizeof(Scalar) * static_cast<std::size_t>(row_major.size()));
  write_file_atomically(path, image);
}

}  // namespace attnspec::io
