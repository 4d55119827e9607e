"""no_grad / enable_grad / set_grad_enabled: context managers and decorators.

Grad mode is thread-local (kept in C++), as in PyTorch.
"""
import functools

from . import _C


class _GradModeContext:
    _enabled = True

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Ops run inside are not recorded (usable as `with` or as a decorator)."""

    _enabled = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a no_grad block."""

    _enabled = True


class set_grad_enabled(_GradModeContext):
    """set_grad_enabled(False) turns recording off at once (as a call), or for a
    `with` block."""

    def __init__(self, mode):
        self._enabled = bool(mode)
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._enabled)

    def __enter__(self):
        return self

    def __call__(self, fn):
        mode = self._enabled
        _C._set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


is_grad_enabled = _C.is_grad_enabled
