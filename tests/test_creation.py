"""Tensor creation, NumPy / DLPack interop and attributes (SPEC §2)."""
import math

import numpy as np
import pytest

import tapegrad as tg
from conftest import TG_TO_NP, assert_close, np_dtype


# ---------------------------------------------------------------- tg.tensor ----

def test_dtypes_exist_and_are_distinct():
    dts = [tg.float32, tg.float64, tg.int64, tg.bool]
    assert len({id(d) for d in dts}) == 4
    assert [d.name for d in dts] == ["float32", "float64", "int64", "bool"]
    assert [d.itemsize for d in dts] == [4, 8, 8, 1]
    assert tg.float32.is_floating_point and tg.float64.is_floating_point
    assert not tg.int64.is_floating_point and not tg.bool.is_floating_point


@pytest.mark.parametrize("value, dtype, expected", [
    (2.5, tg.float32, np.float32(2.5)),
    (3, tg.int64, np.int64(3)),
    (True, tg.bool, np.bool_(True)),
    (False, tg.bool, np.bool_(False)),
    (-0.0, tg.float32, np.float32(-0.0)),
])
def test_tensor_from_python_scalar(value, dtype, expected):
    t = tg.tensor(value)
    assert t.dtype is dtype
    assert t.shape == ()
    assert t.ndim == 0
    assert t.size == 1 and t.numel() == 1
    assert t.item() == expected
    assert type(t.item()) is type(value)


def test_negative_zero_keeps_sign():
    assert math.copysign(1.0, tg.tensor(-0.0).item()) == -1.0


@pytest.mark.parametrize("data, dtype, npdtype", [
    ([1.0, 2.5, -3.0], tg.float32, np.float32),
    ([[1.0, 2.0], [3.0, 4.0]], tg.float32, np.float32),
    ([[1, 2, 3], [4, 5, 6]], tg.int64, np.int64),
    ([True, False, True], tg.bool, np.bool_),
    ([1, 2.5], tg.float32, np.float32),  # mixed int/float list -> float32 (PyTorch)
    ([[[1.0]], [[2.0]]], tg.float32, np.float32),
])
def test_tensor_from_nested_lists(data, dtype, npdtype):
    t = tg.tensor(data)
    assert t.dtype is dtype
    assert_close(t, np.array(data, dtype=npdtype), rtol=0, atol=0)
    assert t.tolist() == np.array(data, dtype=npdtype).tolist()


def test_tensor_empty_list():
    t = tg.tensor([])
    assert t.shape == (0,)
    assert t.dtype is tg.float32  # PyTorch: torch.tensor([]) is float32
    assert t.size == 0


@pytest.mark.parametrize("npdtype, dtype", [
    (np.float32, tg.float32),
    (np.float64, tg.float64),  # float64 arrays stay float64
    (np.int64, tg.int64),
    (np.bool_, tg.bool),
])
def test_tensor_from_numpy_array_keeps_dtype_and_copies(npdtype, dtype):
    a = (np.arange(12).reshape(3, 4) % 5).astype(npdtype)
    t = tg.tensor(a)
    assert t.dtype is dtype
    assert_close(t, a, rtol=0, atol=0)
    before = a.copy()
    a[...] = 0  # tg.tensor copies: changing the source does not change the tensor
    assert_close(t, before, rtol=0, atol=0)
    # and writing into the tensor does not touch the array
    t.numpy()[...] = 1
    assert not np.any(a)


def test_tensor_from_numpy_int32_becomes_int64():
    t = tg.tensor(np.array([1, 2, 3], dtype=np.int32))
    assert t.dtype is tg.int64
    assert t.tolist() == [1, 2, 3]


def test_tensor_from_numpy_float64_scalar_stays_float64():
    # PyTorch: torch.tensor(np.float64(2.5)).dtype == torch.float64 (a NumPy float64 is
    # not a Python float even though it subclasses one). Same for 0-d arrays.
    assert tg.tensor(np.array(2.5)).dtype is tg.float64
    assert tg.tensor(np.float64(2.5)).dtype is tg.float64
    assert tg.tensor(np.float32(2.5)).dtype is tg.float32


@pytest.mark.parametrize("value", [np.array(2.5), np.array(2.5, dtype=np.float32), np.array(3),
                                   np.array(True), np.float32(2.5), np.float64(2.5), np.int64(3)],
                         ids=lambda v: f"{type(v).__name__}-{np.asarray(v).dtype}")
def test_tensor_from_0d_numpy_is_0d(value):
    # NumPy and PyTorch: a 0-d array / NumPy scalar gives a 0-d tensor, not shape (1,)
    t = tg.tensor(value)
    assert t.shape == ()
    assert t.ndim == 0
    assert t.item() == value.item()


def test_tensor_from_tuple():
    assert tg.tensor((1.0, 2.0)).tolist() == [1.0, 2.0]
    assert tg.tensor((1.0, 2.0, 3.0)).shape == (3,)
    assert tg.tensor(((1, 2), (3, 4))).tolist() == [[1, 2], [3, 4]]
    assert tg.tensor((5.0,)).shape == (1,)


def test_tensor_from_noncontiguous_numpy_array():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)[::2, ::-3]
    t = tg.tensor(a)
    assert_close(t, a, rtol=0, atol=0)
    b = np.arange(24, dtype=np.float32).reshape(2, 3, 4).transpose(2, 0, 1)
    assert_close(tg.tensor(b), b, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64, tg.int64, tg.bool])
def test_tensor_explicit_dtype(dtype):
    t = tg.tensor([0, 1, 2], dtype=dtype)
    assert t.dtype is dtype
    assert_close(t, np.array([0, 1, 2]).astype(np_dtype(dtype)), rtol=0, atol=0)


@pytest.mark.parametrize("spec, dtype", [
    (np.float64, tg.float64), (np.float32, tg.float32), ("float32", tg.float32),
    (np.dtype("int64"), tg.int64), (bool, tg.bool),
])
def test_tensor_dtype_aliases(spec, dtype):
    assert tg.tensor([1.0, 0.0], dtype=spec).dtype is dtype


def test_tensor_from_tensor_copies():
    a = tg.tensor([1.0, 2.0])
    b = tg.tensor(a)
    b.numpy()[0] = 10.0
    assert a.tolist() == [1.0, 2.0]
    c = tg.tensor(a, dtype=tg.float64)
    assert c.dtype is tg.float64 and c.tolist() == [1.0, 2.0]


def test_tensor_requires_grad_flag():
    t = tg.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad is True
    assert tg.tensor([1.0]).requires_grad is False
    assert t.is_leaf


def test_tensor_large_int_values_exact():
    v = 2 ** 53 + 1
    t = tg.tensor([v, -v])
    assert t.dtype is tg.int64
    assert t.tolist() == [v, -v]
    assert tg.tensor(v).item() == v


# ---------------------------------------------------------- memory sharing ----

@pytest.mark.parametrize("npdtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_shares_memory(npdtype):
    a = np.zeros((2, 3), dtype=npdtype)
    t = tg.from_numpy(a)
    assert t.dtype is {np.float32: tg.float32, np.float64: tg.float64, np.int64: tg.int64,
                       np.bool_: tg.bool}[npdtype]
    assert t.shape == (2, 3)
    a[1, 2] = 1
    assert t.tolist()[1][2] == 1  # numpy write seen by the tensor
    t[0, 0] = 1
    assert a[0, 0] == 1  # tensor write seen by numpy
    t.fill_(1)
    assert np.all(a == 1)


def test_from_numpy_noncontiguous_view_shares_memory():
    base = np.arange(20, dtype=np.float64).reshape(4, 5)
    v = base[::2, 1::2]
    t = tg.from_numpy(v)
    assert_close(t, v, rtol=0, atol=0)
    t.mul_(-1.0)
    np.testing.assert_array_equal(base[::2, 1::2], -np.arange(20.0).reshape(4, 5)[::2, 1::2])
    assert base[1, 1] == 6.0  # untouched elements stay


def test_from_numpy_keeps_array_alive():
    a = np.arange(5, dtype=np.float32)
    t = tg.from_numpy(a)
    del a
    import gc
    gc.collect()
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_from_numpy_rejects_unsupported_dtype():
    with pytest.raises(TypeError, match="from_numpy"):
        tg.from_numpy(np.zeros(3, dtype=np.complex64))


def test_numpy_shares_memory():
    t = tg.zeros(3, 4)
    a = t.numpy()
    assert isinstance(a, np.ndarray)
    assert a.dtype == np.float32 and a.shape == (3, 4)
    a[2, 3] = 7.0
    assert t[2, 3].item() == 7.0
    t.add_(1.0)
    assert a[0, 0] == 1.0 and a[2, 3] == 8.0


def test_numpy_of_noncontiguous_view_shares_memory():
    t = tg.tensor(np.arange(12.0).reshape(3, 4), dtype=tg.float64)
    v = t.T[1:, ::2]
    a = v.numpy()
    np.testing.assert_array_equal(a, np.arange(12.0).reshape(3, 4).T[1:, ::2])
    a[0, 0] = -1.0
    assert t[0, 1].item() == -1.0


def test_np_asarray_and_array_protocol():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 2)
    a[0, 0] = 9.0
    assert t[0, 0].item() == 9.0  # np.asarray shares memory (like .numpy())
    b = t.__array__()
    np.testing.assert_array_equal(b, [[9.0, 2.0], [3.0, 4.0]])
    c = t.__array__(np.float64)
    assert c.dtype == np.float64
    d = np.array(t)  # np.array copies
    d[0, 0] = 0.0
    assert t[0, 0].item() == 9.0
    assert np.asarray(tg.tensor([1, 2])).dtype == np.int64
    assert np.asarray(tg.tensor([True])).dtype == np.bool_


def test_numpy_ufunc_on_tensor():
    # NumPy functions accept tensors through __array__ (np.sum(t) dispatches to t.sum with
    # NumPy's keyword arguments, which PyTorch does not support either: not tested).
    t = tg.tensor([0.0, 1.0, 2.0])
    r = np.exp(np.asarray(t))
    np.testing.assert_allclose(r, np.exp(np.array([0.0, 1.0, 2.0], dtype=np.float32)), rtol=1e-6)
    assert np.concatenate([t, t]).tolist() == [0.0, 1.0, 2.0] * 2


# ------------------------------------------------------------------ DLPack ----

def test_dlpack_device():
    t = tg.zeros(2)
    dev = t.__dlpack_device__()
    assert tuple(dev) == (1, 0)  # kDLCPU, device 0


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64, tg.int64, tg.bool])
def test_np_from_dlpack_shares_memory(dtype):
    t = tg.zeros(2, 3, dtype=dtype)
    a = np.from_dlpack(t)
    assert a.dtype == TG_TO_NP[dtype]
    assert a.shape == (2, 3)
    assert a.ctypes.data == t.data_ptr()
    t[1, 1] = 1
    assert a[1, 1] == 1  # a write through the tensor is seen by the array


@pytest.mark.parametrize("dtype", [tg.float32, tg.int64])
def test_np_from_dlpack_array_is_writable(dtype):
    # Like np.from_dlpack(torch_tensor): the array is writable and writes reach the tensor.
    # (NumPy >= 2 marks arrays imported through a legacy, unversioned DLPack capsule as
    # read-only; a writable import needs __dlpack__(max_version=...) / DLPack 1.x.)
    t = tg.zeros(2, 3, dtype=dtype)
    a = np.from_dlpack(t)
    assert a.flags.writeable
    a[0, 2] = 1
    assert t[0, 2].item() == 1


def test_np_from_dlpack_noncontiguous_tensor():
    t = tg.tensor(np.arange(24.0).reshape(2, 3, 4), dtype=tg.float64)
    v = t.permute(2, 0, 1)[::2]
    a = np.from_dlpack(v)
    ref = np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1)[::2]
    np.testing.assert_array_equal(a, ref)
    t[1, 2, 2] = -5.0  # base[1,2,2] is the view's element [1,1,2]
    assert a[1, 1, 2] == -5.0


def test_dlpack_dunder_accepts_array_api_keywords():
    # The array-API / DLPack 2023 signature: __dlpack__(*, stream=None, max_version=None,
    # dl_device=None, copy=None). Consumers (NumPy >= 2, PyTorch) pass these keywords.
    t = tg.zeros(3)
    cap = t.__dlpack__(stream=None, max_version=(1, 0), dl_device=None, copy=None)
    assert type(cap).__name__ == "PyCapsule"


def test_np_from_dlpack_outlives_tensor():
    t = tg.arange(6, dtype=tg.float64)
    a = np.from_dlpack(t)
    del t
    import gc
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(6.0))


@pytest.mark.parametrize("npdtype, dtype", [(np.float32, tg.float32), (np.float64, tg.float64),
                                            (np.int64, tg.int64), (np.bool_, tg.bool)])
def test_tg_from_dlpack_shares_memory(npdtype, dtype):
    a = np.zeros((3, 2), dtype=npdtype)
    t = tg.from_dlpack(a)
    assert t.dtype is dtype and t.shape == (3, 2)
    a[2, 1] = 1
    assert t[2, 1].item() == 1
    t[0, 0] = 1
    assert a[0, 0] == 1


def _legacy_dlpack_capsule(array, shape, strides):
    """A "dltensor" capsule over `array`'s memory with the shape and strides (in elements)
    given, as any producer could hand over; returns (capsule, what keeps it alive)."""
    import ctypes

    class DLTensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32),
                    ("ndim", ctypes.c_int32), ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                    ("lanes", ctypes.c_uint16), ("shape", ctypes.POINTER(ctypes.c_int64)),
                    ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]

    class DLManagedTensor(ctypes.Structure):
        _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]

    c_shape = (ctypes.c_int64 * len(shape))(*shape)
    c_strides = (ctypes.c_int64 * len(strides))(*strides) if strides is not None else None
    dl = DLTensor(array.ctypes.data, 1, 0, len(shape), 2, 32, 1, c_shape, c_strides, 0)  # kDLCPU, float32
    managed = DLManagedTensor(dl, None, None)
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new_capsule(ctypes.addressof(managed), b"dltensor", None), (array, c_shape, c_strides, managed)


def test_tg_from_dlpack_of_a_hand_made_capsule_shares_memory():
    # the capsule helper lays the struct out right: the hostile cases below are refused for their numbers
    a = np.arange(12, dtype=np.float32)
    cap, keep = _legacy_dlpack_capsule(a, (3, 2), (4, 1))
    t = tg.from_dlpack(cap)
    np.testing.assert_array_equal(t.numpy(), [[0, 1], [4, 5], [8, 9]])
    a[5] = -1.0
    assert t[1, 1].item() == -1.0
    del t, keep


@pytest.mark.parametrize("shape, strides, message", [
    ((-1,), None, "negative dimension"),
    ((2**40, 2**40), None, "too large"),
    ((3,), (2**62,), "reaches beyond any addressable memory"),
    ((2, 2), (2**62, -(2**62)), "reaches beyond any addressable memory"),
])
def test_tg_from_dlpack_refuses_shapes_and_strides_beyond_memory(shape, strides, message):
    a = np.zeros(4, dtype=np.float32)
    cap, keep = _legacy_dlpack_capsule(a, shape, strides)
    with pytest.raises(ValueError, match="from_dlpack: .*" + message):
        tg.from_dlpack(cap)
    del keep


def test_tg_from_dlpack_noncontiguous_view():
    base = np.arange(30, dtype=np.float32).reshape(5, 6)
    v = base[1::2, ::-2]  # non-contiguous, negative stride
    t = tg.from_dlpack(v)
    assert_close(t, v, rtol=0, atol=0)
    t[0, 0] = 100.0
    assert base[1, 5] == 100.0
    v2 = base.T[::3]
    t2 = tg.from_dlpack(v2)
    assert_close(t2, v2, rtol=0, atol=0)
    t2.zero_()
    assert np.all(base[:, 0] == 0) and np.all(base[:, 3] == 0) and base[0, 1] == 1.0


def test_dlpack_roundtrip_tg_np_tg():
    t = tg.randn(4, 5, dtype=tg.float64)
    t2 = tg.from_dlpack(np.from_dlpack(t))
    assert_close(t2, t.numpy(), rtol=0, atol=0)
    t2[0, 0] = 123.0
    assert t[0, 0].item() == 123.0


def test_dlpack_roundtrip_tensor_to_tensor():
    t = tg.arange(6, dtype=tg.float32).reshape(2, 3)
    u = tg.from_dlpack(t)
    assert_close(u, np.arange(6, dtype=np.float32).reshape(2, 3), rtol=0, atol=0)
    u[1, 2] = -1.0
    assert t[1, 2].item() == -1.0


def test_from_dlpack_of_empty_and_0d():
    e = np.zeros((0, 3), dtype=np.float64)
    t = tg.from_dlpack(e)
    assert t.shape == (0, 3) and t.dtype is tg.float64
    s = np.array(5.0)
    t0 = tg.from_dlpack(s)
    assert t0.shape == () and t0.item() == 5.0
    a = np.from_dlpack(tg.tensor(3.0))
    assert a.shape == () and a == 3.0


# ----------------------------------------------------------------- factories ----

@pytest.mark.parametrize("factory, value", [(tg.zeros, 0.0), (tg.ones, 1.0)])
def test_zeros_ones(factory, value):
    for shape_args, shape in [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([4],), (4,)), ((5,), (5,)),
                              ((), ()), ((0, 2), (0, 2))]:
        t = factory(*shape_args)
        assert t.dtype is tg.float32
        assert_close(t, np.full(shape, value, dtype=np.float32), rtol=0, atol=0)
    for dt in (tg.float64, tg.int64, tg.bool):
        t = factory(3, dtype=dt)
        assert t.dtype is dt
        assert_close(t, np.full(3, value).astype(TG_TO_NP[dt]), rtol=0, atol=0)
    assert factory(2, requires_grad=True).requires_grad


def test_full():
    t = tg.full((2, 2), 3.5)
    assert_close(t, np.full((2, 2), 3.5, dtype=np.float32), rtol=0, atol=0)
    ti = tg.full((3,), 7)
    assert ti.dtype is tg.int64  # PyTorch: full with an int fill value gives int64
    assert ti.tolist() == [7, 7, 7]
    tb = tg.full((2,), True)
    assert tb.dtype is tg.bool and tb.tolist() == [True, True]
    td = tg.full((2,), 0.1, dtype=tg.float64)
    assert td.dtype is tg.float64 and td.tolist() == [0.1, 0.1]
    assert tg.full((), 2.0).shape == ()


def test_full_large_int_exact():
    v = 2 ** 53 + 1
    assert tg.full((2,), v).tolist() == [v, v]
    t = tg.zeros(2, dtype=tg.int64)
    assert t.fill_(v).tolist() == [v, v]  # an int fill value is not rounded through a double


def test_full_int_beyond_int64_into_a_float_tensor():
    # PyTorch: torch.full((2,), 2 ** 70, dtype=torch.float64) works
    big = 2 ** 70
    assert tg.full((2,), big, dtype=tg.float64).tolist() == [float(big)] * 2
    assert tg.full(0, big, dtype=tg.float32).shape == (0,)
    assert tg.zeros(2).fill_(big).tolist() == [float(np.float32(big))] * 2


@pytest.mark.parametrize("value", [1e30, -1e30, float("inf"), float("nan"), 2.0 ** 63, 2 ** 63, 2 ** 70],
                         ids=["1e30", "-1e30", "inf", "nan", "2.0**63", "2**63", "2**70"])
def test_int64_fill_value_out_of_range_refused(value):
    # converting these to int64 is undefined behaviour (it gave INT64_MIN); PyTorch raises
    with pytest.raises(ValueError, match="full: cannot convert .* to int64 without overflow"):
        tg.full((2,), value, dtype=tg.int64)
    t = tg.zeros(2, dtype=tg.int64)
    with pytest.raises(ValueError, match="fill_: cannot convert .* to int64"):
        t.fill_(value)
    with pytest.raises(ValueError, match="setitem.*cannot convert .* to int64"):
        t[0] = value
    assert t.tolist() == [0, 0]
    assert tg.full((1,), -(2.0 ** 63), dtype=tg.int64).tolist() == [-(2 ** 63)]


@pytest.mark.parametrize("shape", [(2 ** 62, 0, 0, 0), (0, 2 ** 62), (3, 0, 2 ** 40)], ids=["first", "last", "middle"])
def test_zero_size_shape_with_a_huge_side(shape):
    # no elements, whatever the order of the sizes (PyTorch accepts these)
    for dtype in (tg.bool, tg.float32):
        t = tg.ones(*shape, dtype=dtype)
        assert t.shape == shape and t.size == 0 and t.sum().item() == 0


def test_zero_size_shape_whose_strides_overflow_refused():
    # PyTorch: "Storage size calculation overflowed"
    with pytest.raises(ValueError, match="too large"):
        tg.zeros(2 ** 62, 2 ** 62, 0, dtype=tg.bool)


HUGE = 2 ** 62


@pytest.mark.parametrize("make, shape", [
    (lambda: tg.zeros((0, HUGE), dtype=tg.bool), (0, HUGE)),
    (lambda: tg.zeros((0, 2 ** 60)), (0, 2 ** 60)),  # 2**60 float32 items: 2**62 bytes, NumPy's limit is 2**63
    (lambda: tg.zeros((0, 2 ** 61), dtype=tg.float64)[:, :1], (0, 1)),  # its stride, 2**64 bytes, is unused
    (lambda: tg.zeros((0, 1), dtype=tg.bool).expand(0, HUGE), (0, HUGE)),
], ids=["bool", "float32", "slice", "expand"])
def test_zero_size_tensor_with_a_huge_side_is_exported(make, shape):
    # NumPy holds an array without elements when its non-zero sizes times the item size fit
    t = make()
    for a in (np.asarray(t), t.numpy(), np.asarray(memoryview(t)), np.from_dlpack(t)):
        assert a.shape == shape and a.size == 0
    assert t.tolist() == []
    assert repr(t).startswith("tensor([], size=")


@pytest.mark.parametrize("make, desc", [
    (lambda: tg.zeros((0, HUGE)), rf"float32\[0, {HUGE}\]"),
    (lambda: tg.ones(1, 0, dtype=tg.float64).expand(HUGE, 0), rf"float64\[{HUGE}, 0\]"),
], ids=["zeros", "expand"])
def test_zero_size_tensor_numpy_cannot_hold_raises_naming_the_op(make, desc):
    t = make()
    refused = rf"cannot export {desc} through the buffer protocol: its non-zero sizes times its \d-byte items exceed"
    with pytest.raises(ValueError, match="^__array__: " + refused):
        np.asarray(t)
    with pytest.raises(ValueError, match="^numpy: " + refused):
        t.numpy()
    with pytest.raises(ValueError, match="^" + refused):
        memoryview(t)
    assert repr(t) == f"tensor([], size={t.shape}" + (", dtype=tapegrad.float64)" if t.dtype is tg.float64 else ")")
    cap = t.__dlpack__()  # DLPack carries sizes and strides in elements: nothing to overflow on this side
    assert tg.from_dlpack(cap).shape == t.shape


def test_empty_shape_dtype():
    t = tg.empty(3, 4)
    assert t.shape == (3, 4) and t.dtype is tg.float32
    t2 = tg.empty((2,), dtype=tg.int64)
    assert t2.shape == (2,) and t2.dtype is tg.int64
    t.fill_(2.0)
    assert np.all(t.numpy() == 2.0)


@pytest.mark.parametrize("args, kwargs, ref", [
    ((5,), {}, np.arange(5)),
    ((2, 7), {}, np.arange(2, 7)),
    ((1, 10, 3), {}, np.arange(1, 10, 3)),
    ((10, 0, -2), {}, np.arange(10, 0, -2)),
    ((0.0, 1.0, 0.25), {}, np.arange(0.0, 1.0, 0.25, dtype=np.float32)),
    ((3.0,), {}, np.arange(3.0, dtype=np.float32)),
    ((5,), {"dtype": tg.float64}, np.arange(5, dtype=np.float64)),
    ((0,), {}, np.arange(0)),
    ((5, 2), {}, np.arange(5, 2)),
])
def test_arange(args, kwargs, ref):
    t = tg.arange(*args, **kwargs)
    # ints -> int64, any float -> float32 (PyTorch)
    assert_close(t, ref, rtol=1e-6, atol=1e-6)


def test_arange_float_step_count():
    # PyTorch/NumPy: ceil((stop - start) / step) elements
    assert tg.arange(0.0, 1.0, 0.1).shape == (10,)
    assert tg.arange(1, 2.5, 0.5).shape == (3,)


@pytest.mark.parametrize("start, stop, num", [(0.0, 1.0, 5), (-3, 7, 11), (2.0, 2.0, 3), (0, 1, 1), (0, 1, 0),
                                              (1.0, -1.0, 50)])
def test_linspace(fdtype, start, stop, num):
    t = tg.linspace(start, stop, num, dtype=fdtype)
    ref = np.linspace(start, stop, num).astype(np_dtype(fdtype))
    assert_close(t, ref, rtol=1e-6, atol=1e-6)
    if num >= 2:
        assert t[0].item() == start and t[-1].item() == pytest.approx(stop, abs=0)


def test_linspace_default_dtype():
    assert tg.linspace(0, 1, 3).dtype is tg.float32


@pytest.mark.parametrize("args, ref", [((3,), np.eye(3)), ((2, 4), np.eye(2, 4)), ((4, 2), np.eye(4, 2)),
                                       ((0,), np.eye(0))])
def test_eye(args, ref):
    assert_close(tg.eye(*args), ref.astype(np.float32), rtol=0, atol=0)
    assert_close(tg.eye(*args, dtype=tg.int64), ref.astype(np.int64), rtol=0, atol=0)


def test_rand_range_and_shape():
    tg.manual_seed(0)
    t = tg.rand(1000, 10)
    assert t.shape == (1000, 10) and t.dtype is tg.float32
    a = t.numpy()
    assert a.min() >= 0.0 and a.max() < 1.0
    assert abs(a.mean() - 0.5) < 0.02
    assert abs(a.var() - 1.0 / 12) < 0.005
    assert len(np.unique(a)) > 9000
    assert tg.rand(3, dtype=tg.float64).dtype is tg.float64


def test_randn_moments():
    tg.manual_seed(1)
    for dt in (tg.float32, tg.float64):
        a = tg.randn(200_000, dtype=dt).numpy()
        assert a.dtype == TG_TO_NP[dt]
        assert abs(a.mean()) < 0.01
        assert abs(a.std() - 1.0) < 0.01
        assert np.all(np.isfinite(a))
        # a normal has ~4.55% outside 2 sigma
        assert 0.040 < np.mean(np.abs(a) > 2) < 0.051


def test_manual_seed_reproducible():
    tg.manual_seed(42)
    a1, b1 = tg.randn(5, 5).numpy().copy(), tg.rand(7).numpy().copy()
    tg.manual_seed(42)
    a2, b2 = tg.randn(5, 5).numpy().copy(), tg.rand(7).numpy().copy()
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    tg.manual_seed(43)
    a3 = tg.randn(5, 5).numpy()
    assert not np.array_equal(a1, a3)
    # consecutive draws differ
    tg.manual_seed(42)
    x, y = tg.randn(100).numpy().copy(), tg.randn(100).numpy().copy()
    assert not np.array_equal(x, y)


def test_manual_seed_reproducible_large():
    # large draws may be generated in parallel; still reproducible
    tg.manual_seed(7)
    a = tg.randn(1_000_003).numpy().copy()
    tg.manual_seed(7)
    b = tg.randn(1_000_003).numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a[:100000])) > 99000  # no repeated streams


def test_like_factories(fdtype):
    base = tg.tensor(np.arange(6).reshape(2, 3), dtype=fdtype)
    z = tg.zeros_like(base)
    o = tg.ones_like(base)
    assert_close(z, np.zeros((2, 3), dtype=np_dtype(fdtype)), rtol=0, atol=0)
    assert_close(o, np.ones((2, 3), dtype=np_dtype(fdtype)), rtol=0, atol=0)
    tg.manual_seed(3)
    r = tg.randn_like(base)
    assert r.shape == (2, 3) and r.dtype is fdtype
    assert len(np.unique(r.numpy())) == 6
    assert tg.zeros_like(base, dtype=tg.int64).dtype is tg.int64
    # like-factories of an int tensor keep the int dtype
    assert tg.zeros_like(tg.tensor([1, 2])).dtype is tg.int64
    assert tg.ones_like(tg.tensor([True])).tolist() == [True]
    # new storage, not a view
    z.fill_(5.0)
    assert base[0, 0].item() == 0.0


# --------------------------------------------------------------- attributes ----

def test_attributes():
    t = tg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3
    assert t.dtype is tg.float32
    assert t.size == 24  # NumPy's meaning: number of elements
    assert t.numel() == 24
    assert len(t) == 2
    s = tg.tensor(3.0)
    assert s.shape == () and s.ndim == 0 and s.size == 1 and s.numel() == 1
    e = tg.zeros(0, 5)
    assert e.size == 0 and len(e) == 0 and e.shape == (0, 5)


def test_len_of_0d_raises():
    with pytest.raises(TypeError, match="0-d"):
        len(tg.tensor(1.0))


@pytest.mark.parametrize("data, expected", [
    (2.5, 2.5), ([[7.0]], 7.0), (4, 4), ([[[True]]], True),
])
def test_item(data, expected):
    v = tg.tensor(data).item()
    assert v == expected
    assert type(v) is type(expected)


def test_item_of_view_element():
    t = tg.tensor(np.arange(12.0).reshape(3, 4))
    assert t.T[3, 2].item() == 11.0
    assert t[1:, 2:][1, 1].item() == 11.0


def test_tolist():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    t = tg.tensor(a)
    assert t.tolist() == a.tolist()
    assert tg.tensor(3.0).tolist() == 3.0
    assert tg.tensor([[1, 2], [3, 4]]).T.tolist() == [[1, 3], [2, 4]]
    assert tg.tensor([True, False]).tolist() == [True, False]
    assert tg.zeros(0, 2).tolist() == []
    assert type(tg.tensor([1, 2]).tolist()[0]) is int


def test_float_int_bool_conversions():
    assert float(tg.tensor([2.5])) == 2.5
    assert int(tg.tensor(3.7)) == 3
    assert bool(tg.tensor(0.0)) is False
    assert bool(tg.tensor([1])) is True
    assert [10, 20, 30][tg.tensor(1)] == 20  # __index__ of an int tensor


def test_iteration():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert len(rows) == 2
    assert rows[1].tolist() == [3.0, 4.0]


def test_repr_scalar_requires_grad():
    # PyTorch: tensor(2., requires_grad=True)
    assert repr(tg.tensor(2.0, requires_grad=True)) == "tensor(2., requires_grad=True)"
    assert repr(tg.tensor(2.0)) == "tensor(2.)"


def test_repr_shows_values():
    r = repr(tg.tensor([1.5, -2.0, 3.25]))
    assert r.startswith("tensor([")
    for s in ("1.5", "-2.", "3.25"):
        assert s in r
    assert "requires_grad" not in r
    r2 = repr(tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True))
    assert "requires_grad=True" in r2 and "1." in r2 and "4." in r2
    ri = repr(tg.tensor([1, 2, 3]))
    assert ri == "tensor([1, 2, 3])"
    rd = repr(tg.tensor([1.0], dtype=tg.float64))
    assert "float64" in rd
    rb = repr(tg.tensor([True, False]))
    assert "True" in rb and "False" in rb
    assert "size=(0, 3)" in repr(tg.zeros(0, 3))
    assert str(tg.tensor(1.0)) == "tensor(1.)"


def test_repr_large_is_summarised():
    r = repr(tg.arange(100_000))
    assert "..." in r and len(r) < 500


@pytest.mark.parametrize("src", [tg.float32, tg.float64])
def test_float_to_int64_of_values_without_an_int64(src):
    # NaN, inf and values beyond int64 have no int64 (a C++ conversion would be undefined
    # behaviour); they become INT64_MIN, as with NumPy and PyTorch on x86. The rest truncate.
    v = [math.nan, math.inf, -math.inf, 1e19, -1e19, -(2.0 ** 63), 2.0 ** 63, 3.7, -2.5, 2.0 ** 62]
    got = tg.tensor(v, dtype=src).to(tg.int64).numpy().tolist()
    low = -(2 ** 63)
    assert got == [low, low, low, low, low, low, low, 3, -2, 2 ** 62]
