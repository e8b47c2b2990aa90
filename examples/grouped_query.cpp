// A grouped-query (Llama-layout) model: 8 query heads share 2 KV heads. attnspec analyses it per query head
// (each against its KV head's keys, with its own M) or per KV head (the group's queries stacked against the
// shared keys, with the group's stacked M); both summaries are printed.
#include <attnspec/io/report_writers.hpp>
#include <attnspec/pipeline.hpp>

#include <cstdio>
#include <random>

int main() {
  const Eigen::Index layers = 2, query_heads = 8, kv_heads = 2, d = 16, model_dim = 128, seq = 192;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  auto gaussian = [&](Eigen::Index rows, Eigen::Index cols) {
    return Eigen::MatrixXd::NullaryExpr(rows, cols, [&] { return normal(rng); }).eval();
  };

  // Per layer: hidden states that use a few directions, and nn.Linear weights q_proj [n_q·d, D], k_proj [n_kv·d, D].
  std::vector<Eigen::MatrixXd> states, q_proj, k_proj;
  for (Eigen::Index layer = 0; layer < layers; ++layer) {
    states.push_back(0.3 * gaussian(seq, 4) * gaussian(4, model_dim) + 0.03 * gaussian(seq, model_dim));
    q_proj.push_back(gaussian(query_heads * d, model_dim) / std::sqrt(double(model_dim)));
    k_proj.push_back(gaussian(kv_heads * d, model_dim) / std::sqrt(double(model_dim)));
  }

  for (const auto grouping : {attnspec::QueryGrouping::per_query_head, attnspec::QueryGrouping::per_kv_head}) {
    const auto units = attnspec::model_heads(layers, query_heads, kv_heads, grouping);
    const auto report = attnspec::analyse_model<double>(units, [&](const attnspec::HeadId& id) {
      const auto layer = static_cast<std::size_t>(id.layer);
      attnspec::HeadInput<double> input;
      // Consecutive q_proj rows hold the unit's query heads; one KV head's k_proj rows hold its keys' weights.
      input.query_weight = q_proj[layer].middleRows(id.first_query_head * d, id.query_heads * d);
      input.key_weight = k_proj[layer].middleRows(id.kv_head * d, d);
      const Eigen::MatrixXd all_queries = states[layer] * input.query_weight.transpose();  // seq × g·d
      input.queries.resize(id.query_heads * seq, d);
      for (Eigen::Index g = 0; g < id.query_heads; ++g) {
        input.queries.middleRows(g * seq, seq) = all_queries.middleCols(g * d, d);
      }
      input.keys = states[layer] * input.key_weight.transpose();
      return input;
    });
    std::printf("%s (%zu units)\n%s\n", attnspec::to_string(grouping), report.heads.size(),
                attnspec::io::summary_table(report).c_str());
  }
  return 0;
}
