"""Conveniences attached to the C++ Tensor type: printing, NumPy interop, iteration.

Arithmetic, indexing and the ops themselves are bound in C++ (tapegrad._C);
nothing here runs on the per-op path.
"""
from . import _C
from ._errors import names_errors
from ._dtypes import float32, float64, int64

Tensor = _C.Tensor


def _numpy(self):
    """A NumPy array sharing this tensor's memory (no copy)."""
    import numpy as np

    return np.asarray(memoryview(self))


def _array(self, dtype=None, copy=None):
    import numpy as np

    a = np.asarray(memoryview(self))
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return a.copy() if copy else a


def _tolist(self):
    return _numpy(self).tolist()


def _repr(self):
    import numpy as np

    if self.size == 0:  # its sizes may be more than NumPy can describe
        body = f"[], size={self.shape}"
    else:
        body = np.array2string(_numpy(self), separator=", ", prefix="tensor(",
                               threshold=1000, edgeitems=3, floatmode="maxprec_equal")
    extras = []
    if self.dtype is float64:
        extras.append("dtype=tapegrad.float64")
    elif self.dtype is int64 or self.dtype is float32:
        pass
    elif self.size == 0 or self.dtype.name != "bool":
        extras.append(f"dtype=tapegrad.{self.dtype.name}")
    if self.grad_fn is not None:
        extras.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extras) + ")"


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self[i]


def _format(self, spec):
    if self.ndim == 0 or self.size == 1:
        return format(self.item(), spec)
    return format(repr(self), spec)


def _T(self):
    """The tensor with its dimensions reversed (NumPy's .T)."""
    return self.permute(*reversed(range(self.ndim)))


def _register_hook(self, hook):
    """Call hook(grad) when this tensor's gradient is computed; it may return a
    replacement gradient. Returns a handle whose remove() unregisters it.

    As in PyTorch, the hook belongs to the tensor's current grad_fn: after an in-place
    op on the tensor (or on the base of a view) it gets the gradient of the value the
    tensor had before, and only when that value's history is part of the backward pass.
    """
    hook_id = self._register_hook(hook)
    fn = self.grad_fn
    return _HookHandle(self if fn is None else fn, hook_id)


class _HookHandle:
    __slots__ = ("_owner", "_id")

    def __init__(self, owner, hook_id):
        self._owner, self._id = owner, hook_id  # the node that holds the hook, or the leaf

    def remove(self):
        if self._owner is not None:
            self._owner._remove_hook(self._id)
            self._owner = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _rebuild(array, requires_grad):
    return _C.tensor(array, requires_grad=requires_grad)


def _reduce(self):
    """Pickle as a NumPy copy of the data (no graph; checkpoints use tg.save instead)."""
    return (_rebuild, (_numpy(self).copy(), self.requires_grad))


Tensor.numpy = names_errors("numpy")(_numpy)
Tensor.__reduce__ = _reduce
Tensor.__array__ = names_errors("__array__")(_array)
Tensor.__array_priority__ = 1000  # NumPy defers `ndarray * tensor` to Tensor.__rmul__
Tensor.tolist = _tolist
Tensor.__repr__ = _repr
Tensor.__str__ = _repr
Tensor.__iter__ = _iter
Tensor.__format__ = _format
Tensor.T = property(_T)
Tensor.register_hook = _register_hook
Tensor.__module__ = "tapegrad"
