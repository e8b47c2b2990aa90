// attnspec: every figure a report holds, listed once per result type (name, value, meaning). The JSON and CSV
// writers, the JSON Schema (docs/report.schema.json) and the tables of docs/report-format.md are all generated from
// these lists, so a figure added here appears in each of them and none can leave one out.
#pragma once

#include <string_view>
#include <type_traits>
#include <vector>

#include "../pipeline.hpp"

namespace attnspec::io {

/// The version of the report format: raised whenever a field is renamed, removed or changes meaning.
constexpr int report_format_version = 2;

/// Record<T> describes one result type: its `name` in the docs, what it `means`, and `fields(value, visit)`, which
/// calls visit(name, member, meaning) for each field in the order reports write them. `value` may be const (the
/// writers) or not (the reader, report_reader.hpp); a figure computed from others (a head's "head") is passed as a
/// temporary, which a reader skips.
template <class T>
struct Record;

template <>
struct Record<SpectrumSummary> {
  static constexpr const char* name = "spectrum";
  static constexpr const char* means = "The singular values of one matrix (E~ or M) and their statistics.";
  template <class Self, class Visit>
  static void fields(Self&& s, Visit&& visit) {
    visit("rank_at_tau", s.rank_at_tau, "k@tau: the fewest components holding the fraction tau of the variance");
    visit("entropy_effective_rank", s.entropy_effective_rank, "exp of the entropy of sigma_i^2 / sum sigma^2");
    visit("participation_ratio", s.participation_ratio, "(sum sigma^2)^2 / sum sigma^4");
    visit("stable_rank", s.stable_rank, "sum sigma^2 / sigma_1^2");
    visit("singular_values", s.singular_values, "all singular values, descending");
    visit("cumulative_variance", s.cumulative_variance,
          "length r+1: the variance fraction of the first k components, k = 0..r, from 0 to 1");
  }
};

template <>
struct Record<CausalFieldSummary> {
  static constexpr const char* name = "causal_field";
  static constexpr const char* means =
      "The leading spectrum of the causal prefix-centred field (each row centred over the keys a causal softmax "
      "shows it), against its exact energy.";
  template <class Self, class Visit>
  static void fields(Self&& s, Visit&& visit) {
    visit("rank_at_tau", s.rank_at_tau, "k@tau of the causal field");
    visit("energy", s.energy, "||F||_F^2, exact");
    visit("singular_values", s.singular_values, "the leading singular values: at least rank_at_tau + 1 of them");
    visit("cumulative_variance", s.cumulative_variance,
          "length singular_values + 1: the variance fraction of the first k components against the exact energy");
  }
};

template <>
struct Record<SpectrumGap> {
  static constexpr const char* name = "gap";
  static constexpr const char* means = "How much less compressible M is than E~: each statistic of M over E~'s.";
  template <class Self, class Visit>
  static void fields(Self&& g, Visit&& visit) {
    visit("tau", g.tau, "the variance fraction of k@tau");
    visit("rank_at_tau", g.rank_at_tau, "k@tau of M over k@tau of E~");
    visit("entropy_effective_rank", g.entropy_effective_rank, "entropy effective rank of M over E~'s");
    visit("participation_ratio", g.participation_ratio, "participation ratio of M over E~'s");
    visit("stable_rank", g.stable_rank, "stable rank of M over E~'s");
  }
};

template <>
struct Record<StabilityAtRank> {
  static constexpr const char* name = "stability";
  static constexpr const char* means =
      "How much attention changes when E~ is cut to rank k (docs/stability.md). TV and KL are per query row; max is "
      "the worst row, mean the average over rows. Output errors are null unless value vectors were given.";
  template <class Self, class Visit>
  static void fields(Self&& a, Visit&& visit) {
    visit("k", a.k, "the rank E~ is cut to");
    visit("tail_energy", a.tail_energy, "T_k = sum_{l>k} sigma_l^2 = ||R||_F^2");
    visit("tail_sum", a.tail_sum, "S_k = sum_{l>k} sigma_l");
    visit("coherence_u", a.coherence_u, "mu_U = sqrt(n) max_{i, l>k} |U_il|");
    visit("coherence_v", a.coherence_v, "mu_V = sqrt(m) max_{j, l>k} |V_jl|");
    visit("a_priori_sigma_tv", a.a_priori_sigma_tv, "a priori worst-row TV from sigma_{k+1} alone");
    visit("a_priori_row_tv", a.a_priori_row_tv, "a priori worst-row TV from mu_U and T_k");
    visit("a_priori_entry_tv", a.a_priori_entry_tv, "a priori worst-row TV from mu_U, mu_V and S_k");
    visit("a_priori_max_oscillation", a.a_priori_max_oscillation, "B_k, the smallest of the three oscillation bounds");
    visit("a_priori_max_tv", a.a_priori_max_tv, "tanh(B_k / 4), the best a priori worst-row TV");
    visit("a_priori_max_kl", a.a_priori_max_kl, "a priori worst-row KL, either direction");
    visit("a_priori_mean_tv", a.a_priori_mean_tv, "a priori mean TV, tanh(sqrt(T_k / 8n))");
    visit("a_priori_mean_kl", a.a_priori_mean_kl, "a priori mean KL, T_k / 4n");
    visit("delocalisation_c", a.delocalisation_c, "the c of the delocalisation bound: given, or measured from R");
    visit("delocalisation_max_tv", a.delocalisation_max_tv, "worst-row TV under delocalisation with that c");
    visit("a_priori_output_error", a.a_priori_output_error, "a priori worst-row output error, tanh(B_k / 4) diam(V)");
    visit("certified_max_tv", a.certified_max_tv, "certified worst-row TV from the actual residual");
    visit("certified_mean_tv", a.certified_mean_tv, "certified mean TV");
    visit("certified_max_kl", a.certified_max_kl, "certified worst-row KL, either direction");
    visit("certified_output_error", a.certified_output_error, "certified worst-row output error");
    visit("measured_max_tv", a.measured_max_tv, "measured worst-row TV between softmax(E~) and softmax(E~_k)");
    visit("measured_mean_tv", a.measured_mean_tv, "measured mean TV");
    visit("measured_max_kl_forward", a.measured_max_kl_forward, "measured worst-row KL(a_i || a_i^k)");
    visit("measured_max_kl_reverse", a.measured_max_kl_reverse, "measured worst-row KL(a_i^k || a_i)");
    visit("measured_mean_kl_forward", a.measured_mean_kl_forward, "measured mean KL(a_i || a_i^k)");
    visit("measured_mean_kl_reverse", a.measured_mean_kl_reverse, "measured mean KL(a_i^k || a_i)");
    visit("measured_max_abs_residual", a.measured_max_abs_residual, "max |R_ij| over the entries rows see");
    visit("measured_output_error", a.measured_output_error, "measured worst-row ||a_i V - a_i^k V||_2");
  }
};

template <>
struct Record<Spread> {
  static constexpr const char* name = "spread";
  static constexpr const char* means = "One figure over a set of heads; min, median and max are null when count = 0.";
  template <class Self, class Visit>
  static void fields(Self&& s, Visit&& visit) {
    visit("count", s.count, "how many heads have the figure");
    visit("min", s.min, "smallest");
    visit("median", s.median, "median (the mean of the middle two for an even count)");
    visit("max", s.max, "largest");
  }
};

template <>
struct Record<LayerSummary> {
  static constexpr const char* name = "layer_summary";
  static constexpr const char* means = "The paper's figures over the heads of one layer (or of all layers).";
  template <class Self, class Visit>
  static void fields(Self&& l, Visit&& visit) {
    visit("layer", l.layer, "the layer; -1 for the whole model");
    visit("heads", l.heads, "units summarised");
    visit("field_rank_at_tau", l.field_rank, "k@tau of E~");
    visit("interaction_rank_at_tau", l.interaction_rank, "k@tau of M");
    visit("effective_rank_gap", l.effective_rank_gap, "entropy effective rank of M over that of E~");
    visit("certified_max_tv", l.certified_max_tv, "certified worst-row TV at k@tau of E~");
    visit("measured_max_tv", l.measured_max_tv, "measured worst-row TV at k@tau of E~");
    visit("causal_field_rank_at_tau", l.causal_field_rank, "k@tau of the causal field");
  }
};

template <>
struct Record<HeadReport> {
  static constexpr const char* name = "head";
  static constexpr const char* means =
      "One unit: a query head against its KV head, or a KV group's stacked queries. A part that was not computed "
      "is null.";
  template <class Self, class Visit>
  static void fields(Self&& h, Visit&& visit) {
    visit("layer", h.id.layer, "the layer");
    visit("head", h.id.head(), "the query head, or the KV head for a stacked group");
    visit("first_query_head", h.id.first_query_head, "the unit's first query head");
    visit("query_heads", h.id.query_heads, "query heads in the unit (g for a stacked KV group)");
    visit("kv_head", h.id.kv_head, "the KV head the unit's keys come from");
    visit("queries", h.queries, "n, the field's rows");
    visit("keys", h.keys, "m', the field's columns (keys kept)");
    visit("head_dim", h.head_dim, "d");
    visit("input_dim", h.input_dim, "D, the width W_Q and W_K read");
    visit("field_scale", h.field_scale, "the logit scale s");
    visit("preparation", h.preparation, "how the weights were prepared (folded norms, ...)");
    visit("field", h.field, "the spectrum of E~");
    visit("interaction", h.interaction, "the spectrum of M");
    visit("gap", h.gap, "M over E~");
    visit("causal_field", h.causal_field, "the causal field, with the causal_field option");
    visit("stability", h.stability, "at k@tau of E~ first, then at the extra ranks asked for");
    visit("causal", h.causal,
          "stability used the causal mask: the causal option, except for stacked KV groups and when n != m");
  }
};

template <>
struct Record<PipelineOptions> {
  static constexpr const char* name = "options";
  static constexpr const char* means = "Every option the analysis ran with.";
  template <class Self, class Visit>
  static void fields(Self&& o, Visit&& visit) {
    visit("tau", o.tau, "the variance fraction of k@tau");
    visit("field_scale", o.field.scale, "the logit scale s; null means 1/sqrt(d)");
    visit("center_rows", o.field.center_rows, "rows centred (E~) or raw logits (E)");
    visit("drop_leading_keys", o.field.drop_leading_keys, "leading keys left out of the field");
    visit("field_algorithm", o.field.algorithm, "how the field's singular values were computed");
    visit("causal", o.causal, "stability with a causal mask (one query head, n = m)");
    visit("stability", o.stability, "stability evaluated");
    visit("causal_field", o.causal_field, "the causal field's spectrum computed");
    visit("stability_ranks", o.stability_ranks, "extra ranks stability was evaluated at");
    visit("threads", o.threads, "threads asked for (0: all); results do not depend on it");
  }
};

template <>
struct Record<ModelReport> {
  static constexpr const char* name = "report";
  static constexpr const char* means = "One analysis of a model's heads.";
  template <class Self, class Visit>
  static void fields(Self&& r, Visit&& visit) {
    visit("attnspec_version", r.attnspec_version, "the attnspec that wrote it");
    visit("scalar", r.scalar, "the precision of the analysis");
    visit("grouping", r.grouping, "how grouped-query attention was analysed");
    visit("options", r.options, "the options");
    visit("overall", r.overall, "over every head");
    visit("layers", r.layers, "per layer, in the order layers first appear");
    visit("heads", r.heads, "every unit, in the order given");
  }
};

namespace detail {

template <class T, class = void>
struct is_record : std::false_type {};
template <class T>
struct is_record<T, std::void_t<decltype(Record<T>::name)>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

}  // namespace detail

/// Every name an enumeration of attnspec's is written as (its values are 0, 1, ... and to_string names each).
template <class Enum>
std::vector<const char*> enum_values() {
  std::vector<const char*> names;
  for (int value = 0;; ++value) {
    const char* name = to_string(static_cast<Enum>(value));
    if (std::string_view(name) == "unknown") return names;
    names.push_back(name);
  }
}

}  // namespace attnspec::io
