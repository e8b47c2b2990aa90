// attnspec: how the file readers report problems, so every message reads "[attnspec.io_error] <file>: ...".
#pragma once

#include <cstdint>
#include <locale>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../errors.hpp"
#include "../host_tensor.hpp"

namespace attnspec::io::detail {

template <class... Parts>
std::string concatenate(const Parts&... parts) {
  std::ostringstream message;
  message.imbue(std::locale::classic());  // "1024", not a host locale's "1.024"
  (message << ... << parts);
  return message.str();
}

/// Text from a file, safe to put in a message: control characters (a NUL would end what()) become \u00XX.
inline std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static const char digits[] = "0123456789abcdef";
      out += "\\u00";
      out += digits[(static_cast<unsigned char>(c) >> 4) & 0xF];
      out += digits[static_cast<unsigned char>(c) & 0xF];
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// Throws attnspec::io_error for file `source`.
template <class... Parts>
[[noreturn]] void throw_io_error(const std::string& source, const Parts&... parts) {
  throw attnspec::io_error(source, concatenate(parts...));
}

/// Throws attnspec::io_error for the byte at `offset` of file `source`; the message says "at byte <offset>" where
/// the parts put `offset`.
template <class... Parts>
[[noreturn]] void throw_io_error_at(const std::string& source, std::uint64_t offset, const Parts&... parts) {
  throw attnspec::io_error(source, concatenate(parts...), offset);
}

/// The element count of a shape stored in file `source`, refused when its non-zero extents multiply past 2^48
/// (nonzero_extent_product says why zero extents do not count); `what` names the tensor in the message.
inline std::uint64_t checked_element_count(const std::vector<Eigen::Index>& shape, const std::string& source,
                                           const std::string& what) {
  constexpr std::uint64_t limit = std::uint64_t{1} << 48;
  if (attnspec::detail::nonzero_extent_product(shape, limit) > limit) {
    throw_io_error(source, what, " shape ", shape_text(shape), " spans more than 2^48 elements");
  }
  for (const Eigen::Index extent : shape) {
    if (extent == 0) return 0;
  }
  return attnspec::detail::nonzero_extent_product(shape, limit);
}

}  // namespace attnspec::io::detail
