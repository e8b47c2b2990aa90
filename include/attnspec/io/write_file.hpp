// attnspec: writing output files so a reader never sees a partly written one as if it were complete.
#pragma once

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "io_errors.hpp"

namespace attnspec::io {

/// Writes `contents` to a temporary file beside `path`, then renames it over `path` (atomic on POSIX). On any
/// failure the temporary file is removed and `path` is left as it was.
inline void write_file_atomically(const std::string& path, std::string_view contents) {
  const std::string temporary = path + ".partial." + std::to_string(::getpid());
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!file) detail::throw_io_error(path, "cannot open ", temporary, " for writing");
    file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    file.flush();
    if (!file) {
      std::remove(temporary.c_str());
      detail::throw_io_error(path, "write failed after up to ", contents.size(), " bytes");
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    detail::throw_io_error(path, "cannot rename ", temporary, " into place");
  }
}

}  // namespace attnspec::io
