"""gradcheck / gradgradcheck: compare analytical gradients with finite differences.

`gradcheck(fn, inputs)` builds, for every differentiable output of `fn(*inputs)` and every
input that requires grad, two Jacobians:

* numerical: central differences `(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)`, one input
  element at a time, perturbed in place through a NumPy view of the input's memory (so
  non-contiguous inputs, e.g. transposed views, are perturbed where they live);
* analytical: one `tg.grad` call per output element, with a one-hot `grad_outputs`
  (row by row).

They must agree within `|analytical - numerical| <= atol + rtol * |numerical|`
everywhere. On success `True` is returned; otherwise `GradcheckError` (a RuntimeError)
is raised, reporting the worst entry of the two Jacobians.

Inputs are taken as in PyTorch: one tensor or a tuple of arguments; arguments that are
not tensors, or tensors that do not require grad, are passed through unchecked. Float32
inputs that require grad are replaced by float64 copies (the check is done in float64:
float32 cannot resolve an `eps` of 1e-6).
"""
import tapegrad as _tg

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck / gradgradcheck when the Jacobians disagree."""


def _as_tuple(x):
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _outputs_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _is_float(t):
    return isinstance(t, _tg.Tensor) and t.dtype in (_tg.float32, _tg.float64)


def _prepare_inputs(inputs):
    inputs = list(_as_tuple(inputs))
    for i, t in enumerate(inputs):
        if isinstance(t, _tg.Tensor) and t.requires_grad and t.dtype is _tg.float32:
            inputs[i] = t.detach().to(_tg.float64).requires_grad_(True)
    return tuple(inputs)


def _flat_values(out):
    """float64 NumPy copy of a tensor's values, flattened."""
    import numpy as np

    return np.array(out.detach().numpy(), dtype=np.float64, copy=True).reshape(-1)


def _numerical_jacobians(fn, inputs, diff_idx, out_sizes, eps):
    """J[o][k] of shape (numel(output o), numel(input diff_idx[k]))."""
    import numpy as np

    jac = [[np.zeros((n, inputs[i].size)) for i in diff_idx] for n in out_sizes]
    for k, i in enumerate(diff_idx):
        x = inputs[i]
        view = x.detach().numpy()  # shares x's memory (strided views included)
        if not view.flags.writeable:
            view.flags.writeable = True
        for j, idx in enumerate(np.ndindex(*view.shape)):
            orig = view[idx].item()
            view[idx] = orig + eps
            plus = [_flat_values(o) if _is_float(o) else None for o in _outputs_tuple(fn(*inputs))]
            view[idx] = orig - eps
            minus = [_flat_values(o) if _is_float(o) else None for o in _outputs_tuple(fn(*inputs))]
            view[idx] = orig
            for o in range(len(out_sizes)):
                if plus[o] is not None:
                    jac[o][k][:, j] = (plus[o] - minus[o]) / (2 * eps)
    return jac


def _analytical_jacobians(outputs, inputs, diff_idx):
    import numpy as np

    diff_inputs = [inputs[i] for i in diff_idx]
    jac = []
    for o, out in enumerate(outputs):
        rows = [np.zeros((out.size if _is_float(out) else 0, inputs[i].size)) for i in diff_idx]
        jac.append(rows)
        if not _is_float(out) or not out.requires_grad:
            continue  # a constant output: its Jacobian is zero
        for r in range(out.size):
            go = _one_hot(out.shape, out.dtype, r)
            grads = _tg.grad([out], diff_inputs, grad_outputs=[go], retain_graph=True, allow_unused=True)
            for k, (g, x) in enumerate(zip(grads, diff_inputs)):
                if g is None:
                    continue
                if not isinstance(g, _tg.Tensor) or g.shape != x.shape:
                    raise GradcheckError(f"gradcheck: the gradient for input {diff_idx[k]} has shape "
                                         f"{getattr(g, 'shape', None)} but the input has shape {x.shape}")
                if g.dtype is not x.dtype:
                    raise GradcheckError(f"gradcheck: the gradient for input {diff_idx[k]} has dtype "
                                         f"{g.dtype} but the input has dtype {x.dtype}")
                rows[k][r, :] = _flat_values(g)
    return jac


def _one_hot(shape, dtype, r):
    """A tensor of zeros with a 1 at flat position r."""
    t = _tg.zeros(tuple(shape), dtype=dtype)
    a = t.numpy()
    if not a.flags.writeable:
        a.flags.writeable = True
    a.reshape(-1)[r] = 1.0
    return t


def _fmt_index(flat, shape):
    import numpy as np

    if not shape:
        return "()"
    return str(tuple(int(v) for v in np.unravel_index(flat, shape)))


def _compare(analytical, numerical, outputs, inputs, diff_idx, atol, rtol, what):
    import numpy as np

    for o, out in enumerate(outputs):
        for k, i in enumerate(diff_idx):
            a, n = analytical[o][k], numerical[o][k]
            if a.size == 0:
                continue
            bad_nan = np.isnan(a) != np.isnan(n)
            excess = np.abs(a - n) - (atol + rtol * np.abs(n))
            excess = np.where(np.isnan(excess), np.where(bad_nan, np.inf, -np.inf), excess)
            if not (excess > 0).any():
                continue
            r, c = np.unravel_index(int(np.argmax(excess)), a.shape)
            av, nv = float(a[r, c]), float(n[r, c])
            msg = (f"{what}: Jacobian mismatch for output {o} with respect to input {i}.\n"
                   f"Worst entry: output element {_fmt_index(r, out.shape)} (row {r}), input element "
                   f"{_fmt_index(c, inputs[i].shape)} (column {c}): analytical {av!r}, numerical {nv!r}, "
                   f"difference {av - nv!r} (allowed atol={atol} + rtol={rtol} * |numerical| = "
                   f"{atol + rtol * abs(nv)!r}); {int((excess > 0).sum())} of {a.size} entries differ.")
            if a.size <= 100:
                with np.printoptions(precision=6, suppress=False, linewidth=120):
                    msg += f"\nanalytical Jacobian:\n{a}\nnumerical Jacobian:\n{n}"
            raise GradcheckError(msg)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check the gradients of `fn` at `inputs` against central finite differences.

    Returns True when they agree; otherwise raises GradcheckError (or returns False when
    `raise_exception=False`)."""
    inputs = _prepare_inputs(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, _tg.Tensor) and t.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    with _tg.enable_grad():
        outputs = _outputs_tuple(fn(*inputs))
        for o, out in enumerate(outputs):
            if not isinstance(out, _tg.Tensor):
                raise TypeError(f"gradcheck: fn must return a Tensor or a tuple of Tensors; output {o} is a "
                                f"{type(out).__name__}")
        analytical = _analytical_jacobians(outputs, inputs, diff_idx)
        out_sizes = [out.size if _is_float(out) else 0 for out in outputs]
        shapes = [out.shape for out in outputs]
        del outputs
        numerical = _numerical_jacobians(fn, inputs, diff_idx, out_sizes, eps)
    fake_outs = [_Shape(s) for s in shapes]
    try:
        _compare(analytical, numerical, fake_outs, inputs, diff_idx, atol, rtol, "gradcheck")
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


class _Shape:
    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check second derivatives: gradcheck of `(inputs, v) -> tg.grad(fn(inputs), inputs, v,
    create_graph=True)`.

    `grad_outputs` (one per differentiable output of fn) defaults to random float64
    tensors (a fixed seed) that require grad, so the check also covers the derivative with
    respect to them."""
    import numpy as np

    inputs = _prepare_inputs(inputs)
    n_in = len(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, _tg.Tensor) and t.requires_grad]
    if not diff_idx:
        raise ValueError("gradgradcheck expects at least one input tensor to require gradient")
    with _tg.enable_grad():
        outputs = _outputs_tuple(fn(*inputs))
    diff_out = [o for o, out in enumerate(outputs) if _is_float(out) and out.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            _tg.from_numpy(rng.standard_normal(outputs[o].shape)).requires_grad_(True)
            for o in diff_out)
    else:
        grad_outputs = _prepare_inputs(grad_outputs)
        if len(grad_outputs) != len(diff_out):
            raise ValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for {len(diff_out)} "
                             f"differentiable outputs")
    del outputs

    def first_derivative(*args):
        xs, vs = args[:n_in], args[n_in:]
        outs = _outputs_tuple(fn(*xs))
        used = [outs[o] for o in diff_out]
        if not used:
            return ()
        vs = [v.to(u.dtype) if v.dtype is not u.dtype else v for v, u in zip(vs, used)]
        grads = _tg.grad(used, [xs[i] for i in diff_idx], grad_outputs=list(vs), create_graph=True,
                         allow_unused=True)
        return tuple(g if g is not None else _tg.zeros(xs[i].shape, dtype=xs[i].dtype)
                     for g, i in zip(grads, diff_idx))

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
