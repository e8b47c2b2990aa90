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
