// attnspec's Python module: LogitEnergyField, InteractionMatrix, SpectrumStats and spectrum_gap.
#include <sstream>

#include "conversions.hpp"

namespace attnspec::python {

namespace {

using Field = EitherPrecision<LogitEnergyField>;
using Interaction = EitherPrecision<InteractionMatrix>;

/// Singular values, vectors and routes: what the field and the interaction matrix both show.
template <class Class>
void bind_factored_spectrum(Class& python_class) {
  using Held = typename Class::type;
  python_class
      .def_property_readonly(
          "singular_values",
          [](const Held& self) { return self.visit([](auto& a) { return to_numpy(a.singular_values()); }); },
          "Singular values, descending, in the analysis dtype.")
      .def_property_readonly(
          "left_singular_vectors",
          [](const Held& self) { return self.visit([](auto& a) { return to_numpy(a.left_singular_vectors()); }); },
          "Left singular vectors as columns; needs compute_vectors=True.")
      .def_property_readonly(
          "right_singular_vectors",
          [](const Held& self) { return self.visit([](auto& a) { return to_numpy(a.right_singular_vectors()); }); },
          "Right singular vectors as columns; needs compute_vectors=True.")
      .def_property_readonly("dtype", &Held::dtype, "The analysis precision: 'float32' or 'float64'.")
      .def_property_readonly(
          "query_route",
          [](const Held& self) { return self.visit([](auto& a) { return to_string(a.query_route()); }); },
          "How the query factor was reduced: 'cholesky_qr', 'cholesky_qr2', 'householder' or 'gram'.")
      .def_property_readonly(
          "key_route", [](const Held& self) { return self.visit([](auto& a) { return to_string(a.key_route()); }); },
          "How the key factor was reduced.")
      .def(
          "dense", [](const Held& self) { return self.visit([](auto& a) { return to_numpy(a.dense()); }); },
          "The matrix itself (allocates it): for small cases and checking.")
      .def(
          "stats",
          [](const Held& self) {
            return self.visit([](auto& a) { return SpectrumStats<double>(a.singular_values()); });
          },
          "SpectrumStats of the singular values.");
}

std::string field_repr(const Field& field) {
  return field.visit([&](auto& f) {
    std::ostringstream text;
    text.imbue(std::locale::classic());
    text << "LogitEnergyField(n=" << f.rows() << ", m=" << f.cols() << ", d=" << f.head_dim() << ", scale=" << f.scale()
         << ", rank=" << f.singular_values().size() << ", dtype=" << field.dtype() << ")";
    return text.str();
  });
}

std::string interaction_repr(const Interaction& interaction) {
  return interaction.visit([&](auto& m) {
    std::ostringstream text;
    text.imbue(std::locale::classic());
    text << "InteractionMatrix(d=" << m.head_dim() << ", input_dim=" << m.input_dim()
         << ", group_size=" << m.group_size() << ", preparation='" << m.preparation().describe()
         << "', dtype=" << interaction.dtype() << ")";
    return text.str();
  });
}

Field make_field(py::handle queries, py::handle keys, std::optional<double> scale, bool center_rows,
                 Eigen::Index drop_leading_keys, bool compute_vectors, bool keep_factors, const std::string& algorithm,
                 long long threads, py::handle dtype) {
  constexpr const char* function = "LogitEnergyField";
  MatrixArgument q(queries, function, "Q"), k(keys, function, "K");
  MatrixArgument::unify(q, k);
  FieldOptions options = field_options(scale, center_rows, drop_leading_keys, algorithm, threads, function);
  options.compute_vectors = compute_vectors;
  options.keep_factors = keep_factors;
  const Precision precision = precision_of(dtype, function);
  py::gil_scoped_release release;
  return Field(precision, [&](auto& field) {
    q.visit([&](const auto& q_view) {
      using T = typename std::decay_t<decltype(q_view)>::Scalar;
      field.compute(q_view, k.view<T>(), options);
    });
  });
}

/// An optional vector keyword argument of WeightPreparation.
Eigen::VectorXd optional_vector(py::handle object, const char* argument) {
  return object.is_none() ? Eigen::VectorXd() : vector_argument(object, "InteractionMatrix", argument);
}

Interaction make_interaction(py::handle query_weight, py::handle key_weight, double scale, py::handle norm_gain,
                             py::handle norm_bias, py::handle query_bias, py::handle key_bias, bool compute_vectors,
                             long long threads, py::handle dtype) {
  constexpr const char* function = "InteractionMatrix";
  MatrixArgument wq(query_weight, function, "W_Q"), wk(key_weight, function, "W_K");
  MatrixArgument::unify(wq, wk);
  WeightPreparation preparation;
  preparation.scale = scale;
  preparation.norm_gain = optional_vector(norm_gain, "norm_gain");
  preparation.norm_bias = optional_vector(norm_bias, "norm_bias");
  preparation.query_bias = optional_vector(query_bias, "query_bias");
  preparation.key_bias = optional_vector(key_bias, "key_bias");
  const InteractionOptions options{compute_vectors, thread_count(threads, function)};
  const Precision precision = precision_of(dtype, function);
  py::gil_scoped_release release;
  return Interaction(precision, [&](auto& interaction) {
    wq.visit([&](const auto& q_view) {
      using T = typename std::decay_t<decltype(q_view)>::Scalar;
      interaction.compute(q_view, wk.view<T>(), preparation, options);
    });
  });
}

SpectrumStats<double> make_stats(py::handle singular_values) {
  return SpectrumStats<double>(vector_argument(singular_values, "SpectrumStats", "singular_values"));
}

}  // namespace

void bind_spectra(py::module_& module) {
  using namespace pybind11::literals;

  py::class_<SpectrumStats<double>>(module, "SpectrumStats", R"(How many directions a spectrum uses.

SpectrumStats(singular_values): any 1-D sequence of finite, non-negative values, in any order. Statistics are
scale-free (computed on sigma / sigma_1) and accumulated in double.)")
      .def(py::init(&make_stats), "singular_values"_a)
      .def("rank_at", &SpectrumStats<double>::rank_at, "tau"_a = 0.9,
           "k@tau: the fewest components whose share of sum(sigma^2) reaches tau (tau in (0, 1]).")
      .def_property_readonly("entropy_effective_rank", &SpectrumStats<double>::entropy_effective_rank,
                             "exp(-sum q log q) with q = sigma / sum(sigma).")
      .def_property_readonly("participation_ratio", &SpectrumStats<double>::participation_ratio,
                             "(sum sigma^2)^2 / sum sigma^4.")
      .def_property_readonly("stable_rank", &SpectrumStats<double>::stable_rank, "sum sigma^2 / sigma_1^2.")
      .def_property_readonly(
          "singular_values", [](const SpectrumStats<double>& s) { return to_numpy(s.singular_values()); },
          "The values, sorted descending.")
      .def_property_readonly(
          "cumulative_variance", [](const SpectrumStats<double>& s) { return to_numpy(s.cumulative_variance()); },
          "c_k for k = 0..r: the share of sum(sigma^2) in the top k values (c_0 = 0, c_r = 1).")
      .def_property_readonly(
          "energy_fractions", [](const SpectrumStats<double>& s) { return to_numpy(s.energy_fractions()); },
          "sigma_i^2 / sum(sigma^2).")
      .def("__len__", [](const SpectrumStats<double>& s) { return s.size(); })
      .def("__repr__", [](const SpectrumStats<double>& s) {
        std::ostringstream text;
        text.imbue(std::locale::classic());
        text << "SpectrumStats(size=" << s.size() << ", rank_at(0.9)=" << s.rank_at(0.9)
             << ", entropy_effective_rank=" << s.entropy_effective_rank() << ")";
        return text.str();
      });

  module.def(
      "spectrum_gap",
      [](const SpectrumStats<double>& wide, const SpectrumStats<double>& narrow, double tau) {
        return to_python(spectrum_gap(wide, narrow, tau));
      },
      "wide"_a, "narrow"_a, "tau"_a = 0.9,
      "Each statistic of `wide` over that of `narrow` (in the paper's use, M over the field), as a Record.");

  py::class_<Field> field(module, "LogitEnergyField", R"(The logit energy field of one head on one text.

LogitEnergyField(Q, K, *, scale=None, center_rows=True, drop_leading_keys=0, compute_vectors=False,
                 keep_factors=True, algorithm="accurate", threads=1, dtype="float64")

Q is n x d, K is m x d (numpy arrays, torch tensors or anything numpy converts). The field is
scale * Q @ (K - mean key).T (rows centred) without forming it; scale None means 1/sqrt(d). float32 and float64
arrays are read in place in any memory layout. keep_factors=False keeps no converted copy of Q and K (they are
read 1,024 rows at a time; dense() is then unavailable). The GIL is released while computing.)");
  field
      .def(py::init(&make_field), "Q"_a, "K"_a, py::kw_only(), "scale"_a = py::none(), "center_rows"_a = true,
           "drop_leading_keys"_a = 0, "compute_vectors"_a = false, "keep_factors"_a = true, "algorithm"_a = "accurate",
           "threads"_a = 1, "dtype"_a = "float64")
      .def_property_readonly("rows", [](const Field& f) { return f.visit([](auto& a) { return a.rows(); }); })
      .def_property_readonly(
          "cols", [](const Field& f) { return f.visit([](auto& a) { return a.cols(); }); },
          "Keys kept (m minus drop_leading_keys).")
      .def_property_readonly("head_dim", [](const Field& f) { return f.visit([](auto& a) { return a.head_dim(); }); })
      .def_property_readonly("scale", [](const Field& f) { return f.visit([](auto& a) { return a.scale(); }); })
      .def(
          "rank_k_rows",
          [](const Field& f, Eigen::Index k, Eigen::Index first_row, std::optional<Eigen::Index> row_count) {
            return f.visit([&](auto& a) {
              return to_numpy(a.rank_k_rows(k, first_row, row_count.value_or(a.rows() - first_row)));
            });
          },
          "k"_a, "first_row"_a = 0, "row_count"_a = py::none(),
          "Rows of the best rank-k approximation of the field; needs compute_vectors=True.")
      .def("__repr__", &field_repr);
  bind_factored_spectrum(field);

  py::class_<Interaction> interaction(module, "InteractionMatrix",
                                      R"(The interaction matrix M = W_Q.T @ W_K of one head.

InteractionMatrix(W_Q, W_K, *, scale=1.0, norm_gain=None, norm_bias=None, query_bias=None, key_bias=None,
                  compute_vectors=False, threads=1, dtype="float64")

W_Q and W_K are the head's d x D slices in nn.Linear layout (g*d x D for a KV group of g query heads). The
preparation (scale, the pre-attention norm's gain and bias, the q/k biases) is folded in as the C++
WeightPreparation describes.)");
  interaction
      .def(py::init(&make_interaction), "W_Q"_a, "W_K"_a, py::kw_only(), "scale"_a = 1.0, "norm_gain"_a = py::none(),
           "norm_bias"_a = py::none(), "query_bias"_a = py::none(), "key_bias"_a = py::none(),
           "compute_vectors"_a = false, "threads"_a = 1, "dtype"_a = "float64")
      .def_property_readonly("head_dim",
                             [](const Interaction& m) { return m.visit([](auto& a) { return a.head_dim(); }); })
      .def_property_readonly(
          "input_dim", [](const Interaction& m) { return m.visit([](auto& a) { return a.input_dim(); }); },
          "D, or D + 1 when biases add the constant coordinate.")
      .def_property_readonly("group_size",
                             [](const Interaction& m) { return m.visit([](auto& a) { return a.group_size(); }); })
      .def_property_readonly(
          "preparation",
          [](const Interaction& m) { return m.visit([](auto& a) { return a.preparation().describe(); }); },
          "One line saying how the weights were prepared.")
      .def("__repr__", &interaction_repr);
  bind_factored_spectrum(interaction);
}

}  // namespace attnspec::python
