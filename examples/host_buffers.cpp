// A host that owns its activations as raw buffers in framework layout hands them to attnspec without copying the
// model: queries as float [seq, heads·d] (the output of a q projection), keys as Eigen::half [heads, seq, d]
// (after the head transpose, in half precision). Each head is converted to double only when it is analysed.
#include <attnspec/pipeline.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  const Eigen::Index seq = 256, heads = 4, d = 32;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;

  // The host's buffers; a real engine would point at its own tensors. A shared low-dimensional signal makes
  // each head's field compressible, as on text.
  std::vector<float> signal(static_cast<std::size_t>(seq * 3));
  for (float& x : signal) x = normal(rng);
  std::vector<float> query_buffer(static_cast<std::size_t>(seq * heads * d));
  std::vector<Eigen::half> key_buffer(static_cast<std::size_t>(heads * seq * d));
  for (Eigen::Index t = 0; t < seq; ++t) {
    for (Eigen::Index c = 0; c < heads * d; ++c) {
      const float low_rank = signal[static_cast<std::size_t>(t * 3 + c % 3)] * static_cast<float>(1 + c % 5);
      query_buffer[static_cast<std::size_t>(t * heads * d + c)] = low_rank + 0.05f * normal(rng);
      const Eigen::Index h = c / d, i = c % d;  // keys stored [heads, seq, d]
      key_buffer[static_cast<std::size_t>((h * seq + t) * d + i)] = Eigen::half(low_rank + 0.05f * normal(rng));
    }
  }

  // Views: shapes and (default row-major) strides in elements; nothing is copied here.
  const attnspec::HeadActivations queries(attnspec::TensorView(query_buffer.data(), {seq, heads * d}),
                                          attnspec::HeadLayout::seq_heads_dim, heads);
  const attnspec::HeadActivations keys(attnspec::TensorView(key_buffer.data(), {heads, seq, d}),
                                       attnspec::HeadLayout::heads_seq_dim, heads);

  const auto units = attnspec::model_heads(/*layers=*/1, heads, heads);
  const attnspec::ModelReport report = attnspec::analyse_model<double>(units, [&](const attnspec::HeadId& id) {
    attnspec::HeadInput<double> input;
    input.queries = queries.head<double>(id.first_query_head);
    input.keys = keys.head<double>(id.kv_head);
    return input;
  });

  std::printf("head  k@0.9(E~)  erank(E~)  certified TV at k  measured TV at k\n");
  for (const auto& head : report.heads) {
    std::printf("%4ld  %9ld  %9.2f  %17.3g  %16.3g\n", static_cast<long>(head.id.head()),
                static_cast<long>(head.field->rank_at_tau), head.field->entropy_effective_rank,
                head.stability.front().certified_max_tv, head.stability.front().measured_max_tv);
  }
  return 0;
}
