"""Elementwise unary and binary ops against NumPy (SPEC §2), forward values only.

References are computed in float64 from the (float32-rounded) inputs and then rounded to
the tensor's dtype, so float32 results are compared against the correctly rounded answer
with a tolerance of a few ulp (the vectorised math may differ from libm by a couple ulp).
"""
import math

import numpy as np
import pytest
from scipy.special import erf

import tapegrad as tg
from conftest import TOL, T, assert_close, np_dtype

# ------------------------------------------------------------------ unary ----


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _softplus(x):
    # log1p(exp(x)), evaluated without overflow
    return np.where(x > 30, x, np.log1p(np.exp(np.minimum(x, 30))))


UNARY = {
    # name: (reference in float64, input range (lo, hi))
    "exp": (np.exp, (-20.0, 20.0)),
    "log": (np.log, (1e-3, 1e3)),
    "log1p": (np.log1p, (-0.99, 10.0)),
    "sqrt": (np.sqrt, (0.0, 1e4)),
    "rsqrt": (lambda x: 1.0 / np.sqrt(x), (1e-3, 1e4)),
    "abs": (np.abs, (-10.0, 10.0)),
    "sign": (np.sign, (-3.0, 3.0)),
    "sin": (np.sin, (-10.0, 10.0)),
    "cos": (np.cos, (-10.0, 10.0)),
    "tan": (np.tan, (-1.4, 1.4)),
    "tanh": (np.tanh, (-12.0, 12.0)),
    "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)), (-30.0, 30.0)),
    "relu": (lambda x: np.maximum(x, 0.0), (-5.0, 5.0)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), (-5.0, 5.0)),
    "gelu": (_gelu, (-8.0, 8.0)),
    "softplus": (_softplus, (-30.0, 40.0)),
}


def _inputs(name, shape, dtype, rng):
    lo, hi = UNARY[name][1]
    x = rng.uniform(lo, hi, size=shape)
    if name in ("abs", "sign", "relu", "leaky_relu", "gelu"):
        x.flat[:: 5] = 0.0  # exact zeros are an edge case for these
    return x.astype(np_dtype(dtype))


def _ref(name, x):
    return UNARY[name][0](x.astype(np.float64)).astype(x.dtype)


def _tol(name, dtype):
    tol = dict(TOL[dtype])
    if name == "sin" or name == "cos" or name == "tan":
        tol["atol"] = 2e-6 if dtype is tg.float32 else 1e-13
    if name == "softplus" and dtype is tg.float64:
        # PyTorch's softplus returns x itself for x > 20 (threshold=20); the relative error
        # of that is log1p(exp(-x))/x < exp(-20)/20 ~ 1e-10. Judgment call: follow PyTorch.
        tol["rtol"] = 2e-10
    return tol


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(1,), (7,), (8,), (9,), (17,), (33,), (3, 5), (2, 3, 4), (100_003,)],
                         ids=lambda s: "x".join(map(str, s)))
def test_unary_matches_numpy(name, shape, fdtype, rng):
    x = _inputs(name, shape, fdtype, rng)
    t = T(x)
    got = getattr(tg, name)(t)
    assert_close(got, _ref(name, x), **_tol(name, fdtype))
    # method form gives the same
    if hasattr(tg.Tensor, name):
        np.testing.assert_array_equal(getattr(t, name)().numpy(), got.numpy())
    # input untouched
    np.testing.assert_array_equal(t.numpy(), x)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_noncontiguous(name, fdtype, rng):
    x = _inputs(name, (12, 10), fdtype, rng)
    t = T(x)
    for tv, xv in [(t.T, x.T), (t[::2, 1::3], x[::2, 1::3]), (t.T[::3], x.T[::3])]:
        assert_close(getattr(tg, name)(tv), _ref(name, xv), **_tol(name, fdtype))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_empty_and_0d(name, fdtype, rng):
    e = tg.zeros(0, 3, dtype=fdtype)
    r = getattr(tg, name)(e)
    assert r.shape == (0, 3) and r.dtype is fdtype
    x = _inputs(name, (), fdtype, rng)
    r0 = getattr(tg, name)(T(x))
    assert_close(r0, _ref(name, np.asarray(x)), **_tol(name, fdtype))


def test_unary_special_values(fdtype):
    dt = np_dtype(fdtype)
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype=dt)
    t = T(x)
    with np.errstate(all="ignore"):
        assert_close(tg.exp(t), np.exp(x))
        assert_close(tg.tanh(t), np.tanh(x))
        assert_close(tg.sigmoid(t), np.array([1.0, 0.0, np.nan, 0.5, 0.5], dtype=dt))
        assert_close(tg.relu(t), np.array([np.inf, 0.0, np.nan, 0.0, 0.0], dtype=dt))
        assert_close(tg.abs(t), np.abs(x))
        assert_close(tg.sqrt(t[3:]), np.sqrt(x[3:]))
        assert_close(tg.log(T(np.array([0.0, -1.0, 1.0], dtype=dt))),
                     np.log(np.array([0.0, -1.0, 1.0], dtype=dt)))
        assert_close(tg.softplus(t[:2]), np.array([np.inf, 0.0], dtype=dt))
    assert np.isnan(tg.sign(t)[2].item())


def test_exp_overflow_underflow(fdtype):
    x = np.array([100.0, 1000.0, -1000.0, -100.0], dtype=np_dtype(fdtype))
    with np.errstate(all="ignore"):
        assert_close(tg.exp(T(x)), np.exp(x))


def test_sigmoid_tanh_extreme_are_exact_limits(fdtype):
    x = T([-100.0, 100.0, -1e4, 1e4], dtype=fdtype)
    assert tg.sigmoid(x).tolist() == [pytest.approx(0.0, abs=1e-30), 1.0, 0.0, 1.0]
    assert tg.tanh(x).tolist() == [-1.0, 1.0, -1.0, 1.0]
    sp = tg.softplus(T([-200.0, 200.0], dtype=fdtype))
    assert sp.tolist()[1] == 200.0 and 0.0 <= sp.tolist()[0] < 1e-30


def test_log1p_small_values_accurate(fdtype):
    x = np.array([1e-10, -1e-10, 1e-7, 3e-5], dtype=np_dtype(fdtype))
    assert_close(tg.log1p(T(x)), np.log1p(x.astype(np.float64)).astype(x.dtype), rtol=1e-6, atol=0)


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.5])
def test_leaky_relu_slope(fdtype, slope, rng):
    x = rng.standard_normal((4, 5)).astype(np_dtype(fdtype))
    ref = np.where(x > 0, x, slope * x.astype(np.float64)).astype(x.dtype)
    assert_close(tg.leaky_relu(T(x), slope), ref)
    assert_close(tg.leaky_relu(T(x), negative_slope=slope), ref)


@pytest.mark.parametrize("lo, hi", [(-0.5, 0.5), (None, 0.3), (-0.3, None), (0.2, 0.2)])
def test_clamp(fdtype, lo, hi, rng):
    x = rng.standard_normal((6, 7)).astype(np_dtype(fdtype))
    ref = np.clip(x, lo, hi)
    assert_close(tg.clamp(T(x), lo, hi), ref, rtol=0, atol=0)
    assert_close(T(x).clamp(min=lo, max=hi), ref, rtol=0, atol=0)
    assert_close(tg.clamp(T(x).T, min=lo, max=hi), ref.T, rtol=0, atol=0)


def test_clamp_int64_keeps_dtype():
    t = T([-5, 0, 3, 9])
    r = tg.clamp(t, 0, 4)
    assert_close(r, np.array([0, 0, 3, 4]))


@pytest.mark.parametrize("x, kw, dtype, ref", [
    ([1, -2, 3], dict(max=0.0), tg.float32, [0.0, -2.0, 0.0]),
    ([-1, -1], dict(min=-float("inf")), tg.float32, [-1.0, -1.0]),
    ([1, -2, 3], dict(min=0, max=1.5), tg.float32, [1.0, 0.0, 1.5]),
    ([1, -2, 3], dict(max=float("inf")), tg.float32, [1.0, -2.0, 3.0]),
    ([True, False], dict(max=0.5), tg.float32, [0.5, 0.0]),
    ([True, False], dict(max=0), tg.int64, [0, 0]),
], ids=["int-max-0.0", "int-min--inf", "int-mixed", "int-max-inf", "bool-float", "bool-int"])
def test_clamp_bounds_promote_as_python_numbers(x, kw, dtype, ref):
    # PyTorch: the bounds take part in type promotion like Python scalars, so a float bound
    # (even 0.0 or inf) makes an integer tensor's result float32, an int bound a bool one's int64
    r = tg.clamp(T(x), **kw)
    assert r.dtype is dtype
    assert_close(r, np.array(ref, dtype=np_dtype(dtype)), rtol=0, atol=0)
    assert T(x).clamp(**kw).dtype is dtype


def test_clamp_in_place_refuses_a_promoted_result():
    t = T([1, -2, 3])
    with pytest.raises(TypeError, match="clamp_.*float32.*int64"):
        t.clamp_(max=0.0)
    assert t.clamp_(max=0) is t and t.tolist() == [0, -2, 0]


def test_clamp_nan_propagates(fdtype):
    r = tg.clamp(T([float("nan"), 2.0], dtype=fdtype), -1.0, 1.0)
    assert math.isnan(r[0].item()) and r[1].item() == 1.0


@pytest.mark.parametrize("name, ref", [("abs", np.abs), ("sign", np.sign), ("neg", np.negative),
                                       ("relu", lambda a: np.maximum(a, 0))])
def test_unary_int64_keeps_int64(name, ref):
    # PyTorch: abs/sign/neg/relu of an integer tensor stay integer
    a = np.array([-7, -1, 0, 2, 9], dtype=np.int64)
    assert_close(getattr(tg, name)(T(a)), ref(a))


@pytest.mark.parametrize("name", ["exp", "sqrt", "sin", "tanh", "sigmoid", "log1p"])
def test_unary_float_op_on_int64_gives_float32(name):
    # PyTorch: floating functions of integer tensors give the default float dtype
    a = np.array([0, 1, 2, 3], dtype=np.int64)
    assert_close(getattr(tg, name)(T(a)), _ref(name, a.astype(np.float32)))


def test_unary_python_operators(fdtype, rng):
    x = rng.standard_normal((3, 4)).astype(np_dtype(fdtype))
    t = T(x)
    assert_close(-t, -x, rtol=0, atol=0)
    assert_close(abs(t), np.abs(x), rtol=0, atol=0)
    assert (+t) is t or np.array_equal((+t).numpy(), x)
    assert_close(-t.T, -x.T, rtol=0, atol=0)


# ----------------------------------------------------------------- binary ----

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
    "maximum": (tg.maximum, np.maximum),
    "minimum": (tg.minimum, np.minimum),
    "tg.add": (tg.add, np.add),
    "tg.sub": (tg.sub, np.subtract),
    "tg.mul": (tg.mul, np.multiply),
    "tg.div": (tg.div, np.divide),
    "tg.pow": (tg.pow, np.power),
}


def _binary_inputs(name, sa, sb, dtype, rng):
    a = rng.uniform(-3, 3, size=sa)
    b = rng.uniform(-3, 3, size=sb)
    if "pow" in name:
        a = rng.uniform(0.1, 3, size=sa)
    if "div" in name:
        b = np.where(np.abs(b) < 0.1, 0.5, b)
    if "maximum" in name or "minimum" in name:
        a.flat[::3] = 1.0  # some ties
        b.flat[::4] = 1.0
    return a.astype(np_dtype(dtype)), b.astype(np_dtype(dtype))


def _bref(name, a, b):
    return BINARY[name][1](a.astype(np.float64), b.astype(np.float64)).astype(np.result_type(a, b))


BROADCAST_PAIRS = [
    ((5,), (5,)),
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((2, 1, 4), (1, 3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((), ()),
    ((0, 3), (3,)),
    ((0,), (1,)),
    ((2, 0), (2, 1)),
    ((4, 1, 3, 1, 2), (3, 5, 1)),
    ((1003, 17), (17,)),
    ((17, 1), (17, 1003)),
    ((100_003,), (100_003,)),
]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("sa, sb", BROADCAST_PAIRS, ids=lambda s: "x".join(map(str, s)) or "0d")
def test_binary_broadcast_matches_numpy(name, sa, sb, fdtype, rng):
    a, b = _binary_inputs(name, sa, sb, fdtype, rng)
    got = BINARY[name][0](T(a), T(b))
    assert_close(got, _bref(name, a, b))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_noncontiguous(name, fdtype, rng):
    a, b = _binary_inputs(name, (12, 10), (10, 12), fdtype, rng)
    ta, tb = T(a), T(b)
    f = BINARY[name][0]
    cases = [
        (ta, tb.T, a, b.T),
        (ta.T, tb, a.T, b),
        (ta[::2, 1::3], tb.T[::2, 1::3], a[::2, 1::3], b.T[::2, 1::3]),
        (ta[::3], tb[1, ::1][None, :10], a[::3], b[1][None, :10]),
        (ta.T[::2], tb[1::2, 0:12:1][:, None, ::3].reshape(5, 4)[:, 1:2], a.T[::2],
         b[1::2, 0:12:1][:, None, ::3].reshape(5, 4)[:, 1:2]),
    ]
    for x, y, xn, yn in cases:
        assert_close(f(x, y), _bref(name, np.ascontiguousarray(xn), np.ascontiguousarray(yn)))


def test_binary_mixed_float_dtypes_promote(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float64)
    for f, nf in [(lambda x, y: x + y, np.add), (lambda x, y: x * y, np.multiply), (tg.maximum, np.maximum)]:
        assert_close(f(T(a), T(b)), nf(a.astype(np.float64), b))
        assert_close(f(T(b), T(a)), nf(b, a.astype(np.float64)))


# ---------------------------------------------------- scalars and reflected ----

SCALAR_CASES = [
    ("x + 2.5", lambda x: x + 2.5, lambda a: a + 2.5),
    ("2.5 + x", lambda x: 2.5 + x, lambda a: 2.5 + a),
    ("x - 1.5", lambda x: x - 1.5, lambda a: a - 1.5),
    ("2.0 - x", lambda x: 2.0 - x, lambda a: 2.0 - a),
    ("x * 3", lambda x: x * 3, lambda a: a * 3),
    ("3 * x", lambda x: 3 * x, lambda a: 3 * a),
    ("x / 4.0", lambda x: x / 4.0, lambda a: a / 4.0),
    ("2.0 / x", lambda x: 2.0 / x, lambda a: 2.0 / a),
    ("1 / x", lambda x: 1 / x, lambda a: 1 / a),
    ("x ** 2", lambda x: x ** 2, lambda a: a ** 2),
    ("x ** 3", lambda x: x ** 3, lambda a: a ** 3),
    ("x ** 0.5", lambda x: x ** 0.5, lambda a: a ** 0.5),
    ("x ** -1", lambda x: x ** -1, lambda a: a ** -1.0),
    ("x ** 0", lambda x: x ** 0, lambda a: a ** 0.0),
    ("x ** 1.7", lambda x: x ** 1.7, lambda a: a ** 1.7),
    ("2 ** x", lambda x: 2 ** x, lambda a: 2.0 ** a),
    ("2.5 ** x", lambda x: 2.5 ** x, lambda a: 2.5 ** a),
    ("tg.pow(x, 3.0)", lambda x: tg.pow(x, 3.0), lambda a: a ** 3.0),
    ("x.pow(2)", lambda x: x.pow(2), lambda a: a ** 2),
]


@pytest.mark.parametrize("expr, f, ref", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_scalar_and_reflected(expr, f, ref, fdtype, rng):
    a = rng.uniform(0.2, 3.0, size=(4, 5)).astype(np_dtype(fdtype))
    got = f(T(a))
    # a Python scalar never changes the tensor's float dtype (PyTorch)
    assert_close(got, ref(a.astype(np.float64)).astype(a.dtype))
    # also on a non-contiguous view and a 0-d tensor
    assert_close(f(T(a).T[::2]), ref(a.T[::2].astype(np.float64)).astype(a.dtype))
    assert_close(f(T(a[0, 0])), np.asarray(ref(np.float64(a[0, 0]))).astype(a.dtype))


def test_pow_negative_base_integer_exponent(fdtype):
    x = T([-2.0, -1.5, 3.0], dtype=fdtype)
    assert_close(x ** 2, np.array([4.0, 2.25, 9.0], dtype=np_dtype(fdtype)))
    assert_close(x ** 3, np.array([-8.0, -3.375, 27.0], dtype=np_dtype(fdtype)))
    assert_close(x ** 2.0, np.array([4.0, 2.25, 9.0], dtype=np_dtype(fdtype)))
    r = (x ** 0.5).numpy()
    assert np.isnan(r[0]) and np.isnan(r[1]) and r[2] == pytest.approx(math.sqrt(3.0), rel=1e-6)


def test_pow_tensor_tensor_broadcast(fdtype, rng):
    a = rng.uniform(0.5, 2.0, size=(3, 1)).astype(np_dtype(fdtype))
    b = rng.uniform(-2.0, 2.0, size=(4,)).astype(np_dtype(fdtype))
    assert_close(T(a) ** T(b), _bref("pow", a, b))
    assert_close(tg.pow(T(a), T(b)), _bref("pow", a, b))


def test_binary_with_numpy_array_and_list(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    t = T(a)
    b = np.ones((2, 3), dtype=np.float32)
    r = t + b
    assert isinstance(r, tg.Tensor)
    assert_close(r, a + 1)
    r2 = b * t  # __array_priority__: NumPy defers to the tensor
    assert isinstance(r2, tg.Tensor)
    assert_close(r2, a)
    assert_close(t - [1.0, 2.0, 3.0], a - np.array([1.0, 2.0, 3.0], dtype=np.float32))


def test_division_by_zero_ieee(fdtype):
    x = T([1.0, -1.0, 0.0], dtype=fdtype)
    r = (x / tg.zeros(3, dtype=fdtype)).numpy()
    assert r[0] == np.inf and r[1] == -np.inf and np.isnan(r[2])


@pytest.mark.parametrize("f, nf", [(tg.maximum, np.maximum), (tg.minimum, np.minimum)])
def test_maximum_minimum_nan_propagates(f, nf, fdtype):
    # PyTorch and NumPy: NaN in either operand gives NaN
    a = np.array([np.nan, 1.0, 2.0, np.nan], dtype=np_dtype(fdtype))
    b = np.array([0.0, np.nan, 1.0, np.nan], dtype=np_dtype(fdtype))
    assert_close(f(T(a), T(b)), nf(a, b), equal_nan=True)


# ------------------------------------------------------------ comparisons ----

COMPARISONS = [
    ("<", lambda x, y: x < y), ("<=", lambda x, y: x <= y), (">", lambda x, y: x > y),
    (">=", lambda x, y: x >= y), ("==", lambda x, y: x == y), ("!=", lambda x, y: x != y),
]


@pytest.mark.parametrize("op, f", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons(op, f, fdtype, rng):
    a = rng.integers(-2, 3, size=(4, 5)).astype(np_dtype(fdtype))
    b = rng.integers(-2, 3, size=(5,)).astype(np_dtype(fdtype))
    ta, tb = T(a), T(b)
    r = f(ta, tb)
    assert r.dtype is tg.bool
    assert_close(r, f(a, b))
    assert_close(f(ta, 0.0), f(a, 0.0))
    assert_close(f(ta, 1), f(a, 1))
    assert_close(f(ta.T, tb[:4]), f(a.T, b[:4]))  # non-contiguous, broadcast
    assert_close(f(T(a[0, 0]), T(b[1])), np.asarray(f(a[0, 0], b[1])))  # 0-d
    assert_close(f(tg.zeros(0, 5, dtype=fdtype), tb), np.zeros((0, 5), dtype=bool))
    # with int64 and with a reflected Python scalar
    ai = a.astype(np.int64)
    assert_close(f(T(ai), T(b)), f(ai, b))
    assert_close(f(2.0, ta), f(2.0, a))


def test_comparison_nan(fdtype):
    a = T([float("nan"), 1.0], dtype=fdtype)
    assert (a == a).tolist() == [False, True]
    assert (a != a).tolist() == [True, False]
    assert (a < 2.0).tolist() == [False, True]
    assert (a >= 2.0).tolist() == [False, False]


def test_comparison_bool_tensors():
    a = T([True, False, True])
    b = T([True, True, False])
    assert (a == b).tolist() == [True, False, False]
    assert (a != b).tolist() == [False, True, True]
    assert (a > b).tolist() == [False, False, True]


def test_comparison_large(rng):
    a = rng.standard_normal(1_000_003).astype(np.float32)
    b = rng.standard_normal(1_000_003).astype(np.float32)
    assert_close(T(a) < T(b), a < b)


# ------------------------------------------------------------ int and bool ----

@pytest.mark.parametrize("name, f, nf", [
    ("+", lambda x, y: x + y, np.add), ("-", lambda x, y: x - y, np.subtract),
    ("*", lambda x, y: x * y, np.multiply), ("maximum", tg.maximum, np.maximum),
    ("minimum", tg.minimum, np.minimum),
])
def test_int64_binary_exact(name, f, nf, rng):
    a = rng.integers(-10**12, 10**12, size=(3, 4))
    b = rng.integers(-10**6, 10**6, size=(4,))
    assert_close(f(T(a), T(b)), nf(a, b))
    assert_close(f(T(a).T, T(b)[:3]), nf(a.T, b[:3]))


def test_int64_large_values_exact():
    a = np.array([2 ** 62, -(2 ** 62), 2 ** 53 + 1], dtype=np.int64)
    b = np.array([1, -1, 1], dtype=np.int64)
    assert_close(T(a) + T(b), a + b)
    assert_close(T(a) - 1, a - 1)
    assert_close(T(a) * 1, a)


def test_int64_pow_int_stays_int64():
    # PyTorch: int64 tensor ** int stays int64; int ** int64 tensor too
    a = np.array([0, 1, 2, 3, -4], dtype=np.int64)
    assert_close(T(a) ** 2, a ** 2)
    assert_close(T(a) ** 3, a ** 3)
    e = np.array([0, 1, 2, 10], dtype=np.int64)
    assert_close(2 ** T(e), 2 ** e)
    assert_close(T(a) ** T(np.array(2)), a ** 2)


def test_int64_pow_float_gives_float32():
    a = np.array([1, 4, 9], dtype=np.int64)
    assert_close(T(a) ** 0.5, np.array([1.0, 2.0, 3.0], dtype=np.float32))


def test_bool_arithmetic_promotes():
    # PyTorch: bool with an int scalar -> int64; with a float -> float32; with a float
    # tensor -> that tensor's dtype.
    b = T([True, False, True])
    assert_close(b * 2, np.array([2, 0, 2]))
    assert_close(b + 1, np.array([2, 1, 2]))
    assert_close(b * 0.5, np.array([0.5, 0.0, 0.5], dtype=np.float32))
    assert_close(b + T([1.0, 2.0, 3.0], dtype=tg.float64), np.array([2.0, 2.0, 4.0]))
    assert_close(T([1, 2, 3]) * b, np.array([1, 0, 3]))


def test_bool_add_mul_are_logical():
    # PyTorch: bool + bool is logical or, bool * bool logical and (result bool)
    a = T([True, True, False, False])
    b = T([True, False, True, False])
    assert_close(a + b, np.array([True, True, True, False]))
    assert_close(a * b, np.array([True, False, False, False]))


def test_where(fdtype, rng):
    c = rng.standard_normal((3, 4)) > 0
    a = rng.standard_normal((3, 4)).astype(np_dtype(fdtype))
    b = rng.standard_normal((4,)).astype(np_dtype(fdtype))
    assert_close(tg.where(T(c), T(a), T(b)), np.where(c, a, b), rtol=0, atol=0)
    # broadcasting in the condition, non-contiguous inputs, 0-d operands
    c2 = rng.standard_normal((4, 1)) > 0
    assert_close(tg.where(T(c2), T(a).T, T(b[0])), np.where(c2, a.T, b[0]), rtol=0, atol=0)
    # a comparison result as the condition
    ta = T(a)
    assert_close(tg.where(ta > 0, ta, tg.zeros_like(ta)), np.where(a > 0, a, 0).astype(a.dtype), rtol=0, atol=0)
    # empty
    e = tg.where(tg.zeros(0, 4, dtype=tg.bool), tg.zeros(0, 4, dtype=fdtype), T(b))
    assert e.shape == (0, 4) and e.dtype is fdtype


def test_where_int64():
    c = np.array([True, False, True])
    a = np.array([1, 2, 3])
    b = np.array([-1, -2, -3])
    assert_close(tg.where(T(c), T(a), T(b)), np.where(c, a, b))


def test_where_large(rng):
    n = 1_000_003
    c = rng.standard_normal(n) > 0
    a = rng.standard_normal(n).astype(np.float32)
    assert_close(tg.where(T(c), T(a), T(np.float32(0.0))), np.where(c, a, np.float32(0)),
                 rtol=0, atol=0)


# -------------------------------------------------------------- predicates ----

def test_isnan_isinf_isfinite(fdtype):
    x = np.array([0.0, -1.5, np.nan, np.inf, -np.inf, 1e30], dtype=np_dtype(fdtype))
    t = T(x)
    for f, nf in [(tg.isnan, np.isnan), (tg.isinf, np.isinf), (tg.isfinite, np.isfinite)]:
        r = f(t)
        assert r.dtype is tg.bool
        assert_close(r, nf(x))
        assert_close(f(t[::2]), nf(x[::2]))
        assert_close(getattr(t, f.__name__)(), nf(x))
    assert tg.isnan(tg.zeros(0, dtype=fdtype)).shape == (0,)
    assert tg.isfinite(T(1.0, dtype=fdtype)).item() is True


def test_predicates_on_int_and_bool():
    # PyTorch: integers are never nan/inf
    i = T([1, -2, 3])
    assert tg.isnan(i).tolist() == [False] * 3
    assert tg.isinf(i).tolist() == [False] * 3
    assert tg.isfinite(i).tolist() == [True] * 3


def test_allclose():
    a = T([1.0, 2.0])
    assert tg.allclose(a, T([1.0, 2.0 + 1e-7]))
    assert not tg.allclose(a, T([1.0, 2.1]))
    assert tg.allclose(T([float("nan")]), T([float("nan")]), equal_nan=True)
    assert not tg.allclose(T([float("nan")]), T([float("nan")]))


# ---------------------------------------------------------- type promotion ----

F32, F64, I64, B = tg.float32, tg.float64, tg.int64, tg.bool

PROMOTION = [
    # (description, thunk, expected dtype) -- PyTorch's rules
    ("f32 * py float", lambda: tg.ones(2) * 2.5, F32),
    ("py float * f32", lambda: 2.5 * tg.ones(2), F32),
    ("f64 * py float", lambda: tg.ones(2, dtype=F64) * 2.5, F64),
    ("f32 + py int", lambda: tg.ones(2) + 3, F32),
    ("i64 * 0.5", lambda: T([1, 2]) * 0.5, F32),
    ("0.5 * i64", lambda: 0.5 * T([1, 2]), F32),
    ("i64 + py int", lambda: T([1, 2]) + 3, I64),
    ("i64 + i64", lambda: T([1, 2]) + T([3, 4]), I64),
    ("i64 * i64", lambda: T([1, 2]) * T([3, 4]), I64),
    ("i64 - i64", lambda: T([1, 2]) - T([3, 4]), I64),
    ("i64 / i64", lambda: T([1, 2]) / T([3, 4]), F32),
    ("i64 / py int", lambda: T([1, 2]) / 2, F32),
    ("py int / i64", lambda: 2 / T([1, 2]), F32),
    ("f32 + 0-d f64", lambda: tg.ones(3) + T(2.0, dtype=F64), F32),
    ("0-d f64 + f32", lambda: T(2.0, dtype=F64) + tg.ones(3), F32),
    ("i64 + 0-d f64", lambda: T([1, 2]) + T(0.5, dtype=F64), F64),
    ("i64 + 0-d f32", lambda: T([1, 2]) + T(0.5), F32),
    ("f32 + 0-d i64", lambda: tg.ones(2) + T(3), F32),
    ("f32 + f64", lambda: tg.ones(2) + tg.ones(2, dtype=F64), F64),
    ("0-d f32 + 0-d f64", lambda: T(1.0) + T(1.0, dtype=F64), F64),
    ("i64 + f32", lambda: T([1, 2]) + tg.ones(2), F32),
    ("i64 * f64", lambda: T([1, 2]) * tg.ones(2, dtype=F64), F64),
    ("bool + f32", lambda: T([True, False]) + tg.ones(2), F32),
    ("bool * i64", lambda: T([True, False]) * T([2, 3]), I64),
    ("maximum(i64, f64)", lambda: tg.maximum(T([1, 2]), tg.ones(2, dtype=F64)), F64),
    ("f32 < f64", lambda: tg.ones(2) < tg.ones(2, dtype=F64), B),
    ("i64 == py float", lambda: T([1, 2]) == 1.0, B),
    ("f32 ** py int", lambda: tg.ones(2) ** 2, F32),
    ("f64 ** py float", lambda: tg.ones(2, dtype=F64) ** 0.5, F64),
    ("py float ** f32", lambda: 2.0 ** tg.ones(2), F32),
    ("i64 ** f32", lambda: T([1, 2]) ** tg.ones(2), F32),
]


@pytest.mark.parametrize("desc, thunk, expected", PROMOTION, ids=[p[0] for p in PROMOTION])
def test_type_promotion(desc, thunk, expected):
    r = thunk()
    assert r.dtype is expected, f"{desc}: got {r.dtype!r}, expected {expected!r}"


def test_promotion_values():
    r = T([1, 2]) * 0.5
    assert r.tolist() == [0.5, 1.0]
    r = T([1, 2]) / T([2, 4])
    assert r.tolist() == [0.5, 0.5]
    r = T([1, 2]) + T(0.25, dtype=F64)
    assert r.tolist() == [1.25, 2.25]
    # the 0-d float64 value is rounded to float32 in a float32 result
    r = tg.ones(1) + T(0.1, dtype=F64)
    assert r.numpy()[0] == np.float32(1.0) + np.float32(0.1)
    # a Python float is applied to a float64 tensor in full precision
    r = tg.ones(1, dtype=F64) * 0.1
    assert r.item() == 0.1


# ------------------------------------------------------------------ matmul ----

def test_matmul_operator_small(fdtype, rng):
    a = rng.standard_normal((3, 4)).astype(np_dtype(fdtype))
    b = rng.standard_normal((4, 2)).astype(np_dtype(fdtype))
    tol = dict(rtol=1e-5, atol=1e-5) if fdtype is tg.float32 else dict(rtol=1e-12, atol=1e-12)
    assert_close(T(a) @ T(b), a @ b, **tol)
    assert_close(tg.matmul(T(a), T(b)), a @ b, **tol)


def test_inputs_not_modified_by_binary_ops(rng):
    a = rng.standard_normal((5, 5)).astype(np.float32)
    ta, tb = T(a), T(a.T.copy())
    for f in (lambda: ta + tb, lambda: ta * tb.T, lambda: ta ** 2, lambda: 2.0 - ta, lambda: ta @ tb):
        f()
        np.testing.assert_array_equal(ta.numpy(), a)
        np.testing.assert_array_equal(tb.numpy(), a.T)


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
@pytest.mark.parametrize("n", [1, 3, 4, 5, 50])  # up to 4 values take the scalar path
def test_trig_of_large_arguments_is_accurate(name, n):
    # Beyond 5e4 (float32) / 1.5e6 (float64) the vector range reduction loses accuracy and
    # the kernel recomputes those elements exactly; both paths must agree with NumPy.
    for np_dtype, scale in ((np.float32, 1e6), (np.float64, 1e9)):
        x = (np.random.default_rng(n).uniform(-1, 1, n) * scale).astype(np_dtype)
        x[0] = np_dtype(0.5)  # one small value next to the large ones
        got = getattr(tg, name)(tg.tensor(x)).numpy()
        ref = getattr(np, name)(x.astype(np.float64))
        atol = 2e-6 if np_dtype is np.float32 else 1e-13
        np.testing.assert_allclose(got, ref.astype(np_dtype), rtol=1e-5 if name == "tan" else 0, atol=atol)
