"""Gradient clipping with PyTorch's semantics (torch.nn.utils.clip_grad_norm_ and friends)."""
import math

from .. import _C
from .._dtypes import float32, float64
from .._grad_mode import no_grad
from .._tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _norm_type(norm_type):
    norm_type = float(norm_type)
    if math.isnan(norm_type):
        raise ValueError("norm_type must not be NaN")
    return norm_type


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all the tensors together (as if concatenated into one
    vector), as a 0-d tensor: the norm of the vector of per-tensor norms. ``inf`` gives the
    largest absolute value. Empty input gives ``tensor(0.)``."""
    del foreach
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = _norm_type(norm_type)
    if not tensors:
        return _C.tensor(0.0)
    with no_grad():
        dtype = float64 if any(t.dtype is float64 for t in tensors) else tensors[0].dtype
        if not dtype.is_floating_point:
            dtype = float32
        norms = []
        for t in tensors:
            n = _C.norm(t.detach(), norm_type)
            norms.append(n if n.dtype is dtype else n.to(dtype))
        total = _C.norm(_C.stack(norms, 0), norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the ``.grad`` of the parameters in place by
    ``min(max_norm / (total_norm + 1e-6), 1)`` (computed in total_norm's dtype)."""
    del foreach
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    if not isinstance(total_norm, Tensor):
        total_norm = _C.tensor(float(total_norm))
    with no_grad():
        coef = _C.clamp(float(max_norm) / (total_norm.detach() + 1e-6), None, 1.0)
        for g in grads:
            g.mul_(coef if coef.dtype is g.dtype else coef.to(g.dtype))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients of ``parameters`` (a tensor or an iterable of tensors) in place so
    that their total ``norm_type``-norm is at most ``max_norm``: every ``.grad`` is
    multiplied by ``min(max_norm / (total_norm + 1e-6), 1)``. Returns the total norm of the
    gradients before clipping (a 0-d tensor). With ``error_if_nonfinite`` a NaN/Inf total
    norm raises RuntimeError (otherwise the gradients are scaled by it, as in PyTorch)."""
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every ``.grad`` in place to ``[-clip_value, clip_value]``."""
    del foreach
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


from .._errors import name_public_functions  # noqa: E402

name_public_functions(globals(), ['get_total_norm', 'clip_grads_with_norm_', 'clip_grad_norm_', 'clip_grad_value_'])
