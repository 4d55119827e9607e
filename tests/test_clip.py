"""Gradient clipping: PyTorch's in-place tg.nn.utils.clip_grad_norm_ / clip_grad_value_ and
TensorFlow's functional tg.clip_by_global_norm / clip_by_norm / clip_by_value (here imported
from tapegrad.clip, which tapegrad re-exports)."""
import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.clip import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm
from tapegrad.nn.utils import clip_grad_norm_, clip_grad_value_


def _params_with_grads(grads, dtype=None):
    params = []
    for g in grads:
        p = tg.tensor(np.zeros(np.shape(g)), dtype=dtype, requires_grad=True)
        if g is not None:
            p.grad = tg.tensor(g, dtype=dtype)
        params.append(p)
    return params


# ---------------------------------------------------------------- clip_grad_norm_
def test_clip_grad_norm_returns_total_norm_and_scales(rng):
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    params = _params_with_grads(grads)
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    out = clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(out, tg.Tensor) and out.shape == () and out.dtype is tg.float64
    assert out.item() == pytest.approx(total, rel=1e-12)
    coef = 1.0 / (total + 1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    new_total = math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in params))
    assert new_total == pytest.approx(1.0, abs=1e-5)


def test_clip_grad_norm_no_change_below_max_norm(rng):
    grads = [rng.standard_normal(4) * 0.01]
    params = _params_with_grads(grads)
    out = clip_grad_norm_(params, max_norm=10.0)
    assert out.item() == pytest.approx(float(np.linalg.norm(grads[0])), rel=1e-12)
    np.testing.assert_array_equal(params[0].grad.numpy(), grads[0])


def test_clip_grad_norm_single_tensor_generator_and_none_grads(rng):
    g = rng.standard_normal(6)
    (p,) = _params_with_grads([g])
    out = clip_grad_norm_(p, 0.5)  # a single tensor
    assert out.item() == pytest.approx(float(np.linalg.norm(g)))
    np.testing.assert_allclose(np.linalg.norm(p.grad.numpy()), 0.5, rtol=1e-5)
    params = _params_with_grads([g, None])
    out = clip_grad_norm_((q for q in params), 0.5)  # a generator; the None grad is skipped
    assert out.item() == pytest.approx(float(np.linalg.norm(g)))
    assert params[1].grad is None
    empty = clip_grad_norm_(_params_with_grads([None]), 1.0)
    assert empty.item() == 0.0


@pytest.mark.parametrize("norm_type", [1.0, 3.0, math.inf, "inf"])
def test_clip_grad_norm_other_norms(norm_type, rng):
    grads = [rng.standard_normal((2, 3)) * 3, rng.standard_normal(4)]
    params = _params_with_grads(grads)
    flat = np.concatenate([g.reshape(-1) for g in grads])
    p = float(norm_type)
    expected = np.abs(flat).max() if math.isinf(p) else (np.abs(flat) ** p).sum() ** (1 / p)
    out = clip_grad_norm_(params, 0.25, norm_type=norm_type)
    assert out.item() == pytest.approx(expected, rel=1e-12)
    for q, g in zip(params, grads):
        np.testing.assert_allclose(q.grad.numpy(), g * (0.25 / (expected + 1e-6)), rtol=1e-12)


def test_clip_grad_norm_float32_dtype(rng):
    grads = [rng.standard_normal(5).astype(np.float32)]
    params = _params_with_grads(grads, dtype=tg.float32)
    out = clip_grad_norm_(params, 1.0)
    assert out.dtype is tg.float32 and params[0].grad.dtype is tg.float32
    assert out.item() == pytest.approx(float(np.linalg.norm(grads[0].astype(np.float64))), rel=1e-6)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_clip_grad_norm_error_if_nonfinite(bad, rng):
    g = rng.standard_normal(3)
    g[1] = bad
    params = _params_with_grads([g])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[0].grad.numpy(), g)  # untouched when raising
    out = clip_grad_norm_(params, 1.0)  # PyTorch: scaled by the non-finite norm anyway
    assert not math.isfinite(out.item())
    assert np.isnan(params[0].grad.numpy()).any()


def test_clip_grad_value(rng):
    g = rng.standard_normal((4, 4)) * 2
    params = _params_with_grads([g, None])
    assert clip_grad_value_(params, 0.5) is None
    np.testing.assert_array_equal(params[0].grad.numpy(), np.clip(g, -0.5, 0.5))
    assert params[1].grad is None


def test_clip_then_step_in_a_training_loop(rng):
    from tapegrad import nn, optim

    tg.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=1.0)
    x = tg.tensor(rng.standard_normal((8, 3)).astype(np.float32) * 100)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    nn.functional.mse_loss(model(x), tg.zeros((8, 1))).backward()
    clip_grad_norm_(model.parameters(), 0.1)
    opt.step()
    moved = math.sqrt(sum(float(((p.detach().numpy() - b) ** 2).sum()) for p, b in zip(model.parameters(), before)))
    assert moved == pytest.approx(0.1, rel=1e-4)


# ---------------------------------------------------------------- TensorFlow style
def test_clip_by_global_norm_numbers_and_none(rng):
    values = [rng.standard_normal((2, 3)), None, rng.standard_normal(4)]
    tensors = [None if v is None else tg.tensor(v) for v in values]
    gn_expected = math.sqrt(sum(float((v ** 2).sum()) for v in values if v is not None))
    clipped, gn = clip_by_global_norm(tensors, 1.5)
    assert isinstance(clipped, list) and len(clipped) == 3 and clipped[1] is None
    assert gn.item() == pytest.approx(gn_expected, rel=1e-12)
    scale = 1.5 / max(gn_expected, 1.5)
    for c, v in zip(clipped, values):
        if v is not None:
            np.testing.assert_allclose(c.numpy(), v * scale, rtol=1e-12)
    np.testing.assert_array_equal(tensors[0].numpy(), values[0])  # inputs untouched
    assert global_norm(tensors).item() == pytest.approx(gn_expected, rel=1e-12)


def test_clip_by_global_norm_below_clip_and_use_norm(rng):
    values = [rng.standard_normal(3) * 0.01]
    clipped, gn = clip_by_global_norm([tg.tensor(values[0])], 5.0)
    np.testing.assert_allclose(clipped[0].numpy(), values[0], rtol=1e-15)
    clipped, gn = clip_by_global_norm([tg.tensor(values[0])], 2.0, use_norm=8.0)
    assert gn.item() == 8.0
    np.testing.assert_allclose(clipped[0].numpy(), values[0] * 0.25, rtol=1e-12)


def test_clip_by_global_norm_nonfinite_gives_nan_and_type_error():
    clipped, gn = clip_by_global_norm([tg.tensor([1.0, math.inf]), tg.tensor([2.0])], 1.0)
    assert math.isinf(gn.item())
    assert all(np.isnan(c.numpy()).all() for c in clipped)  # TensorFlow's behaviour
    with pytest.raises(TypeError, match="sequence"):
        clip_by_global_norm(tg.tensor([1.0]), 1.0)


def test_clip_by_global_norm_with_tape_gradients():
    v = [tg.Variable([3.0, 0.0]), tg.Variable([0.0, 4.0])]
    with tg.GradientTape() as tape:
        loss = (v[0] * v[0]).sum() / 2 + (v[1] * v[1]).sum() / 2
    grads = tape.gradient(loss, v)
    clipped, gn = clip_by_global_norm(grads, 1.0)
    assert gn.item() == pytest.approx(5.0)
    np.testing.assert_allclose(clipped[0].numpy(), [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(clipped[1].numpy(), [0.0, 0.8], rtol=1e-6)


def test_clip_by_global_norm_is_differentiable():
    x = tg.tensor([3.0, 4.0], dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda x: clip_by_global_norm([x], 1.0)[0][0], (x,))


def test_clip_by_norm_numbers(rng):
    v = rng.standard_normal((3, 4)) * 3
    out = clip_by_norm(tg.tensor(v), 2.0)
    np.testing.assert_allclose(out.numpy(), v * 2.0 / max(np.linalg.norm(v), 2.0), rtol=1e-12)
    small = clip_by_norm(tg.tensor(v * 1e-3), 2.0)
    np.testing.assert_allclose(small.numpy(), v * 1e-3, rtol=1e-12)
    rows = clip_by_norm(tg.tensor(v), 1.0, axes=1)  # per-row norms
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(rows.numpy(), v * 1.0 / np.maximum(norms, 1.0), rtol=1e-12)


def test_clip_by_norm_zero_tensor_has_finite_gradient():
    x = tg.zeros(3, dtype=tg.float64, requires_grad=True)
    out = clip_by_norm(x, 1.0)
    np.testing.assert_array_equal(out.detach().numpy(), np.zeros(3))
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_clip_by_value_numbers_and_gradient():
    x = tg.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=tg.float64, requires_grad=True)
    out = clip_by_value(x, -1.0, 1.0)
    np.testing.assert_array_equal(out.detach().numpy(), [-1.0, -1.0, 0.0, 1.0, 1.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])  # ties pass, as in TF


def test_clip_by_value_tensor_bounds_and_errors():
    x = tg.tensor([[-2.0, 0.5], [3.0, 0.2]], dtype=tg.float64, requires_grad=True)
    lo = tg.tensor([-1.0, 0.0], dtype=tg.float64)
    hi = tg.tensor([1.0, 0.4], dtype=tg.float64)
    out = clip_by_value(x, lo, hi)
    np.testing.assert_array_equal(out.detach().numpy(), [[-1.0, 0.4], [1.0, 0.2]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [0.0, 1.0]])
    ints = clip_by_value(tg.tensor([1, 5, 9]), 2, 6)
    assert ints.dtype is tg.int64 and ints.tolist() == [2, 5, 6]
    with pytest.raises(ValueError, match="broadcast"):
        clip_by_value(tg.tensor([1.0, 2.0]), tg.zeros((3, 2)), 1.0)
