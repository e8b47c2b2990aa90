// attnspec: the report format described from the same field lists the writers use (report_fields.hpp): a JSON
// Schema that every report.json validates against, and the field tables of docs/report-format.md.
#pragma once

#include <set>
#include <string>

#include "report_writers.hpp"

namespace attnspec::io {

namespace detail {

inline std::string with_description(const std::string& schema, const char* meaning) {
  return "{\"description\":" + json_quote(meaning) + "," + schema.substr(1);
}

/// The JSON Schema of any value a Record lists (numbers may be null: that is how a non-finite one is written).
template <class T>
std::string json_schema_of() {
  if constexpr (std::is_same_v<T, bool>) {
    return "{\"type\":\"boolean\"}";
  } else if constexpr (std::is_enum_v<T>) {
    std::string names;
    for (const char* name : enum_values<T>()) names += (names.empty() ? "" : ",") + json_quote(name);
    return "{\"enum\":[" + names + "]}";
  } else if constexpr (std::is_integral_v<T>) {
    return std::is_unsigned_v<T> ? "{\"type\":\"integer\",\"minimum\":0}" : "{\"type\":\"integer\"}";
  } else if constexpr (std::is_floating_point_v<T>) {
    return "{\"type\":[\"number\",\"null\"]}";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "{\"type\":\"string\"}";
  } else if constexpr (is_optional<T>::value) {
    return "{\"anyOf\":[{\"type\":\"null\"}," + json_schema_of<typename T::value_type>() + "]}";
  } else if constexpr (is_record<T>::value) {
    std::string properties, required;
    Record<T>::fields(T{}, [&](const char* name, const auto& member, const char* meaning) {
      using Member = std::decay_t<decltype(member)>;
      properties += (properties.empty() ? "" : ",") + json_quote(name) + ":" +
                    with_description(json_schema_of<Member>(), meaning);
      required += (required.empty() ? "" : ",") + json_quote(name);
    });
    return "{\"type\":\"object\",\"description\":" + json_quote(Record<T>::means) + ",\"properties\":{" + properties +
           "},\"required\":[" + required + "],\"additionalProperties\":false}";
  } else if constexpr (is_vector<T>::value) {
    return "{\"type\":\"array\",\"items\":" + json_schema_of<typename T::value_type>() + "}";
  } else {
    static_assert(is_eigen_vector<T>, "a Record lists a type json_schema_of does not know");
    return "{\"type\":\"array\",\"items\":{\"type\":[\"number\",\"null\"]}}";
  }
}

/// How docs/report-format.md names a value's type; a nested record links to its own table.
template <class T>
std::string markdown_type() {
  if constexpr (std::is_same_v<T, bool>) {
    return "boolean";
  } else if constexpr (std::is_enum_v<T>) {
    std::string names;
    for (const char* name : enum_values<T>()) names += (names.empty() ? "`" : "`, `") + std::string(name);
    return "one of " + names + "`";
  } else if constexpr (std::is_integral_v<T>) {
    return "integer";
  } else if constexpr (std::is_floating_point_v<T>) {
    return "number";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "string";
  } else if constexpr (is_optional<T>::value) {
    return markdown_type<typename T::value_type>() + " or null";
  } else if constexpr (is_record<T>::value) {
    return std::string("[") + Record<T>::name + "](#" + Record<T>::name + ")";
  } else if constexpr (is_vector<T>::value) {
    return "list of " + markdown_type<typename T::value_type>();
  } else {
    return "list of number";
  }
}

template <class T>
void markdown_table(std::string& out, std::set<std::string>& written);

/// The tables of the records inside a value of type T (through optionals and lists), each once.
template <class T>
void markdown_nested_tables(std::string& out, std::set<std::string>& written) {
  if constexpr (is_optional<T>::value || is_vector<T>::value) {
    markdown_nested_tables<typename T::value_type>(out, written);
  } else if constexpr (is_record<T>::value) {
    markdown_table<T>(out, written);
  }
}

template <class T>
void markdown_table(std::string& out, std::set<std::string>& written) {
  if (!written.insert(Record<T>::name).second) return;
  out += std::string("\n### ") + Record<T>::name + "\n\n" + Record<T>::means +
         "\n\n| field | type | meaning |\n|---|---|---|\n";
  Record<T>::fields(T{}, [&](const char* name, const auto& member, const char* meaning) {
    out +=
        std::string("| `") + name + "` | " + markdown_type<std::decay_t<decltype(member)>>() + " | " + meaning + " |\n";
  });
  Record<T>::fields(T{}, [&](const char*, const auto& member, const char*) {
    markdown_nested_tables<std::decay_t<decltype(member)>>(out, written);
  });
}

}  // namespace detail

/// The JSON Schema (draft 2020-12) of report.json: one report, or {"runs": [reports]} for a set of runs.
inline std::string report_json_schema() {
  const std::string report = detail::json_schema_of<ModelReport>();
  const std::string envelope =
      "\"format\":{\"const\":\"attnspec-report\"},\"format_version\":{\"const\":" +
      std::to_string(report_format_version) +
      "},\"provenance\":{\"description\":\"Where the report came from, as the host program states it\","
      "\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},";
  // The report's own "properties" come first and its "required" last (nested records' lie between).
  const std::size_t properties = report.find("\"properties\":{") + 14, required = report.rfind("\"required\":[") + 12;
  const std::string with_envelope = report.substr(0, properties) + envelope +
                                    report.substr(properties, required - properties) +
                                    "\"format\",\"format_version\",\"provenance\"," + report.substr(required);
  return "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"title\":\"attnspec report\","
         "\"anyOf\":[{\"$ref\":\"#/$defs/report\"},{\"type\":\"object\",\"properties\":{\"runs\":{\"type\":\"array\","
         "\"items\":{\"$ref\":\"#/$defs/report\"}}},\"required\":[\"runs\"],\"additionalProperties\":false}],"
         "\"$defs\":{\"report\":" +
         with_envelope + "}}\n";
}

/// The tables of docs/report-format.md: every field of every record a report holds, with its type and meaning.
inline std::string report_format_markdown() {
  std::string out;
  std::set<std::string> written;
  detail::markdown_table<ModelReport>(out, written);
  return out;
}

}  // namespace attnspec::io
