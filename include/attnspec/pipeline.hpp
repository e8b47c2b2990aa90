// attnspec: the host pipeline. A host names the heads of a model and supplies each head's tensors on demand;
// the pipeline analyses every head in parallel (both spectra, their statistics, the gap, stability at chosen
// ranks) and summarises per layer and overall. Results do not depend on the number of threads.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "causal_logit_field.hpp"
#include "detail/extern_instantiation.hpp"
#include "detail/parallel_for.hpp"
#include "head_slicing.hpp"
#include "host_tensor.hpp"
#include "interaction_matrix.hpp"
#include "logit_energy_field.hpp"
#include "softmax_stability.hpp"
#include "spectrum_stats.hpp"
#include "version.hpp"

namespace attnspec {

/// How grouped-query attention is analysed: one unit per query head (its queries against its KV head's keys),
/// or one unit per KV head (the group's queries stacked against the shared keys). Equal under multi-head attention.
enum class QueryGrouping { per_query_head, per_kv_head };

inline const char* to_string(QueryGrouping grouping) {
  switch (grouping) {
    case QueryGrouping::per_query_head:
      return "per_query_head";
    case QueryGrouping::per_kv_head:
      return "per_kv_head";
  }
  return "unknown";
}
inline std::ostream& operator<<(std::ostream& out, QueryGrouping grouping) { return out << to_string(grouping); }

/// One unit of analysis: query heads [first_query_head, first_query_head + query_heads) of `layer`, which share
/// KV head `kv_head`.
struct HeadId {
  Eigen::Index layer = 0;
  Eigen::Index first_query_head = 0;
  Eigen::Index query_heads = 1;
  Eigen::Index kv_head = 0;
  /// The unit's index within its layer: the query head, or the KV head under per_kv_head.
  Eigen::Index head() const { return query_heads == 1 ? first_query_head : kv_head; }
};

/// Every unit of a model: `layers` layers of `query_heads` query heads over `kv_heads` KV heads. n_q must be a
/// multiple of n_kv.
inline std::vector<HeadId> model_heads(Eigen::Index layers, Eigen::Index query_heads, Eigen::Index kv_heads,
                                       QueryGrouping grouping = QueryGrouping::per_query_head) {
  if (layers <= 0) detail::throw_invalid_argument("model_heads", "layers = ", layers, " must be positive");
  kv_head_for_query_head(0, query_heads, kv_heads);  // checks n_q = g·n_kv
  const Eigen::Index group = query_heads / kv_heads;
  std::vector<HeadId> heads;
  for (Eigen::Index layer = 0; layer < layers; ++layer) {
    if (grouping == QueryGrouping::per_query_head && group > 1) {
      for (Eigen::Index h = 0; h < query_heads; ++h) heads.push_back({layer, h, 1, h / group});
    } else {
      for (Eigen::Index g = 0; g < kv_heads; ++g) heads.push_back({layer, g * group, group, g});
    }
  }
  return heads;
}

/// The tensors of one unit, in the precision of the analysis. Leave Q/K empty to skip the field (weights only),
/// or the weights empty to skip M (activations only).
template <typename Scalar>
struct HeadInput {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  HeadInput() = default;
  /// From a unit's tensors in another precision (a float loader feeding a double analysis): converted once; a
  /// value too large for Scalar is an error naming it, not an infinity.
  template <typename Other, typename = std::enable_if_t<!std::is_same_v<Other, Scalar>>>
  HeadInput(const HeadInput<Other>& other)  // NOLINT(google-explicit-constructor): loaders return either precision
      : queries(other.queries.template cast<Scalar>()),
        keys(other.keys.template cast<Scalar>()),
        query_weight(other.query_weight.template cast<Scalar>()),
        key_weight(other.key_weight.template cast<Scalar>()),
        preparation(other.preparation) {
    detail::require_finite_after_cast("HeadInput", "queries", other.queries, queries);
    detail::require_finite_after_cast("HeadInput", "keys", other.keys, keys);
    detail::require_finite_after_cast("HeadInput", "query_weight", other.query_weight, query_weight);
    detail::require_finite_after_cast("HeadInput", "key_weight", other.key_weight, key_weight);
  }

  Matrix queries;       ///< n×d (the group's queries stacked, g·n×d, for a KV group)
  Matrix keys;          ///< m×d
  Matrix query_weight;  ///< d×D, or g·d×D for a KV group
  Matrix key_weight;    ///< d×D
  WeightPreparation preparation;
};

struct PipelineOptions {
  double tau = 0.9;       ///< the variance fraction of k@τ
  FieldOptions field;     ///< the field's scale, centring and sink keys
  bool causal = true;     ///< stability: query i sees keys j <= i (needs n = m; ignored for stacked KV groups)
  bool stability = true;  ///< evaluate stability at the field's k@τ (and at `stability_ranks`)
  /// Also the leading spectrum of the causal prefix-centred field (CausalLogitEnergyField): each row centred over
  /// the keys a causal softmax shows it. Needs units of one query head whose n queries meet the same n positions'
  /// keys, with centred rows and no dropped keys.
  bool causal_field = false;
  std::vector<Eigen::Index> stability_ranks;  ///< more ranks to evaluate (each in [0, the field's rank])
  unsigned threads = 0;                       ///< threads across units (0: all hardware threads)
  /// One head's stability pass split across processes, for long contexts where it dominates: this process
  /// computes share `stability_share` of every head's row blocks, and `exchange_stability`, given this share's
  /// totals, returns every share's in share order (an MPI all-gather, for instance), so each process completes the
  /// pass with the bits one process computes. Every process analyses the same units in the same order, so this
  /// needs threads = 1.
  StabilityShare stability_share;
  std::function<std::vector<std::vector<double>>(const std::vector<double>&)> exchange_stability;
  /// Called after each unit with (done, total), from the worker that finished it, one call at a time. Return
  /// false to cancel: the run stops and throws attnspec::cancelled.
  std::function<bool(std::size_t, std::size_t)> progress;
};

/// One spectrum and its statistics (SpectrumStats, kept as plain values so reports outlive the objects).
struct SpectrumSummary {
  Eigen::VectorXd singular_values;
  Eigen::VectorXd cumulative_variance;  ///< length r+1, from 0 to 1
  Eigen::Index rank_at_tau = 0;
  double entropy_effective_rank = 0, participation_ratio = 0, stable_rank = 0;

  template <typename Scalar>
  static SpectrumSummary of(const SpectrumStats<Scalar>& stats, double tau) {
    return {stats.singular_values(),        stats.cumulative_variance(), stats.rank_at(tau),
            stats.entropy_effective_rank(), stats.participation_ratio(), stats.stable_rank()};
  }
};

/// The causal field's leading singular values against its exact energy (CausalLogitEnergyField).
struct CausalFieldSummary {
  Eigen::VectorXd singular_values;      ///< the leading ones: at least the first rank_at_tau + 1
  Eigen::VectorXd cumulative_variance;  ///< length singular_values.size() + 1, against the exact energy
  Eigen::Index rank_at_tau = 0;
  double energy = 0;  ///< ‖F‖_F²
};

struct HeadReport {
  HeadId id;
  Eigen::Index queries = 0, keys = 0, head_dim = 0, input_dim = 0;
  double field_scale = 0;
  std::optional<SpectrumSummary> field;            ///< of E~
  std::optional<SpectrumSummary> interaction;      ///< of M
  std::optional<SpectrumGap> gap;                  ///< M over E~, when both are present
  std::optional<CausalFieldSummary> causal_field;  ///< with PipelineOptions::causal_field
  std::vector<StabilityAtRank> stability;          ///< at k@τ of E~ first, then the extra ranks
  bool causal = false;      ///< stability used the causal mask (never for a stacked KV group or when n != m)
  std::string preparation;  ///< WeightPreparation::describe()
};

/// min / median / max of one figure over a set of heads (count = 0: no head had it; the values are NaN).
struct Spread {
  std::size_t count = 0;
  double min = std::numeric_limits<double>::quiet_NaN();
  double median = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();

  static Spread of(std::vector<double> values) {
    Spread spread;
    spread.count = values.size();
    if (values.empty()) return spread;
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    spread.min = values.front();
    spread.max = values.back();
    spread.median = values.size() % 2 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
    return spread;
  }
};

/// The paper's figures over a set of heads (one layer, or the whole model when layer = -1).
struct LayerSummary {
  Eigen::Index layer = -1;
  std::size_t heads = 0;
  Spread field_rank;          ///< k@τ of E~
  Spread interaction_rank;    ///< k@τ of M
  Spread effective_rank_gap;  ///< entropy effective rank of M over that of E~
  Spread certified_max_tv;    ///< worst-row TV bound at k@τ of E~
  Spread measured_max_tv;     ///< worst-row measured TV at k@τ of E~
  Spread causal_field_rank;   ///< k@τ of the causal field, with PipelineOptions::causal_field
};

struct ModelReport {
  std::string attnspec_version = ATTNSPEC_VERSION_STRING;
  std::string scalar = "double";  ///< the precision of the analysis: "float" or "double"
  PipelineOptions options;        ///< as run (progress is not kept)
  QueryGrouping grouping = QueryGrouping::per_query_head;
  std::vector<HeadReport> heads;  ///< in the order of the units given
  std::vector<LayerSummary> layers;
  LayerSummary overall;
};

namespace detail {

template <typename Scalar>
CausalFieldSummary causal_field_summary(const HeadInput<Scalar>& input, bool stacked, const PipelineOptions& options) {
  constexpr const char* function = "analyse_model";
  if (stacked || input.queries.rows() != input.keys.rows()) {
    throw_invalid_argument(function, "causal_field needs one query head's n queries against n keys, not ",
                           input.queries.rows(), " queries (", stacked ? "a stacked KV group" : "one head", ") and ",
                           input.keys.rows(), " keys");
  }
  if (!options.field.center_rows || options.field.drop_leading_keys != 0) {
    throw_invalid_argument(function,
                           "causal_field centres each row over all its visible keys: it needs "
                           "field.center_rows = true and field.drop_leading_keys = 0");
  }
  const CausalLogitEnergyField<Scalar> causal(input.queries, input.keys, {options.field.scale, options.tau});
  return {causal.singular_values().template cast<double>(), causal.cumulative_variance(), causal.rank_at(options.tau),
          causal.energy()};
}

template <typename Scalar>
HeadReport analyse_head(const HeadId& id, HeadInput<Scalar> input, const PipelineOptions& options) {
  HeadReport report;
  report.id = id;
  if (input.queries.size() == 0 && input.keys.size() == 0 && input.query_weight.size() == 0 &&
      input.key_weight.size() == 0) {
    throw_invalid_argument("analyse_model", "the unit's HeadInput is empty: give queries and keys, weights, or both");
  }
  if (input.queries.size() > 0 || input.keys.size() > 0) {
    const bool stacked = id.query_heads > 1;
    const bool causal = options.causal && !stacked && input.queries.rows() == input.keys.rows();
    std::optional<SoftmaxStabilityBound<Scalar>> bound;
    LogitEnergyField<Scalar> plain_field;
    const LogitEnergyField<Scalar>* field = &plain_field;
    if (options.causal_field) report.causal_field = causal_field_summary(input, stacked, options);
    if (options.stability) {
      StabilityOptions stability;
      stability.field = options.field;
      stability.causal = causal;
      stability.ranks_at_variance = {options.tau};
      stability.ranks = options.stability_ranks;
      stability.share = options.stability_share;
      // The bound's field takes the head's Q and K over (it keeps them for the pass): they exist once.
      bound.emplace(std::move(input.queries), std::move(input.keys), stability);
      if (stability.share.count > 1) bound->complete_shares(options.exchange_stability(bound->share_totals()));
      report.causal = causal;
      field = &bound->field();
      const Eigen::Index k_tau = SpectrumStats<Scalar>(field->singular_values()).rank_at(options.tau);
      report.stability.push_back(bound->at_rank(k_tau));
      for (const auto& at : bound->ranks()) {
        if (at.k != k_tau) report.stability.push_back(at);
      }
    } else {
      FieldOptions values_only = options.field;
      values_only.keep_factors = false;  // read in place: the head's Q and K are held once, by the input
      plain_field.compute(input.queries, input.keys, values_only);
    }
    report.queries = field->rows();
    report.keys = field->cols();
    report.head_dim = field->head_dim();
    report.field_scale = field->scale();
    report.field = SpectrumSummary::of(SpectrumStats<Scalar>(field->singular_values()), options.tau);
  }
  if (input.query_weight.size() > 0 || input.key_weight.size() > 0) {
    const InteractionMatrix<Scalar> interaction(input.query_weight, input.key_weight, input.preparation);
    report.interaction = SpectrumSummary::of(SpectrumStats<Scalar>(interaction.singular_values()), options.tau);
    report.input_dim = interaction.input_dim();
    report.head_dim = interaction.head_dim();
    report.preparation = input.preparation.describe();
  }
  if (report.field && report.interaction) {
    const SpectrumStats<double> wide(report.interaction->singular_values), narrow(report.field->singular_values);
    report.gap = spectrum_gap(wide, narrow, options.tau);
  }
  return report;
}

inline LayerSummary summarise(Eigen::Index layer, const std::vector<const HeadReport*>& heads) {
  std::vector<double> field_rank, interaction_rank, gap, certified, measured, causal_rank;
  for (const HeadReport* head : heads) {
    if (head->causal_field) causal_rank.push_back(static_cast<double>(head->causal_field->rank_at_tau));
    if (head->field) field_rank.push_back(static_cast<double>(head->field->rank_at_tau));
    if (head->interaction) interaction_rank.push_back(static_cast<double>(head->interaction->rank_at_tau));
    if (head->gap) gap.push_back(head->gap->entropy_effective_rank);
    if (!head->stability.empty()) {
      certified.push_back(head->stability.front().certified_max_tv);
      measured.push_back(head->stability.front().measured_max_tv);
    }
  }
  return {layer,           heads.size(),          Spread::of(field_rank), Spread::of(interaction_rank),
          Spread::of(gap), Spread::of(certified), Spread::of(measured),   Spread::of(causal_rank)};
}

}  // namespace detail

/// Fills report.layers (one summary per layer, in the order layers first appear among the heads) and
/// report.overall from report.heads. analyse_model calls it; a host that builds one report from several calls
/// (for instance one per layer as a forward pass streams) calls it once at the end.
inline void summarise_layers(ModelReport& report) {
  report.layers.clear();
  std::vector<const HeadReport*> all;
  for (const HeadReport& head : report.heads) {
    all.push_back(&head);
    if (std::any_of(report.layers.begin(), report.layers.end(),
                    [&](const LayerSummary& layer) { return layer.layer == head.id.layer; })) {
      continue;
    }
    std::vector<const HeadReport*> in_layer;
    for (const HeadReport& other : report.heads) {
      if (other.id.layer == head.id.layer) in_layer.push_back(&other);
    }
    report.layers.push_back(detail::summarise(head.id.layer, in_layer));
  }
  report.overall = detail::summarise(-1, all);
}

namespace detail {
/// std::function of a unit's loader; a non-deduced context, so a lambda is accepted with Scalar defaulted.
template <typename Scalar>
struct HeadLoader {
  using type = std::function<HeadInput<Scalar>(const HeadId&)>;
};
}  // namespace detail

/// Analyses every unit in `heads`, asking `load` for each unit's tensors just before analysing it (so a model's
/// tensors are never all converted at once), on options.threads threads. `load` is called from those threads,
/// several at a time: it must be safe to call concurrently (reading shared tensors is).
template <typename Scalar = double>
ModelReport analyse_model(const std::vector<HeadId>& heads, const typename detail::HeadLoader<Scalar>::type& load,
                          const PipelineOptions& options = {}) {
  constexpr const char* function = "analyse_model";
  if (heads.empty()) detail::throw_invalid_argument(function, "no heads to analyse");
  if (!load) detail::throw_invalid_argument(function, "load is empty");
  if (!(options.tau > 0 && options.tau <= 1)) {
    detail::throw_invalid_argument(function, "tau = ", options.tau, " must be in (0, 1]");
  }
  if (options.stability_share.count > 1 && (!options.exchange_stability || options.threads != 1)) {
    detail::throw_invalid_argument(function, "a stability pass split into ", options.stability_share.count,
                                   " shares needs exchange_stability and threads = 1 (threads = ", options.threads,
                                   ")");
  }
  ModelReport report;
  report.options = options;
  report.options.progress = nullptr;
  report.options.exchange_stability = nullptr;
  report.scalar = std::is_same_v<Scalar, float> ? "float" : "double";
  report.grouping = heads.front().query_heads > 1 ? QueryGrouping::per_kv_head : QueryGrouping::per_query_head;
  report.heads.resize(heads.size());

  std::atomic<bool> stop{false};
  std::mutex progress_mutex;
  std::size_t done = 0;
  bool cancelled = false;
  detail::parallel_for(heads.size(), options.threads, stop, [&](std::size_t i) {
    const HeadId& id = heads[i];
    // Errors say which unit they come from, whether the analysis or the loader (a file it reads) raised them.
    const auto context = [&] {
      return " (layer " + std::to_string(id.layer) + ", head " + std::to_string(id.head()) + ")";
    };
    try {
      report.heads[i] = detail::analyse_head<Scalar>(id, load(id), options);
    } catch (const invalid_argument& error) {
      throw invalid_argument(error.message() + context());
    } catch (const io_error& error) {
      const std::string prefix = error.path() + ": ";
      const std::string& message = error.message();
      throw io_error(error.path(),
                     (message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message) + context(),
                     error.offset());
    }
    if (options.progress) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      if (!cancelled && !options.progress(++done, heads.size())) {
        cancelled = true;
        stop.store(true);
      }
    }
  });
  if (cancelled) throw attnspec::cancelled("analyse_model: cancelled by the progress callback");

  summarise_layers(report);
  return report;
}

}  // namespace attnspec

// analyse_model's explicit instantiation for one Scalar: defined by src/instantiations.cpp, declared extern below
// (with ATTNSPEC_EXTERN_TEMPLATES), so a program's many units do not each compile the whole per-head analysis.
#define ATTNSPEC_ANALYSE_MODEL_INSTANTIATION(Scalar)                                                                \
  template attnspec::ModelReport attnspec::analyse_model<Scalar>(const std::vector<attnspec::HeadId>&,              \
                                                                 const attnspec::detail::HeadLoader<Scalar>::type&, \
                                                                 const attnspec::PipelineOptions&)
ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE_OF(ATTNSPEC_ANALYSE_MODEL_INSTANTIATION)
