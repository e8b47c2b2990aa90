// attnspec: one analysis split into shards run separately (a job array: shard i of N analyses every N-th unit
// from unit i), and the shards' reports merged into the report one run writes. Results do not depend on how
// units are grouped (analyse_model is deterministic per unit), so the merge is exact: the same heads in the same
// order, summarised again.
#pragma once

#include <algorithm>
#include <charconv>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../pipeline.hpp"
#include "io_errors.hpp"
#include "report_writers.hpp"

namespace attnspec::io {

/// Which part of an analysis a report holds: shard `index` of `count`, out of `units` units in all.
struct Shard {
  std::size_t index = 0, count = 1, units = 0;
};

/// Shard i of N takes units i, i + N, i + 2N, ... (every layer's heads spread over every shard).
inline std::vector<HeadId> shard_units(const std::vector<HeadId>& units, const Shard& shard) {
  if (shard.count == 0 || shard.index >= shard.count) {
    attnspec::detail::throw_invalid_argument("shard_units", "shard ", shard.index, "/", shard.count,
                                             " does not exist: the index must be below the count");
  }
  std::vector<HeadId> taken;
  for (std::size_t i = shard.index; i < units.size(); i += shard.count) taken.push_back(units[i]);
  return taken;
}

/// The provenance entries that mark a shard's report ("shard": "i/N", "units": "U"); merge_report_shards
/// removes them.
inline Provenance shard_provenance(Provenance provenance, const Shard& shard) {
  provenance.emplace_back("shard", std::to_string(shard.index) + "/" + std::to_string(shard.count));
  provenance.emplace_back("units", std::to_string(shard.units));
  return provenance;
}

namespace detail {

inline std::size_t parse_count(const std::string& text, const std::string& source, const char* what) {
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw_io_error(source, "provenance \"", what, "\" = \"", text, "\" is not a whole number");
  }
  return value;
}

/// The shard a report's provenance names, and the provenance without it.
inline std::pair<Shard, Provenance> shard_of(const Provenance& provenance, const std::string& source) {
  Shard shard;
  Provenance rest;
  bool has_shard = false, has_units = false;
  for (const auto& [key, value] : provenance) {
    if (key == "shard") {
      const std::size_t slash = value.find('/');
      if (slash == std::string::npos) throw_io_error(source, "provenance \"shard\" = \"", value, "\" is not i/N");
      shard.index = parse_count(value.substr(0, slash), source, "shard");
      shard.count = parse_count(value.substr(slash + 1), source, "shard");
      has_shard = true;
    } else if (key == "units") {
      shard.units = parse_count(value, source, "units");
      has_units = true;
    } else {
      rest.emplace_back(key, value);
    }
  }
  if (!has_shard || !has_units) throw_io_error(source, "is not a shard's report (its provenance has no shard/units)");
  if (shard.count == 0 || shard.index >= shard.count) {
    throw_io_error(source, "names shard ", shard.index, "/", shard.count, ", which does not exist");
  }
  return {shard, rest};
}

/// Everything two shards of one analysis must share, as text: version, precision, grouping, options.
inline std::string analysis_identity(const ModelReport& report) {
  std::string options;
  write_json(options, report.options);
  return report.attnspec_version + "|" + report.scalar + "|" + to_string(report.grouping) + "|" + options;
}

}  // namespace detail

/// One shard's report as read back (read_json_report), with the file it came from for errors.
struct ShardReport {
  std::string source;
  ModelReport report;
  Provenance provenance;
};

/// Merges the reports of shards 0..N-1 of one analysis into the report one run writes, and its provenance (the
/// shards' own, without "shard" and "units"). Refused, naming the file: a missing or repeated shard, shards of
/// different counts or unit totals, a shard with the wrong number of heads, and shards of different analyses
/// (attnspec version, precision, grouping, options or provenance — the checkpoint, say — differ).
inline std::pair<ModelReport, Provenance> merge_report_shards(const std::vector<ShardReport>& shards) {
  if (shards.empty()) attnspec::detail::throw_invalid_argument("merge_report_shards", "no shards to merge");
  std::vector<const ShardReport*> by_index;
  Shard first;
  Provenance common;
  std::string identity;
  for (const ShardReport& part : shards) {
    const auto [shard, rest] = detail::shard_of(part.provenance, part.source);
    if (by_index.empty()) {
      if (shard.count != shards.size()) {
        attnspec::detail::throw_invalid_argument("merge_report_shards", part.source, " is one of ", shard.count,
                                                 " shards, but ", shards.size(), " reports were given");
      }
      first = shard;
      common = rest;
      identity = detail::analysis_identity(part.report);
      by_index.assign(shard.count, nullptr);
    }
    if (shard.count != first.count || shard.units != first.units) {
      detail::throw_io_error(part.source, "is shard ", shard.index, "/", shard.count, " of ", shard.units,
                             " units, but ", shards.front().source, " is one of ", first.count, " shards of ",
                             first.units, " units");
    }
    if (rest != common || detail::analysis_identity(part.report) != identity) {
      detail::throw_io_error(part.source, "comes from another analysis than ", shards.front().source,
                             " (checkpoint, options, precision, grouping or attnspec version differ)");
    }
    if (by_index[shard.index] != nullptr) {
      detail::throw_io_error(part.source, "repeats shard ", shard.index, "/", shard.count, " of ",
                             by_index[shard.index]->source);
    }
    const std::size_t expected = (first.units - std::min(first.units, shard.index) + shard.count - 1) / shard.count;
    if (part.report.heads.size() != expected) {
      detail::throw_io_error(part.source, "holds ", part.report.heads.size(), " units, but shard ", shard.index, "/",
                             shard.count, " of ", shard.units, " units has ", expected);
    }
    by_index[shard.index] = &part;
  }
  for (std::size_t index = 0; index < by_index.size(); ++index) {
    if (by_index[index] == nullptr) {
      attnspec::detail::throw_invalid_argument("merge_report_shards", "shard ", index, "/", first.count,
                                               " is missing (", shards.size(), " of ", first.count, " given)");
    }
  }
  ModelReport merged = by_index.front()->report;
  merged.heads.assign(first.units, HeadReport{});
  std::set<std::tuple<Eigen::Index, Eigen::Index, Eigen::Index>> seen;
  for (std::size_t index = 0; index < by_index.size(); ++index) {
    const auto& heads = by_index[index]->report.heads;
    for (std::size_t k = 0; k < heads.size(); ++k) {
      const HeadId& id = heads[k].id;
      if (!seen.emplace(id.layer, id.first_query_head, id.query_heads).second) {
        detail::throw_io_error(by_index[index]->source, "holds layer ", id.layer, ", head ", id.head(),
                               " a second time");
      }
      merged.heads[index + k * first.count] = heads[k];
    }
  }
  summarise_layers(merged);
  return {std::move(merged), common};
}

}  // namespace attnspec::io
