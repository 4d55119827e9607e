"""tg.Function: custom differentiable operations, with PyTorch's semantics.

    class Exp(tg.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(x)
            return y

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x.exp()

    y = Exp.apply(x)

`forward` runs under `tg.no_grad()` (the operations it performs are not recorded);
then, when grad mode is on and a tensor argument requires grad (or is watched by an
active GradientTape), one node named `"<ClassName>Backward"` is recorded whose
derivative rule is `backward`. `ctx.needs_input_grad` holds one bool per argument: during
`forward` whether it requires grad, and from recording on whether the recorded node
sends it a gradient (tape-watched inputs included).

`backward(ctx, *grads)` receives one gradient per output of `forward` (zeros for
outputs that took no gradient, `None` for outputs that are not tensors) and returns one
entry per argument of `forward`: a Tensor (the gradient for that argument, of its shape)
or `None` (no gradient, e.g. for non-tensor arguments). A single gradient may be returned
bare instead of in a 1-tuple. The engine runs `backward` with grad mode on exactly when
the backward pass itself is recorded (`create_graph=True`), so a `backward` written with
tapegrad operations is differentiable again.

Reference cycles. Python's collector cannot see through the C++ graph, so a cycle
ctx -> output -> grad_fn -> backward -> ctx would never be freed. Two rules prevent it:

* a tensor passed to `ctx.save_for_backward` that is also an output of `forward` is kept
  as `output.detach()` (same memory, same version counter, no history);
* an output that `forward` returns unchanged from its inputs (`return x`), or returns
  twice, is replaced by a `detach()` alias of it, which then receives the node as its
  `grad_fn`; the input's own `grad_fn` is never overwritten.

A saved output still takes part in a recorded (`create_graph=True`) backward, as in
PyTorch: the engine lends the node to `backward` for the duration of that call, and
`ctx.saved_tensors` then returns the output as an alias of the saved memory whose
history is that node (at the output's index), so its use in `backward` is differentiated
too. When the backward is not recorded it returns the saved memory without history. The
node is not kept afterwards, so no cycle remains.

After a backward pass without `retain_graph=True` the engine calls `release()` on the
derivative rule, which frees the saved tensors; reading `ctx.saved_tensors` afterwards
(a second backward through the same graph) raises `RuntimeError` mentioning
`retain_graph=True`.
"""
import tapegrad as _tg

from .. import _C

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """The context object passed to `forward` and `backward`.

    Holds the tensors saved by `save_for_backward`, `needs_input_grad` (one bool per
    forward argument) and any attribute the Function chooses to set on it.
    """

    def __init__(self, fn_name, needs_input_grad):
        self._fn_name = fn_name
        self.needs_input_grad = needs_input_grad
        self._saved = None  # tuple of (tensor_or_None, version, output_nr or None, requires_grad)
        self._node = None  # the recorded node, only while its backward runs recorded
        self._released = False
        self._non_differentiable = ()

    def save_for_backward(self, *tensors):
        """Keep tensors (or None) for `backward`, where `ctx.saved_tensors` returns them.

        The version counter of each is remembered: changing one in place before the
        backward pass makes `saved_tensors` raise instead of returning stale values."""
        saved = []
        for i, t in enumerate(tensors):
            if t is None:
                saved.append((None, 0, None, False))
            elif isinstance(t, _tg.Tensor):
                saved.append((t, t._version(), None, False))
            else:
                raise TypeError(f"{self._fn_name}.save_for_backward: argument {i} is a "
                                f"{type(t).__name__}; only Tensors or None can be saved "
                                f"(store other values as attributes of ctx)")
        self._saved = tuple(saved)

    def mark_non_differentiable(self, *tensors):
        """Declare outputs that have no gradient (their incoming gradient is zeros)."""
        self._non_differentiable = tuple(tensors)

    @property
    def saved_tensors(self):
        """The tensors given to `save_for_backward`, in order.

        Raises RuntimeError if one of them was modified in place since it was saved, or if
        they were freed by an earlier backward pass (see retain_graph). In a recorded
        (create_graph=True) backward a saved output has the node as its history."""
        if self._released:
            raise RuntimeError(
                f"{self._fn_name}Backward: trying to backward through the graph a second time (or to "
                f"use saved tensors after they were freed). Saved tensors are freed after backward(); "
                f"pass retain_graph=True to backward() or tg.grad() the first time if you need to "
                f"backward through the graph again.")
        if self._saved is None:
            return ()
        out = []
        for i, (t, version, output_nr, requires_grad) in enumerate(self._saved):
            if t is None:
                out.append(None)
                continue
            if t._version() != version:
                raise RuntimeError(
                    f"{self._fn_name}Backward: one of the tensors saved with {self._fn_name}.save_for_backward "
                    f"(saved tensor {i}, shape {t.shape}) has been modified by an in-place operation: it "
                    f"is at version {t._version()}, expected version {version}. Clone it before modifying "
                    f"it in place, or modify it after backward.")
            if output_nr is not None and self._node is not None:
                t = _C._saved_output(t, self._node, output_nr, requires_grad)
            out.append(t)
        return tuple(out)

    # internal: called after recording. A saved output is kept detached, with the number
    # under which a recorded backward relinks it to the node, if the node gave it history.
    def _detach_saved_outputs(self, outputs, non_differentiable):
        if not self._saved:
            return
        fixed = []
        for t, version, output_nr, requires_grad in self._saved:
            k = next((k for k, o in enumerate(outputs) if t is o), None)
            if k is None:
                fixed.append((t, version, output_nr, requires_grad))
            else:
                linked = t.grad_fn is not None and not any(t is n for n in non_differentiable)
                fixed.append((t.detach(), version, k if linked else None, t.requires_grad))
        self._saved = tuple(fixed)

    def _release(self):
        self._saved = None
        self._released = True


class _BackwardFn:
    """The derivative rule handed to the engine: grads tuple -> one entry per argument."""

    __slots__ = ("cls", "ctx", "n_args", "arg_dtypes", "out_is_tensor")

    def __init__(self, cls, ctx, n_args, arg_dtypes, out_is_tensor):
        self.cls = cls
        self.ctx = ctx
        self.n_args = n_args
        self.arg_dtypes = arg_dtypes      # dtype per argument (None for non-tensors)
        self.out_is_tensor = out_is_tensor  # per forward output: recorded as a tensor output?

    def __call__(self, grads, node):
        """node: the recorded node when this backward is itself recorded, else None."""
        ctx = self.ctx
        if ctx is None:
            raise RuntimeError(f"{self.cls.__name__}Backward: the context was freed")
        # Map the tensor-output gradients back onto all forward outputs (None elsewhere).
        it = iter(grads)
        full = tuple(next(it) if is_t else None for is_t in self.out_is_tensor)
        ctx._node = node  # for saved_tensors; kept after the call it would be a cycle
        try:
            result = self.cls.backward(ctx, *full)
        finally:
            ctx._node = None
        if not isinstance(result, tuple):
            result = tuple(result) if isinstance(result, list) else (result,)
        if len(result) > self.n_args:  # extra trailing Nones are tolerated, as in PyTorch
            if any(r is not None for r in result[self.n_args:]):
                raise RuntimeError(f"{self.cls.__name__}Backward: backward returned {len(result)} gradients "
                                   f"but forward took {self.n_args} arguments")
            result = result[: self.n_args]
        if len(result) != self.n_args:
            raise RuntimeError(f"{self.cls.__name__}Backward: backward returned {len(result)} gradients but "
                               f"forward took {self.n_args} arguments (return None for arguments that need "
                               f"no gradient)")
        fixed = []
        for g, dt in zip(result, self.arg_dtypes):
            if dt is None or g is None:
                fixed.append(None)
            elif isinstance(g, _tg.Tensor) and g.dtype is not dt:
                fixed.append(g.to(dt))
            else:
                fixed.append(g)
        return tuple(fixed)

    def release(self):
        """Free the saved tensors (called by the engine after a backward without retain_graph)."""
        if self.ctx is not None:
            self.ctx._release()


class _FunctionMeta(type):
    def __call__(cls, *args, **kwargs):
        raise RuntimeError(f"{cls.__name__} is a tg.Function: call {cls.__name__}.apply(...) "
                           f"instead of instantiating it")


class Function(metaclass=_FunctionMeta):
    """Base class for custom differentiable operations (see the module docstring).

    Subclass with `@staticmethod forward(ctx, *args)` and
    `@staticmethod backward(ctx, *grads)`; call with `Cls.apply(*args)`."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a tg.Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a tg.Function subclass must define backward(ctx, *grads) to be differentiated")

    @classmethod
    def apply(cls, *args, **kwargs):
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply takes positional arguments only")
        Tensor = _tg.Tensor
        name = cls.__name__
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(name, needs)
        with _tg.no_grad():
            raw = cls.forward(ctx, *args)
        single = not isinstance(raw, (tuple, list))
        outs = [raw] if single else list(raw)

        # An output that is one of the inputs, or that appears twice, gets its own alias so
        # that recording does not overwrite another tensor's history.
        seen = []
        for i, o in enumerate(outs):
            if isinstance(o, Tensor):
                if any(o is a for a in args) or any(o is s for s in seen):
                    o = o.detach()
                    outs[i] = o
                seen.append(o)
        tensor_outs = [o for o in outs if isinstance(o, Tensor)]
        nondiff = ctx._non_differentiable
        ctx._non_differentiable = ()
        recorded = False
        if _C.is_grad_enabled() and any(isinstance(a, Tensor) for a in args):
            out_is_tensor = tuple(isinstance(o, Tensor) for o in outs)
            arg_dtypes = tuple(a.dtype if isinstance(a, Tensor) else None for a in args)
            fn = _BackwardFn(cls, ctx, len(args), arg_dtypes, out_is_tensor)
            # The engine decides: it records when an input requires grad or is watched
            # by an active GradientTape, and says whether it did.
            recorded = bool(_C._record_function(name, fn, args, tensor_outs))
        ctx._detach_saved_outputs(tensor_outs, nondiff)
        if recorded:
            # needs_input_grad, as the engine sees it (tape-watched inputs included)
            node = next((o.grad_fn for o in tensor_outs if o.grad_fn is not None), None)
            if node is not None:
                edges = iter(node.next_functions)
                ctx.needs_input_grad = tuple(next(edges)[0] is not None if isinstance(a, Tensor) else False
                                             for a in args)
            if nondiff:
                # The engine gives them zero gradients; they should not require grad.
                for i, o in enumerate(outs):
                    if isinstance(o, Tensor) and any(o is n for n in nondiff):
                        outs[i] = o.detach()
        return outs[0] if single else tuple(outs)
