"""tapegrad: reverse-mode autodiff with a C++ engine.

Two idioms on one engine: PyTorch's autograd (requires_grad, backward(), .grad)
and TensorFlow's GradientTape.
"""
from . import _C
from ._dtypes import bool_ as bool  # noqa: A001  (tg.bool, as torch.bool)
from ._dtypes import dtype, float32, float64, int64
from ._dtypes import as_dtype as _as_dtype

_C._register_dtypes(float32, float64, int64, bool, _as_dtype)

from ._tensor import Tensor  # noqa: E402
from ._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from ._errors import names_errors as _names_errors  # noqa: E402

__version__ = "0.1.0"

# ---- creation ----
tensor = _C.tensor
from_numpy = _C.from_numpy
from_dlpack = _C.from_dlpack
zeros, ones, empty, full = _C.zeros, _C.ones, _C.empty, _C.full
arange, linspace, eye = _C.arange, _C.linspace, _C.eye
rand, randn = _C.rand, _C.randn
manual_seed = _C.manual_seed
set_num_threads, get_num_threads = _C.set_num_threads, _C.get_num_threads


def _like(name, factory, t, dtype, requires_grad, *args):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(t).__name__}")
    return factory(t.shape, *args, dtype=dtype or t.dtype, requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _like("zeros_like", zeros, t, dtype, requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _like("ones_like", ones, t, dtype, requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return _like("full_like", full, t, dtype, requires_grad, fill_value)


def randn_like(t, dtype=None, requires_grad=False):
    return _like("randn_like", randn, t, dtype, requires_grad)


def rand_like(t, dtype=None, requires_grad=False):
    return _like("rand_like", rand, t, dtype, requires_grad)


# ---- ops (all bound in C++) ----
exp, log, log1p, sqrt, rsqrt = _C.exp, _C.log, _C.log1p, _C.sqrt, _C.rsqrt
abs, sign, neg, reciprocal, square = _C.abs, _C.sign, _C.neg, _C.reciprocal, _C.square  # noqa: A001
sin, cos, tan, tanh, sigmoid = _C.sin, _C.cos, _C.tan, _C.tanh, _C.sigmoid
relu, leaky_relu, gelu, softplus = _C.relu, _C.leaky_relu, _C.gelu, _C.softplus
isnan, isinf, isfinite, logical_not = _C.isnan, _C.isinf, _C.isfinite, _C.logical_not
add, sub, mul, div, pow, matmul = _C.add, _C.sub, _C.mul, _C.div, _C.pow, _C.matmul  # noqa: A001
maximum, minimum, where, clamp = _C.maximum, _C.minimum, _C.where, _C.clamp
sum, mean, prod, max, min = _C.sum, _C.mean, _C.prod, _C.max, _C.min  # noqa: A001
amax, amin, var, std, norm = _C.amax, _C.amin, _C.var, _C.std, _C.norm
logsumexp, argmax, argmin = _C.logsumexp, _C.argmax, _C.argmin
softmax, log_softmax = _C.softmax, _C.log_softmax
reshape, flatten, squeeze, unsqueeze = _C.reshape, _C.flatten, _C.squeeze, _C.unsqueeze
transpose, permute, broadcast_to = _C.transpose, _C.permute, _C.broadcast_to
concat, stack, split = _C.concat, _C.stack, _C.split
cat = concat
clone, detach = _C.clone, _C.detach


@_names_errors("allclose")
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when |a - b| <= atol + rtol * |b| everywhere (NumPy's rule)."""
    import builtins

    import numpy as np

    def numeric(v, what):
        arr = np.asarray(v)
        if arr.dtype.kind not in "biuf":  # None, str, objects, ints beyond int64
            raise TypeError(f"{what} must be a tensor, an array or numbers, got {type(v).__name__} "
                            f"(NumPy dtype {arr.dtype})")
        return arr

    return builtins.bool(np.allclose(numeric(a, "a"), numeric(b, "b"), rtol=numeric(rtol, "rtol"),
                                     atol=numeric(atol, "atol"), equal_nan=equal_nan))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of outputs with respect to inputs, as a tuple; .grad is not touched."""
    return _C.grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)


from .tape import GradientTape, Variable, constant, custom_gradient, stop_gradient  # noqa: E402
from . import debug, utils  # noqa: E402
from .debug import detect_anomaly  # noqa: E402
from . import nn, optim  # noqa: E402
from .clip import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm  # noqa: E402
from .serialization import load, save  # noqa: E402


def _cpu_capability():
    return _C._cpu_capability()


from . import autograd  # noqa: E402
from .autograd import Function, gradcheck, gradgradcheck  # noqa: E402
