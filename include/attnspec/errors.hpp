// attnspec: exceptions thrown for bad arguments.
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

}  // namespace attnspec
