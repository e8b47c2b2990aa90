// attnspec's Python module: SoftmaxStabilityBound, the softmax-stability calculator of one head.
#include <sstream>

#include "conversions.hpp"

namespace attnspec::python {

namespace {

/// The calculator in either precision (its bounds are doubles whatever the field's precision is).
using Stability = EitherPrecision<SoftmaxStabilityBound>;

Stability compute_stability(py::handle queries, py::handle keys, py::handle values, const StabilityOptions& options,
                            Precision precision) {
  constexpr const char* function = "SoftmaxStabilityBound";
  MatrixArgument q(queries, function, "Q"), k(keys, function, "K");
  MatrixArgument::unify(q, k);
  std::optional<MatrixArgument> v;
  if (!values.is_none()) v.emplace(values, function, "V");
  py::gil_scoped_release release;
  return Stability(precision, [&](auto& bound) {
    q.visit([&](const auto& q_view) {
      using T = typename std::decay_t<decltype(q_view)>::Scalar;
      if (v) {
        v->visit([&](const auto& v_view) { bound.compute(q_view, k.view<T>(), v_view, options); });
      } else {
        bound.compute(q_view, k.view<T>(), options);
      }
    });
  });
}

Stability make_stability(py::handle queries, py::handle keys, py::handle values, std::optional<double> scale,
                         bool center_rows, Eigen::Index drop_leading_keys, const std::string& algorithm, bool causal,
                         Eigen::Index block_rows, long long threads, std::optional<double> delocalisation_c,
                         bool keep_row_values, std::vector<Eigen::Index> ranks, std::vector<double> ranks_at_variance,
                         std::optional<std::vector<Eigen::Index>> measured_ranks, py::handle dtype) {
  constexpr const char* function = "SoftmaxStabilityBound";
  StabilityOptions options;
  options.field = field_options(scale, center_rows, drop_leading_keys, algorithm, 1, function);
  options.causal = causal;
  options.block_rows = block_rows;
  options.threads = thread_count(threads, function);
  options.delocalisation_c = delocalisation_c;
  options.keep_row_values = keep_row_values;
  options.ranks = std::move(ranks);
  options.ranks_at_variance = std::move(ranks_at_variance);
  options.measured_ranks = std::move(measured_ranks);
  return compute_stability(queries, keys, values, options, precision_of(dtype, function));
}

}  // namespace

void bind_stability(py::module_& module) {
  using namespace pybind11::literals;

  py::class_<Stability>(module, "SoftmaxStabilityBound",
                        R"(How much softmax attention changes when the field is cut to rank k.

SoftmaxStabilityBound(Q, K, V=None, *, scale=None, center_rows=True, drop_leading_keys=0, algorithm="accurate",
                      causal=False, block_rows=64, threads=1, delocalisation_c=None, keep_row_values=False,
                      ranks=(), ranks_at_variance=(), measured_ranks=None, dtype="float64")

Evaluates, for every k = 0..r (or only `ranks`, plus k@tau for each tau in `ranks_at_variance`), the a priori
bounds, the a posteriori certificate and the measured TV/KL of each query row's attention (docs/stability.md).
With values V (m x d_v), output errors too. `measured_ranks` (None: every evaluated rank) limits the measurement,
the costly part, to those ranks; [] gives the certificate alone. Where nothing was measured, a Record's measured
figures are NaN. Results do not depend on `threads`.)")
      .def(py::init(&make_stability), "Q"_a, "K"_a, "V"_a = py::none(), py::kw_only(), "scale"_a = py::none(),
           "center_rows"_a = true, "drop_leading_keys"_a = 0, "algorithm"_a = "accurate", "causal"_a = false,
           "block_rows"_a = 64, "threads"_a = 1, "delocalisation_c"_a = py::none(), "keep_row_values"_a = false,
           "ranks"_a = std::vector<Eigen::Index>(), "ranks_at_variance"_a = std::vector<double>(),
           "measured_ranks"_a = py::none(), "dtype"_a = "float64")
      .def(
          "at_rank",
          [](const Stability& s, Eigen::Index k) { return s.visit([&](auto& b) { return to_python(b.at_rank(k)); }); },
          "k"_a, "Every bound and measurement at rank k, as a Record (fields as in the report's stability entries).")
      .def_property_readonly(
          "ranks", [](const Stability& s) { return s.visit([](auto& b) { return to_python(b.ranks()); }); },
          "The evaluated ranks' Records, ascending in k.")
      .def(
          "min_rank",
          [](const Stability& s, double epsilon, const std::string& target) {
            return s.visit([&](auto& b) {
              return b.min_rank(epsilon,
                                parse_enum<StabilityTarget>(target, "SoftmaxStabilityBound.min_rank", "target"));
            });
          },
          "epsilon"_a, "target"_a = "certified_max_tv",
          "The smallest evaluated k whose `target` figure is <= epsilon; an error when none is.")
      .def_property_readonly(
          "max_rank", [](const Stability& s) { return s.visit([](auto& b) { return b.max_rank(); }); },
          "r = min(n, m', d).")
      .def_property_readonly("causal", [](const Stability& s) { return s.visit([](auto& b) { return b.causal(); }); })
      .def_property_readonly(
          "singular_values",
          [](const Stability& s) { return s.visit([](auto& b) { return to_numpy(b.field().singular_values()); }); },
          "The field's singular values.")
      .def_property_readonly(
          "key_leverage",
          [](const Stability& s) { return s.visit([](auto& b) { return to_numpy(b.key_leverage()); }); },
          "h_j: how much of the key space key j alone spans.")
      .def_property_readonly("key_coherence",
                             [](const Stability& s) { return s.visit([](auto& b) { return b.key_coherence(); }); })
      .def_property_readonly(
          "row_certified_tv",
          [](const Stability& s) { return s.visit([](auto& b) { return to_numpy(b.row_certified_tv()); }); },
          "n x evaluated ranks; needs keep_row_values=True.")
      .def_property_readonly(
          "row_measured_tv",
          [](const Stability& s) { return s.visit([](auto& b) { return to_numpy(b.row_measured_tv()); }); },
          "n x evaluated ranks; needs keep_row_values=True.")
      .def("__repr__", [](const Stability& s) {
        return s.visit([](auto& b) {
          std::ostringstream text;
          text.imbue(std::locale::classic());
          text << "SoftmaxStabilityBound(n=" << b.field().rows() << ", m=" << b.field().cols()
               << ", max_rank=" << b.max_rank() << ", ranks evaluated=" << b.ranks().size()
               << ", causal=" << (b.causal() ? "True" : "False") << ")";
          return text.str();
        });
      });
}

}  // namespace attnspec::python
