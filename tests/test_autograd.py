"""SPEC §3, the autograd idiom: backward/.grad semantics, graph inspection, hooks, grad
mode, in-place safety, long chains, memory, tg.Function, gradcheck and
tg.autograd.functional."""
import gc
import threading
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import GradcheckError, functional as AF

F64 = tg.float64


def t64(v, requires_grad=True):
    a = np.asarray(v, dtype=np.float64)
    t = tg.tensor(float(a), dtype=F64) if a.ndim == 0 else tg.tensor(a, dtype=F64)
    return t.requires_grad_(requires_grad)


def val(t):
    return np.array(t.detach().numpy(), copy=True)


def close(t, expected, rtol=1e-12, atol=1e-12):
    assert isinstance(t, tg.Tensor), f"expected a Tensor, got {type(t).__name__}"
    np.testing.assert_allclose(val(t), np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol)


@pytest.fixture
def no_gc():
    """Memory must be returned by reference counting alone (SPEC §7)."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


# ---------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------

def test_polynomial_closed_form():
    x = tg.tensor(3.0, requires_grad=True)
    y = x ** 2 + 2 * x + 1
    y.backward()
    assert x.grad.shape == () and x.grad.dtype is tg.float32
    assert x.grad.item() == pytest.approx(8.0)
    assert y.item() == pytest.approx(16.0)


def test_spec_example():
    x = tg.tensor(2.0, requires_grad=True)
    (x ** 2 + 3 * x).backward()
    assert x.grad.item() == pytest.approx(7.0)


def test_two_variable_partials():
    x, y = t64(1.5), t64(-2.0)
    f = x ** 2 * y + x * y ** 2 + x + y
    f.backward()
    close(x.grad, 2 * 1.5 * -2.0 + 4.0 + 1)
    close(y.grad, 1.5 ** 2 + 2 * 1.5 * -2.0 + 1)


def test_chain_rule_with_retain_grad_on_intermediate():
    x = t64([0.3, -1.2, 2.0])
    u = x ** 2
    u.retain_grad()
    y = tg.sin(u)
    y.backward(t64([1.0, 2.0, 3.0], requires_grad=False))
    a = np.array([0.3, -1.2, 2.0])
    w = np.array([1.0, 2.0, 3.0])
    close(u.grad, w * np.cos(a ** 2))
    close(x.grad, w * np.cos(a ** 2) * 2 * a)
    assert y.grad is None  # a non-leaf without retain_grad keeps no grad
    assert not u.is_leaf and x.is_leaf


def test_retain_grad_accumulates_and_leaf_noop():
    x = t64([1.0, 2.0])
    u = x * 3.0
    u.retain_grad()
    u.sum().backward(retain_graph=True)
    u.sum().backward()
    close(u.grad, [2.0, 2.0])
    x.retain_grad()  # a no-op on a leaf
    close(x.grad, [6.0, 6.0])


# ---------------------------------------------------------------------------------------
# .grad accumulation, grad_fn, next_functions
# ---------------------------------------------------------------------------------------

def test_grad_accumulates_until_zeroed():
    x = t64([1.0, -2.0])
    for k in range(1, 4):
        (x * x).sum().backward()
        close(x.grad, k * 2 * np.array([1.0, -2.0]))
    x.grad = None
    (x * 5.0).sum().backward()
    close(x.grad, [5.0, 5.0])
    # grad is settable to a tensor; accumulation continues from it
    x.grad = tg.zeros(2, dtype=F64)
    (x * 1.0).sum().backward()
    close(x.grad, [1.0, 1.0])


def test_grad_accumulation_visible_through_a_reference():
    x = t64([1.0, 2.0])
    x.sum().backward()
    g = x.grad
    x.sum().backward()
    close(x.grad, [2.0, 2.0])
    # PyTorch accumulates in place: an earlier reference sees the sum too
    close(g, [2.0, 2.0])


def test_grad_fn_names_and_leaves():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    assert x.grad_fn is None and x.is_leaf
    assert (x * y).grad_fn.name() == "MulBackward"
    assert (x * 2.0).grad_fn.name() == "MulBackward"
    assert (2.0 * x).grad_fn.name() == "MulBackward"
    assert (x + y).grad_fn.name() == "AddBackward"
    assert (x + 1.0).grad_fn.name() == "AddBackward"
    assert (x - y).grad_fn.name() == "SubBackward"
    assert (x / y).grad_fn.name() == "DivBackward"
    assert x.exp().grad_fn.name() == "ExpBackward"
    assert x.sum().grad_fn.name() == "SumBackward"
    for t in (x * y, x.sin(), x.sum(), x.reshape(2, 1), x @ y, x.reshape(1, 2) @ y.reshape(2, 1)):
        assert t.grad_fn.name().endswith("Backward")
        assert "Backward" in repr(t)
    # matmul's node is named after the product, also when an operand is 1-D (promoted)
    m = t64([[1.0, 2.0], [3.0, 4.0]])
    b = tg.tensor(np.ones((3, 2, 2)), dtype=F64, requires_grad=True)
    assert (m @ m).grad_fn.name() == "MmBackward"
    assert (m @ x).grad_fn.name() == "MvBackward" and (x @ m).grad_fn.name() == "MvBackward"
    assert (b @ x).grad_fn.name() == "MvBackward" and (x @ b).grad_fn.name() == "MvBackward"
    assert (x @ y).grad_fn.name() == "DotBackward"
    # nothing is recorded for tensors that do not require grad
    c = t64([1.0, 2.0], requires_grad=False)
    assert (c * 2.0).grad_fn is None and not (c * 2.0).requires_grad


def test_next_functions_walk_to_accumulate_grad():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    c = t64([1.0, 1.0], requires_grad=False)
    z = ((x * y) + c).sum()
    fn = z.grad_fn
    assert fn.name() == "SumBackward"
    (add_fn, _), = fn.next_functions
    assert add_fn.name() == "AddBackward"
    (mul_fn, _), (const, _) = add_fn.next_functions
    assert const is None  # c does not require grad
    assert mul_fn.name() == "MulBackward"
    names = [f.name() for f, _ in mul_fn.next_functions]
    assert names == ["AccumulateGrad", "AccumulateGrad"]
    # full walk of the graph reaches exactly the two leaves' accumulators
    seen, stack, accs = set(), [z.grad_fn], 0
    while stack:
        f = stack.pop()
        for nxt, _ in f.next_functions:
            if nxt is not None and id(nxt) not in seen:
                seen.add(id(nxt))
                accs += nxt.name() == "AccumulateGrad"
                stack.append(nxt)
    assert accs == 2


def test_multi_output_next_functions_input_nr():
    x = t64([1.0, 2.0, 3.0, 4.0])
    a, b = tg.split(x, [1, 3])
    z = a.sum() + b.sum() * 2.0
    z.backward()
    close(x.grad, [1.0, 2.0, 2.0, 2.0])


# ---------------------------------------------------------------------------------------
# backward() and tg.grad() arguments and errors
# ---------------------------------------------------------------------------------------

def test_non_scalar_backward_needs_gradient():
    x = t64([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    y.backward(t64([1.0, -1.0], requires_grad=False))
    close(x.grad, [2.0, -2.0])
    # a one-element non-0-d output is fine
    z = t64([3.0])
    (z * z).backward()
    close(z.grad, [6.0])


def test_backward_gradient_shape_checked():
    x = t64([1.0, 2.0])
    with pytest.raises((ValueError, RuntimeError)):
        (x * 2.0).backward(t64([1.0, 2.0, 3.0], requires_grad=False))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        t64([1.0], requires_grad=False).sum().backward()


def test_second_backward_through_freed_graph_raises():
    x = t64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = t64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    a = np.array([1.0, 2.0])
    close(x.grad, 2 * np.exp(a) * (a + 1))


def test_backward_inputs_restricts_accumulation():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    u = x * 3.0
    z = (u * y).sum()
    z.backward(inputs=[x], retain_graph=True)
    close(x.grad, [9.0, 12.0])
    assert y.grad is None
    z.backward(inputs=y)
    close(y.grad, [3.0, 6.0])
    close(x.grad, [9.0, 12.0])


def test_tg_grad_returns_tuple_and_leaves_dot_grad_alone():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    z = (x * y).sum()
    gx, gy = tg.grad(z, [x, y])
    close(gx, [3.0, 4.0])
    close(gy, [1.0, 2.0])
    assert x.grad is None and y.grad is None
    r = tg.grad((x * x).sum(), x)
    assert isinstance(r, tuple) and len(r) == 1
    close(r[0], [2.0, 4.0])
    # grad_outputs and several outputs (their contributions add)
    (g,) = tg.grad([x * 2.0, x * x], [x], grad_outputs=[t64([1.0, 1.0], False), t64([1.0, 0.5], False)])
    close(g, [2.0 + 2.0, 2.0 + 2.0])


def test_tg_grad_allow_unused():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    z = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.grad(z, [x, y], retain_graph=True)
    gx, gy = tg.grad(z, [x, y], allow_unused=True)
    close(gx, [2.0, 2.0])
    assert gy is None


def test_tg_grad_retain_graph_default_frees():
    x = t64([1.0, 2.0])
    z = (x.sin() * x).sum()
    tg.grad(z, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        tg.grad(z, x)


def test_tg_grad_with_respect_to_intermediate():
    x = t64([1.0, 2.0])
    u = x * x
    z = (u.sin()).sum()
    (gu,) = tg.grad(z, u)
    close(gu, np.cos([1.0, 4.0]))


# ---------------------------------------------------------------------------------------
# higher order
# ---------------------------------------------------------------------------------------

def test_third_derivative_of_x4():
    x = t64(1.5)
    y = x ** 4
    (g1,) = tg.grad(y, x, create_graph=True)
    close(g1, 4 * 1.5 ** 3)
    (g2,) = tg.grad(g1, x, create_graph=True)
    close(g2, 12 * 1.5 ** 2)
    (g3,) = tg.grad(g2, x)
    close(g3, 24 * 1.5)


def test_create_graph_backward_then_grad_of_grad():
    x = t64([0.5, 1.0])
    y = (x ** 3).sum()
    y.backward(create_graph=True)
    assert x.grad.requires_grad
    gsum = x.grad.sum()
    x.grad = None
    gsum.backward()
    close(x.grad, 6 * np.array([0.5, 1.0]))


def test_higher_order_through_ops_that_save_their_output():
    # d2/dx2 exp(x) = exp(x), d2/dx2 tanh = -2 tanh (1 - tanh^2), seeded with ones
    a = np.array([0.3, -0.7])
    x = t64(a)
    (g,) = tg.grad(x.exp().sum(), x, create_graph=True)
    (h,) = tg.grad(g.sum(), x)
    close(h, np.exp(a))
    x = t64(a)
    (g,) = tg.grad(x.tanh().sum(), x, create_graph=True)
    (h,) = tg.grad(g.sum(), x)
    close(h, -2 * np.tanh(a) * (1 - np.tanh(a) ** 2))


# ---------------------------------------------------------------------------------------
# hooks, detach
# ---------------------------------------------------------------------------------------

def test_register_hook_modifies_grad_and_remove():
    x = t64([1.0, 2.0])
    seen = []

    def hook(g):
        seen.append(val(g))
        return g * 10.0

    h = x.register_hook(hook)
    (x * 3.0).sum().backward()
    close(x.grad, [30.0, 30.0])
    np.testing.assert_allclose(seen[0], [3.0, 3.0])
    h.remove()
    x.grad = None
    (x * 3.0).sum().backward()
    close(x.grad, [3.0, 3.0])
    assert len(seen) == 1


def test_hook_on_intermediate_changes_upstream_gradient():
    x = t64([1.0, 2.0])
    u = x * 2.0
    u.register_hook(lambda g: g * 0.0 + 1.0)
    observed = []
    u.register_hook(lambda g: observed.append(val(g)))  # returning None keeps the gradient
    (u * u).sum().backward()
    close(x.grad, [2.0, 2.0])
    np.testing.assert_allclose(observed[0], [1.0, 1.0])


def test_hook_requires_grad():
    with pytest.raises(RuntimeError):
        t64([1.0], requires_grad=False).register_hook(lambda g: g)


def test_detach():
    x = t64([1.0, 2.0])
    u = x * 2.0
    d = u.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    np.testing.assert_array_equal(val(d), [2.0, 4.0])
    # shares memory with the original
    with tg.no_grad():
        d.add_(1.0)
    np.testing.assert_array_equal(val(u), [3.0, 5.0])
    # a detached branch contributes no gradient
    x2 = t64([1.0, 2.0])
    (x2 * x2.detach()).sum().backward()
    close(x2.grad, [1.0, 2.0])
    assert tg.detach(x2).grad_fn is None


# ---------------------------------------------------------------------------------------
# grad mode
# ---------------------------------------------------------------------------------------

def test_no_grad_context_and_decorator():
    x = t64([1.0])
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2.0
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            z = x * 2.0
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @tg.no_grad()
    def f(t):
        assert not tg.is_grad_enabled()
        return t * 3.0

    @tg.enable_grad()
    def g(t):
        return t * 3.0

    assert not f(x).requires_grad
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert g(x).requires_grad
        assert not tg.is_grad_enabled()


def test_set_grad_enabled():
    x = t64([1.0])
    with tg.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
        with tg.set_grad_enabled(True):
            assert (x * 2.0).requires_grad
    assert tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    try:
        assert not tg.is_grad_enabled()
        assert not (x * 2.0).requires_grad
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()

    @tg.set_grad_enabled(False)
    def f():
        return tg.is_grad_enabled()

    assert f() is False and tg.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError("boom")
    assert tg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    x = t64([1.0, 2.0])
    in_thread = {}
    entered, release = threading.Event(), threading.Event()

    def worker():
        with tg.no_grad():
            in_thread["enabled"] = tg.is_grad_enabled()
            in_thread["rg"] = (x * 2.0).requires_grad
            entered.set()
            release.wait(10)

    th = threading.Thread(target=worker)
    th.start()
    assert entered.wait(10)
    try:
        assert tg.is_grad_enabled()  # the other thread's no_grad does not leak here
        assert (x * 2.0).requires_grad
    finally:
        release.set()
        th.join()
    assert in_thread == {"enabled": False, "rg": False}
    # and a new thread starts with grad enabled even if this one turned it off
    out = {}
    with tg.no_grad():
        th = threading.Thread(target=lambda: out.setdefault("e", tg.is_grad_enabled()))
        th.start()
        th.join()
    assert out["e"] is True


def test_backward_runs_ops_in_reverse_recording_order():
    # PyTorch's order: the newest recorded op first, each op once all its consumers ran.
    # Here b is recorded before a2, so a stack walking the sum's inputs in edge order would
    # reach b before a2.
    x = t64([1.0, 2.0])
    fired = []
    a = x * 2.0
    b = x * 3.0
    a2 = a * 1.5
    for name, t in (("a", a), ("b", b), ("a2", a2)):
        t.register_hook(lambda g, name=name: fired.append(name))
    (a2 + b).sum().backward()
    assert fired == ["a2", "b", "a"]
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_graph_recorded_across_threads_backpropagates_every_branch():
    # The engine runs nodes in decreasing sequence number, counted per thread: a branch
    # recorded on a fresh thread must still run before the producer it consumes.
    x0 = np.array([0.1, 0.7, -0.4])
    x = t64(x0)
    w = x
    for _ in range(1000):  # this thread's numbers run ahead of a new thread's
        w = w * 1.0
    a = x * 3.0
    branch = {}
    th = threading.Thread(target=lambda: branch.setdefault("b", tg.sin(a)))
    th.start()
    th.join()
    (branch["b"] + tg.exp(a)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * (np.cos(3 * x0) + np.exp(3 * x0)), rtol=1e-13)


# ---------------------------------------------------------------------------------------
# in place and version counters
# ---------------------------------------------------------------------------------------

def test_inplace_on_leaf_requiring_grad_raises():
    x = t64([1.0, 2.0])
    for op in (lambda: x.add_(1.0), lambda: x.mul_(2.0), lambda: x.zero_(), lambda: x.fill_(3.0),
               lambda: x.copy_(t64([0.0, 0.0], False)), lambda: x.clamp_(0.0, 1.0)):
        with pytest.raises(RuntimeError):
            op()
    with pytest.raises(RuntimeError):
        x += 1.0
    np.testing.assert_array_equal(val(x), [1.0, 2.0])
    with tg.no_grad():  # allowed outside recording (an optimizer step)
        x.sub_(t64([0.5, 0.5], False))
    np.testing.assert_array_equal(val(x), [0.5, 1.5])


def test_inplace_on_saved_tensor_makes_backward_raise_naming_the_op():
    x = t64([0.5, 1.0])
    a = x * 1
    b = a.sin()
    with tg.no_grad():
        a.add_(1)
    with pytest.raises(RuntimeError, match="SinBackward"):
        b.sum().backward()


def test_inplace_on_saved_input_of_mul_and_on_saved_output():
    x = t64([0.5, 1.0])
    c = tg.tensor(np.array([2.0, 3.0]), dtype=F64)
    y = (x * c).sum()
    c.mul_(2.0)  # c does not require grad: allowed, but MulBackward saved it
    with pytest.raises(RuntimeError, match="MulBackward"):
        y.backward()
    # an op that saves its output (exp), modified through a view
    x = t64([0.5, 1.0])
    e = x.exp()
    f = (e * 1.0).sum()  # e is also saved by ExpBackward
    with tg.no_grad():
        e[0:1].fill_(0.0)
    with pytest.raises(RuntimeError, match="modified by an inplace|in-place|inplace"):
        f.backward()


def test_inplace_on_unsaved_intermediate_is_fine():
    x = t64([0.5, 1.0])
    a = x * 2.0  # MulBackward by a scalar saves nothing about a
    b = a + 1.0  # AddBackward saves nothing
    with tg.no_grad():
        a.add_(100.0)
    b.sum().backward()
    close(x.grad, [2.0, 2.0])


# ---------------------------------------------------------------------------------------
# long chains and memory
# ---------------------------------------------------------------------------------------

def test_million_op_chain_backpropagates_without_recursion():
    x = t64(1.0)
    y = x
    n = 1_000_000
    for _ in range(n):
        y = y * 1.0000001
    y.backward()
    close(x.grad, 1.0000001 ** n, rtol=1e-9)
    del y  # tear-down of the (freed) chain must not recurse either
    z = x
    for _ in range(n):
        z = z * 1.0000001
    del z  # a never-backpropagated million-node graph is freed iteratively


def _probe():
    """A constant tensor sharing memory with a NumPy array we can weakly reference:
    the array lives exactly as long as something in tapegrad keeps the tensor's memory."""
    arr = np.arange(1.0, 4.0)
    t = tg.from_numpy(arr)
    return t, weakref.ref(arr)


def test_memory_returns_after_del_loss(no_gc):
    x = t64([1.0, 2.0, 3.0])
    c, arr_ref = _probe()
    h = x * c  # MulBackward saves c
    wt = weakref.ref(h)
    loss = (h.sin() * 2.0).sum()
    del c, h
    assert arr_ref() is not None, "the graph should still hold the saved constant"
    del loss
    assert wt() is None
    assert arr_ref() is None, "the graph (and the tensor it saved) was not freed when the loss was dropped"


def test_backward_frees_saved_values_even_if_loss_is_kept(no_gc):
    x = t64([1.0, 2.0, 3.0])
    c, arr_ref = _probe()
    loss = (x * c).sum()
    del c
    assert arr_ref() is not None
    loss.backward()
    assert arr_ref() is None, "backward without retain_graph did not free the saved tensor"
    close(x.grad, [1.0, 2.0, 3.0])


def test_retain_graph_keeps_saved_values_until_loss_dropped(no_gc):
    x = t64([1.0, 2.0, 3.0])
    c, arr_ref = _probe()
    loss = (x * c).sum()
    del c
    loss.backward(retain_graph=True)
    assert arr_ref() is not None
    del loss
    assert arr_ref() is None


def test_create_graph_grad_stored_in_leaf_is_freed(no_gc):
    x = t64([1.0, 2.0, 3.0])
    c, arr_ref = _probe()
    loss = (x * x * c).sum()
    del c
    loss.backward(create_graph=True)
    del loss
    assert x.grad.requires_grad
    x.grad = None  # the gradient's own graph (which saved c) goes with it
    assert arr_ref() is None


def test_tensor_weakref():
    x = t64([1.0])
    r = weakref.ref(x)
    assert r() is x
    del x
    assert r() is None


# ---------------------------------------------------------------------------------------
# tg.Function
# ---------------------------------------------------------------------------------------

class MyExp(tg.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)  # saves its own output
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class ScaledMul(tg.Function):
    """scale * a * b, with a non-tensor argument; saves its inputs (twice differentiable)."""

    @staticmethod
    def forward(ctx, a, scale, b):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        ctx.record_needs = ctx.needs_input_grad
        return a * b * scale

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = grad * a * ctx.scale if ctx.needs_input_grad[2] else None
        return ga, None, gb


class WrongBackward(tg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2.0 * x * x  # should be 3 x^2


def test_function_custom_exp():
    a = np.array([0.5, -1.0, 2.0])
    x = t64(a)
    y = MyExp.apply(x)
    assert y.grad_fn.name() == "MyExpBackward"
    assert y.grad_fn.next_functions[0][0].name() == "AccumulateGrad"
    close(y, np.exp(a))
    y.sum().backward()
    close(x.grad, np.exp(a))
    assert tg.gradcheck(MyExp.apply, (t64(a),))
    assert tg.gradcheck(lambda t: MyExp.apply(t * 2.0).sin(), t64([[0.1, 0.2], [0.3, 0.4]]))


def test_function_two_inputs_and_non_tensor_argument():
    a, b = t64([1.0, 2.0]), t64([3.0, -1.0])
    y = ScaledMul.apply(a, 2.5, b)
    assert y.grad_fn.name() == "ScaledMulBackward"
    y.sum().backward()
    close(a.grad, [7.5, -2.5])
    close(b.grad, [2.5, 5.0])
    assert tg.gradcheck(lambda p, q: ScaledMul.apply(p, 2.5, q), (t64([1.0, 2.0]), t64([3.0, -1.0])))
    assert tg.gradgradcheck(lambda p, q: ScaledMul.apply(p, 2.5, q), (t64([1.0, 2.0]), t64([3.0, -1.0])))
    # only one tensor requires grad: needs_input_grad tells backward to skip the other
    b2 = t64([3.0, -1.0], requires_grad=False)
    a2 = t64([1.0, 2.0])
    ScaledMul.apply(a2, 2.0, b2).sum().backward()
    close(a2.grad, [6.0, -2.0])
    assert b2.grad is None


def test_function_needs_input_grad_and_no_record():
    a, b = t64([1.0]), t64([2.0], requires_grad=False)
    seen = {}

    class Probe(tg.Function):
        @staticmethod
        def forward(ctx, p, q, k):
            seen["needs"] = ctx.needs_input_grad
            seen["mode"] = tg.is_grad_enabled()
            return p * q * k

        @staticmethod
        def backward(ctx, g):
            return g, None, None

    y = Probe.apply(a, b, 3)
    assert seen == {"needs": (True, False, False), "mode": False}
    assert y.requires_grad and y.grad_fn.name() == "ProbeBackward"
    # nothing requires grad, or grad mode off: nothing is recorded
    z = Probe.apply(b, b, 1)
    assert not z.requires_grad and z.grad_fn is None
    with tg.no_grad():
        w = Probe.apply(a, b, 1)
    assert not w.requires_grad and w.grad_fn is None


def test_function_under_gradient_tape():
    # a Variable watched by a tape does not "require grad", yet the Function must be
    # recorded and its backward must see needs_input_grad for it (SPEC §4: one engine)
    v = tg.Variable(np.array([1.0, 2.0]), dtype=F64)
    c = tg.tensor(np.array([3.0, -1.0]), dtype=F64)
    with tg.GradientTape() as tape:
        y = ScaledMul.apply(v, 2.0, c).sum()
    close(tape.gradient(y, v), [6.0, -2.0])
    w = tg.tensor(np.array([0.5, 1.5]), dtype=F64)
    with tg.GradientTape() as tape:
        tape.watch(w)
        z = MyExp.apply(w).sum()
    close(tape.gradient(z, w), np.exp([0.5, 1.5]))


def test_function_saved_tensor_modified_in_place_raises_naming_function():
    x = t64([1.0, 2.0])
    c = tg.tensor(np.array([3.0, 4.0]), dtype=F64)
    y = ScaledMul.apply(x, 1.0, c)
    c.add_(1.0)
    with pytest.raises(RuntimeError, match="ScaledMul"):
        y.sum().backward()


def test_function_second_backward_needs_retain_graph():
    x = t64([1.0, 2.0])
    y = MyExp.apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    x2 = t64([1.0, 2.0])
    y2 = MyExp.apply(x2).sum()
    y2.backward(retain_graph=True)
    y2.backward()
    close(x2.grad, 2 * np.exp([1.0, 2.0]))


def test_function_returning_its_input_keeps_the_input_history():
    class Ident(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2.0  # deliberately not 1, to see that this node is used

    x = t64([1.0, 2.0])
    y = Ident.apply(x)
    assert y is not x
    assert x.is_leaf and x.grad_fn is None
    assert y.grad_fn.name() == "IdentBackward"
    y.sum().backward()
    close(x.grad, [2.0, 2.0])
    # a non-leaf input keeps its own grad_fn too
    u = x * 3.0
    v = Ident.apply(u)
    assert u.grad_fn.name() == "MulBackward" and v.grad_fn.name() == "IdentBackward"


def test_function_multiple_outputs_and_non_tensor_output():
    class SinCos(tg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos(), "label"

        @staticmethod
        def backward(ctx, gs, gc, gl):
            assert gl is None
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    a = np.array([0.3, 1.1])
    x = t64(a)
    s, c, label = SinCos.apply(x)
    assert label == "label"
    assert s.grad_fn is not None and s.grad_fn.name() == "SinCosBackward"
    (s.sum() + 2.0 * c.sum()).backward()
    close(x.grad, np.cos(a) - 2 * np.sin(a))
    # only one output used: the other's gradient arrives as zeros
    x2 = t64(a)
    SinCos.apply(x2)[1].sum().backward()
    close(x2.grad, -np.sin(a))
    assert tg.gradcheck(lambda t: SinCos.apply(t)[:2], (t64(a),))
    assert tg.gradgradcheck(lambda t: SinCos.apply(t)[:2], (t64(a),))


def test_function_mark_non_differentiable_and_integer_outputs():
    class SortedWithIndex(tg.Function):
        @staticmethod
        def forward(ctx, x):
            idx = x.argmax()
            mask = (x > 0) * 1.0
            scaled = x * 2.0
            ctx.mark_non_differentiable(mask)
            return scaled, idx, mask

        @staticmethod
        def backward(ctx, g_scaled, g_idx, g_mask):
            return g_scaled * 2.0

    x = t64([1.0, -2.0, 3.0])
    s, i, m = SortedWithIndex.apply(x)
    assert s.requires_grad and not i.requires_grad
    assert i.dtype is tg.int64 and i.item() == 2
    assert not m.requires_grad and m.grad_fn is None  # marked non-differentiable
    (s.sum() * 3.0).backward()
    close(x.grad, [6.0, 6.0, 6.0])  # backward's rule (g * 2), not the forward's x * 2.0


def test_function_backward_errors():
    class TooMany(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadShape(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    x = t64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="TooMany"):
        TooMany.apply(x).sum().backward()
    with pytest.raises((ValueError, RuntimeError), match="BadShape"):
        BadShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError):
        MyExp()  # Functions are applied, not instantiated


def test_function_saved_output_is_differentiated_under_create_graph():
    # As PyTorch's SavedVariable: the saved output comes back as output 0 of the node.
    a = np.array([0.5, -1.0, 2.0])
    x = t64(a)
    (g1,) = tg.grad(MyExp.apply(x).sum(), x, create_graph=True)
    close(g1, np.exp(a))
    assert g1.requires_grad
    (g2,) = tg.grad(g1.sum(), x)
    close(g2, np.exp(a))
    assert tg.gradcheck(MyExp.apply, (t64(a),))
    assert tg.gradgradcheck(MyExp.apply, (t64(a),))


def test_function_saved_output_unpacked_with_its_node_and_output_nr():
    seen = []

    class ScaleAndExp(tg.Function):
        @staticmethod
        def forward(ctx, x):
            e = x.exp()
            ctx.save_for_backward(x, e)
            return x * 2.0, e

        @staticmethod
        def backward(ctx, g_scaled, g_exp):
            x, e = ctx.saved_tensors
            seen.append((tg.is_grad_enabled(), e.requires_grad, e.grad_fn and e.grad_fn.name(), e._output_nr(),
                         x.grad_fn))
            return g_scaled * 2.0 + g_exp * e

    a = np.array([0.3, 1.2])
    x = t64(a)
    s, e = ScaleAndExp.apply(x)
    (g1,) = tg.grad(s.sum() + e.sum(), x, create_graph=True)
    close(g1, 2.0 + np.exp(a))
    (g2,) = tg.grad(g1.sum(), x)
    close(g2, np.exp(a))
    # a backward that is not recorded gets the plain saved data
    x2 = t64(a)
    ScaleAndExp.apply(x2)[1].sum().backward()
    close(x2.grad, np.exp(a))
    # the recorded backward, then the same node's backward within g2's, then x2's
    plain = (False, False, None, 0)
    assert [(m, rg, name, nr) for m, rg, name, nr, _ in seen] == [(True, True, "ScaleAndExpBackward", 1),
                                                                  plain, plain]
    assert all(xg is None for *_, xg in seen)  # a saved input keeps its own (leaf) history
    assert tg.gradgradcheck(lambda t: ScaleAndExp.apply(t), (t64(a),))


def test_function_saved_output_double_backward_matches_torch():
    torch = pytest.importorskip("torch")

    class TorchExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    a = np.array([0.25, -0.5, 1.5])
    w = np.array([1.0, -2.0, 0.5])
    x = t64(a)
    (g,) = tg.grad((MyExp.apply(x * x) * tg.tensor(w, dtype=F64)).sum(), x, create_graph=True)
    (g * g).sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad((TorchExp.apply(xt * xt) * torch.tensor(w)).sum(), xt, create_graph=True)
    (gt * gt).sum().backward()
    close(g, gt.detach().numpy())
    close(x.grad, xt.grad.numpy(), rtol=1e-10)


def test_function_saved_output_create_graph_leaves_no_cycle(no_gc):
    ctx_refs = []

    class Exp(tg.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            ctx_refs.append(weakref.ref(ctx))  # the ctx lives as long as the node
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    x = t64([0.5, 1.0])
    y = Exp.apply(x)
    (g1,) = tg.grad(y.sum(), x, create_graph=True)
    (g2,) = tg.grad(g1.sum(), x)
    close(g2, np.exp([0.5, 1.0]))
    assert ctx_refs[0]() is not None
    del y
    assert ctx_refs[0]() is not None, "the gradient's graph still needs the node"
    del g1
    assert ctx_refs[0]() is None, "a tg.Function's graph was not freed by reference counting (cycle?)"
    # backward(create_graph=True) into .grad: freed once .grad and the output are dropped
    y = Exp.apply(x)
    y.sum().backward(create_graph=True)
    assert x.grad.requires_grad
    x.grad.sum().backward()
    close(x.grad, 2 * np.exp([0.5, 1.0]))
    x.grad = None
    del y
    assert ctx_refs[1]() is None


def test_function_in_a_bigger_graph_and_double_backward():
    class Cube(tg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3.0 * x ** 2

    x = t64(1.5)
    (g1,) = tg.grad(Cube.apply(x.sin()), x, create_graph=True)
    close(g1, 3 * np.sin(1.5) ** 2 * np.cos(1.5))
    (g2,) = tg.grad(g1, x)
    s, c = np.sin(1.5), np.cos(1.5)
    close(g2, 6 * s * c * c - 3 * s ** 3)


def test_function_no_reference_cycle(no_gc):
    x = t64([1.0, 2.0, 3.0])
    c, arr_ref = _probe()

    class SaveAll(tg.Function):
        @staticmethod
        def forward(ctx, p, q):
            out = p * q
            ctx.save_for_backward(p, q, out)  # an output saved: kept detached
            return out

        @staticmethod
        def backward(ctx, g):
            p, q, out = ctx.saved_tensors
            return g * q, g * p

    y = SaveAll.apply(x, c)
    out_probe = weakref.ref(y)
    del c
    assert arr_ref() is not None
    del y
    assert out_probe() is None
    assert arr_ref() is None, "a tg.Function graph was not freed by reference counting (cycle?)"
    # after a backward the saved tensors are released
    c2, arr2 = _probe()
    loss = SaveAll.apply(x, c2).sum()
    del c2
    loss.backward()
    assert arr2() is None
    close(x.grad, [1.0, 2.0, 3.0])


def test_function_returning_input_no_cycle(no_gc):
    c, arr_ref = _probe()
    x = t64([1.0, 1.0, 1.0])

    class PassThrough(tg.Function):
        @staticmethod
        def forward(ctx, p, q):
            ctx.save_for_backward(q)
            return q

        @staticmethod
        def backward(ctx, g):
            return None, g

    y = PassThrough.apply(x, c)
    del c
    assert arr_ref() is not None
    del y
    assert arr_ref() is None


# ---------------------------------------------------------------------------------------
# gradcheck / gradgradcheck
# ---------------------------------------------------------------------------------------

def test_gradcheck_accepts_tensor_or_tuple_and_skips_non_grad_inputs():
    x = t64([0.5, 1.0])
    assert tg.gradcheck(lambda t: t.sin(), x) is True
    assert tg.gradcheck(lambda t, k, c: t * k + c, (x, 3.0, t64([1.0, 1.0], False))) is True
    assert tg.gradcheck(lambda t: (t.exp(), t * 2.0), (x,)) is True  # tuple outputs
    with pytest.raises(ValueError):
        tg.gradcheck(lambda t: t * 2.0, (t64([1.0], requires_grad=False),))


def test_gradcheck_failure_reports_worst_entry():
    x = t64([1.0, 2.0, -3.0])
    with pytest.raises(GradcheckError) as info:
        tg.gradcheck(WrongBackward.apply, (x,))
    assert isinstance(info.value, RuntimeError)
    msg = str(info.value)
    assert "analytical" in msg and "numerical" in msg
    # worst entry: the largest |2x^2 - 3x^2| = x^2 = 9 at element 2
    assert "(2,)" in msg
    assert "18.0" in msg  # analytical 2 * 9
    assert "27.0" in msg[:400] or "26.99999" in msg  # numerical 3 * 9
    assert "-9.0" in msg or "-8.9999" in msg  # the difference
    assert tg.gradcheck(WrongBackward.apply, (x,), raise_exception=False) is False


def test_gradcheck_failure_with_2d_indices():
    class Wrong2(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * tg.tensor(np.array([[2.0, 2.0], [2.0, 7.0]]), dtype=F64)  # wrong at (1, 1)

    with pytest.raises(GradcheckError) as info:
        tg.gradcheck(Wrong2.apply, (t64([[1.0, 2.0], [3.0, 4.0]]),))
    msg = str(info.value)
    worst = msg.splitlines()[1]
    assert "output element (1, 1)" in worst and "input element (1, 1)" in worst
    import re

    nums = dict(re.findall(r"(analytical|numerical|difference) (-?[0-9.e+-]+)", worst))
    assert float(nums["analytical"]) == pytest.approx(7.0)
    assert float(nums["numerical"]) == pytest.approx(2.0, abs=1e-6)
    assert float(nums["difference"]) == pytest.approx(5.0, abs=1e-6)


def test_gradgradcheck_detects_a_wrong_second_derivative():
    class DetachedBackward(tg.Function):
        # first derivative right, but computed without history: its derivative is lost
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.detach().cos()

    x = t64([0.4, 1.3])
    assert tg.gradcheck(DetachedBackward.apply, (x,))
    with pytest.raises(GradcheckError):
        tg.gradgradcheck(DetachedBackward.apply, (x,))
    assert tg.gradgradcheck(lambda t: t.sin() * t, (x,))
    # explicit grad_outputs
    assert tg.gradgradcheck(lambda t: t ** 3, (x,), grad_outputs=(t64([1.0, -2.0]),))


def test_gradcheck_float32_inputs_checked_in_float64():
    x = tg.tensor([0.5, 1.5], requires_grad=True)  # float32
    assert tg.gradcheck(lambda t: t.exp() * t, (x,))


# ---------------------------------------------------------------------------------------
# tg.autograd.functional
# ---------------------------------------------------------------------------------------

def test_functional_jacobian():
    a = np.array([0.5, -1.0, 2.0])
    x = t64(a)
    J = AF.jacobian(lambda t: t ** 2, x)
    assert J.shape == (3, 3) and not J.requires_grad
    close(J, np.diag(2 * a))
    assert x.grad is None
    M = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    J = AF.jacobian(lambda t: tg.tensor(M, dtype=F64) @ t.sin(), x)
    close(J, M * np.cos(a))
    # tuple inputs, single output: a tuple over inputs
    y = t64([[1.0, 2.0], [3.0, 4.0]])
    Jx, Jy = AF.jacobian(lambda p, q: (p[:2] * q[0]), (x, y))
    assert Jx.shape == (2, 3) and Jy.shape == (2, 2, 2)
    close(Jx, np.array([[1.0, 0, 0], [0, 2.0, 0]]))
    expected_y = np.zeros((2, 2, 2))
    expected_y[0, 0, 0], expected_y[1, 0, 1] = a[0], a[1]
    close(Jy, expected_y)
    # tuple outputs, single input
    (J1, J2) = AF.jacobian(lambda t: (t.sum(), t * 3.0), x)
    close(J1, np.ones(3))
    close(J2, 3 * np.eye(3))
    # unused input: zeros
    Ju = AF.jacobian(lambda p, q: p * 2.0, (x, y))
    close(Ju[1], np.zeros((3, 2, 2)))


def test_functional_hessian():
    a = np.array([0.5, -1.0, 2.0])
    H = AF.hessian(lambda t: (t ** 3).sum(), t64(a))
    assert H.shape == (3, 3)
    close(H, np.diag(6 * a))
    H = AF.hessian(lambda t: (t[0] * t[1] * t[2]), t64(a))
    close(H, np.array([[0, a[2], a[1]], [a[2], 0, a[0]], [a[1], a[0], 0]]))
    # two inputs: f = sum(x * y) + sum(x^2)
    ((Hxx, Hxy), (Hyx, Hyy)) = AF.hessian(lambda p, q: (p * q).sum() + (p * p).sum(),
                                          (t64([1.0, 2.0]), t64([3.0, 4.0])))
    close(Hxx, 2 * np.eye(2))
    close(Hxy, np.eye(2))
    close(Hyx, np.eye(2))
    close(Hyy, np.zeros((2, 2)))
    # through ops that save their output (exp): d2/dx2 sum(exp) = diag(exp)
    close(AF.hessian(lambda t: t.exp().sum(), t64(a)), np.diag(np.exp(a)))


def test_functional_vjp_jvp():
    a = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, 2.0, -1.0])
    out, res = AF.vjp(lambda t: t.sin() * 2.0, t64(a), t64(v, False))
    close(out, 2 * np.sin(a))
    close(res, 2 * np.cos(a) * v)
    assert not out.requires_grad and not res.requires_grad
    out, res = AF.vjp(lambda t: (t * t).sum(), t64(a))  # v omitted for a scalar output
    close(res, 2 * a)
    M = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    f = lambda t: tg.tensor(M, dtype=F64) @ (t * t)  # noqa: E731
    out, res = AF.jvp(f, t64(a), t64(v, False))
    close(out, M @ (a * a))
    close(res, M @ (2 * a * v))
    out, res = AF.vjp(f, t64(a), t64([1.0, -1.0], False))
    close(res, (np.array([1.0, -1.0]) @ M) * 2 * a)
    # tuple inputs
    out, (rx, ry) = AF.vjp(lambda p, q: p * q, (t64([1.0, 2.0]), t64([3.0, 4.0])), t64([1.0, 1.0], False))
    close(rx, [3.0, 4.0])
    close(ry, [1.0, 2.0])
    out, res = AF.jvp(lambda p, q: p * q, (t64([1.0, 2.0]), t64([3.0, 4.0])),
                      (t64([1.0, 0.0], False), t64([0.0, 1.0], False)))
    close(res, [3.0, 2.0])
    # jvp through ops that save their output
    out, res = AF.jvp(lambda t: t.tanh(), t64(a), t64(v, False))
    close(res, (1 - np.tanh(a) ** 2) * v)
    with pytest.raises(RuntimeError):
        AF.vjp(lambda t: t * 2.0, t64(a))  # non-scalar output needs v


def test_functional_hvp_vhp():
    a = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, 2.0, -1.0])
    f = lambda t: (t ** 3).sum() + t[0] * t[1]  # noqa: E731
    H = np.diag(6 * a)
    H[0, 1] += 1
    H[1, 0] += 1
    out, res = AF.hvp(f, t64(a), t64(v, False))
    close(out, (a ** 3).sum() + a[0] * a[1])
    close(res, H @ v)
    out, res = AF.vhp(f, t64(a), t64(v, False))
    close(res, v @ H)
    # a Hessian-vector product through sigmoid (saves its output)
    g = lambda t: t.sigmoid().sum()  # noqa: E731
    s = 1 / (1 + np.exp(-a))
    _, res = AF.hvp(g, t64(a), t64(v, False))
    close(res, s * (1 - s) * (1 - 2 * s) * v)


def test_functional_create_graph():
    x = t64([0.5, 1.5])
    J = AF.jacobian(lambda t: t ** 3, x, create_graph=True)
    assert J.requires_grad
    (g,) = tg.grad(J.sum(), x)
    close(g, 6 * np.array([0.5, 1.5]))
