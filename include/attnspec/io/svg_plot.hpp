// attnspec: the picture of a report, four panels. Top: every head's cumulative variance of the field E~ and of
// the interaction matrix M against k, and their singular values' decay σ_k/σ_1, both on a logarithmic k-axis (E~
// is settled by k ≈ 10 while M climbs to d) with the per-k median bold. Bottom: a layer × head map of k@τ for E~,
// M and their ratio, and the stability of the cut — certified and measured worst-row TV against k.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../pipeline.hpp"
#include "classic_numbers.hpp"
#include "write_file.hpp"

namespace attnspec::io {

struct SvgPlotOptions {
  std::string title = "Logit energy field Ẽ against interaction matrix M";
  int width = 1160, height = 900;
};

namespace detail {

// Pointwise median over curves at k = 0..length-1; a curve that ends early holds its last value.
inline std::vector<double> median_curve(const std::vector<const Eigen::VectorXd*>& curves, Eigen::Index length) {
  std::vector<double> median(static_cast<std::size_t>(length), 1.0);
  std::vector<double> column;
  for (Eigen::Index k = 0; k < length; ++k) {
    column.clear();
    for (const Eigen::VectorXd* curve : curves) {
      if (curve->size() > 0) column.push_back((*curve)(std::min(k, curve->size() - 1)));
    }
    if (column.empty()) continue;
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

// A number as a short label: "12", "0.5", "1e-06".
inline std::string short_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// One axis: data [low, high] onto pixels [from, to], linear or logarithmic, with round ticks.
struct Axis {
  double low, high, from, to;
  bool logarithmic;

  double operator()(double value) const {
    const double t = logarithmic ? (std::log10(value) - std::log10(low)) / (std::log10(high) - std::log10(low))
                                 : (value - low) / (high - low);
    return from + (to - from) * std::clamp(t, -0.02, 1.02);
  }

  // 1, 2, 5 per decade on a log axis; about six steps of 1, 2 or 5 × 10^j on a linear one.
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (logarithmic) {
      // Past three decades only the powers of ten, so the labels stay apart.
      const bool decades_only = std::log10(high / low) > 3;
      const double factors[] = {1.0, 2.0, 5.0};
      for (double decade = std::pow(10.0, std::floor(std::log10(low))); decade <= high * 1.0001; decade *= 10) {
        for (const double factor : factors) {
          if (decades_only && factor != 1.0) continue;
          const double tick = decade * factor;
          if (tick >= low * 0.9999 && tick <= high * 1.0001) out.push_back(tick);
        }
      }
      return out;
    }
    const double raw = (high - low) / 6, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10 * magnitude;
    for (const double factor : {1.0, 2.0, 5.0}) {
      if (magnitude * factor >= raw) {
        step = magnitude * factor;
        break;
      }
    }
    for (double tick = std::ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) out.push_back(tick);
    return out;
  }
};

class SvgCanvas {
 public:
  void raw(const std::string& text) { m_svg += text; }
  void line(double x1, double y1, double x2, double y2, const char* colour, double width = 1,
            const char* dash = nullptr) {
    printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"%s%s%s/>\n", x1,
           y1, x2, y2, colour, width, dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
  }
  void rect(double x, double y, double w, double h, const std::string& fill, const char* stroke = "none") {
    printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>\n", x, y, w, h,
           fill.c_str(), stroke);
  }
  void text(double x, double y, const std::string& content, int size = 12, const char* anchor = "start",
            const char* extra = "") {
    printf("<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\"%s>", x, y, size, anchor, extra);
    m_svg += escape_xml(content) + "</text>\n";
  }
  void circle(double x, double y, double r, const char* fill, const char* stroke) {
    printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>\n", x, y, r, fill, stroke);
  }
  // `points` as (x, y) pixels; `kind` becomes the class, which tests and stylesheets select on.
  void polyline(const std::vector<std::pair<double, double>>& points, const char* colour, double width, double opacity,
                const char* kind) {
    printf("<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-opacity=\"%.2f\" points=\"",
           kind, colour, width, opacity);
    for (std::size_t i = 0; i < points.size(); ++i)
      printf("%s%.1f,%.1f", i ? " " : "", points[i].first, points[i].second);
    m_svg += "\"/>\n";
  }
  const std::string& str() const { return m_svg; }

 private:
  template <class... Args>
  void printf(const char* format, Args... args) {
    char buffer[512];
    std::snprintf(buffer, sizeof buffer, format, args...);
    m_svg += buffer;
  }
  std::string m_svg;
};

constexpr const char* field_colour = "#1f77b4";
constexpr const char* interaction_colour = "#d95f02";

// A panel's frame, grid, tick labels and axis titles.
inline void draw_axes(SvgCanvas& canvas, const Axis& x, const Axis& y, const std::string& title,
                      const std::string& x_title, const std::string& y_title) {
  for (const double tick : y.ticks()) {
    canvas.line(x.from, y(tick), x.to, y(tick), "#e6e6e6");
    canvas.text(x.from - 6, y(tick) + 4, short_number(tick), 11, "end");
  }
  for (const double tick : x.ticks()) {
    canvas.line(x(tick), y.to, x(tick), y.from, "#e6e6e6");
    canvas.text(x(tick), y.from + 16, short_number(tick), 11, "middle");
  }
  canvas.rect(x.from, y.to, x.to - x.from, y.from - y.to, "none", "#333");
  canvas.text((x.from + x.to) / 2, y.to - 10, title, 14, "middle", " font-weight=\"bold\"");
  canvas.text((x.from + x.to) / 2, y.from + 34, x_title, 12, "middle");
  char transform[96];
  std::snprintf(transform, sizeof transform, " transform=\"rotate(-90 %.1f %.1f)\"", x.from - 50, (y.from + y.to) / 2);
  canvas.text(x.from - 50, (y.from + y.to) / 2, y_title, 12, "middle", transform);
}

// A legend box sized to its entries (about 6.6 px per character at 12 px), in the panel's lower right corner, or
// its lower left where curves fall to the right.
inline void draw_legend(SvgCanvas& canvas, const Axis& x, const Axis& y,
                        const std::vector<std::pair<const char*, std::string>>& entries, bool lower_left = false) {
  std::size_t longest = 0;
  for (const auto& entry : entries) longest = std::max(longest, entry.second.size());
  const double width = 50 + 6.6 * static_cast<double>(longest), height = 10 + 18 * static_cast<double>(entries.size());
  const double left = lower_left ? x.from + 8 : x.to - width - 8, upper = y.from - height - 8;
  canvas.raw("<rect x=\"" + short_number(left) + "\" y=\"" + short_number(upper) + "\" width=\"" + short_number(width) +
             "\" height=\"" + short_number(height) + "\" fill=\"white\" fill-opacity=\"0.92\" stroke=\"#999\"/>\n");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const double row = upper + 14 + 18 * static_cast<double>(i);
    canvas.line(left + 8, row - 4, left + 32, row - 4, entries[i].first, 3);
    canvas.text(left + 38, row, entries[i].second, 12);
  }
}

using Curves = std::vector<const Eigen::VectorXd*>;

// Every head's curve thin and the per-k median bold, for E~ and for M, from index first_k on; values below the
// y-axis' low end are drawn at it. `kind` names the panel in the polylines' class.
inline void draw_curves(SvgCanvas& canvas, const Axis& x, const Axis& y, const Curves& field, const Curves& interaction,
                        Eigen::Index first_k, const std::string& kind) {
  const std::size_t heads = std::max(field.size(), interaction.size());
  const double opacity = std::clamp(6.0 / std::sqrt(static_cast<double>(heads) + 1.0), 0.06, 0.6);
  auto points_of = [&](const double* values, Eigen::Index length) {
    std::vector<std::pair<double, double>> points;
    for (Eigen::Index k = first_k; k < length; ++k)
      points.emplace_back(x(static_cast<double>(k)), y(std::max(values[k], y.low)));
    return points;
  };
  for (const auto& [curves, colour, name] :
       {std::tuple{&interaction, interaction_colour, "interaction-"}, std::tuple{&field, field_colour, "field-"}}) {
    if (curves->empty()) continue;
    const std::string head_kind = name + kind;
    Eigen::Index length = 0;
    for (const Eigen::VectorXd* curve : *curves) {
      canvas.polyline(points_of(curve->data(), curve->size()), colour, 1.0, opacity, head_kind.c_str());
      length = std::max(length, curve->size());
    }
    const std::vector<double> median = median_curve(*curves, length);
    canvas.polyline(points_of(median.data(), length), colour, 3.0, 1.0, (head_kind + "-median").c_str());
  }
}

// σ_k/σ_1 at k = 1..r (index k-1 of the singular values), kept per spectrum so the curves can point at it.
inline std::vector<Eigen::VectorXd> relative_decay(const ModelReport& report, bool field) {
  std::vector<Eigen::VectorXd> out;
  for (const HeadReport& head : report.heads) {
    const std::optional<SpectrumSummary>& spectrum = field ? head.field : head.interaction;
    if (!spectrum || spectrum->singular_values.size() == 0) continue;
    const Eigen::VectorXd& sigma = spectrum->singular_values;
    Eigen::VectorXd decay(sigma.size() + 1);
    decay(0) = 1;  // k = 0 is not drawn; it keeps index k at σ_k
    decay.tail(sigma.size()) = sigma(0) > 0 ? Eigen::VectorXd(sigma / sigma(0)) : Eigen::VectorXd::Zero(sigma.size());
    out.push_back(decay);
  }
  return out;
}

// Sequential colour for t in [0, 1]: pale yellow through green to dark blue (readable in grey as well).
inline std::string ramp_colour(double t) {
  static const double stops[][3] = {{255, 247, 188}, {127, 205, 187}, {44, 127, 184}, {37, 52, 148}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 3;
  const int i = std::min(2, static_cast<int>(t));
  const double f = t - i;
  char text[16];
  std::snprintf(text, sizeof text, "#%02x%02x%02x", static_cast<int>(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])),
                static_cast<int>(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])),
                static_cast<int>(stops[i][2] + f * (stops[i + 1][2] - stops[i][2])));
  return text;
}

// A layer × head grid of one figure per unit, coloured from its smallest to its largest value, with a scale. Units
// that share a cell (one head on several texts) show their median. Layer labels only when `label_layers`.
inline void draw_map(SvgCanvas& canvas, const ModelReport& report, double left, double top, double width, double height,
                     const std::string& title, const std::function<double(const HeadReport&)>& value,
                     bool label_layers) {
  std::vector<Eigen::Index> layers;
  Eigen::Index units_per_layer = 1;
  for (const HeadReport& head : report.heads) {
    if (std::find(layers.begin(), layers.end(), head.id.layer) == layers.end()) layers.push_back(head.id.layer);
    units_per_layer = std::max(units_per_layer, head.id.head() + 1);
  }
  std::vector<std::vector<double>> cells(layers.size() * static_cast<std::size_t>(units_per_layer));
  for (const HeadReport& head : report.heads) {
    const auto row = static_cast<std::size_t>(std::find(layers.begin(), layers.end(), head.id.layer) - layers.begin());
    const double v = value(head);
    if (std::isfinite(v))
      cells[row * static_cast<std::size_t>(units_per_layer) + static_cast<std::size_t>(head.id.head())].push_back(v);
  }
  std::vector<double> medians(cells.size(), std::numeric_limits<double>::quiet_NaN());
  double low = INFINITY, high = -INFINITY;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (cells[i].empty()) continue;
    medians[i] = Spread::of(cells[i]).median;
    low = std::min(low, medians[i]);
    high = std::max(high, medians[i]);
  }
  canvas.text(left + width / 2, top - 8, title, 13, "middle", " font-weight=\"bold\"");
  const double grid_height = height - 34;
  const double cell_w = width / static_cast<double>(units_per_layer);
  const double cell_h = grid_height / static_cast<double>(std::max<std::size_t>(layers.size(), 1));
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const double row = static_cast<double>(i / static_cast<std::size_t>(units_per_layer));
    const double column = static_cast<double>(i % static_cast<std::size_t>(units_per_layer));
    const double v = medians[i];
    canvas.rect(left + cell_w * column, top + cell_h * row, cell_w, cell_h,
                std::isfinite(v) ? ramp_colour(high > low ? (v - low) / (high - low) : 0.5) : "#ffffff");
  }
  canvas.rect(left, top, width, grid_height, "none", "#333");
  if (label_layers && !layers.empty()) {
    canvas.text(left - 4, top + 10, "layer " + std::to_string(layers.front()), 10, "end");
    canvas.text(left - 4, top + grid_height, std::to_string(layers.back()), 10, "end");
  }
  canvas.text(left, top + grid_height + 12, "head 0", 10);
  canvas.text(left + width, top + grid_height + 12, std::to_string(units_per_layer - 1), 10, "end");
  // Scale: the colour ramp from the smallest to the largest value.
  const double scale_top = top + grid_height + 18;
  for (int i = 0; i < 20; ++i) {
    canvas.rect(left + width * i / 20.0, scale_top, width / 20.0 + 0.5, 8, ramp_colour(i / 19.0));
  }
  if (std::isfinite(low)) {
    canvas.text(left, scale_top + 20, short_number(std::round(low * 10) / 10), 10);
    canvas.text(left + width, scale_top + 20, short_number(std::round(high * 10) / 10), 10, "end");
  }
}

}  // namespace detail

/// The report as one SVG document of four panels (see the top of this header).
inline std::string svg_plot(const ModelReport& report, const SvgPlotOptions& options = {}) {
  const detail::ClassicNumbers classic;
  using detail::Axis;
  detail::SvgCanvas canvas;
  const double width = options.width, height = options.height;
  char header[256];
  std::snprintf(header, sizeof header,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"Helvetica, Arial, sans-serif\">\n",
                options.width, options.height, options.width, options.height);
  canvas.raw(header);
  canvas.rect(0, 0, width, height, "white");
  canvas.text(width / 2, 28, options.title, 18, "middle");

  detail::Curves field_variance, interaction_variance;
  Eigen::Index longest = 2;
  for (const HeadReport& head : report.heads) {
    if (head.field) field_variance.push_back(&head.field->cumulative_variance);
    if (head.interaction) interaction_variance.push_back(&head.interaction->cumulative_variance);
    if (head.field) longest = std::max(longest, head.field->singular_values.size());
    if (head.interaction) longest = std::max(longest, head.interaction->singular_values.size());
  }
  const std::string tau = detail::short_number(report.options.tau);
  const double panel_w = (width - 240) / 2, panel_h = (height - 250) / 2, row_1 = 72, row_2 = row_1 + panel_h + 112;
  const double col_1 = 80, col_2 = col_1 + panel_w + 90;

  // 1. Cumulative variance against k on a log axis: E~ rises within the first few k, M over all d.
  const Axis k_left{1, static_cast<double>(longest), col_1, col_1 + panel_w, true};
  const Axis variance{0, 1, row_1 + panel_h, row_1, false};
  detail::draw_axes(canvas, k_left, variance, "Cumulative variance", "number of components k (log scale)",
                    "cumulative variance fraction");
  canvas.line(k_left.from, variance(report.options.tau), k_left.to, variance(report.options.tau), "#555", 1, "6 4");
  canvas.text(k_left.to - 6, variance(report.options.tau) + 14, "τ = " + tau, 11, "end", " fill=\"#555\"");
  detail::draw_curves(canvas, k_left, variance, field_variance, interaction_variance, 1, "cumulative");
  auto label = [&](const char* name, const Spread& ranks, std::size_t heads) {
    return std::string(name) + ": " + std::to_string(heads) + " heads" +
           (ranks.count ? ", median k@" + tau + " = " + detail::short_number(ranks.median) : std::string());
  };
  detail::draw_legend(
      canvas, k_left, variance,
      {{detail::field_colour, label("Ẽ", report.overall.field_rank, field_variance.size())},
       {detail::interaction_colour, label("M", report.overall.interaction_rank, interaction_variance.size())},
       {"#333", "bold: median over heads"}});

  // 2. The singular values' decay σ_k/σ_1, log-log.
  const std::vector<Eigen::VectorXd> field_decay = detail::relative_decay(report, true),
                                     interaction_decay = detail::relative_decay(report, false);
  detail::Curves field_decay_curves, interaction_decay_curves;
  double smallest = 1;
  for (const auto& [decays, curves] :
       {std::pair{&field_decay, &field_decay_curves}, {&interaction_decay, &interaction_decay_curves}}) {
    for (const Eigen::VectorXd& decay : *decays) {
      curves->push_back(&decay);
      for (Eigen::Index k = 1; k < decay.size(); ++k) {
        if (decay(k) > 0) smallest = std::min(smallest, decay(k));
      }
    }
  }
  const double lowest = std::pow(10.0, std::max(-12.0, std::floor(std::log10(smallest))));
  const Axis k_right{1, static_cast<double>(longest), col_2, col_2 + panel_w, true};
  const Axis decay{std::min(lowest, 0.1), 1, row_1 + panel_h, row_1, true};
  detail::draw_axes(canvas, k_right, decay, "Singular-value decay", "k (log scale)", "σ_k / σ_1 (log scale)");
  detail::draw_curves(canvas, k_right, decay, field_decay_curves, interaction_decay_curves, 1, "decay");
  detail::draw_legend(canvas, k_right, decay, {{detail::field_colour, "Ẽ"}, {detail::interaction_colour, "M"}}, true);

  // 3. Where in the model: k@τ per layer and head for E~, M and their ratio.
  const double map_w = (panel_w - 2 * 28) / 3;
  const double none = std::numeric_limits<double>::quiet_NaN();
  const std::pair<std::string, std::function<double(const HeadReport&)>> maps[] = {
      {"k@" + tau + " of Ẽ",
       [none](const HeadReport& h) { return h.field ? static_cast<double>(h.field->rank_at_tau) : none; }},
      {"k@" + tau + " of M",
       [none](const HeadReport& h) { return h.interaction ? static_cast<double>(h.interaction->rank_at_tau) : none; }},
      {"M over Ẽ", [none](const HeadReport& h) { return h.gap ? h.gap->rank_at_tau : none; }}};
  for (int i = 0; i < 3; ++i) {
    detail::draw_map(canvas, report, col_1 + i * (map_w + 28), row_2 + 14, map_w, panel_h - 14, maps[i].first,
                     maps[i].second, i == 0);
  }

  // 4. Stability of the cut: certified and measured worst-row TV at each evaluated k, one mark per head and rank.
  Eigen::Index largest_k = 1;
  double largest_tv = 0.01;
  for (const HeadReport& head : report.heads) {
    for (const StabilityAtRank& at : head.stability) {
      largest_k = std::max(largest_k, at.k);
      if (std::isfinite(at.certified_max_tv)) largest_tv = std::max(largest_tv, at.certified_max_tv);
    }
  }
  const Axis k_stability{0, static_cast<double>(largest_k + 1), col_2, col_2 + panel_w, false};
  const Axis tv{0, std::min(1.0, largest_tv * 1.1), row_2 + panel_h, row_2, false};
  detail::draw_axes(canvas, k_stability, tv, "Stability of the rank-k cut", "rank k of Ẽ", "worst-row total variation");
  std::size_t marks = 0;
  for (const HeadReport& head : report.heads) {
    for (const StabilityAtRank& at : head.stability) {
      const double x = k_stability(static_cast<double>(at.k));
      canvas.circle(x - 2, tv(at.certified_max_tv), 3, "none", detail::interaction_colour);
      canvas.circle(x + 2, tv(at.measured_max_tv), 2.5, detail::field_colour, "none");
      ++marks;
    }
  }
  if (marks == 0) {
    canvas.text((k_stability.from + k_stability.to) / 2, (tv.from + tv.to) / 2, "no stability in this report", 13,
                "middle", " fill=\"#777\"");
  } else {
    // The key under the axis title, where no mark can be.
    const double key_y = tv.from + 54, key_x = (k_stability.from + k_stability.to) / 2;
    canvas.circle(key_x - 150, key_y - 4, 3, "none", detail::interaction_colour);
    canvas.text(key_x - 142, key_y, "certified bound (a posteriori)", 12);
    canvas.circle(key_x + 60, key_y - 4, 2.5, detail::field_colour, "none");
    canvas.text(key_x + 68, key_y, "measured", 12);
  }
  canvas.raw("</svg>\n");
  return canvas.str();
}

inline void write_svg_plot(const std::string& path, const ModelReport& report, const SvgPlotOptions& options = {}) {
  write_file_atomically(path, svg_plot(report, options));
}

}  // namespace attnspec::io
