// Strict numbers on the examples' command lines: the whole argument must be the number (no trailing characters,
// no sign for unsigned types, '.' as the decimal point whatever the locale), or it is a usage error.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <system_error>

template <class T>
std::optional<T> parse_number(const std::string& text) {
  T value{};
  const char* const last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value);
  if (text.empty() || error != std::errc() || end != last) return std::nullopt;
  return value;
}

/// Reads argv the conventional way: "--option VALUE" and "--option=VALUE" alike. `usage(problem)` reports a usage
/// error and does not return.
class ArgumentReader {
 public:
  ArgumentReader(int argc, char** argv, void (*usage)(const std::string&))
      : m_argc(argc), m_argv(argv), m_usage(usage) {}

  /// Moves to the next argument; false when there is none. An "=VALUE" the last option did not take is an error.
  bool next() {
    if (m_inline_value) m_usage(m_flag + " takes no value");
    if (++m_index >= m_argc) return false;
    m_flag = m_argv[m_index];
    const std::size_t equals = m_flag.find('=');
    if (m_flag.rfind("--", 0) == 0 && equals != std::string::npos) {
      m_inline_value = m_flag.substr(equals + 1);
      m_flag.resize(equals);
    }
    return true;
  }

  /// The argument, without its "=VALUE".
  const std::string& flag() const { return m_flag; }

  /// The option's value: what followed '=', else the next argument.
  std::string value() {
    if (m_inline_value) {
      std::string text = std::move(*m_inline_value);
      m_inline_value.reset();
      return text;
    }
    if (m_index + 1 >= m_argc) m_usage(m_flag + " needs a value");
    return m_argv[++m_index];
  }

 private:
  int m_argc;
  char** m_argv;
  void (*m_usage)(const std::string&);
  int m_index = 0;
  std::string m_flag;
  std::optional<std::string> m_inline_value;
};
