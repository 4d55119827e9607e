"""Advanced indexing (boolean masks, integer arrays), lowered to flat positions.

NumPy computes which elements an index selects; the C++ side then gathers
(`take`) or scatters (`index_put`) those flat positions, and the gradient of a
gather is a scatter-add over the same positions. Each dimension contributes a
zero-copy broadcast view of its coordinates, so the cost is proportional to the
size of the result, not of the indexed tensor.
"""
import numpy as np


def _as_numpy_key(item):
    from . import Tensor

    if isinstance(item, Tensor):
        return np.asarray(item)
    if isinstance(item, tuple):
        return tuple(_as_numpy_key(i) for i in item)
    if isinstance(item, list):
        if not item:  # x[[]] selects nothing along the first axis (an empty integer index)
            return np.zeros(0, dtype=np.intp)
        return np.asarray([np.asarray(i) if isinstance(i, Tensor) else i for i in item])
    return item


def flat_positions(shape, key):
    """Row-major flat positions of x[key] for a tensor x of this shape (NumPy rules)."""
    key = _as_numpy_key(key)
    shape = tuple(shape)
    if not shape:  # a 0-d tensor: every selected element is position 0
        return np.ascontiguousarray(np.zeros((), dtype=np.int64)[key])
    stride = 1
    coords = []
    for d in reversed(range(len(shape))):
        axis_shape = [1] * len(shape)
        axis_shape[d] = shape[d]
        coords.append(np.arange(shape[d], dtype=np.int64).reshape(axis_shape) * stride)
        stride *= shape[d]
    total = None
    for c in coords:
        part = np.broadcast_to(c, shape)[key]
        total = part if total is None else total + part
    return np.ascontiguousarray(total, dtype=np.int64)
