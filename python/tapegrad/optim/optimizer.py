"""The Optimizer base class, shaped like torch.optim.Optimizer.

Both idioms drive the same object:

* autograd: ``loss.backward(); opt.step(); opt.zero_grad()`` (the gradients are read from
  each parameter's ``.grad``);
* tape: ``opt.apply_gradients(zip(grads, variables))`` (the gradients are the ones given;
  ``.grad`` is neither read nor written).

Each subclass implements ``_update_group(group, params, grads)``, which runs the update of
all the given parameters of one group in a single C++ call (``tapegrad._C._*_step``).

Choices where neither PyTorch nor TensorFlow decides for us:

* an optimizer may be built with ``params=None`` (as a Keras optimizer is built without
  variables); the variables passed to the first ``apply_gradients`` then form
  ``param_groups[0]``. A variable that ``apply_gradients`` receives and that is in no group
  is added to ``param_groups[0]`` (Keras builds its state for new variables lazily too).
* a ``None`` gradient skips that variable (PyTorch's rule for ``.grad is None`` and
  TensorFlow's for ``apply_gradients``); if every gradient given to ``apply_gradients`` is
  ``None``, ``ValueError`` is raised as TensorFlow does.
* ``state_dict()`` keeps step counts as Python ints (PyTorch keeps 0-d tensors), so that it
  can be written with ``tg.save``.
"""
import copy
from collections import OrderedDict

from .. import _C
from .._errors import check_number, names_errors
from .._grad_mode import enable_grad, no_grad
from .._tensor import Tensor


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _called(method=None):
    """The name errors give for a call on an optimizer: its class (the constructor, also
    through a parent's __init__) or Class.method; internal calls go through undecorated
    helpers, so a message names the user's call once."""
    return lambda self, *args, **kwargs: type(self).__name__ + (f".{method}" if method else "")


class Optimizer:
    """Base class of the optimizers. Subclasses pass their hyper-parameter defaults."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = names_errors(_called())(cls.__dict__["__init__"])

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = _State()
        self.param_groups = []
        self.iterations = 0  # number of step()/apply_gradients() calls (tf's optimizer.iterations)
        if params is None:
            return
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        if isinstance(params, dict):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a dict (pass [dict] for one parameter group)")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self._add_param_group(group)

    # ------------------------------------------------------------------ groups
    @names_errors(_called("add_param_group"))
    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with 'params' and optional hyper-parameters)."""
        self._add_param_group(param_group)

    def _add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("param_group must have a 'params' entry")
        if isinstance(params, Tensor):
            group["params"] = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            group["params"] = list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.dtype.is_floating_point:
                raise TypeError(f"optimizer can only optimize floating-point Tensors, but one of the params "
                                f"has dtype {p.dtype.name}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        self._check_hyperparameters(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if seen & set(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check_hyperparameters(self, group):
        """Subclasses validate a group's hyper-parameters (ValueError on bad values)."""

    def _all_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    # ------------------------------------------------------------------ grads
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all the parameters: to None (default) or to zeros in place."""
        zero_grads(self._all_params(), set_to_none)

    # ------------------------------------------------------------------ steps
    def step(self, closure=None):
        """One update of every parameter that has a ``.grad``. ``closure`` (optional)
        re-evaluates the model and returns the loss, which step returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()  # its own errors pass through as they are
        self._update_from_grads()
        return loss

    @names_errors(_called("step"))
    def _update_from_grads(self):
        with no_grad():
            for group in self.param_groups:
                params, grads = [], []
                for p in group["params"]:
                    if p.grad is not None:
                        params.append(p)
                        grads.append(_prepare_grad(p, p.grad))
                if params:
                    self._update_group(group, params, grads)
        self.iterations += 1

    @names_errors(_called("apply_gradients"))
    def apply_gradients(self, grads_and_vars):
        """The tape idiom: update each variable with the gradient paired with it,
        ``opt.apply_gradients(zip(grads, variables))``. ``.grad`` is not used."""
        pairs = list(grads_and_vars)
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError("expected an iterable of (gradient, variable) pairs, "
                                f"e.g. zip(grads, variables); got an item of type {type(pair).__name__}")
        if not pairs:
            return None
        if all(g is None for g, _ in pairs):
            names = ", ".join(_var_name(v) for _, v in pairs)
            raise ValueError(f"No gradients provided for any variable: ({names}).")
        by_id = {}
        for g, v in pairs:
            if not isinstance(v, Tensor):
                raise TypeError(f"variables must be tensors, got {type(v).__name__}")
            if g is not None and not isinstance(g, Tensor):
                raise TypeError(f"gradients must be tensors or None, got {type(g).__name__}")
            if id(v) in by_id:
                raise ValueError(f"variable {_var_name(v)} appears more than once")
            by_id[id(v)] = (g, v)
        known = {id(p) for p in self._all_params()}
        new = []
        for vid, (g, v) in by_id.items():
            if vid not in known:
                new.append(v)
                known.add(vid)
        if new:
            if not self.param_groups:
                self._add_param_group({"params": new})
            else:
                probe = dict(self.param_groups[0])
                probe["params"] = new
                self._add_param_group(probe)  # validates the new variables
                added = self.param_groups.pop()
                self.param_groups[0]["params"].extend(added["params"])
        with no_grad():
            for group in self.param_groups:
                params, grads = [], []
                for p in group["params"]:
                    entry = by_id.get(id(p))
                    if entry is None or entry[0] is None:
                        continue
                    params.append(p)
                    grads.append(_prepare_grad(p, entry[0]))
                if params:
                    self._update_group(group, params, grads)
        self.iterations += 1
        return None

    def _update_group(self, group, params, grads):
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}, with
        parameters numbered in the order of the groups, as PyTorch does. The tensors in
        'state' are the optimizer's own (not copies), as in PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for p in self._all_params():
            s = self.state.get(p)
            if s:
                state[index[id(p)]] = dict(s)
        return {"state": state, "param_groups": groups}

    @names_errors(_called("load_state_dict"))
    def load_state_dict(self, state_dict):
        """Load a state_dict from ``state_dict()`` (tensors are copied, with the dtype of
        their parameter for the per-parameter state)."""
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError("optimizer state_dict must be a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)} vs {len(self.param_groups)})")
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"loaded state dict contains a parameter group (index {i}) that doesn't match "
                                 f"the size of optimizer's group ({len(sg['params'])} vs {len(g['params'])})")
        id_map = {}
        for g, sg in zip(self.param_groups, saved_groups):
            for p, idx in zip(g["params"], sg["params"]):
                id_map[_int_key(idx)] = p
        new_state = _State()
        saved_state = state_dict["state"]
        for k, s in saved_state.items():
            p = id_map.get(_int_key(k))
            if p is None:
                continue
            entry = {}
            for name, value in s.items():
                if isinstance(value, Tensor):
                    value = _copy_state_tensor(value, p if name != "step" else None)
                elif hasattr(value, "__array__") and not isinstance(value, (int, float, bool)):
                    value = _copy_state_tensor(_C.tensor(value), p if name != "step" else None)
                else:
                    value = copy.deepcopy(value)
                if name == "step" and isinstance(value, Tensor):
                    value = int(value.item())
                entry[name] = value
            new_state[p] = entry
        for g, sg in zip(self.param_groups, saved_groups):
            for key, value in sg.items():
                if key != "params":
                    g[key] = tuple(value) if isinstance(value, list) and key == "betas" else copy.deepcopy(value)
        self.state = new_state

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


class _State(OrderedDict):
    """Per-parameter state, keyed by the parameter tensor itself (by identity)."""

    def __init__(self):
        super().__init__()
        self._keys = {}

    def _k(self, p):
        return id(p)

    def __getitem__(self, p):
        try:
            return super().__getitem__(id(p))
        except KeyError:
            value = {}
            self[p] = value
            return value

    def __setitem__(self, p, value):
        self._keys[id(p)] = p
        super().__setitem__(id(p), value)

    def __contains__(self, p):
        return super().__contains__(id(p))

    def __delitem__(self, p):
        super().__delitem__(id(p))
        del self._keys[id(p)]

    def get(self, p, default=None):
        return super().get(id(p), default)

    def keys(self):
        return [self._keys[k] for k in super().keys()]

    def items(self):
        return [(self._keys[k], v) for k, v in super().items()]

    def __iter__(self):
        return iter(self.keys())

    def __repr__(self):
        return f"OptimizerState({len(self)} parameters)"


def _int_key(k):
    """State keys written by tg.save come back as ints; accept str digits too."""
    if isinstance(k, str) and k.isdigit():
        return int(k)
    return k


def _copy_state_tensor(value, like):
    if like is not None and tuple(value.shape) == tuple(like.shape):
        out = _C.zeros(like.shape, dtype=like.dtype)
        src = value.detach()
        if src.dtype is not like.dtype:
            src = src.to(like.dtype)
        with no_grad():
            out.copy_(src)
        return out
    return _C.clone(value.detach())


def _var_name(v):
    name = getattr(v, "name", None)
    return repr(name) if name else f"<tensor shape={tuple(v.shape)}>"


def _prepare_grad(p, g):
    """The gradient as the kernels want it: detached, contiguous, the parameter's
    shape and dtype."""
    if tuple(g.shape) != tuple(p.shape):
        raise ValueError(f"gradient of shape {tuple(g.shape)} does not match its parameter's shape "
                         f"{tuple(p.shape)}")
    if g.dtype is not p.dtype:
        raise TypeError(f"gradient of dtype {g.dtype.name} does not match its parameter's dtype {p.dtype.name}")
    if g.requires_grad:
        g = g.detach()
    if not g.is_contiguous():
        g = g.contiguous()
    return g


def _zeros_like(p):
    return _C.zeros(p.shape, dtype=p.dtype)


def zero_grads(params, set_to_none=True):
    """Reset each parameter's gradient: to None, or to zeros in place (detached first when
    it carries history, as PyTorch does)."""
    for p in params:
        g = p.grad
        if g is None:
            continue
        if set_to_none:
            p.grad = None
            continue
        if g.grad_fn is not None:
            g = g.detach()
            p.grad = g
        with no_grad():
            g.zero_()


def _check(cond, message):
    if not cond:
        raise ValueError(message)


def _check_numbers(group, *names):
    for name in names:
        check_number(group[name], name)
