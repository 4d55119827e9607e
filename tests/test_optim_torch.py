"""tg.optim, tg.optim.lr_scheduler, clipping and the nn losses against PyTorch itself.

Optimizers: 100 steps with the same gradients (random ones, and ones from a loss that
depends on the parameters) for the same hyper-parameters. float64 agrees to ~1e-12;
float32 to a few ulp per step (torch's single-tensor kernels fuse some multiply-adds).
"""
import pytest

torch = pytest.importorskip("torch")  # the only allowed skip: torch is an optional extra

import math  # noqa: E402

import numpy as np  # noqa: E402

import tapegrad as tg  # noqa: E402
from tapegrad import nn, optim  # noqa: E402
from tapegrad.clip import clip_by_global_norm  # noqa: E402
from tapegrad.nn import functional as F  # noqa: E402
from tapegrad.nn.utils import clip_grad_norm_, clip_grad_value_  # noqa: E402
from tapegrad.optim import lr_scheduler  # noqa: E402

SHAPES = [(5, 3), (7,), (2, 2, 2)]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.001, centered=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-8)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CONFIGS]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_100_steps_random_grads_match_torch(name, kw, dtype):
    rng = np.random.default_rng(7)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    tp = [tg.tensor(a.copy(), requires_grad=True) for a in init]
    pp = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    o1 = getattr(optim, name)(tp, **kw)
    o2 = getattr(torch.optim, name)(pp, foreach=False, **kw)
    for _ in range(100):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        for p, g in zip(tp, grads):
            p.grad = tg.tensor(g)
        for p, g in zip(pp, grads):
            p.grad = torch.tensor(g)
        o1.step()
        o2.step()
    for a, b in zip(tp, pp):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_100_steps_on_a_loss_match_torch_float64(name, kw):
    """Gradients from a loss of the parameters (so any difference would feed back)."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((6, 4))
    b0 = rng.standard_normal(4)
    x = rng.standard_normal((32, 6))
    y = rng.integers(0, 4, 32)
    tw, tb = tg.tensor(w0.copy(), requires_grad=True), tg.tensor(b0.copy(), requires_grad=True)
    pw, pb = torch.tensor(w0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)
    o1 = getattr(optim, name)([tw, tb], **kw)
    o2 = getattr(torch.optim, name)([pw, pb], foreach=False, **kw)
    xt, yt, xp, yp = tg.tensor(x), tg.tensor(y), torch.tensor(x), torch.tensor(y)
    for _ in range(100):
        o1.zero_grad()
        F.cross_entropy(xt @ tw + tb, yt).backward()
        o1.step()
        o2.zero_grad()
        torch.nn.functional.cross_entropy(xp @ pw + pb, yp).backward()
        o2.step()
    np.testing.assert_allclose(tw.detach().numpy(), pw.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(tb.detach().numpy(), pb.detach().numpy(), rtol=1e-9, atol=1e-10)


def test_param_groups_match_torch():
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(3) for _ in range(3)]
    tp = [tg.tensor(a.copy(), requires_grad=True) for a in init]
    pp = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    o1 = optim.Adam([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.1, "amsgrad": True}], lr=0.01)
    o2 = torch.optim.Adam([{"params": pp[:2]}, {"params": pp[2:], "lr": 0.1, "amsgrad": True}], lr=0.01,
                          foreach=False)
    for _ in range(20):
        grads = [rng.standard_normal(3) for _ in range(3)]
        for p, g in zip(tp, grads):
            p.grad = tg.tensor(g)
        for p, g in zip(pp, grads):
            p.grad = torch.tensor(g)
        o1.step()
        o2.step()
    for a, b in zip(tp, pp):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("make", [
    lambda m, o: m.StepLR(o, step_size=4, gamma=0.3),
    lambda m, o: m.ExponentialLR(o, gamma=0.87),
    lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.002),
    lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1.0 + 0.3 * e)),
], ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR"])
def test_scheduler_lrs_equal_torch(make):
    p1 = tg.tensor([1.0], requires_grad=True)
    p2 = torch.tensor([1.0], requires_grad=True)
    o1 = optim.SGD([{"params": [p1]}, {"params": [tg.tensor([1.0], requires_grad=True)], "lr": 0.05}], lr=0.1)
    o2 = torch.optim.SGD([{"params": [p2]}, {"params": [torch.tensor([1.0], requires_grad=True)], "lr": 0.05}],
                         lr=0.1)
    s1, s2 = make(lr_scheduler, o1), make(torch.optim.lr_scheduler, o2)
    for _ in range(30):
        assert s1.get_last_lr() == s2.get_last_lr()  # the same floats
        o1.step()
        o2.step()
        s1.step()
        s2.step()


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(s) for s in SHAPES]
    tp = [tg.tensor(np.zeros(s), requires_grad=True) for s in SHAPES]
    pp = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, q, g in zip(tp, pp, grads):
        p.grad = tg.tensor(g)
        q.grad = torch.tensor(g)
    n1 = clip_grad_norm_(tp, max_norm, norm_type)
    n2 = torch.nn.utils.clip_grad_norm_(pp, max_norm, norm_type)
    assert n1.item() == pytest.approx(n2.item(), rel=1e-12)
    for p, q in zip(tp, pp):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)
    for p, q, g in zip(tp, pp, grads):
        p.grad = tg.tensor(g)
        q.grad = torch.tensor(g)
    clip_grad_value_(tp, 0.1)
    torch.nn.utils.clip_grad_value_(pp, 0.1)
    for p, q in zip(tp, pp):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_clip_by_global_norm_matches_the_formula_torch_computes():
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(s) for s in SHAPES]
    clipped, gn = clip_by_global_norm([tg.tensor(g) for g in grads], 1.0)
    tn = torch.linalg.vector_norm(torch.cat([torch.tensor(g).reshape(-1) for g in grads]))
    assert gn.item() == pytest.approx(tn.item(), rel=1e-12)
    for c, g in zip(clipped, grads):
        np.testing.assert_allclose(c.numpy(), g * (1.0 / tn.item()), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_losses_match_torch(reduction, dtype):
    rng = np.random.default_rng(11)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    logits = (rng.standard_normal((8, 5)) * 4).astype(dtype)
    labels = rng.integers(0, 5, 8)
    target = rng.random((8, 5)).astype(dtype)
    pos_weight = rng.random(5).astype(dtype) + 0.5
    cases = [
        (lambda x, m: F.cross_entropy(x, tg.tensor(labels), reduction=reduction),
         lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(labels), reduction=reduction)),
        (lambda x, m: F.cross_entropy(x, tg.tensor(target / target.sum(1, keepdims=True)), reduction=reduction),
         lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(target / target.sum(1, keepdims=True)),
                                                     reduction=reduction)),
        (lambda x, m: F.mse_loss(x, tg.tensor(target), reduction=reduction),
         lambda x: torch.nn.functional.mse_loss(x, torch.tensor(target), reduction=reduction)),
        (lambda x, m: F.binary_cross_entropy_with_logits(x, tg.tensor(target), reduction=reduction,
                                                         pos_weight=tg.tensor(pos_weight)),
         lambda x: torch.nn.functional.binary_cross_entropy_with_logits(
             x, torch.tensor(target), reduction=reduction, pos_weight=torch.tensor(pos_weight))),
    ]
    for ours, theirs in cases:
        x1 = tg.tensor(logits, requires_grad=True)
        x2 = torch.tensor(logits, requires_grad=True)
        l1, l2 = ours(x1, None), theirs(x2)
        np.testing.assert_allclose(l1.detach().numpy(), l2.detach().numpy(), **tol)
        l1.sum().backward()
        l2.sum().backward()
        np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_layer_norm_and_linear_match_torch(dtype):
    rng = np.random.default_rng(4)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    x = rng.standard_normal((4, 3, 6)).astype(dtype)
    w = rng.standard_normal((3, 6)).astype(dtype)
    b = rng.standard_normal((3, 6)).astype(dtype)
    go = rng.standard_normal((4, 3, 6)).astype(dtype)
    ours = [tg.tensor(v, requires_grad=True) for v in (x, w, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (x, w, b)]
    o1 = F.layer_norm(ours[0], (3, 6), ours[1], ours[2], eps=1e-5)
    o2 = torch.nn.functional.layer_norm(theirs[0], (3, 6), theirs[1], theirs[2], eps=1e-5)
    np.testing.assert_allclose(o1.detach().numpy(), o2.detach().numpy(), **tol)
    o1.backward(tg.tensor(go))
    o2.backward(torch.tensor(go))
    for a, c in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), **tol)
    lin_w = rng.standard_normal((5, 6)).astype(dtype)
    np.testing.assert_allclose(
        F.linear(tg.tensor(x), tg.tensor(lin_w), tg.tensor(lin_w[:, 0])).numpy(),
        torch.nn.functional.linear(torch.tensor(x), torch.tensor(lin_w), torch.tensor(lin_w[:, 0])).numpy(), **tol)


def test_module_state_dict_loads_into_torch_and_back():
    tg.manual_seed(0)
    ours = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.GELU(), torch.nn.LayerNorm(8),
                                 torch.nn.Linear(8, 3))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(tg.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
