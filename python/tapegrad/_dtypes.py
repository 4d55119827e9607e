"""The four dtypes and conversion from the names people pass (NumPy dtypes, strings)."""


class dtype:
    """A tensor element type: tg.float32, tg.float64, tg.int64 or tg.bool."""

    __slots__ = ("name", "itemsize", "is_floating_point")

    def __init__(self, name, itemsize, is_floating_point):
        self.name = name
        self.itemsize = itemsize
        self.is_floating_point = is_floating_point

    def __repr__(self):
        return f"tapegrad.{self.name}"

    def __reduce__(self):  # pickled by name: unpickling gives the same object
        return "bool_" if self.name == "bool" else self.name


float32 = dtype("float32", 4, True)
float64 = dtype("float64", 8, True)
int64 = dtype("int64", 8, False)
bool_ = dtype("bool", 1, False)

_by_name = {"float32": float32, "float64": float64, "int64": int64, "bool": bool_}
# What a PyTorch or NumPy user may pass as a dtype. Python's float means float64 as
# in NumPy and PyTorch; int means int64.
_aliases = {"float": float64, "double": float64, "long": int64, "int": int64, "bool_": bool_,
            "f4": float32, "f8": float64, "i8": int64, "?": bool_}


def as_dtype(obj):
    """Map a dtype-like object to one of the four dtypes, or raise TypeError."""
    if isinstance(obj, dtype):
        return obj
    if obj is float:
        return float64
    if obj is int:
        return int64
    if obj is bool:
        return bool_
    name = obj if isinstance(obj, str) else getattr(obj, "name", None)
    if name is None and hasattr(obj, "dtype"):  # NumPy scalar types such as np.float32
        name = getattr(obj.dtype, "name", None)
    if name is None:
        try:
            import numpy as np

            name = np.dtype(obj).name
        except Exception:
            name = None
    if isinstance(name, str):
        key = name.replace("torch.", "").replace("tapegrad.", "")
        if key in _by_name:
            return _by_name[key]
        if key in _aliases:
            return _aliases[key]
    raise TypeError(f"unsupported dtype {obj!r}: tapegrad has float32, float64, int64 and bool")
