// Optimizer steps: one call updates every parameter of a group (tapegrad/optim).
#include <pybind11/stl.h>

#include "kernels/optimizer.h"
#include "ops/ops.h"
#include "python/py_tensor.h"

namespace py = pybind11;

namespace tg::python {
namespace {

const Tensor* optional_tensor(const py::handle& h) {
  if (h.is_none()) return nullptr;
  if (!is_tensor(h.ptr())) throw TypeError("optimizer state entries must be Tensors or None");
  return &unwrap(h.ptr());
}

// The parameter must be updatable in place; the gradient is made contiguous.
Tensor checked_grad(const Tensor& p, const Tensor& g, const char* opt, size_t i) {
  TG_CHECK(is_floating(p.dtype()), TypeError, opt, ": parameter ", i, " is not floating: ", describe(p));
  TG_CHECK(p.is_contiguous(), ValueError, opt, ": parameter ", i, " is not contiguous: ", describe(p));
  TG_CHECK(g.shape() == p.shape(), ValueError, opt, ": gradient ", describe(g), " does not match parameter ", i, " ",
           describe(p));
  return contiguous(detach(cast(g, p.dtype())));
}
void check_state(const Tensor* s, const Tensor& p, const char* opt, const char* what) {
  if (!s) return;
  TG_CHECK(s->shape() == p.shape() && s->dtype() == p.dtype() && s->is_contiguous(), ValueError, opt, ": state '",
           what, "' ", describe(*s), " does not match parameter ", describe(p));
}

py::list sgd_step(py::list params, py::list grads, py::list bufs, double lr, double momentum, double dampening,
                  double weight_decay, bool nesterov, bool maximize) {
  kernels::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize};
  TG_CHECK(!nesterov || (momentum > 0 && dampening == 0), ValueError, "SGD: nesterov needs momentum > 0 and dampening 0");
  py::list out;
  for (size_t i = 0; i < params.size(); ++i) {
    py::handle buf = bufs[i];
    if (grads[i].is_none()) { out.append(buf); continue; }
    const Tensor& p = unwrap(params[i].ptr());
    Tensor g = checked_grad(p, unwrap(grads[i].ptr()), "SGD", i);
    Tensor m;
    bool fresh = false;
    if (momentum != 0) {
      if (buf.is_none()) { m = Tensor::empty(p.shape(), p.dtype()); fresh = true; }
      else { m = unwrap(buf.ptr()); check_state(&m, p, "SGD", "momentum_buffer"); }
    }
    {
      py::gil_scoped_release release;
      kernels::sgd_update(p, g, m.defined() ? &m : nullptr, fresh, o);
    }
    p.bump_version();
    out.append(m.defined() ? py::reinterpret_steal<py::object>(wrap(m)) : py::none());
  }
  return out;
}

void adam_step(py::list params, py::list grads, py::list exp_avgs, py::list exp_avg_sqs, py::list max_sqs,
               py::list steps, double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
               bool decoupled, bool maximize) {
  kernels::AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled, maximize};
  for (size_t i = 0; i < params.size(); ++i) {
    if (grads[i].is_none()) continue;
    const Tensor& p = unwrap(params[i].ptr());
    Tensor g = checked_grad(p, unwrap(grads[i].ptr()), "Adam", i);
    const Tensor* m = optional_tensor(exp_avgs[i]);
    const Tensor* v = optional_tensor(exp_avg_sqs[i]);
    const Tensor* vmax = amsgrad ? optional_tensor(max_sqs[i]) : nullptr;
    TG_CHECK(m && v && (!amsgrad || vmax), ValueError, "Adam: missing state for parameter ", i);
    check_state(m, p, "Adam", "exp_avg");
    check_state(v, p, "Adam", "exp_avg_sq");
    check_state(vmax, p, "Adam", "max_exp_avg_sq");
    const int64_t step = py::cast<int64_t>(steps[i]);
    TG_CHECK(step >= 1, ValueError, "Adam: step counts start at 1, got ", step);
    {
      py::gil_scoped_release release;
      kernels::adam_update(p, g, *m, *v, vmax, step, o);
    }
    p.bump_version();
  }
}

void rmsprop_step(py::list params, py::list grads, py::list square_avgs, py::list bufs, py::list grad_avgs, double lr,
                  double alpha, double eps, double weight_decay, double momentum, bool centered, bool maximize) {
  kernels::RmspropOptions o{lr, alpha, eps, weight_decay, momentum, centered, maximize};
  for (size_t i = 0; i < params.size(); ++i) {
    if (grads[i].is_none()) continue;
    const Tensor& p = unwrap(params[i].ptr());
    Tensor g = checked_grad(p, unwrap(grads[i].ptr()), "RMSprop", i);
    const Tensor* sq = optional_tensor(square_avgs[i]);
    const Tensor* mb = momentum > 0 ? optional_tensor(bufs[i]) : nullptr;
    const Tensor* ga = centered ? optional_tensor(grad_avgs[i]) : nullptr;
    TG_CHECK(sq && (momentum <= 0 || mb) && (!centered || ga), ValueError, "RMSprop: missing state for parameter ", i);
    check_state(sq, p, "RMSprop", "square_avg");
    check_state(mb, p, "RMSprop", "momentum_buffer");
    check_state(ga, p, "RMSprop", "grad_avg");
    {
      py::gil_scoped_release release;
      kernels::rmsprop_update(p, g, *sq, mb, ga, o);
    }
    p.bump_version();
  }
}

void adagrad_step(py::list params, py::list grads, py::list sums, py::list steps, double lr, double lr_decay,
                  double weight_decay, double eps, bool maximize) {
  kernels::AdagradOptions o{lr, lr_decay, weight_decay, eps, maximize};
  for (size_t i = 0; i < params.size(); ++i) {
    if (grads[i].is_none()) continue;
    const Tensor& p = unwrap(params[i].ptr());
    Tensor g = checked_grad(p, unwrap(grads[i].ptr()), "Adagrad", i);
    const Tensor* s = optional_tensor(sums[i]);
    TG_CHECK(s, ValueError, "Adagrad: missing state_sum for parameter ", i);
    check_state(s, p, "Adagrad", "sum");
    const int64_t step = py::cast<int64_t>(steps[i]);
    {
      py::gil_scoped_release release;
      kernels::adagrad_update(p, g, *s, step, o);
    }
    p.bump_version();
  }
}

}  // namespace

void init_optim_bindings(py::module_& m) {
  m.def("_sgd_step", &sgd_step);
  m.def("_adam_step", &adam_step);
  m.def("_rmsprop_step", &rmsprop_step);
  m.def("_adagrad_step", &adagrad_step);
  m.def("cross_entropy", [](const Tensor& logits, const Tensor& labels, const std::string& reduction) {
    return cross_entropy(logits, labels, reduction);
  }, py::arg("logits"), py::arg("labels"), py::arg("reduction") = "mean");
  m.def("layer_norm", [](const Tensor& x, py::object shape, py::object weight, py::object bias, double eps) {
    const int64_t dims = PyLong_Check(shape.ptr()) ? 1 : int64_t(py::len(shape));
    Shape wanted;
    if (PyLong_Check(shape.ptr())) wanted.push_back(py::cast<int64_t>(shape));
    else for (auto s : py::reinterpret_borrow<py::sequence>(shape)) wanted.push_back(py::cast<int64_t>(s));
    TG_CHECK(dims <= x.dim() && Shape(x.shape().end() - dims, x.shape().end()) == wanted, ValueError,
             "layer_norm: normalized_shape ", shape_str(wanted), " does not match the trailing dims of ", describe(x));
    Tensor w = weight.is_none() ? Tensor() : py::cast<Tensor>(weight);
    Tensor b = bias.is_none() ? Tensor() : py::cast<Tensor>(bias);
    return layer_norm(x, dims, w, b, eps);
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);
}

}  // namespace tg::python
