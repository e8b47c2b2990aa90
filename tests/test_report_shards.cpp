// report.json read back (io::read_json_report) and the shards of one analysis merged into the report one run
// writes (io::merge_report_shards): exact round trips, strict refusals.
#include <attnspec/io/report_reader.hpp>
#include <attnspec/io/report_shards.hpp>

#include "test_support.hpp"

using namespace attnspec;
using namespace attnspec_test;

namespace {

// Heads with every part a report holds (field, M, gap, causal field, stability at three ranks); the layer-1
// heads have no weights, so their gaps are absent and some spreads are NaN. Each head draws from its own generator:
// the pipeline loads heads on several threads at once.
HeadInput<double> synthetic_head(const HeadId& id) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(7 + id.layer * 8 + id.first_query_head));
  const Eigen::Index n = 40, d = 8, model_dim = 20;
  const Eigen::MatrixXd basis = gaussian(n, 2, rng);
  HeadInput<double> input;
  input.queries = basis * gaussian(2, d, rng) + 0.01 * gaussian(n, d, rng);
  input.keys = basis * gaussian(2, d, rng) + 0.01 * gaussian(n, d, rng);
  if (id.layer == 0) {
    input.query_weight = gaussian(d, model_dim, rng);
    input.key_weight = gaussian(d, model_dim, rng);
  }
  return input;
}

PipelineOptions every_part() {
  PipelineOptions options;
  options.causal_field = true;
  options.stability_ranks = {1, 3};
  options.threads = 2;
  return options;
}

io::ShardReport shard_report(const std::vector<HeadId>& units, const io::Shard& shard, const PipelineOptions& options,
                             const std::string& checkpoint = "model") {
  const ModelReport part = analyse_model<double>(io::shard_units(units, shard), synthetic_head, options);
  const std::string text = io::json_report(part, io::shard_provenance({{"checkpoint", checkpoint}}, shard));
  io::ShardReport read;
  read.source = "shard" + std::to_string(shard.index) + "/report.json";
  read.report = io::read_json_report(text, read.source, &read.provenance);
  return read;
}

}  // namespace

TEST_CASE("report.json reads back into the report that wrote it", "[reports][reader]") {
  const ModelReport report = analyse_model<double>(model_heads(2, 3, 3), synthetic_head, every_part());
  const io::Provenance provenance = {{"checkpoint", "model"}, {"text", "caf\xc3\xa9"}};
  const std::string text = io::json_report(report, provenance);
  io::Provenance read_provenance;
  const ModelReport read = io::read_json_report(text, "report.json", &read_provenance);
  CHECK(read_provenance == provenance);
  CHECK(io::json_report(read, read_provenance) == text);
  CHECK(io::csv_report(read) == io::csv_report(report));
  REQUIRE(read.heads.size() == 6);
  CHECK(read.heads[4].id.first_query_head == 1);
  CHECK(read.heads[0].field->singular_values == report.heads[0].field->singular_values);
  CHECK(!read.heads[4].gap);
  CHECK(std::isnan(read.layers[1].interaction_rank.median));
}

TEST_CASE("report.json is read strictly", "[reports][reader][errors]") {
  const ModelReport report = analyse_model<double>(model_heads(1, 1, 1), synthetic_head, every_part());
  const std::string text = io::json_report(report);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string changed = text;
    const std::size_t at = changed.find(from);
    REQUIRE(at != std::string::npos);
    return changed.replace(at, from.size(), to);
  };
  require_io_error([&] { (void)io::read_json_report(with("\"format_version\":2", "\"format_version\":1"), "r"); },
                   {"r: has format_version 1; this attnspec reads version 2"});
  require_io_error([&] { (void)io::read_json_report(with("\"scalar\":\"double\",", ""), "r"); },
                   {"report at byte", "has no \"scalar\""});
  require_io_error([&] { (void)io::read_json_report(with("\"stable_rank\":", "\"stable_ranks\":"), "r"); },
                   {"has no \"stable_rank\""});
  require_io_error([&] { (void)io::read_json_report(with("\"causal\":true", "\"causal\":1"), "r"); },
                   {"report.options.causal at byte", "must be true or false"});
  require_io_error(
      [&] { (void)io::read_json_report(with("\"grouping\":\"per_query_head\"", "\"grouping\":\"all\""), "r"); },
      {"report.grouping", "must be one of the names"});
  require_io_error([&] { (void)io::read_json_report(with("\"scalar\":", "\"colour\":\"red\",\"scalar\":"), "r"); },
                   {"report has an unknown field \"colour\""});
  require_io_error([&] { (void)io::read_json_report(text.substr(0, text.size() / 2), "r"); }, {"r"});
  require_io_error([&] { (void)io::read_json_report("{\"format\":\"other\"}", "r"); }, {"is not an attnspec report"});
}

TEST_CASE("shards of one analysis merge into the report one run writes", "[reports][shards]") {
  const auto units = model_heads(2, 4, 2);  // 8 units: shards of 3, 3 and 2
  const std::string whole =
      io::json_report(analyse_model<double>(units, synthetic_head, every_part()), {{"checkpoint", "model"}});
  std::vector<io::ShardReport> shards;
  const std::size_t order[] = {2, 0, 1};  // the merge takes shards in any order
  for (std::size_t index : order) shards.push_back(shard_report(units, {index, 3, units.size()}, every_part()));
  CHECK(shards[0].report.heads.size() == 2);
  const auto [merged, provenance] = io::merge_report_shards(shards);
  CHECK(io::json_report(merged, provenance) == whole);

  require_invalid_argument(
      [&] {
        (void)io::merge_report_shards({shards[0], shards[1]});
      },
      {"is one of 3 shards, but 2 reports were given"});
  require_io_error(
      [&] {
        (void)io::merge_report_shards({shards[0], shards[1], shards[1]});
      },
      {"shard0/report.json", "repeats shard 0/3 of shard0/report.json"});
  PipelineOptions other = every_part();
  other.tau = 0.8;
  require_io_error(
      [&] {
        (void)io::merge_report_shards({shards[0], shards[1], shard_report(units, {1, 3, 8}, other)});
      },
      {"shard1/report.json: comes from another analysis than shard2/report.json"});
  require_io_error(
      [&] {
        (void)io::merge_report_shards({shards[0], shards[1], shard_report(units, {1, 3, 8}, every_part(), "other")});
      },
      {"comes from another analysis"});
  io::ShardReport short_shard = shards[1];
  short_shard.report.heads.pop_back();
  require_io_error(
      [&] {
        (void)io::merge_report_shards({shards[0], short_shard, shards[2]});
      },
      {"holds 2 units, but shard 0/3 of 8 units has 3"});
  io::ShardReport unmarked = shards[1];
  unmarked.provenance = {{"checkpoint", "model"}};
  require_io_error(
      [&] {
        (void)io::merge_report_shards({shards[0], unmarked, shards[2]});
      },
      {"is not a shard's report"});
  require_invalid_argument([&] { (void)io::shard_units(units, {3, 3, 8}); }, {"shard 3/3 does not exist"});
}
