"""Gradient debugging: anomaly mode and numeric checks."""
import functools

from . import _C


class detect_anomaly:
    """Within this block (or decorated function), every recorded op remembers where in
    the forward pass it was created, and a backward whose derivative produces NaN or
    Inf raises RuntimeError naming the op and showing that forward location.

    Recording the Python stack costs time, so this is for debugging only; with
    check_nan=False the locations are recorded but gradients are not checked."""

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev = (_C._is_anomaly_enabled(), _C._anomaly_check_nan())
        _C._set_anomaly_enabled(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        _C._set_anomaly_enabled(*self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


def is_anomaly_enabled():
    return _C._is_anomaly_enabled()


class NumericsError(RuntimeError):
    """Raised by check_numerics when a tensor holds NaN or Inf."""


def check_numerics(tensor, message):
    """Return `tensor` if every value is finite; otherwise raise NumericsError whose
    text contains `message` (tf.debugging.check_numerics)."""
    if not isinstance(tensor, _C.Tensor):
        raise TypeError(f"check_numerics: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.is_floating_point and tensor.size and not bool(_C.isfinite(tensor).min()):
        nans = int(_C.isnan(tensor).sum())
        infs = int(_C.isinf(tensor).sum())
        raise NumericsError(f"{message}: tensor {tuple(tensor.shape)} {tensor.dtype.name} has "
                            f"{nans} NaN and {infs} Inf values")
    return tensor
