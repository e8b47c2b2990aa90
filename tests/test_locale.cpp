// Reports and readers under a host's locale: a program that sets a comma-decimal C locale (as GUI toolkits do)
// and a C++ global locale that groups thousands must still read "0.5" as 0.5 and write JSON, CSV and SVG with
// '.' decimals and no grouping. ctest runs this file with LOCPATH pointing at a de_DE.UTF-8 locale it generates.
#include <attnspec/io/model_family.hpp>
#include <attnspec/io/report_writers.hpp>
#include <attnspec/io/svg_plot.hpp>
#include <attnspec/pipeline.hpp>

#include <clocale>
#include <cstdint>
#include <locale>
#include <string>

#include "test_support.hpp"

namespace {

// Comma decimals and '.' grouping for every C++ stream that uses the global locale.
struct GermanPunctuation : std::numpunct<char> {
  char do_decimal_point() const override { return ','; }
  char do_thousands_sep() const override { return '.'; }
  std::string do_grouping() const override { return "\3"; }
};

// Sets both locales for the test's duration and restores them.
struct HostLocale {
  std::string c_before = std::setlocale(LC_ALL, nullptr);
  std::locale cpp_before = std::locale::global(std::locale(std::locale::classic(), new GermanPunctuation));
  HostLocale() { REQUIRE(std::setlocale(LC_ALL, "de_DE.UTF-8") != nullptr); }
  ~HostLocale() {
    std::setlocale(LC_ALL, c_before.c_str());
    std::locale::global(cpp_before);
  }
};

}  // namespace

TEST_CASE("numbers are read and written the same under a comma-decimal host locale", "[locale]") {
  const HostLocale host;
  char probe[16];
  std::snprintf(probe, sizeof probe, "%.1f", 0.5);
  REQUIRE(std::string(probe) == "0,5");  // the locale really is in force

  const attnspec::io::ModelConfig config = attnspec::io::parse_model_config(
      R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_key_value_heads":2,
          "num_hidden_layers":2,"intermediate_size":128,"vocab_size":1024,"rms_norm_eps":1e-05,
          "rope_theta":500000.5})",
      "config.json");
  CHECK(config.norm_eps == 1e-05);
  REQUIRE(config.rotary);
  CHECK(config.rotary->theta == 500000.5);

  const auto units = attnspec::model_heads(1, 2, 2);
  // analyse_model calls the loader from several threads at once: each head seeds its own generator, so the data
  // are the same whatever the threads' order and no generator is shared.
  const attnspec::ModelReport report = attnspec::analyse_model(units, [](const attnspec::HeadId& id) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(5 + 16 * id.layer + id.head()));
    attnspec::HeadInput<double> input;
    input.queries = attnspec_test::gaussian(40, 8, rng);
    input.keys = attnspec_test::gaussian(40, 8, rng);
    input.query_weight = attnspec_test::gaussian(8, 1500, rng);
    input.key_weight = attnspec_test::gaussian(8, 1500, rng);
    return input;
  });
  const std::string json = attnspec::io::json_report(report);
  const attnspec::io::JsonValue parsed = attnspec::io::parse_json(json, "report");
  CHECK(attnspec::io::json_number(*parsed.find("options")->find("tau"), "report", "tau") == 0.9);
  CHECK(parsed.find("heads")->items[0].find("input_dim")->text == "1500");
  const std::string csv = attnspec::io::csv_report(report);
  CHECK(csv.find(",1500,") != std::string::npos);
  CHECK(csv.find(",1.500,") == std::string::npos);  // D = 1500 as a comma-locale "1.500" (a value may hold "1.500…")
  const std::string table = attnspec::io::summary_table(report);
  CHECK(table.find("k@0.9") != std::string::npos);
  CHECK(table.find("0,9") == std::string::npos);
  const std::string svg = attnspec::io::svg_plot(report);
  const std::size_t points = svg.find("points=\"");
  REQUIRE(points != std::string::npos);
  const std::string first_points = svg.substr(points + 8, svg.find('"', points + 8) - points - 8);
  // "x.y,x.y x.y,x.y": one comma per point, between its two coordinates.
  CHECK(std::count(first_points.begin(), first_points.end(), ',') ==
        std::count(first_points.begin(), first_points.end(), ' ') + 1);
  std::mt19937_64 rng(6);
  attnspec_test::require_invalid_argument(
      [&] {
        attnspec::LogitEnergyField<double>(attnspec_test::gaussian(1500, 4, rng), attnspec_test::gaussian(3, 5, rng));
      },
      {"1500x4"});
}
