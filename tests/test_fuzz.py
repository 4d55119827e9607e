"""Fuzz test of every public op against NumPy (ISSUE #7, SPEC §6).

Each family below draws cases with Hypothesis (random shapes, dtypes, strides/views,
NaN/Inf, empty and 0-d tensors, invalid axes/shapes/indices, garbage arguments) and
runs them in a child interpreter, so that a crash (segfault, abort) is reported with
the case that caused it instead of killing pytest. For every case tapegrad must either

* return the same result as NumPy (shape, dtype by PyTorch's promotion rules, values;
  for differentiable structural ops also the gradient), or
* raise a documented exception (TypeError, ValueError, IndexError, RuntimeError) whose
  message names the operation — and it must raise when NumPy (or PyTorch's rule where
  the two differ, noted at the reference) rejects the input.

Knobs: TAPEGRAD_FUZZ_EXAMPLES=N draws N cases per family (default: a few hundred, ~3,000
in all); TAPEGRAD_FUZZ_SEED=S explores a different random stream (default: the same
derandomized stream on every run, so CI is reproducible). Every failure is printed
with a one-line repro.
"""
import json
import math
import operator
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapegrad as tg

HERE = os.path.dirname(os.path.abspath(__file__))
DOCUMENTED = (TypeError, ValueError, IndexError, RuntimeError)
NAN, INF = float("nan"), float("inf")

DEFAULT_EXAMPLES = {"unary": 300, "binary": 400, "reduction": 400, "shape": 400, "indexing": 400,
                    "matmul": 250, "creation": 300, "inplace": 300, "api": 300}
_ENV_N = os.environ.get("TAPEGRAD_FUZZ_EXAMPLES")
_ENV_SEED = os.environ.get("TAPEGRAD_FUZZ_SEED")
CASES_RUN = {}  # family -> number of cases executed (printed at the end)


# =====================================================================================
# Case representation (plain data, pickled to the child)
#   ("T", arr, layout, requires_grad)  a tensor whose logical values are `arr`
#   ("S", value)                       a Python scalar / literal passed as is
#   ("G", name)                        a garbage object built in the child (GARBAGE)
#   ("A", arr)                         a NumPy array passed as is
# A case is a dict: fam, op, form ("fn" | "meth" | "op" | special), args, kwargs, extra.
# =====================================================================================

class _Weird:
    def __repr__(self):
        return "<Weird>"


class _BadLen:  # a "sequence" whose __len__ lies and whose items raise
    def __len__(self):
        return 3

    def __getitem__(self, i):
        raise RuntimeError("boom from __getitem__")


class _BadIndex:  # __index__ raises
    def __index__(self):
        raise ZeroDivisionError("boom from __index__")


GARBAGE = {
    "None": lambda: None,
    "str": lambda: "abc",
    "bytes": lambda: b"\x00\x01",
    "object": object,
    "weird": _Weird,
    "dict": lambda: {"a": 1},
    "set": lambda: {1, 2},
    "complex": lambda: 1 + 2j,
    "nan": lambda: NAN,
    "inf": lambda: INF,
    "-inf": lambda: -INF,
    "bigint": lambda: 2 ** 70,
    "-bigint": lambda: -(2 ** 70),
    "int63": lambda: 2 ** 63,
    "neg": lambda: -1,
    "negbig": lambda: -(2 ** 62),
    "zero": lambda: 0,
    "float": lambda: 1.5,
    "emptylist": lambda: [],
    "ragged": lambda: [[1, 2], [3]],
    "nested": lambda: [[[[[[[[1]]]]]]]],
    "strlist": lambda: ["a", "b"],
    "nonelist": lambda: [None, 1],
    "lambda": lambda: (lambda *a: a),
    "dtype": lambda: tg.float32,
    "npstr": lambda: np.array(["a", "b"]),
    "npobj": lambda: np.array([object(), None], dtype=object),
    "npcomplex": lambda: np.ones(3, np.complex64),
    "npf16": lambda: np.ones((2, 2), np.float16),
    "npu8": lambda: np.arange(4, dtype=np.uint8),
    "np0d": lambda: np.float64(2.5),
    "badlen": _BadLen,
    "badindex": _BadIndex,
    "tensor0d": lambda: tg.tensor(1.0),
    "tensorint": lambda: tg.tensor([1, 2]),
    "tensorbool": lambda: tg.tensor([True, False]),
    "tensorempty": lambda: tg.zeros(0),
    "slice": lambda: slice(None, None, 0),
    "ellipsis": lambda: Ellipsis,
    "range": lambda: range(3),
    "generator": lambda: (i for i in range(3)),
}
GARBAGE_NAMES = sorted(GARBAGE)
# garbage that is neither a number nor convertible to a tensor
BAD_NAMES = ["None", "str", "bytes", "object", "weird", "dict", "set", "complex", "lambda", "dtype", "badlen",
             "badindex", "strlist", "nonelist", "ragged", "npstr", "npobj", "slice", "ellipsis", "generator"]

TG_DTYPES = {"float32": tg.float32, "float64": tg.float64, "int64": tg.int64, "bool": tg.bool}
CAT = {"bool": 0, "int64": 1, "float32": 2, "float64": 2}


# ------------------------------------------------------------------ repro strings ----

LARGE_RECIPES = {}  # id(array) -> (array kept alive so the id stays unique, arguments of large_array())


def _arr_src(a):
    if id(a) in LARGE_RECIPES and LARGE_RECIPES[id(a)][0] is a:
        return "large_array" + repr(LARGE_RECIPES[id(a)][1])
    if a.size > 200:
        return f"<{a.dtype.name} array of shape {a.shape}>"
    if a.size == 0:
        return f"np.zeros({a.shape}, dtype='{a.dtype.name}')"
    return f"np.array({a.tolist()!r}, dtype='{a.dtype.name}')"


def spec_src(spec):
    kind = spec[0]
    if kind == "T":
        _, arr, layout, rg = spec
        dt = f"tg.{arr.dtype.name}"
        if layout == "np":
            s = f"tg.from_numpy({_arr_src(arr)})"
        elif layout == "t" and arr.ndim >= 2:
            s = f"tg.tensor(np.ascontiguousarray({_arr_src(arr)}.T), dtype={dt}).permute{tuple(reversed(range(arr.ndim)))}"
        elif layout == "s" and arr.ndim >= 1:
            s = f"tg.tensor(np.repeat({_arr_src(arr)}, 2, axis=-1), dtype={dt})[..., ::2]"
        elif layout == "e" and arr.ndim >= 1 and arr.shape[0] >= 1:
            s = f"tg.tensor({_arr_src(arr[:1])}, dtype={dt}).expand{tuple(arr.shape)}"
        else:
            s = f"tg.tensor({_arr_src(arr)}, dtype={dt})"
        return s + (".requires_grad_()" if rg else "")
    if kind == "S":
        return repr(spec[1])
    if kind == "G":
        return f"<{spec[1]}>"
    if kind == "A":
        return _arr_src(spec[1])
    if kind == "L":
        return "[" + ", ".join(spec_src(s) for s in spec[1]) + "]"
    if kind == "D":
        return f"tg.{spec[1]}"
    if kind == "K":  # an index key
        return key_src(spec[1])
    return repr(spec)


def key_src(key):
    def one(k):
        if isinstance(k, tuple) and k and k[0] in ("T", "A", "S", "G"):
            return spec_src(k)
        if isinstance(k, slice):
            f = lambda v: "" if v is None else repr(v)  # noqa: E731
            return f"{f(k.start)}:{f(k.stop)}" + ("" if k.step is None else f":{k.step}")
        if k is Ellipsis:
            return "..."
        return repr(k)
    if isinstance(key, list):
        return ", ".join(one(k) for k in key) if key else "()"
    return one(key)


def case_src(case):
    args = [spec_src(a) for a in case["args"]]
    args += [spec_src(a) if is_spec(a) else repr(a) for a in (case.get("extra") or {}).get("call_args", ())]
    kw = ", ".join(f"{k}={spec_src(v) if is_spec(v) else repr(v)}" for k, v in case.get("kwargs", {}).items())
    form, op = case["form"], case["op"]
    allargs = ", ".join(args[1:] + ([kw] if kw else []))
    if case.get("fam") == "api" and op in SCENARIOS and form == "fn":
        fn = SCENARIOS[op]
        return f"tests/test_fuzz.py::{fn.__name__}(" + ", ".join(args) + f")  # scenario '{op}'"
    if form == "fn":
        return f"tg.{op}(" + ", ".join(args + ([kw] if kw else [])) + ")"
    if form == "meth":
        return f"{args[0]}.{op}({allargs})"
    if form == "op":
        if len(args) == 1:
            return f"({op}{args[0]})"
        return f"({args[0]} {op} {args[1]})"
    if form == "iop":
        return f"x = {args[0]}; x {op}= {args[1]}"
    if form == "getitem":
        return f"{args[0]}[{key_src(case['extra']['key'])}]"
    if form == "setitem":
        return f"x = {args[0]}; x[{key_src(case['extra']['key'])}] = {args[1]}"
    return f"{op}(" + ", ".join(args + ([kw] if kw else [])) + f")  # {form} {case.get('extra', '')}"


# =====================================================================================
# Child side: build the arguments, run tapegrad, compute the reference, compare.
# =====================================================================================

class Expect:
    """What a case may do. kind: 'value' (must match `value`, unless may_raise),
    'raise' (must raise), 'any' (any result; only crashes and bad exceptions fail)."""

    def __init__(self, kind, value=None, dtypes=None, may_raise=False, rtol=0.0, atol=0.0, names=(),
                 exc=DOCUMENTED, why=""):
        self.kind, self.value, self.dtypes, self.may_raise = kind, value, dtypes, may_raise
        self.rtol, self.atol, self.names, self.exc, self.why = rtol, atol, tuple(names), exc, why


class CaseFailure(Exception):
    pass


def quiet():
    class _Q:
        def __enter__(self):
            self.err = np.seterr(all="ignore")
            self.w = warnings.catch_warnings()
            self.w.__enter__()
            warnings.simplefilter("ignore")

        def __exit__(self, *a):
            self.w.__exit__(*a)
            np.seterr(**self.err)
    return _Q()


def make_tensor(spec):
    _, arr, layout, rg = spec
    dt = TG_DTYPES[arr.dtype.name]
    nd = arr.ndim
    info = {}
    if layout == "np":
        a = arr.copy()
        t = tg.from_numpy(a)
        info["np"] = a
    elif layout == "t" and nd >= 2:
        t = tg.tensor(np.ascontiguousarray(arr.T), dtype=dt).permute(*reversed(range(nd)))
    elif layout == "s" and nd >= 1:
        base = tg.tensor(np.repeat(arr, 2, axis=-1), dtype=dt)
        t = base[..., ::2]
        info["strided_base"] = base
    elif layout == "e" and nd >= 1 and arr.shape[0] >= 1:
        t = tg.tensor(arr[:1], dtype=dt).expand(*arr.shape)
        info["expanded"] = arr.shape[0] > 1
    else:
        t = tg.tensor(arr, dtype=dt)
    if t.shape != arr.shape or t.dtype is not dt:
        raise CaseFailure(f"harness: built {t.dtype!r}{t.shape} for {arr.dtype}{arr.shape} ({layout})")
    if rg:
        t.requires_grad_()
    return t, info


def materialize(spec, infos=None):
    """tapegrad-side argument for a spec."""
    kind = spec[0]
    if kind == "T":
        t, info = make_tensor(spec)
        if infos is not None:
            infos.append((t, spec, info))
        return t
    if kind == "S":
        return spec[1]
    if kind == "G":
        return GARBAGE[spec[1]]()
    if kind == "A":
        return spec[1].copy()
    if kind == "L":
        return [materialize(s, infos) for s in spec[1]]
    if kind == "D":
        return TG_DTYPES[spec[1]]
    raise AssertionError(spec)


def is_spec(v):
    return isinstance(v, tuple) and len(v) >= 2 and isinstance(v[0], str) and v[0] in ("T", "S", "G", "A", "L", "D")


def lit(v, infos=None):
    """Materialize v when it is a spec, else pass it through (plain Python literals)."""
    return materialize(v, infos) if is_spec(v) else v


def values(spec):
    """NumPy-side value for a spec (None for garbage)."""
    if spec[0] in ("T", "A"):
        return spec[1]
    if spec[0] == "S":
        return spec[1]
    return None


def check_tensor(got, ref, dtypes, rtol, atol, what="result"):
    if not isinstance(got, tg.Tensor):
        raise CaseFailure(f"{what}: expected a Tensor, got {type(got).__name__}: {got!r:.200}")
    ref = np.asarray(ref)
    dn = got.dtype.name
    if dtypes is not None and dn not in (dtypes if isinstance(dtypes, (set, tuple, list)) else (dtypes,)):
        raise CaseFailure(f"{what}: dtype {dn}, expected {dtypes}")
    if tuple(got.shape) != ref.shape:
        raise CaseFailure(f"{what}: shape {tuple(got.shape)}, expected {ref.shape}")
    g = np.array(got.numpy(), copy=True)
    if g.shape != ref.shape:
        raise CaseFailure(f"{what}: numpy() shape {g.shape} != shape {ref.shape}")
    if rtol == INF:  # shape and dtype only (random values)
        return
    if dn in ("int64", "bool"):
        r = ref.astype(g.dtype) if ref.dtype != g.dtype else ref
        if not np.array_equal(g, r):
            bad = np.argwhere(g != r)[:3].tolist()
            raise CaseFailure(f"{what}: values differ at {bad}: got {g.ravel()[:8].tolist()} expected {r.ravel()[:8].tolist()}")
        return
    with quiet():
        r = ref.astype(g.dtype).astype(np.float64)
        gg = g.astype(np.float64)
        same_nan = np.isnan(gg) == np.isnan(r)
        both_inf = np.isinf(gg) & np.isinf(r) & (gg == r)
        fin = np.isfinite(gg) & np.isfinite(r)
        close = np.zeros(gg.shape, bool)
        tol = atol + rtol * np.abs(r)
        close[fin] = np.abs(gg[fin] - r[fin]) <= np.broadcast_to(tol, gg.shape)[fin]
        ok = same_nan & (np.isnan(gg) | both_inf | close)
    if not ok.all():
        idx = np.argwhere(~ok)[:3]
        pairs = [(tuple(int(v) for v in i), gg[tuple(i)].item(), r[tuple(i)].item()) for i in idx]
        raise CaseFailure(f"{what}: {int((~ok).sum())} of {ok.size} values differ (rtol={rtol}, atol={atol}): "
                          f"(index, got, expected) {pairs}")


def evaluate(thunk, ex, post=None):
    """Run `thunk` (the tapegrad call) against the expectation; return 'ok:<what>' or raise CaseFailure."""
    try:
        got = thunk()
    except CaseFailure:
        raise
    except BaseException as e:  # noqa: B902 - everything a user could see
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        msg = f"{type(e).__name__}: {str(e)[:300]}"
        if str(e).startswith("boom from"):  # raised by the garbage argument itself, passed through
            return "raised:user"
        if not isinstance(e, ex.exc):
            raise CaseFailure(f"undocumented exception type {msg}")
        if ex.kind == "value" and not ex.may_raise:
            raise CaseFailure(f"raised on valid input: {msg}")
        if ex.names and isinstance(e, DOCUMENTED):
            low = str(e).lower()
            if not any(n.lower() in low for n in ex.names):
                raise CaseFailure(f"message does not name the op ({'/'.join(ex.names)}): {msg}")
        return f"raised:{type(e).__name__}"
    if ex.kind == "raise":
        desc = f"{got.dtype!r}{tuple(got.shape)}" if isinstance(got, tg.Tensor) else f"{type(got).__name__}"
        raise CaseFailure(f"accepted invalid input ({ex.why}); returned {desc}")
    if ex.kind == "value":
        check_tensor(got, ex.value, ex.dtypes, ex.rtol, ex.atol)
    if post is not None:
        post(got)
    return "ok:value" if ex.kind == "value" else "ok:any"


# ------------------------------------------------------------- dtype promotion ----

def promote(dts):
    """Promotion within one tier (PyTorch): the highest category, float64 beats float32."""
    c = max(CAT[d] for d in dts)
    if c == 2:
        return "float64" if "float64" in dts else "float32"
    return "int64" if c == 1 else "bool"


def scalar_cat(v):
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return 1
    return 2


def result_dtype(operands):
    """PyTorch's result_type: operands are ('t', dtype, ndim) or ('s', python_scalar).
    Dimensioned tensors win over 0-d tensors, which win over Python scalars, unless a
    lower tier has a higher category (bool < int < float)."""
    dim = [o[1] for o in operands if o[0] == "t" and o[2] > 0]
    zero = [o[1] for o in operands if o[0] == "t" and o[2] == 0]
    sc = [scalar_cat(o[1]) for o in operands if o[0] == "s"]
    r = promote(dim) if dim else None
    if zero:
        z = promote(zero)
        if r is None or CAT[z] > CAT[r]:
            r = z
    if sc:
        c = max(sc)
        if r is None or c > CAT[r]:
            r = {0: "bool", 1: "int64", 2: "float32"}[c]
    return r


def operand(spec):
    if spec[0] == "T":
        return ("t", spec[1].dtype.name, spec[1].ndim)
    return ("s", spec[1])


def ftol(dt, rtol32=2e-5, rtol64=1e-11, atol32=1e-6, atol64=1e-12):
    return (rtol32, atol32) if dt == "float32" else (rtol64, atol64)


def sum_to(g, shape):
    g = np.asarray(g)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g.reshape(shape)


# ============================================================================ unary ====

UNARY_FLOAT = ["exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "gelu",
               "softplus", "reciprocal"]
UNARY_KEEP = ["abs", "sign", "neg", "relu", "square"]
UNARY_PRED = ["isnan", "isinf", "isfinite", "logical_not"]
UNARY_ALL = UNARY_FLOAT + UNARY_KEEP + UNARY_PRED + ["leaky_relu", "clamp"]


def _erf(x):
    from scipy.special import erf
    return erf(x)


def unary_np(op, x, kw):
    if x.dtype == np.int64 and op in UNARY_KEEP:  # exact, wrapping int64 arithmetic (NumPy)
        return {"abs": np.abs, "sign": np.sign, "neg": np.negative, "relu": lambda a: np.maximum(a, 0),
                "square": lambda a: a * a}[op](x)
    x = x.astype(np.float64)
    if op == "exp": return np.exp(x)
    if op == "log": return np.log(x)
    if op == "log1p": return np.log1p(x)
    if op == "sqrt": return np.sqrt(x)
    if op == "rsqrt": return 1.0 / np.sqrt(x)
    if op == "sin": return np.sin(x)
    if op == "cos": return np.cos(x)
    if op == "tan": return np.tan(x)
    if op == "tanh": return np.tanh(x)
    if op == "sigmoid": return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    if op == "gelu": return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))
    if op == "softplus": return np.logaddexp(0.0, x)
    if op == "reciprocal": return 1.0 / x
    if op == "abs": return np.abs(x)
    if op == "sign": return np.sign(x)
    if op == "neg": return -x
    if op == "relu": return np.where(np.isnan(x), x, np.maximum(x, 0))
    if op == "square": return x * x
    if op == "leaky_relu":
        s = kw.get("negative_slope", 0.01)
        return np.where(x > 0, x, x * s)
    if op == "clamp":
        lo, hi = kw.get("min"), kw.get("max")
        r = x
        if lo is not None: r = np.maximum(r, lo)  # NumPy's clip and PyTorch: min(max(x, lo), hi)
        if hi is not None: r = np.minimum(r, hi)
        return r
    raise AssertionError(op)


def ref_unary(case):
    op, spec = case["op"], case["args"][0]
    names = (op,)
    if spec[0] != "T":
        v = spec[1] if spec[0] == "S" else None
        if spec[0] == "S" and isinstance(v, list):  # tg.op([...]) converts the list
            return Expect("any", names=names)
        return Expect("any", names=names + ("tensor", "incompatible"))
    x = spec[1]
    dt = x.dtype.name
    kw = case.get("kwargs", {})
    if op == "clamp":
        kw = {k: None if v == ("G", "None") else v for k, v in kw.items()}  # a None bound is no bound
        for b in ("min", "max"):
            if b in kw and is_spec(kw[b]):
                return Expect("raise", names=names + ("incompatible",), why="non-numeric bound")
        if kw.get("min") is None and kw.get("max") is None:
            return Expect("raise", names=names, why="clamp without min and max (PyTorch raises)")
        if dt == "bool":
            return Expect("any", may_raise=True, names=names)
        bounds = [v for v in (kw.get("min"), kw.get("max")) if v is not None]
        if dt == "int64" and any(isinstance(b, float) for b in bounds):
            # PyTorch and NumPy promote: int tensor clamped by float bounds -> float result
            with quiet():
                val = unary_np(op, x, kw)
            return Expect("value", value=val, dtypes="float32", may_raise=True, names=names, rtol=1e-6, atol=0)
    if op == "leaky_relu":
        s = kw.get("negative_slope", 0.01)
        if not isinstance(s, (int, float)):
            return Expect("raise", names=names + ("incompatible",), why="non-numeric slope")
        if dt == "bool":
            return Expect("any", may_raise=True, names=names)
        if dt != "float64":  # a float32 result takes a float32 slope (PyTorch's too): -inf * 1e-61 is NaN
            with quiet():
                kw = dict(kw, negative_slope=float(np.float32(s)))
    if op in UNARY_PRED:
        with quiet():
            xv = x.astype(np.float64)
            val = {"isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
                   "logical_not": lambda a: a == 0}[op](xv)
        return Expect("value", value=val, dtypes="bool", names=names)
    if dt == "bool":
        if op == "abs":
            return Expect("value", value=x, dtypes="bool", may_raise=True, names=names)
        return Expect("any", may_raise=True, names=names)
    float_out = op in UNARY_FLOAT or op == "leaky_relu" or (op == "clamp" and dt != "int64")
    out_dt = dt if dt != "int64" else ("float32" if float_out else "int64")
    with quiet():
        val = unary_np(op, x, kw)
    if out_dt == "int64":
        return Expect("value", value=np.asarray(val).astype(np.int64), dtypes="int64", names=names)
    rtol, atol = ftol(out_dt)
    if op in ("sin", "cos", "tan"):
        # NumPy (and PyTorch) are accurate for every finite argument; allow a few ulp of the
        # argument reduction for |x| up to 1e3, not a wrong answer for large |x|.
        eps = np.finfo(np.float32 if out_dt == "float32" else np.float64).eps
        with quiet():
            ax = np.abs(x.astype(np.float64))
            atol = np.where(np.isfinite(ax), 4 * eps * np.clip(ax, 1.0, 1e3), 0) + atol
        if op == "tan":
            rtol *= 10
    if op in ("gelu", "softplus", "sigmoid"):
        rtol = rtol * 5
    return Expect("value", value=val, dtypes=out_dt, rtol=rtol, atol=atol, names=names)


# =========================================================================== binary ====

BIN_FN = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
BIN_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow",
           "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne", "%": "mod", "//": "floordiv"}
PYOP = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
        "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne, "%": operator.mod, "//": operator.floordiv, "@": operator.matmul}


def binary_np(name, a, b, rd):
    npd = np.dtype(rd)
    tensor_exponent = not isinstance(b, (int, float))
    a = np.asarray(a).astype(npd) if not isinstance(a, (int, float)) else np.asarray(a, dtype=npd)
    b = np.asarray(b).astype(npd) if not isinstance(b, (int, float)) else np.asarray(b, dtype=npd)
    if rd == "bool":
        f = {"add": np.logical_or, "mul": np.logical_and, "maximum": np.logical_or, "minimum": np.logical_and}
        if name in f:
            return f[name](a, b)
    if name == "div":
        fd = npd if npd.kind == "f" else np.dtype(np.float32)
        return np.true_divide(a.astype(fd).astype(np.float64), b.astype(fd).astype(np.float64))
    f = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "pow": np.power, "maximum": np.maximum,
         "minimum": np.minimum, "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
         "eq": np.equal, "ne": np.not_equal}[name]
    if npd.kind == "f":
        r = f(a.astype(np.float64), b.astype(np.float64))
        if name == "pow" and tensor_exponent:
            # a tensor exponent is C's pow per element (tapegrad's and PyTorch's kernels), where
            # NumPy's fast path for a one-element exponent of 0.5 is sqrt: (-inf) ** 0.5 is inf, not NaN
            r = np.where((np.broadcast_to(b, r.shape) == 0.5) & (np.broadcast_to(a, r.shape) == -np.inf), np.inf, r)
        return r
    return f(a, b)


def ref_binary(case):
    form, op = case["form"], case["op"]
    name = BIN_OPS.get(op, op) if form in ("op", "rop") else op
    if case["op"] == "where":
        return ref_where(case)
    specs = case["args"]
    names = (name, op) + (("incompatible", "unsupported operand") if form != "fn" else ("incompatible",))
    if any(s[0] == "G" for s in specs):
        if op in ("==", "!="):
            return Expect("any", names=names)
        t = next((s for s in specs if s[0] == "T"), None)
        if (op == "*" and t is not None and t[1].size == 1 and t[1].dtype.kind in "bi"
                and any(s[0] == "G" and s[1] in ("str", "bytes", "strlist", "nonelist") for s in specs)):
            # a one-element integer tensor is an index (__index__, as in PyTorch), so Python
            # repeats a str or list operand it cannot convert: "ab" * tensor([2]) == "abab"
            return Expect("any", names=names)
        return Expect("raise", names=names + ("tensor",), exc=DOCUMENTED, why="garbage operand")
    if name in ("mod", "floordiv"):
        return Expect("raise", names=names, why="operator not supported")
    a, b = values(specs[0]), values(specs[1])
    shapes = [np.shape(a) if s[0] == "T" else () for s, a in zip(specs, (a, b))]
    try:
        out_shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return Expect("raise", names=names + ("broadcast",), why=f"shapes {shapes[0]} and {shapes[1]} do not broadcast")
    rd = result_dtype([operand(s) for s in specs])
    cmp = name in ("lt", "le", "gt", "ge", "eq", "ne")
    big = any(s[0] == "S" and isinstance(s[1], int) and not isinstance(s[1], bool) and abs(s[1]) >= 2 ** 63
              for s in specs)
    if big:
        return Expect("any", may_raise=True, names=names)
    if rd == "bool" and name == "sub":
        return Expect("raise", names=names, why="bool - bool (PyTorch raises)")
    if rd == "bool" and name == "pow":
        return Expect("any", may_raise=True, names=names)
    if name == "pow" and rd in ("int64", "bool"):
        e = b if specs[1][0] == "T" else np.asarray(b)
        if form == "rop":
            e = a
        if np.any(np.asarray(e).astype(np.int64) < 0):
            if isinstance(e, (int, np.integer)) or (specs[1][0] == "S" and form != "rop"):
                return Expect("raise", names=names, why="integer to a negative integer power")
            return Expect("any", may_raise=True, names=names)
    with quiet():
        val = binary_np(name, a, b, rd)
    val = np.broadcast_to(val, out_shape)
    if cmp:
        return Expect("value", value=val, dtypes="bool", names=names)
    out_dt = rd if name != "div" or rd.startswith("float") else "float32"
    rtol, atol = ftol(out_dt) if out_dt.startswith("float") else (0, 0)
    if name == "pow" and out_dt.startswith("float"):
        rtol *= 5
    return Expect("value", value=val, dtypes=out_dt, rtol=rtol, atol=atol, names=names)


def ref_where(case):
    names = ("where", "incompatible")
    c, a, b = case["args"]
    if any(s[0] != "T" for s in (c, a, b)):
        return Expect("any", may_raise=True, names=names)
    cv, av, bv = c[1], a[1], b[1]
    try:
        shape = np.broadcast_shapes(cv.shape, av.shape, bv.shape)
    except ValueError:
        return Expect("raise", names=names, why="shapes do not broadcast")
    if cv.dtype != np.bool_:
        return Expect("raise", names=names, why="condition is not bool (PyTorch)")
    rd = result_dtype([operand(a), operand(b)])
    val = np.where(cv, av.astype(rd), bv.astype(rd))
    return Expect("value", value=np.broadcast_to(val, shape), dtypes=rd, names=names)


# ======================================================================== reductions ====

RED_OPS = ["sum", "mean", "prod", "max", "min", "amax", "amin", "var", "std", "norm", "logsumexp",
           "argmax", "argmin", "softmax", "log_softmax"]


def norm_axes(axis, nd, allow_tuple=True):
    """Normalised axes tuple, or raise ValueError/IndexError/TypeError as tapegrad should."""
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, bool) or not isinstance(axis, (int, tuple, list)):
        raise TypeError("axis")
    ax = [axis] if isinstance(axis, int) else list(axis)
    if isinstance(axis, (tuple, list)) and not allow_tuple:
        raise TypeError("axis")
    if any(isinstance(a, bool) or not isinstance(a, int) for a in ax):
        raise TypeError("axis")
    lim = max(nd, 1)  # a 0-d tensor accepts axis 0 / -1 (PyTorch)
    out = []
    for a in ax:
        if not -lim <= a < lim:
            raise IndexError("axis")
        out.append(a % lim if nd else None)
    if nd == 0:
        return ()
    if len(set(out)) != len(out):
        raise ValueError("dup")
    return tuple(out)


def _moveaxes(x, axes):
    rest = [d for d in range(x.ndim) if d not in axes]
    y = np.transpose(x, rest + list(axes))
    return y.reshape(y.shape[:len(rest)] + (int(np.prod([x.shape[a] for a in axes])),)), rest


def _keep(val, x, axes, keepdims):
    if keepdims:
        shape = [1 if d in axes else s for d, s in enumerate(x.shape)]
        return np.asarray(val).reshape(shape)
    return np.asarray(val)


def ref_reduction(case):
    op, spec = case["op"], case["args"][0]
    kw = dict(case.get("kwargs", {}))
    names = (op, "incompatible")
    if op in ("max", "min", "amax", "amin"):
        names = names + ({"max": "amax", "min": "amin", "amax": "max", "amin": "min"}[op],)
    if spec[0] != "T":
        return Expect("any", names=names + ("tensor",))
    x = spec[1]
    dt, nd = x.dtype.name, x.ndim
    for k, v in kw.items():
        if is_spec(v) and v[0] == "G":
            return Expect("raise", names=names + (k,), why=f"garbage {k}")
    if op in ("softmax", "log_softmax"):
        axis = kw.get("axis", -1)
        try:
            (a,) = norm_axes(axis, nd, allow_tuple=False) or (None,)
        except TypeError:
            return Expect("raise", names=names, why="bad axis type")
        except (IndexError, ValueError):
            return Expect("raise", names=names + ("axis", "dim"), why="axis out of range")
        if dt == "bool":
            return Expect("any", may_raise=True, names=names)
        out_dt = dt if dt.startswith("float") else "float32"
        xv = x.astype(np.float64)
        with quiet():
            if nd == 0:
                val = np.where(np.isnan(xv), np.nan, 0.0 if op == "log_softmax" else 1.0)
                if np.isinf(xv):
                    val = np.asarray(np.nan)
            else:
                m = np.max(xv, axis=a, keepdims=True) if x.shape[a] else np.zeros_like(xv.sum(axis=a, keepdims=True))
                e = np.exp(xv - m)
                s = e.sum(axis=a, keepdims=True)
                val = e / s if op == "softmax" else (xv - m) - np.log(s)
        rtol, atol = ftol(out_dt, rtol32=1e-5, atol32=1e-6)
        return Expect("value", value=val, dtypes=out_dt, rtol=rtol, atol=atol, names=names,
                      may_raise=dt != "float32" and dt != "float64")
    keepdims = kw.get("keepdims", False)
    axis = kw.get("axis", None)
    try:
        if op in ("argmax", "argmin"):
            axes = norm_axes(axis, nd, allow_tuple=False)
        else:
            axes = norm_axes(axis, nd)
    except TypeError:
        return Expect("raise", names=names + ("axis",), why="bad axis type")
    except IndexError:
        return Expect("raise", names=names + ("axis", "dim"), why="axis out of range")
    except ValueError:
        return Expect("raise", names=names + ("axis", "dim"), why="duplicate axis")
    float_only = op in ("mean", "var", "std", "norm")
    if float_only and not dt.startswith("float"):
        return Expect("any", may_raise=True, names=names)  # PyTorch raises; a float result is also fine
    if op in ("argmax", "argmin") and dt == "bool":
        return Expect("any", may_raise=True, names=names)
    xv = x.astype(np.float64) if dt.startswith("float") else x.astype(np.int64)
    red_n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    empty_red = red_n == 0
    sumabs = None
    with quiet():
        if op in ("argmax", "argmin"):
            if (axis is None and x.size == 0) or (nd and axis is not None and x.shape[axes[0]] == 0):
                return Expect("raise", names=names + ("empty",), why="arg-reduction of an empty tensor")
            f = np.argmax if op == "argmax" else np.argmin
            if axis is None or nd == 0:
                val = np.asarray(f(xv.ravel()) if x.size else 0)
                if keepdims:
                    val = val.reshape((1,) * nd)
            else:
                val = f(xv, axis=axes[0], keepdims=keepdims)
            return Expect("value", value=val, dtypes="int64", names=names)
        y, rest = _moveaxes(xv, axes) if nd else (xv.reshape(1), [])
        if op in ("max", "min", "amax", "amin"):
            if empty_red and y.size == 0 and y.shape[-1] == 0 and int(np.prod(y.shape[:-1])) > 0:
                return Expect("raise", names=names + ("empty", "identity"), why="max/min over an empty axis")
            if empty_red and nd and int(np.prod(y.shape[:-1])) == 0:
                val = np.zeros(y.shape[:-1], xv.dtype)
            elif empty_red:
                return Expect("raise", names=names + ("empty", "identity"), why="max/min over an empty axis")
            else:
                val = (np.max if op in ("max", "amax") else np.min)(y, axis=-1)
            out_dt = dt
        elif op == "sum":
            val = y.sum(axis=-1)
            out_dt = dt if dt.startswith("float") else "int64"
            sumabs = np.abs(y).sum(axis=-1) if dt.startswith("float") else None
        elif op == "prod":
            val = y.prod(axis=-1)
            out_dt = dt if dt.startswith("float") else "int64"
            if dt.startswith("float"):
                # partial products beyond float64's range make the result depend on the order of
                # multiplication: -inf * 4.9e-247 * 3.7e-259 is -inf in NumPy's order, NaN in
                # PyTorch's (and tapegrad's) for a transposed input; no reference for these
                lg = np.log2(np.abs(y))
                fin = np.isfinite(lg)
                up = np.where(fin & (lg > 0), lg, 0).sum(axis=-1)
                down = np.where(fin & (lg < 0), lg, 0).sum(axis=-1)
                total, zero, inf = up + down, (y == 0).any(axis=-1), np.isinf(y).any(axis=-1)
                unsettled = ~np.isnan(y).any(axis=-1) & (((up > 1023) & ((total <= 1023) | zero))
                                                          | ((down < -1074) & ((total >= -1074) | inf)))
                if unsettled.any():
                    return Expect("any", names=names)
        elif op == "mean":
            val = y.sum(axis=-1) / red_n if red_n else np.full(y.shape[:-1], np.nan)
            out_dt = dt
            sumabs = np.abs(y).sum(axis=-1) / max(red_n, 1)
        elif op in ("var", "std"):
            c = kw.get("correction", 0.0)
            m = y.mean(axis=-1, keepdims=True) if red_n else np.full(y.shape[:-1] + (1,), np.nan)
            ss = ((y - m) ** 2).sum(axis=-1)
            val = ss / max(red_n - c, 0)
            if op == "std":
                val = np.sqrt(val)
            out_dt = dt
        elif op == "norm":
            p = kw.get("ord", 2.0)
            a = np.abs(y)
            if p == INF or p == -INF:
                if empty_red and int(np.prod(y.shape[:-1])) > 0:
                    return Expect("any", may_raise=True, names=names)  # PyTorch raises (no identity)
                val = (a.max(axis=-1) if p > 0 else a.min(axis=-1)) if y.shape[-1] else np.zeros(y.shape[:-1])
            elif p == 0:
                val = (a != 0).sum(axis=-1).astype(np.float64)
            elif math.isnan(p):
                return Expect("any", may_raise=True, names=names)
            else:
                powers = (a ** p).sum(axis=-1)
                val = powers ** (1.0 / p)
                if dt == "float32" and p > 0:  # the sum of |x|^p overflows float32 (NumPy's and PyTorch's too)
                    val = np.where(powers > np.finfo(np.float32).max, np.inf, val)
                sumabs = val
            out_dt = dt
        elif op == "logsumexp":
            val = np.logaddexp.reduce(y, axis=-1) if y.shape[-1] else np.full(y.shape[:-1], -np.inf)
            out_dt = dt if dt.startswith("float") else "float32"
        else:
            raise AssertionError(op)
    val = _keep(val, x, axes, keepdims) if nd else np.asarray(val).reshape(())
    if out_dt.startswith("float"):
        rtol, atol = ftol(out_dt, rtol32=1e-4, rtol64=1e-9)
        if sumabs is not None:
            s = np.asarray(_keep(sumabs, x, axes, keepdims) if nd else np.asarray(sumabs).reshape(()))
            with quiet():
                atol = np.where(np.isfinite(s), s * (1e-5 if out_dt == "float32" else 1e-12), 0) + atol
        if op == "prod":
            rtol = 1e-4 if out_dt == "float32" else 1e-10
        return Expect("value", value=val, dtypes=out_dt, rtol=rtol, atol=atol, names=names,
                      may_raise=op == "logsumexp" and not dt.startswith("float"))
    return Expect("value", value=val, dtypes=out_dt, names=names)


# ============================================================================= shape ====

def shape_np(op, xs, kw, args):
    """NumPy reference for the shape ops; xs is the list of input arrays (values or
    index arrays). Raises on invalid arguments."""
    x = xs[0]
    nd = x.ndim
    if op in ("reshape", "view"):
        shape = tuple(args)
        if sum(1 for s in shape if s == -1) > 1 or any(s < -1 for s in shape):
            raise ValueError("bad shape")
        if -1 in shape and x.size == 0:
            known = int(np.prod([s for s in shape if s != -1]))
            if known == 0:
                raise ValueError("ambiguous -1")
        return x.reshape(shape)
    if op == "flatten":
        s, e = kw.get("start_dim", 0), kw.get("end_dim", -1)
        lim = max(nd, 1)
        if not (-lim <= s < lim and -lim <= e < lim):
            raise IndexError("dim")
        if nd == 0:
            return x.reshape(1)
        s, e = s % nd, e % nd
        if s > e:
            raise ValueError("start > end")
        return x.reshape(x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])
    if op == "squeeze":
        axis = kw.get("axis")
        if axis is None:
            return np.squeeze(x)
        axes = norm_axes(axis, nd)
        axes = tuple(a for a in axes if x.shape[a] == 1)  # PyTorch: a non-unit axis is kept
        return np.squeeze(x, axis=axes) if axes else x
    if op == "unsqueeze":
        a = kw["axis"]
        if not -nd - 1 <= a <= nd:
            raise IndexError("axis")
        return np.expand_dims(x, a)
    if op == "transpose":
        a, b = kw.get("dim0", -2), kw.get("dim1", -1)
        lim = max(nd, 1)
        if not (-lim <= a < lim and -lim <= b < lim):
            raise IndexError("dim")
        if nd == 0:
            return x
        return np.swapaxes(x, a, b)
    if op == "permute":
        dims = tuple(args)
        if sorted(d % nd if nd and -nd <= d < nd else 10 ** 9 + d for d in dims) != list(range(nd)) or len(dims) != nd:
            raise ValueError("not a permutation")
        return np.transpose(x, dims)
    if op == "T":
        return x.T
    if op in ("expand", "broadcast_to"):
        shape = list(args)
        if len(shape) < nd:
            raise ValueError("fewer dims")
        lead = len(shape) - nd
        for i, s in enumerate(shape):
            if s == -1:  # keeps a size, in broadcast_to too (PyTorch's is expand; NumPy refuses -1)
                if i < lead:
                    raise ValueError("-1 in a new leading dim")
                shape[i] = x.shape[i - lead]
            elif s < 0:
                raise ValueError("negative")
        return np.broadcast_to(x, tuple(shape))
    if op in ("concat", "stack"):
        axis = kw.get("axis", 0)
        if not xs:
            raise ValueError("empty")
        if op == "stack":
            if len({a.shape for a in xs}) != 1:
                raise ValueError("shapes")
            if not -nd - 1 <= axis <= nd:
                raise IndexError("axis")
            return np.stack(xs, axis=axis)
        if nd == 0 or any(a.ndim != nd for a in xs):
            raise ValueError("dims")
        if not -nd <= axis < nd:
            raise IndexError("axis")
        return np.concatenate(xs, axis=axis)
    if op == "split":
        sec, axis = args[0], kw.get("axis", 0)
        if nd == 0:
            raise IndexError("0-d")
        if not -nd <= axis < nd:
            raise IndexError("axis")
        n = x.shape[axis]
        if isinstance(sec, int):
            if sec <= 0:
                raise ValueError("chunk")
            sizes = [min(sec, n - s) for s in range(0, n, sec)] or [0]  # PyTorch: one empty chunk
        else:
            sizes = list(sec)
            if any(s < 0 for s in sizes) or sum(sizes) != n:
                raise ValueError("sections")
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        ax = axis % nd
        return tuple(x[(slice(None),) * ax + (slice(starts[i], starts[i + 1]),)] for i in range(len(sizes)))
    if op in ("contiguous", "clone", "detach"):
        return x
    raise AssertionError(op)


def ref_shape(case):
    op = case["op"]
    names = {"T": ("permute", "T"), "view": ("view",), "concat": ("concat", "cat"),
             "broadcast_to": ("broadcast_to", "expand", "broadcast")}.get(op, (op,)) + ("incompatible",)
    specs = case["args"]
    xs_specs = specs[0][1] if specs[0][0] == "L" else [specs[0]]
    if any(s[0] != "T" for s in xs_specs):
        return Expect("any", may_raise=True, names=names + ("tensor",))
    xs = [s[1] for s in xs_specs]
    ex = case["extra"]
    if ex.get("garbage"):
        return Expect("raise", names=names + ("shape", "int"), why="garbage shape/axis argument")
    with quiet():
        try:
            val = shape_np(op, xs, case.get("kwargs", {}), ex.get("shape_args", ()))
        except (ValueError, IndexError, TypeError) as e:
            return Expect("raise", names=names + ("axis", "dim", "shape"), why=f"NumPy/PyTorch reject: {e}")
    if op in ("concat", "stack"):
        rd = result_dtype([("t", a.dtype.name, 1) for a in xs])
    else:
        rd = xs[0].dtype.name
    if isinstance(val, tuple):
        return Expect("any", names=names, value=val, dtypes=rd)
    may = op == "view" and xs_specs[0][2] in ("t", "s", "e")
    return Expect("value", value=np.asarray(val).astype(rd), dtypes=rd, names=names, may_raise=may)


# ========================================================================== indexing ====

def np_key(key):
    out = []
    for k in key:
        if isinstance(k, tuple) and k and k[0] in ("T", "A"):
            out.append(k[1])
        elif isinstance(k, tuple) and k and k[0] == "S":
            out.append(k[1])
        else:
            out.append(k)
    return tuple(out)


def tg_key(key, infos=None):
    out = []
    for k in key:
        if isinstance(k, tuple) and k and k[0] in ("T", "A", "S", "G"):
            out.append(materialize(k, infos))
        else:
            out.append(k)
    return tuple(out)


INDEX_NAMES = ["index", "indices", "slice", "getitem", "setitem", "ellipsis", "integer", "bool", "tensor"]


def ref_getitem(case):
    x = case["args"][0][1]
    key = case["extra"]["key"]
    names = tuple(INDEX_NAMES)
    if any(isinstance(k, tuple) and k and k[0] == "G" for k in key):
        return Expect("any", may_raise=True, names=names)
    with quiet():
        try:
            val = x[np_key(key)]
        except (IndexError, ValueError, TypeError) as e:
            return Expect("raise", names=names, why=f"NumPy rejects: {str(e)[:80]}")
    return Expect("value", value=np.asarray(val), dtypes=x.dtype.name, names=names)


# ======================================================================= run families ====

def _grad_check(infos, out, W, f_np, what="grad"):
    """Backward with gradient W (a NumPy array of out's shape); each input that requires
    grad must receive the scatter-add of W over the positions it was read from, which
    f_np (the op applied to index arrays) tells."""
    grads_wanted = [(t, spec) for (t, spec, info) in infos if spec[3]]
    if not grads_wanted or not isinstance(out, tg.Tensor) or not out.requires_grad:
        return
    total = sum(spec[1].size for _, spec, _ in infos)
    offs, idx_arrays, o = [], [], 0
    for _, spec, _ in infos:
        idx_arrays.append(np.arange(o, o + spec[1].size, dtype=np.int64).reshape(spec[1].shape))
        offs.append(o)
        o += spec[1].size
    gathered = np.asarray(f_np(idx_arrays))
    out.backward(gradient=tg.tensor(W.astype(np.dtype(out.dtype.name)), dtype=out.dtype))
    ref = np.bincount(gathered.ravel(), weights=W.astype(np.float64).ravel(), minlength=total)
    for (t, spec, _), off in zip(infos, offs):
        if not spec[3]:
            continue
        want = ref[off:off + spec[1].size].reshape(spec[1].shape)
        if t.grad is None:
            raise CaseFailure(f"{what}: .grad is None after backward")
        check_tensor(t.grad, want, spec[1].dtype.name, 1e-6, 1e-6, what=what)


def run_unary(case):
    ex = ref_unary(case)
    infos = []
    arg = materialize(case["args"][0], infos)
    kw = {k: lit(v) for k, v in case.get("kwargs", {}).items()}
    if case["form"] == "fn":
        thunk = lambda: getattr(tg, case["op"])(arg, **kw)  # noqa: E731
    else:
        thunk = lambda: getattr(arg, case["op"])(**kw)  # noqa: E731

    def post(out):
        if infos and infos[0][1][3] and isinstance(out, tg.Tensor) and out.requires_grad:
            out.backward(gradient=tg.ones(out.shape, dtype=out.dtype))
            g = infos[0][0].grad
            if g is None or tuple(g.shape) != infos[0][1][1].shape or g.dtype is not infos[0][0].dtype:
                raise CaseFailure(f"grad: {g!r:.100} for input {infos[0][1][1].shape}")
    return evaluate(thunk, ex, post)


def run_binary(case):
    if case["op"] == "where":
        ex = ref_where(case)
        args = [materialize(s) for s in case["args"]]
        return evaluate(lambda: tg.where(*args), ex)
    ex = ref_binary(case)
    infos = []
    a, b = (materialize(s, infos) for s in case["args"])
    form, op = case["form"], case["op"]
    if form == "fn":
        thunk = lambda: getattr(tg, op)(a, b)  # noqa: E731
    elif form == "meth":
        thunk = lambda: getattr(a, op)(b)  # noqa: E731
    else:
        thunk = lambda: PYOP[op](a, b)  # noqa: E731
    name = BIN_OPS.get(op, op)

    def post(out):
        if not (isinstance(out, tg.Tensor) and out.requires_grad):
            return
        W = np.arange(1, out.size + 1, dtype=np.float64).reshape(out.shape) % 7 - 3
        out.backward(gradient=tg.tensor(W, dtype=out.dtype))
        av, bv = values(case["args"][0]), values(case["args"][1])
        for (t, spec, _) in infos:
            if not spec[3]:
                continue
            g = t.grad
            shape = spec[1].shape
            if g is None:
                raise CaseFailure("grad is None")
            if name in ("add", "sub", "mul") and all(s[0] == "T" for s in case["args"]):
                other = bv if t is a else av
                with quiet():
                    full = W if name != "mul" else W * np.asarray(other, np.float64)
                    if name == "sub" and t is b:
                        full = -W
                    want = sum_to(np.broadcast_to(full, out.shape), shape)
                    # a broadcast operand's gradient is a sum, which rounds relative to its terms
                    scale = sum_to(np.broadcast_to(np.abs(full), out.shape), shape)
                lo = "float32" if "float32" in (spec[1].dtype.name, out.dtype.name) else "float64"
                rtol, atol = ftol(lo)
                with quiet():
                    atol = np.where(np.isfinite(scale), scale * (1e-5 if lo == "float32" else 1e-12), 0) + atol
                check_tensor(g, want, spec[1].dtype.name, rtol, atol, what="grad")
            elif tuple(g.shape) != shape or g.dtype is not t.dtype:
                raise CaseFailure(f"grad shape/dtype {g.dtype!r}{g.shape} for input {t.dtype!r}{shape}")
    return evaluate(thunk, ex, post)


def run_reduction(case):
    ex = ref_reduction(case)
    x = materialize(case["args"][0])
    kw = {k: lit(v) for k, v in case.get("kwargs", {}).items()}
    op = case["op"]
    if case["form"] == "fn":
        thunk = lambda: getattr(tg, op)(x, **kw)  # noqa: E731
    else:
        thunk = lambda: getattr(x, op)(**kw)  # noqa: E731

    def post(out):
        if isinstance(out, tg.Tensor) and out.requires_grad:
            out.backward(gradient=tg.ones(out.shape, dtype=out.dtype))
            if x.grad is None or x.grad.shape != x.shape:
                raise CaseFailure(f"grad {x.grad!r:.80} for input of shape {x.shape}")
    return evaluate(thunk, ex, post)


def run_shape(case):
    ex = ref_shape(case)
    infos = []
    op, form = case["op"], case["form"]
    first = materialize(case["args"][0], infos)
    sargs = [lit(s) for s in case["extra"].get("call_args", ())]
    kw = {k: lit(v) for k, v in case.get("kwargs", {}).items()}
    if op == "T":
        thunk = lambda: first.T  # noqa: E731
    elif form == "fn":
        thunk = lambda: getattr(tg, op)(first, *sargs, **kw)  # noqa: E731
    else:
        thunk = lambda: getattr(first, op)(*sargs, **kw)  # noqa: E731

    def f_np(arrs):
        return shape_np(op, arrs, case.get("kwargs", {}), case["extra"].get("shape_args", ()))

    def post(out):
        if ex.kind == "any" and isinstance(ex.value, tuple):  # split: a tuple of parts
            if not isinstance(out, (tuple, list)) or len(out) != len(ex.value):
                raise CaseFailure(f"split: got {type(out).__name__} of {len(out) if isinstance(out, (tuple, list)) else '?'} "
                                  f"parts, expected {len(ex.value)}")
            for i, (p, r) in enumerate(zip(out, ex.value)):
                check_tensor(p, r, ex.dtypes, 0, 0, what=f"part {i}")
            if any(spec[3] for _, spec, _ in infos):
                W = [np.arange(p.size, dtype=np.float64).reshape(p.shape) % 5 + 1 for p in out]
                loss = None
                for p, w in zip(out, W):
                    term = tg.sum(p * tg.tensor(w, dtype=p.dtype))
                    loss = term if loss is None else loss + term
                if loss is not None and loss.requires_grad:
                    parts = [np.asarray(g) for g in f_np([np.arange(infos[0][1][1].size).reshape(infos[0][1][1].shape)])]
                    loss.backward()
                    ref = np.zeros(infos[0][1][1].size)
                    for g, w in zip(parts, W):
                        np.add.at(ref, g.ravel(), w.ravel())
                    check_tensor(infos[0][0].grad, ref.reshape(infos[0][1][1].shape), infos[0][1][1].dtype.name,
                                 1e-6, 1e-6, what="grad")
            return
        if isinstance(out, tg.Tensor) and out.requires_grad:
            W = (np.arange(out.size, dtype=np.float64).reshape(out.shape) % 5) + 1
            _grad_check(infos, out, W, lambda arrs: f_np(arrs if op in ("concat", "stack") else arrs[:1]))
    return evaluate(thunk, ex, post)


def run_getitem(case):
    ex = ref_getitem(case)
    infos = []
    x = materialize(case["args"][0], infos)
    key_list = case["extra"]["key"]
    key = tg_key(key_list)
    key = key[0] if case["extra"].get("single") else key
    nk = np_key(key_list)
    nk = nk[0] if case["extra"].get("single") else nk

    def post(out):
        if isinstance(out, tg.Tensor) and out.requires_grad:
            W = (np.arange(out.size, dtype=np.float64).reshape(out.shape) % 5) + 1
            _grad_check(infos, out, W, lambda arrs: arrs[0][nk])
    return evaluate(lambda: x[key], ex, post)


def setitem_value(x0, nk, vv):
    """The value of x0[nk] = vv as PyTorch assigns it, where NumPy differs: leading size-1
    dims beyond the destination's are dropped (NumPy refuses shape (1,) for one element),
    and the rest must broadcast to the destination (NumPy sets a 0-d bool from a sequence's
    truth value)."""
    target = x0[nk].shape
    v = np.asarray(vv)
    while v.ndim > len(target) and v.shape[0] == 1:
        v = v.reshape(v.shape[1:])
    if np.broadcast_shapes(v.shape, target) != target:
        raise ValueError(f"value of shape {v.shape} does not broadcast to {target} (PyTorch)")
    return v


def run_setitem(case):
    x_spec, v_spec = case["args"]
    x0 = x_spec[1]
    key_list = case["extra"]["key"]
    single = case["extra"].get("single")
    names = ("index", "indices", "slice", "setitem", "copy_", "fill_", "broadcast", "shape", "ellipsis", "integer",
             "bool", "tensor", "convert", "cast")
    x = materialize(x_spec)
    key = tg_key(key_list)
    key = key[0] if single else key
    nk = np_key(key_list)
    nk = nk[0] if single else nk
    v = materialize(v_spec)
    vv = values(v_spec)
    if v_spec[0] == "G" or any(isinstance(k, tuple) and k and k[0] == "G" for k in key_list):
        ex = Expect("any", may_raise=True, names=names)
    else:
        want = x0.copy()
        with quiet():
            try:
                if x0.dtype.kind in "iub" and np.any(~np.isfinite(np.asarray(vv, dtype=np.float64))):
                    raise OverflowError("non-finite into int")
                if x0.dtype == np.bool_ and np.asarray(vv).dtype.kind == "f":
                    raise OverflowError("float into bool")
                want[nk] = setitem_value(x0, nk, vv)
                ex = Expect("value", value=want, dtypes=x0.dtype.name, names=names)
            except OverflowError:
                ex = Expect("any", may_raise=True, names=names)
            except (IndexError, ValueError, TypeError) as e:
                ex = Expect("raise", names=names, why=f"NumPy rejects: {str(e)[:80]}")

    def thunk():
        x[key] = v
        return x
    return evaluate(thunk, ex)


def run_matmul(case):
    infos = []
    a, b = (materialize(s, infos) for s in case["args"])
    form = case["form"]
    names = ("matmul", "@", "incompatible", "mm")
    sa, sb = case["args"]
    if sa[0] != "T" or sb[0] != "T":
        ex = Expect("raise" if any(s[0] == "G" for s in (sa, sb)) else "any", may_raise=True, names=names,
                    why="non-tensor operand")
    else:
        av, bv = sa[1], sb[1]
        rd = result_dtype([operand(sa), operand(sb)])
        try:
            if av.ndim == 0 or bv.ndim == 0:
                raise ValueError("0-d")
            with quiet():
                val = np.matmul(av.astype(np.float64), bv.astype(np.float64))
        except ValueError as e:
            ex = Expect("raise", names=names, why=f"NumPy rejects: {e}")
        else:
            if rd == "bool":
                ex = Expect("value", value=val.astype(np.int64), dtypes={"int64", "bool"}, may_raise=True, names=names)
            elif rd == "int64":
                ex = Expect("value", value=np.matmul(av.astype(np.int64), bv.astype(np.int64)), dtypes="int64",
                            names=names)
            else:
                with quiet():
                    scale = np.matmul(np.abs(av.astype(np.float64)), np.abs(bv.astype(np.float64)))
                finite = np.isfinite(av.astype(np.float64)).all() and np.isfinite(bv.astype(np.float64)).all()
                if not finite:  # BLAS and NumPy may disagree on inf * 0 inside a dot product
                    ex = Expect("value", value=np.zeros(val.shape), dtypes=rd, names=names, rtol=INF, atol=INF)
                    ex.kind = "shape"
                else:
                    eps = 1e-5 if rd == "float32" else 1e-12
                    ex = Expect("value", value=val, dtypes=rd, names=names, rtol=eps, atol=scale * eps + eps)
    if form == "fn":
        thunk = lambda: tg.matmul(a, b)  # noqa: E731
    elif form == "meth":
        thunk = lambda: a.matmul(b)  # noqa: E731
    else:
        thunk = lambda: a @ b  # noqa: E731

    def post(out):
        if ex.kind == "shape":
            if tuple(out.shape) != ex.value.shape or out.dtype.name != ex.dtypes:
                raise CaseFailure(f"result {out.dtype!r}{out.shape}, expected {ex.dtypes}{ex.value.shape}")
        if not (isinstance(out, tg.Tensor) and out.requires_grad) or ex.kind == "shape":
            return
        W = (np.arange(out.size, dtype=np.float64).reshape(out.shape) % 5) - 2
        out.backward(gradient=tg.tensor(W, dtype=out.dtype))
        av, bv = sa[1].astype(np.float64), sb[1].astype(np.float64)
        for which, (t, spec, _) in enumerate(infos):
            if not spec[3]:
                continue
            arr = av if which == 0 else bv
            want = np.zeros(arr.size)
            for i in range(arr.size):  # the op is linear in each operand: J^T W column by column
                e = np.zeros(arr.size)
                e[i] = 1
                e = e.reshape(arr.shape)
                want[i] = np.sum(W * (np.matmul(e, bv) if which == 0 else np.matmul(av, e)))
            rt, at = ftol(spec[1].dtype.name, rtol32=1e-5, atol32=1e-4)
            check_tensor(t.grad, want.reshape(arr.shape), spec[1].dtype.name, rt, at, what=f"grad of operand {which}")
    if ex.kind == "shape":
        ex2 = Expect("any", names=names)
        return evaluate(thunk, ex2, post)
    return evaluate(thunk, ex, post)


# ------------------------------------------------------------------- creation ----

def run_creation(case):
    op = case["op"]
    args = [lit(s) for s in case["args"]]
    kw = {k: lit(v) for k, v in case.get("kwargs", {}).items()}
    ex = case["extra"]["expect"]
    names = tuple(case["extra"].get("names", (op,))) + ("incompatible",)
    exc = DOCUMENTED + ((MemoryError,) if case["extra"].get("huge") else ())
    fn = getattr(tg, op) if op != "from_numpy_shared" else tg.from_numpy
    kind = ex["kind"]
    if kind == "value":
        e = Expect("value", value=ex["value"], dtypes=ex["dtype"], rtol=ex.get("rtol", 0), atol=ex.get("atol", 0),
                   names=names, exc=exc, may_raise=ex.get("may_raise", False))
    elif kind in ("random", "shape"):  # rand/randn, or a shape NumPy cannot hold: shape and dtype are known
        e = Expect("any", names=names, exc=exc, may_raise=ex.get("may_raise", False))
    else:
        e = Expect(kind, names=names, exc=exc, why=ex.get("why", ""), may_raise=ex.get("may_raise", False))

    def post(out):
        if kind == "shape" and (tuple(out.shape) != tuple(ex["shape"]) or out.dtype.name != ex["dtype"]):
            raise CaseFailure(f"result {out.dtype!r}{tuple(out.shape)}, expected {ex['dtype']}{tuple(ex['shape'])}")
        if kind == "random":
            check_tensor(out, np.zeros(ex["shape"]), ex["dtype"], INF, INF)
            v = out.numpy()
            if op.startswith("rand") and not op.startswith("randn") and v.size and not ((v >= 0) & (v < 1)).all():
                raise CaseFailure(f"rand values outside [0, 1): {v.ravel()[:5]}")
            if v.size and not np.isfinite(v).all():
                raise CaseFailure("non-finite random values")
        if kw.get("requires_grad") and isinstance(out, tg.Tensor) and not out.requires_grad:
            raise CaseFailure("requires_grad=True was ignored")
        if op == "from_numpy" and isinstance(out, tg.Tensor) and out.size and isinstance(args[0], np.ndarray):
            src = args[0]
            if src.flags.writeable and out.dtype.name == src.dtype.name:  # shares memory: a write shows through
                flat_before = np.array(src, copy=True)
                with tg.no_grad():
                    out.add_(1 if out.dtype.name != "bool" else True)
                if out.dtype.name != "bool" and not np.array_equal(src, flat_before + 1, equal_nan=src.dtype.kind == "f"):
                    raise CaseFailure("from_numpy: the tensor does not share memory with the array")
    return evaluate(lambda: fn(*args, **kw), e, post)


# --------------------------------------------------------------------- in place ----

INPLACE_METHODS = ["add_", "sub_", "mul_", "div_"]


def run_inplace(case):
    x_spec = case["args"][0]
    x0 = x_spec[1]
    xdt = x0.dtype.name
    op, form = case["op"], case["form"]
    meth = {"+": "add_", "-": "sub_", "*": "mul_", "/": "div_"}.get(op, op)
    names = (op, meth, meth.rstrip("_"), "in-place", "inplace", "incompatible", "unsupported operand")
    infos = []
    x = materialize(x_spec, infos)
    info = infos[0][2]
    others = [materialize(s) for s in case["args"][1:]]
    ospecs = case["args"][1:]
    kw = {k: lit(v) for k, v in case.get("kwargs", {}).items()}
    expanded = info.get("expanded", False)
    # ---- reference
    if any(s[0] == "G" for s in ospecs) or any(is_spec(v) and v[0] == "G" for v in case.get("kwargs", {}).values()):
        ex = Expect("raise", names=names + ("tensor", "fill", "copy"), why="garbage argument")
    elif expanded and x0.size > 1 and op not in ("fill_", "zero_"):
        ex = Expect("raise", names=names + ("memory location", "overlap", "expand", "expanded", "shape", "broadcast"),
                    why="in-place write to an expanded view whose elements share memory (PyTorch raises)")
    else:
        ex = None
        rop = {"+": "add_", "-": "sub_", "*": "mul_", "/": "div_"}.get(op, op)
        with quiet():
            if rop in INPLACE_METHODS:
                base = rop.rstrip("_")
                s = ospecs[0]
                rd = result_dtype([operand(x_spec), operand(s)])
                if base == "div" and not rd.startswith("float"):
                    rd = "float32"
                ov = values(s)
                oshape = np.shape(ov) if s[0] == "T" else ()
                try:
                    bshape = np.broadcast_shapes(x0.shape, oshape)
                except ValueError:
                    bshape = None
                if bshape != x0.shape:
                    ex = Expect("raise", names=names + ("shape", "broadcast"), why="result shape differs from self")
                elif CAT[rd] > CAT[xdt]:
                    ex = Expect("raise", names=names + ("cast", "dtype"), why=f"{rd} result into {xdt} (PyTorch)")
                elif rd == "bool" and base == "sub":
                    ex = Expect("raise", names=names, why="bool subtraction")
                else:
                    val = binary_np(base, x0, ov, rd)
                    want = np.broadcast_to(val, x0.shape).astype(xdt)
            elif op == "fill_":
                v = ospecs[0][1]
                if xdt in ("int64", "bool") and isinstance(v, float) and not math.isfinite(v):
                    ex = Expect("any", may_raise=True, names=names)
                else:
                    want = np.full(x0.shape, v).astype(xdt)
            elif op == "zero_":
                want = np.zeros(x0.shape, xdt)
            elif op == "clamp_":
                if kw.get("min") is None and kw.get("max") is None:
                    ex = Expect("raise", names=names, why="clamp_ without min and max (PyTorch raises)")
                elif xdt in ("int64", "bool"):
                    ex = Expect("any", may_raise=True, names=names)
                else:
                    want = unary_np("clamp", x0, kw).astype(xdt)
            elif op == "copy_":
                s = ospecs[0]
                try:
                    bshape = np.broadcast_shapes(x0.shape, s[1].shape)
                except ValueError:
                    bshape = None
                if bshape != x0.shape:
                    ex = Expect("raise", names=names + ("shape", "broadcast"), why="source does not broadcast to self")
                elif xdt in ("int64", "bool") and s[1].dtype.kind == "f" and not np.isfinite(s[1]).all():
                    ex = Expect("any", may_raise=True, names=names)
                else:
                    want = np.broadcast_to(s[1].astype(xdt) if xdt != "bool" else (s[1] != 0), x0.shape)
            else:
                raise AssertionError(op)
        if ex is None:
            rtol, atol = ftol(xdt) if xdt.startswith("float") else (0, 0)
            ex = Expect("value", value=want, dtypes=xdt, rtol=rtol, atol=atol, names=names)

    def thunk():
        if form == "iop":
            y = x
            y = {"+": operator.iadd, "-": operator.isub, "*": operator.imul, "/": operator.itruediv}[op](y, others[0])
            if y is not x:
                raise CaseFailure("augmented assignment did not return the same tensor")
            return y
        r = getattr(x, op)(*others, **kw)
        if r is not x:
            raise CaseFailure(f"{op} did not return self")
        return r

    def post(out):
        if "np" in info and ex.kind == "value":
            check_tensor(tg.from_numpy(info["np"]), ex.value, ex.dtypes, ex.rtol, ex.atol, what="shared NumPy array")
        if "strided_base" in info and ex.kind == "value":
            base = info["strided_base"].numpy()
            if not np.array_equal(base[..., 1::2], x0, equal_nan=x0.dtype.kind == "f"):
                raise CaseFailure("in-place write on a strided view changed elements outside the view")
    return evaluate(thunk, ex, post)


# ------------------------------------------------------------------ api garbage ----

def run_api(case):
    """Call a public API entry point with garbage; only crashes, undocumented exception
    types and messages that do not name the op fail (no reference value)."""
    op = case["op"]
    ex = case["extra"]
    names = tuple(n.split(".")[-1] for n in ex.get("names", (op,))) + ("incompatible",)
    expect = Expect(ex.get("kind", "any"), names=names, why=ex.get("why", ""), may_raise=True,
                    exc=DOCUMENTED + tuple(getattr(__import__("builtins"), n) for n in ex.get("also", ())))
    scenario = SCENARIOS.get(op) if case["form"] == "fn" else None
    if scenario is not None:
        return evaluate(lambda: scenario(*[materialize(s) for s in case["args"]]), expect)
    args = [materialize(s) for s in case["args"]]
    kw = {k: materialize(v) for k, v in case.get("kwargs", {}).items()}
    if case["form"] == "meth":
        return evaluate(lambda: getattr(args[0], op)(*args[1:], **kw), expect)
    target = tg
    for part in op.split("."):
        target = getattr(target, part)
    return evaluate(lambda: target(*args, **kw), expect)


# Multi-step scenarios (called with materialized args).
def _sc_backward(t, gradient, retain_graph, inputs):
    x = tg.ones(t.shape if isinstance(t, tg.Tensor) else (2,), requires_grad=True)
    y = (x * 2).sum()
    return y.backward(gradient=gradient, retain_graph=retain_graph, inputs=inputs)


def _sc_grad(outputs, inputs, grad_outputs):
    return tg.grad(outputs, inputs, grad_outputs=grad_outputs)


def _sc_tape_gradient(target, sources, output_gradients):
    v = tg.Variable([1.0, 2.0])
    with tg.GradientTape() as tape:
        y = v * 3
    return tape.gradient(target if target is not None else y, sources, output_gradients=output_gradients)


def _sc_tape_watch(obj):
    with tg.GradientTape() as tape:
        tape.watch(obj)
    return tape.watched_variables()


def _sc_tape_jacobian(target, source):
    v = tg.Variable([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        y = v * v
    return tape.jacobian(target if target is not None else y, source)


def _sc_hook(ret):
    x = tg.ones(3, requires_grad=True)
    x.register_hook(lambda g: ret)
    (x * 2).sum().backward()
    return x.grad


def _sc_set_grad(value):
    x = tg.ones(3, requires_grad=True)
    x.grad = value
    return x.grad


def _sc_sgd(params, lr):
    opt = tg.optim.SGD(params, lr=lr)
    return opt.step()


def _sc_adam(params, lr):
    opt = tg.optim.Adam(params, lr=lr)
    return opt.step()


def _sc_clip_norm(params, max_norm, norm_type):
    return tg.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)


def _sc_cross_entropy(logits, labels):
    return tg.nn.functional.cross_entropy(logits, labels)


def _sc_ce_mutated_labels(n_classes, bad_label):
    """Labels shared with NumPy are changed after the forward pass; the fused backward
    must not index the logits' gradient with the new (out-of-range) label."""
    logits = tg.zeros((4, n_classes), requires_grad=True)
    arr = np.zeros(4, dtype=np.int64)
    labels = tg.from_numpy(arr)
    loss = tg.nn.functional.cross_entropy(logits, labels)
    arr[:] = bad_label
    loss.backward()
    return logits.grad


def _sc_embedding(indices):
    emb = tg.nn.Embedding(5, 3)
    return emb(indices)


def _sc_layer_norm(x, shape):
    return tg.nn.functional.layer_norm(x, shape)


def _sc_linear(x):
    return tg.nn.Linear(3, 2)(x)


def _sc_readonly_write(how):
    """A tensor sharing a read-only array must not write into it."""
    if how == "bytes":
        buf = bytes(24)
        a = np.frombuffer(buf, dtype=np.float64)
    else:
        a = np.zeros(3)
        a.flags.writeable = False
    t = tg.from_numpy(a)
    before = a.copy()
    try:
        t.add_(1.0)
    except DOCUMENTED:
        pass
    if not np.array_equal(a, before):
        raise CaseFailure(f"from_numpy({how} read-only array).add_(1.0) wrote into read-only memory")
    raise ValueError("from_numpy: read-only array handled")  # uniform 'raised' outcome


def _sc_numpy_odd_strides(itemsize_mult):
    raw = np.arange(64, dtype=np.uint8)
    a = np.ndarray((3,), dtype=np.float32, buffer=raw, offset=0, strides=(itemsize_mult,))
    t = tg.from_numpy(a)
    if not np.array_equal(t.numpy(), a, equal_nan=True):
        raise CaseFailure(f"from_numpy of an array with strides {a.strides}: values {t.numpy()} != {a}")
    return t


def _sc_version_then_backward(which):
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    if which == "add_":
        with tg.no_grad():
            y.add_(1.0)
    elif which == "setitem":
        with tg.no_grad():
            y[0] = 5.0
    elif which == "numpy":
        y.numpy()[0] = 5.0  # bypasses the version counter: allowed to give either answer
    z.backward()
    return x.grad


def _sc_backward_twice():
    x = tg.ones(2, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    y.backward()


def _sc_num_threads(n):
    """set_num_threads(n), then a kernel big enough to run on the pool, must work or
    raise cleanly, and leave the library usable."""
    old = tg.get_num_threads()
    try:
        tg.set_num_threads(n)
        r = (tg.ones(1 << 20) * 2).sum().item()
        if r != 2 * (1 << 20):
            raise CaseFailure(f"sum after set_num_threads({n}) = {r}")
    finally:
        try:
            tg.set_num_threads(old)
        except DOCUMENTED:
            pass
    r = (tg.ones(1 << 20) * 2).sum().item()
    if r != 2 * (1 << 20):
        raise CaseFailure(f"sum after restoring the thread count = {r}")


def _sc_dlpack(arr):
    t = tg.from_dlpack(arr)
    back = np.from_dlpack(t)
    if not np.array_equal(back, arr, equal_nan=True):
        raise CaseFailure("from_dlpack/np.from_dlpack round trip changed values")
    return t


def _sc_item_len_bool(t, what):
    return {"item": lambda: t.item(), "len": lambda: len(t), "bool": lambda: bool(t), "float": lambda: float(t),
            "int": lambda: int(t), "index": lambda: [1, 2, 3][t], "iter": lambda: list(t),
            "repr": lambda: repr(t), "tolist": lambda: t.tolist(), "numpy": lambda: t.numpy()}[what]()


def _sc_to(t, dtype):
    return t.to(dtype)


def _sc_function_apply(ret_kind):
    class F(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return {"none": None, "str": "abc", "shape": tg.ones(7), "tuple": (g, g), "int": tg.ones(3, dtype=tg.int64),
                    "ok": g * 2}[ret_kind]
    x = tg.ones(3, requires_grad=True)
    F.apply(x).sum().backward()
    return x.grad


def _sc_pickle(what):
    """Pickling round trip (multiprocessing, caches): the same dtype object back, or an
    equal Variable; or a clean error."""
    import pickle
    obj = {"float32": tg.float32, "int64": tg.int64, "bool": tg.bool, "Variable": tg.Variable([1.0, 2.0]),
           "Tensor": tg.tensor([1.0, 2.0])}[what]
    back = pickle.loads(pickle.dumps(obj))
    if isinstance(obj, tg.dtype):
        if back is not obj:
            raise CaseFailure(f"pickle round trip of {obj!r} gave {back!r}")
    elif not np.array_equal(np.asarray(back), np.asarray(obj)):
        raise CaseFailure(f"pickle round trip of a {what} changed it")
    return back


SCENARIOS = {
    "pickle": _sc_pickle,
    "backward": _sc_backward, "grad": _sc_grad, "tape.gradient": _sc_tape_gradient, "tape.watch": _sc_tape_watch,
    "tape.jacobian": _sc_tape_jacobian, "register_hook": _sc_hook, "set .grad": _sc_set_grad,
    "optim.SGD": _sc_sgd, "optim.Adam": _sc_adam, "clip_grad_norm_": _sc_clip_norm,
    "cross_entropy": _sc_cross_entropy, "cross_entropy(mutated labels)": _sc_ce_mutated_labels,
    "Embedding": _sc_embedding, "layer_norm": _sc_layer_norm, "Linear": _sc_linear,
    "from_numpy(read-only)": _sc_readonly_write, "from_numpy(odd strides)": _sc_numpy_odd_strides,
    "in-place on saved tensor": _sc_version_then_backward, "backward twice": _sc_backward_twice,
    "set_num_threads": _sc_num_threads, "from_dlpack": _sc_dlpack, "conversions": _sc_item_len_bool,
    "to": _sc_to, "Function.apply": _sc_function_apply,
}


RUNNERS = {"unary": run_unary, "binary": run_binary, "reduction": run_reduction, "shape": run_shape,
           "getitem": run_getitem, "setitem": run_setitem, "matmul": run_matmul, "creation": run_creation,
           "inplace": run_inplace, "api": run_api}


def run_case(case):
    tg.set_grad_enabled(True)
    return RUNNERS[case["fam"]](case)


def _child_main(in_path, out_path, start):
    """Entry point of the child interpreter: run cases[start:], appending one JSON line
    'start' before and one result line after each case, flushed, so that the parent
    knows which case a crash happened in."""
    import faulthandler
    import resource

    faulthandler.enable()
    # A huge allocation must fail with MemoryError instead of waking the OOM killer.
    # (Not under AddressSanitizer, which reserves terabytes of address space; there
    # ASAN_OPTIONS=allocator_may_return_null=1 does the same job.)
    limit = 8 << 30
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if "asan" not in os.environ.get("LD_PRELOAD", "") and (hard == resource.RLIM_INFINITY or hard > limit):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    warnings.simplefilter("ignore")
    with open(in_path, "rb") as f:
        cases = pickle.load(f)
    with open(out_path, "a") as out:
        for i in range(start, len(cases)):
            out.write(json.dumps({"i": i, "event": "start"}) + "\n")
            out.flush()
            try:
                res = {"i": i, "event": "done", "status": "ok", "detail": run_case(cases[i])}
            except CaseFailure as e:
                res = {"i": i, "event": "done", "status": "fail", "detail": str(e)}
            except BaseException as e:  # noqa: B902 - a harness error is reported, not fatal
                res = {"i": i, "event": "done", "status": "fail",
                       "detail": f"harness/unexpected {type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"}
            out.write(json.dumps(res) + "\n")
            out.flush()


# =====================================================================================
# Parent side: draw cases with Hypothesis, run them in child interpreters.
# =====================================================================================

def n_examples(family):
    return int(_ENV_N) if _ENV_N else DEFAULT_EXAMPLES[family]


def draw_cases(strategy, n):
    cases = []

    @settings(max_examples=n, database=None, deadline=None, derandomize=_ENV_SEED is None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        cases.append(case)

    if _ENV_SEED is not None:
        collect = hypothesis_seed(int(_ENV_SEED))(collect)
    collect()
    return cases


def run_in_children(family, cases, timeout=600):
    """Run the cases in child interpreters; a child killed by a signal (or hung) is
    reported as a crash of the case it was running and a new child continues after it."""
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_root, HERE] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("PYTEST_CURRENT_TEST", None)
    results, crashes = {}, []
    with tempfile.TemporaryDirectory(prefix=f"tgfuzz-{family}-") as d:
        in_path, out_path = os.path.join(d, "cases.pkl"), os.path.join(d, "results.jsonl")
        with open(in_path, "wb") as f:
            pickle.dump(cases, f)
        start = 0
        while start < len(cases):
            code = f"import test_fuzz; test_fuzz._child_main({in_path!r}, {out_path!r}, {start})"
            try:
                p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   timeout=timeout)
                rc, err = p.returncode, p.stderr
            except subprocess.TimeoutExpired as e:
                rc, err = "timeout", (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            started = None
            if not os.path.exists(out_path):
                crashes.append((None, f"child exited with {rc} before running any case\n{err[-3000:]}"))
                break
            with open(out_path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        break
                    r = json.loads(line)
                    if r["event"] == "start":
                        started = r["i"]
                    else:
                        results[r["i"]] = r
                        started = None
            if rc == 0 and started is None:
                break
            if started is None:  # died between cases (at start-up or exit)
                crashes.append((None, f"child exited with {rc} outside any case\n{err[-3000:]}"))
                break
            sig = ""
            if isinstance(rc, int) and rc < 0:
                try:
                    sig = signal.Signals(-rc).name
                except ValueError:
                    sig = str(-rc)
            crashes.append((started, f"child {'killed by ' + sig if sig else 'exit ' + str(rc)} while running the case\n"
                                     f"{crash_report(err)}"))
            results[started] = {"i": started, "status": "crash", "detail": crashes[-1][1]}
            start = started + 1
    return results, crashes


def _t(values, dtype, layout="c", rg=False):
    return ("T", np.asarray(values, dtype=dtype), layout, rg)


def fixed_cases(family):
    """Corners that run on every fuzz run whatever Hypothesis draws: each was, or is
    likely to be, a bug (the NumPy reference decides)."""
    I64 = np.iinfo(np.int64)
    out = []
    if family == "unary":
        x = [1.0, 2.0, 3.0, -1.0, NAN]
        for kw in ({"min": 3.0, "max": 1.0}, {"min": NAN}, {"max": NAN}, {"min": NAN, "max": 2.0},
                   {"min": -INF, "max": INF}, {"min": 2, "max": 2.5}):
            out.append({"fam": "unary", "op": "clamp", "form": "fn", "args": [_t(x, "float32")], "kwargs": kw})
        out.append({"fam": "unary", "op": "clamp", "form": "fn", "args": [_t([1, 2, 3], "int64")],
                    "kwargs": {"min": 1.5, "max": 2.5}})
        big = np.tile([1e6, 3e8, 1e15, 1e30, -1e6, 12345.678, 1e5, 100.0], 8)  # the vectorised path
        for op in ("sin", "cos", "tan"):
            for dt in ("float32", "float64"):
                out.append({"fam": "unary", "op": op, "form": "fn", "args": [_t(big, dt)], "kwargs": {}})
        edge = [0.0, -0.0, NAN, INF, -INF, 1e-30, -1e-30, 88.7, -103.9, 709.7, -745.1, 20.0, -20.0, 1e30, -1e30]
        for op in UNARY_FLOAT + UNARY_KEEP:
            for dt in ("float32", "float64"):
                out.append({"fam": "unary", "op": op, "form": "fn", "args": [_t(np.tile(edge, 5), dt)], "kwargs": {}})
        for op in ("neg", "abs", "square", "sign"):  # int64 overflow wraps in NumPy (UB in C++)
            out.append({"fam": "unary", "op": op, "form": "fn", "args": [_t([I64.min, I64.max, -1, 0], "int64")],
                        "kwargs": {}})
        out.append({"fam": "unary", "op": "leaky_relu", "form": "fn", "args": [_t(x, "float64")],
                    "kwargs": {"negative_slope": NAN}})
    elif family == "binary":
        a = _t([I64.max, I64.min, 2 ** 62, -(2 ** 62)], "int64")
        for op in ("+", "-", "*"):  # int64 overflow wraps, as in NumPy
            out.append({"fam": "binary", "op": op, "form": "op", "args": [a, a]})
            out.append({"fam": "binary", "op": op, "form": "op", "args": [a, ("S", 3)]})
        out.append({"fam": "binary", "op": "**", "form": "op", "args": [_t([3, -3, 7, 2], "int64"), ("S", 41)]})
        out.append({"fam": "binary", "op": "/", "form": "op", "args": [a, _t([0, 0, -1, 3], "int64")]})
        f = _t([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, NAN, INF, -INF, 0.5], "float32")
        g = _t([0.0, 0.0, NAN, INF, -INF, 3.0, 0.0, -1.0, 0.5, -0.5], "float32")
        for op in ("**", "/", "maximum", "minimum"):
            out.append({"fam": "binary", "op": op, "form": "op" if op in BIN_OPS else "fn", "args": [f, g]})
        for e in (0.5, -1.0, 3.0, 0.0, NAN, INF):  # pow with a scalar exponent, on the vectorised path
            out.append({"fam": "binary", "op": "**", "form": "op", "args": [_t(np.tile(f[1], 8), "float64"), ("S", e)]})
    elif family == "reduction":
        big = _t(np.full(70, 2 ** 40), "int64")
        out.append({"fam": "reduction", "op": "prod", "form": "fn", "args": [big], "kwargs": {}})
        out.append({"fam": "reduction", "op": "sum", "form": "fn", "args": [_t([I64.max, I64.max, 5], "int64")],
                    "kwargs": {}})
        for op in ("logsumexp", "softmax", "log_softmax", "max", "argmax", "var", "norm", "mean", "prod"):
            out.append({"fam": "reduction", "op": op, "form": "fn", "args": [_t(np.zeros((0, 3)), "float32")],
                        "kwargs": {"axis": 0} if op in ("softmax", "log_softmax") else {}})
        out.append({"fam": "reduction", "op": "logsumexp", "form": "fn", "args": [_t([-INF, -INF], "float64")],
                    "kwargs": {}})
        out.append({"fam": "reduction", "op": "softmax", "form": "fn", "args": [_t([INF, 1.0, -INF], "float64")],
                    "kwargs": {"axis": 0}})
    elif family == "creation":
        for fv, dt in ((NAN, "int64"), (INF, "int64"), (-INF, "int64"), (2 ** 70, "int64"), (NAN, "bool"),
                       (1e300, "float32")):
            exp_, names = _creation_expect("full", [2], dt, {"fill_value": fv})
            if dt == "float32":
                exp_ = {"kind": "value", "value": np.full(2, np.float32(np.inf)), "dtype": "float32"}
            out.append({"fam": "creation", "op": "full", "form": "fn", "args": [("S", (2,)), ("S", fv)],
                        "kwargs": {"dtype": ("D", dt)}, "extra": {"expect": exp_, "names": names, "huge": False}})
        for size in (np.int64(3), np.int32(2)):  # NumPy integers are sizes too (PyTorch, NumPy)
            out.append({"fam": "creation", "op": "zeros", "form": "fn", "args": [("S", size)], "kwargs": {},
                        "extra": {"expect": {"kind": "value", "value": np.zeros(int(size), np.float32),
                                             "dtype": "float32"}, "names": ["zeros", "shape"]}})
    return out


def crash_report(stderr, size=2500):
    """The informative part of a dead child's stderr: a sanitizer report or Python's
    fatal-error traceback from its first line, else the tail."""
    for marker in ("runtime error:", "ERROR: AddressSanitizer", "AddressSanitizer:", "Fatal Python error",
                   "terminate called"):
        at = stderr.find(marker)
        if at >= 0:
            start = stderr.rfind("\n", 0, at) + 1
            return stderr[start:start + size]
    return stderr[-size:]


def fuzz_family(family, strategy, fixed=(), report=print):
    cases = list(fixed) + draw_cases(strategy, n_examples(family))
    assert len(cases) >= min(20, n_examples(family)), f"Hypothesis drew only {len(cases)} cases for {family}"
    results, crashes = run_in_children(family, cases)
    CASES_RUN[family] = len(results)
    if not results and crashes:
        pytest.fail(f"{family}: the child interpreter could not run any case: {crashes[0][1]}", pytrace=False)
    failures, groups = [], {}
    for i, case in enumerate(cases):
        r = results.get(i)
        if r is None:
            detail, status = "NOT RUN", "not run"
        elif r["status"] != "ok":
            detail, status = r["detail"].strip(), r["status"]
        else:
            continue
        failures.append(i)
        groups.setdefault(failure_signature(case, status, detail), []).append((i, status, detail, case))
    lines = []
    for sig, items in sorted(groups.items(), key=lambda kv: (severity(kv[1][0][1], kv[1][0][2]), -len(kv[1]))):
        i, status, detail, case = items[0]
        lines.append(f"[{family} #{i}] x{len(items)} {status.upper()}: {detail[:1500]}\n    repro: {case_src(case)[:800]}")
    for i, msg in crashes:
        if i is None:
            lines.append(f"[{family}] {msg}")
            failures.append(-1)
    outcomes = {}
    for r in results.values():
        k = r.get("detail", "").split(":")[0] + ":" + (r.get("detail", "").split(":")[1] if ":" in r.get("detail", "") else "")
        outcomes[k if r["status"] == "ok" else r["status"]] = outcomes.get(k if r["status"] == "ok" else r["status"], 0) + 1
    report(f"\n[fuzz] {family}: {len(results)} cases run; outcomes {dict(sorted(outcomes.items()))}")
    if failures:
        pytest.fail(f"{len(failures)} of {len(cases)} {family} fuzz cases failed, in {len(lines)} groups (first case "
                    f"of each shown; `from numpy import nan, inf` for the repros):\n" + "\n".join(lines),
                    pytrace=False)


def severity(status, detail):
    """Crashes first, then wrong answers, then wrong exception types, then messages."""
    if status in ("crash", "not run"):
        return 0
    if "message does not name" in detail:
        return 3
    if "undocumented exception" in detail:
        return 2
    return 1


def failure_signature(case, status, detail):
    """Cases that fail the same way (same op, same kind of message) are reported once."""
    import re
    first = detail.splitlines()[0] if detail else ""
    first = re.sub(r"0x[0-9a-f]+", "ADDR", first)
    first = re.sub(r"\[[^\]]*\]|\([^)]*\)", "()", first)
    first = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", first)
    return (case.get("op"), case.get("form") if case.get("fam") == "api" else "", status, first[:120])


# ------------------------------------------------------------------- strategies ----

ALL_DT = st.sampled_from(["float32", "float64", "int64", "bool"])
FLOAT_DT = st.sampled_from(["float32", "float64"])
LAYOUT = st.sampled_from(["c", "c", "c", "np", "t", "s", "e"])
SPECIAL = [NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-30, 1e6, -12345.678]


def elements(dt, big=1e30, special=True):
    if dt.startswith("float"):
        w = 32 if dt == "float32" else 64
        sp = SPECIAL + [big, -big]
        base = st.floats(-10, 10, width=w)
        return st.one_of(base, base, base, st.sampled_from(sp)) if special else base
    if dt == "int64":
        return st.integers(-20, 20)
    return st.booleans()


# Above the kernels' parallel grain (32768) and GIL-release threshold, with odd sizes for
# the vector tails; drawn from a seeded NumPy generator (Hypothesis arrays this big are slow).
LARGE_SHAPES = [(70001,), (300, 257), (2, 131, 129), (1, 65537), (65537, 1), (33, 1, 1025)]


def large_array(dt, shape, seed, special):
    rng = np.random.default_rng(seed)
    if dt.startswith("float"):
        a = rng.uniform(-10, 10, size=shape).astype(dt)
        if special:
            flat = a.reshape(-1)
            idx = rng.integers(0, flat.size, size=8)
            flat[idx] = np.array([NAN, INF, -INF, 0.0, -0.0, 1e15, -1e15, 1e-30], dtype=dt)
        return a
    if dt == "int64":
        return rng.integers(-20, 21, size=shape, dtype=np.int64)
    return rng.integers(0, 2, size=shape).astype(bool)


@st.composite
def tensors(draw, dtype=None, dtypes=ALL_DT, shape=None, big=1e30, special=True, grad=True, max_dims=4,
            max_side=4, min_dims=0, layout=None, layouts=LAYOUT, large=True):
    dt = dtype or draw(dtypes)
    if shape is None and large and draw(st.integers(0, 24)) == 0:
        shape = draw(st.sampled_from(LARGE_SHAPES))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side))
    if int(np.prod(shape)) > 4096:
        recipe = (dt, tuple(shape), draw(st.integers(0, 2 ** 32 - 1)), special)
        arr = large_array(*recipe)
        LARGE_RECIPES[id(arr)] = (arr, recipe)
    else:
        arr = draw(hnp.arrays(np.dtype(dt), shape, elements=elements(dt, big, special)))
    lay = layout or draw(layouts)
    if lay == "e":
        if arr.ndim >= 1 and arr.shape[0] >= 1:
            arr = np.ascontiguousarray(np.broadcast_to(arr[:1], arr.shape))
        else:
            lay = "c"
    rg = bool(grad and dt.startswith("float") and draw(st.booleans()))
    return ("T", arr, lay, rg)


garbage = st.sampled_from(GARBAGE_NAMES).map(lambda n: ("G", n))
bad = st.sampled_from(BAD_NAMES).map(lambda n: ("G", n))
bad_axis = st.sampled_from([n for n in BAD_NAMES if n != "None"]).map(lambda n: ("G", n))  # None: all axes
bad_shape = st.sampled_from([n for n in BAD_NAMES if n != "bytes"]).map(lambda n: ("G", n))  # bytes: ints


@st.composite
def unary_cases(draw):
    op = draw(st.sampled_from(UNARY_ALL))
    kind = draw(st.sampled_from(["t"] * 12 + ["list", "garbage"]))
    if kind == "t":
        arg = draw(tensors())
    elif kind == "list":
        arg = ("S", draw(st.lists(st.floats(-5, 5), max_size=4)))
    else:
        arg = draw(bad)
    kw = {}
    if op == "leaky_relu" and draw(st.booleans()):
        kw["negative_slope"] = draw(st.one_of(st.floats(-2, 2), st.sampled_from([NAN, INF, 0.0])))
    if op == "clamp":
        for b in ("min", "max"):
            if draw(st.booleans()):
                kw[b] = draw(st.one_of(st.floats(-5, 5), st.integers(-5, 5), st.sampled_from([NAN, INF, -INF, None])))
        if draw(st.integers(0, 15)) == 0:
            kw["min"] = draw(bad)
    form = draw(st.sampled_from(["fn", "meth"])) if arg[0] == "T" else "fn"
    return {"fam": "unary", "op": op, "form": form, "args": [arg], "kwargs": kw}


scalar = st.one_of(st.integers(-5, 5), st.floats(-5, 5, width=32), st.booleans(),
                   st.sampled_from([NAN, INF, -INF, 0.0, 2 ** 70, -3]))


@st.composite
def binary_cases(draw):
    op = draw(st.sampled_from(BIN_FN + list(BIN_OPS) + ["where"]))
    if op == "where":
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
        ss = list(shapes.input_shapes)
        if draw(st.integers(0, 5)) == 0:
            ss[draw(st.integers(0, 2))] = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
        cdt = "bool" if draw(st.integers(0, 5)) else draw(ALL_DT)
        args = [draw(tensors(dtype=cdt, shape=ss[0], grad=False)), draw(tensors(shape=ss[1])),
                draw(tensors(shape=ss[2]))]
        return {"fam": "binary", "op": "where", "form": "fn", "args": args}
    if draw(st.integers(0, 4)):
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
        sa, sb = shapes.input_shapes
    else:
        sa = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
        sb = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if draw(st.integers(0, 19)) == 0:  # a large operand, and a partner that broadcasts against it
        big_shape = draw(st.sampled_from(LARGE_SHAPES))
        small = [1 if draw(st.booleans()) else d for d in big_shape][draw(st.integers(0, len(big_shape))):]
        sa, sb = (big_shape, tuple(small)) if draw(st.booleans()) else (tuple(small), big_shape)
    a = draw(tensors(shape=sa))
    kind = draw(st.sampled_from(["tt"] * 6 + ["ts", "st", "tg"]))
    if op in BIN_FN:
        form = draw(st.sampled_from(["fn", "meth"]))
    else:
        form = "op"
    if kind == "tt":
        b = draw(tensors(shape=sb))
    elif kind == "tg":
        b = draw(bad)
    else:
        b = ("S", draw(scalar))
    if op == "pow" or op == "**":  # keep integer powers small (no overflow) but allow negatives sometimes
        if b[0] == "T" and b[1].dtype.kind == "i":
            b = ("T", np.asarray(np.clip(b[1], -1 if draw(st.integers(0, 6)) == 0 else 0, 4)), b[2], b[3])
        if b[0] == "S" and isinstance(b[1], int) and not isinstance(b[1], bool) and abs(b[1]) < 2 ** 63:
            b = ("S", max(min(b[1], 4), -2))
        if a[1].dtype.kind == "i":
            a = ("T", np.asarray(np.clip(a[1], -6, 6)), a[2], a[3])  # (np.clip of a 0-d array is a scalar)
    args = [a, b]
    if kind == "st" and form == "op":  # reflected: scalar (op) tensor
        args = [b, a]
    return {"fam": "binary", "op": op, "form": form, "args": args}


@st.composite
def axis_arg(draw, nd, allow_tuple=True):
    choice = draw(st.integers(0, 9))
    if choice <= 1:
        return None
    if choice <= 5 or not allow_tuple:
        return draw(st.integers(-nd - 2, nd + 1))
    if choice <= 8:
        t = draw(st.lists(st.integers(-nd - 1, nd), max_size=max(nd, 1) + 1))
        return tuple(t) if draw(st.booleans()) else t
    return draw(bad_axis)


@st.composite
def reduction_cases(draw):
    op = draw(st.sampled_from(RED_OPS))
    x = draw(tensors(big=1e15))
    nd = x[1].ndim
    kw = {}
    if op in ("softmax", "log_softmax"):
        if draw(st.booleans()):
            kw["axis"] = draw(st.integers(-nd - 2, nd + 1)) if draw(st.integers(0, 9)) else draw(bad_axis)
        else:
            kw["axis"] = draw(st.integers(-max(nd, 1), max(nd, 1) - 1))
    else:
        if draw(st.integers(0, 4)):
            kw["axis"] = draw(axis_arg(nd, allow_tuple=op not in ("argmax", "argmin")))
        if draw(st.booleans()):
            kw["keepdims"] = draw(st.booleans())
        if op in ("var", "std") and draw(st.booleans()):
            kw["correction"] = draw(st.sampled_from([0, 1, 2, 0.5, 10]))
        if op == "norm" and draw(st.integers(0, 3)):
            kw["ord"] = draw(st.sampled_from([2.0, 1.0, INF, -INF, 0.0, 3.0, 0.5, -1.0, -2.0]))
    form = draw(st.sampled_from(["fn", "meth"]))
    return {"fam": "reduction", "op": op, "form": form, "args": [x], "kwargs": kw}


@st.composite
def valid_reshape(draw, shape):
    dims = list(shape)
    n = int(np.prod(dims)) if dims else 1
    # merge adjacent dims / insert 1s / shuffle: always the same element count
    while len(dims) > 1 and draw(st.booleans()):
        i = draw(st.integers(0, len(dims) - 2))
        dims[i:i + 2] = [dims[i] * dims[i + 1]]
    for _ in range(draw(st.integers(0, 2))):
        dims.insert(draw(st.integers(0, len(dims))), 1)
    dims = draw(st.permutations(dims)) if dims else dims
    dims = list(dims)
    if dims and n > 0 and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


SHAPE_OPS = ["reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose", "permute", "T", "expand",
             "broadcast_to", "concat", "stack", "split", "contiguous", "clone", "detach"]


@st.composite
def shape_cases(draw):
    op = draw(st.sampled_from(SHAPE_OPS))
    x = draw(tensors(big=1e15))
    shape = x[1].shape
    nd = len(shape)
    kw, extra, form = {}, {}, "meth"
    invalid = draw(st.integers(0, 4)) == 0
    garb = draw(st.integers(0, 12)) == 0
    if op in ("reshape", "view"):
        tgt = draw(valid_reshape(shape)) if not invalid else tuple(draw(st.lists(st.integers(-3, 6), max_size=4)))
        if draw(st.integers(0, 20)) == 0:
            tgt = (2 ** 62, 2 ** 62) if draw(st.booleans()) else (-(2 ** 63), 1)
        extra["shape_args"] = tgt
        if op == "reshape" and draw(st.booleans()):
            form = "fn"
            extra["call_args"] = [tgt]
        else:
            extra["call_args"] = list(tgt) if draw(st.booleans()) else [tgt]
        if garb:
            extra["call_args"] = [draw(bad_shape)]
            extra["garbage"] = True
    elif op == "flatten":
        kw = {"start_dim": draw(st.integers(-nd - 1, nd)), "end_dim": draw(st.integers(-nd - 1, nd))}
        form = draw(st.sampled_from(["fn", "meth"]))
    elif op == "squeeze":
        a = draw(axis_arg(nd))
        if a is not None:
            kw["axis"] = a
            if isinstance(a, tuple) and a and a[0] == "G":
                extra["garbage"] = True
        form = draw(st.sampled_from(["fn", "meth"]))
    elif op == "unsqueeze":
        kw["axis"] = draw(st.integers(-nd - 2, nd + 1))
        form = draw(st.sampled_from(["fn", "meth"]))
    elif op == "transpose":
        if nd >= 1 or draw(st.booleans()):
            kw = {"dim0": draw(st.integers(-nd - 1, nd)), "dim1": draw(st.integers(-nd - 1, nd))}
        form = draw(st.sampled_from(["fn", "meth"]))
    elif op == "permute":
        dims = list(draw(st.permutations(range(nd)))) if not invalid else draw(st.lists(st.integers(-nd - 1, nd), max_size=nd + 1))
        extra["shape_args"] = tuple(dims)
        if draw(st.booleans()):
            form = "fn"
            extra["call_args"] = [tuple(dims)]
        else:
            extra["call_args"] = list(dims)
    elif op in ("expand", "broadcast_to"):
        tgt = list(shape)
        for i, s in enumerate(tgt):
            if s == 1 and draw(st.booleans()):
                tgt[i] = draw(st.integers(0, 3))
            elif op == "expand" and draw(st.integers(0, 3)) == 0:
                tgt[i] = -1
        tgt = draw(st.lists(st.integers(1, 3), max_size=2)) + tgt
        if invalid:
            tgt = draw(st.lists(st.integers(-2, 4), max_size=5))
        extra["shape_args"] = tuple(tgt)
        if op == "expand":
            extra["call_args"] = list(tgt) if draw(st.booleans()) else [tuple(tgt)]
        else:
            form = draw(st.sampled_from(["fn", "meth"]))
            extra["call_args"] = [tuple(tgt)]
        if garb:
            extra["call_args"] = [draw(bad_shape)]
            extra["garbage"] = True
    elif op in ("concat", "stack"):
        k = draw(st.integers(0, 3))
        axis = draw(st.integers(-nd - 2, nd + 1))
        parts = [x]
        for _ in range(k):
            s = list(shape)
            if op == "concat" and nd and 0 <= axis % max(nd, 1) < nd and not invalid:
                s[axis % nd] = draw(st.integers(0, 3))
            elif invalid and s:
                s[draw(st.integers(0, len(s) - 1))] = draw(st.integers(0, 4))
            parts.append(draw(tensors(shape=tuple(s), big=1e15)))
        if draw(st.integers(0, 10)) == 0:
            parts = []
        form = "fn"
        kw["axis"] = axis
        return {"fam": "shape", "op": op, "form": form, "args": [("L", parts)], "kwargs": kw,
                "extra": {"call_args": []}}
    elif op == "split":
        n = shape[0] if nd else 0
        axis = draw(st.integers(-nd - 1, nd)) if invalid else (draw(st.integers(-nd, nd - 1)) if nd else 0)
        n = shape[axis % nd] if nd and -nd <= axis < nd else n
        if draw(st.booleans()):
            sec = draw(st.integers(-1, 4)) if invalid else draw(st.integers(1, 4))
        else:
            sec = []
            rem = n
            while rem > 0:
                c = draw(st.integers(0, rem))
                sec.append(c)
                rem -= c
            if invalid:
                sec.append(draw(st.integers(-2, 2)))
        extra["shape_args"] = (sec,)
        extra["call_args"] = [sec]
        kw["axis"] = axis
        form = draw(st.sampled_from(["fn", "meth"]))
    else:
        form = draw(st.sampled_from(["fn", "meth"])) if op != "contiguous" else "meth"
    extra.setdefault("call_args", [])
    return {"fam": "shape", "op": op, "form": form, "args": [x], "kwargs": kw, "extra": extra}


@st.composite
def index_key(draw, shape):
    nd = len(shape)
    items = []
    n_items = draw(st.integers(0, nd + 1))
    used_ellipsis = False
    dim = 0
    for _ in range(n_items):
        size = shape[dim] if dim < nd else 3
        kind = draw(st.sampled_from(["int", "int", "slice", "slice", "slice", "none", "ellipsis", "intarr", "mask",
                                     "tensorint", "tensormask", "badfloat", "garbage", "int0d"]))
        if kind == "int":
            items.append(draw(st.integers(-size - 2, size + 1)))
            dim += 1
        elif kind == "slice":
            b = st.one_of(st.none(), st.integers(-size - 2, size + 2))
            step = draw(st.sampled_from([None, None, 1, 2, 3, -1, -2, 0]))
            items.append(slice(draw(b), draw(b), step))
            dim += 1
        elif kind == "none":
            items.append(None)
        elif kind == "ellipsis":
            items.append(Ellipsis)
            used_ellipsis = True
            dim = max(dim, nd - (n_items - len(items)))
        elif kind in ("intarr", "tensorint"):
            arr = np.array(draw(st.lists(st.integers(-size - 1, size), min_size=0, max_size=4)), dtype=np.int64)
            if draw(st.booleans()) and arr.size:
                arr = arr.reshape(draw(st.sampled_from([(arr.size,), (1, arr.size), (arr.size, 1)])))
            items.append(("T", arr, "c", False) if kind == "tensorint" else ("A", arr))
            dim += 1
        elif kind in ("mask", "tensormask"):
            k = draw(st.integers(1, max(1, nd - dim))) if dim < nd else 1
            mshape = tuple(shape[dim:dim + k]) if dim < nd else (3,)
            if draw(st.integers(0, 5)) == 0:
                mshape = tuple(max(0, s + draw(st.integers(-1, 1))) for s in mshape)
            m = draw(hnp.arrays(np.bool_, mshape))
            items.append(("T", m, "c", False) if kind == "tensormask" else ("A", m))
            dim += k
        elif kind == "int0d":
            items.append(("T", np.array(draw(st.integers(-size - 1, size)), dtype=np.int64), "c", False))
            dim += 1
        elif kind == "badfloat":
            items.append(("S", draw(st.sampled_from([1.0, 0.5, NAN]))))
            dim += 1
        else:
            items.append(("G", draw(st.sampled_from(["str", "object", "dict", "complex", "bigint", "int63", "ragged",
                                                      "strlist", "badindex", "float"]))))
            dim += 1
    return items


@st.composite
def getitem_cases(draw):
    x = draw(tensors(big=1e15))
    key = draw(index_key(x[1].shape))
    single = len(key) == 1 and draw(st.booleans())
    return {"fam": "getitem", "op": "getitem", "form": "getitem", "args": [x], "extra": {"key": key, "single": single}}


@st.composite
def setitem_cases(draw):
    x = draw(tensors(big=1e15, grad=False, layouts=st.sampled_from(["c", "c", "np", "t", "s"])))
    key = draw(index_key(x[1].shape))
    single = len(key) == 1 and draw(st.booleans())
    kind = draw(st.sampled_from(["scalar", "scalar", "tensor", "tensor", "list", "garbage"]))
    if kind == "scalar":
        v = ("S", draw(st.one_of(st.integers(-5, 5), st.floats(-5, 5), st.booleans(), st.sampled_from([NAN, INF]))))
    elif kind == "tensor":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                tshape = x[1][np_key(key) if not single else np_key(key)[0]].shape
            except Exception:  # noqa: BLE001 - any shape will do for an invalid key
                tshape = (2,)
        if draw(st.integers(0, 3)) == 0 and tshape:
            tshape = tshape[draw(st.integers(0, len(tshape))):]
        if draw(st.integers(0, 5)) == 0:
            tshape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
        v = draw(tensors(shape=tshape, grad=False, big=1e15))
    elif kind == "list":
        v = ("S", draw(st.lists(st.integers(-3, 3), max_size=3)))
    else:
        v = draw(garbage)
    return {"fam": "setitem", "op": "setitem", "form": "setitem", "args": [x, v], "extra": {"key": key, "single": single}}


@st.composite
def matmul_cases(draw):
    nd_a, nd_b = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3))
    m, k, n = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(0, 4))
    k2 = k if draw(st.integers(0, 5)) else draw(st.integers(0, 4))

    def shp(nd, mat, bshape):
        if nd == 0:
            return ()
        if nd == 1:
            return (mat[1],) if mat is not None else ()
        return tuple(bshape[-(nd - 2):] if nd > 2 else ()) + mat

    sa = () if nd_a == 0 else ((k,) if nd_a == 1 else shp(nd_a, (m, k), (1, 1) + tuple(batch.input_shapes[0])))
    sb = () if nd_b == 0 else ((k2,) if nd_b == 1 else shp(nd_b, (k2, n), (1, 1) + tuple(batch.input_shapes[1])))
    dts = st.sampled_from(["float32", "float64", "float32", "float64", "int64", "bool"])
    a = draw(tensors(dtypes=dts, shape=sa, big=1e15, special=draw(st.integers(0, 4)) == 0,
                     layouts=st.sampled_from(["c", "t", "s", "e", "np"])))
    b = draw(tensors(dtypes=dts, shape=sb, big=1e15, special=draw(st.integers(0, 4)) == 0,
                     layouts=st.sampled_from(["c", "t", "s", "e", "np"])))
    if draw(st.integers(0, 15)) == 0:
        b = draw(st.one_of(bad, st.just(("S", 2.0))))
    form = draw(st.sampled_from(["fn", "meth", "op"]))
    return {"fam": "matmul", "op": "matmul", "form": form, "args": [a, b]}


def _creation_expect(op, shape_val, dtype, kwargs):
    """Expectation for zeros/ones/empty/full/rand/randn given a shape argument."""
    names = [op]
    if dtype is not None and dtype not in TG_DTYPES:
        return {"kind": "raise", "why": "unsupported dtype"}, names + ["dtype"]
    shape = shape_val
    if isinstance(shape, bool) or not (isinstance(shape, int) or (isinstance(shape, (tuple, list)) and all(
            isinstance(s, int) and not isinstance(s, bool) for s in shape))):
        return {"kind": "raise", "why": "shape is not an int or a sequence of ints"}, names + ["shape"]
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(s < 0 for s in shape):
        return {"kind": "raise", "why": "negative size"}, names + ["negative", "dimension"]
    n = int(np.prod([float(s) for s in shape])) if shape else 1
    dt = dtype or ("float32" if op != "full" else None)
    if op == "full":
        v = kwargs["fill_value"]
        if not isinstance(v, (int, float, bool)):
            return {"kind": "raise", "why": "fill value is not a number"}, names + ["fill"]
        dt = dtype or ("bool" if isinstance(v, bool) else "int64" if isinstance(v, int) else "float32")
        if dt == "int64" and isinstance(v, float) and not math.isfinite(v):
            return {"kind": "raise", "why": f"{v} cannot be converted to {dt} (PyTorch/NumPy raise)"}, names + ["fill", "convert", "overflow"]
        if dt == "int64" and isinstance(v, int) and not -2 ** 63 <= v < 2 ** 63:
            return {"kind": "raise", "why": "fill value overflows int64"}, names + ["fill", "overflow"]
    if op in ("rand", "randn") and dt not in ("float32", "float64"):
        return {"kind": "raise", "why": "random ints"}, names + ["dtype", "float"]
    if kwargs.get("requires_grad") and dt not in ("float32", "float64"):
        return {"kind": "raise", "why": "requires_grad on a non-float tensor (PyTorch raises)"}, names + ["grad", "float"]
    if any(s >= 2 ** 63 for s in shape):
        return {"kind": "raise", "why": "size does not fit int64"}, names + ["shape", "size", "large", "int"]
    if n * 8 > 2 ** 33:
        return {"kind": "raise", "why": "huge", "huge": True}, names + ["shape", "size", "large", "memory"]
    try:
        np.empty(shape, dtype=dt)
    except ValueError:  # no elements, but a side NumPy cannot hold, as (0, 2**62): shape and dtype only
        return {"kind": "shape", "shape": shape, "dtype": dt}, names
    if op in ("rand", "randn", "empty"):
        return {"kind": "random" if op != "empty" else "any", "shape": shape, "dtype": dt}, names
    fill = {"zeros": 0, "ones": 1}.get(op, kwargs.get("fill_value"))
    with quiet():
        value = np.full(shape, np.asarray(fill).astype(dt))  # (in dt: the fill's own dtype may be too wide)
    return {"kind": "value", "value": value, "dtype": dt}, names


@st.composite
def creation_cases(draw):
    op = draw(st.sampled_from(["zeros", "ones", "empty", "full", "rand", "randn", "arange", "linspace", "eye",
                               "tensor", "tensor", "from_numpy", "from_numpy", "zeros_like", "ones_like",
                               "full_like", "randn_like", "rand_like"]))
    dtype_choice = draw(st.integers(0, 9))
    dtype = None if dtype_choice < 4 else (draw(st.sampled_from(sorted(TG_DTYPES))) if dtype_choice < 9 else
                                           draw(st.sampled_from(["float16", "complex64", "bogus", "uint8", 3])))
    size = st.one_of(st.integers(0, 4), st.integers(0, 4), st.integers(-3, 4),
                     st.sampled_from([2 ** 40, 2 ** 62, 2 ** 63, 2 ** 70, -(2 ** 63)]))
    kw = {}
    if dtype is not None:
        kw["dtype"] = ("D", dtype) if dtype in TG_DTYPES else ("S", dtype)
    dtn = dtype if (dtype is None or dtype in TG_DTYPES) else "<bad>"
    if draw(st.integers(0, 6)) == 0:
        kw["requires_grad"] = True
    if op in ("zeros", "ones", "empty", "full", "rand", "randn"):
        style = draw(st.sampled_from(["varargs", "tuple", "list", "garbage", "int"]))
        dims = draw(st.lists(size, max_size=4))
        if style == "garbage":
            g = draw(st.sampled_from(["str", "None", "float", "object", "strlist", "nonelist", "nested", "complex",
                                      "dict", "badlen", "badindex", "tensorint"]))
            shape_val, args = ("G", g), [("G", g)]
        elif style == "int":
            shape_val = draw(size)
            args = [("S", shape_val)]
        elif style == "varargs" and op != "full":
            shape_val = tuple(dims)
            args = [("S", d) for d in dims]
        else:
            shape_val = tuple(dims) if style == "tuple" else list(dims)
            args = [("S", shape_val)]
        if op == "full":
            fv = draw(st.one_of(st.floats(-5, 5), st.integers(-5, 5), st.booleans(),
                                st.sampled_from([NAN, INF, 2 ** 70, "abc", None])))
            args.append(("S", fv))
            kw_ref = {"fill_value": fv, **{k: v for k, v in kw.items() if k == "requires_grad"}}
        else:
            kw_ref = {k: v for k, v in kw.items() if k == "requires_grad"}
        if shape_val and isinstance(shape_val, tuple) and shape_val[0] == "G":
            expect, names = {"kind": "raise", "why": "garbage shape"}, [op, "shape"]
        elif dtn == "<bad>":
            expect, names = {"kind": "raise", "why": "bad dtype"}, [op, "dtype"]
        else:
            expect, names = _creation_expect(op, list(shape_val) if isinstance(shape_val, (tuple, list)) else shape_val,
                                             dtn, kw_ref)
        huge = expect.pop("huge", False)
        if style == "varargs" and op != "full" and len(dims) == 0:
            expect = {"kind": "any"} if op in ("empty", "rand", "randn") else expect
        return {"fam": "creation", "op": op, "form": "fn", "args": args, "kwargs": kw,
                "extra": {"expect": expect, "names": names, "huge": huge or expect.get("why") == "huge"}}
    if op == "arange":
        num = st.one_of(st.integers(-5, 10), st.floats(-5, 10, width=32), st.sampled_from([NAN, INF, 0, 0.0, 1e12]))
        vals = [draw(num) for _ in range(draw(st.integers(1, 3)))]
        args = [("S", v) for v in vals]
        start, stop, step = (0, vals[0], 1) if len(vals) == 1 else (vals[0], vals[1], 1) if len(vals) == 2 else vals
        names = ["arange"]
        if dtn == "<bad>":
            expect = {"kind": "raise", "why": "bad dtype"}
        elif step == 0 or not all(math.isfinite(v) for v in (start, stop, step)):
            expect = {"kind": "raise", "why": "zero step or non-finite bound"}
        elif (stop - start) / step > 1e9:
            expect = {"kind": "raise", "why": "huge", "may_raise": True}
        else:
            all_int = all(isinstance(v, int) for v in (start, stop, step))
            dt = dtn or ("int64" if all_int else "float32")
            # an empty range (NumPy raises when its negative count is huge, as -5..10 by -1e-45)
            ref = np.arange(start, stop, step, dtype=np.float64) if (stop - start) / step > 0 else np.zeros(0)
            if kw.get("requires_grad") and dt not in ("float32", "float64"):
                expect = {"kind": "raise", "why": "requires_grad on ints"}
            elif dt == "bool":
                expect = {"kind": "any", "may_raise": True}
            else:
                expect = {"kind": "value", "value": ref.astype(dt), "dtype": dt, "rtol": 1e-6, "atol": 1e-6,
                          "may_raise": False}
                n = math.ceil((stop - start) / step)
                if abs(n - (stop - start) / step) < 1e-6 or dt == "int64":  # length at a rounding boundary
                    expect["kind"] = "any"
        return {"fam": "creation", "op": op, "form": "fn", "args": args, "kwargs": kw,
                "extra": {"expect": expect, "names": names, "huge": True}}
    if op == "linspace":
        a, b = draw(st.floats(-5, 5)), draw(st.one_of(st.floats(-5, 5), st.sampled_from([NAN, INF])))
        num = draw(st.one_of(st.integers(-2, 6), st.sampled_from([2 ** 62, 2 ** 70])))
        args = [("S", a), ("S", b), ("S", num)]
        if dtn == "<bad>" or num < 0 or num >= 2 ** 63:
            expect = {"kind": "raise", "why": "bad dtype or negative/huge num"}
        elif num > 2 ** 30:
            expect = {"kind": "raise", "why": "huge"}
        elif kw.get("requires_grad") and dtn not in (None, "float32", "float64"):
            expect = {"kind": "raise", "why": "requires_grad on ints"}
        elif dtn in ("int64", "bool") or not math.isfinite(b):
            expect = {"kind": "any", "may_raise": True}
        else:
            dt = dtn or "float32"
            expect = {"kind": "value", "value": np.linspace(a, b, num).astype(dt), "dtype": dt, "rtol": 1e-6,
                      "atol": 1e-6}
        return {"fam": "creation", "op": op, "form": "fn", "args": args, "kwargs": kw,
                "extra": {"expect": expect, "names": ["linspace", "shape"], "huge": True}}
    if op == "eye":
        n = draw(st.one_of(st.integers(-2, 5), st.sampled_from([2 ** 40, 2 ** 63])))
        args = [("S", n)]
        m = None
        if draw(st.booleans()):
            m = draw(st.one_of(st.integers(-2, 5), st.sampled_from([2 ** 40])))
            args.append(("S", m))
        mm = n if m is None else m
        if dtn == "<bad>" or n < 0 or mm < 0 or n >= 2 ** 63:
            expect = {"kind": "raise", "why": "bad"}
        elif n * mm > 2 ** 30:
            expect = {"kind": "raise", "why": "huge"}
        elif kw.get("requires_grad") and dtn not in (None, "float32", "float64"):
            expect = {"kind": "raise", "why": "requires_grad on ints"}
        else:
            dt = dtn or "float32"
            expect = {"kind": "value", "value": np.eye(n, mm).astype(dt), "dtype": dt}
        return {"fam": "creation", "op": op, "form": "fn", "args": args, "kwargs": kw,
                "extra": {"expect": expect, "names": ["eye", "shape"], "huge": True}}
    if op in ("zeros_like", "ones_like", "full_like", "randn_like", "rand_like"):
        x = draw(st.one_of(tensors(grad=False), garbage))
        args = [x]
        if op == "full_like":
            args.append(("S", draw(st.one_of(st.floats(-3, 3), st.integers(-3, 3)))))
        if x[0] != "T" or dtn == "<bad>":
            expect = {"kind": "raise" if dtn == "<bad>" else "any", "may_raise": True}
        else:
            dt = dtn or x[1].dtype.name
            if kw.get("requires_grad") and dt not in ("float32", "float64"):
                expect = {"kind": "raise", "why": "requires_grad on ints"}
            elif op.startswith("rand"):
                expect = {"kind": "random", "shape": x[1].shape, "dtype": dt, "may_raise": dt not in ("float32", "float64")}
            else:
                fill = {"zeros_like": 0, "ones_like": 1}.get(op, args[-1][1] if op == "full_like" else 0)
                if dt in ("int64", "bool") and isinstance(fill, float):
                    expect = {"kind": "any", "may_raise": True}
                else:
                    expect = {"kind": "value", "value": np.full(x[1].shape, fill).astype(dt), "dtype": dt}
        return {"fam": "creation", "op": op, "form": "fn", "args": args, "kwargs": kw,
                "extra": {"expect": expect, "names": [op, op.replace("_like", ""), "shape"]}}
    if op == "tensor":
        dtn_ok = None if dtn == "<bad>" else dtn  # a bad dtype: the raise set below
        kind = draw(st.sampled_from(["nested", "scalar", "array", "garbage", "ragged"]))
        if kind == "nested":
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
            elt = draw(st.sampled_from(["f", "i", "b", "mix"]))
            e = {"f": st.floats(-5, 5), "i": st.integers(-5, 5), "b": st.booleans(),
                 "mix": st.one_of(st.floats(-5, 5), st.integers(-5, 5))}[elt]
            data = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                data[idx] = draw(e)
            lst = data.tolist() if shape else draw(e)
            arg = ("S", lst)
            with quiet():
                try:
                    a = np.array(lst)
                    ok = a.dtype.kind in "fiub"
                except Exception:  # noqa: BLE001
                    ok = False
            if not ok:
                expect = {"kind": "any", "may_raise": True}
            else:
                natural = {"f": "float32", "i": "int64", "u": "int64", "b": "bool"}[a.dtype.kind]
                dt = dtn_ok or natural
                if kw.get("requires_grad") and dt not in ("float32", "float64"):
                    expect = {"kind": "raise", "why": "requires_grad on ints"}
                else:
                    expect = {"kind": "value", "value": a.astype(dt), "dtype": dt, "rtol": 1e-7, "atol": 0}
        elif kind == "scalar":
            v = draw(st.one_of(st.floats(-5, 5), st.integers(-5, 5), st.booleans(), st.sampled_from([NAN, INF])))
            arg = ("S", v)
            natural = "bool" if isinstance(v, bool) else "int64" if isinstance(v, int) else "float32"
            dt = dtn_ok or natural
            if kw.get("requires_grad") and dt not in ("float32", "float64"):
                expect = {"kind": "raise", "why": "requires_grad on ints"}
            elif dt in ("int64", "bool") and isinstance(v, float) and not math.isfinite(v):
                expect = {"kind": "any", "may_raise": True}
            else:
                expect = {"kind": "value", "value": np.asarray(v).astype(dt), "dtype": dt, "rtol": 1e-7}
        elif kind == "array":
            npdt = draw(st.sampled_from(["float32", "float64", "int64", "bool", "float16", "int32", "uint8",
                                         "complex64", "U1", "int8", "uint64"]))
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
            a = draw(hnp.arrays(np.dtype(npdt), shape)) if npdt != "U1" else np.full(shape, "a")
            if draw(st.booleans()) and a.ndim >= 2:
                a = a.T
            arg = ("A", a)
            natural = {"f": "float64" if npdt == "float64" else "float32", "i": "int64", "u": "int64", "b": "bool"}.get(a.dtype.kind)
            if natural is None:  # with an explicit dtype NumPy's conversion rules apply
                expect = {"kind": "raise", "why": f"unsupported array dtype {npdt}"} if dtn is None else \
                    {"kind": "any", "may_raise": True}
            else:
                dt = dtn_ok or natural
                if npdt == "float16" and dtn is None:
                    dt = "float32"
                if kw.get("requires_grad") and dt not in ("float32", "float64"):
                    expect = {"kind": "raise", "why": "requires_grad on ints"}
                elif a.dtype.kind == "f" and dt in ("int64", "bool") and not np.isfinite(a).all():
                    expect = {"kind": "any", "may_raise": True}
                elif npdt == "uint64" and dt == "int64":
                    expect = {"kind": "any", "may_raise": True}
                else:
                    with quiet():
                        expect = {"kind": "value", "value": a.astype(dt), "dtype": dt, "rtol": 1e-3 if npdt == "float16" else 1e-7}
        elif kind == "ragged":
            arg = ("S", draw(st.sampled_from([[[1, 2], [3]], [1, [2]], [[1.0], 2.0], [[[]], [1]], ["a", 1],
                                               [None], [1, None], [[1, 2], (3, 4)], [1j]])))
            expect = {"kind": "any", "may_raise": True}
        else:
            arg = draw(garbage)
            expect = {"kind": "any", "may_raise": True}
        if dtn == "<bad>":
            expect = {"kind": "raise", "why": "bad dtype"}
        return {"fam": "creation", "op": "tensor", "form": "fn", "args": [arg], "kwargs": kw,
                "extra": {"expect": expect, "names": ["tensor", "dtype", "convert"]}}
    # from_numpy
    npdt = draw(st.sampled_from(["float32", "float64", "int64", "bool", "float16", "int32", "uint8", "complex128",
                                 "U1", "object"]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if npdt in ("U1", "object"):
        a = np.full(shape, "a" if npdt == "U1" else None, dtype=npdt)
    else:
        a = draw(hnp.arrays(np.dtype(npdt), shape))
    view = draw(st.sampled_from(["c", "T", "step", "neg", "bcast", "fortran"]))
    if view == "T" and a.ndim >= 2:
        a = a.T
    elif view == "step" and a.ndim >= 1:
        a = a[..., ::2]
    elif view == "neg" and a.ndim >= 1:
        a = a[::-1]
    elif view == "bcast" and a.ndim >= 1 and a.shape[0] >= 1:
        a = np.broadcast_to(a[:1], (3,) + a.shape[1:])  # read-only, stride 0
    elif view == "fortran":
        a = np.asfortranarray(a)
    if draw(st.integers(0, 8)) == 0:
        args = [draw(garbage)]
        expect = {"kind": "any", "may_raise": True}
    else:
        args = [("A", a)]
        if npdt not in TG_DTYPES:
            expect = {"kind": "raise", "why": f"unsupported dtype {npdt}"}
        else:  # a read-only array may be refused (its memory cannot be shared writably)
            expect = {"kind": "value", "value": np.array(a), "dtype": npdt, "may_raise": not a.flags.writeable}
    kw = {}
    return {"fam": "creation", "op": "from_numpy", "form": "fn", "args": args, "kwargs": kw,
            "extra": {"expect": expect, "names": ["from_numpy", "dtype", "buffer"]}}


@st.composite
def inplace_cases(draw):
    op = draw(st.sampled_from(INPLACE_METHODS + ["+", "-", "*", "/", "fill_", "zero_", "clamp_", "copy_"]))
    x = draw(tensors(grad=False, big=1e15, layouts=st.sampled_from(["c", "c", "np", "t", "s", "e"])))
    shape = x[1].shape
    kw = {}
    form = "meth"
    args = [x]
    if op in INPLACE_METHODS or op in ("+", "-", "*", "/"):
        if op in ("+", "-", "*", "/"):
            form = "iop"
        kind = draw(st.sampled_from(["t", "t", "t", "s", "g"]))
        if kind == "t":
            oshape = shape
            if draw(st.booleans()) and shape:
                oshape = shape[draw(st.integers(0, len(shape))):]
            if draw(st.integers(0, 4)) == 0:
                oshape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
            args.append(draw(tensors(shape=oshape, grad=False, big=1e15)))
        elif kind == "s":
            args.append(("S", draw(st.one_of(st.integers(-3, 3), st.floats(-3, 3), st.booleans(),
                                                st.sampled_from([NAN, INF])))))
        else:
            args.append(draw(bad))
    elif op == "fill_":
        args.append(("S", draw(st.one_of(st.floats(-3, 3), st.sampled_from([NAN, INF, 2.0])))))
    elif op == "clamp_":
        for b in ("min", "max"):
            if draw(st.booleans()):
                kw[b] = draw(st.one_of(st.floats(-3, 3), st.sampled_from([-1.0, 1.0])))
    elif op == "copy_":
        sshape = shape
        if draw(st.booleans()) and shape:
            sshape = shape[draw(st.integers(0, len(shape))):]
        if draw(st.integers(0, 4)) == 0:
            sshape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
        args.append(draw(tensors(shape=sshape, grad=False, big=1e15)) if draw(st.integers(0, 9)) else draw(bad))
    return {"fam": "inplace", "op": op, "form": form, "args": args, "kwargs": kw}


def _api_templates():
    """(op, arg strategies, extra) for the API garbage family."""
    T = tensors(dtypes=FLOAT_DT, max_dims=2, max_side=3, grad=False, special=False)
    G = garbage
    anything = st.one_of(G, G, T, st.just(("S", None)))
    fT = tensors(dtypes=FLOAT_DT, shape=(2, 3), grad=False, special=False, layout="c")
    return [
        ("backward", [anything, anything, st.one_of(G, st.just(("S", None)), st.just(("S", True))), anything],
         {"names": ["backward", "grad", "tensor", "retain"]}),
        ("grad", [anything, anything, anything], {"names": ["grad", "tensor"]}),
        ("tape.gradient", [anything, anything, anything], {"names": ["gradient", "tensor", "source", "target", "tape"]}),
        ("tape.watch", [anything], {"names": ["watch", "tensor"]}),
        ("tape.jacobian", [anything, anything], {"names": ["jacobian", "tensor", "source", "target"]}),
        ("register_hook", [anything], {"names": ["hook", "gradient", "tensor", "shape"]}),
        ("set .grad", [anything], {"names": ["grad"]}),
        ("optim.SGD", [st.one_of(G, st.just(("L", []))), st.one_of(G, st.just(("S", -1.0)), st.just(("S", 0.1)))],
         {"names": ["sgd", "param", "lr", "learning rate", "tensor", "iterable", "optimizer"]}),
        ("optim.Adam", [st.one_of(G, st.just(("L", []))), st.one_of(G, st.just(("S", -1.0)))],
         {"names": ["adam", "param", "lr", "learning rate", "tensor", "iterable", "optimizer"]}),
        ("clip_grad_norm_", [anything, anything, anything], {"names": ["clip", "norm", "tensor", "param"]}),
        ("cross_entropy", [st.one_of(tensors(dtypes=ALL_DT, max_dims=3, max_side=3, grad=True), G),
                           st.one_of(tensors(dtypes=st.sampled_from(["int64", "int64", "float32", "bool"]),
                                             max_dims=2, max_side=3, grad=False), G,
                                     st.builds(lambda v: ("T", np.array([v, 0]), "c", False),
                                               st.sampled_from([-1, 3, 100, 2 ** 40, -(2 ** 62)])))],
         {"names": ["cross_entropy", "target", "label", "logits", "class", "tensor", "shape"]}),
        ("cross_entropy(mutated labels)", [st.just(("S", 3)), st.sampled_from([("S", 3), ("S", -1), ("S", 10 ** 9),
                                                                                 ("S", -(2 ** 40))])],
         {"kind": "raise", "why": "labels changed after forward; backward must re-check them",
          "names": ["cross_entropy", "label", "class", "range", "modified", "version"]}),
        ("Embedding", [st.one_of(G, st.builds(lambda v: ("T", np.array(v, dtype=np.int64), "c", False),
                                              st.lists(st.integers(-7, 7), max_size=4)),
                                 tensors(dtypes=st.sampled_from(["float32", "bool"]), max_dims=2, grad=False))],
         {"names": ["embedding", "index", "indices", "out of bounds", "range"]}),
        ("layer_norm", [st.one_of(T, G), st.one_of(G, st.integers(-1, 4).map(lambda v: ("S", v)),
                                                   st.just(("S", (2, 3))), st.just(("S", ())))],
         {"names": ["layer_norm", "normalized_shape", "shape", "int"], "also": ["ZeroDivisionError"]}),
        ("Linear", [st.one_of(T, G, tensors(dtypes=st.just("int64"), max_dims=2, grad=False))],
         {"names": ["matmul", "linear", "shape", "tensor", "mat"]}),
        ("from_numpy(read-only)", [st.sampled_from([("S", "bytes"), ("S", "flag")])],
         {"names": ["from_numpy", "read-only", "readonly", "writable", "write", "handled"]}),
        ("from_numpy(odd strides)", [st.sampled_from([("S", 5), ("S", 6), ("S", 2)])],
         {"names": ["from_numpy", "stride"]}),
        ("in-place on saved tensor", [st.sampled_from([("S", "add_"), ("S", "setitem")])],
         {"kind": "raise", "why": "a tensor saved for backward was modified in place",
          "names": ["modified", "version", "in-place", "inplace"]}),
        ("in-place on saved tensor", [st.just(("S", "numpy"))], {"names": ["modified", "version"]}),
        ("backward twice", [], {"kind": "raise", "why": "second backward through a freed graph",
                                "names": ["retain_graph", "backward"]}),
        ("set_num_threads", [st.one_of(G, st.sampled_from([("S", 0), ("S", -1), ("S", 1), ("S", 2), ("S", 2 ** 31),
                                                           ("S", 10 ** 6)]))],
         {"names": ["set_num_threads", "thread"]}),
        ("from_dlpack", [st.one_of(G, st.builds(lambda a: ("A", a), hnp.arrays(
            st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.int8, np.float16, np.uint64]),
            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))))],
         {"names": ["from_dlpack", "dlpack", "dtype"], "also": ["BufferError"]}),
        ("conversions", [tensors(max_dims=2, max_side=3, grad=False),
                         st.sampled_from(["item", "len", "bool", "float", "int", "index", "iter", "repr", "tolist",
                                          "numpy"]).map(lambda v: ("S", v))],
         {"names": ["item", "len", "ambiguous", "tensor", "index", "iteration", "0-d", "integer", "scalar", "convert",
                    "float", "int", "bool"]}),
        ("to", [tensors(grad=True, max_dims=2, max_side=3), st.one_of(G, st.sampled_from(
            [("S", "float16"), ("S", "float64"), ("S", "int64"), ("S", "bool"), ("S", "complex64"), ("S", 3)]))],
         {"names": ["to", "dtype"]}),
        ("Function.apply", [st.sampled_from([("S", k) for k in ("none", "str", "shape", "tuple", "int", "ok")])],
         {"names": ["backward", "function", "gradient", "grad", "shape", "tensor", "dtype", "returned", "expected"]}),
    ] + [
        (name, [anything] * nargs, {"names": [name]}) for name, nargs in [
            ("exp", 1), ("sum", 2), ("add", 2), ("where", 3), ("matmul", 2), ("reshape", 2), ("concat", 2),
            ("stack", 1), ("split", 2), ("softmax", 2), ("argmax", 2), ("clamp", 3), ("leaky_relu", 2),
            ("broadcast_to", 2), ("permute", 2), ("transpose", 3), ("flatten", 3), ("squeeze", 2), ("unsqueeze", 2),
            ("norm", 2), ("var", 2), ("maximum", 2), ("pow", 2), ("tensor", 2), ("from_numpy", 1), ("zeros", 1),
            ("full", 2), ("arange", 3), ("linspace", 3), ("eye", 2), ("manual_seed", 1), ("allclose", 2),
            ("clone", 1), ("detach", 1), ("isnan", 1), ("logsumexp", 2), ("std", 2), ("cat", 2),
            ("zeros_like", 1), ("stop_gradient", 1), ("constant", 1), ("Variable", 2),
            ("nn.functional.mse_loss", 2), ("nn.functional.binary_cross_entropy_with_logits", 2),
            ("nn.functional.dropout", 2), ("nn.functional.softmax", 2), ("clip_by_global_norm", 2),
            ("clip_by_norm", 2), ("clip_by_value", 3), ("debug.check_numerics", 2), ("gradcheck", 2),
        ]
    ] + [
        (m, [fT] + [anything] * nargs, {"names": INDEX_NAMES if "item__" in m else [m.strip("_")], "form": "meth"})
        for m, nargs in [
            ("reshape", 1), ("view", 1), ("expand", 1), ("sum", 1), ("add_", 1), ("copy_", 1), ("fill_", 1),
            ("clamp_", 2), ("to", 1), ("split", 2), ("permute", 1), ("transpose", 2), ("backward", 1),
            ("requires_grad_", 1), ("register_hook", 1), ("__getitem__", 1), ("__setitem__", 2), ("matmul", 1),
            ("__dlpack__", 1), ("item", 0), ("numel", 1), ("stride", 1), ("__array__", 1), ("argmax", 1),
        ]
    ]


def fixed_api_cases():
    """Scenarios that run on every fuzz run, whatever Hypothesis draws."""
    out = []
    for op, arg_lists, extra in [
        ("cross_entropy(mutated labels)", [[("S", 3), ("S", v)] for v in (3, -1, 10 ** 9, -(2 ** 40))],
         {"kind": "raise", "why": "labels changed after forward; the fused backward must re-check them",
          "names": ["cross_entropy", "label", "class", "range", "modified", "version"]}),
        ("from_numpy(read-only)", [[("S", "bytes")], [("S", "flag")]],
         {"names": ["from_numpy", "read-only", "readonly", "writable", "write", "handled"]}),
        ("from_numpy(odd strides)", [[("S", 5)], [("S", 6)], [("S", 2)]], {"names": ["from_numpy", "stride"]}),
        ("in-place on saved tensor", [[("S", "add_")], [("S", "setitem")]],
         {"kind": "raise", "why": "a tensor saved for backward was modified in place",
          "names": ["modified", "version", "in-place", "inplace"]}),
        ("backward twice", [[]], {"kind": "raise", "why": "second backward through a freed graph",
                                  "names": ["retain_graph", "backward"]}),
        ("set_num_threads", [[("S", n)] for n in (0, -1, 1, 3, 2 ** 31, 10 ** 5)],
         {"names": ["set_num_threads", "thread"]}),
        ("pickle", [[("S", w)] for w in ("float32", "int64", "bool", "Variable", "Tensor")],
         {"names": ["pickle", "tensor"]}),
        ("Function.apply", [[("S", k)] for k in ("none", "str", "shape", "tuple", "int", "ok")],
         {"names": ["backward", "function", "gradient", "grad", "shape", "tensor", "dtype", "returned", "expected"]}),
    ]:
        for args in arg_lists:
            out.append({"fam": "api", "op": op, "form": "fn", "args": args, "extra": extra})
    return out


@st.composite
def api_cases(draw):
    templates = _api_templates()
    op, arg_strats, extra = templates[draw(st.integers(0, len(templates) - 1))]
    args = [draw(s) for s in arg_strats]
    form = extra.get("form", "fn")
    return {"fam": "api", "op": op, "form": form, "args": args, "extra": extra}


# ----------------------------------------------------------------------- tests ----

@pytest.mark.parametrize("family", ["unary", "binary", "reduction", "shape", "indexing", "matmul", "creation",
                                    "inplace", "api"])
def test_fuzz(family, capsys):
    def report(msg):
        with capsys.disabled():  # the case counts are shown even without -s
            print(msg, end="")
    strat = {"unary": unary_cases(), "binary": binary_cases(), "reduction": reduction_cases(),
             "shape": shape_cases(), "indexing": st.one_of(getitem_cases(), getitem_cases(), setitem_cases()),
             "matmul": matmul_cases(), "creation": creation_cases(), "inplace": inplace_cases(),
             "api": api_cases()}[family]
    fuzz_family(family, strat, fixed=fixed_api_cases() if family == "api" else fixed_cases(family), report=report)


def test_fuzz_harness_reports_a_crash():
    """The isolation works: a case that kills its interpreter is reported (with the
    signal) and the cases after it still run."""
    cases = [{"fam": "api", "op": "exp", "form": "fn", "args": [("S", [1.0])], "extra": {"names": ["exp"]}},
             {"fam": "api", "op": "_crash", "form": "fn", "args": [], "extra": {}},
             {"fam": "api", "op": "exp", "form": "fn", "args": [("S", [2.0])], "extra": {"names": ["exp"]}}]
    results, crashes = run_in_children("selftest", cases, timeout=120)
    assert [i for i, _ in crashes] == [1], crashes
    # under AddressSanitizer (tools/asan_pytest.sh) the child reports the fault and exits 1
    assert any(sign in crashes[0][1] for sign in ("SIGSEGV", "SIGABRT", "AddressSanitizer: SEGV")), crashes
    assert results[0]["status"] == "ok" and results[2]["status"] == "ok", results


def _crash():
    import ctypes
    ctypes.string_at(0)  # a NULL read: SIGSEGV


SCENARIOS["_crash"] = _crash


def test_fuzz_reference_catches_a_wrong_answer():
    """The comparison is not vacuous: a result that differs from NumPy fails."""
    with pytest.raises(CaseFailure, match="values differ"):
        check_tensor(tg.tensor([1.0, 2.0]), np.array([1.0, 2.5]), "float32", 1e-6, 1e-6)
    with pytest.raises(CaseFailure, match="dtype"):
        check_tensor(tg.tensor([1, 2]), np.array([1, 2]), "float32", 0, 0)
    with pytest.raises(CaseFailure, match="accepted invalid input"):
        evaluate(lambda: tg.ones(2), Expect("raise", why="x"))
    with pytest.raises(CaseFailure, match="does not name the op"):
        evaluate(lambda: (_ for _ in ()).throw(ValueError("bad")), Expect("raise", names=("sum",)))


def test_fuzz_case_count(capsys):
    """Runs last in this module: prints how many cases the fuzz families ran."""
    total = sum(CASES_RUN.values())
    with capsys.disabled():
        print(f"\n[fuzz] total cases run: {total} {CASES_RUN}")
    if len(CASES_RUN) == 9:  # the whole module ran
        assert total >= 9 * 20
