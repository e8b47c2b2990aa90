// attnspec: the exceptions attnspec throws, all derived from one base, attnspec::error, so a host catches every
// one of them with one clause (and still with catch (const std::exception&), through std::runtime_error).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace attnspec {

/// The base of every attnspec exception. what() is "[attnspec.<category>] <message>": the prefix is built here,
/// from the category the derived class gives, so no throw site spells it.
class error : public std::runtime_error {
 public:
  error(const char* category, const std::string& message)
      : std::runtime_error(std::string("[attnspec.") + category + "] " + message),
        m_category(category),
        m_message(message) {}

  /// "invalid_argument", "io_error" or "cancelled".
  const char* category() const noexcept { return m_category; }
  /// what() without the "[attnspec.<category>] " prefix.
  const std::string& message() const noexcept { return m_message; }

 private:
  const char* m_category;
  std::string m_message;
};

/// An unusable argument (wrong shape, non-finite entry, out of range). The message names the function, the
/// argument and the offending shapes or value.
class invalid_argument : public error {
 public:
  explicit invalid_argument(const std::string& message) : error("invalid_argument", message) {}
};

/// A file that cannot be read or is malformed (truncated, inconsistent sizes, bad JSON, unknown dtype). The message
/// starts with the file and names the tensor or key; path() and offset() give the file and, where one byte is at
/// fault, its offset.
class io_error : public error {
 public:
  io_error(const std::string& path, const std::string& message, std::optional<std::uint64_t> offset = std::nullopt)
      : error("io_error", path + ": " + message), m_path(path), m_offset(offset) {}

  const std::string& path() const noexcept { return m_path; }
  const std::optional<std::uint64_t>& offset() const noexcept { return m_offset; }

 private:
  std::string m_path;
  std::optional<std::uint64_t> m_offset;
};

/// Thrown by the pipeline when its progress callback asks it to stop; no report is returned.
class cancelled : public error {
 public:
  explicit cancelled(const std::string& message) : error("cancelled", message) {}
};

}  // namespace attnspec
