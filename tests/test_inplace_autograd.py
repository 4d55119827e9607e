"""Autograd through writes: `x[key] = v` and in-place ops on views (issue #4).

PyTorch's semantics: setitem is index_put (IndexPutBackward; CopySlices for a basic
key, which writes through a view), and an in-place op on a view rewrites its base's
history (CopySlices), which every other view of that base then follows
(AsStridedBackward). Gradients are checked against central finite differences in
float64 (tg.gradcheck); the comparison with torch itself is in test_against_torch.py.
"""
import threading

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import gradcheck, gradgradcheck

F64 = tg.float64


def t64(a, requires_grad=True):
    return tg.tensor(np.asarray(a, dtype=np.float64), dtype=F64, requires_grad=requires_grad)


def rand(*shape, seed=0, requires_grad=True):
    return t64(np.random.default_rng(seed).standard_normal(shape), requires_grad)


def close(t, expected):
    np.testing.assert_allclose(np.asarray(t.numpy()), np.asarray(expected, dtype=np.float64), rtol=1e-12, atol=1e-12)


MASK = np.array([[True, False, True, False, False], [False, False, False, False, True],
                 [True, True, False, False, False], [False, False, False, True, False]])

# (id, key) for a (4, 5) tensor
KEYS = [
    ("int", 1),
    ("negative int", -1),
    ("slice", slice(1, 3)),
    ("step slice", (slice(None), slice(None, None, 2))),
    ("int and slice", (2, slice(1, 4))),
    ("none ellipsis", (None, Ellipsis, 3)),
    ("bool mask", "mask"),
    ("int array", [0, 2, 3]),
    ("int array repeats", [2, 0, 2]),
    ("int and array", (1, [0, 4, 2])),
    ("two arrays", ([0, 3], [4, 1])),
    ("int tensor", "tensor"),
]


def as_key(key):
    if key == "mask":
        return tg.tensor(MASK)
    if key == "tensor":
        return tg.tensor(np.array([3, 1], dtype=np.int64))
    return key


def np_key(key):
    if key == "mask":
        return MASK
    if key == "tensor":
        return np.array([3, 1])
    return key


def value_shape(key, kind):
    selected = np.zeros((4, 5))[np_key(key)].shape
    if kind == "full":
        return selected
    return selected[-1:] if selected else ()  # broadcast along the leading dims


# ------------------------------------------------------------------- A: __setitem__ ----

def setitem_cases():
    for key_id, key in KEYS:
        for kind in ("full", "broadcast", "scalar"):
            for grads in ("x", "v", "both"):
                if kind == "scalar" and grads != "x":
                    continue  # a Python number has no gradient
                # An overwritten write gets a gradient (torch's convention) that finite differences
                # do not see; test_setitem_repeated_positions_... checks it.
                if key == [2, 0, 2] and grads != "x":
                    continue
                yield pytest.param(key, grads, kind, id=f"{key_id}-{kind}-{grads}")


@pytest.mark.parametrize("key, grads, kind", list(setitem_cases()))
def test_setitem_gradcheck(key, grads, kind):
    x = rand(4, 5, requires_grad=grads in ("x", "both"))
    v = None if kind == "scalar" else rand(*value_shape(key, kind), seed=1, requires_grad=grads in ("v", "both"))

    def f(x, v):
        y = x * 1.0
        y[as_key(key)] = 2.5 if v is None else v * 3.0
        return y.sin()

    assert gradcheck(f, (x, v))
    # the values match NumPy's assignment
    with tg.no_grad():
        want = x.numpy() * 1.0
        want[np_key(key)] = 2.5 if v is None else v.numpy() * 3.0
        close(f(x, v), np.sin(want))


def test_setitem_into_tensor_without_grad_gives_it_history():
    v, w = rand(5, seed=1), rand(4, seed=2)

    def f(v, w):
        z = tg.zeros(4, 5, dtype=F64)
        z[1] = v
        z[:, [0, 3]] = w.reshape(4, 1)
        return z * 2.0

    assert gradcheck(f, (v, w))
    z = tg.zeros(4, 5, dtype=F64)
    assert not z.requires_grad
    z[1:3] = v
    assert z.requires_grad and z.grad_fn.name() == "CopySlices" and not z.is_leaf


def test_setitem_node_names():
    x = rand(4, 5)
    y = x * 1.0
    y[1] = 0.0
    assert y.grad_fn.name() == "CopySlices"
    y[[0, 2]] = 1.0
    assert y.grad_fn.name() == "IndexPutBackward"
    y[tg.tensor(MASK)] = x[tg.tensor(MASK)]
    assert y.grad_fn.name() == "IndexPutBackward"


def test_setitem_repeated_positions_last_write_wins_and_every_write_gets_its_gradient():
    # torch.index_put_ (accumulate=False): the value is the last write's; the gradient of
    # each write is the output's gradient at its position, overwritten or not.
    x = t64(np.zeros(5))
    v = t64([1.0, 2.0, 3.0])
    y = x * 1.0
    y[[1, 1, 3]] = v
    close(y.detach(), [0, 2, 0, 3, 0])
    (y * tg.arange(5, dtype=F64)).sum().backward()
    close(x.grad, [0, 0, 2, 0, 4])
    close(v.grad, [1, 1, 3])


def test_setitem_value_of_another_dtype():
    x = rand(3, 4)
    v = tg.tensor(np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32), requires_grad=True)
    y = x * 1.0
    y[1] = v
    y.sum().backward()
    assert v.grad.dtype == tg.float32
    close(v.grad, np.ones(4))
    close(x.grad, [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]])
    y = x * 1.0
    y[0] = tg.tensor([1, 2, 3, 4])  # integers: written as float64, no gradient to take
    close(y[0].detach(), [1, 2, 3, 4])


def test_setitem_the_tensor_into_itself():
    def f(x):
        y = x * 2.0
        y[1:] = y[:-1]  # sources overlapping the target are read in full before the write
        y[[0, 2], 1] = y[1:3].T[2]
        return y

    assert gradcheck(f, (rand(4, 3),))


def test_setitem_second_derivatives():
    def f(x, v):
        y = x * x
        y[1] = v * v
        y[[0, 3], 2] = v[:2] * x[2, :2]
        return y * y

    assert gradgradcheck(f, (rand(4, 3), rand(3, seed=1)))


def test_setitem_on_a_view():
    def f(x, v):
        y = x * 1.0
        w = y[1:3]  # a view of y
        w[:, [0, 2]] = v  # advanced setitem through the view
        w[0, 1] = 4.0
        return y * w.sum()

    assert gradcheck(f, (rand(4, 3), rand(2, 2, seed=1)))


# ---------------------------------------------------------- B: in-place on views ----

def test_inplace_on_slice_view_then_base_and_earlier_view():
    def f(x, v):
        y = x * 1.0
        col = y[:, 1]  # an earlier view overlapping the written region
        w = y[1:3]
        w.mul_(v)
        w.add_(1.0)
        return y.sin(), col * 2.0, w.exp()

    assert gradcheck(f, (rand(4, 3), rand(3, seed=1)))


def test_inplace_on_transposed_view():
    def f(x, v):
        y = x * 1.0
        t = y.T
        t.mul_(2.0)
        t[1].sub_(v)
        return y

    assert gradcheck(f, (rand(4, 3), rand(4, seed=1)))


def test_inplace_on_view_of_view():
    def f(x, v):
        y = x * 1.0
        first = y[0]
        w = y.reshape(2, 6)[:, 1:4]
        ww = w.T[1]
        ww.div_(v)
        ww.clamp_(-1.0, 1.0)
        return y, first + 0.0, w.cos()

    x = rand(4, 3)
    assert gradcheck(f, (x, t64([1.5, -2.5])))


def test_inplace_ops_on_views_match_out_of_place():
    ops = {
        "add_": (lambda w, v: w.add_(v), lambda w, v: w + v),
        "sub_": (lambda w, v: w.sub_(v), lambda w, v: w - v),
        "mul_": (lambda w, v: w.mul_(v), lambda w, v: w * v),
        "div_": (lambda w, v: w.div_(v), lambda w, v: w / v),
        "+=": (lambda w, v: w.__iadd__(v), lambda w, v: w + v),
        "clamp_": (lambda w, v: w.clamp_(-0.5, 0.5), lambda w, v: tg.clamp(w, -0.5, 0.5)),
        "copy_": (lambda w, v: w.copy_(v), lambda w, v: v + 0.0 * w),
    }
    for name, (inplace, outplace) in ops.items():
        x, v = rand(4, 3), rand(3, seed=1)
        y = x * 1.0
        inplace(y[1:3], v)
        (y.sin() * tg.arange(12, dtype=F64).reshape(4, 3)).sum().backward()
        gx, gv = x.grad.numpy(), v.grad

        x2, v2 = rand(4, 3), rand(3, seed=1)
        y2 = tg.concat([x2[:1], outplace(x2[1:3], v2), x2[3:]], 0)
        (y2.sin() * tg.arange(12, dtype=F64).reshape(4, 3)).sum().backward()
        np.testing.assert_allclose(gx, x2.grad.numpy(), rtol=1e-12, err_msg=name)
        if name == "clamp_":
            assert gv is None and v2.grad is None
        else:
            np.testing.assert_allclose(gv.numpy(), v2.grad.numpy(), rtol=1e-12, err_msg=name)
        close(y.detach(), y2.detach())


def test_fill_and_zero_on_a_view_make_the_region_constant():
    def f(x):
        y = x * 1.0
        y[1].zero_()
        y[:, 2].fill_(3.0)
        return y * y

    x = rand(3, 4)
    assert gradcheck(f, (x,))
    y = f(x)
    y.sum().backward()
    g = 2.0 * x.numpy()
    g[1] = 0.0
    g[:, 2] = 0.0
    close(x.grad, g)


def test_fill_on_a_non_view_still_detaches():
    x = rand(3)
    y = x * 2.0
    y.fill_(1.0)
    assert y.grad_fn is None and not y.requires_grad
    y = x * 2.0
    y.copy_(tg.ones(3, dtype=F64))  # a constant copied over the whole tensor: the same
    assert y.grad_fn is None and not y.requires_grad


def test_inplace_on_base_is_seen_by_its_views():
    def f(x, v):
        y = x * 1.0
        row = y[1]
        t = y.T
        y.mul_(v)  # the base itself, not through a view
        return row * 1.0, t + 0.0

    assert gradcheck(f, (rand(3, 4), rand(4, seed=1)))


def test_views_of_a_base_without_grad_follow_a_write_with_grad():
    # PyTorch: after z[...] = v, every view of z has a history through v.
    v = rand(2, seed=1)
    z = tg.zeros(4, dtype=F64)
    tail = z[2:]
    assert not tail.requires_grad
    z[2:] = v * 2.0
    assert tail.requires_grad and tail.grad_fn.name() == "AsStridedBackward"
    tail.sum().backward()
    close(v.grad, [2.0, 2.0])


def test_view_node_names_after_inplace():
    y = rand(3, 4) * 1.0
    w, other = y[1], y[:, 0]
    w.mul_(2.0)
    assert y.grad_fn.name() == "CopySlices"
    assert w.grad_fn.name() == "AsStridedBackward"
    assert other.grad_fn.name() == "AsStridedBackward"
    assert [f.name() for f, _ in other.grad_fn.next_functions] == ["CopySlices"]


def test_inplace_on_views_second_derivatives():
    def f(x, v):
        y = x * x
        w = y[1:3]
        w.mul_(v)
        y.T[0].add_(v[:1] * v[:1])
        return y * y

    assert gradgradcheck(f, (rand(4, 3), rand(3, seed=1)))


def test_backward_twice_through_writes():
    # The positions a write or a regenerated view keeps are its geometry, not saved values
    # (PyTorch's CopySlices / AsStridedBackward save none): a second backward works.
    x = rand(3, 4)
    y = x * 2.0
    col = y[:, 1]
    y[1].mul_(3.0)
    y[[0, 2], 3] = 0.0
    loss = y.sum() + col.sum()
    loss.backward()
    loss.backward()
    g = np.full((3, 4), 2.0)
    g[1] = 6.0
    g[[0, 2], 3] = 0.0
    g[:, 1] += [2.0, 6.0, 2.0]
    close(x.grad, 2 * g)


def test_inplace_on_view_under_no_grad_keeps_histories():
    x = rand(2, 3)
    y = x * 2.0
    w = y[0]
    with tg.no_grad():
        w.add_(1.0)  # not recorded: y and w keep a history through x
    assert y.grad_fn.name() == "MulBackward"
    (w * 1.0).sum().backward()
    close(x.grad, [[2, 2, 2], [0, 0, 0]])


# ------------------------------------------------------------------------- errors ----

def test_modifying_a_saved_tensor_still_raises_at_backward():
    x = rand(3)
    y = x * 1.0
    z = y.sin()  # saves y
    y[0] = 2.0
    with pytest.raises(RuntimeError, match="SinBackward.*modified by an in-place operation"):
        z.sum().backward()
    x = rand(3)
    e = x.exp()  # saves its output
    e[0:2].mul_(2.0)
    with pytest.raises(RuntimeError, match="ExpBackward"):
        e.sum().backward()
    x = rand(2, 3)
    y = x * 1.0
    p = y.T * y.T  # saves the view y.T
    y[1].add_(1.0)
    with pytest.raises(RuntimeError, match="MulBackward"):
        p.sum().backward()


# (name, in-place op on a 3-element float64 tensor)
INPLACE_OPS = [
    ("add_", lambda w: w.add_(1.0)), ("sub_", lambda w: w.sub_(tg.ones(3, dtype=F64))),
    ("mul_", lambda w: w.mul_(2.0)), ("div_", lambda w: w.div_(2.0)), ("clamp_", lambda w: w.clamp_(0.0, 1.0)),
    ("fill_", lambda w: w.fill_(1.0)), ("zero_", lambda w: w.zero_()), ("copy_", lambda w: w.copy_(tg.ones(3))),
    ("__setitem__", lambda w: w.__setitem__(0, 1.0)), ("__setitem__", lambda w: w.__setitem__([0, 1], 1.0)),
    ("add_", lambda w: w.__iadd__(1.0)),
]
# (id, view of a (2, 3) tensor with 3 elements)
VIEWS = [("index", lambda x: x[1]), ("transpose", lambda x: x.T[:, 0]),
         ("view of view", lambda x: x.reshape(3, 2)[0:2].reshape(4)[:3])]
op_param = pytest.mark.parametrize("op", INPLACE_OPS, ids=[name for name, _ in INPLACE_OPS])
view_param = pytest.mark.parametrize("view", [v for _, v in VIEWS], ids=[name for name, _ in VIEWS])


@op_param
@view_param
def test_inplace_on_view_of_leaf_requiring_grad_raises_naming_the_op(op, view):
    name, mutate = op
    x = rand(2, 3)
    before = x.numpy().copy()
    w = view(x)
    expected = "zero_|fill_" if name == "zero_" else name  # zero_ is fill_ with 0
    with pytest.raises(RuntimeError, match=rf"(?s)({expected}).*view.*leaf tensor that requires grad.*in-place"):
        mutate(w)
    close(x.detach(), before)
    with tg.no_grad():  # allowed when not recording (an optimizer step)
        mutate(view(x))


NO_GRAD_VIEW = r"(?s)is a view created in no_grad mode \(or a view of one\).*modified in place with grad mode enabled"


@op_param
@view_param
@pytest.mark.parametrize("base", ["non-leaf", "leaf"])
def test_inplace_with_grad_on_a_view_made_under_no_grad_raises_naming_the_op(op, view, base):
    # PyTorch: "A view was created in no_grad mode and is being modified inplace with grad
    # mode enabled": whether the base should see the write is ambiguous.
    name, mutate = op
    x = rand(2, 3)
    b = x * 2.0 if base == "non-leaf" else x
    before = b.detach().numpy().copy()
    with tg.no_grad():
        w = view(b)
    expected = "zero_: fill_" if name == "zero_" else name
    with pytest.raises(RuntimeError, match=rf"^({expected}): float64\[3\] " + NO_GRAD_VIEW[4:]):
        mutate(w)
    close(b.detach(), before)  # refused before writing
    # a view of such a view, made with grad on, is one too (PyTorch: "a view of a view")
    with pytest.raises(RuntimeError, match=NO_GRAD_VIEW):
        mutate(w[:])
    with tg.no_grad():  # the view and the write both under no_grad: allowed, not recorded
        mutate(w)
    if base == "non-leaf":
        assert b.grad_fn.name() == "MulBackward"


def test_view_made_under_no_grad_of_a_tensor_without_grad():
    b = t64(np.ones((2, 3)), requires_grad=False) * 2.0
    with tg.no_grad():
        v = b[0]
    v.mul_(3.0)  # nothing is recorded: allowed, and the base sees the write
    v[1] = 0.0
    close(b, [[6.0, 0.0, 6.0], [2.0, 2.0, 2.0]])
    assert not b.requires_grad and not v.requires_grad
    # ... unless the other operand requires grad, which would record the write
    c = rand(3)
    with pytest.raises(RuntimeError, match="^mul_: .*" + NO_GRAD_VIEW[4:]):
        v.mul_(c)
    with pytest.raises(RuntimeError, match="^copy_: .*" + NO_GRAD_VIEW[4:]):
        v.copy_(c)
    with pytest.raises(RuntimeError, match="^__setitem__: .*" + NO_GRAD_VIEW[4:]):
        v[0:2] = c[:2]
    close(b, [[6.0, 0.0, 6.0], [2.0, 2.0, 2.0]])


def test_views_made_under_no_grad_that_may_be_written():
    x = rand(2, 3)
    b = x * 2.0
    with tg.no_grad():
        v = b[0]
        d = b.detach()[0]
    d.mul_(2.0)  # a view of a detached tensor follows no history
    v.detach().add_(1.0)
    n = tg.arange(6).reshape(2, 3)
    with tg.no_grad():
        nv = n[0]
    nv.mul_(2)  # integer tensors have no gradients
    assert n.numpy().tolist() == [[0, 2, 4], [3, 4, 5]]
    # a view that became a variable of its own, or a tensor derived from the view
    with tg.no_grad():
        own = b[1]
    own.requires_grad_(True)
    (v * 1.0).add_(1.0)
    assert b.grad_fn.name() == "MulBackward"
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        own.add_(1.0)


def test_setitem_on_leaf_requiring_grad_raises():
    x = rand(3)
    for key in (0, slice(0, 2), [0, 2]):
        with pytest.raises(RuntimeError, match="__setitem__.*leaf tensor that requires grad.*in-place"):
            x[key] = 1.0


# -------------------------------------------------------------------------- hooks ----
# PyTorch's rule: a hook belongs to the grad_fn the tensor had when it was registered.
# After an in-place op on the tensor, or on its base (a view's history is regenerated),
# it gets the gradient of the value from before, when that history is part of the
# backward pass; retain_grad() alone follows the tensor to its new history.

def recorder():
    calls = []
    return calls, lambda g: calls.append(g.numpy().copy())


@pytest.mark.parametrize("write", [lambda b: b.mul_(3.0), lambda b: b[1:].add_(1.0), lambda b: b[3:].add_(1.0)],
                         ids=["base mul_", "overlapping slice add_", "disjoint slice add_"])
def test_hook_on_view_stays_with_its_history_when_the_base_is_written(write):
    x = rand(4)
    b = x * 2.0
    v = b[:2]
    calls, hook = recorder()
    v.register_hook(hook)
    y = v * 5.0  # uses the value from before the write
    write(b)
    assert v.grad_fn.name() == "AsStridedBackward"
    (v * t64([10.0, 100.0], requires_grad=False)).sum().backward(retain_graph=True)
    assert calls == []  # the new value's gradient does not reach the hook
    y.sum().backward()
    assert len(calls) == 1
    close(t64(calls[0], False), [5.0, 5.0])


def test_hook_registered_after_the_base_was_written_follows_the_new_value():
    x = rand(4)
    b = x * 2.0
    v = b[:2]
    b.mul_(3.0)
    calls, hook = recorder()
    v.register_hook(hook)  # on the regenerated history
    (v * 7.0).sum().backward()
    close(t64(calls[0], False), [7.0, 7.0])
    close(x.grad, [42.0, 42.0, 0.0, 0.0])


@pytest.mark.parametrize("on", ["view", "tensor"])
def test_hook_handle_removes_the_hook_after_an_in_place_op(on):
    x = rand(4)
    b = x * 2.0
    t = b[:2] if on == "view" else b
    calls, hook = recorder()
    handle = t.register_hook(hook)
    y = t * 5.0
    (b if on == "view" else t).mul_(3.0)
    handle.remove()
    y.sum().backward()
    assert calls == []
    close(x.grad, [10.0, 10.0] + ([0.0, 0.0] if on == "view" else [10.0, 10.0]))


def test_retain_grad_follows_the_tensor_to_its_new_history():
    x = rand(4)
    t = x * 2.0
    t.retain_grad()
    t.mul_(3.0)
    t.sum().backward()
    close(t.grad, np.ones(4))  # the new value's gradient (PyTorch), not 3
    # a view, whose history is regenerated after a write to its base
    x = rand(4)
    b = x * 2.0
    v = b[:2]
    v.retain_grad()
    y = v * 5.0
    b.mul_(3.0)
    (y.sum() + v.sum()).backward()
    close(v.grad, [1.0, 1.0])
    # ... when it is regenerated: a view not read since keeps the history it had
    x = rand(4)
    b = x * 2.0
    v = b[:2]
    v.retain_grad()
    y = v * 5.0
    b.mul_(3.0)
    y.sum().backward()
    close(v.grad, [5.0, 5.0])


def test_hook_on_a_view_written_in_place_gets_the_gradient_of_its_old_value():
    # Where tapegrad keeps its own rule: like a tensor that is not a view, the hook gets
    # the gradient of the value from before the write (3 here). PyTorch 2.13 does not
    # call it (its CopySlices routes that gradient to the base, past the view's grad_fn).
    x = rand(4)
    b = x * 2.0
    v = b[:2]
    calls, hook = recorder()
    v.register_hook(hook)
    v.mul_(3.0)
    b.sum().backward()
    close(t64(calls[0], False), [3.0, 3.0])
    close(x.grad, [6.0, 6.0, 2.0, 2.0])


# -------------------------------------------------------------------------- tapes ----

def test_gradient_tape_sees_setitem():
    xv = np.array([1.0, 2.0, 3.0])
    x = t64(xv, requires_grad=False)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * 1
        y[0] = 5 * x[1]
        loss = (y * y).sum()
    g = tape.gradient(loss, x)
    # y = (5 x1, x1, x2): dloss/dx = (0, 50 x1 + 2 x1, 2 x2)
    close(g, [0.0, 52.0 * xv[1], 2.0 * xv[2]])


def test_gradient_tape_sees_inplace_on_views():
    v = tg.Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    with tg.GradientTape(persistent=True) as tape:
        y = v * 1.0
        first_col = y[:, 0]
        first_row = y[0]  # made stale below and not used again inside the block
        y[1].mul_(v[0])
        y[[0], 1] = 7.0
        out = (first_col * 10.0).sum() + y.sum()
    g = tape.gradient(out, v)
    # y = [[v00, 7], [v10 v00, v11 v01]]; first_col = (v00, v10 v00)
    vv = v.numpy()
    close(g, [[1 + 10 + vv[1, 0] * 11, vv[1, 1]], [vv[0, 0] * 11, vv[0, 1]]])
    close(tape.gradient(first_col, v), [[1 + vv[1, 0], 0], [vv[0, 0], 0]])
    # a view made stale inside the block has its history regenerated on the tape afterwards
    close(tape.gradient(first_row, v), [[1, 0], [0, 0]])


# ------------------------------------------------------------------------ threads ----

def test_threads_reading_a_stale_view_together():
    # Reading a view written since its history was set regenerates that history; threads
    # that read the same view at once (big tensors: the ops run without the GIL) must
    # all get one consistent history.
    x = rand(256, 256)
    y = x * 1.0
    view = y[:200]
    for round_ in range(5):
        with tg.no_grad():
            y[255, 0] = float(round_)  # not recorded, but the view's history is regenerated
        outs, errors = [], []

        def work():
            try:
                outs.append((view * 2.0).sum())
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        fns = [o.grad_fn.next_functions[0][0].next_functions[0][0] for o in outs]  # sum <- mul <- view
        assert len({id(f) for f in fns}) == 1 and fns[0].name() == "AsStridedBackward"
        want = np.zeros((256, 256))
        want[:200] = 2.0
        for o in outs:
            (g,) = tg.grad(o, x)
            close(g, want)
