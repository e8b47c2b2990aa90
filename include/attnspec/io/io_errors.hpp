// attnspec: how the file readers report problems, so every message reads "[attnspec.io_error] <file>: ...".
#pragma once

#include <sstream>
#include <string>

#include "../errors.hpp"

namespace attnspec::io::detail {

template <class... Parts>
[[noreturn]] void throw_io_error(const std::string& source, const Parts&... parts) {
  std::ostringstream message;
  message << "[attnspec.io_error] " << source << ": ";
  (message << ... << parts);
  throw attnspec::io_error(message.str());
}

}  // namespace attnspec::io::detail
