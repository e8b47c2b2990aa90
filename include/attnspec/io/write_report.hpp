// attnspec: a report published in one call — report.json, heads.csv, spectra.svg and summary.txt written together,
// all or nothing (write_report_set), into one folder.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "report_writers.hpp"
#include "svg_plot.hpp"
#include "write_file.hpp"

namespace attnspec::io {

/// Which files write_report publishes, and how the plot looks.
struct ReportFiles {
  bool json = true;     ///< report.json: everything (docs/report-format.md)
  bool csv = true;      ///< heads.csv: one row per head
  bool svg = true;      ///< spectra.svg: the plot
  bool summary = true;  ///< summary.txt: the paper-style table
  SvgPlotOptions plot;
};

/// The files of `report` as write_report names them, for a host that publishes them with files of its own
/// (write_report_set).
inline std::vector<std::pair<std::string, std::string>> report_files(const ModelReport& report,
                                                                     const Provenance& provenance = {},
                                                                     const ReportFiles& which = {}) {
  std::vector<std::pair<std::string, std::string>> files;
  if (which.json) files.emplace_back("report.json", json_report(report, provenance));
  if (which.csv) files.emplace_back("heads.csv", csv_report(report));
  if (which.svg) files.emplace_back("spectra.svg", svg_plot(report, which.plot));
  if (which.summary) files.emplace_back("summary.txt", summary_table(report));
  return files;
}

/// Publishes `report` as the folder `directory`, all or nothing: a reader sees the previous set or this one, never
/// a mix. An existing folder that attnspec did not write is refused, never replaced (write_report_set).
inline void write_report(const std::string& directory, const ModelReport& report, const Provenance& provenance = {},
                         const ReportFiles& which = {}) {
  write_report_set(directory, report_files(report, provenance, which));
}

}  // namespace attnspec::io
