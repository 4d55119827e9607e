"""Checkpoints: tg.save(obj, path) / tg.load(path) in the safetensors format.

Never pickle: a safetensors file is a JSON header plus raw tensor bytes, so loading one
cannot run code.

* A flat ``{str: Tensor}`` dict (a Module's ``state_dict()``) is written as a plain
  safetensors file whose tensor names are the keys: other safetensors readers load it.
* Any other structure made of dicts (str or int keys), lists, tuples, tensors and JSON
  scalars (None, bool, int, float, str) — e.g. an optimizer's or a scheduler's
  ``state_dict()``, or ``{"model": ..., "optim": ..., "epoch": 3}`` — is written with its
  tensors as safetensors entries and its skeleton as JSON in the file's metadata
  (key ``"tapegrad.structure"``); ``tg.load`` rebuilds it.

``tg.load`` returns tensors that own their memory (copies of the file's bytes). A file that
is not valid safetensors (corrupt, truncated, or not a checkpoint at all) raises
ValueError naming the path; a missing file raises FileNotFoundError.
"""
import json
import math
import os
import tempfile

from . import _C
from ._tensor import Tensor

__all__ = ["save", "load"]

_STRUCT_KEY = "tapegrad.structure"
_FORMAT_KEY = "tapegrad.format"
_FORMAT = "1"
_KEYS_KEY = "tapegrad.keys"  # the key order of a flat state_dict


def _safetensors_numpy():
    try:
        from safetensors import numpy as stnp
    except ImportError as e:  # pragma: no cover - a declared runtime dependency
        raise ImportError("tg.save / tg.load need the 'safetensors' package: pip install safetensors") from e
    return stnp


def _to_numpy(t):
    import numpy as np

    return np.array(t.detach().numpy(), copy=True, order="C")  # (np.ascontiguousarray would make 0-d 1-d)


def _is_flat_tensor_dict(obj):
    return (isinstance(obj, dict) and all(isinstance(k, str) for k in obj)
            and all(isinstance(v, Tensor) for v in obj.values()))


class _Encoder:
    def __init__(self):
        self.tensors = {}

    def _name(self, path):
        base = ".".join(str(p) for p in path) or "tensor"
        name, i = base, 1
        while name in self.tensors:
            name = f"{base}#{i}"
            i += 1
        return name

    def encode(self, obj, path):
        if isinstance(obj, Tensor):
            name = self._name(path)
            self.tensors[name] = _to_numpy(obj)
            return {"T": name}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"F": repr(obj)}  # inf, -inf, nan
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"tg.save: dict keys must be str or int, got {type(k).__name__} at "
                                    f"{'.'.join(map(str, path)) or '<root>'}")
                items.append([k, self.encode(v, path + [k])])
            return {"D": items}
        if isinstance(obj, tuple):
            return {"U": [self.encode(v, path + [i]) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return {"L": [self.encode(v, path + [i]) for i, v in enumerate(obj)]}
        try:  # NumPy scalars and arrays
            import numpy as np

            if isinstance(obj, np.generic):
                return self.encode(obj.item(), path)
            if isinstance(obj, np.ndarray):
                return self.encode(_C.tensor(obj), path)
        except ImportError:  # pragma: no cover
            pass
        raise TypeError(f"tg.save cannot store an object of type {type(obj).__name__} (at "
                        f"{'.'.join(map(str, path)) or '<root>'}): only tensors, dicts, lists, tuples and "
                        "None/bool/int/float/str are saved (never pickled)")


def save(obj, path):
    """Write ``obj`` (a state_dict, or a nesting of dicts/lists/tuples of tensors and plain
    values) to ``path`` in the safetensors format. The file is written to a temporary
    name first and then renamed, so an interrupted save leaves no truncated checkpoint."""
    stnp = _safetensors_numpy()
    path = os.fspath(path)
    if _is_flat_tensor_dict(obj):
        tensors = {k: _to_numpy(v) for k, v in obj.items()}
        metadata = {_FORMAT_KEY: _FORMAT, _KEYS_KEY: json.dumps(list(obj.keys()))}
    else:
        enc = _Encoder()
        skeleton = enc.encode(obj, [])
        tensors = enc.tensors
        metadata = {_FORMAT_KEY: _FORMAT, _STRUCT_KEY: json.dumps(skeleton, separators=(",", ":"))}
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tg-save-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        stnp.save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _decode(node, tensors, path):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        (tag, value), = node.items()
        if tag == "T":
            if value not in tensors:
                raise ValueError(f"missing tensor {value!r}")
            return tensors[value]
        if tag == "F":
            return float(value)
        if tag == "D":
            return {k: _decode(v, tensors, path + [k]) for k, v in value}
        if tag == "L":
            return [_decode(v, tensors, path + [i]) for i, v in enumerate(value)]
        if tag == "U":
            return tuple(_decode(v, tensors, path + [i]) for i, v in enumerate(value))
    raise ValueError(f"unexpected node {node!r:.80}")


def load(path):
    """Read a checkpoint written by ``tg.save`` (or any safetensors file: its tensors come
    back as a ``{name: Tensor}`` dict). Raises ValueError naming the path when the file is
    not a valid safetensors file."""
    stnp = _safetensors_numpy()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"tg.load: no such file: {path!r}")
    try:
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises SafetensorError (and others) on bad files
        raise ValueError(f"tg.load: {path!r} is not a valid safetensors checkpoint (corrupt or truncated file?): "
                         f"{type(e).__name__}: {e}") from None
    del stnp
    tensors = {}
    for k, a in arrays.items():
        try:
            t = _C.tensor(a)
            if tuple(t.shape) != tuple(a.shape):  # tg.tensor(0-d array) gave (1,) in some builds
                t = t.reshape(tuple(a.shape))
            tensors[k] = t
        except Exception as e:  # noqa: BLE001 - e.g. a dtype tapegrad does not have
            raise ValueError(f"tg.load: {path!r}: tensor {k!r} of dtype {a.dtype} cannot be loaded: {e}") from None
    structure = metadata.get(_STRUCT_KEY)
    if structure is None:
        order = metadata.get(_KEYS_KEY)
        try:
            keys = json.loads(order) if order is not None else None
        except json.JSONDecodeError:
            keys = None
        if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(tensors):
            keys = list(tensors)
        return {k: tensors[k] for k in keys}
    try:
        return _decode(json.loads(structure), tensors, [])
    except (ValueError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"tg.load: {path!r} has a corrupt tapegrad structure header: {e}") from None
