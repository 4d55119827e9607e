"""The TensorFlow idiom on tapegrad's engine: Variable, GradientTape and friends.

A GradientTape is a recording scope of the same C++ engine that serves
`backward()`: it never writes `.grad`, and ops run outside its block are not on it.
"""
import contextlib
import warnings

from . import _C
from ._dtypes import as_dtype
from ._grad_mode import no_grad
from ._errors import names_errors
from ._tensor import Tensor


class Variable(Tensor):
    """A mutable leaf tensor, as tf.Variable: trainable ones are watched automatically
    by any GradientTape whose block uses them. It does not require grad in the
    autograd sense, so ops on it outside a tape record nothing."""

    @names_errors("Variable")
    def __new__(cls, value, trainable=True, name=None, dtype=None):
        if trainable is None:  # tf.Variable's default
            trainable = True
        # a bool or NumPy's bool scalar; not bool() of anything (ambiguous for tensors and arrays)
        if not isinstance(trainable, bool) and not (getattr(trainable, "shape", None) == ()
                                                    and str(getattr(trainable, "dtype", "")) == "bool"):
            raise TypeError(f"trainable must be True or False, got {type(trainable).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        if isinstance(value, Tensor):
            value = value.detach()
        self = Tensor.__new__(cls, value, dtype=None if dtype is None else as_dtype(dtype))
        self._set_trainable(bool(trainable) and self.dtype.is_floating_point)
        self.name = name
        return self

    def __init__(self, value, trainable=True, name=None, dtype=None):
        pass

    @property
    def trainable(self):
        return self._is_trainable()

    def assign(self, value):
        """Overwrite the value in place (never recorded)."""
        with no_grad():
            self.copy_(value if isinstance(value, Tensor) else _C.tensor(value, dtype=self.dtype))
        return self

    def assign_add(self, delta):
        with no_grad():
            self.add_(delta)
        return self

    def assign_sub(self, delta):
        with no_grad():
            self.sub_(delta)
        return self

    def __repr__(self):
        name = f" '{self.name}'" if self.name else ""
        return f"<tg.Variable{name} shape={self.shape} dtype={self.dtype.name}, numpy={self.numpy()!r}>"

    def __reduce__(self):
        return (Variable, (self.numpy().copy(), self.trainable, self.name))


@names_errors("constant")
def constant(value, dtype=None):
    """A tensor that is not watched unless passed to tape.watch (tf.constant)."""
    return _C.tensor(value, dtype=dtype)


@names_errors("stop_gradient")
def stop_gradient(t):
    """The same values with no gradient flowing back (tf.stop_gradient)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"stop_gradient: expected a Tensor, got {type(t).__name__}")
    return t.detach()


def _flatten(structure, out):
    """Flatten nested list/tuple/dict (dicts in sorted-key order, as tf.nest)."""
    if isinstance(structure, dict):
        for k in sorted(structure):
            _flatten(structure[k], out)
    elif isinstance(structure, (list, tuple)):
        for s in structure:
            _flatten(s, out)
    else:
        out.append(structure)
    return out


def _pack(structure, flat_iter):
    if isinstance(structure, dict):
        packed = {k: _pack(structure[k], flat_iter) for k in sorted(structure)}
        return type(structure)((k, packed[k]) for k in structure) if type(structure) is not dict else \
            {k: packed[k] for k in structure}
    if isinstance(structure, (list, tuple)):
        items = [_pack(s, flat_iter) for s in structure]
        if isinstance(structure, tuple) and hasattr(structure, "_fields"):  # namedtuple
            return type(structure)(*items)
        return type(structure)(items)
    return next(flat_iter)


class GradientTape(_C._Tape):
    """Records the ops run inside its block that involve watched tensors.

    with tg.GradientTape() as tape:
        y = v ** 2 + 3 * v
    tape.gradient(y, v)
    """

    # __init__(persistent=False, watch_accessed_variables=True), __enter__, __exit__ and
    # gradient() (its common calls) are C++ (_C._Tape).

    @names_errors("watch")
    def watch(self, tensor):
        """Watch a tensor, or every tensor in a nested list/tuple/dict."""
        for t in _flatten(tensor, []):
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch: expected tensors, got {type(t).__name__}")
            if not t.dtype.is_floating_point:
                warnings.warn(f"GradientTape.watch: {t.dtype.name} tensors are not differentiable; ignored",
                              stacklevel=2)
                continue
            self._watch(t)

    @contextlib.contextmanager
    def stop_recording(self):
        """Ops run inside this block are not recorded on this tape."""
        self._set_recording(False)
        try:
            yield
        finally:
            self._set_recording(True)

    def reset(self):
        """Forget everything recorded so far (the block may continue recording)."""
        self._reset()

    def watched_variables(self):
        """The tensors this tape watches, in the order they were first watched."""
        return tuple(self._watched())

    @names_errors("gradient")
    def _structured_gradient(self, target, sources, output_gradients, unconnected_gradients):
        """gradient() for nested sources, output_gradients, "zero", non-floating sources."""
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        targets = _flatten(target, [])
        seeds = self._seeds(targets, output_gradients)
        flat_sources = _flatten(sources, [])
        differentiable = []
        for s in flat_sources:
            if not isinstance(s, Tensor):
                raise TypeError(f"GradientTape.gradient: sources must be tensors, got {type(s).__name__}")
            if not s.dtype.is_floating_point:
                warnings.warn(f"The dtype of the source tensor must be floating (got {s.dtype.name}); "
                              "its gradient is None", stacklevel=2)
            else:
                differentiable.append(s)
        grads = iter(self._gradient(targets, seeds, differentiable, False)) if differentiable else iter(())
        if not differentiable:
            self._gradient(targets, seeds, [], False)  # a non-persistent tape is still used up
        results = []
        for s in flat_sources:
            g = next(grads) if s.dtype.is_floating_point else None
            if g is None and unconnected_gradients == "zero":
                g = _C.zeros(s.shape, dtype=s.dtype)
            results.append(g)
        return _pack(sources, iter(results))

    def _seeds(self, targets, output_gradients):
        for t in targets:
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.gradient: target must be a tensor, got {type(t).__name__}")
        if output_gradients is None:
            return [_C.ones(t.shape, dtype=t.dtype) for t in targets]
        grads = _flatten(output_gradients, [])
        if len(grads) != len(targets):
            raise ValueError(f"GradientTape.gradient: {len(grads)} output_gradients for {len(targets)} targets")
        out = []
        for t, g in zip(targets, grads):
            g = g if isinstance(g, Tensor) else _C.tensor(g, dtype=t.dtype)
            if tuple(g.shape) != tuple(t.shape):
                g = _C.broadcast_to(g, t.shape)
            out.append(g)
        return out

    @names_errors("jacobian")
    def jacobian(self, target, source, unconnected_gradients="none"):
        """d target / d source, shaped target.shape + source.shape (one backward per
        target element)."""
        n = target.size
        rows = []
        flat_target = target.reshape(-1) if target.ndim else target
        for i in range(n):
            seed = _C.zeros((n,), dtype=target.dtype)
            with no_grad():
                seed[i] = 1.0
            seed = seed.reshape(target.shape)
            g = self._gradient([target], [seed], [source], i < n - 1)[0]
            if g is None:
                g = _C.zeros(source.shape, dtype=source.dtype) if unconnected_gradients == "zero" else None
            rows.append(g)
        del flat_target
        if n == 0:
            self._gradient([target], [_C.zeros(target.shape, dtype=target.dtype)], [source], False)
        if any(r is None for r in rows):
            return None
        if not rows:
            return _C.zeros(tuple(target.shape) + tuple(source.shape), dtype=source.dtype)
        return _C.stack(rows, 0).reshape(tuple(target.shape) + tuple(source.shape))

    @names_errors("batch_jacobian")
    def batch_jacobian(self, target, source, unconnected_gradients="none"):
        """Per-example Jacobians: target (B, ...) and source (B, ...) give
        (B,) + target.shape[1:] + source.shape[1:], assuming example b of target
        depends only on example b of source."""
        if target.ndim == 0 or source.ndim == 0 or target.shape[0] != source.shape[0]:
            raise ValueError(f"batch_jacobian: target {target.shape} and source {source.shape} need the same "
                             "first (batch) dimension")
        batch = target.shape[0]
        t_rest, s_rest = tuple(target.shape[1:]), tuple(source.shape[1:])
        m = 1
        for d in t_rest:
            m *= d
        rows = []
        t2 = target.reshape(batch, m)
        for j in range(m):
            seed = _C.zeros((batch, m), dtype=target.dtype)
            with no_grad():
                seed[:, j] = 1.0
            g = self._gradient([target], [seed.reshape(target.shape)], [source], j < m - 1)[0]
            if g is None:
                if unconnected_gradients != "zero":
                    return None
                g = _C.zeros(source.shape, dtype=source.dtype)
            rows.append(g.reshape(batch, -1))
        del t2
        if not rows:
            return _C.zeros((batch,) + t_rest + s_rest, dtype=source.dtype)
        return _C.stack(rows, 1).reshape((batch,) + t_rest + s_rest)


def custom_gradient(f):
    """Decorator for a function with its own gradient, as tf.custom_gradient.

    f(*inputs) returns (y, grad_fn), and grad_fn(*upstream) returns the gradient for
    each input (a tensor, or a tuple with one entry per input). The body of f runs
    without recording; grad_fn is recorded when a higher derivative is taken."""
    import functools

    from .autograd.function import Function

    class _CustomGradient(Function):
        @staticmethod
        def forward(ctx, *inputs):
            y, grad_fn = f(*inputs)
            ctx.grad_fn = grad_fn
            ctx.n_inputs = len(inputs)
            return y

        @staticmethod
        def backward(ctx, *upstream):
            grads = ctx.grad_fn(*upstream)
            if not isinstance(grads, (tuple, list)):
                grads = (grads,)
            if len(grads) != ctx.n_inputs:
                raise ValueError(f"custom_gradient: {f.__name__}'s grad_fn returned {len(grads)} gradients "
                                 f"for {ctx.n_inputs} inputs")
            return tuple(grads)

    _CustomGradient.__name__ = f"CustomGradient_{f.__name__}"

    @functools.wraps(f)
    def wrapper(*inputs):
        return _CustomGradient.apply(*inputs)

    return wrapper
