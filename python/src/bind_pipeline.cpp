// attnspec's Python module: the pipeline over a model's heads (HeadId, model_heads, analyse_model,
// analyse_weights) and its result, Report.
#include <attnspec/io/model_adapters.hpp>
#include <attnspec/io/write_report.hpp>
#include <sstream>

#include "conversions.hpp"

namespace attnspec::python {

namespace {

/// Thrown through the pipeline's workers when a Python callback raised; the Python exception itself is kept in
/// a PythonErrorSlot and raised again once the pipeline has stopped.
struct PythonCallbackFailed : std::exception {
  const char* what() const noexcept override { return "a Python callback raised"; }
};

/// The first exception a Python callback (load or progress) raised. Touched only with the GIL held.
class PythonErrorSlot {
 public:
  void keep(const py::error_already_set& error) {
    if (!m_error) m_error = error;
  }
  /// Raises the kept Python exception, if any (GIL held).
  void raise_if_kept() const {
    if (m_error) throw *m_error;
  }

 private:
  std::optional<py::error_already_set> m_error;
};

/// Copies one matrix of a loaded unit into the pipeline's input, checking that it survives the conversion.
template <class Scalar>
void load_matrix(Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& target, py::handle value, const char* name) {
  MatrixArgument(value, "analyse_model", name).visit([&](const auto& view) {
    target = view.template cast<Scalar>();
    detail::require_finite_after_cast("analyse_model", name, view, target);
  });
}

WeightPreparation load_preparation(py::handle value) {
  constexpr const char* function = "analyse_model";
  WeightPreparation preparation;
  if (!py::isinstance<py::dict>(value)) {
    detail::throw_invalid_argument(function, "preparation must be a dict, got ",
                                   std::string(py::str(value.get_type().attr("__name__"))));
  }
  for (const auto& [key, item] : py::reinterpret_borrow<py::dict>(value)) {
    const std::string name = py::str(key);
    if (item.is_none()) continue;
    if (name == "scale") {
      if (!PyNumber_Check(item.ptr())) {
        detail::throw_invalid_argument(function, "preparation scale must be a number, got ",
                                       std::string(py::str(item.get_type().attr("__name__"))));
      }
      preparation.scale = py::float_(py::reinterpret_borrow<py::object>(item));
    } else if (name == "norm_gain" || name == "norm_bias" || name == "query_bias" || name == "key_bias") {
      Eigen::VectorXd vector = vector_argument(item, function, name.c_str());
      if (name == "norm_gain") preparation.norm_gain = std::move(vector);
      if (name == "norm_bias") preparation.norm_bias = std::move(vector);
      if (name == "query_bias") preparation.query_bias = std::move(vector);
      if (name == "key_bias") preparation.key_bias = std::move(vector);
    } else {
      detail::throw_invalid_argument(function, "preparation has an unknown key '", name,
                                     "' (known: scale, norm_gain, norm_bias, query_bias, key_bias)");
    }
  }
  return preparation;
}

/// A unit's tensors as load(unit) returned them: a dict with any of queries, keys, query_weight, key_weight and
/// preparation (None entries are absent).
template <class Scalar>
HeadInput<Scalar> load_unit(py::handle loaded) {
  constexpr const char* function = "analyse_model";
  if (!py::isinstance<py::dict>(loaded)) {
    detail::throw_invalid_argument(function,
                                   "load(unit) must return a dict with queries and keys, query_weight and key_weight, "
                                   "or all four; it returned ",
                                   std::string(py::str(loaded.get_type().attr("__name__"))));
  }
  HeadInput<Scalar> input;
  for (const auto& [key, value] : py::reinterpret_borrow<py::dict>(loaded)) {
    const std::string name = py::str(key);
    if (value.is_none()) continue;
    if (name == "queries") {
      load_matrix(input.queries, value, "queries");
    } else if (name == "keys") {
      load_matrix(input.keys, value, "keys");
    } else if (name == "query_weight") {
      load_matrix(input.query_weight, value, "query_weight");
    } else if (name == "key_weight") {
      load_matrix(input.key_weight, value, "key_weight");
    } else if (name == "preparation") {
      input.preparation = load_preparation(value);
    } else {
      detail::throw_invalid_argument(function, "load(unit) returned an unknown key '", name,
                                     "' (known: queries, keys, query_weight, key_weight, preparation)");
    }
  }
  return input;
}

/// Runs the pipeline with the GIL released; Python callbacks take it back while they run. A Python exception
/// from a callback is raised as itself once every worker has stopped.
template <class Scalar, class Load>
ModelReport run_pipeline(const std::vector<HeadId>& units, Load&& load, PipelineOptions options,
                         const py::object& progress) {
  PythonErrorSlot slot;
  if (!progress.is_none()) {
    options.progress = [&](std::size_t done, std::size_t total) {
      py::gil_scoped_acquire gil;
      try {
        const py::object answer = progress(done, total);
        return answer.is_none() || static_cast<bool>(py::bool_(answer));
      } catch (py::error_already_set& error) {
        slot.keep(error);
        return false;
      }
    };
  }
  const auto guarded_load = [&](const HeadId& unit) -> HeadInput<Scalar> { return load(unit, slot); };
  try {
    py::gil_scoped_release release;
    return analyse_model<Scalar>(units, guarded_load, options);
  } catch (...) {
    slot.raise_if_kept();
    throw;
  }
}

PipelineOptions pipeline_options(double tau, bool causal, bool stability, bool causal_field,
                                 std::vector<Eigen::Index> stability_ranks, long long threads,
                                 std::optional<double> scale, bool center_rows, Eigen::Index drop_leading_keys,
                                 const std::string& algorithm) {
  PipelineOptions options;
  options.tau = tau;
  options.causal = causal;
  options.stability = stability;
  options.causal_field = causal_field;
  options.stability_ranks = std::move(stability_ranks);
  options.threads = thread_count(threads, "analyse_model");
  options.field = field_options(scale, center_rows, drop_leading_keys, algorithm, 1, "analyse_model");
  return options;
}

ModelReport analyse_units(const std::vector<HeadId>& units, const py::function& load, py::handle dtype,
                          const py::object& progress, const PipelineOptions& options) {
  return with_precision(precision_of(dtype, "analyse_model"), [&](auto scalar) {
    using Scalar = decltype(scalar);
    return run_pipeline<Scalar>(
        units,
        [&](const HeadId& unit, PythonErrorSlot& slot) {
          py::gil_scoped_acquire gil;
          py::object loaded;
          try {
            loaded = load(unit);
          } catch (py::error_already_set& error) {
            slot.keep(error);
            throw PythonCallbackFailed();
          }
          return load_unit<Scalar>(loaded);
        },
        options, progress);
  });
}

ModelReport analyse_weights(const io::ModelWeights& weights, const std::string& grouping, bool fold_norm, bool biases,
                            bool logit_scale, py::handle dtype, const py::object& progress,
                            const PipelineOptions& options) {
  const auto& config = weights.config();
  const auto units = model_heads(config.layers, config.query_heads, config.kv_heads,
                                 parse_enum<QueryGrouping>(grouping, "analyse_weights", "grouping"));
  io::AdapterOptions adapter;
  adapter.fold_norm = fold_norm;
  adapter.biases = biases;
  adapter.logit_scale = logit_scale;
  return with_precision(precision_of(dtype, "analyse_weights"), [&](auto scalar) {
    using Scalar = decltype(scalar);
    return run_pipeline<Scalar>(
        units, [&](const HeadId& unit, PythonErrorSlot&) { return weights.input<Scalar>(unit, adapter); }, options,
        progress);
  });
}

io::Provenance provenance_of(const std::optional<py::dict>& provenance) {
  io::Provenance pairs;
  if (provenance) {
    for (const auto& [key, value] : *provenance) pairs.emplace_back(py::str(key), py::str(value));
  }
  return pairs;
}

std::string report_repr(const ModelReport& report) {
  std::ostringstream text;
  text.imbue(std::locale::classic());
  text << "Report(heads=" << report.heads.size() << ", layers=" << report.layers.size() << ", scalar=" << report.scalar
       << ", grouping=" << to_string(report.grouping) << ", field k@tau median=" << report.overall.field_rank.median
       << ", interaction k@tau median=" << report.overall.interaction_rank.median << ")";
  return text.str();
}

}  // namespace

void bind_pipeline(py::module_& module) {
  using namespace pybind11::literals;

  py::class_<HeadId>(module, "HeadId", R"(One unit of analysis: query heads [first_query_head, first_query_head +
query_heads) of `layer`, sharing KV head `kv_head`. HeadId(layer, head) is one head of multi-head attention.)")
      .def(py::init([](Eigen::Index layer, Eigen::Index first_query_head, Eigen::Index query_heads,
                       std::optional<Eigen::Index> kv_head) {
             return HeadId{layer, first_query_head, query_heads, kv_head.value_or(first_query_head)};
           }),
           "layer"_a, "first_query_head"_a, "query_heads"_a = 1, "kv_head"_a = py::none())
      .def_readwrite("layer", &HeadId::layer)
      .def_readwrite("first_query_head", &HeadId::first_query_head)
      .def_readwrite("query_heads", &HeadId::query_heads)
      .def_readwrite("kv_head", &HeadId::kv_head)
      .def_property_readonly("head", &HeadId::head, "The query head, or the KV head of a stacked group.")
      .def("__eq__",
           [](const HeadId& a, const HeadId& b) {
             return a.layer == b.layer && a.first_query_head == b.first_query_head && a.query_heads == b.query_heads &&
                    a.kv_head == b.kv_head;
           })
      .def("__hash__",
           [](const HeadId& id) {
             return py::hash(py::make_tuple(id.layer, id.first_query_head, id.query_heads, id.kv_head));
           })
      .def("__repr__", [](const HeadId& id) {
        return "HeadId(layer=" + std::to_string(id.layer) +
               ", first_query_head=" + std::to_string(id.first_query_head) +
               ", query_heads=" + std::to_string(id.query_heads) + ", kv_head=" + std::to_string(id.kv_head) + ")";
      });

  module.def(
      "model_heads",
      [](Eigen::Index layers, Eigen::Index query_heads, std::optional<Eigen::Index> kv_heads,
         const std::string& grouping) {
        return model_heads(layers, query_heads, kv_heads.value_or(query_heads),
                           parse_enum<QueryGrouping>(grouping, "model_heads", "grouping"));
      },
      "layers"_a, "query_heads"_a, "kv_heads"_a = py::none(), "grouping"_a = "per_query_head",
      "Every unit of a model: one per query head, or one per KV head with grouping='per_kv_head'.");

  py::class_<ModelReport>(module, "Report", R"(The analysis of a model's heads (docs/report-format.md).

heads, layers and overall are Records (attribute access; as_dict()); table() gives one row per head (a pandas
DataFrame when pandas is installed); write() publishes report.json, heads.csv, spectra.svg and summary.txt.)")
      .def_property_readonly("heads", [](const ModelReport& r) { return to_python(r.heads); })
      .def_property_readonly("layers", [](const ModelReport& r) { return to_python(r.layers); })
      .def_property_readonly("overall", [](const ModelReport& r) { return to_python(r.overall); })
      .def_property_readonly("options", [](const ModelReport& r) { return to_python(r.options); })
      .def_readonly("scalar", &ModelReport::scalar)
      .def_property_readonly("grouping", [](const ModelReport& r) { return to_string(r.grouping); })
      .def_readonly("attnspec_version", &ModelReport::attnspec_version)
      .def(
          "to_dict", [](const ModelReport& r) { return to_python(r).attr("as_dict")(); },
          "Everything, as nested dicts, lists and numpy arrays.")
      .def(
          "to_json",
          [](const ModelReport& r, std::optional<py::dict> provenance) {
            return io::json_report(r, provenance_of(provenance));
          },
          "provenance"_a = py::none(), "report.json's text; `provenance` (str to str) is recorded in it.")
      .def("to_csv", &io::csv_report, "heads.csv's text: one row per head, every scalar.")
      .def("summary", &io::summary_table, "The paper-style table (summary.txt).")
      .def(
          "svg",
          [](const ModelReport& r, std::optional<std::string> title) {
            io::SvgPlotOptions plot;
            if (title) plot.title = *title;
            return io::svg_plot(r, plot);
          },
          "title"_a = py::none(), "spectra.svg's text.")
      .def(
          "write",
          [](const ModelReport& r, const std::string& directory, std::optional<py::dict> provenance, bool json,
             bool csv, bool svg, bool summary) {
            io::ReportFiles files;
            files.json = json;
            files.csv = csv;
            files.svg = svg;
            files.summary = summary;
            const io::Provenance pairs = provenance_of(provenance);
            py::gil_scoped_release release;
            io::write_report(directory, r, pairs, files);
          },
          "directory"_a, "provenance"_a = py::none(), py::kw_only(), "json"_a = true, "csv"_a = true, "svg"_a = true,
          "summary"_a = true,
          "Publishes the report as the folder `directory`, all or nothing (a folder attnspec did not write is "
          "refused).")
      .def("__len__", [](const ModelReport& r) { return r.heads.size(); })
      .def("__repr__", &report_repr);

  module.def(
      "_analyse_units",
      [](const std::vector<HeadId>& units, const py::function& load, py::handle dtype, const py::object& progress,
         double tau, bool causal, bool stability, bool causal_field, std::vector<Eigen::Index> stability_ranks,
         long long threads, std::optional<double> scale, bool center_rows, Eigen::Index drop_leading_keys,
         const std::string& algorithm) {
        return analyse_units(units, load, dtype, progress,
                             pipeline_options(tau, causal, stability, causal_field, std::move(stability_ranks), threads,
                                              scale, center_rows, drop_leading_keys, algorithm));
      },
      "units"_a, "load"_a, "dtype"_a, "progress"_a, "tau"_a, "causal"_a, "stability"_a, "causal_field"_a,
      "stability_ranks"_a, "threads"_a, "scale"_a, "center_rows"_a, "drop_leading_keys"_a, "algorithm"_a);

  module.def(
      "_analyse_weights",
      [](const io::ModelWeights& weights, const std::string& grouping, bool fold_norm, bool biases, bool logit_scale,
         py::handle dtype, const py::object& progress, double tau, long long threads) {
        return analyse_weights(weights, grouping, fold_norm, biases, logit_scale, dtype, progress,
                               pipeline_options(tau, true, true, false, {}, threads, std::nullopt, true, 0,
                                                "accurate"));  // PipelineOptions' defaults, as C++ hosts run it
      },
      "weights"_a, "grouping"_a, "fold_norm"_a, "biases"_a, "logit_scale"_a, "dtype"_a, "progress"_a, "tau"_a,
      "threads"_a);
}

}  // namespace attnspec::python
