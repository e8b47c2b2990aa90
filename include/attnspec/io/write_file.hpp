// attnspec: writing output files so a reader never sees a partly written one as if it were complete, nor a
// set of reports mixing two runs.
#pragma once

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

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

/// The file that marks a directory as a report set write_report_set may replace; it lists the set's files.
constexpr const char* report_set_manifest = ".attnspec-report-set";

/// Publishes `files` (plain file names and their contents) as the directory `directory`, all or nothing: they are
/// written into a fresh sibling "<directory>.partial.<pid>", which then takes the place of `directory` by
/// renames (an existing set is moved aside to "<directory>.previous.<pid>" first and removed after). A reader sees
/// the old set, the new one, or for the instant between the two renames none, never a mix; on failure nothing
/// changes. An existing `directory` is replaced only if it is empty or a set written here (it holds the manifest
/// ".attnspec-report-set"), so a user's own folder is never swept away.
/// Throws the io_error write_report_set would, before any work is done: `directory` must be a name it can
/// replace (not "." or ".."), in a writable folder, and either absent, empty, or a set attnspec wrote. A host calls
/// it before a long analysis so that an unusable output folder is refused at once, not after it.
inline std::filesystem::path check_report_set_target(const std::string& directory) {
  namespace fs = std::filesystem;
  const fs::path target = fs::path(directory).lexically_normal();
  if (target.empty() || target.filename().empty() || target.filename() == "." || target.filename() == "..") {
    detail::throw_io_error(directory, "is not a directory name write_report_set can replace");
  }
  std::error_code error;
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, error))
    detail::throw_io_error(directory, "its folder ", parent.string(), " does not exist");
  if (::access(parent.c_str(), W_OK) != 0) {
    detail::throw_io_error(directory, "its folder ", parent.string(), " is not writable");
  }
  const fs::file_status status = fs::symlink_status(target, error);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) detail::throw_io_error(directory, "exists and is not a directory");
    if (!fs::is_empty(target, error) && !fs::exists(target / report_set_manifest, error)) {
      detail::throw_io_error(directory, "exists and was not written by attnspec (no ", report_set_manifest,
                             "); refusing to replace it");
    }
  }
  return target;
}

inline void write_report_set(const std::string& directory,
                             const std::vector<std::pair<std::string, std::string>>& files) {
  namespace fs = std::filesystem;
  const fs::path target = check_report_set_target(directory);
  std::error_code error;
  std::string manifest;
  for (const auto& [name, contents] : files) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == ".." ||
        name == report_set_manifest) {
      detail::throw_io_error(directory, "'", name, "' is not a plain file name for a report set");
    }
    manifest += name + " " + std::to_string(contents.size()) + "\n";
  }
  const std::string suffix = "." + std::to_string(::getpid());
  const fs::path partial = target.string() + ".partial" + suffix, previous = target.string() + ".previous" + suffix;
  fs::remove_all(partial, error);
  try {
    if (!fs::create_directories(partial, error)) detail::throw_io_error(directory, "cannot create ", partial.string());
    for (const auto& [name, contents] : files) write_file_atomically((partial / name).string(), contents);
    write_file_atomically((partial / report_set_manifest).string(), manifest);
    const bool replacing = fs::exists(fs::symlink_status(target, error));
    if (replacing && std::rename(target.c_str(), previous.c_str()) != 0) {
      detail::throw_io_error(directory, "cannot move the previous set aside to ", previous.string());
    }
    if (std::rename(partial.c_str(), target.c_str()) != 0) {
      if (replacing) std::rename(previous.c_str(), target.c_str());
      detail::throw_io_error(directory, "cannot rename ", partial.string(), " into place");
    }
    if (replacing) fs::remove_all(previous, error);
  } catch (...) {
    fs::remove_all(partial, error);
    throw;
  }
}

}  // namespace attnspec::io
