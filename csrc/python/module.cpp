// The module tapegrad._C: the Tensor type (py_tensor.cpp) plus the rest of the API,
// bound once as functions and, where Tensor has the method too, as methods.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "autograd/engine.h"
#include "autograd/tape.h"
#include "kernels/cpu_kernels.h"
#include "kernels/parallel.h"
#include "ops/ops.h"
#include "python/py_tensor.h"

namespace py = pybind11;
using namespace tg;
using namespace tg::python;

namespace tg::python {
void init_function_bindings(py::module_& m);
void init_optim_bindings(py::module_& m);
}  // namespace tg::python

namespace {

// ---- argument parsing ---------------------------------------------------------------------

DType dtype_arg(const py::object& o, DType fallback) {
  if (o.is_none()) return fallback;
  DType d;
  if (!parse_dtype(o.ptr(), d)) throw TypeError(str_cat("unknown dtype ", std::string(py::repr(o))));
  return d;
}

std::string type_name(const py::handle& h) { return py::str(py::type::handle_of(h).attr("__name__")); }

int64_t int_arg(const py::handle& h, const char* op, const char* what) {
  if (PyBool_Check(h.ptr()) || !(PyLong_Check(h.ptr()) || PyIndex_Check(h.ptr()) || is_tensor(h.ptr())))
    throw TypeError(str_cat(op, ": ", what, " must be an int, got ", type_name(h)));
  py::object as_int = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
  if (!as_int) throw py::error_already_set();
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
  if (overflow) throw ValueError(str_cat(op, ": ", what, " is too large"));
  return v;
}

double number_arg(const py::handle& h, const char* op, const char* what) {
  if (!(PyFloat_Check(h.ptr()) || PyLong_Check(h.ptr()) || is_tensor(h.ptr())))
    throw TypeError(str_cat(op, ": ", what, " must be a number, got ", type_name(h)));
  return py::cast<double>(h);
}

Shape shape_arg(const py::handle& o, const char* op) {
  Shape s;
  if (PyLong_Check(o.ptr()) || is_tensor(o.ptr()) || (PyIndex_Check(o.ptr()) && !PySequence_Check(o.ptr()))) {
    s.push_back(int_arg(o, op, "a size"));
    return s;
  }
  if (!PySequence_Check(o.ptr()) || PyUnicode_Check(o.ptr()))
    throw TypeError(str_cat(op, ": shape must be an int or a sequence of ints, got ", type_name(o)));
  for (auto item : py::reinterpret_borrow<py::sequence>(o)) {
    if (!PyLong_Check(item.ptr()) && !PyIndex_Check(item.ptr()))
      throw TypeError(str_cat(op, ": shape entries must be ints, got ", type_name(item)));
    s.push_back(py::cast<int64_t>(item));
  }
  return s;
}
// f(2, 3) or f((2, 3)) or f([2, 3])
Shape varargs_shape(const py::args& args, const char* op) {
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return shape_arg(args[0], op);
  Shape s;
  for (auto a : args) s.push_back(int_arg(a, op, "a size"));
  return s;
}
Shape checked_size(const py::handle& o, const char* op) {
  Shape s = shape_arg(o, op);
  for (int64_t v : s) TG_CHECK(v >= 0, ValueError, op, ": negative dimension ", v, " in ", shape_str(s));
  return s;
}

OptAxes axes_arg(const py::object& o, const char* op) {
  if (o.is_none()) return std::nullopt;
  Axes a;
  if (PyLong_Check(o.ptr())) { a.push_back(int_arg(o, op, "axis")); return a; }
  // bytes and bytearray are sequences of ints, but not axes (NumPy and PyTorch refuse them)
  if (!PySequence_Check(o.ptr()) || PyUnicode_Check(o.ptr()) || PyBytes_Check(o.ptr()) || PyByteArray_Check(o.ptr()))
    throw TypeError(str_cat(op, ": axis must be None, an int or a tuple of ints, got ", type_name(o)));
  for (auto item : py::reinterpret_borrow<py::sequence>(o)) a.push_back(int_arg(item, op, "axis"));
  return a;
}

// A bound such as clamp's: its kind (bool, int, float) takes part in type promotion; a
// tensor counts as a number of its dtype's kind.
std::optional<Scalar> opt_scalar(const py::object& o, const char* op, const char* what) {
  if (o.is_none()) return std::nullopt;
  Scalar s;
  if (as_scalar(o.ptr(), s)) return s;
  const double v = number_arg(o, op, what);  // a tensor; refuses anything else
  switch (unwrap(o.ptr()).dtype()) {
    case DType::Bool: return Scalar::from_bool(v != 0);
    case DType::Int64: return Scalar::from_int(py::cast<int64_t>(o));
    default: return Scalar::from_double(v);
  }
}

// A fill value: a Python bool, int or float keeps its kind (an int beyond int64 becomes a
// float); anything float() takes (NumPy scalars, one-element tensors) is a float.
Scalar fill_value_arg(const py::object& v, const char* op) {
  Scalar s;
  if (as_scalar(v.ptr(), s)) return s;
  try {
    return Scalar::from_double(py::cast<double>(v));
  } catch (const py::cast_error&) {
    throw TypeError(str_cat(op, ": the fill value must be a number, got ", type_name(v)));
  }
}

// A factory's dtype, checked against requires_grad before anything is allocated (so a huge
// int tensor asked to require grad raises this error, not MemoryError).
DType factory_dtype(const py::object& dtype, DType fallback, bool requires_grad, const char* op) {
  const DType d = dtype_arg(dtype, fallback);
  TG_CHECK(!requires_grad || is_floating(d), RuntimeError, op, ": only floating point tensors can require gradients (got ",
           dtype_name(d), ")");
  return d;
}

// Errors leaving a bound function name it (rethrow_named, py_tensor.cpp).
template <typename F, typename Ret, typename... Args>
auto named_impl(const char* name, F f, Ret (F::*)(Args...) const) {
  return [name, f](Args... args) -> Ret {
    try {
      return f(std::forward<Args>(args)...);
    } catch (...) {
      rethrow_named(name);
    }
  };
}
template <typename F>
auto named(const char* name, F f) { return named_impl(name, f, &F::operator()); }
template <typename Ret, typename... Args>
auto named(const char* name, Ret (*f)(Args...)) {
  return named(name, [f](Args... args) -> Ret { return f(std::forward<Args>(args)...); });
}

template <typename F>
Tensor nogil(const Tensor& big, F&& f) {
  ReleaseGilIf release(big.numel() >= kReleaseGilNumel);
  return f();
}

// ---- autograd bindings ----------------------------------------------------------------------

struct PyHook final : GradHook {
  py::object fn;
  explicit PyHook(py::object f) : fn(std::move(f)) {}
  ~PyHook() override {
    py::gil_scoped_acquire gil;
    fn = py::object();
  }
  Tensor call(const Tensor& grad) override {
    py::gil_scoped_acquire gil;
    py::object r = fn(py::reinterpret_steal<py::object>(wrap(grad)));
    if (r.is_none()) return Tensor();
    if (!is_tensor(r.ptr())) throw TypeError("a gradient hook must return None or a Tensor");
    const Tensor& out = unwrap(r.ptr());
    TG_CHECK(out.shape() == grad.shape(), ValueError, "a gradient hook returned ", describe(out), " for a gradient ",
             describe(grad));
    return out;
  }
};

// retain_grad(): keeps the gradient that flows into a non-leaf, accumulating like .grad.
struct RetainGradHook final : GradHook {
  Tensor grad;
  Tensor call(const Tensor& g) override {
    if (!grad.defined()) grad = GradMode::is_enabled() ? g : clone(g);
    else grad = add(grad, g);
    return Tensor();
  }
};

std::atomic<int64_t> next_hook_id{1};

std::vector<Ref<GradHook>>& hook_list(const Tensor& t) {
  if (t.is_leaf()) return t.impl()->meta().hooks;
  return t.grad_fn()->output_hooks(t.impl()->output_nr);
}

int64_t register_hook(const Tensor& t, py::object fn) {
  if (!t.requires_grad()) throw RuntimeError("cannot register a hook on a tensor that doesn't require gradient");
  Ref<GradHook> h(new PyHook(std::move(fn)));
  h->id = next_hook_id++;
  auto& hooks = hook_list(t);
  // A retain_grad hook stays last, so it sees what the user's hooks returned.
  size_t pos = hooks.size();
  while (pos > 0 && dynamic_cast<RetainGradHook*>(hooks[pos - 1].get())) --pos;
  hooks.insert(hooks.begin() + long(pos), h);
  return h->id;
}

void erase_hook(std::vector<Ref<GradHook>>& hooks, int64_t id) {
  for (size_t i = 0; i < hooks.size(); ++i)
    if (hooks[i]->id == id) { hooks.erase(hooks.begin() + long(i)); return; }
}

void remove_hook(const Tensor& t, int64_t id) {
  if (t.requires_grad()) erase_hook(hook_list(t), id);
}

// A hook stays on the grad_fn it was registered on when an in-place op gives the tensor
// a new one, so its handle removes it there.
void remove_node_hook(Node& n, int64_t id) {
  for (uint32_t k = 0; k < n.num_outputs; ++k)
    if (auto* hooks = n.hooks_for_output(k)) erase_hook(*hooks, id);
}

void retain_grad(const Tensor& t) {
  if (!t.requires_grad()) throw RuntimeError("can't retain_grad on a tensor that has requires_grad=False");
  if (t.is_leaf()) return;  // leaves keep their grad anyway
  AutogradMeta& m = t.impl()->meta();
  if (m.retain_grad_hook) return;
  m.retain_grad_hook = Ref<GradHook>(new RetainGradHook());
  t.grad_fn()->output_hooks(t.impl()->output_nr).push_back(m.retain_grad_hook);
}

py::object get_grad(const Tensor& t) {
  if (!t.impl()->autograd) return py::none();
  AutogradMeta& m = *t.impl()->autograd;
  if (!t.is_leaf()) {
    if (!m.retain_grad_hook) return py::none();
    return py::reinterpret_steal<py::object>(wrap(static_cast<RetainGradHook*>(m.retain_grad_hook.get())->grad));
  }
  return py::reinterpret_steal<py::object>(wrap(m.grad));
}

void set_grad(const Tensor& t, const py::object& g) {
  if (g.is_none()) {
    if (t.impl()->autograd) t.impl()->autograd->grad = Tensor();
    return;
  }
  if (!is_tensor(g.ptr())) throw TypeError("assigned grad must be a Tensor or None");
  const Tensor& v = unwrap(g.ptr());
  TG_CHECK(v.shape() == t.shape(), ValueError, "assigned grad has shape ", shape_str(v.shape()),
           " but the tensor has shape ", shape_str(t.shape()));
  TG_CHECK(v.dtype() == t.dtype(), TypeError, "assigned grad has dtype ", dtype_name(v.dtype()),
           " but the tensor has dtype ", dtype_name(t.dtype()));
  t.impl()->meta().grad = v;
}

Tensor seed_grad(const Tensor& out, const py::object& g, const char* op) {
  if (g.is_none()) {
    if (out.numel() != 1)
      throw RuntimeError(str_cat(op, ": grad can be implicitly created only for scalar outputs (got ", describe(out), ")"));
    return ones(out.shape(), out.dtype());
  }
  Tensor gt = is_tensor(g.ptr()) ? unwrap(g.ptr()) : tensor_from_python(g.ptr(), dtype_object(out.dtype()));
  TG_CHECK(gt.shape() == out.shape(), ValueError, op, ": gradient has shape ", shape_str(gt.shape()),
           " but the output has shape ", shape_str(out.shape()));
  return gt;
}

std::vector<Tensor> tensor_list(const py::handle& o) {
  std::vector<Tensor> v;
  if (is_tensor(o.ptr())) { v.push_back(unwrap(o.ptr())); return v; }
  for (auto item : py::reinterpret_borrow<py::sequence>(o)) {
    if (!is_tensor(item.ptr())) throw TypeError("expected a Tensor or a sequence of Tensors");
    v.push_back(unwrap(item.ptr()));
  }
  return v;
}

void backward(const Tensor& out, const py::object& gradient, py::object retain_graph, bool create_graph,
              const py::object& inputs) {
  if (!out.requires_grad())
    throw RuntimeError("backward: element 0 of tensors does not require grad and does not have a grad_fn");
  Tensor g = seed_grad(out, gradient, "backward");
  BackwardOptions opts;
  opts.create_graph = create_graph;
  opts.keep_graph = retain_graph.is_none() ? create_graph : py::cast<bool>(retain_graph);
  std::vector<Edge> capture;
  std::vector<Tensor> targets;
  if (!inputs.is_none()) {
    targets = tensor_list(inputs);
    TG_CHECK(!targets.empty(), RuntimeError, "backward: 'inputs' argument should not be empty");
    for (const Tensor& t : targets) {
      TG_CHECK(t.requires_grad(), RuntimeError, "backward: one of the inputs does not require grad");
      capture.push_back(gradient_edge(t));
    }
    opts.accumulate_into_leaves = false;
  }
  std::vector<Tensor> got;
  {
    py::gil_scoped_release release;
    got = run_backward({gradient_edge(out)}, {g}, capture, opts);
  }
  for (size_t i = 0; i < targets.size(); ++i) {  // backward(inputs=...) accumulates into those only
    if (!got[i].defined()) continue;
    AutogradMeta& m = targets[i].impl()->meta();
    m.grad = m.grad.defined() ? add(m.grad, got[i]) : (create_graph ? got[i] : clone(got[i]));
  }
}

py::tuple grad(const py::object& outputs, const py::object& inputs, const py::object& grad_outputs,
               py::object retain_graph, bool create_graph, bool allow_unused) {
  std::vector<Tensor> outs = tensor_list(outputs), ins = tensor_list(inputs);
  std::vector<py::object> gos;
  if (grad_outputs.is_none()) gos.assign(outs.size(), py::none());
  else if (is_tensor(grad_outputs.ptr())) gos.push_back(grad_outputs);
  else for (auto g : py::reinterpret_borrow<py::sequence>(grad_outputs)) gos.push_back(py::reinterpret_borrow<py::object>(g));
  TG_CHECK(gos.size() == outs.size(), ValueError, "grad: got ", gos.size(), " grad_outputs for ", outs.size(), " outputs");
  std::vector<Edge> roots;
  std::vector<Tensor> seeds;
  for (size_t i = 0; i < outs.size(); ++i) {
    TG_CHECK(outs[i].requires_grad(), RuntimeError, "grad: element ", i,
             " of outputs does not require grad and does not have a grad_fn");
    roots.push_back(gradient_edge(outs[i]));
    seeds.push_back(seed_grad(outs[i], gos[i], "grad"));
  }
  std::vector<Edge> capture;
  for (size_t i = 0; i < ins.size(); ++i) {
    TG_CHECK(ins[i].requires_grad(), RuntimeError, "grad: input ", i, " (", describe(ins[i]),
             ") does not require grad");
    capture.push_back(gradient_edge(ins[i]));
  }
  BackwardOptions opts;
  opts.create_graph = create_graph;
  opts.keep_graph = retain_graph.is_none() ? create_graph : py::cast<bool>(retain_graph);
  opts.accumulate_into_leaves = false;
  std::vector<Tensor> got;
  {
    py::gil_scoped_release release;
    got = run_backward(roots, seeds, capture, opts);
  }
  py::tuple result(got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].defined() && !allow_unused)
      throw RuntimeError(str_cat("grad: input ", i, " (", describe(ins[i]),
                                 ") was not used in the graph; set allow_unused=True if this is intended"));
    result[i] = py::reinterpret_steal<py::object>(wrap(got[i]));
  }
  return result;
}

py::tuple next_functions(const Node& n) {
  py::tuple t(n.next_edges.size());
  for (size_t i = 0; i < n.next_edges.size(); ++i) {
    const Edge& e = n.next_edges[i];
    t[i] = py::make_tuple(e.fn ? py::cast(e.fn) : py::none(), e.input_nr);
  }
  return t;
}

// ---- DLPack (the stable C ABI, v0.8) -----------------------------------------------------------

struct DLDevice { int32_t device_type; int32_t device_id; };
struct DLDataType { uint8_t code; uint8_t bits; uint16_t lanes; };
struct DLTensor {
  void* data; DLDevice device; int32_t ndim; DLDataType dtype; int64_t* shape; int64_t* strides; uint64_t byte_offset;
};
struct DLManagedTensor { DLTensor dl_tensor; void* manager_ctx; void (*deleter)(DLManagedTensor*); };
// DLPack 1.x: a version and flags ahead of the tensor (NumPy 2 treats legacy capsules
// as read-only, so versioned ones are what make np.from_dlpack(t) writable).
struct DLPackVersion { uint32_t major; uint32_t minor; };
struct DLManagedTensorVersioned {
  DLPackVersion version; void* manager_ctx; void (*deleter)(DLManagedTensorVersioned*); uint64_t flags; DLTensor dl_tensor;
};
constexpr int32_t kDLCPU = 1;
constexpr uint64_t kDLFlagReadOnly = 1;

struct ExportedTensor {
  DLManagedTensor managed;
  DLManagedTensorVersioned versioned;
  Tensor owner;
  std::vector<int64_t> shape, strides;
};

void fill_dltensor(DLTensor& d, ExportedTensor* ex) {
  const Tensor& t = ex->owner;
  d.data = t.raw_data();
  d.device = {kDLCPU, 0};
  d.ndim = int32_t(t.dim());
  static const DLDataType types[] = {{2, 32, 1}, {2, 64, 1}, {0, 64, 1}, {6, 8, 1}};
  d.dtype = types[int(t.dtype())];
  d.shape = ex->shape.data();
  d.strides = ex->strides.data();
  d.byte_offset = 0;
}

py::capsule to_dlpack(const Tensor& t, bool versioned) {
  auto* ex = new ExportedTensor();
  ex->owner = t;
  ex->shape.assign(t.shape().begin(), t.shape().end());
  ex->strides.assign(t.strides().begin(), t.strides().end());
  if (versioned) {
    fill_dltensor(ex->versioned.dl_tensor, ex);
    ex->versioned.version = {1, 0};
    ex->versioned.flags = 0;
    ex->versioned.manager_ctx = ex;
    ex->versioned.deleter = [](DLManagedTensorVersioned* m) { delete static_cast<ExportedTensor*>(m->manager_ctx); };
    PyObject* cap = PyCapsule_New(&ex->versioned, "dltensor_versioned", [](PyObject* c) {
      if (PyCapsule_IsValid(c, "dltensor_versioned")) {
        auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(c, "dltensor_versioned"));
        m->deleter(m);
      }
    });
    return py::reinterpret_steal<py::capsule>(cap);
  }
  fill_dltensor(ex->managed.dl_tensor, ex);
  ex->managed.manager_ctx = ex;
  ex->managed.deleter = [](DLManagedTensor* m) { delete static_cast<ExportedTensor*>(m->manager_ctx); };
  PyObject* cap = PyCapsule_New(&ex->managed, "dltensor", [](PyObject* c) {
    if (PyCapsule_IsValid(c, "dltensor")) {  // never consumed: we still own it
      auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
      m->deleter(m);
    }
  });
  return py::reinterpret_steal<py::capsule>(cap);
}

// The lowest and highest element offsets a (shape, strides) view reaches, for memory
// shared from another library; both 0 when it is empty. A producer's shape or strides
// are checked, since a capsule can carry any numbers.
struct Extent { int64_t min_off = 0, max_off = 0; };
int64_t shared_numel(const char* op, const Shape& shape) {
  try {
    return checked_numel(shape);
  } catch (const ValueError& e) {
    throw ValueError(str_cat(op, ": ", e.what()));
  }
}
Extent shared_extent(const char* op, const Shape& shape, const Shape& strides) {
  Extent x;
  if (shared_numel(op, shape) == 0) return x;
  bool overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t reach;
    int64_t& side = strides[i] < 0 ? x.min_off : x.max_off;
    overflow = overflow || __builtin_mul_overflow(shape[i] - 1, strides[i], &reach) ||
               __builtin_add_overflow(side, reach, &side);
  }
  int64_t span;
  if (overflow || __builtin_sub_overflow(x.max_off, x.min_off, &span) || span == INT64_MAX)
    throw ValueError(str_cat(op, ": shape ", shape_str(shape), " with strides ", shape_str(strides),
                             " reaches beyond any addressable memory"));
  return x;
}

Tensor from_dlpack(const py::object& obj) {
  py::object cap = obj;
  if (py::hasattr(obj, "__dlpack__")) {
    try {
      cap = obj.attr("__dlpack__")(py::arg("max_version") = py::make_tuple(1, 0));
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_TypeError)) throw;
      cap = obj.attr("__dlpack__")();  // a producer that predates DLPack 1.0
    }
  }
  const bool versioned = PyCapsule_IsValid(cap.ptr(), "dltensor_versioned");
  if (!versioned && !PyCapsule_IsValid(cap.ptr(), "dltensor"))
    throw TypeError("from_dlpack: expected an object with __dlpack__ or a DLPack capsule");
  void* raw = PyCapsule_GetPointer(cap.ptr(), versioned ? "dltensor_versioned" : "dltensor");
  auto* mv = versioned ? static_cast<DLManagedTensorVersioned*>(raw) : nullptr;
  auto* m = versioned ? nullptr : static_cast<DLManagedTensor*>(raw);
  if (mv && mv->version.major != 1) throw TypeError(str_cat("from_dlpack: unsupported DLPack version ", mv->version.major));
  const DLTensor& d = versioned ? mv->dl_tensor : m->dl_tensor;
  if (d.device.device_type != kDLCPU) throw TypeError("from_dlpack: only CPU tensors are supported");
  DType dt;
  if (d.dtype.lanes != 1) throw TypeError("from_dlpack: vector dtypes are not supported");
  if (d.dtype.code == 2 && d.dtype.bits == 32) dt = DType::Float32;
  else if (d.dtype.code == 2 && d.dtype.bits == 64) dt = DType::Float64;
  else if (d.dtype.code == 0 && d.dtype.bits == 64) dt = DType::Int64;
  else if (d.dtype.code == 6 && d.dtype.bits == 8) dt = DType::Bool;
  else throw TypeError(str_cat("from_dlpack: unsupported dtype (code ", int(d.dtype.code), ", ", int(d.dtype.bits), " bits)"));
  if (d.ndim < 0 || (d.ndim > 0 && !d.shape)) throw ValueError(str_cat("from_dlpack: invalid ndim ", d.ndim, " or shape"));
  Shape shape(d.shape, d.shape + d.ndim), strides;
  if (d.strides) strides = Shape(d.strides, d.strides + d.ndim);
  else {
    shared_numel("from_dlpack", shape);  // first: the strides are products of the sizes
    strides = contiguous_strides(shape);
  }
  const auto [min_off, max_off] = shared_extent("from_dlpack", shape, strides);
  const size_t isz = itemsize(dt);
  char* base = static_cast<char*>(d.data) + d.byte_offset;
  PyCapsule_SetName(cap.ptr(), versioned ? "used_dltensor_versioned" : "used_dltensor");
  Ref<Storage> st;
  if (versioned) {
    st = Storage::wrap_external(base + min_off * int64_t(isz), size_t(max_off - min_off + 1) * isz, [](void* ctx) {
      PyGILState_STATE g = PyGILState_Ensure();
      auto* mt = static_cast<DLManagedTensorVersioned*>(ctx);
      if (mt->deleter) mt->deleter(mt);
      PyGILState_Release(g);
    }, mv);
  } else {
    st = Storage::wrap_external(base + min_off * int64_t(isz), size_t(max_off - min_off + 1) * isz, [](void* ctx) {
      PyGILState_STATE g = PyGILState_Ensure();
      auto* mt = static_cast<DLManagedTensor*>(ctx);
      if (mt->deleter) mt->deleter(mt);
      PyGILState_Release(g);
    }, m);
  }
  Tensor shared(make_ref<TensorImpl>(st, dt, shape, strides, -min_off));
  // A read-only producer is copied: tapegrad tensors are always writable.
  if (mv && (mv->flags & kDLFlagReadOnly)) return clone(shared);
  return shared;
}

// tg.from_numpy: share the array's memory through the buffer protocol.
Tensor from_numpy(const py::object& arr) {
  if (!PyObject_CheckBuffer(arr.ptr()))
    throw TypeError(str_cat("from_numpy: expected a NumPy array (or another buffer), got ", type_name(arr)));
  auto* view = new Py_buffer();
  if (PyObject_GetBuffer(arr.ptr(), view, PyBUF_RECORDS) != 0) {
    PyErr_Clear();
    delete view;
    throw ValueError("from_numpy: the array is read-only (or not a writable buffer), so its memory cannot be shared; "
                     "use tg.tensor(array) to copy it");
  }
  const char* fmt = view->format ? view->format : "B";
  if (*fmt == '<' || *fmt == '=' || *fmt == '@') ++fmt;
  DType dt;
  if (*fmt == 'f' && view->itemsize == 4) dt = DType::Float32;
  else if (*fmt == 'd' && view->itemsize == 8) dt = DType::Float64;
  else if ((*fmt == 'q' || *fmt == 'l') && view->itemsize == 8) dt = DType::Int64;
  else if (*fmt == '?') dt = DType::Bool;
  else {
    std::string f = fmt;
    PyBuffer_Release(view);
    delete view;
    throw TypeError(str_cat("from_numpy: unsupported dtype (buffer format '", f,
                            "'); supported: float32, float64, int64, bool"));
  }
  bool aligned = reinterpret_cast<uintptr_t>(view->buf) % uintptr_t(view->itemsize) == 0;
  for (int i = 0; i < view->ndim; ++i) aligned = aligned && view->strides[i] % view->itemsize == 0;
  if (!aligned) {
    PyBuffer_Release(view);
    delete view;
    throw ValueError("from_numpy: the array's data or strides are not aligned to its element size, so it cannot be "
                     "shared; use tg.tensor(array) to copy it");
  }
  Shape shape, strides;
  for (int i = 0; i < view->ndim; ++i) {
    shape.push_back(view->shape[i]);
    strides.push_back(view->strides[i] / view->itemsize);
  }
  const auto [min_off, max_off] = shared_extent("from_numpy", shape, strides);  // NumPy's are valid; another buffer's may not be
  Ref<Storage> st = Storage::wrap_external(static_cast<char*>(view->buf) + min_off * view->itemsize,
                                           size_t(max_off - min_off + 1) * size_t(view->itemsize),
                                           [](void* ctx) {
                                             PyGILState_STATE g = PyGILState_Ensure();
                                             auto* v = static_cast<Py_buffer*>(ctx);
                                             PyBuffer_Release(v);
                                             delete v;
                                             PyGILState_Release(g);
                                           }, view);
  return Tensor(make_ref<TensorImpl>(st, dt, shape, strides, -min_off));
}

std::string capture_python_stack() {
  py::gil_scoped_acquire gil;
  try {
    py::list frames = py::module_::import("traceback").attr("format_stack")();
    std::string s;
    for (auto f : frames) s += py::cast<std::string>(f);
    return s;
  } catch (py::error_already_set&) {
    return std::string();
  }
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "tapegrad's C++ engine";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const py::error_already_set&) {
      throw;
    } catch (...) {
      set_python_error();
    }
  });
  init_tensor_type(m.ptr());
  py::object cls = m.attr("Tensor");

  // Bind f as tapegrad._C.name and as the method Tensor.name.
  auto def_both = [&](const char* name, auto f, auto... extra) {
    auto g = named(name, f);
    if constexpr (sizeof...(extra) > 0) m.def(name, g, py::arg("input"), extra...);
    else m.def(name, g);
    py::object prev = py::getattr(cls, name, py::none());
    cls.attr(name) = py::cpp_function(g, py::name(name), py::is_method(cls), py::sibling(prev), extra...);
  };
  auto def_method = [&](const char* name, auto f, auto... extra) {
    py::object prev = py::getattr(cls, name, py::none());
    cls.attr(name) = py::cpp_function(named(name, f), py::name(name), py::is_method(cls), py::sibling(prev), extra...);
  };
  // Module functions: the same naming of errors.
  auto def_fn = [&](const char* name, auto f, auto... extra) { m.def(name, named(name, f), extra...); };

  m.def("_register_dtypes", [](py::object f32, py::object f64, py::object i64, py::object b, py::object conv) {
    register_dtypes(f32.ptr(), f64.ptr(), i64.ptr(), b.ptr(), conv.ptr());
  });

  // ---- creation ----
  def_fn("tensor", [](py::object data, py::object dtype, bool requires_grad) {
    Tensor t = tensor_from_python(data.ptr(), dtype.is_none() ? nullptr : dtype.ptr());
    if (requires_grad) {
      TG_CHECK(is_floating(t.dtype()), RuntimeError, "tensor: only floating point tensors can require gradients (got ",
               describe(t), ")");
      t.impl()->requires_grad = true;
    }
    return t;
  }, py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  def_fn("from_numpy", &from_numpy, py::arg("array"));
  def_fn("from_dlpack", &from_dlpack, py::arg("obj"));
  def_method("__dlpack__", [](const Tensor& t, py::object stream, py::object max_version, py::object dl_device,
                              py::object copy) {
    if (!dl_device.is_none()) {
      auto dev = py::cast<std::pair<int, int>>(dl_device);
      if (dev.first != kDLCPU) throw py::buffer_error("__dlpack__: tapegrad tensors live on the CPU only");
    }
    const bool versioned = !max_version.is_none() && py::cast<int>(py::reinterpret_borrow<py::tuple>(max_version)[0]) >= 1;
    const bool want_copy = !copy.is_none() && py::cast<bool>(copy);
    return to_dlpack(want_copy ? clone(detach(t)) : t, versioned);
  }, py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(),
     py::arg("copy") = py::none());
  def_method("__dlpack_device__", [](const Tensor&) { return py::make_tuple(kDLCPU, 0); });

  auto factory = [&](const char* name, Tensor (*f)(const Shape&, DType)) {
    def_fn(name, [f, name](py::args shape, py::object dtype, bool requires_grad) {
      Tensor t = f(varargs_shape(shape, name), factory_dtype(dtype, DType::Float32, requires_grad, name));
      t.impl()->requires_grad = requires_grad;
      return t;
    }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  };
  factory("zeros", &zeros);
  factory("ones", &ones);
  factory("empty", &empty);
  factory("rand", &rand);
  factory("randn", &randn);
  def_fn("full", [](py::object shape, py::object value, py::object dtype, bool requires_grad) {
    DType fallback = PyBool_Check(value.ptr()) ? DType::Bool : PyLong_Check(value.ptr()) ? DType::Int64 : DType::Float32;
    Tensor t = full(checked_size(shape, "full"), fill_value_arg(value, "full"),
                    factory_dtype(dtype, fallback, requires_grad, "full"));
    t.impl()->requires_grad = requires_grad;
    return t;
  }, py::arg("shape"), py::arg("fill_value"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  def_fn("arange", [](py::object a, py::object b, py::object step, py::object dtype, bool requires_grad) {
    py::object start = b.is_none() ? py::int_(0) : a, stop = b.is_none() ? a : b;
    const bool all_int = PyLong_Check(start.ptr()) && PyLong_Check(stop.ptr()) && PyLong_Check(step.ptr());
    Tensor t = arange(py::cast<double>(start), py::cast<double>(stop), py::cast<double>(step),
                      factory_dtype(dtype, all_int ? DType::Int64 : DType::Float32, requires_grad, "arange"));
    t.impl()->requires_grad = requires_grad;
    return t;
  }, py::arg("start"), py::arg("stop") = py::none(), py::arg("step") = 1, py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("requires_grad") = false);
  def_fn("linspace", [](double start, double stop, int64_t num, py::object dtype, bool requires_grad) {
    Tensor t = linspace(start, stop, num, factory_dtype(dtype, DType::Float32, requires_grad, "linspace"));
    t.impl()->requires_grad = requires_grad;
    return t;
  }, py::arg("start"), py::arg("stop"), py::arg("num") = 50, py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("requires_grad") = false);
  def_fn("eye", [](int64_t n, py::object mcols, py::object dtype, bool requires_grad) {
    Tensor t = eye(n, mcols.is_none() ? n : py::cast<int64_t>(mcols), factory_dtype(dtype, DType::Float32, requires_grad, "eye"));
    t.impl()->requires_grad = requires_grad;
    return t;
  }, py::arg("n"), py::arg("m") = py::none(), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  def_fn("manual_seed", [](uint64_t s) { kernels::manual_seed(s); }, py::arg("seed"));
  m.def("set_num_threads", [](py::object n) {
    if (!PyLong_Check(n.ptr()) || PyBool_Check(n.ptr()))
      throw TypeError(str_cat("set_num_threads: expected an int, got ", type_name(n)));
    const long long v = PyLong_AsLongLong(n.ptr());
    if (v == -1 && PyErr_Occurred()) { PyErr_Clear(); throw ValueError("set_num_threads: thread count out of range"); }
    TG_CHECK(v >= 1 && v <= kMaxThreads, ValueError, "set_num_threads: the thread count must be between 1 and ",
             kMaxThreads, ", got ", v);
    set_num_threads(int(v));
  }, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);

  // ---- conversion ----
  def_method("to", [](const Tensor& t, py::object dtype) { return to_dtype(t, dtype_arg(dtype, t.dtype())); }, py::arg("dtype"));
  def_both("clone", [](const Tensor& t) { return nogil(t, [&] { return clone(t); }); });
  def_both("contiguous", [](const Tensor& t) { return contiguous(t); });
  def_both("detach", [](const Tensor& t) { return detach(t); });
  def_method("item", [](const Tensor& t) -> py::object {
    TG_CHECK(t.numel() == 1, ValueError, "item: only a tensor with one element can be converted to a Python scalar (got ",
             describe(t), ")");
    Tensor c = contiguous(detach(t));
    switch (t.dtype()) {
      case DType::Bool: return py::bool_(*c.data<bool>());
      case DType::Int64: return py::int_(*c.data<int64_t>());
      default: return py::float_(c.item_double());
    }
  });
  def_method("numel", [](const Tensor& t) { return t.numel(); });
  def_method("dim", [](const Tensor& t) { return t.dim(); });
  def_method("is_contiguous", [](const Tensor& t) { return t.is_contiguous(); });
  def_method("stride", [](const Tensor& t) { return std::vector<int64_t>(t.strides().begin(), t.strides().end()); });
  def_method("_version", [](const Tensor& t) { return t.version(); });
  def_method("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); });

  // ---- elementwise with arguments ----
  def_both("add", [](const Tensor& a, const Tensor& b) { return nogil(a, [&] { return add(a, b); }); });
  def_both("sub", [](const Tensor& a, const Tensor& b) { return nogil(a, [&] { return sub(a, b); }); });
  def_both("mul", [](const Tensor& a, const Tensor& b) { return nogil(a, [&] { return mul(a, b); }); });
  def_both("div", [](const Tensor& a, const Tensor& b) { return nogil(a, [&] { return div(a, b); }); });
  def_both("pow", [](const Tensor& a, py::object b) {
    if (PyFloat_Check(b.ptr()) || PyLong_Check(b.ptr())) {
      Scalar s = PyFloat_Check(b.ptr()) ? Scalar::from_double(py::cast<double>(b)) : Scalar::from_int(py::cast<int64_t>(b));
      return nogil(a, [&] { return pow(a, s); });
    }
    Tensor e = is_tensor(b.ptr()) ? unwrap(b.ptr()) : tensor_from_python(b.ptr(), nullptr);
    return nogil(a, [&] { return pow(a, e); });
  });
  def_both("matmul", [](const Tensor& a, const Tensor& b) { return nogil(a, [&] { return matmul(a, b); }); });
  def_both("maximum", [](const Tensor& a, const Tensor& b) { return nogil(a, [&] { return maximum(a, b); }); });
  def_both("minimum", [](const Tensor& a, const Tensor& b) { return nogil(a, [&] { return minimum(a, b); }); });
  def_fn("where", [](const Tensor& c, const Tensor& a, const Tensor& b) { return nogil(a, [&] { return where(c, a, b); }); });
  def_both("clamp", [](const Tensor& x, py::object lo, py::object hi) {
    std::optional<Scalar> l = opt_scalar(lo, "clamp", "min"), h = opt_scalar(hi, "clamp", "max");
    return nogil(x, [&] { return clamp(x, l, h); });
  }, py::arg("min") = py::none(), py::arg("max") = py::none());
  def_both("leaky_relu", [](const Tensor& x, double slope) { return nogil(x, [&] { return leaky_relu(x, slope); }); },
           py::arg("negative_slope") = 0.01);

  // ---- in place ----
  auto inplace = [&](const char* name, Tensor& (*ft)(Tensor&, const Tensor&), Tensor& (*fs)(Tensor&, Scalar)) {
    def_method(name, [ft, fs](py::object self, py::object other) {
      Tensor& t = reinterpret_cast<PyTensor*>(self.ptr())->tensor;
      if (PyFloat_Check(other.ptr())) fs(t, Scalar::from_double(py::cast<double>(other)));
      else if (PyLong_Check(other.ptr()) && !PyBool_Check(other.ptr())) fs(t, Scalar::from_int(py::cast<int64_t>(other)));
      else ft(t, is_tensor(other.ptr()) ? unwrap(other.ptr()) : tensor_from_python(other.ptr(), nullptr));  // its error, not a cast's
      return self;
    });
  };
  inplace("add_", &add_, &add_);
  inplace("sub_", &sub_, &sub_);
  inplace("mul_", &mul_, &mul_);
  inplace("div_", &div_, &div_);
  def_method("zero_", [](py::object self) { zero_(reinterpret_cast<PyTensor*>(self.ptr())->tensor); return self; });
  def_method("fill_", [](py::object self, py::object v) {
    Tensor& t = reinterpret_cast<PyTensor*>(self.ptr())->tensor;
    fill_(t, fill_value_arg(v, "fill_"));
    return self;
  });
  def_method("copy_", [](py::object self, const Tensor& src) {
    copy_(reinterpret_cast<PyTensor*>(self.ptr())->tensor, src);
    return self;
  });
  def_method("clamp_", [](py::object self, py::object lo, py::object hi) {
    clamp_(reinterpret_cast<PyTensor*>(self.ptr())->tensor, opt_scalar(lo, "clamp_", "min"), opt_scalar(hi, "clamp_", "max"));
    return self;
  }, py::arg("min") = py::none(), py::arg("max") = py::none());

  // ---- reductions ----
  auto reduction = [&](const char* name, Tensor (*f)(const Tensor&, const OptAxes&, bool)) {
    def_both(name, [f, name](const Tensor& x, py::object axis, bool keepdims) {
      OptAxes ax = axes_arg(axis, name);
      return nogil(x, [&] { return f(x, ax, keepdims); });
    }, py::arg("axis") = py::none(), py::arg("keepdims") = false);
  };
  reduction("sum", &sum);
  reduction("mean", &mean);
  reduction("prod", &prod);
  reduction("max", &amax);
  reduction("min", &amin);
  reduction("amax", &amax);
  reduction("amin", &amin);
  reduction("logsumexp", &logsumexp);
  auto moment = [&](const char* name, Tensor (*f)(const Tensor&, const OptAxes&, double, bool)) {
    def_both(name, [f, name](const Tensor& x, py::object axis, double correction, bool keepdims) {
      OptAxes ax = axes_arg(axis, name);
      return nogil(x, [&] { return f(x, ax, correction, keepdims); });
    }, py::arg("axis") = py::none(), py::arg("correction") = 0.0, py::arg("keepdims") = false);
  };
  moment("var", &var);
  moment("std", &tg::std);
  def_both("norm", [](const Tensor& x, double ord, py::object axis, bool keepdims) {
    OptAxes ax = axes_arg(axis, "norm");
    return nogil(x, [&] { return norm(x, ord, ax, keepdims); });
  }, py::arg("ord") = 2.0, py::arg("axis") = py::none(), py::arg("keepdims") = false);
  def_both("argmax", [](const Tensor& x, py::object axis, bool keepdims) {
    return argmax(x, axis.is_none() ? std::nullopt : std::optional<int64_t>(int_arg(axis, "argmax", "axis")), keepdims);
  }, py::arg("axis") = py::none(), py::arg("keepdims") = false);
  def_both("argmin", [](const Tensor& x, py::object axis, bool keepdims) {
    return argmin(x, axis.is_none() ? std::nullopt : std::optional<int64_t>(int_arg(axis, "argmin", "axis")), keepdims);
  }, py::arg("axis") = py::none(), py::arg("keepdims") = false);
  def_both("softmax", [](const Tensor& x, py::object axis) {
    const int64_t a = int_arg(axis, "softmax", "axis");
    return nogil(x, [&] { return softmax(x, a); });
  }, py::arg("axis") = -1);
  def_both("log_softmax", [](const Tensor& x, py::object axis) {
    const int64_t a = int_arg(axis, "log_softmax", "axis");
    return nogil(x, [&] { return log_softmax(x, a); });
  }, py::arg("axis") = -1);

  // ---- shape ----
  def_method("reshape", [](const Tensor& x, py::args shape) { return reshape(x, varargs_shape(shape, "reshape")); });
  def_fn("reshape", [](const Tensor& x, py::object shape) { return reshape(x, shape_arg(shape, "reshape")); });
  def_method("view", [](const Tensor& x, py::args shape) { return view(x, varargs_shape(shape, "view")); });
  def_both("flatten", [](const Tensor& x, py::object start, py::object end) {
    return flatten(x, int_arg(start, "flatten", "start_dim"), int_arg(end, "flatten", "end_dim"));
  }, py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  def_both("squeeze", [](const Tensor& x, py::object axis) {
    return squeeze(x, axis.is_none() ? std::nullopt : axes_arg(axis, "squeeze"));
  }, py::arg("axis") = py::none());
  def_both("unsqueeze", [](const Tensor& x, py::object axis) { return unsqueeze(x, int_arg(axis, "unsqueeze", "axis")); },
           py::arg("axis"));
  def_both("transpose", [](const Tensor& x, py::object a, py::object b) {
    return transpose(x, int_arg(a, "transpose", "dim0"), int_arg(b, "transpose", "dim1"));
  }, py::arg("dim0") = -2, py::arg("dim1") = -1);
  def_method("permute", [](const Tensor& x, py::args dims) {
    Shape s = varargs_shape(dims, "permute");
    return permute(x, Axes(s.begin(), s.end()));
  });
  def_fn("permute", [](const Tensor& x, py::object dims) {
    Shape s = shape_arg(dims, "permute");
    return permute(x, Axes(s.begin(), s.end()));
  });
  def_method("expand", [](const Tensor& x, py::args shape) { return expand(x, varargs_shape(shape, "expand")); });
  def_both("broadcast_to", [](const Tensor& x, py::object shape) { return broadcast_to(x, shape_arg(shape, "broadcast_to")); });
  def_fn("concat", [](py::object xs, py::object axis) { return concat(tensor_list(xs), int_arg(axis, "concat", "axis")); },
         py::arg("tensors"), py::arg("axis") = 0);
  def_fn("stack", [](py::object xs, py::object axis) { return stack(tensor_list(xs), int_arg(axis, "stack", "axis")); },
         py::arg("tensors"), py::arg("axis") = 0);
  def_both("split", [](const Tensor& x, py::object sections, py::object axis) {
    const int64_t d = normalize_axis(int_arg(axis, "split", "axis"), x.dim(), "split");
    std::vector<int64_t> sizes;
    if (!PySequence_Check(sections.ptr())) {  // a chunk size, as torch.split; the last chunk may be smaller
      const int64_t chunk = int_arg(sections, "split", "split_size_or_sections");
      TG_CHECK(chunk > 0, ValueError, "split: chunk size must be positive, got ", chunk);
      const int64_t n = x.dim() ? x.shape()[size_t(d)] : 0;
      for (int64_t s = 0; s < n; s += chunk) sizes.push_back(std::min(chunk, n - s));
      if (n == 0) sizes.push_back(0);
    } else {
      for (auto s : py::reinterpret_borrow<py::sequence>(sections)) sizes.push_back(int_arg(s, "split", "a section size"));
    }
    std::vector<Tensor> parts = split(x, sizes, d);
    py::tuple out(parts.size());
    for (size_t i = 0; i < parts.size(); ++i) out[i] = py::reinterpret_steal<py::object>(wrap(parts[i]));
    return out;
  }, py::arg("split_size_or_sections"), py::arg("axis") = 0);

  // ---- autograd ----
  py::class_<Node, Ref<Node>>(m, "Node")
      .def("name", [](const Node& n) { return std::string(n.name()); })
      .def_property_readonly("next_functions", &next_functions)
      .def("_remove_hook", &remove_node_hook)
      .def("__repr__", [](const Node& n) { return str_cat("<", n.name(), " object>"); });
  cls.attr("grad_fn") = py::module_::import("builtins").attr("property")(
      py::cpp_function([](const Tensor& t) -> py::object { return t.grad_fn() ? py::cast(t.grad_fn()) : py::none(); }));
  cls.attr("grad") = py::module_::import("builtins").attr("property")(
      py::cpp_function(&get_grad), py::cpp_function(&set_grad));
  def_method("backward", &backward, py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(),
             py::arg("create_graph") = false, py::arg("inputs") = py::none());
  def_fn("grad", &grad, py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(),
        py::arg("retain_graph") = py::none(), py::arg("create_graph") = false, py::arg("allow_unused") = false);
  def_method("requires_grad_", [](py::object self, bool on) {
    self.attr("requires_grad") = on;
    return self;
  }, py::arg("requires_grad") = true);
  def_method("retain_grad", &retain_grad);
  def_method("_register_hook", &register_hook);
  def_method("_remove_hook", &remove_hook);
  def_method("_output_nr", [](const Tensor& t) { return t.impl()->output_nr; });
  m.def("is_grad_enabled", &GradMode::is_enabled);
  m.def("_set_grad_enabled", &GradMode::set_enabled);
  m.def("_set_anomaly_enabled", [](bool on, bool check_nan) {
    AnomalyMode::capture_trace = &capture_python_stack;
    AnomalyMode::set_enabled(on);
    AnomalyMode::set_check_nan(check_nan);
  }, py::arg("enabled"), py::arg("check_nan") = true);
  m.def("_anomaly_check_nan", &AnomalyMode::check_nan);
  m.def("_is_anomaly_enabled", &AnomalyMode::is_enabled);
  init_function_bindings(m);
  init_optim_bindings(m);

  // ---- GradientTape (the Python class in tapegrad/tape.py wraps this) ----
  py::class_<Tape>(m, "_Tape")
      .def(py::init<bool, bool>(), py::arg("persistent") = false, py::arg("watch_accessed_variables") = true)
      // GradientTape (tape.py) subclasses this: entering and leaving its block are C++ calls.
      .def("__enter__", [](py::object self) { self.cast<Tape&>().push(); return self; })
      .def("__exit__", [](Tape& t, py::args) { t.pop(); return false; })
      .def("_watch", &Tape::watch)
      .def("_set_recording", &Tape::set_recording)
      .def("_reset", &Tape::reset)
      .def("_watched", [](const Tape& t) {
        py::list out;
        for (const Tensor& w : t.watched()) out.append(py::reinterpret_steal<py::object>(wrap(w)));
        return out;
      })
      .def("_gradient", [](Tape& tape, py::list targets, py::list seeds, py::list sources, bool keep) {
        std::vector<Tensor> tv = tensor_list(targets), sv = tensor_list(seeds), src = tensor_list(sources);
        std::vector<Tensor> got;
        {
          py::gil_scoped_release release;
          got = tape.gradient(tv, sv, src, keep);
        }
        py::list out;
        for (const Tensor& g : got) out.append(py::reinterpret_steal<py::object>(wrap(g)));
        return out;
      }, py::arg("targets"), py::arg("seeds"), py::arg("sources"), py::arg("keep_for_more_calls") = false)
      // GradientTape.gradient: the common calls (a tensor or a flat list/tuple of tensors
      // for the target and for the floating sources, default options) run here, the rest
      // goes to the Python layer's _structured_gradient (nesting, output_gradients, ...).
      .def("gradient", [](py::object self, py::handle target, py::handle sources, py::handle output_gradients,
                          py::handle unconnected_gradients) -> py::object {
        std::vector<Tensor> targets, seeds, srcs;
        auto flat = [](py::handle h, std::vector<Tensor>& out) {
          if (is_tensor(h.ptr())) { out.push_back(unwrap(h.ptr())); return true; }
          if (!PyList_CheckExact(h.ptr()) && !PyTuple_CheckExact(h.ptr())) return false;
          for (py::handle item : py::reinterpret_borrow<py::sequence>(h)) {
            if (!is_tensor(item.ptr())) return false;
            out.push_back(unwrap(item.ptr()));
          }
          return true;
        };
        bool fast = output_gradients.is_none() && py::isinstance<py::str>(unconnected_gradients) &&
                    unconnected_gradients.cast<std::string>() == "none" && flat(target, targets) && flat(sources, srcs);
        for (size_t i = 0; fast && i < srcs.size(); ++i) fast = is_floating(srcs[i].dtype());  // others warn in Python
        if (!fast) return self.attr("_structured_gradient")(target, sources, output_gradients, unconnected_gradients);
        Tape& tape = self.cast<Tape&>();
        std::vector<Tensor> got;
        {
          py::gil_scoped_release release;
          for (const Tensor& t : targets) seeds.push_back(ones(t.shape(), t.dtype()));
          got = tape.gradient(targets, seeds, srcs, false);
        }
        if (is_tensor(sources.ptr())) return py::reinterpret_steal<py::object>(wrap(got[0]));
        py::list out(got.size());
        for (size_t i = 0; i < got.size(); ++i) out[i] = py::reinterpret_steal<py::object>(wrap(got[i]));
        if (PyTuple_CheckExact(sources.ptr())) return py::tuple(out);
        return std::move(out);
      }, py::arg("target"), py::arg("sources"), py::arg("output_gradients") = py::none(),
         py::arg("unconnected_gradients") = "none", "Gradient of target (or of the sum of a list of targets) with respect "
         "to sources, which may be a tensor or any nesting of list/tuple/dict (the result has the same structure). "
         "Unwatched or unconnected sources give None, or zeros with unconnected_gradients=\"zero\".");
  def_method("_set_trainable", [](const Tensor& t, bool on) { t.impl()->trainable_variable = on; });
  def_method("_is_trainable", [](const Tensor& t) { return t.impl()->trainable_variable; });
  m.def("_cpu_capability", [] { return std::string(kernels::cpu().capability); });
}
