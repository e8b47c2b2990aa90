// attnspec's Python module: how arrays, options and results cross between Python and the C++ library.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <attnspec/attnspec.hpp>
#include <attnspec/io/report_writers.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace attnspec::python {

namespace py = pybind11;

/// A 2-D array read in place: any positive element strides, column- or row-major alike.
template <class T>
using MatrixView = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>, 0,
                              Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

/// A matrix argument as the C++ side reads it. float32 and float64 arrays whose strides are positive multiples of
/// their element size are viewed without a copy; anything else (other dtypes, torch tensors, lists, reversed or
/// byte-swapped arrays) is converted once by attnspec._arrays.as_float_array, which also rejects what is not a
/// real 2-D array with a message naming `function` and `argument`.
class MatrixArgument {
 public:
  MatrixArgument(py::handle object, const char* function, const char* argument) {
    if (!viewable(object)) {
      object = m_converted =
          py::module_::import("attnspec._arrays").attr("as_float_array")(object, function, argument, 2);
    }
    m_array = py::reinterpret_borrow<py::array>(object);
    m_float = py::isinstance<py::array_t<float>>(m_array);
  }

  /// Both arguments in one precision: a float32 one is widened when the other is float64.
  static void unify(MatrixArgument& a, MatrixArgument& b) {
    if (a.m_float != b.m_float) (a.m_float ? a : b).widen();
  }

  bool is_float() const { return m_float; }
  const py::array& array() const { return m_array; }

  template <class T>
  MatrixView<T> view() const {
    const auto size = static_cast<Eigen::Index>(sizeof(T));
    const Eigen::Index rows = m_array.shape(0), cols = m_array.shape(1);
    return MatrixView<T>(
        static_cast<const T*>(m_array.data()), rows, cols,
        Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(m_array.strides(1) / size, m_array.strides(0) / size));
  }

  /// Calls visit(view) with the view in the array's own precision.
  template <class Visit>
  decltype(auto) visit(Visit&& visit) const {
    return m_float ? visit(view<float>()) : visit(view<double>());
  }

 private:
  static bool viewable(py::handle object) {
    const bool is_double = py::isinstance<py::array_t<double>>(object);
    if (!is_double && !py::isinstance<py::array_t<float>>(object)) return false;
    const auto array = py::reinterpret_borrow<py::array>(object);
    const py::ssize_t size = is_double ? 8 : 4;
    if (array.ndim() != 2 || array.size() == 0) return false;  // the helper names the shape
    for (py::ssize_t axis = 0; axis < 2; ++axis) {
      if (array.strides(axis) <= 0 || array.strides(axis) % size != 0) return false;
    }
    return reinterpret_cast<std::uintptr_t>(array.data()) % static_cast<std::uintptr_t>(size) == 0;
  }

  void widen() {
    m_converted = m_array.attr("astype")("float64");
    m_array = py::reinterpret_borrow<py::array>(m_converted);
    m_float = false;
  }

  py::object m_converted;  // owns a converted copy, when one was needed
  py::array m_array;
  bool m_float = false;
};

/// A vector argument (norm gains, biases, singular values), copied: such vectors are short.
inline Eigen::VectorXd vector_argument(py::handle object, const char* function, const char* argument) {
  const auto array = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(
      py::module_::import("attnspec._arrays").attr("as_float_array")(object, function, argument, 1));
  return Eigen::Map<const Eigen::VectorXd>(array.data(), array.shape(0));
}

/// The precision an analysis runs in: numpy's float32 or float64 (any spelling numpy accepts).
enum class Precision { float32, float64 };

inline Precision precision_of(py::handle dtype, const char* function) {
  const std::string name = py::str(py::module_::import("numpy").attr("dtype")(dtype).attr("name"));
  if (name == "float32") return Precision::float32;
  if (name == "float64") return Precision::float64;
  detail::throw_invalid_argument(function, "dtype = ", name, " is not an analysis precision: use float32 or float64");
}

/// Calls run(Scalar{}) with Scalar = float or double as `precision` says.
template <class Run>
decltype(auto) with_precision(Precision precision, Run&& run) {
  return precision == Precision::float32 ? run(float{}) : run(double{});
}

/// One analysis in the precision the caller chose; the Python class holds whichever was built.
template <template <class> class Analysis>
class EitherPrecision {
 public:
  template <class Compute>
  EitherPrecision(Precision precision, Compute&& compute) {
    with_precision(precision, [&](auto scalar) {
      Analysis<decltype(scalar)> analysis;
      compute(analysis);
      m_value = std::move(analysis);
    });
  }

  /// Calls get(analysis) on whichever precision is held.
  template <class Get>
  decltype(auto) visit(Get&& get) const {
    return std::visit(get, m_value);
  }

  const char* dtype() const { return m_value.index() == 0 ? "float32" : "float64"; }

 private:
  std::variant<Analysis<float>, Analysis<double>> m_value;
};

/// One of attnspec's enumerations from the name to_string gives it.
template <class Enum>
Enum parse_enum(std::string_view name, const char* function, const char* argument) {
  std::string names;
  int value = 0;
  for (const char* candidate : io::enum_values<Enum>()) {
    if (name == candidate) return static_cast<Enum>(value);
    names += (value++ ? ", " : "") + std::string(candidate);
  }
  detail::throw_invalid_argument(function, argument, " = '", name, "' is not one of ", names);
}

/// A thread count from Python: 0 means all hardware threads; negative is an error, not a huge unsigned.
inline unsigned thread_count(long long threads, const char* function) {
  if (threads < 0 || threads > 1 << 16) {
    detail::throw_invalid_argument(function, "threads = ", threads, " must be in [0, 65536] (0: all hardware threads)");
  }
  return static_cast<unsigned>(threads);
}

/// An Eigen matrix or vector as a new numpy array of its own element type.
template <class Derived>
py::array to_numpy(const Eigen::PlainObjectBase<Derived>& value) {
  using T = typename Derived::Scalar;
  if constexpr (Derived::IsVectorAtCompileTime) {
    return py::array_t<T>(value.size(), value.data());
  } else {
    const auto size = static_cast<py::ssize_t>(sizeof(T));
    return py::array_t<T>({value.rows(), value.cols()}, {size, size * value.rows()}, value.data());
  }
}

/// Any value a report Record lists, as Python: records become attnspec.Record (attribute access, as_dict()),
/// vectors numpy arrays, enums their names, absent optionals None.
template <class T>
py::object to_python(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return py::bool_(value);
  } else if constexpr (std::is_enum_v<T>) {
    return py::str(to_string(value));
  } else if constexpr (std::is_integral_v<T>) {
    return py::int_(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    return py::float_(static_cast<double>(value));
  } else if constexpr (std::is_same_v<T, std::string>) {
    return py::str(value);
  } else if constexpr (io::detail::is_optional<T>::value) {
    return value ? to_python(*value) : py::none();
  } else if constexpr (io::detail::is_record<T>::value) {
    py::dict fields;
    io::Record<T>::fields(value,
                          [&](const char* name, const auto& member, const char*) { fields[name] = to_python(member); });
    return py::module_::import("attnspec._records").attr("Record")(io::Record<T>::name, fields);
  } else if constexpr (io::detail::is_vector<T>::value) {
    py::list items;
    for (const auto& item : value) items.append(to_python(item));
    return std::move(items);
  } else {
    return to_numpy(value);
  }
}

/// The field options every analysis of Q and K takes as keyword arguments.
inline FieldOptions field_options(std::optional<double> scale, bool center_rows, Eigen::Index drop_leading_keys,
                                  const std::string& algorithm, long long threads, const char* function) {
  FieldOptions options;
  options.scale = scale;
  options.center_rows = center_rows;
  options.drop_leading_keys = drop_leading_keys;
  options.algorithm = parse_enum<FieldAlgorithm>(algorithm, function, "algorithm");
  options.threads = thread_count(threads, function);
  return options;
}

// The binding of each part of the library, one file each.
void bind_spectra(py::module_& module);
void bind_stability(py::module_& module);
void bind_pipeline(py::module_& module);
void bind_checkpoints(py::module_& module);

}  // namespace attnspec::python
