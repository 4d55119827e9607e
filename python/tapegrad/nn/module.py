"""Module and Parameter, shaped like torch.nn.Module / torch.nn.Parameter.

A Parameter is a Tensor that requires grad (autograd idiom) and is trainable (so that any
GradientTape whose block uses it watches it, as a tf.Variable): one model serves both idioms.
``Module.trainable_variables`` is the TensorFlow spelling of the list of trainable
parameters.
"""
from collections import OrderedDict, namedtuple

from .. import _C
from .._grad_mode import no_grad
from .._tensor import Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A leaf tensor that a Module registers as one of its parameters.

    ``Parameter(data, requires_grad=True)``; ``data`` is a Tensor, a NumPy array, a list or
    a scalar and is copied (PyTorch shares a Tensor's memory; tapegrad copies as
    ``tg.Variable`` does). Parameters are trainable: GradientTapes watch them."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _C.empty((0,))
        if isinstance(data, Tensor):
            data = data.detach()
        self = Tensor.__new__(cls, data)
        if self.dtype.is_floating_point:
            self.requires_grad = bool(requires_grad)
            self._set_trainable(bool(requires_grad))
        elif requires_grad:
            raise RuntimeError(f"Only Tensors of floating point dtype can require gradients "
                               f"(got {self.dtype.name})")
        return self

    def __init__(self, data=None, requires_grad=True):
        pass

    @property
    def trainable(self):
        return self._is_trainable()

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = bool(requires_grad)
        self._set_trainable(bool(requires_grad))
        return self

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __reduce__(self):
        return (Parameter, (self.detach().numpy().copy(), self.requires_grad))


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of the layers. Assigning a Parameter or a Module to an attribute registers
    it, as in PyTorch; ``__call__`` runs ``forward``."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def _check_init(self):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign to a {type(self).__name__} before Module.__init__() call")

    def register_parameter(self, name, param):
        self._check_init()
        _check_name(name, self)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(tg.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_init()
        _check_name(name, self)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(tg.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        self._check_init()
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(name, self)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(self, name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(tg.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if d.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _remove_from(self, name)
            self._modules[name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(tg.nn.Module or None expected)")
            self._modules[name] = value
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(tg.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            s = self.__dict__.get(store)
            if s is not None and name in s:
                del s[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, store).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield mod_prefix + ("." if mod_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    @property
    def trainable_variables(self):
        """The parameters that are trained (requires_grad), as a list (TensorFlow's name)."""
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_variables(self):
        return [p for p in self.parameters() if not p.requires_grad] + list(self.buffers())

    @property
    def variables(self):
        return list(self.parameters()) + list(self.buffers())

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        from ..optim.optimizer import zero_grads

        zero_grads(self.parameters(), set_to_none)

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, dtype):
        """Convert the floating-point parameters and buffers to ``dtype``. Parameters whose
        dtype changes are replaced by new Parameter objects (build optimizers after this)."""
        from .._dtypes import as_dtype

        dtype = as_dtype(dtype)
        if not dtype.is_floating_point:
            raise TypeError(f"Module.to only accepts floating point dtypes, but got {dtype.name}")
        for m in self.modules():
            for name, p in list(m._parameters.items()):
                if p is not None and p.dtype.is_floating_point and p.dtype is not dtype:
                    m._parameters[name] = Parameter(p.detach().to(dtype), requires_grad=p.requires_grad)
            for name, b in list(m._buffers.items()):
                if b is not None and b.dtype.is_floating_point and b.dtype is not dtype:
                    m._buffers[name] = b.detach().to(dtype)
        return self

    def double(self):
        from .._dtypes import float64

        return self.to(float64)

    def float(self):
        from .._dtypes import float32

        return self.to(float32)

    # ------------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An OrderedDict name -> tensor of the parameters and persistent buffers. The
        tensors are detached and share memory with the module's (as in PyTorch)."""
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (Tensors or NumPy arrays) into the parameters and buffers, in place.
        With ``strict`` a missing or unexpected key raises RuntimeError; a shape mismatch
        always does. Returns ``(missing_keys, unexpected_keys)``."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        values = {}
        for name, target in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if not isinstance(value, Tensor):
                try:
                    import numpy as np

                    arr = np.asarray(value)
                    value = _C.tensor(arr, dtype=target.dtype)
                    if tuple(value.shape) != arr.shape:
                        value = value.reshape(arr.shape)
                except Exception as e:  # noqa: BLE001
                    errors.append(f'While copying the parameter named "{name}", could not convert a '
                                  f"{type(value).__name__}: {e}")
                    continue
            if tuple(value.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {name}: copying a param with shape {tuple(value.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(target.shape)}.")
                continue
            values[name] = value
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for name, value in values.items():
                target = own[name]
                src = value.detach()
                if src.dtype is not target.dtype:
                    src = src.to(target.dtype)
                target.copy_(src)
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, module in self._modules.items():
            mod_str = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {mod_str}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _check_name(name, module):
    if not isinstance(name, str):
        raise TypeError(f"name should be a string. Got {type(name).__name__}")
    if name == "":
        raise KeyError('name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'name can\'t contain ".", got: {name}')


def _remove_from(module, name):
    for store in ("_parameters", "_buffers", "_modules"):
        s = module.__dict__.get(store)
        if s is not None and name in s:
            del s[name]
    module.__dict__.pop(name, None)
