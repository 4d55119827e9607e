#pragma once
// The Python Tensor type: a CPython heap type whose instances hold a tg::Tensor.
// Arithmetic goes through its number slots and hot methods are plain C functions, so
// `x * 0.9` runs no Python frame and no pybind11 dispatch. pybind11 sees the type
// through the caster below and binds the rest of the API.
#include <Python.h>
#include <pybind11/pybind11.h>

#include "tensor/tensor.h"

namespace tg::python {

struct PyTensor {
  PyObject_HEAD
  Tensor tensor;
  PyObject* weakreflist;
};

extern PyTypeObject* TensorType;

inline bool is_tensor(PyObject* o) { return PyObject_TypeCheck(o, TensorType); }
inline const Tensor& unwrap(PyObject* o) { return reinterpret_cast<PyTensor*>(o)->tensor; }
// A new reference to the Python object for t (the same object each time while it lives).
PyObject* wrap(Tensor t);
// Allocate an instance of `type` (a subclass of Tensor) holding t.
PyObject* wrap_as(PyTypeObject* type, Tensor t);

// Python value -> tensor: Tensor, numbers, nested sequences, buffers/NumPy arrays.
// dtype_or_null: a dtype object or nullptr to infer (floats -> float32).
Tensor tensor_from_python(PyObject* data, PyObject* dtype_or_null);
bool parse_dtype(PyObject* obj, DType& out);  // accepts our dtypes, NumPy dtypes, names
// A Python bool, int or float as a Scalar of that kind (an int beyond int64 becomes a float).
bool as_scalar(PyObject* o, Scalar& s);
PyObject* dtype_object(DType d);              // borrowed
void register_dtypes(PyObject* float32, PyObject* float64, PyObject* int64, PyObject* boolean,
                     PyObject* converter);

void init_tensor_type(PyObject* module);

// Drop the GIL around work on large tensors.
struct ReleaseGilIf {
  PyThreadState* state = nullptr;
  explicit ReleaseGilIf(bool cond) { if (cond) state = PyEval_SaveThread(); }
  ~ReleaseGilIf() { if (state) PyEval_RestoreThread(state); }
};
constexpr int64_t kReleaseGilNumel = 1 << 15;

// Set the Python error for the exception being handled (call inside catch (...)).
void set_python_error();
// Rethrow the exception being handled with `name` in front of its message, unless the
// message already names it.
[[noreturn]] void rethrow_named(const char* name);

}  // namespace tg::python

// Bound classes (Node, ...) are held by their intrusive Ref, in every file that casts them.
PYBIND11_DECLARE_HOLDER_TYPE(T, tg::Ref<T>, true)

namespace pybind11::detail {
template <>
struct type_caster<tg::Tensor> {
  PYBIND11_TYPE_CASTER(tg::Tensor, const_name("Tensor"));
  bool load(handle src, bool convert) {
    if (tg::python::is_tensor(src.ptr())) { value = tg::python::unwrap(src.ptr()); return true; }
    if (!convert || src.is_none()) return false;
    try {
      value = tg::python::tensor_from_python(src.ptr(), nullptr);  // numbers, lists, arrays
    } catch (...) {  // pybind11 then reports "incompatible function arguments" for the op
      PyErr_Clear();
      return false;
    }
    return true;
  }
  static handle cast(const tg::Tensor& t, return_value_policy, handle) { return tg::python::wrap(t); }
};
}  // namespace pybind11::detail
