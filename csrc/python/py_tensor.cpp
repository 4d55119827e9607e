#include "python/py_tensor.h"

#include <cstring>

#include <structmember.h>

#include "ops/ops.h"

namespace tg::python {

PyTypeObject* TensorType = nullptr;

// ---- errors -------------------------------------------------------------------------------

void set_python_error() {
  try {
    throw;
  } catch (pybind11::error_already_set& e) {
    e.restore();
  } catch (const pybind11::cast_error& e) {
    PyErr_SetString(PyExc_TypeError, str_cat("invalid argument: ", e.what()).c_str());
  } catch (const TypeError& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
  } catch (const ValueError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const IndexError& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const RuntimeError& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_SetString(PyExc_MemoryError, "tapegrad: out of memory");
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "tapegrad: unknown C++ exception");
  }
}
// ---- errors name the function they come from ----------------------------------------------
// Any exception leaving a bound function whose message does not already name it gets
// the name in front, so `tg.sum(x, axis="a")` says "sum: ..." rather than a bare cast error.
[[noreturn]] void rethrow_named(const char* name) {
  namespace py = pybind11;
  auto named = [name](const std::string& msg) {
    return msg.rfind(name, 0) == 0 || msg.find(std::string(name) + ":") != std::string::npos
               ? msg : str_cat(name, ": ", msg);
  };
  try {
    throw;
  } catch (py::error_already_set& e) {
    if (e.matches(PyExc_TypeError) || e.matches(PyExc_ValueError) || e.matches(PyExc_IndexError) ||
        e.matches(PyExc_RuntimeError)) {
      PyObject* type = e.type().ptr();
      std::string msg = named(py::str(e.value()));
      PyErr_SetString(type, msg.c_str());
      throw py::error_already_set();
    }
    throw;
  } catch (const py::cast_error& e) {
    throw TypeError(named(str_cat("invalid argument (", e.what(), ")")));
  } catch (const TypeError& e) {
    throw TypeError(named(e.what()));
  } catch (const ValueError& e) {
    throw ValueError(named(e.what()));
  } catch (const IndexError& e) {
    throw IndexError(named(e.what()));
  } catch (const RuntimeError& e) {
    throw RuntimeError(named(e.what()));
  }
}

#define TG_TRY try {
#define TG_CATCH(ret) } catch (...) { set_python_error(); return ret; }

// ---- dtypes -------------------------------------------------------------------------------

static PyObject* dtype_objects[kNumDTypes] = {};
static PyObject* dtype_converter = nullptr;

void register_dtypes(PyObject* f32, PyObject* f64, PyObject* i64, PyObject* b, PyObject* converter) {
  PyObject* objs[] = {f32, f64, i64, b};
  for (int i = 0; i < kNumDTypes; ++i) { Py_XINCREF(objs[i]); dtype_objects[i] = objs[i]; }
  Py_XINCREF(converter);
  dtype_converter = converter;
}

PyObject* dtype_object(DType d) { return dtype_objects[int(d)]; }

bool parse_dtype(PyObject* obj, DType& out) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (obj == dtype_objects[i]) { out = DType(i); return true; }
  if (!dtype_converter) return false;
  PyObject* r = PyObject_CallOneArg(dtype_converter, obj);  // raises TypeError if unknown
  if (!r) throw pybind11::error_already_set();
  for (int i = 0; i < kNumDTypes; ++i)
    if (r == dtype_objects[i]) { Py_DECREF(r); out = DType(i); return true; }
  Py_DECREF(r);
  return false;
}

// ---- wrapping -----------------------------------------------------------------------------

PyObject* wrap_as(PyTypeObject* type, Tensor t) {
  PyObject* obj = type->tp_alloc(type, 0);
  if (!obj) throw pybind11::error_already_set();
  auto* p = reinterpret_cast<PyTensor*>(obj);
  new (&p->tensor) Tensor(std::move(t));
  p->weakreflist = nullptr;
  p->tensor.impl()->pyobj = obj;
  return obj;
}

PyObject* wrap(Tensor t) {
  if (!t.defined()) Py_RETURN_NONE;
  if (PyObject* existing = static_cast<PyObject*>(t.impl()->pyobj)) {
    Py_INCREF(existing);
    return existing;
  }
  return wrap_as(TensorType, std::move(t));
}

static void tensor_dealloc(PyObject* self) {
  auto* p = reinterpret_cast<PyTensor*>(self);
  PyTypeObject* tp = Py_TYPE(self);
  if (p->weakreflist) PyObject_ClearWeakRefs(self);
  if (p->tensor.defined() && p->tensor.impl()->pyobj == self) p->tensor.impl()->pyobj = nullptr;
  p->tensor.~Tensor();
  tp->tp_free(self);
  Py_DECREF(tp);
}

// ---- conversion from Python values --------------------------------------------------------

bool as_scalar(PyObject* o, Scalar& s) {
  if (PyFloat_Check(o)) { s = Scalar::from_double(PyFloat_AS_DOUBLE(o)); return true; }
  if (PyBool_Check(o)) { s = Scalar::from_bool(o == Py_True); return true; }
  if (PyLong_Check(o)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) s = Scalar::from_double(PyLong_AsDouble(o));
    else s = Scalar::from_int(v);
    return true;
  }
  return false;
}

static bool format_dtype(const char* fmt, Py_ssize_t itemsize, DType& out, bool& exact) {
  if (!fmt) fmt = "B";
  if (*fmt == '<' || *fmt == '=' || *fmt == '@') ++fmt;
  exact = true;
  switch (*fmt) {
    case 'f': out = DType::Float32; return itemsize == 4;
    case 'd': out = DType::Float64; return itemsize == 8;
    case '?': out = DType::Bool; return itemsize == 1;
    case 'q': case 'l': if (itemsize == 8) { out = DType::Int64; return true; } break;
    default: break;
  }
  exact = false;
  return false;
}

// Lazily imported: `import tapegrad` does not pay for NumPy until it is needed.
static PyObject* numpy_module() {
  static PyObject* np = nullptr;
  if (!np) {
    np = PyImport_ImportModule("numpy");
    if (!np) throw pybind11::error_already_set();
  }
  return np;
}

static Tensor copy_from_buffer(PyObject* obj, DType dtype) {
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_RECORDS_RO) != 0) throw pybind11::error_already_set();
  Tensor out;
  try {
    DType src;
    bool exact;
    if (!format_dtype(view.format, view.itemsize, src, exact))
      throw TypeError(str_cat("tensor: unsupported buffer format '", view.format ? view.format : "B", "'"));
    Shape shape, strides;
    for (int i = 0; i < view.ndim; ++i) {
      shape.push_back(view.shape[i]);
      TG_CHECK(view.strides[i] % view.itemsize == 0, ValueError, "tensor: buffer strides are not a multiple of the item size");
      strides.push_back(view.strides[i] / view.itemsize);
    }
    // A non-owning view of the buffer, then one copy with conversion.
    int64_t min_off = 0, max_off = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 0) { min_off = max_off = 0; break; }
      (strides[d] < 0 ? min_off : max_off) += (shape[d] - 1) * strides[d];
    }
    Ref<Storage> st = Storage::wrap_external(static_cast<char*>(view.buf) + min_off * view.itemsize,
                                             size_t(max_off - min_off + 1) * size_t(view.itemsize), nullptr, nullptr);
    Tensor borrowed(make_ref<TensorImpl>(st, src, shape, strides, -min_off));
    out = Tensor::empty(shape, dtype);
    kernels::copy(borrowed, out);
  } catch (...) {
    PyBuffer_Release(&view);
    throw;
  }
  PyBuffer_Release(&view);
  return out;
}

static DType dtype_of_numpy(PyObject* arr) {
  PyObject* dt = PyObject_GetAttrString(arr, "dtype");
  if (!dt) throw pybind11::error_already_set();
  PyObject* kind = PyObject_GetAttrString(dt, "kind");
  Py_DECREF(dt);
  if (!kind) throw pybind11::error_already_set();
  const char* k = PyUnicode_AsUTF8(kind);
  std::string ks = k ? k : "";
  Py_DECREF(kind);
  if (ks == "b") return DType::Bool;
  if (ks == "i" || ks == "u") return DType::Int64;
  if (ks == "f") return DType::Float32;  // refined by the caller for float64 arrays
  throw TypeError(str_cat("tensor: cannot convert data of NumPy kind '", ks, "' (only bool, int and float)"));
}

Tensor tensor_from_python(PyObject* data, PyObject* dtype_obj) {
  DType dtype = DType::Float32;
  const bool has_dtype = dtype_obj && dtype_obj != Py_None;
  if (has_dtype && !parse_dtype(dtype_obj, dtype)) throw TypeError("tensor: unknown dtype");
  if (is_tensor(data)) {
    const Tensor& t = unwrap(data);
    return clone(detach(has_dtype ? to_dtype(t, dtype) : t));
  }
  // Python numbers only: NumPy scalars (np.float64 subclasses float) keep their dtype below.
  Scalar s;
  const bool python_number = PyFloat_CheckExact(data) || PyLong_CheckExact(data) || PyBool_Check(data);
  if (python_number && as_scalar(data, s)) return full(Shape{}, s, has_dtype ? dtype : s.natural_dtype());
  // Everything else goes through NumPy, which knows nested sequences and buffers.
  PyObject* np = numpy_module();
  const bool was_array = PyObject_CheckBuffer(data) || PyObject_HasAttrString(data, "__array_interface__");
  PyObject* asarray_fn = PyObject_GetAttrString(np, "asarray");
  if (!asarray_fn) throw pybind11::error_already_set();
  PyObject* arr = PyObject_CallOneArg(asarray_fn, data);  // a tuple is one argument, not many
  Py_DECREF(asarray_fn);
  if (!arr && PyErr_ExceptionMatches(PyExc_ValueError)) {  // NumPy's message for ragged nesting names no op
    pybind11::error_already_set e;
    throw ValueError(str_cat("tensor: cannot convert ", Py_TYPE(data)->tp_name, " to a tensor (", std::string(pybind11::str(e.value())), ")"));
  }
  if (!arr) throw pybind11::error_already_set();
  pybind11::object holder = pybind11::reinterpret_steal<pybind11::object>(arr);
  if (!has_dtype) {
    dtype = dtype_of_numpy(arr);
    if (dtype == DType::Float32 && was_array) {  // arrays keep float64; Python floats default to float32
      PyObject* size = PyObject_GetAttrString(PyObject_GetAttrString(arr, "dtype"), "itemsize");
      if (size && PyLong_AsLong(size) == 8) dtype = DType::Float64;
      Py_XDECREF(size);
    }
  }
  static const char* np_names[] = {"float32", "float64", "int64", "bool"};
  // np.asarray(..., order="C") keeps 0-d arrays 0-d (ascontiguousarray would not).
  PyObject* asarray = PyObject_GetAttrString(np, "asarray");
  if (!asarray) throw pybind11::error_already_set();
  pybind11::object asarray_holder = pybind11::reinterpret_steal<pybind11::object>(asarray);
  pybind11::dict kwargs;
  kwargs["dtype"] = np_names[int(dtype)];
  kwargs["order"] = "C";
  PyObject* conv = PyObject_Call(asarray, pybind11::make_tuple(pybind11::handle(arr)).ptr(), kwargs.ptr());
  if (!conv) throw pybind11::error_already_set();
  pybind11::object conv_holder = pybind11::reinterpret_steal<pybind11::object>(conv);
  return copy_from_buffer(conv, dtype);
}

// ---- buffer protocol (np.asarray(t) and memoryview(t) share memory) -----------------------

// The buffer's strides in bytes. A tensor without elements may have sizes up to 2**62
// (so strides too, in elements): what NumPy could not hold either (its non-zero sizes
// times the item size past Py_ssize_t) is refused, naming the tensor; a stride no
// element uses (the tensor has none, or the dim has size 1) that does not fit is 0.
static void byte_strides(const Tensor& t, Py_ssize_t* out) {
  const int64_t isz = int64_t(itemsize(t.dtype()));
  int64_t extent = isz;
  for (int64_t s : t.shape())
    TG_CHECK(s == 0 || !__builtin_mul_overflow(extent, s, &extent), ValueError, "cannot export ", describe(t),
             " through the buffer protocol: its non-zero sizes times its ", isz, "-byte items exceed ",
             PY_SSIZE_T_MAX, " bytes, the largest size an array can have");
  for (size_t d = 0; d < t.shape().size(); ++d) {
    int64_t b;
    if (__builtin_mul_overflow(t.strides()[d], isz, &b)) {
      TG_CHECK(t.numel() == 0 || t.shape()[d] == 1, ValueError, "cannot export ", describe(t),
               " through the buffer protocol: its stride ", t.strides()[d], " (in elements) does not fit in bytes");
      b = 0;
    }
    out[d] = Py_ssize_t(b);
  }
}

static int tensor_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  const Tensor& t = unwrap(self);
  static const char* formats[] = {"f", "d", "q", "?"};
  const int nd = int(t.dim());
  auto* dims = static_cast<Py_ssize_t*>(PyMem_Malloc(sizeof(Py_ssize_t) * size_t(2 * nd + 1)));
  if (!dims) { PyErr_NoMemory(); return -1; }
  const Py_ssize_t isz = Py_ssize_t(itemsize(t.dtype()));
  for (int i = 0; i < nd; ++i) dims[i] = Py_ssize_t(t.shape()[size_t(i)]);
  try {
    byte_strides(t, dims + nd);
  } catch (...) {
    PyMem_Free(dims);
    set_python_error();
    return -1;
  }
  view->buf = t.raw_data();
  view->obj = self;
  Py_INCREF(self);
  view->len = Py_ssize_t(t.numel()) * isz;
  view->readonly = 0;
  view->itemsize = isz;
  view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>(formats[int(t.dtype())]) : nullptr;
  view->ndim = nd;
  view->shape = dims;
  view->strides = dims + nd;
  view->suboffsets = nullptr;
  view->internal = dims;
  if ((flags & PyBUF_ND) != PyBUF_ND && nd != 1) {
    PyMem_Free(dims);
    Py_DECREF(self);
    view->obj = nullptr;
    PyErr_SetString(PyExc_BufferError, "Tensor: a buffer with shape information is required");
    return -1;
  }
  if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES && !t.is_contiguous()) {
    PyMem_Free(dims);
    Py_DECREF(self);
    view->obj = nullptr;
    PyErr_SetString(PyExc_BufferError, "Tensor: not contiguous; ask for a strided buffer");
    return -1;
  }
  return 0;
}
static void tensor_releasebuffer(PyObject*, Py_buffer* view) { PyMem_Free(view->internal); }

// ---- arithmetic slots ---------------------------------------------------------------------

enum class Arith { Add, Sub, Mul, Div, Pow, MatMul };
// The op names errors carry (in-place: the method's name)
static const char* const kArithNames[] = {"add", "sub", "mul", "div", "pow", "matmul"};
static const char* const kInplaceNames[] = {"add_", "sub_", "mul_", "div_", "pow_", "matmul_"};

static bool heavy(const Tensor& a) { return a.numel() >= kReleaseGilNumel; }

static Tensor arith_tt(Arith op, const Tensor& a, const Tensor& b) {
  ReleaseGilIf nogil(heavy(a) || heavy(b));
  switch (op) {
    case Arith::Add: return add(a, b);
    case Arith::Sub: return sub(a, b);
    case Arith::Mul: return mul(a, b);
    case Arith::Div: return div(a, b);
    case Arith::Pow: return pow(a, b);
    case Arith::MatMul: return matmul(a, b);
  }
  return Tensor();
}
// tensor (op) scalar, or scalar (op) tensor when reflected
static Tensor arith_ts(Arith op, const Tensor& a, Scalar s, bool reflected) {
  ReleaseGilIf nogil(heavy(a));
  switch (op) {
    case Arith::Add: return add(a, s);
    case Arith::Sub: return reflected ? rsub(a, s) : sub(a, s);
    case Arith::Mul: return mul(a, s);
    case Arith::Div: return reflected ? rdiv(a, s) : div(a, s);
    case Arith::Pow: return reflected ? rpow(a, s) : pow(a, s);
    case Arith::MatMul: break;
  }
  throw TypeError("matmul: both operands must be tensors or arrays, not Python numbers");
}

static bool is_array_like(PyObject* o) {
  return PyList_Check(o) || PyTuple_Check(o) || PyObject_CheckBuffer(o) ||
         PyObject_HasAttrString(o, "__array_interface__") || PyObject_HasAttrString(o, "__array__");
}

template <Arith op>
static PyObject* nb_arith(PyObject* a, PyObject* b) {
  TG_TRY
  const bool a_is_t = is_tensor(a);
  PyObject* self = a_is_t ? a : b;
  PyObject* other = a_is_t ? b : a;
  const Tensor& t = unwrap(self);
  if (is_tensor(other)) return wrap(arith_tt(op, unwrap(a), unwrap(b)));
  Scalar s;
  if (op != Arith::MatMul && as_scalar(other, s)) return wrap(arith_ts(op, t, s, !a_is_t));
  if (is_array_like(other)) {
    Tensor o;
    try {
      o = tensor_from_python(other, nullptr);
    } catch (const TypeError& e) {
      // For a list Python's TypeError then names the operator and both types; an array
      // would go to NumPy's reflected operator, which answers for the Tensor (an ndarray of
      // objects, or an error naming neither).
      if (PyList_Check(other) || PyTuple_Check(other)) Py_RETURN_NOTIMPLEMENTED;
      throw TypeError(str_cat(kArithNames[int(op)], ": unsupported operand (", e.what(), ")"));
    } catch (...) {
      rethrow_named(kArithNames[int(op)]);  // a ragged list, say
    }
    return wrap(a_is_t ? arith_tt(op, t, o) : arith_tt(op, o, t));
  }
  Py_RETURN_NOTIMPLEMENTED;
  TG_CATCH(nullptr)
}

// Remainder and floor division are not implemented. For the operands the other operators
// take, this says so instead of returning NotImplemented, which would let NumPy's reflected
// operator answer for a Tensor (an ndarray result, or an error naming neither).
static PyObject* nb_unsupported(PyObject* a, PyObject* b, const char* symbol) {
  PyObject* other = is_tensor(a) ? b : a;
  Scalar s;
  if (!is_tensor(other) && !as_scalar(other, s) && !is_array_like(other)) Py_RETURN_NOTIMPLEMENTED;
  PyErr_Format(PyExc_TypeError, "unsupported operand type(s) for %s: '%s' and '%s' (tapegrad has no remainder or "
               "floor division)", symbol, Py_TYPE(a)->tp_name, Py_TYPE(b)->tp_name);
  return nullptr;
}
static PyObject* nb_remainder(PyObject* a, PyObject* b) { return nb_unsupported(a, b, "%"); }
static PyObject* nb_floor_divide(PyObject* a, PyObject* b) { return nb_unsupported(a, b, "//"); }

static PyObject* nb_power(PyObject* a, PyObject* b, PyObject* mod) {
  if (mod != Py_None) Py_RETURN_NOTIMPLEMENTED;
  return nb_arith<Arith::Pow>(a, b);
}

template <Arith op>
static PyObject* nb_inplace(PyObject* a, PyObject* b) {
  TG_TRY
  if (!is_tensor(a)) Py_RETURN_NOTIMPLEMENTED;
  Tensor& t = reinterpret_cast<PyTensor*>(a)->tensor;
  Scalar s;
  const bool scalar = as_scalar(b, s);
  Tensor o;
  try {
    if (!scalar) o = is_tensor(b) ? unwrap(b) : tensor_from_python(b, nullptr);
  } catch (...) {
    rethrow_named(kInplaceNames[int(op)]);
  }
  {
    ReleaseGilIf nogil(heavy(t));
    switch (op) {
      case Arith::Add: scalar ? add_(t, s) : add_(t, o); break;
      case Arith::Sub: scalar ? sub_(t, s) : sub_(t, o); break;
      case Arith::Mul: scalar ? mul_(t, s) : mul_(t, o); break;
      case Arith::Div: scalar ? div_(t, s) : div_(t, o); break;
      default: break;
    }
  }
  Py_INCREF(a);
  return a;
  TG_CATCH(nullptr)
}

static PyObject* nb_negative(PyObject* a) {
  TG_TRY return wrap(neg(unwrap(a))); TG_CATCH(nullptr)
}
static PyObject* nb_positive(PyObject* a) { Py_INCREF(a); return a; }
static PyObject* nb_absolute(PyObject* a) {
  TG_TRY return wrap(abs(unwrap(a))); TG_CATCH(nullptr)
}

static const Tensor& single_value(PyObject* a, const char* what) {
  const Tensor& t = unwrap(a);
  if (t.numel() != 1)
    throw RuntimeError(str_cat(what, " of a tensor with ", t.numel(), " values is ambiguous (", describe(t),
                               "); use .any(), .all() or index a single element"));
  return t;
}
static double single_double(const Tensor& t) {
  return contiguous(detach(t)).item_double();
}
static int nb_bool(PyObject* a) {
  TG_TRY return single_double(single_value(a, "Boolean value")) != 0; TG_CATCH(-1)
}
static PyObject* nb_float(PyObject* a) {
  TG_TRY return PyFloat_FromDouble(single_double(single_value(a, "float()"))); TG_CATCH(nullptr)
}
static PyObject* nb_int(PyObject* a) {
  TG_TRY
  const Tensor& t = single_value(a, "int()");
  if (is_floating(t.dtype())) return PyLong_FromDouble(single_double(t));
  return PyLong_FromLongLong(contiguous(detach(cast(t, DType::Int64))).data<int64_t>()[0]);
  TG_CATCH(nullptr)
}
static PyObject* nb_index(PyObject* a) {
  TG_TRY
  const Tensor& t = unwrap(a);
  if (is_floating(t.dtype()) || t.numel() != 1)
    throw TypeError(str_cat("only integer tensors of a single element can be converted to an index (got ", describe(t), ")"));
  return PyLong_FromLongLong(contiguous(detach(cast(t, DType::Int64))).data<int64_t>()[0]);
  TG_CATCH(nullptr)
}

static PyObject* tensor_richcompare(PyObject* a, PyObject* b, int cmp) {
  TG_TRY
  if (!is_tensor(a)) Py_RETURN_NOTIMPLEMENTED;
  BinaryOp op;
  switch (cmp) {
    case Py_LT: op = BinaryOp::Lt; break;
    case Py_LE: op = BinaryOp::Le; break;
    case Py_GT: op = BinaryOp::Gt; break;
    case Py_GE: op = BinaryOp::Ge; break;
    case Py_EQ: op = BinaryOp::Eq; break;
    default: op = BinaryOp::Ne; break;
  }
  const Tensor& t = unwrap(a);
  Scalar s;
  if (is_tensor(b)) return wrap(compare(op, t, unwrap(b)));
  if (as_scalar(b, s)) return wrap(compare(op, t, s));
  if (is_array_like(b)) {
    Tensor o;
    try {
      o = tensor_from_python(b, nullptr);
    } catch (const TypeError&) {
      Py_RETURN_NOTIMPLEMENTED;
    }
    return wrap(compare(op, t, o));
  }
  Py_RETURN_NOTIMPLEMENTED;
  TG_CATCH(nullptr)
}

static Py_hash_t tensor_hash(PyObject* self) { return Py_hash_t(reinterpret_cast<uintptr_t>(self) >> 4); }

// ---- indexing -------------------------------------------------------------------------------

static PyObject* advanced_index_helper = nullptr;  // tapegrad._indexing.flat_index

static bool is_basic_item(PyObject* o) {
  return o == Py_None || o == Py_Ellipsis || PySlice_Check(o) || (PyLong_Check(o) && !PyBool_Check(o)) ||
         (is_tensor(o) && unwrap(o).dim() == 0 && unwrap(o).dtype() == DType::Int64);
}

// Parse a key made only of ints, slices, None and Ellipsis.
static BasicIndex parse_basic(const Tensor& x, PyObject* key) {
  pybind11::tuple items = PyTuple_Check(key) ? pybind11::reinterpret_borrow<pybind11::tuple>(key)
                                             : pybind11::make_tuple(pybind11::handle(key));
  const Py_ssize_t n = PyTuple_GET_SIZE(items.ptr());
  int64_t consumed = 0, ellipses = 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* it = PyTuple_GET_ITEM(items.ptr(), i);
    if (it == Py_Ellipsis) ++ellipses;
    else if (it != Py_None) ++consumed;
  }
  TG_CHECK(ellipses <= 1, IndexError, "index: an index can only have a single ellipsis ('...')");
  TG_CHECK(consumed <= x.dim(), IndexError, "index: too many indices for ", describe(x), ": ", x.dim(),
           " dims but ", consumed, " were indexed");
  BasicIndex idx;
  int64_t dim = 0, out_pos = 0;
  auto keep_dim = [&](int64_t d) {
    idx.dims.push_back(BasicIndex::DimSel{0, 1, x.shape()[size_t(d)], false});
    ++out_pos;
  };
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* it = PyTuple_GET_ITEM(items.ptr(), i);
    if (it == Py_None) {
      idx.new_axes.push_back(out_pos++);
    } else if (it == Py_Ellipsis) {
      for (int64_t k = 0; k < x.dim() - consumed; ++k) keep_dim(dim++);
    } else if (PySlice_Check(it)) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(it, &start, &stop, &step) < 0) throw pybind11::error_already_set();
      const Py_ssize_t len = PySlice_AdjustIndices(Py_ssize_t(x.shape()[size_t(dim)]), &start, &stop, step);
      idx.dims.push_back(BasicIndex::DimSel{int64_t(len ? start : 0), int64_t(step), int64_t(len), false});
      ++dim;
      ++out_pos;
    } else {
      int64_t v;
      if (is_tensor(it)) v = int64_t(unwrap(it).item_double());
      else {
        int overflow = 0;
        v = PyLong_AsLongLongAndOverflow(it, &overflow);
        if (overflow) throw IndexError(str_cat("index: an index of ", describe(x), " is out of range (too large)"));
        if (v == -1 && PyErr_Occurred()) throw pybind11::error_already_set();
      }
      const int64_t size = x.shape()[size_t(dim)];
      TG_CHECK(v >= -size && v < size, IndexError, "index ", v, " is out of bounds for dimension ", dim,
               " with size ", size);
      idx.dims.push_back(BasicIndex::DimSel{v < 0 ? v + size : v, 1, 1, true});
      ++dim;
    }
  }
  while (dim < x.dim()) keep_dim(dim++);
  return idx;
}

static bool key_is_basic(PyObject* key) {
  if (!PyTuple_Check(key)) return is_basic_item(key);
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(key); ++i)
    if (!is_basic_item(PyTuple_GET_ITEM(key, i))) return false;
  return true;
}

// Advanced keys: the Python helper turns the key into flat positions with NumPy's rules
// (shaped as the selection).
static Tensor advanced_positions(const Tensor& x, PyObject* key) {
  if (!advanced_index_helper) {
    PyObject* mod = PyImport_ImportModule("tapegrad._indexing");
    if (!mod) throw pybind11::error_already_set();
    advanced_index_helper = PyObject_GetAttrString(mod, "flat_positions");
    Py_DECREF(mod);
    if (!advanced_index_helper) throw pybind11::error_already_set();
  }
  pybind11::tuple shape(size_t(x.dim()));
  for (int64_t d = 0; d < x.dim(); ++d) shape[size_t(d)] = pybind11::int_(x.shape()[size_t(d)]);
  PyObject* r = PyObject_CallFunctionObjArgs(advanced_index_helper, shape.ptr(), key, nullptr);
  if (!r && PyErr_ExceptionMatches(PyExc_OverflowError)) {  // NumPy's, for an int beyond int64: as the basic path
    PyErr_Clear();
    throw IndexError(str_cat("index: an index of ", describe(x), " is out of range (too large)"));
  }
  if (!r) throw pybind11::error_already_set();
  pybind11::object res = pybind11::reinterpret_steal<pybind11::object>(r);
  return tensor_from_python(res.ptr(), dtype_object(DType::Int64));
}

static PyObject* tensor_getitem(PyObject* self, PyObject* key) {
  try {
    try {
  const Tensor& x = unwrap(self);
  if (key_is_basic(key)) return wrap(basic_index(x, parse_basic(x, key)));
  Tensor pos = advanced_positions(x, key);
  return wrap(take(x, pos, pos.shape()));
    } catch (...) {
      rethrow_named("index");
    }
  TG_CATCH(nullptr)
}

// A value with more dims than its destination may carry leading size-1 dims, which
// NumPy and PyTorch drop (x[0] = [[1, 2, 3]] for a row of 3).
static Tensor drop_leading_ones(const Tensor& v, size_t ndim) {
  size_t k = 0;
  while (size_t(v.dim()) - k > ndim && v.shape()[k] == 1) ++k;
  return k ? reshape(v, Shape(v.shape().begin() + k, v.shape().end())) : v;
}

static int tensor_setitem(PyObject* self, PyObject* key, PyObject* value) {
  try {
    try {
  if (!value) throw TypeError("Tensor does not support item deletion");
  Tensor& x = reinterpret_cast<PyTensor*>(self)->tensor;
  Scalar s;
  const bool scalar = as_scalar(value, s);
  Tensor v;
  if (!scalar) v = is_tensor(value) ? unwrap(value) : tensor_from_python(value, dtype_object(x.dtype()));
  check_inplace(x, "__setitem__", v);
  if (key_is_basic(key)) {  // through a view, whose write becomes x's history (CopySlices)
    Tensor target = basic_index(x, parse_basic(x, key));
    if (scalar) fill_(target, s);
    else copy_(target, drop_leading_ones(v, size_t(target.dim())));
    return 0;
  }
  if (scalar) v = full(Shape{}, s, x.dtype());
  const Tensor pos = advanced_positions(x, key);
  index_put_(x, pos, drop_leading_ones(v, size_t(pos.dim())));
  return 0;
    } catch (...) {
      rethrow_named("__setitem__");
    }
  TG_CATCH(-1)
}

static Py_ssize_t tensor_length(PyObject* self) {
  TG_TRY
  const Tensor& t = unwrap(self);
  if (t.dim() == 0) throw TypeError("len() of a 0-d tensor");
  return Py_ssize_t(t.shape()[0]);
  TG_CATCH(-1)
}

// ---- properties -----------------------------------------------------------------------------

static PyObject* get_shape(PyObject* self, void*) {
  const Tensor& t = unwrap(self);
  PyObject* tup = PyTuple_New(Py_ssize_t(t.dim()));
  for (int64_t i = 0; i < t.dim(); ++i) PyTuple_SET_ITEM(tup, i, PyLong_FromLongLong(t.shape()[size_t(i)]));
  return tup;
}
static PyObject* get_ndim(PyObject* self, void*) { return PyLong_FromLongLong(unwrap(self).dim()); }
static PyObject* get_size(PyObject* self, void*) { return PyLong_FromLongLong(unwrap(self).numel()); }
static PyObject* get_dtype(PyObject* self, void*) {
  PyObject* d = dtype_object(unwrap(self).dtype());
  Py_INCREF(d);
  return d;
}
static PyObject* get_requires_grad(PyObject* self, void*) { return PyBool_FromLong(unwrap(self).requires_grad()); }
static int set_requires_grad(PyObject* self, PyObject* value, void*) {
  TG_TRY
  const Tensor& t = unwrap(self);
  const int on = PyObject_IsTrue(value);
  if (on < 0) return -1;
  if (!t.is_leaf())
    throw RuntimeError("requires_grad can only be changed on leaf tensors; use detach() for a non-leaf tensor");
  if (on && !is_floating(t.dtype()))
    throw RuntimeError(str_cat("only floating point tensors can require gradients (got ", describe(t), ")"));
  t.impl()->requires_grad = on;
  if (on) {  // a variable of its own now (see gradient_edge_for_watch)
    t.impl()->view_base = nullptr;
    t.impl()->no_grad_view = TensorImpl::NoGradView::No;
  }
  return 0;
  TG_CATCH(-1)
}
static PyObject* get_is_leaf(PyObject* self, void*) { return PyBool_FromLong(unwrap(self).is_leaf()); }

static PyGetSetDef tensor_getset[] = {
    {"shape", get_shape, nullptr, "The sizes of the dimensions, as a tuple.", nullptr},
    {"ndim", get_ndim, nullptr, "Number of dimensions.", nullptr},
    {"size", get_size, nullptr, "Number of elements (NumPy's size; numel() says the same).", nullptr},
    {"dtype", get_dtype, nullptr, "Element type.", nullptr},
    {"requires_grad", get_requires_grad, set_requires_grad, "Whether ops on this tensor are recorded.", nullptr},
    {"is_leaf", get_is_leaf, nullptr, "True for tensors not produced by a recorded op.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

// ---- hot methods: unary ops, both as x.op() and tg.op(x) -------------------------------------

template <Tensor (*F)(const Tensor&)>
static PyObject* unary_method(PyObject* self, PyObject*) {
  TG_TRY
  const Tensor& t = unwrap(self);
  Tensor r;
  {
    ReleaseGilIf nogil(heavy(t));
    r = F(t);
  }
  return wrap(std::move(r));
  TG_CATCH(nullptr)
}
template <Tensor (*F)(const Tensor&)>
static PyObject* unary_function(PyObject*, PyObject* arg, const char* name) {
  TG_TRY
  if (!is_tensor(arg)) {
    Tensor converted;
    try {
      converted = tensor_from_python(arg, nullptr);
    } catch (...) {
      rethrow_named(name);
    }
    return wrap(F(converted));
  }
  {
    const Tensor& t = unwrap(arg);
    Tensor r;
    {
      ReleaseGilIf nogil(heavy(t));
      r = F(t);
    }
    return wrap(std::move(r));
  }
  TG_CATCH(nullptr)
}

#define TG_UNARY_OPS(X) \
  X(exp) X(log) X(log1p) X(sqrt) X(rsqrt) X(abs) X(sign) X(sin) X(cos) X(tan) X(tanh) X(sigmoid) \
  X(relu) X(gelu) X(softplus) X(reciprocal) X(square) X(neg) X(isnan) X(isinf) X(isfinite) X(logical_not)

#define TG_METHOD_DEF(name) {#name, (PyCFunction)unary_method<&tg::name>, METH_NOARGS, nullptr},
static PyMethodDef tensor_methods[] = {TG_UNARY_OPS(TG_METHOD_DEF){nullptr, nullptr, 0, nullptr}};
#undef TG_METHOD_DEF
#define TG_FUNCTION_DEF(name)                                                                              \
  {#name, [](PyObject* self, PyObject* arg) -> PyObject* { return unary_function<&tg::name>(self, arg, #name); }, \
   METH_O, nullptr},
static PyMethodDef unary_functions[] = {TG_UNARY_OPS(TG_FUNCTION_DEF){nullptr, nullptr, 0, nullptr}};
#undef TG_FUNCTION_DEF

// ---- the type -------------------------------------------------------------------------------

static PyObject* tensor_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  TG_TRY
  // Tensor(data) behaves like tg.tensor(data); subclasses (Variable, Parameter) build
  // on the same storage-holding object.
  PyObject* data = Py_None;
  PyObject* dtype = Py_None;
  static const char* kwlist[] = {"data", "dtype", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO", const_cast<char**>(kwlist), &data, &dtype)) return nullptr;
  Tensor t = data == Py_None ? Tensor::empty(Shape{0}, DType::Float32) : tensor_from_python(data, dtype);
  return wrap_as(type, std::move(t));
  TG_CATCH(nullptr)
}

static PyMemberDef tensor_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(PyTensor, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

void init_tensor_type(PyObject* module) {
  static PyType_Slot slots[] = {
      {Py_tp_dealloc, (void*)tensor_dealloc},
      {Py_tp_new, (void*)tensor_new},
      {Py_tp_hash, (void*)tensor_hash},
      {Py_tp_richcompare, (void*)tensor_richcompare},
      {Py_tp_getset, (void*)tensor_getset},
      {Py_tp_methods, (void*)tensor_methods},
      {Py_tp_members, (void*)tensor_members},
      {Py_nb_add, (void*)nb_arith<Arith::Add>},
      {Py_nb_subtract, (void*)nb_arith<Arith::Sub>},
      {Py_nb_multiply, (void*)nb_arith<Arith::Mul>},
      {Py_nb_true_divide, (void*)nb_arith<Arith::Div>},
      {Py_nb_matrix_multiply, (void*)nb_arith<Arith::MatMul>},
      {Py_nb_power, (void*)nb_power},
      {Py_nb_remainder, (void*)nb_remainder},
      {Py_nb_floor_divide, (void*)nb_floor_divide},
      {Py_nb_inplace_add, (void*)nb_inplace<Arith::Add>},
      {Py_nb_inplace_subtract, (void*)nb_inplace<Arith::Sub>},
      {Py_nb_inplace_multiply, (void*)nb_inplace<Arith::Mul>},
      {Py_nb_inplace_true_divide, (void*)nb_inplace<Arith::Div>},
      {Py_nb_negative, (void*)nb_negative},
      {Py_nb_positive, (void*)nb_positive},
      {Py_nb_absolute, (void*)nb_absolute},
      {Py_nb_bool, (void*)nb_bool},
      {Py_nb_float, (void*)nb_float},
      {Py_nb_int, (void*)nb_int},
      {Py_nb_index, (void*)nb_index},
      {Py_mp_subscript, (void*)tensor_getitem},
      {Py_mp_ass_subscript, (void*)tensor_setitem},
      {Py_mp_length, (void*)tensor_length},
      {Py_bf_getbuffer, (void*)tensor_getbuffer},
      {Py_bf_releasebuffer, (void*)tensor_releasebuffer},
      {0, nullptr}};
  static PyType_Spec spec = {"tapegrad.Tensor", sizeof(PyTensor), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (!type) throw pybind11::error_already_set();
  TensorType = reinterpret_cast<PyTypeObject*>(type);
  Py_INCREF(type);  // held for the life of the process
  if (PyModule_AddObject(module, "Tensor", type) < 0) throw pybind11::error_already_set();
  if (PyModule_AddFunctions(module, unary_functions) < 0) throw pybind11::error_already_set();
}

}  // namespace tg::python
