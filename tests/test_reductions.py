"""Reductions, softmax and log_softmax against NumPy / SciPy (SPEC §2), forward only.

Conventions (NumPy's, as the brief asks): keyword `axis`, `keepdims`; `max`/`min` return
values only; `var`/`std` take `correction` (default 0 = NumPy's ddof=0); `norm` is the
vector norm of the selected elements (PyTorch's torch.norm / linalg.vector_norm, not
NumPy's matrix norm).
"""
import numpy as np
import pytest
from scipy.special import log_softmax as sp_log_softmax
from scipy.special import logsumexp as sp_logsumexp
from scipy.special import softmax as sp_softmax

import tapegrad as tg
from conftest import T, assert_close, np_dtype


def _norm_ref(a, ord=2, axis=None, keepdims=False):
    a = np.abs(a.astype(np.float64))
    if ord == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    return np.sum(a ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


REDUCTIONS = {
    # name: (tapegrad function, reference computed in float64)
    "sum": (tg.sum, np.sum),
    "mean": (tg.mean, np.mean),
    "prod": (tg.prod, np.prod),
    "max": (tg.max, np.max),
    "min": (tg.min, np.min),
    "var": (tg.var, np.var),
    "std": (tg.std, np.std),
    "norm": (tg.norm, _norm_ref),
    "logsumexp": (tg.logsumexp, sp_logsumexp),
}

AXES = [None, 0, 1, 2, -1, -2, (0, 2), (1, 2), (0, 1, 2), (-1, 0), ()]


def _data(name, shape, dtype, rng):
    if name == "prod":
        a = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
    else:
        a = rng.standard_normal(shape) * 2
    return a.astype(np_dtype(dtype))


def _ref(name, a, axis, keepdims):
    r = REDUCTIONS[name][1](a.astype(np.float64), axis=axis, keepdims=keepdims)
    return np.asarray(r).astype(a.dtype)


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype is tg.float32 else dict(rtol=1e-11, atol=1e-12)


# axis=() (reduce over nothing, NumPy) is only exercised for the simple reductions
NAME_AXIS = [(n, ax) for n in sorted(REDUCTIONS) for ax in AXES
             if not (ax == () and n in ("norm", "logsumexp", "var", "std"))]


@pytest.mark.parametrize("name, axis", NAME_AXIS, ids=[f"{n}-{ax!r}".replace(" ", "") for n, ax in NAME_AXIS])
@pytest.mark.parametrize("keepdims", [False, True], ids=["", "keepdims"])
def test_reduction_axes(name, axis, keepdims, fdtype, rng):
    a = _data(name, (3, 4, 5), fdtype, rng)
    f = REDUCTIONS[name][0]
    got = f(T(a), axis=axis, keepdims=keepdims)
    assert_close(got, _ref(name, a, axis, keepdims), **_tol(fdtype))
    # method form
    m = getattr(T(a), name)(axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(m.numpy(), got.numpy())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_default_is_all(name, fdtype, rng):
    a = _data(name, (4, 6), fdtype, rng)
    got = REDUCTIONS[name][0](T(a))
    assert got.shape == ()
    assert_close(got, _ref(name, a, None, False), **_tol(fdtype))


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_noncontiguous(name, fdtype, rng):
    a = _data(name, (6, 8, 10), fdtype, rng)
    t = T(a)
    f = REDUCTIONS[name][0]
    views = [
        (t.permute(2, 0, 1), a.transpose(2, 0, 1)),
        (t[::2, 1::3, ::4], a[::2, 1::3, ::4]),
        (t.T[1:, ::2], a.T[1:, ::2]),
    ]
    for tv, av in views:
        for axis in (None, 0, -1, (0, 2), 1):
            assert_close(f(tv, axis=axis), _ref(name, av, axis, False), **_tol(fdtype))


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_0d(name, fdtype):
    a = np.array(0.75, dtype=np_dtype(fdtype))
    got = REDUCTIONS[name][0](T(a))
    assert_close(got, _ref(name, a, None, False), **_tol(fdtype))


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_var_std_correction(correction, axis, fdtype, rng):
    a = rng.standard_normal((7, 9)).astype(np_dtype(fdtype))
    t = T(a)
    a64 = a.astype(np.float64)
    assert_close(tg.var(t, axis=axis, correction=correction),
                 np.asarray(np.var(a64, axis=axis, ddof=correction)).astype(a.dtype), **_tol(fdtype))
    assert_close(t.std(axis=axis, correction=correction, keepdims=True),
                 np.asarray(np.std(a64, axis=axis, ddof=correction, keepdims=True)).astype(a.dtype), **_tol(fdtype))


def test_var_default_correction_is_zero(rng):
    a = rng.standard_normal(10)
    assert tg.var(T(a)).item() == pytest.approx(np.var(a), rel=1e-12)
    assert tg.std(T(a)).item() == pytest.approx(np.std(a), rel=1e-12)


def test_var_numerically_stable_with_large_mean(rng):
    # float32 values with mean 1e4 and unit variance: a naive E[x^2]-E[x]^2 in float32
    # loses everything; PyTorch (Welford / two-pass) gets ~1.
    a = (1e4 + rng.standard_normal(100_000)).astype(np.float32)
    ref = np.var(a.astype(np.float64))
    assert tg.var(T(a)).item() == pytest.approx(ref, rel=1e-3)
    assert tg.std(T(a)).item() == pytest.approx(np.sqrt(ref), rel=1e-3)


def test_float32_var_std_do_not_overflow_or_underflow_midway():
    # computed in float64 (PyTorch too): the squared deviations of these leave float32's range
    big = T(np.array([1e20, -1e20], dtype=np.float32))
    assert tg.std(big).item() == pytest.approx(1e20, rel=1e-6) and tg.std(big).dtype is tg.float32
    assert tg.var(big).item() == np.inf  # 1e40 itself is beyond float32
    tiny = T(np.array([0.0, 1e-30], dtype=np.float32))
    assert tg.std(tiny).item() == pytest.approx(5e-31, rel=1e-6)
    assert tg.std(tiny, correction=10).item() == np.inf  # a spread over no degrees of freedom, not 0/0
    x = T(np.array([1e20, -1e20, 3e20], dtype=np.float32)).requires_grad_()
    tg.std(x).backward()
    d = np.array([1e20, -1e20, 3e20]) - 1e20
    np.testing.assert_allclose(x.grad.numpy(), d / (3 * np.sqrt(np.mean(d ** 2))), rtol=1e-6)


@pytest.mark.parametrize("ord", [1, 2, 3, np.inf])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
def test_norm_ord(ord, axis, fdtype, rng):
    a = rng.standard_normal((5, 6)).astype(np_dtype(fdtype))
    got = tg.norm(T(a), ord=ord, axis=axis)
    assert_close(got, np.asarray(_norm_ref(a, ord, axis)).astype(a.dtype), **_tol(fdtype))
    assert_close(T(a).norm(ord, axis), np.asarray(_norm_ref(a, ord, axis)).astype(a.dtype), **_tol(fdtype))


def test_norm_default_is_frobenius_not_spectral(rng):
    a = rng.standard_normal((4, 4))
    assert tg.norm(T(a)).item() == pytest.approx(np.sqrt(np.sum(a ** 2)), rel=1e-12)


# ------------------------------------------------------------ dtypes of results ----

def test_int_reductions_keep_int64(rng):
    a = rng.integers(-5, 6, size=(4, 5))
    t = T(a)
    assert_close(tg.sum(t), np.sum(a))
    assert_close(tg.sum(t, axis=1), np.sum(a, axis=1))
    assert_close(tg.prod(T(np.array([[2, 3], [4, -5]]))), np.int64(-120))
    assert_close(tg.max(t, axis=0), np.max(a, axis=0))
    assert_close(tg.min(t), np.min(a))


def test_int_sum_exact_large(rng):
    a = np.array([2 ** 60, 1, -(2 ** 59), 3], dtype=np.int64)
    assert tg.sum(T(a)).item() == int(a.sum())


def test_bool_sum_counts():
    # NumPy and PyTorch: summing bools counts the Trues, as int64
    b = T(np.array([[True, False, True], [True, True, True]]))
    assert_close(tg.sum(b), np.int64(5))
    assert_close(tg.sum(b, axis=0), np.array([2, 1, 2]))


def test_mean_of_int_tensor():
    # NumPy gives float64; PyTorch refuses. Either a float result or a clear TypeError/RuntimeError.
    t = T(np.array([1, 2, 4]))
    try:
        r = tg.mean(t)
    except (TypeError, RuntimeError, ValueError) as e:
        assert "mean" in str(e)
    else:
        assert r.dtype in (tg.float32, tg.float64)
        assert r.item() == pytest.approx(7 / 3, rel=1e-6)


# -------------------------------------------------------------------- empty ----

def test_empty_reductions(fdtype):
    e = tg.zeros(0, 3, dtype=fdtype)
    dt = np_dtype(fdtype)
    assert_close(tg.sum(e), np.array(0.0, dtype=dt))
    assert_close(tg.prod(e), np.array(1.0, dtype=dt))
    assert_close(tg.sum(e, axis=0), np.zeros(3, dtype=dt))
    assert_close(tg.prod(e, axis=0), np.ones(3, dtype=dt))
    assert_close(tg.sum(e, axis=1), np.zeros(0, dtype=dt))
    assert_close(tg.sum(e, axis=0, keepdims=True), np.zeros((1, 3), dtype=dt))
    assert_close(tg.max(e, axis=1), np.zeros(0, dtype=dt))  # no reduction over an empty axis
    assert_close(tg.norm(e), np.array(0.0, dtype=dt))
    assert_close(tg.logsumexp(e, axis=0), np.full(3, -np.inf, dtype=dt))
    r = tg.mean(e, axis=0)  # NumPy / PyTorch: nan
    assert r.shape == (3,) and np.all(np.isnan(r.numpy()))


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin"])
def test_empty_max_raises_cleanly(name):
    # NumPy raises ValueError ("zero-size array to reduction operation maximum which has
    # no identity"); PyTorch raises too. Any clean Python exception naming the op.
    with pytest.raises((ValueError, IndexError, RuntimeError), match=name[-3:]):
        getattr(tg, name)(tg.zeros(0, 3))
    with pytest.raises((ValueError, IndexError, RuntimeError)):
        getattr(tg, name)(tg.zeros(0, 3), axis=0)


# --------------------------------------------------------------- large inputs ----

N_BIG = 1_000_003


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std", "norm", "logsumexp"])
def test_large_reduction_all(name, fdtype, rng):
    a = rng.uniform(-1, 3, size=N_BIG).astype(np_dtype(fdtype))
    got = REDUCTIONS[name][0](T(a))
    ref = _ref(name, a, None, False)
    tol = dict(rtol=1e-5, atol=1e-6) if fdtype is tg.float32 else dict(rtol=1e-10, atol=1e-10)
    assert_close(got, ref, **tol)


def test_large_sum_float32_is_accurate(rng):
    # float32 sum of ~1e6 terms: pairwise / blocked summation keeps the error ~1e-7;
    # naive sequential accumulation drifts by ~1e-4 relative.
    a = rng.uniform(0, 1, size=N_BIG).astype(np.float32)
    exact = np.sum(a.astype(np.float64))
    assert abs(tg.sum(T(a)).item() - exact) / exact < 2e-6
    ones = np.ones(20_000_001 // 4, dtype=np.float32)
    assert tg.sum(T(ones)).item() == float(ones.size)  # exact: naive float32 stops at 2**24


def test_large_sum_of_strided_row_float32_is_accurate():
    # a row read with a stride (0 for an expanded tensor) is summed block by block as a
    # contiguous one is: a running float32 sum of 65537 * 6.7 was off by 3.5e-4 relative
    v = np.float32(6.69963264465332)
    exact = float(v) * 65537
    e = T(np.array([[v]])).expand(65537, 1)
    assert abs(tg.sum(e).item() - exact) / exact < 1e-5
    a = np.repeat(np.arange(70001, dtype=np.float32) % 7 + np.float32(0.1), 3)
    strided = T(a)[::3]
    assert abs(tg.sum(strided).item() - a[::3].astype(np.float64).sum()) / a[::3].sum() < 1e-5


@pytest.mark.parametrize("shape, axis", [((70001, 3), 0), ((3, 70001, 5), 1), ((200, 300, 4), (0, 1)),
                                         ((6000, 2, 5), (0, 2))])
def test_float32_sum_along_outer_axes_is_accurate(shape, axis):
    # rows added into each output one after another: a running float32 sum of 70,001
    # rows of 0.1 gave 7004.58 (6.4e-4 relative); summed pairwise it is within 1e-6
    a = np.full(shape, 0.1, dtype=np.float32)
    got = T(a).sum(axis=axis).numpy()
    exact = a.astype(np.float64).sum(axis=axis)
    assert np.abs(got - exact).max() / exact.max() < 1e-6


def test_float32_sum_along_outer_axes_does_not_depend_on_threads(rng):
    a = rng.standard_normal((50_000, 7)).astype(np.float32)
    before = tg.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            tg.set_num_threads(n)
            results.append(T(a).sum(axis=0).numpy())
    finally:
        tg.set_num_threads(before)
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "axis0"])
def test_float32_prod_has_no_spurious_overflow(layout):
    # the exact product is ~-1.1e11, but partial products in some orders leave float32's
    # range (1e15 ** 3, then 1e-37 ** 2); NumPy and PyTorch give it, as the float64 product
    a = np.full(48, -6.9, dtype=np.float32)
    a[[2, 25, 39]] = 1e15
    a[[10, 31]] = -4.5e-37
    a[[5, 17]] = 7.0
    ref = np.prod(a.astype(np.float64))
    t = T(a.reshape(2, 2, 3, 4))
    if layout == "transposed":
        r = t.permute(3, 2, 1, 0).prod()
    elif layout == "axis0":
        r = T(a.reshape(48, 1)).prod(axis=0)[0]
    else:
        r = t.prod()
    assert r.dtype is tg.float32
    np.testing.assert_allclose(r.item(), ref, rtol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 1)])
def test_large_reduction_axis(axis, rng):
    a = rng.standard_normal((1000, 1003)).astype(np.float32)
    t = T(a)
    assert_close(tg.sum(t, axis=axis), np.sum(a.astype(np.float64), axis=axis).astype(np.float32),
                 rtol=1e-4, atol=1e-3)
    assert_close(tg.max(t, axis=axis), np.max(a, axis=axis), rtol=0, atol=0)
    assert_close(tg.sum(t.T, axis=axis), np.sum(a.T.astype(np.float64), axis=axis).astype(np.float32),
                 rtol=1e-4, atol=1e-3)


def test_large_argmax_argmin(rng):
    a = rng.standard_normal(N_BIG).astype(np.float32)
    a[777_777] = 100.0
    a[12345] = -100.0
    assert tg.argmax(T(a)).item() == 777_777
    assert tg.argmin(T(a)).item() == 12345


# ----------------------------------------------------------- argmax / argmin ----

@pytest.mark.parametrize("fname", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin(fname, axis, keepdims, fdtype, rng):
    a = rng.integers(0, 4, size=(3, 4, 5)).astype(np_dtype(fdtype))  # many ties: first wins
    got = getattr(tg, fname)(T(a), axis=axis, keepdims=keepdims)
    ref = getattr(np, fname)(a, axis=axis, keepdims=keepdims)
    assert got.dtype is tg.int64
    assert_close(got, np.asarray(ref, dtype=np.int64))
    # on a non-contiguous view
    v = a.transpose(1, 2, 0)[:, ::2]
    got = getattr(T(a).permute(1, 2, 0)[:, ::2], fname)(axis=axis, keepdims=keepdims)
    assert_close(got, np.asarray(getattr(np, fname)(v, axis=axis, keepdims=keepdims), dtype=np.int64))


def test_argmax_int_and_nan():
    assert tg.argmax(T(np.array([3, 9, 9, 1]))).item() == 1
    # NumPy and PyTorch: NaN is the maximum (first NaN wins)
    assert tg.argmax(T(np.array([1.0, np.nan, 5.0, np.nan]))).item() == 1
    assert tg.argmin(T(np.array([1.0, np.nan, -5.0]))).item() == 1


def test_max_min_propagate_nan(fdtype):
    a = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], dtype=np_dtype(fdtype))
    assert np.isnan(tg.max(T(a)).item())
    assert np.isnan(tg.min(T(a)).item())
    assert_close(tg.max(T(a), axis=1), np.max(a, axis=1))
    assert_close(tg.min(T(a), axis=0), np.min(a, axis=0))


def test_max_returns_values_only(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    r = tg.max(T(a), axis=1)
    assert isinstance(r, tg.Tensor)  # not a (values, indices) pair
    assert_close(r, a.max(axis=1), rtol=0, atol=0)
    assert_close(tg.amax(T(a), axis=0), a.max(axis=0), rtol=0, atol=0)
    assert_close(tg.amin(T(a), axis=0), a.min(axis=0), rtol=0, atol=0)


def test_max_with_inf(fdtype):
    a = np.array([-np.inf, -np.inf], dtype=np_dtype(fdtype))
    assert tg.max(T(a)).item() == -np.inf
    assert tg.min(T(-a)).item() == np.inf


# -------------------------------------------------------- softmax and friends ----

@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_softmax_log_softmax(axis, fdtype, rng):
    a = (rng.standard_normal((3, 4, 5)) * 3).astype(np_dtype(fdtype))
    a64 = a.astype(np.float64)
    tol = dict(rtol=1e-5, atol=1e-6) if fdtype is tg.float32 else dict(rtol=1e-12, atol=1e-13)
    assert_close(tg.softmax(T(a), axis), sp_softmax(a64, axis=axis).astype(a.dtype), **tol)
    assert_close(tg.log_softmax(T(a), axis=axis), sp_log_softmax(a64, axis=axis).astype(a.dtype), **tol)
    assert_close(T(a).softmax(axis), sp_softmax(a64, axis=axis).astype(a.dtype), **tol)
    # non-contiguous input
    v = a.transpose(2, 0, 1)[::2]
    assert_close(tg.softmax(T(a).permute(2, 0, 1)[::2], axis),
                 sp_softmax(v.astype(np.float64), axis=axis).astype(a.dtype), **tol)


def test_softmax_default_axis_is_last(rng):
    a = rng.standard_normal((3, 4))
    assert_close(tg.softmax(T(a)), sp_softmax(a, axis=-1), rtol=1e-12, atol=1e-13)
    assert_close(tg.log_softmax(T(a)), sp_log_softmax(a, axis=-1), rtol=1e-12, atol=1e-13)


def test_softmax_large_rows(rng):
    a = rng.standard_normal((7, 150_001)).astype(np.float32)
    s = tg.softmax(T(a), axis=1)
    assert_close(s, sp_softmax(a.astype(np.float64), axis=1).astype(np.float32), rtol=1e-4, atol=1e-9)
    assert_close(tg.sum(s, axis=1), np.ones(7, dtype=np.float32), rtol=1e-5, atol=1e-5)
    s0 = tg.softmax(T(a), axis=0)
    assert_close(s0, sp_softmax(a.astype(np.float64), axis=0).astype(np.float32), rtol=1e-5, atol=1e-7)


def test_softmax_logsumexp_numerically_stable(fdtype):
    dt = np_dtype(fdtype)
    a = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]], dtype=dt)
    s = tg.softmax(T(a), axis=1)
    ref = sp_softmax(a.astype(np.float64), axis=1).astype(dt)
    assert np.all(np.isfinite(s.numpy()))
    assert_close(s, ref, rtol=1e-5, atol=1e-7)
    ls = tg.log_softmax(T(a), axis=1)
    assert np.all(np.isfinite(ls.numpy()))
    assert_close(ls, sp_log_softmax(a.astype(np.float64), axis=1).astype(dt), rtol=1e-5, atol=1e-5)
    lse = tg.logsumexp(T(a), axis=1)
    assert np.all(np.isfinite(lse.numpy()))
    assert_close(lse, sp_logsumexp(a.astype(np.float64), axis=1).astype(dt), rtol=1e-6, atol=1e-4)
    assert tg.logsumexp(T(np.array([1000.0, 1000.0], dtype=dt))).item() == pytest.approx(1000 + np.log(2), rel=1e-6)
    assert tg.logsumexp(T(np.full(N_BIG, 1000.0, dtype=dt))).item() == pytest.approx(1000 + np.log(N_BIG), rel=1e-5)


def test_softmax_with_neg_inf_mask(fdtype):
    dt = np_dtype(fdtype)
    a = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]], dtype=dt)
    s = tg.softmax(T(a), axis=1).numpy()
    np.testing.assert_allclose(s, sp_softmax(a.astype(np.float64), axis=1), rtol=1e-6, atol=1e-7)
    assert s[0, 1] == 0.0 and s[1, 1] == 1.0
    # a row that is all -inf: logsumexp is -inf (PyTorch, SciPy)
    assert tg.logsumexp(T(np.array([-np.inf, -np.inf], dtype=dt))).item() == -np.inf
    # +inf present: logsumexp is +inf
    assert tg.logsumexp(T(np.array([np.inf, 1.0], dtype=dt))).item() == np.inf


def test_log_softmax_rows_with_infinities_match_softmax(fdtype):
    # PyTorch: log_softmax is (x - max) - log(sum(exp(x - max))), so a row holding +inf
    # (or only -inf) is NaN throughout, as softmax is; a lone -inf entry stays -inf
    dt = np_dtype(fdtype)
    a = np.array([[np.inf, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf], [-np.inf, 1.0, 1.0]], dtype=dt)
    ls, s = tg.log_softmax(T(a), axis=1).numpy(), tg.softmax(T(a), axis=1).numpy()
    assert np.isnan(ls[:2]).all() and np.isnan(s[:2]).all()
    np.testing.assert_allclose(ls[2], [-np.inf, -np.log(2), -np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(s[2], [0.0, 0.5, 0.5], rtol=1e-6)


def test_log_softmax_with_a_large_max_keeps_precision():
    # not x - (m + log(sum)): log(2) + 1e6 would lose ~1e-10 of log(2) to rounding
    a = np.array([[1e6, 1e6], [-1.6e-22, 1e6]])
    ref = np.array([[0.0, -np.log(2)], [-1e6, -np.log(2)]])
    np.testing.assert_allclose(tg.log_softmax(T(a), axis=0).numpy(), ref, rtol=1e-15, atol=0)


def test_softmax_empty_and_0d(fdtype):
    e = tg.zeros(0, 4, dtype=fdtype)
    assert tg.softmax(e, axis=1).shape == (0, 4)
    assert tg.log_softmax(e, axis=0).shape == (0, 4)
    # 0-d: softmax of a single element is 1 (PyTorch allows axis 0 / -1 on a 0-d tensor)
    assert tg.softmax(tg.tensor(3.0, dtype=fdtype), axis=-1).item() == 1.0


def test_reductions_do_not_modify_input(rng):
    a = rng.standard_normal((5, 6)).astype(np.float32)
    t = T(a)
    for f in (tg.sum, tg.mean, tg.var, tg.logsumexp, tg.softmax, tg.log_softmax, tg.norm):
        f(t)
    np.testing.assert_array_equal(t.numpy(), a)
