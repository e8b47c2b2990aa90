// attnspec: exceptions thrown for bad arguments, unreadable files and cancelled runs.
#pragma once

#include <stdexcept>
#include <string>

namespace attnspec {

/// Thrown when an argument is unusable (wrong shape, non-finite entry, out of range). The message names the
/// function, the argument and the offending shapes or value, prefixed by `[attnspec.invalid_argument]`.
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Thrown when a file cannot be read or is malformed (truncated, inconsistent sizes, bad JSON, unknown dtype).
/// The message, prefixed by `[attnspec.io_error]`, names the file, the tensor or key and the byte offset.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown by the pipeline when its progress callback asks it to stop; no report is returned.
class cancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace attnspec
