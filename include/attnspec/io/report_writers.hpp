// attnspec: a ModelReport as JSON (every head, everything, with provenance), as CSV (one row per head) and as the
// paper-style summary table for people. What each figure means: docs/report-format.md. Files are written atomically:
// complete or absent.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../pipeline.hpp"
#include "classic_numbers.hpp"
#include "json.hpp"
#include "report_fields.hpp"
#include "write_file.hpp"

namespace attnspec::io {

/// Where a report came from (checkpoint, text, command line, ...), as ordered key/value pairs.
using Provenance = std::vector<std::pair<std::string, std::string>>;

namespace detail {

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
constexpr bool is_eigen_vector = std::is_base_of_v<Eigen::DenseBase<T>, T>;

/// Any value a Record lists, as JSON; a number that is not finite is null.
template <class T>
void write_json(std::string& out, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    out += json_quote(to_string(value));
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    out += json_double(value);
  } else if constexpr (std::is_same_v<T, std::string>) {
    out += json_quote(value);
  } else if constexpr (is_optional<T>::value) {
    if (value) {
      write_json(out, *value);
    } else {
      out += "null";
    }
  } else if constexpr (is_record<T>::value) {
    out += '{';
    bool first = true;
    Record<T>::fields(value, [&](const char* name, const auto& member, const char*) {
      out += first ? "\"" : ",\"";
      out += name;
      out += "\":";
      write_json(out, member);
      first = false;
    });
    out += '}';
  } else {
    static_assert(is_vector<T>::value || is_eigen_vector<T>, "a Record lists a type write_json does not know");
    out += '[';
    for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(value.size()); ++i) {
      if (i) out += ',';
      if constexpr (is_record<typename T::value_type>::value) out += '\n';
      if constexpr (is_vector<T>::value) {
        write_json(out, value[static_cast<std::size_t>(i)]);
      } else {
        write_json(out, static_cast<double>(value(i)));
      }
    }
    out += ']';
  }
}

inline std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

/// Appends the CSV columns of `value` (its scalars; records flattened with their name as a prefix, the first entry
/// of a list of records under the list's name; arrays of numbers left out). An absent value gives empty cells.
template <class T>
void flatten_csv(const std::string& name, const T& value, bool present, std::vector<std::string>& names,
                 std::vector<std::string>& cells) {
  if constexpr (is_record<T>::value) {
    const std::string prefix = name.empty() ? "" : name + "_";
    Record<T>::fields(value, [&](const char* member_name, const auto& member, const char*) {
      flatten_csv(prefix + member_name, member, present, names, cells);
    });
  } else if constexpr (is_optional<T>::value) {
    const typename T::value_type absent{};
    flatten_csv(name, value ? *value : absent, present && value.has_value(), names, cells);
  } else if constexpr (is_vector<T>::value) {
    if constexpr (is_record<typename T::value_type>::value) {
      const typename T::value_type absent{};
      flatten_csv(name, value.empty() ? absent : value.front(), present && !value.empty(), names, cells);
    }
  } else if constexpr (!is_eigen_vector<T>) {
    names.push_back(name);
    std::string text;
    if (present) {
      if constexpr (std::is_same_v<T, std::string>) {
        text = value;
      } else {
        write_json(text, value);
        if (text == "null") text.clear();
        if (text.size() >= 2 && text.front() == '"') text = text.substr(1, text.size() - 2);
      }
    }
    cells.push_back(csv_cell(text));
  }
}

}  // namespace detail

/// The whole report as one JSON document (docs/report-format.md; docs/report.schema.json validates it).
inline std::string json_report(const ModelReport& report, const Provenance& provenance = {}) {
  const detail::ClassicNumbers classic;
  std::string out = "{\"format\":\"attnspec-report\",\"format_version\":" + std::to_string(report_format_version) +
                    ",\"provenance\":{";
  for (std::size_t i = 0; i < provenance.size(); ++i) {
    out += (i ? "," : "") + json_quote(provenance[i].first) + ":" + json_quote(provenance[i].second);
  }
  out += "},";
  std::string fields;
  detail::write_json(fields, report);
  out += fields.substr(1);  // the report's own fields follow the envelope's in one object
  return out + "\n";
}

/// One CSV row per head with every scalar of the head's JSON object, flattened: "field_rank_at_tau",
/// "stability_certified_max_tv" (the first stability entry: at k@τ of E~), ... A figure a head does not have is an
/// empty cell; text with commas or quotes is quoted.
inline std::string csv_report(const ModelReport& report) {
  const detail::ClassicNumbers classic;
  std::string out;
  for (std::size_t i = 0; i < std::max<std::size_t>(report.heads.size(), 1); ++i) {
    std::vector<std::string> names, cells;
    const bool present = i < report.heads.size();
    detail::flatten_csv("", present ? report.heads[i] : HeadReport{}, present, names, cells);
    auto join = [](const std::vector<std::string>& items) {
      std::string line;
      for (std::size_t j = 0; j < items.size(); ++j) line += (j ? "," : "") + items[j];
      return line + "\n";
    };
    if (i == 0) out += join(names);
    if (present) out += join(cells);
  }
  return out;
}

/// The paper-style table: per layer and overall, min / median / max over heads.
inline std::string summary_table(const ModelReport& report) {
  const detail::ClassicNumbers classic;
  auto spread = [](const Spread& s, const char* format) {
    if (s.count == 0) return std::string("-");
    char text[64];
    std::snprintf(text, sizeof text, format, s.min, s.median, s.max);
    return std::string(text);
  };
  auto worst = [](const Spread& s) {
    if (s.count == 0) return std::string("-");
    char text[32];
    std::snprintf(text, sizeof text, "%.3g", s.max);
    return std::string(text);
  };
  auto row = [&](const std::string& name, const LayerSummary& l) {
    char text[256];
    std::snprintf(text, sizeof text, "%-8s %5zu  %-16s %-16s %-20s %-10s %-10s\n", name.c_str(), l.heads,
                  spread(l.field_rank, "%.0f / %.1f / %.0f").c_str(),
                  spread(l.interaction_rank, "%.0f / %.1f / %.0f").c_str(),
                  spread(l.effective_rank_gap, "%.1f / %.1f / %.1f").c_str(), worst(l.certified_max_tv).c_str(),
                  worst(l.measured_max_tv).c_str());
    return std::string(text);
  };
  char tau[16];
  std::snprintf(tau, sizeof tau, "%g", report.options.tau);
  std::string out = std::string("k@") + tau + ": components for " + tau +
                    " of the variance; gap: entropy effective rank of M over E~; TV: worst row at k@" + tau +
                    " of E~ (worst head)\n";
  char header[256];
  std::snprintf(header, sizeof header, "%-8s %5s  %-16s %-16s %-20s %-10s %-10s\n", "layer", "heads",
                (std::string("k@") + tau + " E~").c_str(), (std::string("k@") + tau + " M").c_str(), "eff.-rank gap",
                "TV cert.", "TV meas.");
  out += header;
  out += "         (min / median / max over heads)\n";
  for (const LayerSummary& layer : report.layers) out += row(std::to_string(layer.layer), layer);
  out += row("all", report.overall);
  return out;
}

inline void write_json_report(const std::string& path, const ModelReport& report, const Provenance& provenance = {}) {
  write_file_atomically(path, json_report(report, provenance));
}

inline void write_csv_report(const std::string& path, const ModelReport& report) {
  write_file_atomically(path, csv_report(report));
}

}  // namespace attnspec::io
