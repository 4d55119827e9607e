"""Hypothesis property tests: broadcasting, strided views and reductions against NumPy."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapegrad as tg
from conftest import T, assert_close

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.sampled_from([np.float32, np.float64])


def _finite(dtype):
    return st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64)


@st.composite
def broadcast_pair(draw):
    dtype = draw(DTYPES)
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=5))
    a = draw(hnp.arrays(dtype, shapes.input_shapes[0], elements=_finite(dtype)))
    b = draw(hnp.arrays(dtype, shapes.input_shapes[1], elements=_finite(dtype)))
    return a, b, shapes.result_shape


OPS = {
    "+": (lambda x, y: x + y, np.add),
    "-": (lambda x, y: x - y, np.subtract),
    "*": (lambda x, y: x * y, np.multiply),
    "/": (lambda x, y: x / y, np.divide),
    "maximum": (tg.maximum, np.maximum),
    "minimum": (tg.minimum, np.minimum),
}


@pytest.mark.parametrize("op", sorted(OPS))
@SETTINGS
@given(data=broadcast_pair())
def test_broadcast_binary(op, data):
    a, b, result_shape = data
    f, nf = OPS[op]
    with np.errstate(all="ignore"):
        ref = nf(a, b)  # same dtype in and out: NumPy's float32 arithmetic is IEEE-exact
    r = f(T(a), T(b))
    assert r.shape == tuple(result_shape)
    # elementwise + - * / max min are correctly rounded in IEEE arithmetic: results must match
    # exactly (division too; allow 1 ulp in case of a reciprocal-multiply implementation)
    if op == "/":
        assert_close(r, ref, rtol=2.5e-7 if a.dtype == np.float32 else 5e-16, atol=0)
    else:
        assert_close(r, ref, rtol=0, atol=0)


@st.composite
def strided_view(draw):
    """An array, plus a permutation and per-dim slices with positive or negative steps,
    giving a non-contiguous view."""
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=7))
    a = draw(hnp.arrays(dtype, shape, elements=_finite(dtype)))
    perm = draw(st.permutations(range(len(shape))))
    slices = []
    for n in np.array(shape)[list(perm)]:
        start = draw(st.integers(0, int(n)))
        stop = draw(st.integers(start, int(n)))
        step = draw(st.integers(1, 3))
        if draw(st.booleans()):  # a negative step over the same range
            slices.append(slice(stop - 1 if stop > start else start, start - 1 if start > 0 else None, -step))
        else:
            slices.append(slice(start, stop, step))
    return a, tuple(perm), tuple(slices)


UNARY = {
    "exp": (tg.exp, lambda x: np.exp(np.clip(x, -50, 50))),
    "tanh": (tg.tanh, np.tanh),
    "relu": (tg.relu, lambda x: np.maximum(x, 0)),
    "abs": (tg.abs, np.abs),
    "neg": (lambda t: -t, np.negative),
    "square": (lambda t: t * t, np.square),
    "affine": (lambda t: t * 2.0 + 1.0, lambda x: x * 2.0 + 1.0),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=strided_view())
def test_strided_view_elementwise(name, data):
    a, perm, slices = data
    f, nf = UNARY[name]
    if name == "exp":
        a = np.clip(a, -50, 50)
    view_np = a.transpose(perm)[slices]
    t = T(a).permute(*perm)[slices]
    assert t.shape == view_np.shape
    ref = nf(view_np.astype(np.float64)).astype(a.dtype)
    tol = dict(rtol=2e-6, atol=1e-6) if a.dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    assert_close(f(t), ref, **tol)
    # and the view's values themselves
    assert_close(t, view_np, rtol=0, atol=0)


@SETTINGS
@given(data=strided_view(), data2=st.data())
def test_strided_view_binary_with_contiguous(data, data2):
    a, perm, slices = data
    view_np = a.transpose(perm)[slices]
    b = data2.draw(hnp.arrays(a.dtype, view_np.shape, elements=_finite(a.dtype)))
    t = T(a).permute(*perm)[slices]
    assert_close(t + T(b), view_np + b, rtol=0, atol=0)
    assert_close(T(b) * t, b * view_np, rtol=0, atol=0)


@st.composite
def reduction_case(draw):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))
    a = draw(hnp.arrays(dtype, shape, elements=st.floats(-10, 10, width=32 if dtype == np.float32 else 64)))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        axis = tuple(ax - nd if draw(st.booleans()) else ax for ax in axes)
    keepdims = draw(st.booleans())
    return a, axis, keepdims


REDUCTIONS = {
    "sum": (tg.sum, np.sum),
    "mean": (tg.mean, np.mean),
    "max": (tg.max, np.max),
    "min": (tg.min, np.min),
    "var": (tg.var, np.var),
    "logsumexp": (tg.logsumexp, None),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(case=reduction_case())
def test_random_reduction_axes(name, case):
    from scipy.special import logsumexp

    a, axis, keepdims = case
    f, nf = REDUCTIONS[name]
    nf = nf or logsumexp
    ref = np.asarray(nf(a.astype(np.float64), axis=axis, keepdims=keepdims)).astype(a.dtype)
    got = f(T(a), axis=axis, keepdims=keepdims)
    tol = dict(rtol=1e-5, atol=1e-4) if a.dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    if name in ("max", "min"):
        tol = dict(rtol=0, atol=0)
    assert_close(got, ref, **tol)


@SETTINGS
@given(data=strided_view(), use_keepdims=st.booleans())
def test_reduction_of_strided_view(data, use_keepdims):
    a, perm, slices = data
    view_np = a.transpose(perm)[slices]
    t = T(a).permute(*perm)[slices]
    for axis in [None] + list(range(view_np.ndim)):
        ref = np.asarray(np.sum(view_np.astype(np.float64), axis=axis, keepdims=use_keepdims)).astype(a.dtype)
        tol = dict(rtol=1e-5, atol=1e-3) if a.dtype == np.float32 else dict(rtol=1e-12, atol=1e-10)
        assert_close(tg.sum(t, axis=axis, keepdims=use_keepdims), ref, **tol)
        if view_np.size:  # max of an empty selection has no value
            assert_close(tg.max(t, axis=axis, keepdims=use_keepdims),
                         np.max(view_np, axis=axis, keepdims=use_keepdims), rtol=0, atol=0)


@SETTINGS
@given(data=strided_view())
def test_reshape_roundtrip_of_strided_view(data):
    a, perm, slices = data
    view_np = a.transpose(perm)[slices]
    t = T(a).permute(*perm)[slices]
    flat = t.reshape(-1)
    assert_close(flat, view_np.reshape(-1), rtol=0, atol=0)
    assert_close(flat.reshape(*view_np.shape) if view_np.ndim else flat.reshape(()), view_np, rtol=0, atol=0)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=4, min_side=1, max_side=4),
       data=st.data())
def test_comparisons_broadcast(shapes, data):
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=st.integers(-2, 2).map(float)))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=st.integers(-2, 2).map(float)))
    assert_close(T(a) < T(b), a < b)
    assert_close(T(a) == T(b), a == b)
    assert_close(tg.where(T(a) >= T(b), T(a), T(b)), np.where(a >= b, a, b), rtol=0, atol=0)
