// attnspec: report.json read back into a ModelReport through the field lists the writer uses (report_fields.hpp),
// so whatever json_report writes is read back exactly (numbers are written shortest-round-trip and read with
// std::from_chars; null is NaN for a figure and absent for an optional part). Strict: a missing or unknown field,
// a wrong type, or another format version is an io_error naming the field and its byte.
#pragma once

#include <charconv>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "json.hpp"
#include "report_fields.hpp"
#include "report_writers.hpp"

namespace attnspec::io {

namespace detail {

template <class T>
void read_json_field(const JsonValue& json, T& out, const std::string& source, const std::string& where);

template <class T>
void read_json_record(const JsonValue& json, T& out, const std::string& source, const std::string& where) {
  if (!json.is_object()) throw_io_error_at(source, json.offset, where, " at byte ", json.offset, " must be an object");
  std::size_t listed = 0;
  Record<T>::fields(out, [&](const char* name, auto&& member, const char*) {
    ++listed;
    const JsonValue* found = json.find(name);
    if (found == nullptr) {
      throw_io_error_at(source, json.offset, where, " at byte ", json.offset, " has no \"", name, "\"");
    }
    using Member = decltype(member);
    // A figure computed from others comes as a temporary: present in the file, not read.
    if constexpr (std::is_lvalue_reference_v<Member> && !std::is_const_v<std::remove_reference_t<Member>>) {
      read_json_field(*found, member, source, where + "." + name);
    }
  });
  if (json.members.size() != listed) {
    for (const auto& member : json.members) {
      const std::string& name = member.first;
      const JsonValue& value = member.second;
      bool known = false;
      Record<T>::fields(out,
                        [&](const char* listed_name, auto&&, const char*) { known = known || name == listed_name; });
      if (!known) {
        throw_io_error_at(source, value.offset, where, " has an unknown field \"", name, "\" at byte ", value.offset);
      }
    }
  }
}

template <class T>
void read_json_field(const JsonValue& json, T& out, const std::string& source, const std::string& where) {
  const auto fail = [&](const char* wanted) {
    throw_io_error_at(source, json.offset, where, " at byte ", json.offset, " must be ", wanted);
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (json.kind != JsonValue::Kind::boolean) fail("true or false");
    out = json.boolean;
  } else if constexpr (std::is_enum_v<T>) {
    if (json.kind != JsonValue::Kind::string) fail("a string");
    int value = 0;
    for (const char* name : enum_values<T>()) {
      if (json.text == name) {
        out = static_cast<T>(value);
        return;
      }
      ++value;
    }
    fail("one of the names docs/report-format.md lists");
  } else if constexpr (std::is_integral_v<T>) {
    if (json.kind != JsonValue::Kind::number) fail("an integer");
    const char* const last = json.text.data() + json.text.size();
    const auto [end, error] = std::from_chars(json.text.data(), last, out);
    if (error != std::errc() || end != last) fail("an integer in range");
  } else if constexpr (std::is_floating_point_v<T>) {
    out = json.kind == JsonValue::Kind::null ? std::numeric_limits<T>::quiet_NaN()
                                             : static_cast<T>(json_number(json, source, where));
  } else if constexpr (std::is_same_v<T, std::string>) {
    out = json_string(json, source, where);
  } else if constexpr (is_optional<T>::value) {
    if (json.kind == JsonValue::Kind::null) {
      out.reset();
    } else {
      read_json_field(json, out.emplace(), source, where);
    }
  } else if constexpr (is_record<T>::value) {
    read_json_record(json, out, source, where);
  } else {
    static_assert(is_vector<T>::value || is_eigen_vector<T>, "a Record lists a type the reader does not know");
    if (json.kind != JsonValue::Kind::array) fail("an array");
    out.resize(static_cast<decltype(out.size())>(json.items.size()));
    for (std::size_t i = 0; i < json.items.size(); ++i) {
      const std::string item = where + "[" + std::to_string(i) + "]";
      if constexpr (is_vector<T>::value) {
        read_json_field(json.items[i], out[i], source, item);
      } else {
        read_json_field(json.items[i], out(static_cast<Eigen::Index>(i)), source, item);
      }
    }
  }
}

}  // namespace detail

/// Reads a report.json (format "attnspec-report", the current format_version); `source` names it in errors. Its
/// provenance pairs go to `provenance` when given.
inline ModelReport read_json_report(std::string_view text, const std::string& source,
                                    Provenance* provenance = nullptr) {
  const JsonValue root = parse_json(text, source);
  if (!root.is_object()) detail::throw_io_error(source, "is not a JSON object");
  const JsonValue* format = root.find("format");
  const JsonValue* version = root.find("format_version");
  const JsonValue* pairs = root.find("provenance");
  if (format == nullptr || json_string(*format, source, "format") != "attnspec-report" || version == nullptr) {
    detail::throw_io_error(source, "is not an attnspec report (no \"format\": \"attnspec-report\")");
  }
  if (json_unsigned(*version, source, "format_version") != static_cast<std::uint64_t>(report_format_version)) {
    detail::throw_io_error(source, "has format_version ", version->text, "; this attnspec reads version ",
                           report_format_version);
  }
  if (pairs == nullptr || !pairs->is_object()) detail::throw_io_error(source, "has no \"provenance\" object");
  if (provenance != nullptr) {
    provenance->clear();
    for (const auto& [key, value] : pairs->members) {
      provenance->emplace_back(key, json_string(value, source, "provenance." + key));
    }
  }
  JsonValue fields = root;  // the report's own fields: the envelope's three removed
  fields.members.clear();
  for (const auto& member : root.members) {
    if (member.first != "format" && member.first != "format_version" && member.first != "provenance") {
      fields.members.push_back(member);
    }
  }
  ModelReport report;
  detail::read_json_record(fields, report, source, "report");
  return report;
}

}  // namespace attnspec::io
