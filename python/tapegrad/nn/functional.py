"""tg.nn.functional: the layers' computations as functions, with torch.nn.functional's
signatures and semantics.

``cross_entropy`` and ``layer_norm`` are fused C++ ops (forward and backward); the rest
are compositions of tapegrad's differentiable ops, so that they work in both idioms and
to any order of differentiation.
"""
import math

from .. import _C
from .._errors import check_number
from .._tensor import Tensor

__all__ = ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softmax", "log_softmax", "linear", "dropout",
           "layer_norm", "embedding", "cross_entropy", "mse_loss", "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")


def relu(input):
    return _C.relu(input)


def tanh(input):
    return _C.tanh(input)


def sigmoid(input):
    return _C.sigmoid(input)


def gelu(input, approximate="none"):
    """GELU: x * Phi(x) (``approximate='none'``) or PyTorch's tanh approximation."""
    if approximate == "none":
        return _C.gelu(input)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + _C.tanh(inner))
    raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")


def leaky_relu(input, negative_slope=0.01):
    return _C.leaky_relu(input, float(negative_slope))


def softmax(input, dim=-1):
    return _C.softmax(input, dim)


def log_softmax(input, dim=-1):
    return _C.log_softmax(input, dim)


def linear(input, weight, bias=None):
    """input @ weight.T + bias (weight is (out_features, in_features))."""
    out = _C.matmul(input, weight.T)
    if bias is not None:
        out = out + bias
    return out


def dropout(input, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the others by 1 / (1 - p), in
    training mode; the identity otherwise. Uses tapegrad's RNG (``tg.manual_seed``)."""
    check_number(p, "dropout probability")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * _C.zeros(input.shape, dtype=input.dtype)
    keep = (_C.rand(tuple(input.shape), dtype=input.dtype) < (1.0 - p)).to(input.dtype)
    return input * (keep * (1.0 / (1.0 - p)))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims (biased variance), then scale
    and shift (fused C++ op)."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(d) for d in normalized_shape)
    n = len(normalized_shape)
    if n == 0 or input.ndim < n or tuple(input.shape[input.ndim - n:]) != normalized_shape:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, normalized_shape))}], but got input of size {list(input.shape)}")
    return _C.layer_norm(input, normalized_shape, weight, bias, float(eps))


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` picked by the int64 indices ``input``; the gradient scatter-adds
    into ``weight`` (none flows to the ``padding_idx`` row)."""
    if not isinstance(input, Tensor):
        input = _C.tensor(input)
    if input.dtype.is_floating_point or input.dtype.name == "bool":
        raise TypeError(f"embedding: indices must be an int64 tensor, got {input.dtype.name}")
    out = weight[input]
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += weight.shape[0]
        keep = (input != padding_idx).reshape(tuple(input.shape) + (1,))
        out = _C.where(keep, out, out.detach())
    return out


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction (expected one of {', '.join(_REDUCTIONS)})")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction (expected one of {', '.join(_REDUCTIONS)})")


def mse_loss(input, target, reduction="mean"):
    """Mean (or sum, or elementwise) squared error; shapes must match."""
    _check_reduction(reduction)
    if not isinstance(target, Tensor):
        target = _C.tensor(target, dtype=input.dtype)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: target size {tuple(target.shape)} differs from input size "
                         f"{tuple(input.shape)}; shapes must match")
    diff = input - target
    return _reduce(diff * diff, reduction)


def cross_entropy(input, target, reduction="mean"):
    """Softmax cross-entropy of logits ``input`` against ``target``:

    * class indices (int64): ``input`` (N, C) with ``target`` (N,), or (C,) with a 0-d
      target, or (N, C, d1, ...) with (N, d1, ...) — the fused C++ op;
    * class probabilities (float, the shape of ``input``): ``-sum(target * log_softmax)``
      over the class dimension.

    ``reduction``: 'mean' (over the examples), 'sum' or 'none'."""
    _check_reduction(reduction)
    if not isinstance(target, Tensor):
        target = _C.tensor(target)
    if not input.dtype.is_floating_point:
        raise TypeError(f"cross_entropy: logits must be floating point, got {input.dtype.name}")
    if target.dtype.is_floating_point:
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"cross_entropy: probability targets must have the logits' shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}")
        class_dim = 0 if input.ndim == 1 else 1
        loss = -(target * _C.log_softmax(input, class_dim)).sum(class_dim)
        return _reduce(loss, reduction)
    if target.dtype.name != "int64":
        raise TypeError(f"cross_entropy: class-index targets must be int64, got {target.dtype.name}")
    if input.ndim == 1:
        if target.ndim != 0:
            raise ValueError(f"cross_entropy: logits of shape {tuple(input.shape)} need a 0-d target, "
                             f"got shape {tuple(target.shape)}")
        out = _C.cross_entropy(input.reshape(1, input.shape[0]), target.reshape(1), reduction)
        return out.reshape(()) if reduction == "none" else out
    if input.ndim == 2:
        if tuple(target.shape) != (input.shape[0],):
            raise ValueError(f"cross_entropy: expected target of shape ({input.shape[0]},) for logits of shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}")
        return _C.cross_entropy(input, target, reduction)
    if input.ndim == 0:
        raise ValueError("cross_entropy: logits must have at least one dimension")
    n, c, rest = input.shape[0], input.shape[1], tuple(input.shape[2:])
    if tuple(target.shape) != (n,) + rest:
        raise ValueError(f"cross_entropy: expected target of shape {(n,) + rest} for logits of shape "
                         f"{tuple(input.shape)}, got {tuple(target.shape)}")
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    flat = input.permute(*perm).reshape(-1, c)
    out = _C.cross_entropy(flat, target.reshape(-1), reduction)
    return out.reshape((n,) + rest) if reduction == "none" else out


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one numerically stable expression, as PyTorch:
    ``(1 - y) * x + (1 + (pos_weight - 1) * y) * softplus(-x)``, times ``weight``."""
    _check_reduction(reduction)
    if not isinstance(target, Tensor):
        target = _C.tensor(target, dtype=input.dtype)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({tuple(target.shape)}) must be the same as input size "
                         f"({tuple(input.shape)})")
    sp = _C.softplus(-input)
    if pos_weight is not None:
        log_weight = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input + log_weight * sp
    else:
        loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


from .._errors import name_public_functions  # noqa: E402

name_public_functions(globals(), ['relu', 'tanh', 'sigmoid', 'gelu', 'leaky_relu', 'softmax', 'log_softmax', 'linear', 'dropout', 'layer_norm', 'embedding', 'mse_loss', 'cross_entropy', 'binary_cross_entropy_with_logits'])
