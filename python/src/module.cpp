// attnspec's Python module (attnspec._core): the C++ library's analyses over numpy arrays. The package around it
// (python/attnspec/) adds the pure-Python parts: argument conversion, records, PyTorch helpers and the monitor.
#include "conversions.hpp"

namespace attnspec::python {

namespace {

/// attnspec's exceptions as the Python classes of attnspec._errors, with the same message (what()): invalid
/// arguments are ValueErrors, unreadable or malformed files OSErrors carrying .path and .offset.
void translate(std::exception_ptr pointer) {
  const py::module_ errors = py::module_::import("attnspec._errors");
  const auto raise = [](const py::object& type, const py::object& instance) {
    PyErr_SetObject(type.ptr(), instance.ptr());
  };
  try {
    std::rethrow_exception(pointer);
  } catch (const io_error& error) {
    const py::object type = errors.attr("FileError");
    const py::object instance = type(error.what());
    instance.attr("path") = error.path();
    instance.attr("offset") = error.offset() ? py::object(py::int_(*error.offset())) : py::none();
    raise(type, instance);
  } catch (const invalid_argument& error) {
    const py::object type = errors.attr("InvalidArgument");
    raise(type, type(error.what()));
  } catch (const cancelled& error) {
    const py::object type = errors.attr("Cancelled");
    raise(type, type(error.what()));
  }
}

}  // namespace

}  // namespace attnspec::python

PYBIND11_MODULE(_core, module) {
  namespace py = pybind11;
  module.doc() = "attnspec's C++ analyses; import attnspec, not this module.";
  module.attr("__version__") = ATTNSPEC_VERSION_STRING;
  py::register_exception_translator(&attnspec::python::translate);
  attnspec::python::bind_spectra(module);
  attnspec::python::bind_stability(module);
  attnspec::python::bind_pipeline(module);
  attnspec::python::bind_checkpoints(module);
}
