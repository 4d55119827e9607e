// tg.Function: a node whose derivative rule is a Python callable. The Python side
// (tapegrad/autograd/function.py) runs forward under no_grad, then records the node
// here with the tensor inputs and the outputs.
#include <pybind11/stl.h>

#include "autograd/node.h"
#include "ops/ops.h"
#include "python/py_tensor.h"

namespace py = pybind11;

namespace tg::python {
namespace {

class PyFunctionNode final : public Node {
 public:
  py::object backward_fn;            // grads tuple -> tuple of grads, one per forward argument
  std::string label;                 // "<Name>Backward"
  std::vector<int> arg_to_edge;      // forward argument i -> edge index, or -1 (not a tensor)
  std::vector<Shape> out_shapes;
  std::vector<DType> out_dtypes;
  std::vector<Shape> in_shapes;

  ~PyFunctionNode() override {
    py::gil_scoped_acquire gil;
    backward_fn = py::object();
  }
  const char* name() const override { return label.c_str(); }
  void release_saved() override {
    py::gil_scoped_acquire gil;
    if (py::hasattr(backward_fn, "release")) backward_fn.attr("release")();
  }

  GradList apply(GradList& grads) override {
    py::gil_scoped_acquire gil;
    py::tuple args(grads.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      // Missing output gradients are materialised as zeros, as PyTorch does by default.
      Tensor g = grads[i].defined() ? grads[i] : zeros(out_shapes[i], out_dtypes[i]);
      args[i] = py::reinterpret_steal<py::object>(wrap(g));
    }
    // A recorded backward relinks the saved outputs to this node (function.py); the node
    // is lent for this call only, so nothing on the Python side keeps it (a cycle).
    py::object r = backward_fn(args, GradMode::is_enabled() ? py::cast(Ref<Node>(this)) : py::none());
    py::tuple res = py::isinstance<py::tuple>(r) ? py::reinterpret_borrow<py::tuple>(r) : py::make_tuple(r);
    if (res.size() != arg_to_edge.size())
      throw RuntimeError(str_cat(label, ": backward returned ", res.size(), " gradients but forward took ",
                                 arg_to_edge.size(), " arguments (return None for non-tensor arguments)"));
    GradList out(next_edges.size());
    for (size_t i = 0; i < res.size(); ++i) {
      const int e = arg_to_edge[i];
      py::handle gi = res[i];
      if (gi.is_none() || e < 0) continue;
      if (!is_tensor(gi.ptr()))
        throw TypeError(str_cat(label, ": backward must return Tensors or None, got ",
                                std::string(py::str(py::type::handle_of(gi).attr("__name__"))), " for argument ", i));
      const Tensor& t = unwrap(gi.ptr());
      if (t.shape() != in_shapes[size_t(e)])
        throw ValueError(str_cat(label, ": backward returned a gradient of shape ", shape_str(t.shape()),
                                 " for argument ", i, " of shape ", shape_str(in_shapes[size_t(e)])));
      out[size_t(e)] = t;
    }
    return out;
  }
};

}  // namespace

// args: the forward arguments (tensors or anything else); outputs: the output tensors.
// Returns whether the node was recorded (grad mode on and an input requires grad or is
// on an active tape).
bool record_function(const std::string& name, py::object backward_fn, py::sequence args, py::sequence outputs) {
  std::vector<Tensor> inputs;
  for (auto a : args)
    if (is_tensor(a.ptr())) inputs.push_back(unwrap(a.ptr()));
  if (!should_record_all(inputs)) return false;
  auto* node = new PyFunctionNode();
  Ref<Node> holder(node);
  node->backward_fn = std::move(backward_fn);
  node->label = name + "Backward";
  bool any_requires_grad = false;
  for (auto a : args) {
    if (is_tensor(a.ptr())) {
      const Tensor& t = unwrap(a.ptr());
      node->arg_to_edge.push_back(int(node->next_edges.size()));
      node->add_edge(gradient_edge(t));
      node->in_shapes.push_back(t.shape());
      any_requires_grad |= t.requires_grad();
    } else {
      node->arg_to_edge.push_back(-1);
    }
  }
  node->num_outputs = uint32_t(py::len(outputs));
  uint32_t k = 0;
  for (auto o : outputs) {
    if (!is_tensor(o.ptr())) throw TypeError(str_cat(name, ".forward must return Tensors"));
    const Tensor& t = unwrap(o.ptr());
    node->out_shapes.push_back(t.shape());
    node->out_dtypes.push_back(t.dtype());
    if (is_floating(t.dtype())) set_history(t, holder, k, any_requires_grad);
    ++k;
  }
  finish_record(node);
  return true;
}

void init_function_bindings(py::module_& m) {
  m.def("_record_function", &record_function, py::arg("name"), py::arg("backward_fn"), py::arg("args"),
        py::arg("outputs"));
  // A saved output, unpacked for a recorded backward: its memory as output output_nr of
  // node (PyTorch's SavedVariable::unpack with saved_for).
  m.def("_saved_output", [](const Tensor& data, const Ref<Node>& node, uint32_t output_nr, bool requires_grad) {
    Tensor t = data.detached();
    set_history(t, node, output_nr, requires_grad);
    return t;
  });
}

}  // namespace tg::python
