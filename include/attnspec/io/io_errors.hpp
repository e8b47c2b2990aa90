// attnspec: how the file readers report problems, so every message reads "[attnspec.io_error] <file>: ...".
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "../errors.hpp"

namespace attnspec::io::detail {

template <class... Parts>
std::string concatenate(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  return message.str();
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

}  // namespace attnspec::io::detail
