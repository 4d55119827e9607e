"""Derivative rules of every differentiable op (SPEC §2 op list, csrc/ops/ops.h).

Three layers of checks:
* closed forms: the gradient an op produces equals the textbook derivative, in float32
  and float64, with non-uniform upstream gradients;
* `tg.gradcheck` in float64 (central differences) over broadcasting shapes and
  non-contiguous (transposed / strided view) inputs;
* `tg.gradgradcheck` (second derivatives through create_graph) for every smooth op.

Inputs are kept away from kinks (abs/relu at 0, clamp bounds, ties of max/min); the
conventions at the kinks are tested separately, following PyTorch: relu'(0) = 0,
abs'(0) = 0, clamp passes the gradient at its bounds (inclusive), maximum/minimum split
a tie 0.5 / 0.5, and max/min over an axis split the gradient evenly among tied entries.
"""
import math

import numpy as np
import pytest

import tapegrad as tg

F64 = tg.float64
NP = {tg.float32: np.float32, tg.float64: np.float64}
TOL = {tg.float32: dict(rtol=2e-5, atol=2e-6), tg.float64: dict(rtol=1e-10, atol=1e-12)}


def rng(seed=0):
    return np.random.default_rng(seed)


def leaf(a, dtype=F64, requires_grad=True):
    """A leaf tensor holding a copy of `a` (0-d arrays go through Python floats)."""
    a = np.asarray(a, dtype=NP[dtype])
    t = tg.tensor(float(a), dtype=dtype) if a.ndim == 0 else tg.tensor(a, dtype=dtype)
    assert t.shape == a.shape
    return t.requires_grad_(requires_grad)


def away(r, shape, lo=0.3, hi=2.0):
    """Random values with lo <= |v| <= hi and a random sign (away from 0)."""
    mag = r.uniform(lo, hi, size=shape)
    return np.where(r.random(shape) < 0.5, -mag, mag)


def grad_np(t):
    assert t.grad is not None, "no gradient reached the tensor"
    return np.array(t.grad.numpy(), copy=True)


def check_grad(x, expected, dtype=None):
    g = x.grad
    assert g is not None, "no gradient reached the tensor"
    assert g.shape == x.shape, f"grad shape {g.shape} != tensor shape {x.shape}"
    assert g.dtype is x.dtype, f"grad dtype {g.dtype} != tensor dtype {x.dtype}"
    np.testing.assert_allclose(g.numpy(), np.asarray(expected, dtype=np.float64), **TOL[dtype or x.dtype])


def gelu_grad_np(x):
    erf = np.vectorize(math.erf)
    return 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------------------------------
# unary ops: (name, fn, derivative, input sampler)
# ---------------------------------------------------------------------------------------

def U(lo, hi):
    return lambda r, shape: r.uniform(lo, hi, size=shape)


def AWAY(lo=0.3, hi=2.0):
    return lambda r, shape: away(r, shape, lo, hi)


UNARY = [
    ("neg", lambda x: -x, lambda x: -np.ones_like(x), U(-2, 2)),
    ("neg_fn", tg.neg, lambda x: -np.ones_like(x), U(-2, 2)),
    ("exp", tg.exp, np.exp, U(-2, 2)),
    ("log", tg.log, lambda x: 1 / x, U(0.5, 3)),
    ("log1p", tg.log1p, lambda x: 1 / (1 + x), U(-0.5, 3)),
    ("sqrt", tg.sqrt, lambda x: 0.5 / np.sqrt(x), U(0.5, 3)),
    ("rsqrt", tg.rsqrt, lambda x: -0.5 * x ** -1.5, U(0.5, 3)),
    ("abs", tg.abs, np.sign, AWAY()),
    ("abs_op", lambda x: abs(x), np.sign, AWAY()),
    ("sign", tg.sign, np.zeros_like, AWAY()),
    ("sin", tg.sin, np.cos, U(-3, 3)),
    ("cos", tg.cos, lambda x: -np.sin(x), U(-3, 3)),
    ("tan", tg.tan, lambda x: 1 / np.cos(x) ** 2, U(-1.2, 1.2)),
    ("tanh", tg.tanh, lambda x: 1 - np.tanh(x) ** 2, U(-2.5, 2.5)),
    ("sigmoid", tg.sigmoid, lambda x: sigmoid_np(x) * (1 - sigmoid_np(x)), U(-4, 4)),
    ("relu", tg.relu, lambda x: (x > 0).astype(float), AWAY()),
    ("leaky_relu", lambda x: tg.leaky_relu(x, 0.1), lambda x: np.where(x > 0, 1.0, 0.1), AWAY()),
    ("leaky_relu_default", tg.leaky_relu, lambda x: np.where(x > 0, 1.0, 0.01), AWAY()),
    ("gelu", tg.gelu, gelu_grad_np, U(-3, 3)),
    ("softplus", tg.softplus, sigmoid_np, U(-4, 4)),
    ("reciprocal", tg.reciprocal, lambda x: -1 / x ** 2, AWAY(0.5, 2)),
    ("square", tg.square, lambda x: 2 * x, U(-2, 2)),
    ("clamp", lambda x: tg.clamp(x, -0.5, 0.7), lambda x: ((x >= -0.5) & (x <= 0.7)).astype(float),
     lambda r, s: np.where(r.random(s) < 0.5, r.uniform(-0.4, 0.6, s), away(r, s, 0.8, 2.0))),
    ("clamp_min", lambda x: x.clamp(min=0.2), lambda x: (x >= 0.2).astype(float),
     lambda r, s: np.where(r.random(s) < 0.5, r.uniform(-1, 0.1, s), r.uniform(0.3, 2, s))),
    ("clamp_max", lambda x: x.clamp(max=-0.2), lambda x: (x <= -0.2).astype(float),
     lambda r, s: np.where(r.random(s) < 0.5, r.uniform(-2, -0.3, s), r.uniform(-0.1, 1, s))),
]
UNARY_IDS = [u[0] for u in UNARY]
# piecewise-constant derivative (second derivative zero a.e.) or zero derivative
NON_SMOOTH = {"abs", "abs_op", "sign", "relu", "leaky_relu", "leaky_relu_default", "clamp", "clamp_min",
              "clamp_max"}


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,fn,deriv,sample", UNARY, ids=UNARY_IDS)
def test_unary_closed_form(name, fn, deriv, sample, dtype):
    r = rng(hash(name) % 2**32)
    a = sample(r, (3, 4)).astype(NP[dtype])
    w = r.uniform(0.5, 1.5, size=(3, 4)).astype(NP[dtype])  # non-uniform upstream gradient
    x = leaf(a, dtype)
    y = fn(x)
    assert y.shape == x.shape and y.dtype is dtype
    y.backward(leaf(w, dtype, requires_grad=False))
    check_grad(x, w.astype(np.float64) * deriv(a.astype(np.float64)))


@pytest.mark.parametrize("name,fn,deriv,sample", UNARY, ids=UNARY_IDS)
def test_unary_gradcheck(name, fn, deriv, sample):
    r = rng(1)
    x = leaf(sample(r, (2, 3)))
    assert tg.gradcheck(fn, (x,))


@pytest.mark.parametrize("name,fn,deriv,sample", UNARY, ids=UNARY_IDS)
def test_unary_gradcheck_noncontiguous(name, fn, deriv, sample):
    r = rng(2)
    base = leaf(sample(r, (3, 4)))
    xt = base.T  # a transposed (non-contiguous) view with history
    assert not xt.is_contiguous()
    assert tg.gradcheck(fn, (xt,))
    # a non-contiguous leaf (strided slice of a detached buffer)
    xs = leaf(sample(r, (4, 6)), requires_grad=False)[::2, 1::2].detach().requires_grad_()
    assert not xs.is_contiguous()
    assert tg.gradcheck(fn, (xs,))


@pytest.mark.parametrize("name,fn,deriv,sample", UNARY, ids=UNARY_IDS)
def test_unary_gradgradcheck(name, fn, deriv, sample):
    r = rng(3)
    x = leaf(sample(r, (2, 3)))
    assert tg.gradgradcheck(fn, (x,))


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


SECOND = {  # closed-form second derivatives of the smooth unary ops
    "neg": lambda x: 0 * x, "neg_fn": lambda x: 0 * x,
    "exp": np.exp, "log": lambda x: -1 / x ** 2, "log1p": lambda x: -1 / (1 + x) ** 2,
    "sqrt": lambda x: -0.25 * x ** -1.5, "rsqrt": lambda x: 0.75 * x ** -2.5,
    "sin": lambda x: -np.sin(x), "cos": lambda x: -np.cos(x),
    "tan": lambda x: 2 * np.tan(x) / np.cos(x) ** 2,
    "tanh": lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
    "sigmoid": lambda x: sigmoid_np(x) * (1 - sigmoid_np(x)) * (1 - 2 * sigmoid_np(x)),
    "gelu": lambda x: _phi(x) * (2 - x * x),
    "softplus": lambda x: sigmoid_np(x) * (1 - sigmoid_np(x)),
    "reciprocal": lambda x: 2 / x ** 3, "square": lambda x: 2 + 0 * x,
}


@pytest.mark.parametrize("name,fn,deriv,sample", UNARY, ids=UNARY_IDS)
def test_unary_second_derivative_with_constant_seed(name, fn, deriv, sample):
    """d/dx of fn'(x), seeded with ones (grad_outputs that do not require grad): the
    first derivative must itself be recorded (create_graph) for every smooth op."""
    a = sample(rng(4), (5,))
    x = leaf(a)
    (g,) = tg.grad(fn(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), deriv(a), rtol=1e-10, atol=1e-12)
    if name in NON_SMOOTH:
        if g.requires_grad:
            (h,) = tg.grad(g.sum(), x, allow_unused=True)
            if h is not None:
                np.testing.assert_allclose(h.numpy(), 0 * a, atol=1e-12)
        return
    if name in ("neg", "neg_fn"):
        return  # a constant derivative may or may not be recorded
    assert g.requires_grad, f"{name}: the gradient computed with create_graph=True is not differentiable"
    (h,) = tg.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), SECOND[name](a), rtol=1e-9, atol=1e-12)


def test_unary_0d_and_empty():
    x = leaf(0.7)
    y = tg.exp(tg.sin(x))
    y.backward()
    check_grad(x, np.exp(np.sin(0.7)) * np.cos(0.7))
    e = leaf(np.zeros((0, 3)))
    tg.tanh(e).sum().backward()
    assert e.grad.shape == (0, 3)


# ---------------------------------------------------------------------------------------
# binary ops
# ---------------------------------------------------------------------------------------

BINARY = [
    # name, fn, d/da, d/db, sampler a, sampler b
    ("add", lambda a, b: a + b, lambda a, b: np.ones_like(a * b), lambda a, b: np.ones_like(a * b),
     U(-2, 2), U(-2, 2)),
    ("add_fn", tg.add, lambda a, b: np.ones_like(a * b), lambda a, b: np.ones_like(a * b), U(-2, 2), U(-2, 2)),
    ("sub", lambda a, b: a - b, lambda a, b: np.ones_like(a * b), lambda a, b: -np.ones_like(a * b),
     U(-2, 2), U(-2, 2)),
    ("sub_fn", tg.sub, lambda a, b: np.ones_like(a * b), lambda a, b: -np.ones_like(a * b), U(-2, 2), U(-2, 2)),
    ("mul", lambda a, b: a * b, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b, U(-2, 2), U(-2, 2)),
    ("mul_fn", tg.mul, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b, U(-2, 2), U(-2, 2)),
    ("div", lambda a, b: a / b, lambda a, b: 1 / b + 0 * a, lambda a, b: -a / b ** 2, U(-2, 2), AWAY(0.5, 2)),
    ("div_fn", tg.div, lambda a, b: 1 / b + 0 * a, lambda a, b: -a / b ** 2, U(-2, 2), AWAY(0.5, 2)),
    ("pow", lambda a, b: a ** b, lambda a, b: b * a ** (b - 1), lambda a, b: a ** b * np.log(a),
     U(0.5, 2), U(-1.5, 2.5)),
    ("pow_fn", tg.pow, lambda a, b: b * a ** (b - 1), lambda a, b: a ** b * np.log(a), U(0.5, 2), U(-1.5, 2.5)),
    ("maximum", tg.maximum, lambda a, b: (a > b).astype(float), lambda a, b: (a < b).astype(float),
     U(-2, 2), U(-2, 2)),
    ("minimum", tg.minimum, lambda a, b: (a < b).astype(float), lambda a, b: (a > b).astype(float),
     U(-2, 2), U(-2, 2)),
]
BINARY_IDS = [b[0] for b in BINARY]
BCAST_SHAPES = [((3, 4), (3, 4)), ((3, 1, 4), (2, 4)), ((4,), (3, 4)), ((), (2, 3)), ((2, 3), ()),
                ((2, 1), (1, 3))]


def _sample_pair(name, sa, sb, shape_a, shape_b, seed):
    r = rng(seed)
    for _ in range(100):
        a, b = sa(r, shape_a), sb(r, shape_b)
        if name not in ("maximum", "minimum"):
            return a, b
        da, db = np.broadcast_arrays(a, b)
        if (np.abs(da - db) > 0.1).all():
            return a, b
    raise AssertionError("could not sample tie-free inputs")


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shapes", BCAST_SHAPES, ids=[f"{a}x{b}" for a, b in BCAST_SHAPES])
@pytest.mark.parametrize("name,fn,da,db,sa,sb", BINARY, ids=BINARY_IDS)
def test_binary_closed_form(name, fn, da, db, sa, sb, shapes, dtype):
    shape_a, shape_b = shapes
    a, b = _sample_pair(name, sa, sb, shape_a, shape_b, 7)
    a, b = a.astype(NP[dtype]), b.astype(NP[dtype])
    out_shape = np.broadcast_shapes(shape_a, shape_b)
    w = rng(8).uniform(0.5, 1.5, size=out_shape)
    ta, tb = leaf(a, dtype), leaf(b, dtype)
    y = fn(ta, tb)
    assert y.shape == out_shape
    y.backward(leaf(w.astype(NP[dtype]), dtype, requires_grad=False))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    w = w.astype(NP[dtype]).astype(np.float64)
    ga = w * np.broadcast_to(da(a64, b64), out_shape)
    gb = w * np.broadcast_to(db(a64, b64), out_shape)
    # a broadcast input's gradient is the sum over the broadcast dimensions
    ga = _sum_to(ga, shape_a)
    gb = _sum_to(gb, shape_b)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype is tg.float32 else TOL[dtype]
    np.testing.assert_allclose(grad_np(ta), ga, **tol)
    np.testing.assert_allclose(grad_np(tb), gb, **tol)
    assert ta.grad.shape == shape_a and tb.grad.shape == shape_b


def _sum_to(g, shape):
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


@pytest.mark.parametrize("shapes", BCAST_SHAPES, ids=[f"{a}x{b}" for a, b in BCAST_SHAPES])
@pytest.mark.parametrize("name,fn,da,db,sa,sb", BINARY, ids=BINARY_IDS)
def test_binary_gradcheck(name, fn, da, db, sa, sb, shapes):
    a, b = _sample_pair(name, sa, sb, *shapes, seed=11)
    assert tg.gradcheck(fn, (leaf(a), leaf(b)))


@pytest.mark.parametrize("name,fn,da,db,sa,sb", BINARY, ids=BINARY_IDS)
def test_binary_gradcheck_noncontiguous(name, fn, da, db, sa, sb):
    a, b = _sample_pair(name, sa, sb, (3, 4), (3, 4), seed=12)
    ta = leaf(a.T).T  # (3, 4) transposed view
    tb = leaf(b, requires_grad=False)[:, ::1].detach().requires_grad_()
    assert not ta.is_contiguous()
    assert tg.gradcheck(fn, (ta, tb))
    # one input only requires grad: the other is skipped (and gets no gradient)
    assert tg.gradcheck(fn, (ta, leaf(b, requires_grad=False)))


@pytest.mark.parametrize("name,fn,da,db,sa,sb", BINARY, ids=BINARY_IDS)
def test_binary_gradgradcheck(name, fn, da, db, sa, sb):
    a, b = _sample_pair(name, sa, sb, (2, 3), (3,), seed=13)
    assert tg.gradgradcheck(fn, (leaf(a), leaf(b)))


# scalar forms, including the reflected ones
SCALAR_FORMS = [
    ("x+2", lambda x: x + 2.0, lambda x: np.ones_like(x), U(-2, 2)),
    ("2+x", lambda x: 2.0 + x, lambda x: np.ones_like(x), U(-2, 2)),
    ("x+int", lambda x: x + 3, lambda x: np.ones_like(x), U(-2, 2)),
    ("x-2", lambda x: x - 2.0, lambda x: np.ones_like(x), U(-2, 2)),
    ("3-x", lambda x: 3.0 - x, lambda x: -np.ones_like(x), U(-2, 2)),
    ("x*2.5", lambda x: x * 2.5, lambda x: 2.5 * np.ones_like(x), U(-2, 2)),
    ("-1.5*x", lambda x: -1.5 * x, lambda x: -1.5 * np.ones_like(x), U(-2, 2)),
    ("x/4", lambda x: x / 4.0, lambda x: 0.25 * np.ones_like(x), U(-2, 2)),
    ("1/x", lambda x: 1.0 / x, lambda x: -1 / x ** 2, AWAY(0.5, 2)),
    ("3/x", lambda x: 3 / x, lambda x: -3 / x ** 2, AWAY(0.5, 2)),
    ("x**2", lambda x: x ** 2, lambda x: 2 * x, U(-2, 2)),
    ("x**3", lambda x: x ** 3, lambda x: 3 * x ** 2, U(-2, 2)),
    ("x**2.5", lambda x: x ** 2.5, lambda x: 2.5 * x ** 1.5, U(0.5, 2)),
    ("x**0.5", lambda x: x ** 0.5, lambda x: 0.5 * x ** -0.5, U(0.5, 2)),
    ("x**-1", lambda x: x ** -1, lambda x: -x ** -2.0, AWAY(0.5, 2)),
    ("x**-2.0", lambda x: x ** -2.0, lambda x: -2 * x ** -3.0, AWAY(0.5, 2)),
    ("x**1", lambda x: x ** 1, lambda x: np.ones_like(x), U(-2, 2)),
    ("x**0", lambda x: x ** 0, lambda x: np.zeros_like(x), U(-2, 2)),
    ("pow(x,3.0)", lambda x: tg.pow(x, 3.0), lambda x: 3 * x ** 2, U(-2, 2)),
    ("2.0**x", lambda x: 2.0 ** x, lambda x: 2.0 ** x * np.log(2.0), U(-2, 2)),
    ("0.5**x", lambda x: 0.5 ** x, lambda x: 0.5 ** x * np.log(0.5), U(-2, 2)),
    ("3**x", lambda x: 3 ** x, lambda x: 3.0 ** x * np.log(3.0), U(-2, 2)),
]
SCALAR_IDS = [s[0] for s in SCALAR_FORMS]


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,fn,deriv,sample", SCALAR_FORMS, ids=SCALAR_IDS)
def test_scalar_forms_closed_form(name, fn, deriv, sample, dtype):
    r = rng(21)
    a = sample(r, (2, 3)).astype(NP[dtype])
    w = r.uniform(0.5, 1.5, size=(2, 3)).astype(NP[dtype])
    x = leaf(a, dtype)
    y = fn(x)
    assert y.dtype is dtype, f"{name}: a Python scalar must not change the dtype ({y.dtype})"
    y.backward(leaf(w, dtype, requires_grad=False))
    check_grad(x, w.astype(np.float64) * deriv(a.astype(np.float64)),
               dtype=tg.float32 if dtype is tg.float32 else None)


@pytest.mark.parametrize("name,fn,deriv,sample", SCALAR_FORMS, ids=SCALAR_IDS)
def test_scalar_forms_gradcheck_and_gradgradcheck(name, fn, deriv, sample):
    x = leaf(sample(rng(22), (2, 3)))
    assert tg.gradcheck(fn, (x,))
    assert tg.gradgradcheck(fn, (x,))


def test_pow_tensor_exponent_broadcast_and_scalar_tensor_base():
    # a 0-d tensor base with a vector exponent, and the reverse
    a = leaf(1.7)
    b = leaf([0.5, -1.0, 2.0])
    (a ** b).sum().backward()
    bv = np.array([0.5, -1.0, 2.0])
    check_grad(a, np.sum(bv * 1.7 ** (bv - 1)))
    check_grad(b, 1.7 ** bv * np.log(1.7))
    assert tg.gradcheck(lambda a, b: b ** a, (leaf(1.3), leaf([0.6, 1.5, 2.0])))


@pytest.mark.parametrize("dtype", [F64, tg.float32], ids=["float64", "float32"])
def test_pow_exponent_gradient_with_bool_or_int_base(dtype):
    # the base promotes to the exponent's float dtype, as in PyTorch: d/db a^b = a^b log a,
    # 0 where a == 0 and b >= 0, and inf * log(0) = -inf for 0 ** -1
    b = leaf([1.0, 2.0, 0.5, -1.0], dtype)
    (tg.tensor([True, False, True, False]) ** b).sum().backward()
    check_grad(b, [0.0, 0.0, 0.0, -np.inf])
    b = leaf([1.0, 2.0, 0.5], dtype)
    tg.pow(tg.tensor([2, 0, 3]), b).sum().backward()
    check_grad(b, [2 * np.log(2), 0.0, np.sqrt(3) * np.log(3)])
    assert tg.gradgradcheck(lambda b: tg.tensor([2, 3]) ** b, (leaf([0.5, 1.5]),))


def test_where_gradients():
    r = rng(30)
    c = tg.tensor(np.array([[True, False, True], [False, False, True]]))
    a, b = r.normal(size=(2, 3)), r.normal(size=(3,))
    ta, tb = leaf(a), leaf(b)
    w = r.uniform(0.5, 1.5, size=(2, 3))
    tg.where(c, ta, tb).backward(leaf(w, requires_grad=False))
    cn = c.numpy()
    np.testing.assert_allclose(grad_np(ta), np.where(cn, w, 0))
    np.testing.assert_allclose(grad_np(tb), np.where(cn, 0, w).sum(axis=0))
    # the condition is never differentiable; scalar-tensor branches broadcast
    s = leaf(2.0)
    tg.where(c, ta, s).sum().backward()
    check_grad(s, float((~cn).sum()))
    assert tg.gradcheck(lambda a, b: tg.where(c, a, b), (leaf(a), leaf(b)))
    assert tg.gradgradcheck(lambda a, b: tg.where(c, a * a, b.exp()), (leaf(a), leaf(b)))


# ---------------------------------------------------------------------------------------
# conventions at kinks
# ---------------------------------------------------------------------------------------

def test_relu_derivative_at_zero_is_zero():
    x = leaf([-1.0, 0.0, 2.0])
    tg.relu(x).sum().backward()
    check_grad(x, [0.0, 0.0, 1.0])
    x32 = leaf([0.0, -0.0], tg.float32)
    x32.relu().sum().backward()
    check_grad(x32, [0.0, 0.0])


def test_abs_derivative_at_zero_is_zero():
    x = leaf([-1.0, 0.0, 2.0])
    tg.abs(x).sum().backward()
    check_grad(x, [-1.0, 0.0, 1.0])


def test_leaky_relu_at_zero():
    x = leaf([-2.0, 0.0, 2.0])
    tg.leaky_relu(x, 0.2).sum().backward()
    # PyTorch: slope for x <= 0
    check_grad(x, [0.2, 0.2, 1.0])


def test_clamp_passes_gradient_at_the_bounds():
    x = leaf([-2.0, -1.0, 0.0, 1.0, 2.0])
    tg.clamp(x, -1.0, 1.0).sum().backward()
    check_grad(x, [0.0, 1.0, 1.0, 1.0, 0.0])
    y = leaf([0.0, 0.5, 1.0])
    y.clamp(min=0.5).sum().backward()
    check_grad(y, [0.0, 1.0, 1.0])


@pytest.mark.parametrize("op", [tg.maximum, tg.minimum], ids=["maximum", "minimum"])
def test_maximum_minimum_split_ties(op):
    a = leaf([1.0, 2.0, 3.0])
    b = leaf([1.0, 1.0, 4.0])
    op(a, b).backward(leaf([2.0, 2.0, 2.0], requires_grad=False))
    if op is tg.maximum:
        check_grad(a, [1.0, 2.0, 0.0])
        check_grad(b, [1.0, 0.0, 2.0])
    else:
        check_grad(a, [1.0, 0.0, 2.0])
        check_grad(b, [1.0, 2.0, 0.0])
    # broadcast with a tie against a scalar tensor: the ties' halves sum up
    s = leaf(2.0)
    x = leaf([2.0, 2.0, 0.0, 5.0])
    op(x, s).sum().backward()
    if op is tg.maximum:
        check_grad(s, 0.5 + 0.5 + 1.0)
        check_grad(x, [0.5, 0.5, 0.0, 1.0])
    else:
        check_grad(s, 0.5 + 0.5 + 1.0)
        check_grad(x, [0.5, 0.5, 1.0, 0.0])


@pytest.mark.parametrize("which", ["max", "min"])
def test_max_min_over_axis_split_evenly_among_ties(which):
    a = np.array([[1.0, 3.0, 3.0, 0.0],
                  [2.0, 2.0, 2.0, 2.0],
                  [0.0, 5.0, 1.0, 4.0]])
    if which == "min":
        a = -a
    x = leaf(a)
    red = getattr(x, which)
    red(axis=1).backward(leaf([3.0, 4.0, 1.0], requires_grad=False))
    check_grad(x, [[0, 1.5, 1.5, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
    # over every axis: the global extreme is tied twice
    y = leaf([[1.0, 7.0], [7.0, -2.0]] if which == "max" else [[1.0, -7.0], [-7.0, 2.0]])
    getattr(tg, which)(y).backward()
    check_grad(y, [[0, 0.5], [0.5, 0]])
    # amax/amin are the same rule
    z = leaf(a)
    getattr(tg, "a" + which)(z, axis=0).sum().backward()
    ext = a.max(axis=0) if which == "max" else a.min(axis=0)
    hit = (a == ext).astype(float)
    check_grad(z, hit / hit.sum(axis=0))


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------

AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2), ()]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=[str(a) for a in AXES])
def test_sum_mean_closed_form(axis, keepdims):
    r = rng(40)
    a = r.normal(size=(2, 3, 4))
    out_shape = np.sum(a, axis=axis, keepdims=keepdims).shape
    w = r.uniform(0.5, 1.5, size=out_shape)
    for name in ("sum", "mean"):
        x = leaf(a)
        y = getattr(x, name)(axis=axis, keepdims=keepdims)
        assert y.shape == out_shape
        y.backward(leaf(w, requires_grad=False))
        wk = np.sum(np.zeros_like(a), axis=axis, keepdims=True) + (w if keepdims else np.expand_dims(
            w, axis=_norm_axes(axis, 3)))
        n = a.size // max(np.sum(np.zeros_like(a), axis=axis).size, 1) if axis != () else 1
        expected = np.broadcast_to(wk, a.shape) / (n if name == "mean" else 1)
        check_grad(x, expected)


def _norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis % ndim,)
    return tuple(a % ndim for a in axis)


@pytest.mark.parametrize("axis", AXES, ids=[str(a) for a in AXES])
def test_reductions_gradcheck(axis):
    # (std over no axis is sqrt(0): its derivative is nan, as in PyTorch, so axis=() uses
    # correction=1 -> 0/0 would be nan too; std is skipped there)
    r = rng(41)
    a = r.uniform(0.5, 1.5, size=(2, 3, 2)) * np.where(r.random((2, 3, 2)) < 0.5, -1, 1)
    fns = (lambda x: x.sum(axis=axis), lambda x: x.mean(axis=axis, keepdims=True),
               lambda x: x.prod(axis=axis), lambda x: tg.logsumexp(x, axis=axis),
               lambda x: x.var(axis=axis), lambda x: x.std(axis=axis, correction=1),
               lambda x: tg.norm(x, 2.0, axis=axis), lambda x: tg.norm(x, 3.0, axis=axis),
               lambda x: tg.norm(x, 1.0, axis=axis), lambda x: tg.norm(x, math.inf, axis=axis))
    for fn in fns:
        if axis == () and fn is fns[5]:
            continue
        assert tg.gradcheck(fn, (leaf(a),))


def test_var_std_closed_form():
    r = rng(42)
    a = r.normal(size=(3, 5))
    for corr in (0.0, 1.0):
        x = leaf(a)
        x.var(axis=1, correction=corr).sum().backward()
        n = 5
        check_grad(x, 2 * (a - a.mean(axis=1, keepdims=True)) / (n - corr))
        y = leaf(a)
        y.std(axis=1, correction=corr).sum().backward()
        sd = np.sqrt(((a - a.mean(axis=1, keepdims=True)) ** 2).sum(axis=1, keepdims=True) / (n - corr))
        check_grad(y, (a - a.mean(axis=1, keepdims=True)) / ((n - corr) * sd))
    z = leaf(a)
    tg.var(z).backward()
    check_grad(z, 2 * (a - a.mean()) / a.size)


def test_prod_closed_form_and_zeros():
    a = np.array([[2.0, 3.0, 4.0], [0.0, 5.0, 6.0], [0.0, 0.0, 7.0], [1.5, -2.0, 0.5]])
    x = leaf(a)
    x.prod(axis=1).backward(leaf([1.0, 2.0, 3.0, 4.0], requires_grad=False))
    expected = np.array([[12.0, 8.0, 6.0],        # no zero: prod / x
                         [2 * 30.0, 0.0, 0.0],    # one zero: product of the others there, 0 elsewhere
                         [0.0, 0.0, 0.0],         # two zeros: all zero
                         [4 * -1.0, 4 * 0.75, 4 * -3.0]])
    check_grad(x, expected)
    y = leaf([0.0, 2.0, 3.0])
    y.prod().backward()
    check_grad(y, [6.0, 0.0, 0.0])
    # gradcheck right at a single zero (prod is smooth there) and with two zeros
    assert tg.gradcheck(lambda t: t.prod(axis=1), (leaf([[0.0, 1.5, -2.0], [0.7, 0.0, 0.0]]),))
    assert tg.gradcheck(lambda t: t.prod(), (leaf([0.0, 1.5, -2.0, 0.5]),))


def test_prod_gradgradcheck_with_zeros():
    assert tg.gradgradcheck(lambda t: t.prod(axis=1), (leaf([[1.2, 1.5, -2.0], [0.7, 0.3, 1.1]]),))
    assert tg.gradgradcheck(lambda t: t.prod(axis=1), (leaf([[0.0, 1.5, -2.0], [0.7, 0.0, 1.1]]),))
    assert tg.gradgradcheck(lambda t: t.prod(), (leaf([0.0, 1.5, 0.0, 2.0]),))


def test_norm_closed_forms():
    a = np.array([[3.0, -4.0, 1.0], [-0.5, 2.0, -3.0]])
    for ordv, deriv in [(2.0, lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)),
                        (1.0, np.sign),
                        (3.0, lambda a: np.sign(a) * np.abs(a) ** 2 /
                         (np.sum(np.abs(a) ** 3, axis=1, keepdims=True) ** (2 / 3))),
                        (math.inf, lambda a: (np.abs(a) == np.abs(a).max(axis=1, keepdims=True)) * np.sign(a))]:
        x = leaf(a)
        tg.norm(x, ordv, axis=1).sum().backward()
        check_grad(x, deriv(a))
    # the whole tensor, default ord 2
    x = leaf(a)
    x.norm().backward()
    check_grad(x, a / np.linalg.norm(a))


def test_norm2_gradient_at_zero_is_zero():
    x = leaf([0.0, 0.0, 0.0])
    tg.norm(x).backward()
    check_grad(x, [0.0, 0.0, 0.0])


def test_logsumexp_softmax_log_softmax_closed_form():
    r = rng(43)
    a = r.normal(size=(3, 4)) * 3
    w = r.uniform(0.5, 1.5, size=(3, 4))
    sm = np.exp(a - a.max(axis=1, keepdims=True))
    sm /= sm.sum(axis=1, keepdims=True)

    x = leaf(a)
    tg.logsumexp(x, axis=1).backward(leaf(w[:, 0], requires_grad=False))
    check_grad(x, sm * w[:, :1])

    x = leaf(a)
    tg.softmax(x, axis=1).backward(leaf(w, requires_grad=False))
    check_grad(x, sm * (w - (w * sm).sum(axis=1, keepdims=True)))

    x = leaf(a)
    tg.log_softmax(x, axis=-1).backward(leaf(w, requires_grad=False))
    check_grad(x, w - sm * w.sum(axis=1, keepdims=True))

    # large inputs: the max-shift must not produce inf/nan in the gradient
    x = leaf([[1000.0, 1000.0], [-1000.0, 0.0]])
    tg.logsumexp(x, axis=1).sum().backward()
    check_grad(x, [[0.5, 0.5], [0.0, 1.0]])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_gradcheck_and_gradgradcheck(axis):
    a = rng(44).normal(size=(3, 4))
    for fn in (lambda x: tg.softmax(x, axis=axis), lambda x: x.log_softmax(axis=axis),
               lambda x: tg.logsumexp(x, axis=axis, keepdims=True), lambda x: x.softmax(axis)):
        assert tg.gradcheck(fn, (leaf(a),))
        assert tg.gradgradcheck(fn, (leaf(a),))
    # a non-contiguous input
    assert tg.gradcheck(lambda x: tg.softmax(x, axis=axis), (leaf(a.T).T,))


SMOOTH_REDUCTIONS = [
    ("sum", lambda x: x.sum(axis=1)),
    ("sum_all", lambda x: tg.sum(x)),
    ("mean", lambda x: x.mean(axis=0, keepdims=True)),
    ("prod", lambda x: x.prod(axis=1)),
    ("var", lambda x: x.var(axis=1)),
    ("var_all_corr1", lambda x: x.var(correction=1)),
    ("std", lambda x: x.std(axis=0)),
    ("norm2", lambda x: tg.norm(x, 2.0, axis=1)),
    ("norm2_all", lambda x: x.norm()),
    ("norm3", lambda x: tg.norm(x, 3.0, axis=1)),
    ("logsumexp", lambda x: tg.logsumexp(x, axis=(0, 1))),
    # piecewise-linear ones, away from ties/kinks (second derivative 0)
    ("max", lambda x: x.max(axis=1)),
    ("min", lambda x: tg.min(x, axis=0)),
    ("norm1", lambda x: tg.norm(x, 1.0, axis=1)),
    ("norm_inf", lambda x: tg.norm(x, math.inf, axis=1)),
]


@pytest.mark.parametrize("name,fn", SMOOTH_REDUCTIONS, ids=[s[0] for s in SMOOTH_REDUCTIONS])
def test_reduction_gradgradcheck(name, fn):
    a = np.array([[0.9, -1.3, 0.4, 1.7], [-0.6, 1.1, -1.9, 0.5], [1.4, 0.35, -0.8, -1.2]])
    assert tg.gradgradcheck(fn, (leaf(a),))


# ---------------------------------------------------------------------------------------
# shape ops
# ---------------------------------------------------------------------------------------

SHAPE_OPS = [
    ("reshape", lambda x: x.reshape(4, 6)),
    ("reshape_fn", lambda x: tg.reshape(x, (2, 12))),
    ("reshape_-1", lambda x: x.reshape(-1)),
    ("view", lambda x: x.view(3, 8)),
    ("flatten", lambda x: x.flatten()),
    ("flatten_1", lambda x: tg.flatten(x, 1)),
    ("squeeze", lambda x: x.reshape(2, 1, 12, 1).squeeze()),
    ("squeeze_axis", lambda x: x.reshape(2, 1, 12).squeeze(1)),
    ("unsqueeze", lambda x: x.unsqueeze(1)),
    ("unsqueeze_fn", lambda x: tg.unsqueeze(x, -1)),
    ("transpose", lambda x: x.transpose(0, 2)),
    ("transpose_fn", lambda x: tg.transpose(x, 0, 1)),
    ("permute", lambda x: x.permute(2, 0, 1)),
    ("permute_fn", lambda x: tg.permute(x, (1, 2, 0))),
    ("T", lambda x: x.T),
    ("expand", lambda x: x[:, :1, :].expand(2, 5, 4)),
    ("expand_-1", lambda x: x[:1].expand(3, -1, -1)),
    ("broadcast_to", lambda x: tg.broadcast_to(x, (2, 2, 3, 4))),
    ("broadcast_to_method", lambda x: x[:, 1:2, :].broadcast_to((2, 3, 4))),
    ("concat", lambda x: tg.concat([x, x * 2.0, x[:, :1]], axis=1)),
    ("concat_0", lambda x: tg.cat([x[0], x[1]], axis=0)),
    ("stack", lambda x: tg.stack([x, x.exp()], axis=1)),
    ("stack_last", lambda x: tg.stack([x[0], x[1], x[0]], axis=-1)),
    ("split", lambda x: tuple(tg.split(x, [1, 2], axis=1))),
    ("split_chunks", lambda x: x.split(3, axis=2)),
    ("split_use_one", lambda x: tg.split(x, [2, 1, 1], axis=2)[1] * 3.0),
    ("contiguous_of_T", lambda x: x.T.contiguous()),
    ("clone", lambda x: x.clone()),
]


@pytest.mark.parametrize("name,fn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops_gradcheck(name, fn):
    a = rng(50).normal(size=(2, 3, 4))
    assert tg.gradcheck(fn, (leaf(a),))


@pytest.mark.parametrize("name,fn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops_gradgradcheck(name, fn):
    a = rng(51).normal(size=(2, 3, 4))
    assert tg.gradgradcheck(fn, (leaf(a),))


def test_shape_ops_noncontiguous_inputs():
    a = rng(52).normal(size=(4, 3, 2))
    for name, fn in SHAPE_OPS:
        if name == "view":
            continue  # view of a non-contiguous tensor may legitimately be refused
        x = leaf(a).permute(2, 1, 0)  # (2, 3, 4), non-contiguous, with history
        assert not x.is_contiguous()
        assert tg.gradcheck(fn, (x,)), name


def test_shape_ops_closed_forms():
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    w = rng(53).normal(size=(2, 3, 4))
    x = leaf(a)
    x.permute(2, 0, 1).backward(leaf(w.transpose(2, 0, 1), requires_grad=False))
    check_grad(x, w)
    x = leaf(a)
    x[:, :1, :].expand(2, 5, 4).sum().backward()
    expected = np.zeros_like(a)
    expected[:, 0, :] = 5
    check_grad(x, expected)
    x = leaf(a)
    y = leaf(a[0])
    tg.stack([x[0], y, x[1]], axis=0).backward(leaf(np.stack([w[0], w[1], 2 * w[0]]), requires_grad=False))
    check_grad(x, np.stack([w[0], 2 * w[0]]))
    check_grad(y, w[1])
    x = leaf(a)
    p, q = tg.split(x, [3, 1], axis=2)
    (p.sum() * 2.0 + q.sum() * 5.0).backward()
    expected = np.full_like(a, 2.0)
    expected[:, :, 3] = 5.0
    check_grad(x, expected)
    # only one piece used: the others get zeros
    x = leaf(a)
    tg.split(x, 2, axis=2)[0].sum().backward()
    expected = np.zeros_like(a)
    expected[:, :, :2] = 1
    check_grad(x, expected)


def test_concat_of_different_leaves():
    a, b = leaf([[1.0, 2.0]]), leaf([[3.0, 4.0], [5.0, 6.0]])
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    tg.concat([a, b], axis=0).backward(leaf(w, requires_grad=False))
    check_grad(a, w[:1])
    check_grad(b, w[1:])
    assert tg.gradcheck(lambda a, b: tg.concat([b, a, b], axis=0), (leaf([[1.0, 2.0]]), leaf([[3.0, 4.0]])))


# ---------------------------------------------------------------------------------------
# indexing
# ---------------------------------------------------------------------------------------

BASIC_KEYS = [
    ("int", lambda x: x[1]),
    ("neg_int", lambda x: x[-1, 2]),
    ("slice", lambda x: x[:, 1:3]),
    ("step", lambda x: x[::2, 1::2]),
    ("none", lambda x: x[None, 0, ..., None]),
    ("ellipsis", lambda x: x[..., 1]),
    ("mixed", lambda x: x[1:, None, -2]),
    ("scalar", lambda x: x[2, 3]),
    ("empty", lambda x: x[1:1]),
]


@pytest.mark.parametrize("name,key", BASIC_KEYS, ids=[k[0] for k in BASIC_KEYS])
def test_basic_indexing(name, key):
    a = rng(60).normal(size=(3, 4))
    x = leaf(a)
    y = key(x)
    expected_val = key(a)
    assert y.shape == np.shape(expected_val)
    w = rng(61).normal(size=y.shape)
    y.backward(leaf(w, requires_grad=False))
    expected = np.zeros_like(a)
    # the gradient of a basic index is the upstream gradient written into the selected spots
    key_view = key(expected)
    if np.ndim(key_view) == 0:
        # an int-only key returns a NumPy scalar, not a view: write through the index
        idx = np.unravel_index(int(np.flatnonzero(a == expected_val)[0]), a.shape)
        expected[idx] = w
    else:
        key_view[...] = w
    check_grad(x, expected)
    assert tg.gradcheck(key, (leaf(a),))
    assert tg.gradgradcheck(key, (leaf(a),))


ADV_A = rng(62).normal(size=(3, 4))
ADV_KEYS = [  # name, NumPy key (tapegrad gets the same key, arrays as tensors or lists)
    ("int_list", [0, 2]),
    ("repeated", [0, 2, 0, 0]),
    ("int_tensor", np.array([[2, 1], [1, 1]])),
    ("two_arrays", ([0, 1, 0], [3, 3, 3])),
    ("array_and_slice", (slice(1, None), [0, 0, 2])),
    ("negative", ([-1, -1], slice(None))),
    ("bool_mask", np.array([[True, False, True, False], [False] * 4, [True, True, False, True]])),
    ("bool_rows", np.array([True, False, True])),
    ("mask_from_compare", ADV_A > 0),
]


def _tg_key(key):
    if isinstance(key, np.ndarray):
        return tg.tensor(key)
    if isinstance(key, tuple):
        return tuple(_tg_key(k) for k in key)
    return key


@pytest.mark.parametrize("name,npkey", ADV_KEYS, ids=[k[0] for k in ADV_KEYS])
def test_advanced_indexing_scatter_adds(name, npkey):
    a = ADV_A
    key = _tg_key(npkey)
    x = leaf(a)
    y = x[key]
    pos = np.arange(12).reshape(3, 4)[npkey]  # the flat positions it selects
    assert y.shape == pos.shape
    np.testing.assert_allclose(y.detach().numpy(), a.reshape(-1)[pos])
    w = rng(63).normal(size=y.shape)
    y.backward(leaf(w, requires_grad=False))
    expected = np.zeros(12)
    np.add.at(expected, pos.reshape(-1), w.reshape(-1))  # repeated positions add up
    check_grad(x, expected.reshape(3, 4))
    assert tg.gradcheck(lambda t: t[key], (leaf(a),))
    assert tg.gradgradcheck(lambda t: t[key] * t[key], (leaf(a),))


def test_repeated_index_closed_form():
    x = leaf([1.0, 2.0, 3.0])
    x[[0, 0, 2, 0]].sum().backward()
    check_grad(x, [3.0, 0.0, 1.0])
    y = leaf([[1.0, 2.0], [3.0, 4.0]])
    (y[[1, 1], [0, 0]] * leaf([2.0, 5.0], requires_grad=False)).sum().backward()
    check_grad(y, [[0.0, 0.0], [7.0, 0.0]])


def test_indexing_noncontiguous_input():
    a = rng(64).normal(size=(4, 3))
    assert tg.gradcheck(lambda t: t[[0, 2, 2], 1:], (leaf(a).T,))
    assert tg.gradcheck(lambda t: t[1:, ::2], (leaf(a).T,))


# ---------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------

MATMUL_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)), ((2, 3, 4), (2, 4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
                 ((1, 4), (4, 1))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_closed_form(sa, sb):
    r = rng(70)
    a, b = r.normal(size=sa), r.normal(size=sb)
    out = np.matmul(a, b)
    w = r.normal(size=out.shape)
    ta, tb = leaf(a), leaf(b)
    y = ta @ tb
    assert y.shape == out.shape
    np.testing.assert_allclose(y.detach().numpy(), out, rtol=1e-12, atol=1e-12)
    y.backward(leaf(w, requires_grad=False))
    # the reference: d/da sum(w * a@b) via NumPy with explicit promotion of 1-D operands
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    w2 = w
    if a.ndim == 1 and b.ndim == 1:
        w2 = np.reshape(w, (1, 1))
    elif a.ndim == 1:
        w2 = np.expand_dims(w2, -2)
    elif b.ndim == 1:
        w2 = np.expand_dims(w2, -1)
    ga = _sum_to(np.matmul(w2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(sa)
    gb = _sum_to(np.matmul(np.swapaxes(a2, -1, -2), w2), b2.shape).reshape(sb)
    np.testing.assert_allclose(grad_np(ta), ga, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_np(tb), gb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_gradcheck_and_gradgradcheck(sa, sb):
    r = rng(71)
    a, b = r.normal(size=sa), r.normal(size=sb)
    assert tg.gradcheck(tg.matmul, (leaf(a), leaf(b)))
    assert tg.gradgradcheck(lambda x, y: x @ y, (leaf(a), leaf(b)))


def test_matmul_noncontiguous_and_float32():
    r = rng(72)
    a, b = r.normal(size=(4, 3)), r.normal(size=(5, 4))
    assert tg.gradcheck(lambda x, y: x @ y, (leaf(a).T, leaf(b).T))
    # float32 closed form
    x, y = leaf(a.T, tg.float32), leaf(b.T, tg.float32)
    (x @ y).sum().backward()
    np.testing.assert_allclose(grad_np(x), np.ones((3, 5)) @ b.astype(np.float32), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_np(y), a.astype(np.float32) @ np.ones((3, 5)), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------
# dtype conversion
# ---------------------------------------------------------------------------------------

def test_to_dtype_float32_to_float64_gradient():
    a = np.array([1.5, -2.0, 0.25], dtype=np.float32)
    x = leaf(a, tg.float32)
    y = x.to(tg.float64)
    assert y.dtype is tg.float64 and y.requires_grad
    w = np.array([1.0, 2.0, 3.0])
    (y * y * leaf(w, requires_grad=False)).sum().backward()
    assert x.grad.dtype is tg.float32
    check_grad(x, 2 * a.astype(np.float64) * w, dtype=tg.float32)
    # and back
    z = leaf([0.5, 1.0])
    z.to(tg.float32).sum().backward()
    assert z.grad.dtype is tg.float64
    check_grad(z, [1.0, 1.0])
    # with a float32 round trip inside, central differences need a coarser step
    assert tg.gradcheck(lambda t: (t.to(tg.float32) * 3.0).to(tg.float64), (leaf([0.5, 1.25]),),
                        eps=1e-3, atol=1e-4, rtol=1e-4)
    assert tg.gradgradcheck(lambda t: t.to(tg.float64) ** 3, (leaf([0.5, 1.25]),))


def test_mixed_dtype_binary_gradients_keep_input_dtypes():
    a = leaf([1.0, 2.0], tg.float32)
    b = leaf([3.0, 4.0], tg.float64)
    y = a * b
    assert y.dtype is tg.float64
    y.sum().backward()
    assert a.grad.dtype is tg.float32 and b.grad.dtype is tg.float64
    check_grad(a, [3.0, 4.0], dtype=tg.float32)
    check_grad(b, [1.0, 2.0])


# ---------------------------------------------------------------------------------------
# composites
# ---------------------------------------------------------------------------------------

def test_composite_gradcheck_and_gradgradcheck():
    r = rng(80)
    W, b, x = r.normal(size=(4, 3)), r.normal(size=(4,)), r.normal(size=(5, 3))

    def mlp(W, b, x):
        h = tg.tanh(x @ W.T + b)
        return tg.log_softmax(h * 2.0, axis=1).sum(axis=0)

    assert tg.gradcheck(mlp, (leaf(W), leaf(b), leaf(x)))
    assert tg.gradgradcheck(mlp, (leaf(W), leaf(b), leaf(x)))

    def attention(q, k, v):
        s = tg.softmax(q @ k.transpose(-1, -2) / 2.0, axis=-1)
        return (s @ v).sigmoid()

    q, k, v = r.normal(size=(2, 3, 4)), r.normal(size=(2, 5, 4)), r.normal(size=(5, 2))
    assert tg.gradcheck(attention, (leaf(q), leaf(k), leaf(v)))
    assert tg.gradgradcheck(attention, (leaf(q), leaf(k), leaf(v)))


def test_reused_input_accumulates():
    # x used by several ops: gradients from every path add up
    x = leaf([0.5, -1.5])
    y = x * x + x.exp() * x - x.sin()
    y.sum().backward()
    a = np.array([0.5, -1.5])
    check_grad(x, 2 * a + np.exp(a) * (a + 1) - np.cos(a))
