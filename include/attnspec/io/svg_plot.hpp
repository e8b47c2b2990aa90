// attnspec: the picture of the gap — cumulative-variance curves of every head's field E~ against its
// interaction matrix M, with the per-component median of each family drawn bold and the τ line dashed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../pipeline.hpp"
#include "write_file.hpp"

namespace attnspec::io {

struct SvgPlotOptions {
  std::string title = "Cumulative variance: logit energy field Ẽ against interaction matrix M";
  int width = 880, height = 540;
};

namespace detail {

// Pointwise median over curves of cumulative variance at k = 0..length-1; a curve that ends early stays at 1.
inline std::vector<double> median_curve(const std::vector<const Eigen::VectorXd*>& curves, Eigen::Index length) {
  std::vector<double> median(static_cast<std::size_t>(length), 1.0);
  std::vector<double> column;
  for (Eigen::Index k = 0; k < length; ++k) {
    column.clear();
    for (const Eigen::VectorXd* curve : curves) column.push_back(k < curve->size() ? (*curve)(k) : 1.0);
    std::sort(column.begin(), column.end());
    const std::size_t middle = column.size() / 2;
    median[static_cast<std::size_t>(k)] =
        column.size() % 2 ? column[middle] : 0.5 * (column[middle - 1] + column[middle]);
  }
  return median;
}

inline std::string escape_xml(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace detail

/// The plot as an SVG document.
inline std::string svg_plot(const ModelReport& report, const SvgPlotOptions& options = {}) {
  std::vector<const Eigen::VectorXd*> field_curves, interaction_curves;
  Eigen::Index longest = 1;
  for (const HeadReport& head : report.heads) {
    if (head.field) field_curves.push_back(&head.field->cumulative_variance);
    if (head.interaction) interaction_curves.push_back(&head.interaction->cumulative_variance);
  }
  for (const auto* curve : field_curves) longest = std::max(longest, curve->size() - 1);
  for (const auto* curve : interaction_curves) longest = std::max(longest, curve->size() - 1);

  const double left = 78, right = 24, top = 56, bottom = 64;
  const double plot_w = options.width - left - right, plot_h = options.height - top - bottom;
  auto x_of = [&](double k) { return left + plot_w * k / static_cast<double>(longest); };
  auto y_of = [&](double fraction) { return top + plot_h * (1.0 - fraction); };
  char buffer[256];
  std::string svg;
  auto add = [&svg](const char* text) { svg += text; };

  std::snprintf(buffer, sizeof buffer,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"Helvetica, Arial, sans-serif\">\n",
                options.width, options.height, options.width, options.height);
  add(buffer);
  std::snprintf(buffer, sizeof buffer, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", options.width,
                options.height);
  add(buffer);
  svg += "<text x=\"" + std::to_string(options.width / 2) + "\" y=\"30\" text-anchor=\"middle\" font-size=\"18\">" +
         detail::escape_xml(options.title) + "</text>\n";

  // Grid and ticks: y every 0.1, x at about eight round steps.
  const double raw_step = static_cast<double>(longest) / 8.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(std::max(raw_step, 1.0))));
  double step = magnitude;
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (magnitude * factor >= raw_step) {
      step = magnitude * factor;
      break;
    }
  }
  for (int i = 0; i <= 10; ++i) {
    const double y = y_of(i / 10.0);
    std::snprintf(buffer, sizeof buffer,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"13\">%.1f</text>\n",
                  left, y, left + plot_w, y, left - 8, y + 4, i / 10.0);
    add(buffer);
  }
  for (double k = 0; k <= static_cast<double>(longest) + 1e-9; k += step) {
    const double x = x_of(k);
    std::snprintf(buffer, sizeof buffer,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">%g</text>\n",
                  x, top, x, top + plot_h, x, top + plot_h + 20, k);
    add(buffer);
  }
  std::snprintf(buffer, sizeof buffer,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", left,
                top, plot_w, plot_h);
  add(buffer);
  std::snprintf(buffer, sizeof buffer,
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"15\">number of components k</text>\n"
                "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"15\">"
                "cumulative variance fraction</text>\n",
                left + plot_w / 2, options.height - 18, top + plot_h / 2);
  add(buffer);

  // τ line.
  const double tau_y = y_of(report.options.tau);
  std::snprintf(buffer, sizeof buffer,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"13\" fill=\"#555\">τ = %g</text>\n",
                left, tau_y, left + plot_w, tau_y, left + plot_w - 6, tau_y + 16, report.options.tau);
  add(buffer);

  auto polyline = [&](const std::vector<double>& curve, const char* colour, double width, double opacity) {
    svg += "<polyline fill=\"none\" stroke=\"";
    svg += colour;
    std::snprintf(buffer, sizeof buffer, "\" stroke-width=\"%.1f\" stroke-opacity=\"%.2f\" points=\"", width, opacity);
    add(buffer);
    for (std::size_t k = 0; k < curve.size(); ++k) {
      std::snprintf(buffer, sizeof buffer, "%s%.1f,%.1f", k ? " " : "", x_of(static_cast<double>(k)), y_of(curve[k]));
      add(buffer);
    }
    svg += "\"/>\n";
  };
  const char* field_colour = "#1f77b4";
  const char* interaction_colour = "#d95f02";
  const double thin_opacity = std::clamp(6.0 / std::sqrt(static_cast<double>(report.heads.size()) + 1.0), 0.08, 0.6);
  for (const auto& [curves, colour] :
       {std::pair{&interaction_curves, interaction_colour}, {&field_curves, field_colour}}) {
    for (const Eigen::VectorXd* curve : *curves)
      polyline({curve->data(), curve->data() + curve->size()}, colour, 1.0, thin_opacity);
  }
  for (const auto& [curves, colour] :
       {std::pair{&interaction_curves, interaction_colour}, {&field_curves, field_colour}}) {
    if (!curves->empty()) polyline(detail::median_curve(*curves, longest + 1), colour, 3.0, 1.0);
  }

  // Legend, bottom right, where both curves have already risen.
  const double legend_width = 420, legend_x = left + plot_w - legend_width - 12, legend_y = top + plot_h - 92;
  char buffer_for_median[64];
  std::snprintf(buffer, sizeof buffer,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"80\" fill=\"white\" fill-opacity=\"0.92\" "
                "stroke=\"#999\"/>\n",
                legend_x, legend_y, legend_width);
  add(buffer);
  auto median_rank = [&report, &buffer_for_median](const Spread& ranks) {
    std::snprintf(buffer_for_median, sizeof buffer_for_median, ", median k@%g = %g", report.options.tau, ranks.median);
    return ranks.count ? std::string(buffer_for_median) : std::string();
  };
  const std::pair<const char*, std::string> entries[] = {
      {field_colour, "field Ẽ = s·Q·K_c\u1D40 (" + std::to_string(field_curves.size()) + " heads" +
                         median_rank(report.overall.field_rank) + ")"},
      {interaction_colour, "interaction M = W_Q\u1D40·W_K (" + std::to_string(interaction_curves.size()) + " heads" +
                               median_rank(report.overall.interaction_rank) + ")"},
      {"#333", "bold: median per k; thin: one head"}};
  for (int i = 0; i < 3; ++i) {
    const double y = legend_y + 20 + 22 * i;
    std::snprintf(buffer, sizeof buffer,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%d\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">",
                  legend_x + 10, y, legend_x + 38, y, entries[i].first, i < 2 ? 3 : 1, legend_x + 46, y + 4);
    add(buffer);
    svg += detail::escape_xml(entries[i].second) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

inline void write_svg_plot(const std::string& path, const ModelReport& report, const SvgPlotOptions& options = {}) {
  write_file_atomically(path, svg_plot(report, options));
}

}  // namespace attnspec::io
