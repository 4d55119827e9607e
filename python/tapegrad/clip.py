"""Clipping with TensorFlow's semantics: tg.clip_by_global_norm, tg.clip_by_norm,
tg.clip_by_value. These return new tensors (differentiable, as in TensorFlow); the
PyTorch-style in-place ``.grad`` clipping is in tg.nn.utils.
"""
from collections.abc import Sequence

from . import _C
from ._tensor import Tensor

__all__ = ["global_norm", "clip_by_global_norm", "clip_by_norm", "clip_by_value"]


def _as_tensor(value, dtype=None):
    if isinstance(value, Tensor):
        return value if dtype is None or value.dtype is dtype else value.to(dtype)
    return _C.tensor(value, dtype=dtype)


def global_norm(t_list):
    """sqrt(sum of the squares of every entry of every tensor); None entries are ignored
    (tf.linalg.global_norm). Computed as TensorFlow does: sqrt(2 * sum(l2_loss(t)))."""
    if not isinstance(t_list, Sequence) or isinstance(t_list, (str, Tensor)):
        raise TypeError(f"`t_list` should be a sequence of tensors. Received {type(t_list)}.")
    values = [_as_tensor(t) for t in t_list if t is not None]
    if not values:
        return _C.tensor(0.0)
    dtype = values[0].dtype
    half_squared = []
    for v in values:
        if v.dtype is not dtype:
            raise TypeError(f"global_norm: all tensors must have one dtype, got {dtype.name} and {v.dtype.name}")
        half_squared.append((v * v).sum() * 0.5)
    return _C.sqrt(_C.stack(half_squared, 0).sum() * 2.0)


def clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """Scale every tensor of ``t_list`` by ``clip_norm / max(global_norm, clip_norm)``,
    TensorFlow's formula ``clip_norm * min(1 / global_norm, 1 / clip_norm)``. Returns
    ``(clipped_list, global_norm)``; None entries stay None. ``use_norm`` replaces the
    computed global norm. A NaN/Inf global norm makes every entry NaN, as in TensorFlow."""
    if not isinstance(t_list, Sequence) or isinstance(t_list, (str, Tensor)):
        raise TypeError(f"`t_list` should be a sequence of tensors. Received {type(t_list)}.")
    t_list = [None if t is None else _as_tensor(t) for t in t_list]
    if use_norm is None:
        use_norm = global_norm(t_list)
    else:
        use_norm = _as_tensor(use_norm)
    dtype = use_norm.dtype
    clip = _as_tensor(clip_norm, dtype)
    one = _C.tensor(1.0, dtype=dtype)
    scale_for_finite = clip * _C.minimum(one / use_norm, one / clip)
    scale = scale_for_finite + (use_norm - use_norm)
    clipped = [None if v is None else v * (scale if scale.dtype is v.dtype else scale.to(v.dtype)) for v in t_list]
    return clipped, use_norm


def clip_by_norm(t, clip_norm, axes=None):
    """Scale ``t`` so that its L2 norm over ``axes`` (all by default) is at most
    ``clip_norm``: ``t * clip_norm / max(norm, clip_norm)`` (tf.clip_by_norm, with its
    gradient-safe handling of a zero norm)."""
    t = _as_tensor(t)
    if not t.dtype.is_floating_point:
        raise TypeError(f"clip_by_norm needs a floating-point tensor, got {t.dtype.name}")
    clip = _as_tensor(clip_norm, t.dtype)
    l2sum = (t * t).sum(axes, True)
    pred = l2sum > 0
    l2sum_safe = _C.where(pred, l2sum, _C.ones(l2sum.shape, dtype=l2sum.dtype))
    l2norm = _C.where(pred, _C.sqrt(l2sum_safe), l2sum)
    return (t * clip) / _C.maximum(l2norm, clip)


def clip_by_value(t, clip_value_min, clip_value_max):
    """Clamp ``t`` to [clip_value_min, clip_value_max] elementwise (scalars or tensors that
    broadcast to t's shape); the gradient passes where the bounds are not active (ties
    included), as tf.clip_by_value."""
    t = _as_tensor(t)
    if not isinstance(clip_value_min, Tensor) and not isinstance(clip_value_max, Tensor):
        return _C.clamp(t, clip_value_min, clip_value_max)
    lo = _as_tensor(clip_value_min, t.dtype)
    hi = _as_tensor(clip_value_max, t.dtype)
    import numpy as np

    try:
        shape = np.broadcast_shapes(tuple(t.shape), tuple(lo.shape), tuple(hi.shape))
    except ValueError:
        shape = None
    if shape != tuple(t.shape):
        raise ValueError(f"clip_by_value: the bounds' shapes {tuple(lo.shape)} and {tuple(hi.shape)} must "
                         f"broadcast to t's shape {tuple(t.shape)} without changing it")
    t_min = _C.where(t > hi, hi, t)
    return _C.where(t_min < lo, lo, t_min)


from ._errors import name_public_functions  # noqa: E402

name_public_functions(globals(), ['global_norm', 'clip_by_global_norm', 'clip_by_norm', 'clip_by_value'])
