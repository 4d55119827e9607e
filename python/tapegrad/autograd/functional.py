"""Higher-level differentiation: jacobian, hessian, vjp, jvp, hvp, vhp (PyTorch's
`torch.autograd.functional` conventions).

`inputs` is a tensor or a tuple of tensors; results mirror that structure: a tensor for a
tensor, a tuple for a tuple. `vjp`, `jvp`, `hvp` and `vhp` return `(func_output, result)`.
The inputs are differentiated through fresh leaves (`detach()` copies that require grad)
so the caller's tensors and their `.grad` are untouched. Unless `create_graph=True`, the
results are detached from any graph. An input that the output does not depend on gets a
zero gradient.
"""
import tapegrad as _tg

__all__ = ["jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"]


def _as_tuple(x, what, fn_name):
    is_tuple = isinstance(x, (tuple, list))
    t = tuple(x) if is_tuple else (x,)
    for i, v in enumerate(t):
        if not isinstance(v, _tg.Tensor):
            raise TypeError(f"{fn_name}: the {what} must be a Tensor or a tuple of Tensors, but entry {i} is a "
                            f"{type(v).__name__}")
    return is_tuple, t


def _grad_leaves(inputs, create_graph):
    # Under create_graph an input that requires grad stays connected to its own graph
    # (through an identity view); otherwise a detached leaf is used.
    out = []
    for x in inputs:
        if create_graph and x.requires_grad:
            out.append(x.view(*x.shape) if x.ndim else x.reshape(()))
        else:
            out.append(x.detach().requires_grad_(x.dtype in (_tg.float32, _tg.float64)))
    return tuple(out)


def _grad(outputs, inputs, grad_outputs, create_graph, retain_graph=None):
    """tg.grad tolerating outputs without history and unused inputs (zeros)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    diff = [i for i, x in enumerate(inputs) if x.requires_grad]
    res = [None] * len(inputs)
    if pairs and diff:
        got = _tg.grad([o for o, _ in pairs], [inputs[i] for i in diff], grad_outputs=[g for _, g in pairs],
                       retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
        for i, g in zip(diff, got):
            res[i] = g
    return tuple(g if g is not None else _tg.zeros(x.shape, dtype=x.dtype) for g, x in zip(res, inputs))


def _finish(ts, create_graph):
    return tuple(t if create_graph else t.detach() for t in ts)


def _pack(is_tuple, ts):
    return tuple(ts) if is_tuple else ts[0]


def _check_v(v, ref, what, fn_name):
    for i, (a, b) in enumerate(zip(v, ref)):
        if a.shape != b.shape:
            raise RuntimeError(f"{fn_name}: entry {i} of v has shape {a.shape} but the {what} has shape {b.shape}")
    if len(v) != len(ref):
        raise RuntimeError(f"{fn_name}: v has {len(v)} entries but the {what} has {len(ref)}")


def _ones_for(ts, fn_name, what):
    for t in ts:
        if t.size != 1:
            raise RuntimeError(f"{fn_name}: v can be omitted only when every {what} has a single element "
                               f"(got shape {t.shape})")
    return tuple(_tg.ones(t.shape, dtype=t.dtype) for t in ts)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product at `inputs`."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
    with _tg.enable_grad():
        xs = _grad_leaves(xs, create_graph)
        out = func(*xs)
        out_tuple, outs = _as_tuple(out, "outputs of func", "vjp")
        if v is None:
            vs = _ones_for(outs, "vjp", "output")
        else:
            _, vs = _as_tuple(v, "v", "vjp")
            _check_v(vs, outs, "output", "vjp")
        res = _grad(outs, xs, vs, create_graph)
    return _pack(out_tuple, _finish(outs, create_graph)), _pack(in_tuple, _finish(res, create_graph))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, by the double-vjp trick
    (the vjp u -> u^T J is linear in u; differentiating it with respect to u against v
    gives J v)."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "jvp")
    if v is None:
        vs = _ones_for(xs, "jvp", "input")
    else:
        _, vs = _as_tuple(v, "v", "jvp")
        _check_v(vs, xs, "input", "jvp")
    with _tg.enable_grad():
        xs = _grad_leaves(xs, create_graph)
        out = func(*xs)
        out_tuple, outs = _as_tuple(out, "outputs of func", "jvp")
        us = tuple(_tg.zeros(o.shape, dtype=o.dtype, requires_grad=True) for o in outs)
        g = _grad(outs, xs, us, create_graph=True)
        res = _grad(g, us, vs, create_graph)
    return _pack(out_tuple, _finish(outs, create_graph)), _pack(out_tuple, _finish(res, create_graph))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False):
    """The Jacobian of func at inputs: for output o and input i, a tensor of shape
    `o.shape + i.shape`. A tensor for one output and one input; a tuple over inputs (one
    output) or over outputs (one input); a tuple of tuples [output][input] otherwise."""
    from .gradcheck import _one_hot

    in_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
    with _tg.enable_grad():
        xs = _grad_leaves(xs, create_graph)
        out = func(*xs)
        out_tuple, outs = _as_tuple(out, "outputs of func", "jacobian")
        result = []
        for o in outs:
            per_input = [[] for _ in xs]
            for r in range(o.size):
                go = _one_hot(o.shape, o.dtype, r)
                grads = _grad((o,), xs, (go,), create_graph, retain_graph=True)
                for k, g in enumerate(grads):
                    per_input[k].append(g if create_graph else g.detach())
            row = []
            for k, x in enumerate(xs):
                if o.size == 0:
                    j = _tg.zeros(tuple(o.shape) + tuple(x.shape), dtype=x.dtype)
                else:
                    j = _tg.stack(per_input[k], axis=0).reshape(*(tuple(o.shape) + tuple(x.shape)))
                row.append(j)
            result.append(_pack(in_tuple, tuple(row)))
    return _pack(out_tuple, tuple(result))


def hessian(func, inputs, create_graph=False, strict=False):
    """The Hessian of a scalar (single-element) func: shape `i.shape + i.shape` for one
    input; a tuple of tuples [i][j] for several."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*args):
        out = func(*args)
        if not isinstance(out, _tg.Tensor) or out.size != 1:
            raise RuntimeError("hessian: func must return a Tensor with a single element")
        return _grad((out,), args, (_tg.ones(out.shape, dtype=out.dtype),), create_graph=True)

    h = jacobian(gradient, xs, create_graph=create_graph)
    # jacobian of a tuple-valued function of a tuple: h[i][j] = d grad_i / d x_j
    return h if in_tuple else h[0][0]


def vhp(func, inputs, v, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar func."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vhp")
    _, vs = _as_tuple(v, "v", "vhp")
    _check_v(vs, xs, "input", "vhp")
    with _tg.enable_grad():
        xs = _grad_leaves(xs, create_graph)
        out = func(*xs)
        if not isinstance(out, _tg.Tensor) or out.size != 1:
            raise RuntimeError("vhp: func must return a Tensor with a single element")
        g = _grad((out,), xs, (_tg.ones(out.shape, dtype=out.dtype),), create_graph=True)
        res = _grad(g, xs, vs, create_graph)
    return _finish((out,), create_graph)[0], _pack(in_tuple, _finish(res, create_graph))


def hvp(func, inputs, v, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar func, by the double-vjp trick (H v is the
    derivative of u -> u^T H = grad(grad(f) . u) against v)."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hvp")
    _, vs = _as_tuple(v, "v", "hvp")
    _check_v(vs, xs, "input", "hvp")
    with _tg.enable_grad():
        xs = _grad_leaves(xs, create_graph)
        out = func(*xs)
        if not isinstance(out, _tg.Tensor) or out.size != 1:
            raise RuntimeError("hvp: func must return a Tensor with a single element")
        g = _grad((out,), xs, (_tg.ones(out.shape, dtype=out.dtype),), create_graph=True)
        us = tuple(_tg.zeros(x.shape, dtype=x.dtype, requires_grad=True) for x in xs)
        ut_h = _grad(g, xs, us, create_graph=True)  # u^T H, linear in u
        res = _grad(ut_h, us, vs, create_graph)
    return _finish((out,), create_graph)[0], _pack(in_tuple, _finish(res, create_graph))
