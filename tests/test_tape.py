"""The tape idiom (SPEC §4): Variable, constant, stop_gradient and GradientTape.

Every expected value comes from a closed form or from central finite differences in
float64 (evaluated with tapegrad's own forward ops outside any tape). Where SPEC §4 is
silent the tests follow TensorFlow's GradientTape; each such test says so.

Memory tests: a tapegrad Tensor's Python wrapper dies as soon as Python drops it (the
C++ graph keeps the storage, not the wrapper), so "a tensor only the graph held" is
observed through the storage itself: a tensor made by `tg.from_numpy(a)` shares `a`'s
memory and keeps `a` alive, so a weakref to `a` dies exactly when the storage does.
"""
import gc
import threading
import warnings
import weakref

import numpy as np
import pytest

import tapegrad as tg

F64 = tg.float64
TOL = dict(rtol=1e-10, atol=1e-12)
FD_TOL = dict(rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- helpers

def var(x, **kw):
    """A float64 Variable."""
    kw.setdefault("dtype", F64)
    return tg.Variable(x if np.ndim(x) else float(x), **kw)


def const(x):
    """A float64 constant."""
    return tg.constant(np.asarray(x, dtype=np.float64) if np.ndim(x) else float(x), dtype=F64)


def close(t, expected, **tol):
    """t is a tapegrad Tensor of float64 with the shape and values of expected."""
    assert isinstance(t, tg.Tensor), f"expected a tapegrad Tensor, got {type(t).__name__}: {t!r}"
    expected = np.asarray(expected, dtype=np.float64)
    assert t.dtype is F64, f"dtype {t.dtype}, expected float64"
    assert tuple(t.shape) == expected.shape, f"shape {t.shape}, expected {expected.shape}"
    np.testing.assert_allclose(np.array(t.numpy(), copy=True), expected, **(tol or TOL))


def fd_jacobian(f, x0, eps=1e-6):
    """Central finite differences of f (NumPy float64 array -> NumPy array) at x0,
    shaped f(x0).shape + x0.shape."""
    x0 = np.asarray(x0, dtype=np.float64)
    out_shape = np.shape(f(x0))
    jac = np.zeros(out_shape + x0.shape)
    flat = x0.reshape(-1)
    for i in range(flat.size):
        xp, xm = flat.copy(), flat.copy()
        xp[i] += eps
        xm[i] -= eps
        d = (np.asarray(f(xp.reshape(x0.shape))) - np.asarray(f(xm.reshape(x0.shape)))) / (2 * eps)
        idx = np.unravel_index(i, x0.shape) if x0.ndim else ()
        jac[(Ellipsis,) + tuple(idx)] = d
    return jac


def tg_fn(fn):
    """Wrap fn (tapegrad tensor -> tensor) as a NumPy -> NumPy function, no tape."""
    def f(a):
        a = np.asarray(a, dtype=np.float64)
        t = tg.tensor(float(a), dtype=F64) if a.ndim == 0 else tg.tensor(a, dtype=F64)
        return np.array(fn(t).numpy(), copy=True)
    return f


def rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------- the seed examples

def test_spec_example_variable_default_dtype():
    v = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = v**2 + 3 * v
    g = tape.gradient(y, v)
    assert isinstance(g, tg.Tensor)
    assert g.dtype is v.dtype is tg.float32
    assert g.shape == ()
    assert g.item() == 7.0


def test_spec_example_variable_float64():
    v = var(2.0)
    with tg.GradientTape() as tape:
        y = v**2 + 3 * v
    close(tape.gradient(y, v), 7.0)


def test_watched_constant():
    x = const(5.0)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x**2 + 2 * x + 1
    close(tape.gradient(y, x), 12.0)


def test_persistent_tape_two_gradients():
    x = const(3.0)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    close(tape.gradient(z, x), 4 * 3.0**3)  # 108
    close(tape.gradient(y, x), 2 * 3.0)  # 6
    close(tape.gradient(z, y), 2 * 9.0)  # intermediate source
    close(tape.gradient(z, x), 108.0)  # and again
    del tape


def test_second_derivative_nested_tapes():
    x = var(3.0)
    with tg.GradientTape() as t2:
        with tg.GradientTape() as t1:
            y = x**3
        dy_dx = t1.gradient(y, x)
    d2y_dx2 = t2.gradient(dy_dx, x)
    close(dy_dx, 27.0)
    close(d2y_dx2, 18.0)


def test_second_derivative_nested_tapes_watched_constant():
    x = const(3.0)
    with tg.GradientTape() as t2:
        t2.watch(x)
        with tg.GradientTape() as t1:
            t1.watch(x)
            y = x**3
        dy_dx = t1.gradient(y, x)
    close(dy_dx, 27.0)
    close(t2.gradient(dy_dx, x), 18.0)


def test_third_derivative_three_nested_tapes():
    x = var(3.0)
    with tg.GradientTape() as t3:
        with tg.GradientTape() as t2:
            with tg.GradientTape() as t1:
                y = x**3
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    close(d1, 27.0)
    close(d2, 18.0)
    close(d3, 6.0)


def test_third_derivative_of_sin_nested_tapes():
    x0 = 0.7
    x = var(x0)
    with tg.GradientTape() as t3:
        with tg.GradientTape() as t2:
            with tg.GradientTape() as t1:
                y = tg.sin(x) * x
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    s, c = np.sin(x0), np.cos(x0)
    close(d1, s + x0 * c)
    close(d2, 2 * c - x0 * s)
    close(d3, -3 * s - x0 * c)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_any_depth_of_nested_tapes(depth):
    # d^n/dx^n exp(2x) = 2^n exp(2x)
    x0 = 0.3
    x = var(x0)
    tapes = [tg.GradientTape() for _ in range(depth)]
    for t in tapes:  # tapes[0] outermost
        t.__enter__()
    try:
        d = tg.exp(2 * x)
        for k in range(depth - 1, 0, -1):
            tapes[k].__exit__(None, None, None)
            d = tapes[k].gradient(d, x)
    finally:
        tapes[0].__exit__(None, None, None)
    d = tapes[0].gradient(d, x)
    close(d, 2.0**depth * np.exp(2 * x0))


def test_nested_tapes_vector_hessian_vector_product():
    # f(x) = sum(x**3) + x0*x1; grad = 3x^2 + (x1, x0, 0); H = diag(6x) + offdiag
    x0 = np.array([0.5, -1.2, 2.0])
    x = var(x0)
    u = const([1.0, 2.0, -1.0])
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = (x**3).sum() + x[0] * x[1]
        g = inner.gradient(y, x)
        gu = (g * u).sum()
    hvp = outer.gradient(gu, x)
    H = np.diag(6 * x0)
    H[0, 1] = H[1, 0] = 1.0
    close(g, 3 * x0**2 + np.array([x0[1], x0[0], 0.0]))
    close(hvp, H @ np.array([1.0, 2.0, -1.0]))


# ------------------------------------------------------------------------------ Variable

def test_variable_attributes():
    v = tg.Variable(1.5, name="w")
    assert isinstance(v, tg.Tensor)
    assert isinstance(v, tg.Variable)
    assert v.trainable is True
    assert v.name == "w"
    assert v.is_leaf
    assert v.grad_fn is None
    assert v.dtype is tg.float32
    u = tg.Variable([1.0, 2.0], trainable=False)
    assert u.trainable is False
    assert u.name is None
    assert u.shape == (2,)
    d = tg.Variable(np.arange(6.0).reshape(2, 3), dtype=tg.float64)
    assert d.dtype is tg.float64 and d.shape == (2, 3)
    np.testing.assert_array_equal(d.numpy(), np.arange(6.0).reshape(2, 3))


def test_variable_value_is_a_copy_of_numpy_input():
    a = np.arange(3.0)
    v = tg.Variable(a, dtype=F64)
    a[0] = 100.0
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0, 2.0])


@pytest.mark.parametrize("method,arg,expected", [
    ("assign", [5.0, 6.0], [5.0, 6.0]),
    ("assign_add", [0.5, 0.25], [1.5, 2.25]),
    ("assign_sub", [0.5, 0.25], [0.5, 1.75]),
])
def test_variable_assign_is_in_place(method, arg, expected):
    v = var(np.array([1.0, 2.0]), name="p")
    view = v.numpy()  # shares memory
    arg_t = tg.tensor(arg, dtype=F64)
    getattr(v, method)(arg_t)
    np.testing.assert_array_equal(view, expected)  # same memory was written
    np.testing.assert_array_equal(v.numpy(), expected)
    assert isinstance(v, tg.Variable) and v.name == "p" and v.trainable
    assert v.is_leaf and v.grad_fn is None


def test_variable_assign_accepts_python_and_numpy_values():
    v = var(np.array([1.0, 2.0]))
    v.assign([3.0, 4.0])
    np.testing.assert_array_equal(v.numpy(), [3.0, 4.0])
    v.assign(np.array([7.0, 8.0]))
    np.testing.assert_array_equal(v.numpy(), [7.0, 8.0])
    v.assign_add(1.0)
    np.testing.assert_array_equal(v.numpy(), [8.0, 9.0])
    v.assign_sub(2.0)
    np.testing.assert_array_equal(v.numpy(), [6.0, 7.0])


def test_assign_inside_tape_is_not_recorded():
    x = const(2.0)
    v = var(0.0)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        v.assign(x * 3)  # value flows, gradient does not
        v.assign_add(x)
        v.assign_sub(x * 0.5)
        y = v * 1.0
    assert v.is_leaf and v.grad_fn is None
    close(v, 2.0 * 3 + 2.0 - 1.0)
    assert tape.gradient(y, x) is None
    close(tape.gradient(y, v), 1.0)


def test_assign_add_inside_tape_then_use():
    v = var(2.0)
    with tg.GradientTape() as tape:
        v.assign_add(1.0)
        y = v * v
    close(y, 9.0)
    close(tape.gradient(y, v), 6.0)


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_assign_after_recording_never_silently_wrong(method):
    # y = v**2 saved v (= 2) for backward; changing v afterwards must either make
    # tape.gradient raise a RuntimeError about the in-place change, or leave the
    # mathematically right answer dy/dv at v=2, which is 4.
    v = var(2.0)
    with tg.GradientTape() as tape:
        y = v**2
    getattr(v, method)(10.0)
    try:
        g = tape.gradient(y, v)
    except RuntimeError as e:
        msg = str(e).lower()
        assert "in-place" in msg or "inplace" in msg, f"unclear error: {e}"
    else:
        close(g, 4.0)


def test_non_trainable_variable_is_not_watched():
    v = var(3.0)
    w = var(4.0, trainable=False)
    with tg.GradientTape(persistent=True) as tape:
        y = v * w
    close(tape.gradient(y, v), 4.0)
    assert tape.gradient(y, w) is None
    assert all(t is not w for t in tape.watched_variables())
    # unless watched explicitly
    with tg.GradientTape() as tape:
        tape.watch(w)
        y = v * w
    gv, gw = tape.gradient(y, [v, w])
    close(gv, 4.0)
    close(gw, 3.0)


def test_watch_accessed_variables_false():
    a, b = var(2.0), var(5.0)
    with tg.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
        tape.watch(b)
        y = a * a * b
    assert tape.gradient(y, a) is None
    close(tape.gradient(y, b), 4.0)
    assert len(tape.watched_variables()) == 1 and tape.watched_variables()[0] is b
    # nothing watched at all: nothing is recorded
    with tg.GradientTape(watch_accessed_variables=False) as tape:
        y = a * b
    assert tape.gradient(y, [a, b]) == [None, None]


def test_constant_is_not_watched_unless_watched():
    c = tg.constant(2.0)
    assert c.dtype is tg.float32 and not c.requires_grad and not isinstance(c, tg.Variable)
    c = const(2.0)
    v = var(3.0)
    with tg.GradientTape() as tape:
        y = c * c * v
    gv, gc_ = tape.gradient(y, [v, c])
    close(gv, 4.0)
    assert gc_ is None
    with tg.GradientTape() as tape:
        tape.watch(c)
        y = c * c * v
    close(tape.gradient(y, c), 12.0)


def test_watch_nested_structure():
    a, b, c = const(1.0), const(2.0), const(3.0)
    with tg.GradientTape() as tape:
        tape.watch({"x": [a, (b,)], "y": c})
        y = a * b * c
    ga, gb, gc_ = tape.gradient(y, (a, b, c))
    close(ga, 6.0)
    close(gb, 3.0)
    close(gc_, 2.0)


# ---------------------------------------------------------------------- gradient(...)

def test_list_of_targets_sums():
    x = var(1.5)
    with tg.GradientTape() as tape:
        y1 = x**2
        y2 = 3 * x
        y3 = tg.sin(x)
    close(tape.gradient([y1, y2, y3], x), 2 * 1.5 + 3 + np.cos(1.5))


def test_non_scalar_target_gives_gradient_of_sum():
    x0 = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    A0 = rng(1).normal(size=(4, 2))
    x = var(x0)
    A = const(A0)
    with tg.GradientTape() as tape:
        y = A @ tg.tanh(x)  # (4, 3)
    g = tape.gradient(y, x)
    expected = A0.sum(0)[:, None] * (1 - np.tanh(x0) ** 2)
    close(g, expected)
    fd = fd_jacobian(lambda a: (A0 @ np.tanh(a)).sum(), x0)
    close(g, fd, **FD_TOL)


def test_output_gradients_weighting():
    x0 = np.array([0.5, -1.0, 2.0])
    w0 = np.array([1.0, -3.0, 0.5])
    x = var(x0)
    with tg.GradientTape() as tape:
        y = x**2
    close(tape.gradient(y, x, output_gradients=const(w0)), 2 * x0 * w0)


def test_output_gradients_for_a_list_of_targets():
    x0 = np.array([0.5, -1.0])
    x = var(x0)
    with tg.GradientTape() as tape:
        y1 = x**2  # (2,)
        y2 = (x * 3).sum()  # ()
    g = tape.gradient([y1, y2], x, output_gradients=[const([2.0, -1.0]), const(10.0)])
    close(g, 2 * x0 * np.array([2.0, -1.0]) + 30.0)


def test_output_gradients_matrix_target_matches_vjp():
    x0 = rng(2).normal(size=(3,))
    W0 = rng(3).normal(size=(2, 3))
    u0 = np.array([0.3, -1.7])
    x = var(x0)
    with tg.GradientTape() as tape:
        y = tg.sin(const(W0) @ x)
    g = tape.gradient(y, x, output_gradients=const(u0))
    J = fd_jacobian(lambda a: np.sin(W0 @ a), x0)
    close(g, u0 @ J, **FD_TOL)


def _sources_fixture():
    a, b, c, d = var(1.0), var(2.0), var(3.0), var(4.0)
    with tg.GradientTape(persistent=True) as tape:
        y = a * b + c * d + a
    # dy/da = b + 1 = 3, dy/db = a = 1, dy/dc = d = 4, dy/dd = c = 3
    return tape, y, (a, b, c, d)


def test_sources_single_tensor():
    tape, y, (a, b, c, d) = _sources_fixture()
    g = tape.gradient(y, a)
    close(g, 3.0)


def test_sources_list_and_tuple_keep_their_type():
    tape, y, (a, b, c, d) = _sources_fixture()
    gl = tape.gradient(y, [a, b, c])
    assert type(gl) is list and len(gl) == 3
    for g, e in zip(gl, [3.0, 1.0, 4.0]):
        close(g, e)
    gt = tape.gradient(y, (d, a))
    assert type(gt) is tuple and len(gt) == 2
    close(gt[0], 3.0)
    close(gt[1], 3.0)


def test_sources_dict_keeps_keys():
    tape, y, (a, b, c, d) = _sources_fixture()
    g = tape.gradient(y, {"zeta": a, "alpha": b, "mid": d})
    assert type(g) is dict
    assert list(g) == ["zeta", "alpha", "mid"]
    close(g["zeta"], 3.0)
    close(g["alpha"], 1.0)
    close(g["mid"], 3.0)


def test_sources_nested_structure():
    tape, y, (a, b, c, d) = _sources_fixture()
    e = var(9.0)  # not used: None
    g = tape.gradient(y, {"p": [a, (b, {"q": c})], "r": (d,), "s": [e]})
    assert type(g) is dict and set(g) == {"p", "r", "s"}
    assert type(g["p"]) is list and type(g["p"][1]) is tuple and type(g["p"][1][1]) is dict
    close(g["p"][0], 3.0)
    close(g["p"][1][0], 1.0)
    close(g["p"][1][1]["q"], 4.0)
    assert type(g["r"]) is tuple
    close(g["r"][0], 3.0)
    assert g["s"] == [None]


def test_same_source_twice():
    tape, y, (a, b, c, d) = _sources_fixture()
    g1, g2 = tape.gradient(y, [a, a])
    close(g1, 3.0)
    close(g2, 3.0)


def test_unwatched_source_gives_none():
    v = var(2.0)
    c = const(5.0)
    with tg.GradientTape() as tape:
        y = v * c
    gv, gc_ = tape.gradient(y, [v, c])
    close(gv, 5.0)
    assert gc_ is None


def test_unconnected_source_gives_none():
    v, u, w = var(2.0), var(3.0), var(4.0)
    with tg.GradientTape(persistent=True) as tape:
        y = v * 2
        z = u * 3  # u watched (used in the block) but not connected to y
    assert tape.gradient(y, u) is None
    assert tape.gradient(y, w) is None  # never used at all
    gv, gu, gw = tape.gradient(y, [v, u, w])
    close(gv, 2.0)
    assert gu is None and gw is None
    close(tape.gradient(z, u), 3.0)


def test_unconnected_gradients_zero():
    v = var(2.0)
    u = var(np.ones((2, 3)))
    c = const([1.0, 2.0])  # unwatched
    with tg.GradientTape() as tape:
        y = v * 2
        u * 3
    gv, gu, gc_ = tape.gradient(y, [v, u, c], unconnected_gradients="zero")
    close(gv, 2.0)
    close(gu, np.zeros((2, 3)))
    close(gc_, np.zeros(2))


def test_unconnected_gradients_zero_keeps_float32():
    u = tg.Variable(np.ones(3, dtype=np.float32))
    v = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        y = v * 2
    g = tape.gradient(y, u, unconnected_gradients="zero")
    assert g.dtype is tg.float32 and g.shape == (3,)
    np.testing.assert_array_equal(g.numpy(), np.zeros(3, dtype=np.float32))


def test_integer_source_gives_none_with_warning():
    v = var(2.0)
    i = tg.tensor([1, 2, 3])
    assert i.dtype is tg.int64
    with tg.GradientTape() as tape:
        y = v * 3 + (i * 2).sum()
    with pytest.warns(Warning):
        gv, gi = tape.gradient(y, [v, i])
    close(gv, 3.0)
    assert gi is None


def test_integer_source_only_warns_and_gives_none():
    v = var(2.0)
    i = tg.tensor(4)
    with tg.GradientTape() as tape:
        y = v * 3
    with pytest.warns(Warning):
        g = tape.gradient(y, i)
    assert g is None


def test_intermediate_source():
    v0 = 1.25
    v = var(v0)
    with tg.GradientTape(persistent=True) as tape:
        h = v * 3
        y = h**2 + tg.sin(h)
    h0 = 3 * v0
    close(tape.gradient(y, h), 2 * h0 + np.cos(h0))
    gh, gv = tape.gradient(y, [h, v])
    close(gh, 2 * h0 + np.cos(h0))
    close(gv, 3 * (2 * h0 + np.cos(h0)))


def test_intermediate_source_partial_path():
    # y depends on v directly and through h; dy/dh counts only the path through h
    v = var(2.0)
    with tg.GradientTape() as tape:
        h = v * v
        y = h * v  # = v^3
    gh, gv = tape.gradient(y, [h, v])
    close(gh, 2.0)  # v
    close(gv, 12.0)  # 3 v^2


def test_ops_after_the_block_are_not_on_the_tape():
    v = var(2.0)
    with tg.GradientTape(persistent=True) as tape:
        y = v * 2
    z = y * 3  # outside the block
    w = v * 5  # outside the block
    close(tape.gradient(y, v), 2.0)
    assert tape.gradient(z, v) is None
    assert tape.gradient(w, v) is None
    assert tape.gradient([y, z], v) is not None
    close(tape.gradient([y, z], v), 2.0)  # only y's part counts


def test_ops_before_an_inner_block_are_not_on_the_inner_tape():
    v = var(2.0)
    with tg.GradientTape() as outer:
        y1 = v * 2
        with tg.GradientTape(persistent=True) as inner:
            y2 = y1 * 3
    assert inner.gradient(y2, v) is None
    close(inner.gradient(y2, y1, unconnected_gradients="zero"), 0.0)
    close(outer.gradient(y2, v), 6.0)


def test_stop_recording_excludes_ops():
    v = var(2.0)
    with tg.GradientTape(persistent=True) as tape:
        y = v * 2
        with tape.stop_recording():
            z = y * 3
            u = v * 7
        w = y + z
    close(tape.gradient(w, v), 2.0)  # z is a constant to the tape
    assert tape.gradient(z, v) is None
    assert tape.gradient(u, v) is None
    close(w, 4.0 + 12.0)


def test_stop_recording_resumes_after_block():
    v = var(2.0)
    with tg.GradientTape() as tape:
        with tape.stop_recording():
            a = v * 10
        b = v * v
    close(tape.gradient([a, b], v), 4.0)


def test_stop_recording_only_affects_its_tape():
    v = var(2.0)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            with inner.stop_recording():
                y = v * v
    assert inner.gradient(y, v) is None
    close(outer.gradient(y, v), 4.0)


def test_reset():
    v = var(2.0)
    with tg.GradientTape(persistent=True) as tape:
        y1 = v * 2
        tape.reset()
        y2 = v * v * v
    assert tape.gradient(y1, v) is None
    close(tape.gradient(y2, v), 12.0)


def test_reset_clears_watched():
    c = const(2.0)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(c)
        tape.reset()
        y = c * c
    assert tape.watched_variables() == ()
    assert tape.gradient(y, c) is None


def test_reset_non_persistent_tape_allows_another_gradient():
    # TensorFlow: reset() lets a tape record afresh, so gradient() may be called again.
    v = var(3.0)
    with tg.GradientTape() as tape:
        y = v * v
        close(tape.gradient(y, v), 6.0)
        tape.reset()
        z = v * v * v
    close(tape.gradient(z, v), 27.0)


def test_watched_variables():
    a, b = var(1.0), var(2.0)
    w = var(3.0, trainable=False)
    c = const(4.0)
    with tg.GradientTape() as tape:
        y = b * w
        tape.watch(c)
        z = a * y * c
    watched = tape.watched_variables()
    assert isinstance(watched, tuple)
    assert len(watched) == 3
    assert watched[0] is b and watched[1] is c and watched[2] is a  # order of first watch
    assert isinstance(watched[0], tg.Variable)
    assert all(p is q for p, q in zip(tape.watched_variables(), watched))
    del z


def test_watched_variables_no_duplicates_and_empty():
    a = var(1.0)
    with tg.GradientTape() as tape:
        pass
    assert tape.watched_variables() == ()
    with tg.GradientTape() as tape:
        tape.watch(a)
        a * a
        a + a
        tape.watch(a)
    assert len(tape.watched_variables()) == 1 and tape.watched_variables()[0] is a


def test_watched_variables_feed_a_training_step():
    # the TF idiom: grads = tape.gradient(loss, tape.watched_variables()); v.assign_sub(...)
    w, b = var(np.array([1.0, -1.0])), var(0.5)
    x = const([2.0, 3.0])
    with tg.GradientTape() as tape:
        loss = ((w * x).sum() + b) ** 2
    vs = tape.watched_variables()
    grads = tape.gradient(loss, list(vs))
    r = (1.0 * 2 - 3.0) + 0.5
    for v, g in zip(vs, grads):
        v.assign_sub(0.1 * g)
    np.testing.assert_allclose(w.numpy(), [1.0, -1.0] - 0.1 * 2 * r * np.array([2.0, 3.0]), **TOL)
    np.testing.assert_allclose(b.numpy(), 0.5 - 0.1 * 2 * r, **TOL)


def test_non_persistent_second_gradient_raises():
    v = var(2.0)
    with tg.GradientTape() as tape:
        y = v * v
    close(tape.gradient(y, v), 4.0)
    with pytest.raises(RuntimeError) as ei:
        tape.gradient(y, v)
    msg = str(ei.value).lower()
    assert "non-persistent" in msg
    assert "one set of gradients" in msg


def test_non_persistent_second_call_raises_even_for_other_sources():
    v, u = var(2.0), var(3.0)
    with tg.GradientTape() as tape:
        y = v * u
    tape.gradient(y, v)
    with pytest.raises(RuntimeError, match="(?i)non-persistent"):
        tape.gradient(y, u)
    with pytest.raises(RuntimeError, match="(?i)non-persistent"):
        tape.jacobian(y, u)


def test_non_persistent_gradient_with_integer_source_uses_up_tape():
    v = var(2.0)
    with tg.GradientTape() as tape:
        y = v * v
    with pytest.warns(Warning):
        tape.gradient(y, tg.tensor(1))
    with pytest.raises(RuntimeError, match="(?i)non-persistent"):
        tape.gradient(y, v)


def test_persistent_tape_many_calls():
    x0 = np.array([0.3, -0.8])
    x = var(x0)
    with tg.GradientTape(persistent=True) as tape:
        y = (tg.exp(x) * x).sum()
    for _ in range(4):
        close(tape.gradient(y, x), np.exp(x0) * (1 + x0))
    J = tape.jacobian(y, x)
    close(J, np.exp(x0) * (1 + x0))


# ------------------------------------------------------------------------------ jacobian

def test_jacobian_vector_to_vector_vs_fd():
    x0 = np.array([0.4, -1.1, 2.2])

    def f(x):
        return tg.stack([x[0] * x[1], tg.sin(x[0]), x[2] ** 2 * x[1], tg.exp(x[2] * 0.3)], 0)

    x = var(x0)
    with tg.GradientTape() as tape:
        y = f(x)
    J = tape.jacobian(y, x)
    assert J.shape == (4, 3)
    expected = np.array([
        [x0[1], x0[0], 0.0],
        [np.cos(x0[0]), 0.0, 0.0],
        [0.0, x0[2] ** 2, 2 * x0[2] * x0[1]],
        [0.0, 0.0, 0.3 * np.exp(0.3 * x0[2])],
    ])
    close(J, expected)
    close(J, fd_jacobian(tg_fn(f), x0), **FD_TOL)


def test_jacobian_matrix_to_matrix_vs_fd():
    X0 = rng(4).normal(size=(2, 3))
    A0 = rng(5).normal(size=(3, 4))

    def f(X):
        return tg.tanh(X @ tg.tensor(A0, dtype=F64)) * X.sum()

    X = const(X0)
    with tg.GradientTape() as tape:
        tape.watch(X)
        Y = f(X)
    J = tape.jacobian(Y, X)
    assert J.shape == (2, 4, 2, 3)
    close(J, fd_jacobian(tg_fn(f), X0), **FD_TOL)


def test_jacobian_of_matrix_weight():
    # y = tanh(W x): J[i, j, k] = (1 - y_i^2) delta_ij x_k
    W0 = rng(6).normal(size=(2, 3))
    x0 = rng(7).normal(size=(3,))
    W = var(W0)
    with tg.GradientTape() as tape:
        y = tg.tanh(W @ const(x0))
    J = tape.jacobian(y, W)
    y0 = np.tanh(W0 @ x0)
    expected = np.einsum("i,ij,k->ijk", 1 - y0**2, np.eye(2), x0)
    close(J, expected)


def test_jacobian_scalar_target_and_scalar_source():
    x0 = np.array([1.0, 2.0, 3.0])
    x = var(x0)
    s = var(0.5)
    with tg.GradientTape(persistent=True) as tape:
        y = (x**2).sum()  # scalar target
        z = x * s  # vector target, scalar source
        w = y * s  # scalar target, scalar source
    close(tape.jacobian(y, x), 2 * x0)
    close(tape.jacobian(z, s), x0)
    close(tape.jacobian(w, s), (x0**2).sum())


def test_jacobian_unconnected():
    x = var(np.array([1.0, 2.0]))
    u = var(np.array([3.0, 4.0, 5.0]))
    with tg.GradientTape(persistent=True) as tape:
        y = x * 2
        u * 1
    assert tape.jacobian(y, u) is None
    close(tape.jacobian(y, u, unconnected_gradients="zero"), np.zeros((2, 3)))


def test_jacobian_on_non_persistent_tape_once():
    x0 = np.array([0.5, 1.5])
    x = var(x0)
    with tg.GradientTape() as tape:
        y = x**3
    close(tape.jacobian(y, x), np.diag(3 * x0**2))
    with pytest.raises(RuntimeError, match="(?i)non-persistent"):
        tape.jacobian(y, x)


def test_jacobian_of_gradient_is_hessian():
    x0 = np.array([0.5, -1.0, 1.5])

    def f(x):
        return (tg.sin(x) * x[[1, 2, 0]]).sum() + (x**3).sum()

    x = var(x0)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = f(x)
        g = inner.gradient(y, x)
    H = outer.jacobian(g, x)
    assert H.shape == (3, 3)
    grad_np = fd_jacobian(tg_fn(f), x0)
    close(g, grad_np, **FD_TOL)
    H_fd = fd_jacobian(lambda a: fd_jacobian(tg_fn(f), a, eps=1e-5), x0, eps=1e-5)
    close(H, H_fd, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(H.numpy(), H.numpy().T, **TOL)


# ------------------------------------------------------------------------ batch_jacobian

def _batch_fn(W0):
    W = tg.tensor(W0, dtype=F64)

    def f(x):  # x (..., 3) -> (..., 2), row b depends on x[b] only
        return tg.tanh(x @ W) * (x**2).sum(-1, keepdims=True)
    return f


def test_batch_jacobian_against_per_example_jacobians():
    B = 4
    X0 = rng(8).normal(size=(B, 3))
    W0 = rng(9).normal(size=(3, 2))
    f = _batch_fn(W0)
    X = const(X0)
    with tg.GradientTape() as tape:
        tape.watch(X)
        Y = f(X)
    BJ = tape.batch_jacobian(Y, X)
    assert BJ.shape == (B, 2, 3)
    for b in range(B):
        xb = const(X0[b])
        with tg.GradientTape() as tb:
            tb.watch(xb)
            yb = f(xb)
        Jb = tb.jacobian(yb, xb)
        assert Jb.shape == (2, 3)
        close(BJ[b], Jb.numpy())
        close(Jb, fd_jacobian(tg_fn(f), X0[b]), **FD_TOL)


def test_batch_jacobian_equals_diagonal_blocks_of_full_jacobian():
    B = 3
    X0 = rng(10).normal(size=(B, 3))
    f = _batch_fn(rng(11).normal(size=(3, 2)))
    X = var(X0)
    with tg.GradientTape(persistent=True) as tape:
        Y = f(X)
    full = tape.jacobian(Y, X).numpy()  # (B, 2, B, 3)
    BJ = tape.batch_jacobian(Y, X)
    close(BJ, np.stack([full[b, :, b, :] for b in range(B)]))


def test_batch_jacobian_vector_target_and_matrix_source():
    B = 3
    X0 = rng(12).normal(size=(B, 2, 2))

    def f(x):  # (B, 2, 2) -> (B,)
        return (x**3).sum((1, 2)) + x[:, 0, 1] * x[:, 1, 0]

    X = var(X0)
    with tg.GradientTape() as tape:
        Y = f(X)
    BJ = tape.batch_jacobian(Y, X)
    assert BJ.shape == (B, 2, 2)
    expected = 3 * X0**2
    expected[:, 0, 1] += X0[:, 1, 0]
    expected[:, 1, 0] += X0[:, 0, 1]
    close(BJ, expected)


# ------------------------------------------------------------------------- stop_gradient

def test_stop_gradient_in_tape():
    v = var(3.0)
    with tg.GradientTape() as tape:
        s = tg.stop_gradient(v)
        y = v * s
    close(s, 3.0)
    close(y, 9.0)
    close(tape.gradient(y, v), 3.0)  # not 2v


def test_stop_gradient_of_intermediate_and_vector():
    x0 = np.array([1.0, 2.0])
    x = var(x0)
    with tg.GradientTape(persistent=True) as tape:
        h = x**2
        y = (h * tg.stop_gradient(h)).sum()
    close(tape.gradient(y, x), 2 * x0 * x0**2)
    assert tape.gradient(tg.stop_gradient(h), x) is None


def test_stop_gradient_autograd_idiom():
    x = tg.tensor(3.0, dtype=F64, requires_grad=True)
    y = x * tg.stop_gradient(x)
    y.backward()
    close(x.grad, 3.0)


# ------------------------------------------------------------------ custom_gradient (§4)

def test_custom_gradient_decorator():
    # TensorFlow's tf.custom_gradient: f returns (y, grad_fn); grad_fn(upstream) gives
    # the gradient for the input. Here a deliberately "wrong" gradient (5 * upstream)
    # proves the custom function is used.
    @tg.custom_gradient
    def f(x):
        y = x * x

        def grad_fn(upstream):
            return upstream * 5.0
        return y, grad_fn

    v = var(np.array([1.0, 2.0]))
    with tg.GradientTape() as tape:
        y = f(v)
    close(y, [1.0, 4.0])
    close(tape.gradient(y, v, output_gradients=const([1.0, 3.0])), [5.0, 15.0])


# ---------------------------------------------------------------------- two tapes at once

def test_two_tapes_watch_different_tensors():
    a, b = const(2.0), const(5.0)
    with tg.GradientTape(persistent=True) as A:
        A.watch(a)
        with tg.GradientTape(persistent=True) as B:
            B.watch(b)
            y = a * b
    assert A.gradient(y, b) is None
    assert B.gradient(y, a) is None
    close(A.gradient(y, a), 5.0)
    close(B.gradient(y, b), 2.0)
    assert len(A.watched_variables()) == 1 and A.watched_variables()[0] is a
    assert len(B.watched_variables()) == 1 and B.watched_variables()[0] is b


def test_two_tapes_record_different_graphs():
    a, b = const(2.0), const(5.0)
    with tg.GradientTape(persistent=True) as A:
        A.watch(a)
        with tg.GradientTape(persistent=True) as B:
            B.watch(b)
            p = a * a  # only on A
            q = b * b  # only on B
            y = p * q  # on both
    close(A.gradient(y, a), 2 * 2.0 * 25.0)
    close(B.gradient(y, b), 2 * 5.0 * 4.0)
    assert A.gradient(q, b) is None and A.gradient(q, a) is None
    assert B.gradient(p, a) is None and B.gradient(p, b) is None
    close(A.gradient(y, p), 25.0)
    assert B.gradient(y, p) is None  # p is not on B
    close(B.gradient(y, q), 4.0)
    assert A.gradient(y, q) is None  # q is not on A


def test_two_tapes_both_see_an_accessed_variable():
    v = var(3.0)
    with tg.GradientTape() as A:
        with tg.GradientTape() as B:
            y = v * v
    close(B.gradient(y, v), 6.0)
    close(A.gradient(y, v), 6.0)


def test_interleaved_tapes_not_nested():
    # enter A, enter B, exit A, keep recording on B only, exit B
    v = var(2.0)
    A, B = tg.GradientTape(persistent=True), tg.GradientTape(persistent=True)
    A.__enter__()
    y1 = v * 3
    B.__enter__()
    y2 = v * v
    A.__exit__(None, None, None)
    y3 = v * v * v
    B.__exit__(None, None, None)
    close(A.gradient(y1, v), 3.0)
    close(A.gradient(y2, v), 4.0)
    assert A.gradient(y3, v) is None
    assert B.gradient(y1, v) is None
    close(B.gradient(y2, v), 4.0)
    close(B.gradient(y3, v), 12.0)


# ---------------------------------------------------------------------------- coexistence

def test_tape_never_writes_grad():
    v = var(np.array([1.0, 2.0]))
    x = tg.tensor([3.0, 4.0], dtype=F64, requires_grad=True)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = (v * x).sum()
    gv, gx = tape.gradient(y, [v, x])
    close(gv, [3.0, 4.0])
    close(gx, [1.0, 2.0])
    assert v.grad is None
    assert x.grad is None
    tape.jacobian(v * x, x)
    assert x.grad is None and v.grad is None


def test_requires_grad_tensor_in_tape_then_backward_non_persistent():
    # SPEC §4: a tensor that requires_grad used inside a tape still supports .backward()
    x = tg.tensor(2.0, dtype=F64, requires_grad=True)
    v = var(3.0)
    with tg.GradientTape() as tape:
        y = x**2 * v
    close(tape.gradient(y, v), 4.0)
    assert x.grad is None
    y.backward()
    close(x.grad, 2 * 2.0 * 3.0)
    assert v.grad is None  # a Variable does not require grad in the autograd sense


def test_watched_requires_grad_tensor_then_backward_non_persistent():
    x = tg.tensor(2.0, dtype=F64, requires_grad=True)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x**3
    close(tape.gradient(y, x), 12.0)
    assert x.grad is None
    y.backward()
    close(x.grad, 12.0)


def test_requires_grad_tensor_in_persistent_tape_then_backward():
    x = tg.tensor(2.0, dtype=F64, requires_grad=True)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x**3
    close(tape.gradient(y, x), 12.0)
    close(tape.gradient(y, x), 12.0)
    assert x.grad is None
    y.backward()
    close(x.grad, 12.0)


def test_requires_grad_tensor_unwatched_in_tape():
    x = tg.tensor(2.0, dtype=F64, requires_grad=True)
    with tg.GradientTape() as tape:
        y = x**3
    assert tape.gradient(y, x) is None  # not watched: not on the tape (TensorFlow)
    assert x.grad is None
    y.backward()
    close(x.grad, 12.0)


def test_tape_gradient_is_plain_tensor():
    v = var(np.array([1.0, 2.0]))
    with tg.GradientTape() as tape:
        y = (v**3).sum()
    g = tape.gradient(y, v)
    close(g, 3 * np.array([1.0, 2.0]) ** 2)
    assert not isinstance(g, tg.Variable)
    assert g.grad_fn is None
    assert not g.requires_grad
    assert g.is_leaf


def test_tape_gradient_has_history_under_outer_tape():
    v = var(2.0)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = v**3
        g = inner.gradient(y, v)
        assert g.grad_fn is not None
    close(outer.gradient(g, v), 12.0)
    # outside any tape, under a stopped outer tape: plain again
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = v**3
        with outer.stop_recording():
            g = inner.gradient(y, v)
    assert g.grad_fn is None
    assert outer.gradient(g, v) is None


def test_autograd_ops_outside_tape_are_untouched_by_variables():
    # a Variable does not require grad: outside a tape, ops on it record nothing
    v = var(2.0)
    y = v * v
    assert y.grad_fn is None and not y.requires_grad


# -------------------------------------------------------------------------------- threads

def test_active_tape_is_thread_local():
    v = var(2.0)
    out = {}

    def worker():
        out["z"] = v * 5
        out["grad_fn"] = out["z"].grad_fn

    with tg.GradientTape(persistent=True) as tape:
        y = v * v
        th = threading.Thread(target=worker)
        th.start()
        th.join()
    assert out["grad_fn"] is None
    assert tape.gradient(out["z"], v) is None
    close(tape.gradient(y, v), 4.0)


def test_tapes_in_two_threads_concurrently():
    errors = []
    results = {}
    barrier = threading.Barrier(2)

    def worker(k):
        try:
            x0 = float(k + 1)
            x = var(x0)
            for it in range(200):
                with tg.GradientTape() as tape:
                    if it == 0:
                        barrier.wait()
                    y = x**3 * (k + 1)
                g = tape.gradient(y, x)
                np.testing.assert_allclose(g.numpy(), 3 * x0**2 * (k + 1), **TOL)
            results[k] = tape.watched_variables()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ths = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert not errors, errors
    assert len(results[0]) == 1 and len(results[1]) == 1
    assert results[0][0] is not results[1][0]


def test_tape_in_other_thread_does_not_see_main_thread_tape():
    v = var(2.0)
    out = {}

    def worker():
        with tg.GradientTape() as t:
            z = v * 7
        out["g"] = t.gradient(z, v)

    with tg.GradientTape() as tape:
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        y = v * 3
    close(out["g"], 7.0)
    close(tape.gradient(y, v), 3.0)
    assert len(tape.watched_variables()) == 1


# --------------------------------------------------------------------------------- memory

def _graph_holding_array(tape_kwargs):
    """Record y = sum(v * c) where c shares memory with a NumPy array that nothing but
    the graph keeps alive; return (tape, y, v, weakref to the array)."""
    arr = np.linspace(0.5, 2.0, 1000)
    ref = weakref.ref(arr)
    c = tg.from_numpy(arr)
    v = var(np.ones(1000))
    with tg.GradientTape(**tape_kwargs) as tape:
        y = (v * c).sum()
    del c, arr
    return tape, y, v, ref


def test_non_persistent_tape_frees_graph_after_gradient():
    tape, y, v, ref = _graph_holding_array({})
    assert ref() is not None, "the recorded graph should hold the saved tensor until gradient()"
    g = tape.gradient(y, v)
    close(g, np.linspace(0.5, 2.0, 1000))
    del y
    # by reference counting: the tape dropped its graph at gradient(), y was the last holder
    assert ref() is None, "graph still alive after a non-persistent gradient() and del target (refcount)"
    gc.collect()
    assert ref() is None
    del tape


def test_non_persistent_tape_frees_graph_after_gradient_with_gc():
    tape, y, v, ref = _graph_holding_array({})
    tape.gradient(y, v)
    del y
    gc.collect()
    assert ref() is None
    assert tape is not None  # the tape is still alive: it must not be what holds the graph


def test_persistent_tape_frees_graph_on_delete():
    tape, y, v, ref = _graph_holding_array({"persistent": True})
    tape.gradient(y, v)
    close(tape.gradient(y, v), np.linspace(0.5, 2.0, 1000))
    del y
    gc.collect()
    assert ref() is not None, "a persistent tape must keep its graph until deleted"
    del tape
    assert ref() is None, "graph still alive after del persistent tape (refcount)"
    gc.collect()
    assert ref() is None


def test_tape_graph_with_intermediate_only_held_by_tape():
    # an intermediate that only the tape's graph holds (its Python tensor is gone)
    arr = np.linspace(1.0, 2.0, 500)
    ref = weakref.ref(arr)
    v = var(np.ones(500))
    with tg.GradientTape(persistent=True) as tape:
        h = v * tg.from_numpy(arr)
        y = (h * h).sum()
    del h, arr
    g1 = tape.gradient(y, v)
    close(g1, 2 * np.linspace(1.0, 2.0, 500) ** 2)
    del y, g1
    gc.collect()
    assert ref() is not None
    del tape
    gc.collect()
    assert ref() is None


def test_non_persistent_tape_frees_reset_graph():
    arr = np.linspace(1.0, 2.0, 100)
    ref = weakref.ref(arr)
    v = var(np.ones(100))
    with tg.GradientTape() as tape:
        y = (v * tg.from_numpy(arr)).sum()
        del arr
        tape.reset()
        z = (v * 2).sum()
    del y
    gc.collect()
    assert ref() is None, "reset() should drop the tape's hold on what it recorded"
    close(tape.gradient(z, v), np.full(100, 2.0))


# ----------------------------------------------------------------- clipping inside a loop

def test_clip_by_global_norm_training_loop():
    r = rng(20)
    N = 16
    X0 = r.normal(size=(N, 3))
    Y0 = X0 @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * r.normal(size=(N, 1))
    W0 = np.zeros((3, 1))
    b0 = np.zeros((1,))
    lr, clip_norm, steps = 0.2, 1.0, 30

    W, b = var(W0.copy()), var(b0.copy())
    X, Y = const(X0), const(Y0)
    clipped_steps = unclipped_steps = 0
    for _ in range(steps):
        with tg.GradientTape() as tape:
            res = X @ W + b - Y
            loss = (res * res).mean()
        grads = tape.gradient(loss, [W, b])
        global_norm = float(np.sqrt(sum(float((g * g).sum().item()) for g in grads)))
        scale = clip_norm / max(global_norm, clip_norm)
        clipped = [g * scale for g in grads]
        clipped_norm = float(np.sqrt(sum(float((g * g).sum().item()) for g in clipped)))
        assert clipped_norm <= clip_norm * (1 + 1e-12)
        if global_norm > clip_norm:
            clipped_steps += 1
            np.testing.assert_allclose(clipped_norm, clip_norm, rtol=1e-12)
        else:
            unclipped_steps += 1
        with tg.no_grad():
            for p, g in zip([W, b], clipped):
                p.assign_sub(lr * g)
        assert W.grad is None and b.grad is None
        assert isinstance(W, tg.Variable) and W.is_leaf

    # NumPy reference with the closed-form gradients
    Wn, bn = W0.copy(), b0.copy()
    for _ in range(steps):
        res = X0 @ Wn + bn - Y0
        gW = 2.0 / N * X0.T @ res
        gb = 2.0 / N * res.sum(0)
        gn = np.sqrt((gW**2).sum() + (gb**2).sum())
        s = clip_norm / max(gn, clip_norm)
        Wn -= lr * s * gW
        bn -= lr * s * gb
    assert clipped_steps > 0 and unclipped_steps > 0, (clipped_steps, unclipped_steps)
    np.testing.assert_allclose(W.numpy(), Wn, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(b.numpy(), bn, rtol=1e-11, atol=1e-12)


def test_no_warnings_in_plain_tape_use():
    v = var(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tg.GradientTape() as tape:
            y = v * v
        tape.gradient(y, v)
