#include <attnspec/io/json.hpp>
#include <attnspec/io/report_writers.hpp>
#include <attnspec/io/svg_plot.hpp>
#include <attnspec/pipeline.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_support.hpp"

using namespace attnspec;
using namespace attnspec_test;

namespace {

// A small model: per layer, hidden states of a few directions and random nn.Linear q/k weights.
struct ToyModel {
  Index layers = 3, query_heads = 6, kv_heads = 2, d = 8, model_dim = 40, seq = 48;
  std::vector<MatrixXd> states, q_proj, k_proj;

  explicit ToyModel(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (Index layer = 0; layer < layers; ++layer) {
      states.push_back(0.4 * low_rank_plus_noise(seq, model_dim, 3, 0.05, rng));
      q_proj.push_back(gaussian(query_heads * d, model_dim, rng) / std::sqrt(double(model_dim)));
      k_proj.push_back(gaussian(kv_heads * d, model_dim, rng) / std::sqrt(double(model_dim)));
    }
  }

  HeadInput<double> operator()(const HeadId& id) const {
    const auto layer = static_cast<std::size_t>(id.layer);
    HeadInput<double> input;
    input.query_weight = q_proj[layer].middleRows(id.first_query_head * d, id.query_heads * d);
    input.key_weight = k_proj[layer].middleRows(id.kv_head * d, d);
    const MatrixXd queries = states[layer] * input.query_weight.transpose();
    input.queries.resize(id.query_heads * seq, d);
    for (Index g = 0; g < id.query_heads; ++g) input.queries.middleRows(g * seq, seq) = queries.middleCols(g * d, d);
    input.keys = states[layer] * input.key_weight.transpose();
    return input;
  }
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void require_identical(const ModelReport& a, const ModelReport& b) {
  REQUIRE(a.heads.size() == b.heads.size());
  for (std::size_t i = 0; i < a.heads.size(); ++i) {
    const HeadReport &x = a.heads[i], &y = b.heads[i];
    REQUIRE(x.id.layer == y.id.layer);
    REQUIRE(x.id.head() == y.id.head());
    for (Index l = 0; l < x.field->singular_values.size(); ++l) {
      REQUIRE(same_bits(x.field->singular_values(l), y.field->singular_values(l)));
    }
    for (Index l = 0; l < x.interaction->singular_values.size(); ++l) {
      REQUIRE(same_bits(x.interaction->singular_values(l), y.interaction->singular_values(l)));
    }
    REQUIRE(same_bits(x.stability.front().certified_max_tv, y.stability.front().certified_max_tv));
    REQUIRE(same_bits(x.stability.front().measured_max_tv, y.stability.front().measured_max_tv));
  }
  REQUIRE(same_bits(a.overall.effective_rank_gap.median, b.overall.effective_rank_gap.median));
}

}  // namespace

TEST_CASE("head views read every layout, stride and element type", "[pipeline][views]") {
  const Index seq = 5, heads = 3, d = 4;
  // Element (t, h, i) of the activations has value 100·h + 10·t + i: exact in every type, including bfloat16.
  auto value = [](Index t, Index h, Index i) { return double(100 * h + 10 * t + i) / 8.0; };
  MatrixXd expected_head[heads];
  for (Index h = 0; h < heads; ++h) {
    expected_head[h].resize(seq, d);
    for (Index t = 0; t < seq; ++t) {
      for (Index i = 0; i < d; ++i) expected_head[h](t, i) = value(t, h, i);
    }
  }
  std::vector<float> seq_major(static_cast<std::size_t>(seq * heads * d));
  std::vector<Eigen::half> head_major(seq_major.size());
  std::vector<Eigen::bfloat16> head_major_bf16(seq_major.size());
  std::vector<double> padded(static_cast<std::size_t>(seq * heads * (d + 3)));  // a strided view: 3 junk per head
  for (Index t = 0; t < seq; ++t) {
    for (Index h = 0; h < heads; ++h) {
      for (Index i = 0; i < d; ++i) {
        seq_major[static_cast<std::size_t>((t * heads + h) * d + i)] = static_cast<float>(value(t, h, i));
        head_major[static_cast<std::size_t>((h * seq + t) * d + i)] = Eigen::half(value(t, h, i));
        head_major_bf16[static_cast<std::size_t>((h * seq + t) * d + i)] = Eigen::bfloat16(float(value(t, h, i)));
        padded[static_cast<std::size_t>((t * heads + h) * (d + 3) + i)] = value(t, h, i);
      }
    }
  }
  const HeadActivations flat(TensorView(seq_major.data(), {seq, heads * d}), HeadLayout::seq_heads_dim, heads);
  const HeadActivations three_d(TensorView(seq_major.data(), {seq, heads, d}), HeadLayout::seq_heads_dim, heads);
  const HeadActivations half(TensorView(head_major.data(), {heads, seq, d}), HeadLayout::heads_seq_dim, heads);
  const HeadActivations bf16(TensorView(head_major_bf16.data(), {heads, seq, d}), HeadLayout::heads_seq_dim, heads);
  const HeadActivations strided(TensorView(padded.data(), {seq, heads, d}, {heads * (d + 3), d + 3, 1}),
                                HeadLayout::seq_heads_dim, heads);
  // A transposed view ([heads, seq, d] read through the strides of a [seq, heads, d] buffer), as x.transpose(0, 1).
  const HeadActivations transposed(TensorView(seq_major.data(), {heads, seq, d}, {d, heads * d, 1}),
                                   HeadLayout::heads_seq_dim, heads);
  for (Index h = 0; h < heads; ++h) {
    for (const HeadActivations* view : {&flat, &three_d, &half, &bf16, &strided, &transposed}) {
      REQUIRE(view->head_dim() == d);
      REQUIRE(view->seq() == seq);
      REQUIRE(view->head<double>(h) == expected_head[h]);
    }
    REQUIRE(flat.head<float>(h) == expected_head[h].cast<float>());
  }
  const MatrixXd group = half.heads<double>(1, 2);
  REQUIRE(group.rows() == 2 * seq);
  REQUIRE(group.topRows(seq) == expected_head[1]);
  REQUIRE(group.bottomRows(seq) == expected_head[2]);

  require_invalid_argument(
      [&] {
        HeadActivations(TensorView(seq_major.data(), {seq, heads * d}), HeadLayout::seq_heads_dim, 5);
      },
      {"HeadActivations", "[5, 12]", "5 heads do not divide its 12 columns"});
  require_invalid_argument(
      [&] {
        HeadActivations(TensorView(head_major.data(), {heads, seq, d}), HeadLayout::heads_seq_dim, 4);
      },
      {"[3, 5, 4]", "holds 3 heads, not 4"});
  require_invalid_argument(
      [&] { HeadActivations(TensorView(head_major.data(), {heads * seq * d}), HeadLayout::heads_seq_dim, 3); },
      {"[60]", "[heads, seq, d]"});
  require_invalid_argument([&] { (void)half.heads<double>(2, 2); }, {"heads [2, 4)", "3 heads"});
  require_invalid_argument([&] { TensorView(static_cast<const float*>(nullptr), {2, 2}); }, {"null data"});
  require_invalid_argument([&] { TensorView(seq_major.data(), {2, -1}); }, {"negative extent -1"});
  require_invalid_argument(
      [&] {
        TensorView(seq_major.data(), {0, Index{1} << 40, Index{1} << 40});
      },
      {"spans more than 2^62 elements"});
  require_invalid_argument([&] { TensorView(seq_major.data(), {2, 2}, {1}); }, {"2 dimensions but 1 strides"});
}

TEST_CASE("a batched tensor gives each sequence's view by select, without copying", "[pipeline][views]") {
  const Index batch = 3, heads = 2, seq = 4, d = 5;
  std::vector<float> buffer(static_cast<std::size_t>(batch * heads * seq * d));
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<float>(i);
  const TensorView batched(buffer.data(), {batch, heads, seq, d}, {}, "q");
  for (Index b = 0; b < batch; ++b) {
    const TensorView one = batched.select(0, b);
    REQUIRE(one.shape() == std::vector<Index>{heads, seq, d});
    const HeadActivations view(one, HeadLayout::heads_seq_dim, heads);
    const HeadActivations alone(TensorView(buffer.data() + b * heads * seq * d, {heads, seq, d}),
                                HeadLayout::heads_seq_dim, heads);
    for (Index h = 0; h < heads; ++h) REQUIRE(view.head<double>(h) == alone.head<double>(h));
  }
  // [batch, seq, heads·d] through a middle axis as well: select(1, t) is token t of every sequence.
  const TensorView token = TensorView(buffer.data(), {batch, seq, heads * d}).select(1, 2);
  REQUIRE(token.shape() == std::vector<Index>{batch, heads * d});
  REQUIRE(token.element<double>(token.strides()[0] * 1 + 3) ==
          buffer[static_cast<std::size_t>((1 * seq + 2) * heads * d + 3)]);
  require_invalid_argument([&] { (void)batched.select(4, 0); }, {"TensorView::select", "q", "no axis 4"});
  require_invalid_argument([&] { (void)batched.select(0, 3); }, {"index 3 is out of range [0, 3) on axis 0"});
}

TEST_CASE("a non-finite or overflowing element is named by its index in the stored tensor", "[pipeline][views]") {
  std::vector<double> values(2 * 3 * 4, 0.5);
  values[(1 * 3 + 2) * 4 + 1] = std::nan("");  // [1, 2, 1] of a row-major [2, 3, 4]
  values[(0 * 3 + 1) * 4 + 3] = 1e300;         // [0, 1, 3]: finite in double, too large for float
  const TensorView cube(values.data(), {2, 3, 4}, {}, "dump.npy:layers.0.query");
  require_invalid_argument([&] { (void)cube.select(0, 1).matrix<double>(); },
                           {"dump.npy:layers.0.query[0=1][2, 1] = nan is not finite", "(shape [3, 4])"});
  const HeadActivations heads(cube, HeadLayout::heads_seq_dim, 2);
  require_invalid_argument([&] { (void)heads.head<float>(0); },
                           {"layers.0.query[0, 1, 3] = 1.0000000000000001e+300 overflows float"});
  CHECK(heads.head<double>(0)(1, 3) == 1e300);
  // Fortran order: element [r, c] of a 3x2 matrix at offset r + 3c.
  std::vector<float> fortran(6, 1.0f);
  fortran[1 + 3 * 1] = -std::numeric_limits<float>::infinity();
  require_invalid_argument(
      [&] {
        (void)TensorView(fortran.data(), {3, 2}, {1, 3}, "w").matrix<double>();
      },
      {"w[1, 1] = -inf is not finite"});
}

TEST_CASE("a float loader feeds a double analysis: HeadInput converts once per unit", "[pipeline]") {
  const ToyModel model(12);
  const auto units = model_heads(1, model.query_heads, model.kv_heads);
  auto in_float = [&](const HeadId& id) {
    const HeadInput<double> wide = model(id);
    HeadInput<float> input;
    input.queries = wide.queries.cast<float>();
    input.keys = wide.keys.cast<float>();
    input.query_weight = wide.query_weight.cast<float>();
    input.key_weight = wide.key_weight.cast<float>();
    return input;
  };
  const ModelReport converted = analyse_model<double>(units, in_float);
  const ModelReport direct =
      analyse_model<double>(units, [&](const HeadId& id) { return HeadInput<double>(in_float(id)); });
  require_identical(converted, direct);
  // The conversion is exact: float data widened to double loses nothing.
  const HeadInput<double> widened = in_float(units[0]);
  CHECK(widened.queries.cast<float>() == in_float(units[0]).queries);
}

TEST_CASE("model_heads lists query heads or KV groups, and rejects n_q not divisible by n_kv", "[pipeline][gqa]") {
  const auto per_query = model_heads(2, 8, 2, QueryGrouping::per_query_head);
  REQUIRE(per_query.size() == 16);
  CHECK(per_query[5].layer == 0);
  CHECK(per_query[5].first_query_head == 5);
  CHECK(per_query[5].kv_head == 1);
  CHECK(per_query[11].kv_head == 0);
  const auto per_kv = model_heads(2, 8, 2, QueryGrouping::per_kv_head);
  REQUIRE(per_kv.size() == 4);
  CHECK(per_kv[3].layer == 1);
  CHECK(per_kv[3].first_query_head == 4);
  CHECK(per_kv[3].query_heads == 4);
  CHECK(per_kv[3].head() == 1);
  require_invalid_argument([] { (void)model_heads(2, 12, 5); }, {"query_heads = 12", "kv_heads = 5"});
  require_invalid_argument([] { (void)model_heads(0, 4, 4); }, {"layers = 0"});
}

TEST_CASE("pipeline reports match the library's own objects, head by head", "[pipeline]") {
  const ToyModel model(5);
  PipelineOptions options;
  options.stability_ranks = {1, 2};
  options.threads = 2;
  for (const auto grouping : {QueryGrouping::per_query_head, QueryGrouping::per_kv_head}) {
    const auto units = model_heads(model.layers, model.query_heads, model.kv_heads, grouping);
    const ModelReport report = analyse_model<double>(units, std::cref(model), options);
    REQUIRE(report.heads.size() == units.size());
    for (const HeadReport& head : report.heads) {
      const HeadInput<double> input = model(head.id);
      const LogitEnergyField<double> field(input.queries, input.keys);
      const InteractionMatrix<double> interaction(input.query_weight, input.key_weight);
      const SpectrumStats<double> field_stats(field.singular_values()), weight_stats(interaction.singular_values());
      REQUIRE((head.field->singular_values - field.singular_values()).norm() <= 1e-13 * field.singular_values()(0));
      REQUIRE(head.field->rank_at_tau == field_stats.rank_at(0.9));
      REQUIRE(head.interaction->rank_at_tau == weight_stats.rank_at(0.9));
      REQUIRE(head.gap->entropy_effective_rank ==
              Approx(weight_stats.entropy_effective_rank() / field_stats.entropy_effective_rank()).epsilon(1e-12));
      StabilityOptions stability;
      stability.causal = grouping == QueryGrouping::per_query_head;
      const SoftmaxStabilityBound<double> bound(input.queries, input.keys, stability);
      REQUIRE(head.stability.size() == (field_stats.rank_at(0.9) <= 2 ? 2u : 3u));
      for (const StabilityAtRank& at : head.stability) {
        REQUIRE(at.certified_max_tv == Approx(bound.at_rank(at.k).certified_max_tv).margin(1e-12));
        REQUIRE(at.measured_max_tv == Approx(bound.at_rank(at.k).measured_max_tv).margin(1e-12));
      }
      REQUIRE(head.stability.front().k == field_stats.rank_at(0.9));
    }
  }
}

TEST_CASE("analyse_model takes a lambda with the default scalar", "[pipeline]") {
  const ToyModel model(10);
  const auto units = model_heads(1, model.query_heads, model.kv_heads);
  const ModelReport report = analyse_model(units, [&](const HeadId& id) { return model(id); });
  CHECK(report.heads.size() == units.size());
}

TEST_CASE("results are bit-identical for 1 and N threads", "[pipeline][threads]") {
  const ToyModel model(9);
  const auto units = model_heads(model.layers, model.query_heads, model.kv_heads);
  PipelineOptions options;
  options.threads = 1;
  const ModelReport one = analyse_model<double>(units, std::cref(model), options);
  for (const unsigned threads : {2u, 3u, 7u}) {
    options.threads = threads;
    require_identical(one, analyse_model<double>(units, std::cref(model), options));
  }
}

TEST_CASE("summaries give min / median / max per layer and overall", "[pipeline]") {
  CHECK(Spread::of({3, 1, 2}).median == 2);
  CHECK(Spread::of({4, 1, 2, 3}).median == 2.5);
  CHECK(Spread::of({4, 1, 2, 3}).min == 1);
  CHECK(Spread::of({4, 1, 2, 3}).max == 4);
  CHECK(std::isnan(Spread::of({}).median));
  const ToyModel model(4);
  const auto units = model_heads(model.layers, model.query_heads, model.kv_heads);
  const ModelReport report = analyse_model<double>(units, std::cref(model));
  REQUIRE(report.layers.size() == 3);
  for (const LayerSummary& layer : report.layers) {
    std::vector<double> ranks;
    for (const HeadReport& head : report.heads) {
      if (head.id.layer == layer.layer) ranks.push_back(double(head.interaction->rank_at_tau));
    }
    const Spread expected = Spread::of(ranks);
    CHECK(layer.heads == 6);
    CHECK(layer.interaction_rank.median == expected.median);
    CHECK(layer.interaction_rank.max == expected.max);
  }
  CHECK(report.overall.heads == 18);
  CHECK(report.overall.field_rank.count == 18);
}

TEST_CASE("progress is reported for every head and can cancel the run", "[pipeline][progress]") {
  const ToyModel model(2);
  const auto units = model_heads(model.layers, model.query_heads, model.kv_heads);
  PipelineOptions options;
  options.threads = 3;
  std::vector<std::size_t> seen;
  options.progress = [&](std::size_t done, std::size_t total) {
    CHECK(total == units.size());
    seen.push_back(done);
    return true;
  };
  (void)analyse_model<double>(units, std::cref(model), options);
  REQUIRE(seen.size() == units.size());
  for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);

  std::size_t calls = 0;
  options.progress = [&](std::size_t done, std::size_t) {
    ++calls;
    return done < 4;
  };
  REQUIRE_THROWS_AS(analyse_model<double>(units, std::cref(model), options), attnspec::cancelled);
  CHECK(calls < units.size());
}

TEST_CASE("a bad head names itself; bad options are rejected", "[pipeline][errors]") {
  const ToyModel model(3);
  const auto units = model_heads(model.layers, model.query_heads, model.kv_heads);
  auto broken = [&](const HeadId& id) {
    HeadInput<double> input = model(id);
    if (id.layer == 1 && id.first_query_head == 4) input.keys(2, 3) = std::nan("");
    return input;
  };
  require_invalid_argument([&] { (void)analyse_model<double>(units, broken); },
                           {"K(2, 3)", "nan", "(layer 1, head 4)"});
  PipelineOptions options;
  options.tau = 1.5;
  require_invalid_argument([&] { (void)analyse_model<double>(units, std::cref(model), options); }, {"tau = 1.5"});
  require_invalid_argument([&] { (void)analyse_model<double>({}, std::cref(model)); }, {"no heads"});
  require_invalid_argument(
      [&] { (void)analyse_model<double>(units, [](const HeadId&) { return HeadInput<double>(); }); },
      {"HeadInput is empty", "(layer 0, head 0)"});
  // A loader's file error keeps its file and byte and gains the unit.
  auto unreadable = [&](const HeadId& id) {
    if (id.layer == 2 && id.first_query_head == 1) throw io_error("shard-3.safetensors", "truncated at byte 99", 99);
    return model(id);
  };
  try {
    (void)analyse_model<double>(units, unreadable);
    FAIL("a loader's io_error was swallowed");
  } catch (const io_error& error) {
    CHECK(error.path() == "shard-3.safetensors");
    CHECK(error.offset() == std::optional<std::uint64_t>(99));
    CHECK(std::string(error.what()) ==
          "[attnspec.io_error] shard-3.safetensors: truncated at byte 99 (layer 2, head 1)");
  }
  // A double too large for float is named as such, in the caller's indices.
  auto huge = [&](const HeadId& id) {
    HeadInput<double> input = model(id);
    input.queries(5, 1) = 1e300;
    return input;
  };
  require_invalid_argument([&] { (void)analyse_model<float>(units, huge); },
                           {"HeadInput", "queries(5, 1) = ", "e+300 overflows float", "(layer 0, head 0)"});
  const HeadInput<double> one = huge(units[0]);
  require_invalid_argument([&] { LogitEnergyField<float>(one.queries, one.keys); },
                           {"LogitEnergyField", "Q(5, 1) = ", "e+300 overflows float"});
}

TEST_CASE("each head says whether its stability was causal", "[pipeline]") {
  const ToyModel model(4);
  const ModelReport single = analyse_model<double>(model_heads(1, model.query_heads, model.kv_heads), std::cref(model));
  CHECK(single.heads[0].causal);
  const ModelReport grouped = analyse_model<double>(
      model_heads(1, model.query_heads, model.kv_heads, QueryGrouping::per_kv_head), std::cref(model));
  CHECK_FALSE(grouped.heads[0].causal);  // stacked queries have no one-to-one positions
  CHECK(grouped.options.causal);         // though the option asked for it
}

TEST_CASE("the causal field beside the full one: per head as CausalLogitEnergyField, refused for stacked groups",
          "[pipeline][causal]") {
  const ToyModel model(8);
  PipelineOptions options;
  options.causal_field = true;
  options.stability = false;
  const auto units = model_heads(model.layers, model.query_heads, model.kv_heads);
  const ModelReport report = analyse_model<double>(units, std::cref(model), options);
  std::vector<double> ranks;
  for (const HeadReport& head : report.heads) {
    const HeadInput<double> input = model(head.id);
    const CausalLogitEnergyField<double> causal(input.queries, input.keys);
    REQUIRE(head.causal_field);
    CHECK(head.causal_field->rank_at_tau == causal.rank_at(0.9));
    CHECK(head.causal_field->energy == causal.energy());
    CHECK(head.causal_field->singular_values.size() == causal.singular_values().size());
    CHECK(head.causal_field->cumulative_variance(head.causal_field->rank_at_tau) >= 0.9 - 1e-12);
    ranks.push_back(static_cast<double>(head.causal_field->rank_at_tau));
  }
  CHECK(report.overall.causal_field_rank.median == Spread::of(ranks).median);
  const std::string json = io::json_report(report);
  CHECK(json.find("\"causal_field\":{\"rank_at_tau\":") != std::string::npos);
  CHECK(io::parse_json(json, "report").find("overall")->find("causal_field_rank_at_tau") != nullptr);

  require_invalid_argument(
      [&] {
        (void)analyse_model<double>(
            model_heads(model.layers, model.query_heads, model.kv_heads, QueryGrouping::per_kv_head), std::cref(model),
            options);
      },
      {"causal_field needs one query head's n queries against n keys", "stacked KV group", "(layer 0, head 0)"});
  options.field.drop_leading_keys = 1;
  require_invalid_argument([&] { (void)analyse_model<double>(units, std::cref(model), options); },
                           {"drop_leading_keys = 0"});
}

TEST_CASE("reports: JSON parses back, CSV has a row per head, SVG has every curve", "[pipeline][reports]") {
  const ToyModel model(6);
  const auto units = model_heads(model.layers, model.query_heads, model.kv_heads);
  const ModelReport report = analyse_model<double>(units, std::cref(model));

  const io::JsonValue json = io::parse_json(io::json_report(report, {{"checkpoint", "toy \"model\"\n"}}), "report");
  REQUIRE(json.find("attnspec_version")->text == ATTNSPEC_VERSION_STRING);
  REQUIRE(json.find("provenance")->find("checkpoint")->text == "toy \"model\"\n");
  const io::JsonValue& heads = *json.find("heads");
  REQUIRE(heads.items.size() == units.size());
  const io::JsonValue& first_sigma = *heads.items[0].find("field")->find("singular_values");
  REQUIRE(io::json_number(first_sigma.items[0], "report", "sigma") == report.heads[0].field->singular_values(0));
  REQUIRE(json.find("layers")->items.size() == 3);

  const std::string csv = io::csv_report(report);
  REQUIRE(std::count(csv.begin(), csv.end(), '\n') == static_cast<long>(units.size() + 1));
  const std::string header = csv.substr(0, csv.find('\n'));
  for (const char* column : {"layer,head,", ",field_rank_at_tau,", ",interaction_rank_at_tau,", ",gap_rank_at_tau,",
                             ",stability_k,", ",stability_measured_mean_kl_forward,", ",causal_field_energy,"}) {
    CHECK(header.find(column) != std::string::npos);
  }
  // Every head's row has as many cells as the header, absent parts (no causal field here) left empty.
  const std::string first_row = csv.substr(header.size() + 1, csv.find('\n', header.size() + 1) - header.size() - 1);
  CHECK(std::count(first_row.begin(), first_row.end(), ',') == std::count(header.begin(), header.end(), ','));
  CHECK(first_row.find(",,") != std::string::npos);

  // Stability entries carry every figure of StabilityAtRank, and the options every option.
  const io::JsonValue& stability = heads.items[0].find("stability")->items.at(0);
  CHECK(io::json_number(*stability.find("measured_mean_kl_reverse"), "report", "kl") ==
        report.heads[0].stability[0].measured_mean_kl_reverse);
  CHECK(stability.find("measured_max_abs_residual") != nullptr);
  CHECK(json.find("options")->find("field_algorithm")->text == "accurate");
  CHECK(json.find("format_version") != nullptr);

  const std::string svg = io::svg_plot(report);
  auto count = [&svg](const std::string& text) {
    std::size_t found = 0;
    for (std::size_t at = svg.find(text); at != std::string::npos; at = svg.find(text, at + 1)) ++found;
    return found;
  };
  // Every head's two curves in each of the two spectrum panels, and one median per family and panel.
  for (const char* kind : {"field-cumulative\"", "interaction-cumulative\"", "field-decay\"", "interaction-decay\""}) {
    CHECK(count(std::string("class=\"") + kind) == units.size());
  }
  CHECK(count("-median\"") == 4);
  CHECK(count("<circle") == 2 * units.size() + 2);  // certified and measured TV at k@0.9 per head, and the key
  for (const char* text : {"number of components k", "cumulative variance fraction", "Singular-value decay", "of M",
                           "Stability of the rank-k cut"}) {
    CHECK(svg.find(text) != std::string::npos);
  }

  const std::string table = io::summary_table(report);
  REQUIRE(table.find("all ") != std::string::npos);

  // A report that cannot be written leaves nothing behind.
  const std::string missing = (std::filesystem::temp_directory_path() / "attnspec-no-such-dir" / "r.json").string();
  REQUIRE_THROWS_AS(io::write_json_report(missing, report), attnspec::io_error);
  REQUIRE(!std::filesystem::exists(missing));
}
