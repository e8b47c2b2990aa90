// attnspec: a ModelReport as JSON (every head, everything, with provenance), as CSV (one row per head) and as the
// paper-style summary table for people. Files are written atomically: complete or absent.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../pipeline.hpp"
#include "json.hpp"
#include "write_file.hpp"

namespace attnspec::io {

/// Where a report came from (checkpoint, text, command line, ...), as ordered key/value pairs.
using Provenance = std::vector<std::pair<std::string, std::string>>;

namespace detail {

inline std::string json_vector(const Eigen::VectorXd& values) {
  std::string out = "[";
  for (Eigen::Index i = 0; i < values.size(); ++i) out += (i ? "," : "") + json_double(values(i));
  return out + "]";
}

inline std::string json_spectrum(const SpectrumSummary& s) {
  return "{\"rank_at_tau\":" + std::to_string(s.rank_at_tau) +
         ",\"entropy_effective_rank\":" + json_double(s.entropy_effective_rank) +
         ",\"participation_ratio\":" + json_double(s.participation_ratio) +
         ",\"stable_rank\":" + json_double(s.stable_rank) + ",\"singular_values\":" + json_vector(s.singular_values) +
         ",\"cumulative_variance\":" + json_vector(s.cumulative_variance) + "}";
}

inline std::string json_optional(const std::optional<double>& value) { return value ? json_double(*value) : "null"; }

inline std::string json_stability(const StabilityAtRank& a) {
  std::ostringstream out;
  out << "{\"k\":" << a.k << ",\"tail_energy\":" << json_double(a.tail_energy)
      << ",\"certified_max_tv\":" << json_double(a.certified_max_tv)
      << ",\"certified_mean_tv\":" << json_double(a.certified_mean_tv)
      << ",\"certified_max_kl\":" << json_double(a.certified_max_kl)
      << ",\"measured_max_tv\":" << json_double(a.measured_max_tv)
      << ",\"measured_mean_tv\":" << json_double(a.measured_mean_tv)
      << ",\"measured_max_kl_forward\":" << json_double(a.measured_max_kl_forward)
      << ",\"measured_max_kl_reverse\":" << json_double(a.measured_max_kl_reverse)
      << ",\"a_priori_max_tv\":" << json_double(a.a_priori_max_tv)
      << ",\"a_priori_mean_tv\":" << json_double(a.a_priori_mean_tv)
      << ",\"delocalisation_c\":" << json_double(a.delocalisation_c)
      << ",\"delocalisation_max_tv\":" << json_double(a.delocalisation_max_tv)
      << ",\"certified_output_error\":" << json_optional(a.certified_output_error)
      << ",\"measured_output_error\":" << json_optional(a.measured_output_error) << "}";
  return out.str();
}

inline std::string json_spread(const Spread& s) {
  return "{\"count\":" + std::to_string(s.count) + ",\"min\":" + json_double(s.min) +
         ",\"median\":" + json_double(s.median) + ",\"max\":" + json_double(s.max) + "}";
}

inline std::string json_layer(const LayerSummary& l) {
  return "{\"layer\":" + std::to_string(l.layer) + ",\"heads\":" + std::to_string(l.heads) +
         ",\"field_rank_at_tau\":" + json_spread(l.field_rank) +
         ",\"interaction_rank_at_tau\":" + json_spread(l.interaction_rank) +
         ",\"effective_rank_gap\":" + json_spread(l.effective_rank_gap) +
         ",\"certified_max_tv\":" + json_spread(l.certified_max_tv) +
         ",\"measured_max_tv\":" + json_spread(l.measured_max_tv) +
         ",\"causal_field_rank_at_tau\":" + json_spread(l.causal_field_rank) + "}";
}

inline std::string json_head(const HeadReport& h) {
  std::ostringstream out;
  out << "{\"layer\":" << h.id.layer << ",\"head\":" << h.id.head() << ",\"first_query_head\":" << h.id.first_query_head
      << ",\"query_heads\":" << h.id.query_heads << ",\"kv_head\":" << h.id.kv_head << ",\"queries\":" << h.queries
      << ",\"keys\":" << h.keys << ",\"head_dim\":" << h.head_dim << ",\"input_dim\":" << h.input_dim
      << ",\"field_scale\":" << json_double(h.field_scale) << ",\"preparation\":" << json_quote(h.preparation)
      << ",\"field\":" << (h.field ? json_spectrum(*h.field) : "null")
      << ",\"interaction\":" << (h.interaction ? json_spectrum(*h.interaction) : "null") << ",\"causal_field\":";
  if (h.causal_field) {
    out << "{\"rank_at_tau\":" << h.causal_field->rank_at_tau << ",\"energy\":" << json_double(h.causal_field->energy)
        << ",\"singular_values\":" << json_vector(h.causal_field->singular_values)
        << ",\"cumulative_variance\":" << json_vector(h.causal_field->cumulative_variance) << "}";
  } else {
    out << "null";
  }
  out << ",\"gap\":";
  if (h.gap) {
    out << "{\"tau\":" << json_double(h.gap->tau) << ",\"rank_at_tau\":" << json_double(h.gap->rank_at_tau)
        << ",\"entropy_effective_rank\":" << json_double(h.gap->entropy_effective_rank)
        << ",\"participation_ratio\":" << json_double(h.gap->participation_ratio)
        << ",\"stable_rank\":" << json_double(h.gap->stable_rank) << "}";
  } else {
    out << "null";
  }
  out << ",\"stability\":[";
  for (std::size_t i = 0; i < h.stability.size(); ++i) out << (i ? "," : "") << json_stability(h.stability[i]);
  out << "]}";
  return out.str();
}

inline std::string csv_number(double value) {
  if (std::isnan(value)) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

}  // namespace detail

/// The whole report as one JSON document.
inline std::string json_report(const ModelReport& report, const Provenance& provenance = {}) {
  const PipelineOptions& o = report.options;
  std::ostringstream out;
  out << "{\"attnspec_version\":" << json_quote(report.attnspec_version) << ",\"provenance\":{";
  for (std::size_t i = 0; i < provenance.size(); ++i) {
    out << (i ? "," : "") << json_quote(provenance[i].first) << ":" << json_quote(provenance[i].second);
  }
  out << "},\"options\":{\"tau\":" << json_double(o.tau)
      << ",\"field_scale\":" << (o.field.scale ? json_double(*o.field.scale) : "\"1/sqrt(d)\"")
      << ",\"center_rows\":" << (o.field.center_rows ? "true" : "false")
      << ",\"drop_leading_keys\":" << o.field.drop_leading_keys << ",\"causal\":" << (o.causal ? "true" : "false")
      << ",\"stability\":" << (o.stability ? "true" : "false")
      << ",\"causal_field\":" << (o.causal_field ? "true" : "false") << ",\"stability_ranks\":[";
  for (std::size_t i = 0; i < o.stability_ranks.size(); ++i) out << (i ? "," : "") << o.stability_ranks[i];
  out << "],\"grouping\":" << json_quote(grouping_name(report.grouping))
      << "},\"overall\":" << detail::json_layer(report.overall) << ",\"layers\":[";
  for (std::size_t i = 0; i < report.layers.size(); ++i) out << (i ? "," : "") << detail::json_layer(report.layers[i]);
  out << "],\"heads\":[";
  for (std::size_t i = 0; i < report.heads.size(); ++i) out << (i ? ",\n" : "\n") << detail::json_head(report.heads[i]);
  out << "\n]}\n";
  return out.str();
}

/// One CSV row per head; a figure a head does not have is an empty cell.
inline std::string csv_report(const ModelReport& report) {
  using detail::csv_number;
  std::ostringstream out;
  out << "layer,head,kv_head,query_heads,queries,keys,head_dim,input_dim,"
         "field_rank_at_tau,field_entropy_effective_rank,field_participation_ratio,field_stable_rank,"
         "interaction_rank_at_tau,interaction_entropy_effective_rank,interaction_participation_ratio,"
         "interaction_stable_rank,gap_rank_at_tau,gap_entropy_effective_rank,stability_k,certified_max_tv,"
         "measured_max_tv,measured_mean_tv,a_priori_max_tv,causal_field_rank_at_tau\n";
  const double none = std::numeric_limits<double>::quiet_NaN();
  for (const HeadReport& h : report.heads) {
    out << h.id.layer << "," << h.id.head() << "," << h.id.kv_head << "," << h.id.query_heads << "," << h.queries << ","
        << h.keys << "," << h.head_dim << "," << h.input_dim;
    for (const auto* spectrum : {&h.field, &h.interaction}) {
      out << "," << (*spectrum ? std::to_string((*spectrum)->rank_at_tau) : "");
      out << "," << csv_number(*spectrum ? (*spectrum)->entropy_effective_rank : none);
      out << "," << csv_number(*spectrum ? (*spectrum)->participation_ratio : none);
      out << "," << csv_number(*spectrum ? (*spectrum)->stable_rank : none);
    }
    out << "," << csv_number(h.gap ? h.gap->rank_at_tau : none) << ","
        << csv_number(h.gap ? h.gap->entropy_effective_rank : none);
    const StabilityAtRank* at = h.stability.empty() ? nullptr : &h.stability.front();
    out << "," << (at ? std::to_string(at->k) : "") << "," << csv_number(at ? at->certified_max_tv : none) << ","
        << csv_number(at ? at->measured_max_tv : none) << "," << csv_number(at ? at->measured_mean_tv : none) << ","
        << csv_number(at ? at->a_priori_max_tv : none) << ","
        << (h.causal_field ? std::to_string(h.causal_field->rank_at_tau) : "") << "\n";
  }
  return out.str();
}

/// The paper-style table: per layer and overall, min / median / max over heads.
inline std::string summary_table(const ModelReport& report) {
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
