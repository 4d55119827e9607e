"""Shared helpers for the tapegrad tensor-core tests.

Judgment calls where SPEC is silent follow PyTorch (dtype promotion, repr) or NumPy
(indexing, reductions, `size`); each test that relies on one says so.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tapegrad as tg

# tapegrad dtype <-> NumPy dtype
TG_TO_NP = {
    tg.float32: np.dtype(np.float32),
    tg.float64: np.dtype(np.float64),
    tg.int64: np.dtype(np.int64),
    tg.bool: np.dtype(np.bool_),
}
NP_TO_TG = {v: k for k, v in TG_TO_NP.items()}

FLOAT_DTYPES = [tg.float32, tg.float64]

# Default tolerances per dtype for elementwise transcendental results. The vectorised
# kernels may differ from NumPy's libm by a few ulp.
TOL = {
    tg.float32: dict(rtol=2e-6, atol=1e-6),
    tg.float64: dict(rtol=1e-12, atol=1e-13),
}


def np_dtype(dt):
    """NumPy dtype for a tapegrad dtype (or a NumPy dtype-like passed through)."""
    if isinstance(dt, tg.dtype):
        return TG_TO_NP[dt]
    return np.dtype(dt)


def to_np(t):
    """A NumPy copy of a tensor (never shares memory)."""
    assert isinstance(t, tg.Tensor), f"expected a tapegrad.Tensor, got {type(t).__name__}"
    return np.array(t.numpy(), copy=True)


def assert_close(t, expected, rtol=None, atol=None, dtype=None, equal_nan=True):
    """Check that `t` is a tg.Tensor with the shape and dtype of `expected` (or `dtype`),
    and values close to `expected` (NumPy's allclose rule; exact for int/bool)."""
    assert isinstance(t, tg.Tensor), f"expected a tapegrad.Tensor, got {type(t).__name__}"
    expected = np.asarray(expected)
    want_dtype = np_dtype(dtype) if dtype is not None else expected.dtype
    assert t.dtype in TG_TO_NP, f"unknown tensor dtype {t.dtype!r}"
    got_np_dtype = TG_TO_NP[t.dtype]
    assert got_np_dtype == want_dtype, f"dtype: got {t.dtype!r}, expected {want_dtype}"
    assert t.shape == expected.shape, f"shape: got {t.shape}, expected {expected.shape}"
    assert isinstance(t.shape, tuple)
    a = t.numpy()
    assert a.dtype == got_np_dtype, f"numpy() dtype {a.dtype} does not match tensor dtype {t.dtype!r}"
    assert a.shape == expected.shape
    if want_dtype.kind in "biu":
        np.testing.assert_array_equal(a, expected)
        return
    if rtol is None or atol is None:
        tol = TOL[NP_TO_TG[want_dtype]] if want_dtype in NP_TO_TG else dict(rtol=1e-6, atol=1e-6)
        rtol = tol["rtol"] if rtol is None else rtol
        atol = tol["atol"] if atol is None else atol
    np.testing.assert_allclose(a, expected.astype(want_dtype, copy=False), rtol=rtol, atol=atol,
                               equal_nan=equal_nan)


def T(data, **kwargs):
    """tg.tensor(data), except that a 0-d NumPy array or NumPy scalar is passed as a Python
    scalar with an explicit dtype. The op tests use this so that they test the op and not
    tg.tensor's handling of 0-d NumPy input (which test_creation covers on its own)."""
    if isinstance(data, (np.ndarray, np.generic)) and np.ndim(data) == 0:
        kwargs.setdefault("dtype", NP_TO_TG[np.asarray(data).dtype])
        return tg.tensor(np.asarray(data).item(), **kwargs)
    return tg.tensor(data, **kwargs)


def run_python(code, timeout=60):
    """Run `code` in a fresh interpreter that imports the same tapegrad as this test
    process (the installed package, or the source tree in development); return the
    CompletedProcess. Used where a misuse might crash the interpreter (segfault/abort)."""
    import os

    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))
    env["PYTHONPATH"] = pkg_root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_clean_subprocess(code, timeout=60):
    """The snippet must exit normally (return code 0): no segfault, no abort."""
    r = run_python(code, timeout=timeout)
    assert r.returncode == 0, (f"subprocess exited with {r.returncode} (negative = killed by signal)\n"
                               f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


@pytest.fixture(params=FLOAT_DTYPES, ids=["float32", "float64"])
def fdtype(request):
    """Both floating dtypes."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
