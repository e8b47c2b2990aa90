// attnspec: a small, strict JSON reader (RFC 8259) for safetensors headers, index files and config.json, and the
// two helpers the report writers need. Strict because its input may come from an attacker: nesting is bounded,
// duplicate keys are rejected, integers are read exactly (offsets beyond 2^53 must not round), and every error
// names the source and the byte offset.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "io_errors.hpp"

namespace attnspec::io {

/// One parsed JSON value. Numbers keep their text, so integers can be read exactly.
struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;  ///< the string's value, or the number's literal text
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;  ///< in file order
  std::size_t offset = 0;                                  ///< byte offset of the value in its source

  bool is_object() const { return kind == Kind::object; }
  /// The member called `key`, or nullptr.
  const JsonValue* find(std::string_view key) const {
    for (const auto& member : members) {
      if (member.first == key) return &member.second;
    }
    return nullptr;
  }
};

/// The value as a double; `what` names it in errors.
namespace detail {

/// The length (2–4) of the well-formed UTF-8 sequence starting at text[at], a byte >= 0x80; 0 if it is not one
/// (stray continuation bytes, overlong forms, surrogates, code points above U+10FFFF, truncation).
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) -> unsigned char {
    return at + i < text.size() ? static_cast<unsigned char>(text[at + i]) : 0;
  };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace detail

inline double json_number(const JsonValue& value, const std::string& source, const std::string& what) {
  if (value.kind != JsonValue::Kind::number) {
    detail::throw_io_error_at(source, value.offset, what, " at byte ", value.offset, " must be a number");
  }
  // std::from_chars reads '.' whatever the C or C++ locale is; the parser has already checked the grammar.
  double result = 0;
  const char* const last = value.text.data() + value.text.size();
  const auto [end, error] = std::from_chars(value.text.data(), last, result);
  if (error != std::errc() || end != last) {
    detail::throw_io_error_at(source, value.offset, what, " at byte ", value.offset, " = ", value.text,
                              " is not a finite double");
  }
  return result;
}

/// The value as an exact non-negative integer no larger than `limit`; fractions, exponents and negatives are errors.
inline std::uint64_t json_unsigned(const JsonValue& value, const std::string& source, const std::string& what,
                                   std::uint64_t limit = UINT64_MAX) {
  const bool digits_only = value.kind == JsonValue::Kind::number && !value.text.empty() &&
                           value.text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only) {
    detail::throw_io_error_at(source, value.offset, what, " at byte ", value.offset,
                              " must be a non-negative integer, not ",
                              value.kind == JsonValue::Kind::number ? value.text : std::string("a non-number"));
  }
  std::uint64_t result = 0;
  for (const char digit : value.text) {
    const auto d = static_cast<std::uint64_t>(digit - '0');
    if (result > (limit - d) / 10) {
      detail::throw_io_error_at(source, value.offset, what, " at byte ", value.offset, " = ", value.text, " exceeds ",
                                limit);
    }
    result = result * 10 + d;
  }
  return result;
}

inline const std::string& json_string(const JsonValue& value, const std::string& source, const std::string& what) {
  if (value.kind != JsonValue::Kind::string) {
    detail::throw_io_error_at(source, value.offset, what, " at byte ", value.offset, " must be a string");
  }
  return value.text;
}

namespace detail {

class JsonParser {
 public:
  static constexpr int kMaxDepth = 64;

  JsonParser(std::string_view text, std::string source) : m_text(text), m_source(std::move(source)) {}

  JsonValue parse_document() {
    JsonValue value = parse_value(0);
    skip_space();
    if (m_at != m_text.size()) fail("unexpected trailing characters");
    return value;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw_io_error_at(m_source, m_at, "invalid JSON at byte ", m_at, ": ", what);
  }

  void skip_space() {
    while (m_at < m_text.size() &&
           (m_text[m_at] == ' ' || m_text[m_at] == '\t' || m_text[m_at] == '\n' || m_text[m_at] == '\r')) {
      ++m_at;
    }
  }

  char peek() const { return m_at < m_text.size() ? m_text[m_at] : '\0'; }

  void expect(char c) {
    if (m_at >= m_text.size() || m_text[m_at] != c) {
      const char message[] = {'e', 'x', 'p', 'e', 'c', 't', 'e', 'd', ' ', '\'', c, '\'', '\0'};
      fail(message);
    }
    ++m_at;
  }

  JsonValue parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
    skip_space();
    JsonValue value;
    value.offset = m_at;
    switch (peek()) {
      case '{':
        parse_object(value, depth);
        break;
      case '[':
        parse_array(value, depth);
        break;
      case '"':
        value.kind = JsonValue::Kind::string;
        value.text = parse_string();
        break;
      case 't':
        parse_literal("true");
        value.kind = JsonValue::Kind::boolean;
        value.boolean = true;
        break;
      case 'f':
        parse_literal("false");
        value.kind = JsonValue::Kind::boolean;
        break;
      case 'n':
        parse_literal("null");
        break;
      default:
        value.kind = JsonValue::Kind::number;
        value.text = parse_number();
    }
    return value;
  }

  void parse_literal(std::string_view word) {
    if (m_text.substr(m_at, word.size()) != word) fail("unknown literal");
    m_at += word.size();
  }

  void parse_object(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::object;
    std::set<std::string> keys;  // O(log n) per key: a header with a million keys parses in well under a second
    expect('{');
    skip_space();
    if (peek() == '}') {
      ++m_at;
      return;
    }
    while (true) {
      skip_space();
      if (peek() != '"') fail("expected a string key");
      const std::size_t key_offset = m_at;
      std::string key = parse_string();
      if (!keys.insert(key).second) {
        m_at = key_offset;
        fail("duplicate key");
      }
      skip_space();
      expect(':');
      JsonValue member = parse_value(depth + 1);
      value.members.emplace_back(std::move(key), std::move(member));
      skip_space();
      if (peek() == ',') {
        ++m_at;
        continue;
      }
      expect('}');
      return;
    }
  }

  void parse_array(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::array;
    expect('[');
    skip_space();
    if (peek() == ']') {
      ++m_at;
      return;
    }
    while (true) {
      value.items.push_back(parse_value(depth + 1));
      skip_space();
      if (peek() == ',') {
        ++m_at;
        continue;
      }
      expect(']');
      return;
    }
  }

  std::string parse_number() {
    const std::size_t start = m_at;
    auto digits = [this] {
      const std::size_t first = m_at;
      while (m_at < m_text.size() && m_text[m_at] >= '0' && m_text[m_at] <= '9') ++m_at;
      if (m_at == first) fail("expected a digit");
    };
    if (peek() == '-') ++m_at;
    if (peek() == '0') {
      ++m_at;
    } else {
      digits();
    }
    if (peek() == '.') {
      ++m_at;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++m_at;
      if (peek() == '+' || peek() == '-') ++m_at;
      digits();
    }
    return std::string(m_text.substr(start, m_at - start));
  }

  unsigned parse_hex4() {
    if (m_at + 4 > m_text.size()) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = m_text[m_at++];
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        fail("bad hex digit in \\u escape");
      }
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    auto byte = [&out](unsigned b) { out.push_back(static_cast<char>(b)); };
    if (code < 0x80) {
      byte(code);
    } else if (code < 0x800) {
      byte(0xC0 | (code >> 6));
      byte(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      byte(0xE0 | (code >> 12));
      byte(0x80 | ((code >> 6) & 0x3F));
      byte(0x80 | (code & 0x3F));
    } else {
      byte(0xF0 | (code >> 18));
      byte(0x80 | ((code >> 12) & 0x3F));
      byte(0x80 | ((code >> 6) & 0x3F));
      byte(0x80 | (code & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (m_at >= m_text.size()) fail("unterminated string");
      const char c = m_text[m_at++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --m_at;
        fail("control character in string");
      }
      if (static_cast<unsigned char>(c) >= 0x80) {
        --m_at;
        const std::size_t length = utf8_sequence_length(m_text, m_at);
        if (length == 0) fail("invalid UTF-8 in string");
        out.append(m_text.substr(m_at, length));
        m_at += length;
        continue;
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (m_at >= m_text.size()) fail("unterminated escape");
      switch (m_text[m_at++]) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xD800 && code < 0xDC00) {
            if (m_text.substr(m_at, 2) != "\\u") fail("lone high surrogate");
            m_at += 2;
            const unsigned low = parse_hex4();
            if (low < 0xDC00 || low >= 0xE000) fail("bad low surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code < 0xE000) {
            fail("lone low surrogate");
          }
          append_utf8(out, code);
          break;
        }
        default:
          --m_at;
          fail("unknown escape");
      }
    }
  }

  std::string_view m_text;
  std::string m_source;
  std::size_t m_at = 0;
};

}  // namespace detail

/// Parses a whole JSON document; `source` (a file name) prefixes every error.
inline JsonValue parse_json(std::string_view text, const std::string& source) {
  return detail::JsonParser(text, source).parse_document();
}

/// `text` as a JSON string literal, quotes included. JSON is UTF-8: a byte that does not begin a well-formed UTF-8
/// sequence (a file name in another encoding, say) is written as U+FFFD, so the output is always valid JSON.
inline std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t at = 0; at < text.size(); ++at) {
    const char c = text[at];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t length = detail::utf8_sequence_length(text, at);
      out += length == 0 ? std::string_view("\xEF\xBF\xBD") : text.substr(at, length);
      at += length == 0 ? 0 : length - 1;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

/// A double as a JSON number: the shortest text that reads back to the same bits, with a '.' whatever the C or
/// C++ locale (std::to_chars). JSON has no Inf or NaN, so those become null.
inline std::string json_double(double value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  const std::to_chars_result written = std::to_chars(text, text + sizeof text, value);
  return std::string(text, written.ptr);
}

}  // namespace attnspec::io
