"""Shape ops, indexing, in-place ops and matmul (SPEC §2), forward values only.

Indexing follows NumPy's rules (advanced-index placement, negative slice steps, etc.);
basic-index results are views that share memory, as in NumPy and PyTorch.
"""
import numpy as np
import pytest

import tapegrad as tg
from conftest import T, assert_close, np_dtype


def shares_memory(t, u):
    """True when writing to `t` changes `u` (tested, not inferred from pointers)."""
    return np.shares_memory(t.numpy(), u.numpy())


def base_tensor(shape=(4, 5, 6), dtype=tg.float32):
    a = np.arange(int(np.prod(shape))).reshape(shape).astype(np_dtype(dtype))
    return T(a), a


# ------------------------------------------------------------------ reshape ----

@pytest.mark.parametrize("new_shape", [(20, 6), (120,), (2, 2, 30), (-1,), (4, -1), (-1, 5, 3, 2), (1, 120, 1)])
def test_reshape_contiguous_is_view(new_shape):
    t, a = base_tensor()
    r = t.reshape(*new_shape)
    assert_close(r, a.reshape(new_shape), rtol=0, atol=0)
    r2 = t.reshape(new_shape)  # tuple form
    assert r2.shape == a.reshape(new_shape).shape
    r3 = tg.reshape(t, new_shape)
    assert r3.shape == a.reshape(new_shape).shape
    # a view: writes through the reshaped tensor are seen by the original
    assert shares_memory(r, t)
    r.numpy().flat[7] = -1.0
    assert t.numpy().flat[7] == -1.0


def test_reshape_noncontiguous_copies_correct_values():
    t, a = base_tensor()
    v = t.permute(2, 0, 1)
    r = v.reshape(6, 20)
    assert_close(r, a.transpose(2, 0, 1).reshape(6, 20), rtol=0, atol=0)
    s = t[:, ::2].reshape(-1)
    assert_close(s, a[:, ::2].reshape(-1), rtol=0, atol=0)


def test_reshape_view_of_compatible_noncontiguous():
    # PyTorch: reshape returns a view whenever the strides allow (here, splitting a dim of a slice)
    t, a = base_tensor()
    v = t[1:3]  # non-contiguous in no way that matters
    r = v.reshape(2, 5, 2, 3)
    assert_close(r, a[1:3].reshape(2, 5, 2, 3), rtol=0, atol=0)
    assert shares_memory(r, t)


def test_reshape_0d_and_empty():
    s = tg.tensor(5.0)
    assert s.reshape(1, 1).shape == (1, 1)
    assert s.reshape(-1).shape == (1,)
    assert tg.tensor([7.0]).reshape(()).shape == ()
    e = tg.zeros(0, 4)
    assert e.reshape(2, 0, 8).shape == (2, 0, 8)
    assert e.reshape(-1).shape == (0,)
    assert e.reshape(4, 0).shape == (4, 0)


def test_view():
    t, a = base_tensor()
    v = t.view(30, 4)
    assert_close(v, a.reshape(30, 4), rtol=0, atol=0)
    assert shares_memory(v, t)
    assert t.view(-1).shape == (120,)
    assert t.view((2, 60)).shape == (2, 60)


def test_view_of_incompatible_strides_raises():
    t, _ = base_tensor()
    with pytest.raises((RuntimeError, ValueError), match="view"):
        t.permute(2, 1, 0).view(-1)


@pytest.mark.parametrize("start, end", [(0, -1), (1, -1), (0, 1), (1, 2), (2, 2), (-2, -1)])
def test_flatten(start, end):
    t, a = base_tensor((2, 3, 4))
    r = tg.flatten(t, start, end)
    s, e = start % 3, end % 3
    ref = a.reshape(a.shape[:s] + (-1,) + a.shape[e + 1:])
    assert_close(r, ref, rtol=0, atol=0)
    assert_close(t.flatten(start_dim=start, end_dim=end), ref, rtol=0, atol=0)
    # non-contiguous input
    at = a.transpose(2, 1, 0)
    assert_close(tg.flatten(t.permute(2, 1, 0), start, end), at.reshape(at.shape[:s] + (-1,) + at.shape[e + 1:]),
                 rtol=0, atol=0)


def test_flatten_default_and_0d():
    t, a = base_tensor((2, 3, 4))
    assert_close(t.flatten(), a.ravel(), rtol=0, atol=0)
    assert tg.tensor(3.0).flatten().shape == (1,)  # PyTorch: a 0-d tensor flattens to (1,)


# ----------------------------------------------------------- squeeze & co ----

def test_squeeze_unsqueeze():
    a = np.arange(6.0, dtype=np.float32).reshape(1, 3, 1, 2, 1)
    t = T(a)
    assert_close(t.squeeze(), a.squeeze(), rtol=0, atol=0)
    assert_close(tg.squeeze(t, 0), a.squeeze(0), rtol=0, atol=0)
    assert_close(t.squeeze(-1), a.squeeze(-1), rtol=0, atol=0)
    assert_close(t.squeeze((0, 2)), a.squeeze((0, 2)), rtol=0, atol=0)
    assert_close(t.squeeze(axis=2), a.squeeze(2), rtol=0, atol=0)
    assert shares_memory(t.squeeze(), t)
    b = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    u = T(b)
    for ax in (0, 1, 2, -1, -2, -3):
        assert_close(tg.unsqueeze(u, ax), np.expand_dims(b, ax), rtol=0, atol=0)
        assert_close(u.unsqueeze(axis=ax), np.expand_dims(b, ax), rtol=0, atol=0)
    assert shares_memory(u.unsqueeze(1), u)
    assert tg.tensor(1.0).unsqueeze(0).shape == (1,)
    assert tg.tensor([1.0]).squeeze().shape == ()
    assert tg.zeros(0, 1).squeeze().shape == (0,)


def test_squeeze_non_unit_axis_is_noop():
    # PyTorch: squeezing a dimension whose size is not 1 leaves the tensor unchanged
    t = tg.zeros(3, 1)
    assert t.squeeze(0).shape == (3, 1)


@pytest.mark.parametrize("d0, d1", [(0, 1), (0, 2), (1, 2), (-1, 0), (2, 2)])
def test_transpose(d0, d1):
    t, a = base_tensor((2, 3, 4))
    r = tg.transpose(t, d0, d1)
    assert_close(r, np.swapaxes(a, d0, d1), rtol=0, atol=0)
    assert_close(t.transpose(d0, d1), np.swapaxes(a, d0, d1), rtol=0, atol=0)
    assert shares_memory(r, t)


def test_transpose_default_last_two():
    t, a = base_tensor((2, 3, 4))
    assert_close(t.transpose(), np.swapaxes(a, -2, -1), rtol=0, atol=0)


@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1), (-1, 0, 1)])
def test_permute(perm):
    t, a = base_tensor((2, 3, 4))
    assert_close(t.permute(*perm), a.transpose(perm), rtol=0, atol=0)
    assert_close(t.permute(perm), a.transpose(perm), rtol=0, atol=0)
    assert_close(tg.permute(t, perm), a.transpose(perm), rtol=0, atol=0)
    assert shares_memory(t.permute(*perm), t)
    # permute of a permuted view
    assert_close(t.permute(2, 0, 1).permute(*perm), a.transpose(2, 0, 1).transpose(perm), rtol=0, atol=0)


def test_T():
    t, a = base_tensor((2, 3, 4))
    assert_close(t.T, a.T, rtol=0, atol=0)
    m, am = base_tensor((3, 5))
    assert_close(m.T, am.T, rtol=0, atol=0)
    assert shares_memory(m.T, m)
    v = tg.tensor([1.0, 2.0])
    assert v.T.shape == (2,)
    assert tg.tensor(1.0).T.shape == ()


@pytest.mark.parametrize("src, dst", [((3, 1), (3, 4)), ((1,), (5,)), ((3, 1), (2, 3, 4)), ((4,), (3, 4)),
                                      ((), (2, 2)), ((1, 1), (0, 1)), ((2, 1, 3), (2, 5, 3))])
def test_expand_broadcast_to(src, dst):
    a = np.arange(int(np.prod(src)), dtype=np.float32).reshape(src) + 1
    t = T(a)
    ref = np.broadcast_to(a, dst)
    assert_close(t.expand(*dst), ref, rtol=0, atol=0)
    assert_close(t.expand(dst), ref, rtol=0, atol=0)
    assert_close(tg.broadcast_to(t, dst), ref, rtol=0, atol=0)
    assert_close(t.broadcast_to(dst), ref, rtol=0, atol=0)
    if ref.size:
        assert shares_memory(t.expand(*dst), t)  # no copy


def test_expand_minus_one_keeps_size():
    # PyTorch: -1 in expand means "keep this dimension"
    t = tg.zeros(3, 1)
    assert t.expand(-1, 4).shape == (3, 4)
    assert t.expand(2, -1, 5).shape == (2, 3, 5)


def test_broadcast_to_minus_one_keeps_size():
    # PyTorch's broadcast_to is expand: -1 keeps any existing size, not only a 1
    a = np.arange(3.0, dtype=np.float32)
    assert_close(tg.broadcast_to(T(a), (2, -1)), np.broadcast_to(a, (2, 3)), rtol=0, atol=0)
    assert tg.broadcast_to(tg.zeros(1, 4), (1, 0, 1, 4, -1)).shape == (1, 0, 1, 4, 4)
    assert tg.zeros(3, 1).broadcast_to((-1, 5)).shape == (3, 5)
    with pytest.raises(ValueError, match="broadcast_to.*-1"):
        tg.broadcast_to(tg.zeros(3), (-1, 3))  # not in a new leading dim


def test_expanded_then_op():
    a = np.arange(3.0, dtype=np.float32).reshape(3, 1)
    e = T(a).expand(3, 4)
    assert_close(e * 2.0 + T(np.ones((3, 4), np.float32)), np.broadcast_to(a, (3, 4)) * 2 + 1, rtol=0, atol=0)
    assert_close(tg.sum(e, axis=1), (a * 4).ravel(), rtol=0, atol=0)


# --------------------------------------------------- concat / stack / split ----

@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_concat(axis, fdtype):
    rng = np.random.default_rng(0)
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    shapes = [tuple(s if i != axis % 3 else s + k for i, s in enumerate(sh)) for k, sh in enumerate(shapes)]
    arrs = [rng.standard_normal(s).astype(np_dtype(fdtype)) for s in shapes]
    ts = [T(x) for x in arrs]
    ref = np.concatenate(arrs, axis=axis)
    assert_close(tg.concat(ts, axis=axis), ref, rtol=0, atol=0)
    assert_close(tg.cat(tuple(ts), axis), ref, rtol=0, atol=0)
    # non-contiguous inputs
    ts2 = [T(np.ascontiguousarray(x.transpose(2, 1, 0))).permute(2, 1, 0) for x in arrs]
    assert_close(tg.concat(ts2, axis=axis), ref, rtol=0, atol=0)


def test_concat_edge_cases():
    a = T(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    e = tg.zeros(0, 3)
    assert_close(tg.concat([a, e, a]), np.concatenate([a.numpy(), np.zeros((0, 3), np.float32), a.numpy()]),
                 rtol=0, atol=0)
    assert_close(tg.concat([a]), a.numpy(), rtol=0, atol=0)
    r = tg.concat([a, a])
    r.numpy()[0, 0] = 100.0  # concat copies
    assert a[0, 0].item() == 0.0
    assert_close(tg.concat([T(np.array([1, 2])), T(np.array([3]))]), np.array([1, 2, 3]))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_stack(axis, fdtype):
    rng = np.random.default_rng(1)
    arrs = [rng.standard_normal((3, 4)).astype(np_dtype(fdtype)) for _ in range(3)]
    ref = np.stack(arrs, axis=axis)
    assert_close(tg.stack([T(x) for x in arrs], axis=axis), ref, rtol=0, atol=0)
    assert_close(tg.stack([T(x).T for x in arrs], axis=axis), np.stack([x.T for x in arrs], axis=axis),
                 rtol=0, atol=0)


def test_stack_0d_and_empty():
    assert_close(tg.stack([tg.tensor(1.0), tg.tensor(2.0)]), np.array([1.0, 2.0], dtype=np.float32), rtol=0, atol=0)
    assert tg.stack([tg.zeros(0, 2), tg.zeros(0, 2)], axis=1).shape == (0, 2, 2)


@pytest.mark.parametrize("size, axis", [(2, 0), (3, 0), (1, 1), (4, 1), (5, 1), (10, 0), (2, -1)])
def test_split_chunk_size(size, axis):
    t, a = base_tensor((5, 4, 3))
    parts = tg.split(t, size, axis=axis)
    n = a.shape[axis]
    ref = np.split(a, list(range(size, n, size)), axis=axis)
    assert len(parts) == len(ref)
    for p, r in zip(parts, ref):
        assert_close(p, r, rtol=0, atol=0)
    parts2 = t.split(size, axis)
    assert [p.shape for p in parts2] == [r.shape for r in ref]


@pytest.mark.parametrize("sections, axis", [([1, 4], 0), ([2, 2, 1], 0), ([0, 3, 1], 1), ([4], 1), ([3], -1)])
def test_split_sections(sections, axis):
    t, a = base_tensor((5, 4, 3))
    parts = tg.split(t, sections, axis=axis)
    ref = np.split(a, np.cumsum(sections)[:-1], axis=axis)
    assert len(parts) == len(sections)
    for p, r in zip(parts, ref):
        assert_close(p, r, rtol=0, atol=0)
    parts_t = tg.split(t, tuple(sections), axis)
    assert [p.shape for p in parts_t] == [r.shape for r in ref]


def test_split_noncontiguous():
    t, a = base_tensor((5, 4, 3))
    parts = tg.split(t.permute(2, 0, 1), 2, axis=1)
    ref = np.split(a.transpose(2, 0, 1), [2, 4], axis=1)
    for p, r in zip(parts, ref):
        assert_close(p, r, rtol=0, atol=0)


# ------------------------------------------------------------------ getitem ----

A_SHAPE = (4, 5, 6)

GET_KEYS = [
    0, -1, 3, (1, 2), (1, 2, 3), (-1, -2, -3), (0, -5),
    slice(None), slice(1, 3), slice(None, None, 2), slice(1, None, 3), slice(2, 100), slice(-100, 2),
    slice(3, 1), slice(-2, None), (slice(None), 2), (slice(None), slice(None), -1), (slice(1, 4, 2), slice(None, None, 3)),
    (Ellipsis, 1), (1, Ellipsis), (Ellipsis,), Ellipsis, (Ellipsis, slice(None, None, 2)), (1, Ellipsis, 2),
    None, (None,), (None, 1, None), (Ellipsis, None), (slice(1, 3), None, slice(None, None, 2)), (None, Ellipsis, None),
    (), (0, None, slice(1, 3)),
    # advanced: integer arrays / lists
    [0, 2], [3, 0, 0, 1], [-1, 0], np.array([[0, 1], [2, 3]]), (slice(None), [4, 0]), (Ellipsis, [5, 0, 1]),
    ([0, 1], [2, 3]), ([0, 1], slice(None), [2, 3]), (slice(None), [0, 2], [1, 3]), (0, [1, 2]), ([1, 2], 0),
    ([[0], [1]], [[1, 2, 3]]), (1, slice(None), [0, 0, 5]), (None, [0, 1]), ([0, 1], None), ([2], Ellipsis, [1]),
    (np.array([1, 3]), slice(1, 4), np.array([0, 5])), (np.array(2), [0, 1]), ([], slice(None)),
    (slice(None, None, 2), [1, -1], slice(None, None, 3)),
    # negative steps (NumPy)
    slice(None, None, -1), slice(3, 0, -2), (slice(None), slice(None, None, -2)), (Ellipsis, slice(4, None, -3)),
    (slice(None, None, -1), [0, 2]), ([1, 0], slice(None, None, -2), 0), (slice(-1, -5, -1), None, 1),
    slice(0, 3, -1),
]


def _key_id(k):
    return repr(k).replace(" ", "").replace("slice", "s").replace("array", "a")[:40]


@pytest.mark.parametrize("key", GET_KEYS, ids=[_key_id(k) for k in GET_KEYS])
def test_getitem_matches_numpy(key, fdtype):
    t, a = base_tensor(A_SHAPE, fdtype)
    assert_close(t[key], a[key], rtol=0, atol=0)
    # the same key on a tensor with the same values but non-contiguous (Fortran-order) strides
    tv = T(np.ascontiguousarray(a.transpose(2, 1, 0))).permute(2, 1, 0)
    assert not tv.is_contiguous()
    assert_close(tv[key], a[key], rtol=0, atol=0)


@pytest.mark.parametrize("key", [
    (slice(None), slice(None), 0), ([0, 1],), (slice(1, 3), [0, 3]), (Ellipsis, 2), ([1], [2], [3]),
])
def test_getitem_on_transposed_view(key):
    t, a = base_tensor(A_SHAPE)
    tv, av = t.permute(2, 0, 1)[::2], a.transpose(2, 0, 1)[::2]
    assert_close(tv[key], av[key], rtol=0, atol=0)


def test_getitem_boolean_masks(fdtype):
    t, a = base_tensor(A_SHAPE, fdtype)
    m_full = (a % 3) == 0
    assert_close(t[T(m_full)], a[m_full], rtol=0, atol=0)
    assert_close(t[m_full], a[m_full], rtol=0, atol=0)  # a NumPy mask
    assert_close(t[t > 50], a[a > 50], rtol=0, atol=0)  # a comparison result
    m0 = np.array([True, False, True, True])
    assert_close(t[T(m0)], a[m0], rtol=0, atol=0)
    assert_close(t[m0.tolist()], a[m0], rtol=0, atol=0)  # a list of bools is a mask
    m01 = (a[:, :, 0] % 2) == 1
    assert_close(t[T(m01)], a[m01], rtol=0, atol=0)
    m2 = np.array([False] * 6)
    assert_close(t[:, :, T(m2)], a[:, :, m2], rtol=0, atol=0)
    assert_close(t[T(m0), 1], a[m0, 1], rtol=0, atol=0)
    assert_close(t[1, :, T(m2 | True)], a[1, :, m2 | True], rtol=0, atol=0)
    assert_close(t.T[T(m_full.T)], a.T[m_full.T], rtol=0, atol=0)


def test_getitem_int_tensor_index():
    t, a = base_tensor(A_SHAPE)
    idx = np.array([[3, 0], [1, 1]])
    assert_close(t[T(idx)], a[idx], rtol=0, atol=0)
    assert_close(t[:, T(np.array([4, 0]))], a[:, [4, 0]], rtol=0, atol=0)
    assert_close(t[tg.tensor(2)], a[2], rtol=0, atol=0)  # 0-d int tensor acts like an int


def test_getitem_0d_tensor():
    s = tg.tensor(5.0)
    assert s[()].shape == () and s[()].item() == 5.0
    assert s[...].shape == ()
    assert s[None].shape == (1,)
    assert s[None, None].shape == (1, 1)
    assert s[tg.tensor(True)].shape == (1,)  # NumPy: a 0-d True mask adds a dimension


def test_getitem_empty():
    e = tg.zeros(0, 3)
    assert e[:, 1].shape == (0,)
    assert e[T(np.zeros(0, dtype=bool))].shape == (0, 3)
    assert e[[]].shape == (0, 3)
    assert tg.zeros(3)[T(np.zeros(3, dtype=bool))].shape == (0,)


def test_negative_step_view_shares_memory():
    t, a = base_tensor((4, 6))
    v = t[::-1, ::-2]
    assert_close(v, a[::-1, ::-2], rtol=0, atol=0)
    v[0, 0] = -3.0  # element [3, 5] of the base
    assert t[3, 5].item() == -3.0
    cur = a.copy()
    cur[3, 5] = -3.0
    cv = cur[::-1, ::-2]
    assert_close(v, cv, rtol=0, atol=0)
    assert_close(tg.exp(v), np.exp(cv.astype(np.float64)).astype(np.float32))
    assert_close(tg.sum(v, axis=0), np.sum(cv, axis=0), rtol=1e-6, atol=0)
    assert_close(v @ v.T, cv @ cv.T, rtol=1e-5, atol=1e-5)
    assert_close(v.reshape(-1), cv.reshape(-1), rtol=0, atol=0)
    # NumPy / DLPack export of a negatively strided view
    np.testing.assert_array_equal(np.asarray(v), cv)
    np.testing.assert_array_equal(np.from_dlpack(v), cv)


def test_basic_getitem_is_view_advanced_is_copy():
    t, a = base_tensor(A_SHAPE)
    v = t[1:3, ::2, 4]
    v.numpy()[0, 0] = -7.0  # view: seen in t
    assert t[1, 0, 4].item() == -7.0
    assert shares_memory(t[None, 2, ...], t)
    c = t[[0, 1]]
    c.numpy()[0, 0, 0] = 999.0  # advanced index: a copy
    assert t[0, 0, 0].item() == 0.0
    m = t[t > 100]
    m.numpy()[0] = -1.0
    assert t.numpy().min() >= -7.0


def test_getitem_returns_0d_for_full_int_index():
    t, a = base_tensor(A_SHAPE)
    r = t[1, 2, 3]
    assert isinstance(r, tg.Tensor) and r.shape == () and r.item() == a[1, 2, 3]


def test_getitem_int64_and_bool_tensors():
    i = T(np.arange(10))
    assert_close(i[::3], np.arange(10)[::3])
    assert_close(i[[1, -1]], np.array([1, 9]))
    b = T(np.arange(6) % 2 == 0)
    assert_close(b[1:4], (np.arange(6) % 2 == 0)[1:4])


def test_getitem_large_gather(rng):
    a = rng.standard_normal((2000, 300)).astype(np.float32)
    idx = rng.integers(0, 2000, size=5000)
    assert_close(T(a)[T(idx)], a[idx], rtol=0, atol=0)
    mask = a > 1.0
    assert_close(T(a)[T(mask)], a[mask], rtol=0, atol=0)


# ------------------------------------------------------------------ setitem ----

SET_CASES = [
    # (key, value maker from numpy target shape)
    (1, "scalar"), ((1, 2), "scalar"), ((1, 2, 3), "scalar"), (slice(1, 3), "scalar"),
    (slice(None, None, 2), "full"), ((slice(None), 2), "full"), ((Ellipsis, 1), "full"),
    ((slice(1, 4, 2), slice(None, None, 3)), "full"), ((slice(None), slice(None), slice(1, 4)), "lastdim"),
    (slice(None), "lastdim"), ((0, slice(None)), "row"), ((None, 1), "full"),
    ([0, 2], "scalar"), ([0, 2], "full"), ([0, 2], "lastdim"), (([0, 1], [2, 3]), "full"),
    (([0, 1], slice(None), [2, 3]), "full"), ((slice(None), [0, 2], [1, 3]), "lastdim"), ((Ellipsis, [5, 0]), "full"),
    ("mask", "scalar"), ("mask", "full"), ("mask0", "full"), ("mask0", "lastdim"),
    (slice(None, None, -1), "full"), ((slice(None), slice(4, None, -2)), "lastdim"), ((Ellipsis, slice(None, None, -3)), "full"),
]


def _set_value(kind, target_shape, dtype, rng):
    if kind == "scalar":
        return 2.5
    if kind == "full":
        return rng.standard_normal(target_shape).astype(np_dtype(dtype))
    if kind == "lastdim":
        return rng.standard_normal(target_shape[-1:]).astype(np_dtype(dtype))
    if kind == "row":
        return rng.standard_normal((1,) + target_shape[-1:]).astype(np_dtype(dtype))
    raise AssertionError(kind)


@pytest.mark.parametrize("key, kind", SET_CASES, ids=[f"{_key_id(k)}-{v}" for k, v in SET_CASES])
@pytest.mark.parametrize("value_as", ["tensor", "numpy"])
def test_setitem_matches_numpy(key, kind, value_as, fdtype, rng):
    t, a = base_tensor(A_SHAPE, fdtype)
    a = a.copy()
    if key == "mask":
        key = (a % 4) == 1
    elif key == "mask0":
        key = np.array([True, False, False, True])
    v = _set_value(kind, a[key].shape, fdtype, rng)
    if kind != "scalar" and value_as == "tensor":
        tv = T(v)
    else:
        tv = v
    tkey = T(key) if isinstance(key, np.ndarray) else key
    t[tkey] = tv
    a[key] = v
    assert_close(t, a, rtol=0, atol=0)


def test_setitem_scalar_types_and_casting():
    t = T(np.zeros(4, dtype=np.int64))
    t[1] = 7
    t[2] = True
    t[3] = 2.9  # PyTorch truncates a float into an int tensor
    assert t.tolist() == [0, 7, 1, 2]
    f = tg.zeros(3, dtype=tg.float64)
    f[0] = 1  # int into float
    f[1:] = T(np.array([2, 3]))  # int tensor into a float tensor: converted
    assert_close(f, np.array([1.0, 2.0, 3.0]))
    b = tg.zeros(3, dtype=tg.bool)
    b[1] = True
    assert b.tolist() == [False, True, False]


def test_setitem_list_value_and_tensor_from_other_dtype():
    t = tg.zeros(2, 3)
    t[0] = [1.0, 2.0, 3.0]
    t[1, :] = T(np.array([4.0, 5.0, 6.0]))  # float64 into float32
    assert_close(t, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32), rtol=0, atol=0)


@pytest.mark.parametrize("key, value", [
    ((slice(None),), np.ones((1, 3))), ((0,), [[[1.0, 2.0, 3.0]]]), (([0, 1],), np.arange(6.0).reshape(1, 2, 3)),
    ((np.array([True, False]),), np.full((1, 1, 3), 7.0)), ((0, 1), np.full((1, 1), 9.0)),
], ids=["slice", "int-nested-list", "int-array", "mask", "element"])
def test_setitem_value_with_leading_unit_dims(key, value):
    # PyTorch drops a value's leading size-1 dims beyond the destination's (NumPy too, but
    # not for one element, nor for a nested list)
    t, a = tg.zeros(2, 3), np.zeros((2, 3), dtype=np.float32)
    v = np.asarray(value, dtype=np.float32)
    a[key] = v.reshape(v.shape[v.ndim - a[key].ndim:])
    t[tuple(T(k) if isinstance(k, np.ndarray) else k for k in key)] = T(value) if isinstance(value, np.ndarray) else value
    assert_close(t, a, rtol=0, atol=0)
    with pytest.raises(ValueError, match="broadcast"):
        t[0] = T(np.ones((2, 3)))  # a leading dim that is not 1 still does not fit


def test_setitem_on_view_is_seen_in_base():
    t, a = base_tensor((4, 6))
    v = t[1:, ::2]
    v[0] = -1.0
    v[:, 1] = T(np.array([9.0, 8.0, 7.0], dtype=np.float32))
    a = a.copy()
    av = a[1:, ::2]
    av[0] = -1.0
    av[:, 1] = [9.0, 8.0, 7.0]
    assert_close(t, a, rtol=0, atol=0)
    tt = t.T
    tt[0, 1] = 100.0
    a.T[0, 1] = 100.0
    assert_close(t, a, rtol=0, atol=0)
    tt[[0, 2]] = 0.5
    a.T[[0, 2]] = 0.5
    assert_close(t, a, rtol=0, atol=0)


@pytest.mark.parametrize("case", ["setitem", "copy_", "add_"])
def test_partially_overlapping_source_not_silently_wrong(case):
    # The value is a view of the target that overlaps it partially. NumPy gives the result
    # "as if the source were copied first"; PyTorch raises RuntimeError ("some elements of
    # the input tensor and the written-to tensor refer to a single memory location").
    # Either is acceptable; a silently wrong result is not.
    t, a = base_tensor((6,))
    a = a.copy()
    try:
        if case == "setitem":
            t[1:] = t[:-1]
        elif case == "copy_":
            t[1:].copy_(t[:-1])
        else:
            t[1:].add_(t[:-1])
    except RuntimeError as e:
        assert "overlap" in str(e) or "memory location" in str(e)
        return
    if case == "add_":
        a[1:] = a[1:] + a[:-1].copy()
    else:
        a[1:] = a[:-1].copy()
    assert_close(t, a, rtol=0, atol=0)


def test_setitem_empty_selection_noop():
    t, a = base_tensor((3, 4))
    t[T(np.zeros((3, 4), dtype=bool))] = 5.0
    t[2:2] = 5.0
    t[[]] = 1.0
    assert_close(t, a, rtol=0, atol=0)


def test_setitem_0d():
    s = tg.tensor(1.0)
    s[()] = 4.0
    assert s.item() == 4.0
    s[...] = T(np.array(5.0, dtype=np.float32))
    assert s.item() == 5.0


# ---------------------------------------------------------------- in-place ----

INPLACE = [
    ("add_", lambda x, y: x.add_(y), np.add), ("sub_", lambda x, y: x.sub_(y), np.subtract),
    ("mul_", lambda x, y: x.mul_(y), np.multiply), ("div_", lambda x, y: x.div_(y), np.divide),
]


@pytest.mark.parametrize("name, f, nf", INPLACE, ids=[c[0] for c in INPLACE])
@pytest.mark.parametrize("other", ["scalar_float", "scalar_int", "same", "broadcast", "0d", "transposed"])
def test_inplace_methods(name, f, nf, other, fdtype, rng):
    a = rng.uniform(1, 2, size=(3, 4)).astype(np_dtype(fdtype))
    t = T(a)
    if other == "scalar_float":
        y, yn = 1.5, 1.5
    elif other == "scalar_int":
        y, yn = 3, 3
    elif other == "same":
        yn = rng.uniform(1, 2, size=(3, 4)).astype(a.dtype)
        y = T(yn)
    elif other == "broadcast":
        yn = rng.uniform(1, 2, size=(4,)).astype(a.dtype)
        y = T(yn)
    elif other == "0d":
        yn = np.array(1.25, dtype=a.dtype)
        y = T(yn)
    else:
        yn = rng.uniform(1, 2, size=(4, 3)).astype(a.dtype)
        y = T(yn).T
        yn = yn.T
    ptr = t.data_ptr()
    r = f(t, y)
    assert r is t  # returns self
    assert t.data_ptr() == ptr  # really in place
    ref = nf(a.astype(np.float64), np.asarray(yn, dtype=np.float64)).astype(a.dtype)
    assert_close(t, ref)


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_augmented_assignment_in_place(op, fdtype, rng):
    a = rng.uniform(1, 2, size=(3, 4)).astype(np_dtype(fdtype))
    t = T(a)
    alias = t
    ptr = t.data_ptr()
    y = rng.uniform(1, 2, size=(4,)).astype(a.dtype)
    ns = {"t": t, "y": T(y)}
    exec(f"t {op} y", ns)
    exec(f"t {op} 2.0", ns)
    assert ns["t"] is alias  # same object
    assert alias.data_ptr() == ptr
    ref = a.astype(np.float64)
    for v in (y.astype(np.float64), 2.0):
        ref = {"+=": ref + v, "-=": ref - v, "*=": ref * v, "/=": ref / v}[op]
    assert_close(alias, ref.astype(a.dtype))


def test_inplace_on_view_visible_in_base():
    t, a = base_tensor((4, 6))
    a = a.copy()
    t[1:3].add_(10.0)
    a[1:3] += 10.0
    t.T[::2].mul_(2.0)
    a.T[::2] *= 2.0
    v = t[:, 1]
    v -= 1.0
    a[:, 1] -= 1.0
    t[0].zero_()
    a[0] = 0
    t[:, 5].fill_(3.0)
    a[:, 5] = 3.0
    t[3, :3].copy_(T(np.array([7.0, 8.0, 9.0], dtype=np.float32)))
    a[3, :3] = [7, 8, 9]
    t[1:, 2:4].clamp_(min=20.0, max=40.0)
    a[1:, 2:4] = np.clip(a[1:, 2:4], 20, 40)
    t[2, 2:].div_(4.0)
    a[2, 2:] /= 4.0
    assert_close(t, a, rtol=0, atol=0)


def test_zero_fill_copy_clamp(fdtype, rng):
    a = rng.standard_normal((3, 4)).astype(np_dtype(fdtype))
    t = T(a)
    assert t.zero_() is t
    assert_close(t, np.zeros_like(a), rtol=0, atol=0)
    assert t.fill_(1.5) is t
    assert_close(t, np.full_like(a, 1.5), rtol=0, atol=0)
    assert t.copy_(T(a)) is t
    assert_close(t, a, rtol=0, atol=0)
    t.copy_(T(a[0]))  # copy_ broadcasts the source (PyTorch)
    assert_close(t, np.broadcast_to(a[0], a.shape), rtol=0, atol=0)
    t.copy_(T(a.T.copy()).T)  # non-contiguous source
    assert_close(t, a, rtol=0, atol=0)
    assert t.clamp_(-0.5, 0.5) is t
    assert_close(t, np.clip(a, -0.5, 0.5), rtol=0, atol=0)
    t.copy_(T(a))
    t.clamp_(min=0.0)
    assert_close(t, np.maximum(a, 0), rtol=0, atol=0)
    t.copy_(T(a))
    t.clamp_(max=0.0)
    assert_close(t, np.minimum(a, 0), rtol=0, atol=0)


def test_fill_and_zero_write_through_an_expanded_view():
    # PyTorch allows them (one value for every element sharing a location); ops whose
    # result varies per element (add_, copy_) still refuse an expanded destination
    base = T(np.array([[1.0], [2.0], [3.0]]))
    x = base.expand(3, 4)
    assert x.fill_(2.5) is x
    assert base.tolist() == [[2.5]] * 3 and x.tolist() == [[2.5] * 4] * 3
    x.zero_()
    assert base.tolist() == [[0.0]] * 3
    i = T(np.array([-19])).expand(2)
    i.zero_()
    assert i.tolist() == [0, 0]
    with pytest.raises(RuntimeError, match="add_.*memory location"):
        x.add_(1.0)


def test_copy_converts_dtype():
    t = tg.zeros(3)
    t.copy_(T(np.array([1, 2, 3])))
    assert t.dtype is tg.float32 and t.tolist() == [1.0, 2.0, 3.0]
    d = tg.zeros(2, dtype=tg.float64)
    d.copy_(T(np.array([0.1, 0.2], dtype=np.float32)))
    assert_close(d, np.array([0.1, 0.2], dtype=np.float32).astype(np.float64), rtol=0, atol=0)


def test_inplace_int64():
    t = T(np.array([1, 2, 3]))
    t.add_(2)
    t.mul_(3)
    t.sub_(T(np.array([1, 1, 1])))
    assert_close(t, (np.array([1, 2, 3]) + 2) * 3 - 1)
    t.zero_()
    t.fill_(4)
    assert t.tolist() == [4, 4, 4]


def test_inplace_large_and_empty(rng):
    a = rng.standard_normal(1_000_003).astype(np.float32)
    t = T(a)
    t.mul_(2.0)
    t.add_(T(a))
    assert_close(t, a * np.float32(2) + a, rtol=1e-6, atol=1e-6)
    e = tg.zeros(0, 3)
    e.add_(1.0)
    e.fill_(2.0)
    e.zero_()
    assert e.shape == (0, 3)


def test_inplace_bumps_version():
    t = tg.zeros(3)
    v0 = t._version()
    t.add_(1.0)
    t[0] = 2.0
    assert t._version() >= v0 + 2


def test_inplace_on_from_numpy_changes_array():
    a = np.ones(5, dtype=np.float64)
    t = tg.from_numpy(a)
    t.mul_(3.0)
    t[1:3] = 0.0
    np.testing.assert_array_equal(a, [3.0, 0.0, 0.0, 3.0, 3.0])


# ------------------------------------------------------------------ matmul ----

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((3,), (3, 5)),
    ((3, 4), (4,)),
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((5, 3, 4), (5, 4, 2)),
    ((5, 3, 4), (4, 2)),
    ((3, 4), (5, 4, 2)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((7, 1, 2, 3), (1, 6, 3, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
    ((0, 3), (3, 4)),
    ((3, 0), (0, 4)),
    ((2, 0, 3), (3, 5)),
    ((65, 130), (130, 33)),
]


def _matmul_tol(dtype, k):
    if dtype is tg.float32:
        return dict(rtol=1e-4, atol=1e-5 * max(1, k) ** 0.5)
    return dict(rtol=1e-10, atol=1e-12 * max(1, k))


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_matches_numpy(sa, sb, fdtype, rng):
    a = rng.standard_normal(sa).astype(np_dtype(fdtype))
    b = rng.standard_normal(sb).astype(np_dtype(fdtype))
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)
    tol = _matmul_tol(fdtype, sa[-1])
    assert_close(T(a) @ T(b), ref, **tol)
    assert_close(tg.matmul(T(a), T(b)), ref, **tol)
    assert_close(T(a).matmul(T(b)), ref, **tol)


@pytest.mark.parametrize("which", ["a.T", "b.T", "both.T", "a[::2]", "b[:, ::2]", "batch-permuted"])
def test_matmul_noncontiguous_operands(which, fdtype, rng):
    dt = np_dtype(fdtype)
    if which == "a.T":
        an, bn = rng.standard_normal((5, 3)).astype(dt), rng.standard_normal((5, 4)).astype(dt)
        ta, tb, an = T(an).T, T(bn), an.T
    elif which == "b.T":
        an, bn = rng.standard_normal((3, 5)).astype(dt), rng.standard_normal((4, 5)).astype(dt)
        ta, tb, bn = T(an), T(bn).T, bn.T
    elif which == "both.T":
        an, bn = rng.standard_normal((5, 3)).astype(dt), rng.standard_normal((4, 5)).astype(dt)
        ta, tb, an, bn = T(an).T, T(bn).T, an.T, bn.T
    elif which == "a[::2]":
        an, bn = rng.standard_normal((8, 6)).astype(dt), rng.standard_normal((3, 4)).astype(dt)
        ta, tb, an = T(an)[::2, ::2], T(bn), an[::2, ::2]
    elif which == "b[:, ::2]":
        an, bn = rng.standard_normal((3, 5)).astype(dt), rng.standard_normal((5, 8)).astype(dt)
        ta, tb, bn = T(an), T(bn)[:, ::2], bn[:, ::2]
    else:
        an, bn = rng.standard_normal((3, 2, 4)).astype(dt), rng.standard_normal((2, 4, 5)).astype(dt)
        ta, tb, an = T(an).permute(1, 0, 2), T(bn), an.transpose(1, 0, 2)
    ref = np.matmul(an.astype(np.float64), bn.astype(np.float64)).astype(dt)
    assert_close(ta @ tb, ref, **_matmul_tol(fdtype, an.shape[-1]))


def test_matmul_1024(fdtype, rng):
    dt = np_dtype(fdtype)
    a = rng.standard_normal((1024, 1024)).astype(dt)
    b = rng.standard_normal((1024, 1024)).astype(dt)
    ref = (a.astype(np.float64) @ b.astype(np.float64)).astype(dt)
    tol = dict(rtol=1e-4, atol=2e-4) if fdtype is tg.float32 else dict(rtol=1e-10, atol=1e-10)
    assert_close(T(a) @ T(b), ref, **tol)
    assert_close(T(a).T @ T(b), (a.T.astype(np.float64) @ b.astype(np.float64)).astype(dt), **tol)


def test_matmul_mixed_float_dtypes_promote(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((3, 2))
    assert_close(T(a) @ T(b), a.astype(np.float64) @ b, rtol=1e-12, atol=1e-12)


def test_matmul_int64():
    # PyTorch supports integer matmul on CPU (exact)
    a = np.arange(6).reshape(2, 3)
    b = np.arange(12).reshape(3, 4) - 5
    assert_close(T(a) @ T(b), a @ b)


def test_matmul_with_numpy_array(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((3, 2)).astype(np.float32)
    r = T(a) @ b
    assert isinstance(r, tg.Tensor)
    assert_close(r, a @ b, rtol=1e-5, atol=1e-6)
