// attnspec's Python module: checkpoints read through their family's description (ModelWeights).
#include <attnspec/io/model_adapters.hpp>

#include "conversions.hpp"

namespace attnspec::python {

namespace {

py::dict config_dict(const io::ModelConfig& config) {
  py::dict out;
  out["family"] = io::family_name(config.family);
  out["layers"] = config.layers;
  out["query_heads"] = config.query_heads;
  out["kv_heads"] = config.kv_heads;
  out["head_dim"] = config.head_dim;
  out["model_dim"] = config.model_dim;
  out["context"] = config.context;
  out["sliding_window"] = config.sliding_window;
  if (config.rotary) {
    py::dict rotary;
    rotary["theta"] = config.rotary->theta;
    rotary["scaling"] = config.rotary->scaling;
    rotary["factor"] = config.rotary->factor;
    rotary["low_freq_factor"] = config.rotary->low_freq_factor;
    rotary["high_freq_factor"] = config.rotary->high_freq_factor;
    rotary["original_context"] = config.rotary->original_context;
    rotary["inverse_frequencies"] = to_numpy(config.rotary->inverse_frequencies(config.head_dim));
    out["rotary"] = rotary;
  } else {
    out["rotary"] = py::none();
  }
  return out;
}

/// One stored tensor, whole, as a C-ordered array: float64 for F64, float32 for the 32- and 16-bit types.
py::array read_tensor(const io::ModelWeights& weights, const std::string& name) {
  const TensorView view = weights.checkpoint().tensor(name);
  std::vector<py::ssize_t> shape(view.shape().begin(), view.shape().end());
  const auto fill = [&](auto zero) {
    using T = decltype(zero);
    py::array_t<T> out(shape);
    T* data = out.mutable_data();
    for (Eigen::Index i = 0; i < view.size(); ++i) data[i] = view.template element<T>(i);
    return py::array(std::move(out));
  };
  return view.type() == ElementType::float64 ? fill(double{}) : fill(float{});
}

py::dict unit_input(const io::ModelWeights& weights, const HeadId& unit, bool fold_norm, bool biases,
                    bool logit_scale) {
  io::AdapterOptions options;
  options.fold_norm = fold_norm;
  options.biases = biases;
  options.logit_scale = logit_scale;
  const HeadInput<double> input = weights.input<double>(unit, options);
  py::dict preparation;
  preparation["scale"] = input.preparation.scale;
  const auto optional = [](const Eigen::VectorXd& v) { return v.size() ? py::object(to_numpy(v)) : py::none(); };
  preparation["norm_gain"] = optional(input.preparation.norm_gain);
  preparation["norm_bias"] = optional(input.preparation.norm_bias);
  preparation["query_bias"] = optional(input.preparation.query_bias);
  preparation["key_bias"] = optional(input.preparation.key_bias);
  py::dict out;
  out["query_weight"] = to_numpy(input.query_weight);
  out["key_weight"] = to_numpy(input.key_weight);
  out["preparation"] = preparation;
  return out;
}

/// RotaryConfig from config.json's rope_theta and rope_scaling (a dict, or None for no scaling).
Eigen::VectorXd rotary_frequencies(Eigen::Index head_dim, double theta, const std::optional<py::dict>& scaling) {
  constexpr const char* function = "rotary_frequencies";
  if (head_dim <= 0 || head_dim % 2 != 0) {
    detail::throw_invalid_argument(function, "head_dim = ", head_dim, " must be positive and even");
  }
  if (!(theta > 1) || !std::isfinite(theta))
    detail::throw_invalid_argument(function, "theta = ", theta, " must exceed 1");
  io::RotaryConfig rotary;
  rotary.theta = theta;
  if (scaling) {
    const auto number = [&](const char* key, double fallback) {
      return scaling->contains(key) && !(*scaling)[key].is_none() ? (*scaling)[key].cast<double>() : fallback;
    };
    const char* type_key = scaling->contains("rope_type") ? "rope_type" : "type";
    rotary.scaling = scaling->contains(type_key) ? py::str((*scaling)[type_key]) : py::str("default");
    if (rotary.scaling != "default" && rotary.scaling != "llama3") {
      detail::throw_invalid_argument(function, "rope_scaling type '", rotary.scaling,
                                     "' is not supported (default, llama3)");
    }
    rotary.factor = number("factor", 1.0);
    rotary.low_freq_factor = number("low_freq_factor", 1.0);
    rotary.high_freq_factor = number("high_freq_factor", 4.0);
    rotary.original_context = number("original_max_position_embeddings", 8192.0);
  }
  return rotary.inverse_frequencies(head_dim);
}

}  // namespace

void bind_checkpoints(py::module_& module) {
  using namespace pybind11::literals;

  py::class_<io::ModelWeights, std::shared_ptr<io::ModelWeights>>(
      module, "ModelWeights", R"(A checkpoint read through its family's tensor names.

ModelWeights(path): a directory with config.json and model.safetensors (or a sharded index), an index .json or a
.safetensors file. GPT-2, Llama, Mistral and Qwen-2 checkpoints; tensors are memory-mapped and read on demand.)")
      .def(py::init([](const std::string& path) {
             py::gil_scoped_release release;
             return std::make_shared<io::ModelWeights>(path);
           }),
           "path"_a)
      .def_property_readonly(
          "config", [](const io::ModelWeights& w) { return config_dict(w.config()); },
          "What attnspec read from config.json: family, sizes and the rotary embedding.")
      .def(
          "units",
          [](const io::ModelWeights& w, const std::string& grouping) {
            const auto& c = w.config();
            return model_heads(c.layers, c.query_heads, c.kv_heads,
                               parse_enum<QueryGrouping>(grouping, "ModelWeights.units", "grouping"));
          },
          "grouping"_a = "per_query_head", "Every unit of the model (HeadId list).")
      .def("input", &unit_input, "unit"_a, py::kw_only(), "fold_norm"_a = false, "biases"_a = false,
           "logit_scale"_a = true,
           "The unit's weights as analyse_model's load returns them: {'query_weight', 'key_weight', "
           "'preparation'}; add 'queries' and 'keys' to analyse the field as well.")
      .def("tensor", &read_tensor, "name"_a, "A stored tensor as a numpy array (float16 and bfloat16 as float32).")
      .def(
          "tensor_names", [](const io::ModelWeights& w) { return w.checkpoint().tensor_names(); },
          "Every tensor name, sorted.")
      .def("__repr__", [](const io::ModelWeights& w) {
        const auto& c = w.config();
        return "ModelWeights(family=" + std::string(io::family_name(c.family)) +
               ", layers=" + std::to_string(c.layers) + ", query_heads=" + std::to_string(c.query_heads) +
               ", kv_heads=" + std::to_string(c.kv_heads) + ", head_dim=" + std::to_string(c.head_dim) +
               ", model_dim=" + std::to_string(c.model_dim) + ")";
      });

  module.def(
      "_rotary_frequencies",
      [](Eigen::Index head_dim, double theta, std::optional<py::dict> scaling) {
        return to_numpy(rotary_frequencies(head_dim, theta, scaling));
      },
      "head_dim"_a, "theta"_a, "scaling"_a);
}

}  // namespace attnspec::python
