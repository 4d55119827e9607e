"""tg.optim: each optimizer against closed-form updates (float64, NumPy references written
from torch.optim's documented algorithms), param_groups, state_dict round trips,
zero_grad, apply_gradients (tape idiom) and the learning-rate schedulers.

The comparison against torch.optim itself is in test_optim_torch.py.
"""
import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.optim import lr_scheduler
from tapegrad.serialization import load, save

SHAPES = [(4, 3), (5,)]


# ---------------------------------------------------------------- NumPy references
def ref_sgd(params, grads_seq, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    params = [p.copy() for p in params]
    bufs = [None] * len(params)
    for grads in grads_seq:
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g.copy()
            if weight_decay:
                g = g + weight_decay * p
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            params[i] = p - lr * g
    return params


def ref_adam(params, grads_seq, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
             decoupled=False):
    b1, b2 = betas
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    vmax = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_seq, start=1):
        for i, g in enumerate(grads):
            p = params[i]
            g = -g if maximize else g.copy()
            if decoupled:
                p = p * (1 - lr * weight_decay)
            elif weight_decay:
                g = g + weight_decay * p
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
            if amsgrad:
                vmax[i] = np.maximum(vmax[i], v[i])
                denom = np.sqrt(vmax[i]) / math.sqrt(bc2) + eps
            else:
                denom = np.sqrt(v[i]) / math.sqrt(bc2) + eps
            params[i] = p - (lr / bc1) * m[i] / denom
    return params


def ref_adamw(params, grads_seq, lr, weight_decay=1e-2, **kw):
    return ref_adam(params, grads_seq, lr, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(params, grads_seq, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                maximize=False):
    params = [p.copy() for p in params]
    sq = [np.zeros_like(p) for p in params]
    ga = [np.zeros_like(p) for p in params]
    buf = [np.zeros_like(p) for p in params]
    for grads in grads_seq:
        for i, g in enumerate(grads):
            p = params[i]
            g = -g if maximize else g.copy()
            if weight_decay:
                g = g + weight_decay * p
            sq[i] = alpha * sq[i] + (1 - alpha) * g * g
            if centered:
                ga[i] = alpha * ga[i] + (1 - alpha) * g
                avg = np.sqrt(sq[i] - ga[i] * ga[i]) + eps
            else:
                avg = np.sqrt(sq[i]) + eps
            if momentum > 0:
                buf[i] = momentum * buf[i] + g / avg
                params[i] = p - lr * buf[i]
            else:
                params[i] = p - lr * g / avg
    return params


def ref_adagrad(params, grads_seq, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                maximize=False):
    params = [p.copy() for p in params]
    sums = [np.full_like(p, initial_accumulator_value) for p in params]
    for t, grads in enumerate(grads_seq, start=1):
        for i, g in enumerate(grads):
            p = params[i]
            g = -g if maximize else g.copy()
            if weight_decay:
                g = g + weight_decay * p
            clr = lr / (1 + (t - 1) * lr_decay)
            sums[i] = sums[i] + g * g
            params[i] = p - clr * g / (np.sqrt(sums[i]) + eps)
    return params


CASES = [
    (optim.SGD, ref_sgd, dict(lr=0.1)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    (optim.Adam, ref_adam, dict(lr=0.01)),
    (optim.Adam, ref_adam, dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    (optim.Adam, ref_adam, dict(lr=0.01, maximize=True)),
    (optim.AdamW, ref_adamw, dict(lr=0.01)),  # AdamW's default weight_decay is 1e-2
    (optim.AdamW, ref_adamw, dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, centered=True, maximize=True)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2,
                                      eps=1e-6, maximize=True)),
]
CASE_IDS = [f"{c[0].__name__}-{'-'.join(f'{k}={v}' for k, v in c[2].items())}" for c in CASES]


def _data(rng, steps, dtype=np.float64):
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return init, grads


def _run_step(cls, kw, init, grads_seq):
    params = [tg.tensor(a.copy(), requires_grad=True) for a in init]
    opt = cls(params, **kw)
    for grads in grads_seq:
        for p, g in zip(params, grads):
            p.grad = tg.tensor(g)
        opt.step()
    return params, opt


@pytest.mark.parametrize("cls,ref,kw", CASES, ids=CASE_IDS)
def test_step_matches_closed_form_float64(cls, ref, kw, rng):
    init, grads = _data(rng, 6)
    params, _ = _run_step(cls, kw, init, grads)
    expected = ref(init, grads, **kw)
    for p, e in zip(params, expected):
        assert p.dtype is tg.float64
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cls,ref,kw", CASES[1::3], ids=CASE_IDS[1::3])
def test_step_float32_stays_float32(cls, ref, kw, rng):
    init, grads = _data(rng, 4, np.float32)
    params, opt = _run_step(cls, kw, init, grads)
    expected = ref([a.astype(np.float64) for a in init], [[g.astype(np.float64) for g in gs] for gs in grads], **kw)
    for p, e in zip(params, expected):
        assert p.dtype is tg.float32
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-5, atol=1e-5)
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, tg.Tensor):
                assert v.dtype is tg.float32


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad])
def test_params_stay_leaves_and_update_in_place(cls, rng):
    p = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    ptr = p.data_ptr()
    opt = cls([p], lr=0.1)
    (p * p).sum().backward()
    before = p.detach().numpy().copy()
    opt.step()
    assert p.data_ptr() == ptr
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert not np.array_equal(p.detach().numpy(), before)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad])
def test_none_grad_skips_parameter(cls, rng):
    a, b = (tg.tensor(rng.standard_normal(3), requires_grad=True) for _ in range(2))
    opt = cls([a, b], lr=0.1, **({"momentum": 0.9} if cls is optim.SGD else {}))
    b_before = b.detach().numpy().copy()
    a.grad = tg.ones(3, dtype=tg.float64)
    opt.step()
    np.testing.assert_array_equal(b.detach().numpy(), b_before)
    assert b not in opt.state or not opt.state[b]
    assert a in opt.state and opt.state[a]


def test_one_cpp_call_per_group(monkeypatch, rng):
    calls = []
    real = tg._C._adam_step

    def spy(params, *args):
        calls.append(len(params))
        return real(params, *args)

    monkeypatch.setattr(tg._C, "_adam_step", spy)
    params = [tg.tensor(rng.standard_normal(4), requires_grad=True) for _ in range(5)]
    opt = optim.Adam([{"params": params[:3]}, {"params": params[3:], "lr": 0.1}], lr=0.01)
    for p in params:
        p.grad = tg.ones(4, dtype=tg.float64)
    opt.step()
    assert calls == [3, 2]


def test_step_closure_returns_loss(rng):
    p = tg.tensor(rng.standard_normal(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    before = p.detach().numpy().copy()
    loss = opt.step(closure)
    assert loss.item() == pytest.approx(float((before ** 2).sum()))
    np.testing.assert_allclose(p.detach().numpy(), before * 0.8, rtol=1e-12)


# ---------------------------------------------------------------- param groups
def test_param_groups_different_lrs(rng):
    a = tg.tensor(rng.standard_normal(3), requires_grad=True)
    b = tg.tensor(rng.standard_normal(3), requires_grad=True)
    a0, b0 = a.detach().numpy().copy(), b.detach().numpy().copy()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.0 and opt.param_groups[0]["params"][0] is a
    a.grad = tg.ones(3, dtype=tg.float64)
    b.grad = tg.ones(3, dtype=tg.float64)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), a0 - 0.1, rtol=1e-12)
    np.testing.assert_allclose(b.detach().numpy(), b0 - 0.5, rtol=1e-12)
    opt.param_groups[0]["lr"] = 1.0  # a changed hyper-parameter applies at the next step
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), a0 - 1.1, rtol=1e-12)


def test_add_param_group_and_validation(rng):
    a = tg.tensor(rng.standard_normal(3), requires_grad=True)
    b = tg.tensor(rng.standard_normal(3), requires_grad=True)
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": b, "lr": 0.1})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD([a], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)
    with pytest.raises(TypeError, match="floating"):
        optim.SGD([tg.tensor([1, 2])], lr=0.1)


def test_model_parameters_generator_accepted():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 4


# ---------------------------------------------------------------- zero_grad
def test_zero_grad_set_to_none_true_and_false(rng):
    p = tg.tensor(rng.standard_normal(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * 3).sum().backward()
    opt.zero_grad()  # default set_to_none=True
    assert p.grad is None
    (p * 3).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(3))
    (p * 2).sum().backward()  # accumulates into the zeroed gradient
    np.testing.assert_array_equal(p.grad.numpy(), np.full(3, 2.0))


def test_zero_grad_set_to_none_false_detaches_graph_grads(rng):
    p = tg.tensor(rng.standard_normal(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward(create_graph=True)
    assert p.grad.grad_fn is not None
    opt.zero_grad(set_to_none=False)
    assert p.grad.grad_fn is None
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(3))


# ---------------------------------------------------------------- state_dict
def _loss_grads(params, rng_seed, step):
    r = np.random.default_rng(rng_seed * 1000 + step)
    return [r.standard_normal(p.shape) for p in params]


@pytest.mark.parametrize("cls,kw", [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
])
@pytest.mark.parametrize("through_file", [False, True], ids=["in_memory", "tg_save_load"])
def test_state_dict_round_trip_continues_identically(cls, kw, through_file, rng, tmp_path):
    init = [rng.standard_normal(s) for s in SHAPES]
    params = [tg.tensor(a.copy(), requires_grad=True) for a in init]
    opt = cls([{"params": params[:1]}, {"params": params[1:], "lr": kw["lr"] * 2}], **kw)
    for step in range(3):
        for p, g in zip(params, _loss_grads(params, 1, step)):
            p.grad = tg.tensor(g)
        opt.step()
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1]
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    if through_file:
        save(sd, tmp_path / "opt.safetensors")
        sd = load(tmp_path / "opt.safetensors")
    # a second optimizer over copies of the parameters, loaded from the state dict
    params2 = [tg.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params]
    opt2 = cls([{"params": params2[:1]}, {"params": params2[1:]}], **kw)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == kw["lr"] * 2
    for step in range(3, 6):
        for ps in (params, params2):
            for p, g in zip(ps, _loss_grads(ps, 1, step)):
                p.grad = tg.tensor(g)
        opt.step()
        opt2.step()
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_state_dict_copies_and_checks_groups(rng):
    p = tg.tensor(rng.standard_normal(3), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = tg.ones(3, dtype=tg.float64)
    opt.step()
    sd = opt.state_dict()
    q = tg.tensor(rng.standard_normal(3), requires_grad=True)
    opt2 = optim.Adam([q], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.state[q]["step"] == 1
    assert opt2.state[q]["exp_avg"].data_ptr() != opt.state[p]["exp_avg"].data_ptr()
    with pytest.raises(ValueError, match="parameter group"):
        optim.Adam([q, tg.tensor([1.0], requires_grad=True)], lr=0.1).load_state_dict(sd)


# ---------------------------------------------------------------- tape idiom
@pytest.mark.parametrize("cls,ref,kw", [CASES[2], CASES[5], CASES[10], CASES[13]], ids=[
    CASE_IDS[2], CASE_IDS[5], CASE_IDS[10], CASE_IDS[13]])
def test_apply_gradients_with_tape_gradients(cls, ref, kw, rng):
    init = [rng.standard_normal(s) for s in SHAPES]
    targets = [rng.standard_normal(s) for s in SHAPES]
    variables = [tg.Variable(a.copy()) for a in init]
    opt = cls(variables, **kw)
    grads_seq = []
    for _ in range(4):
        current = [v.numpy().copy() for v in variables]
        with tg.GradientTape() as tape:
            loss = sum(((v - tg.tensor(t)) ** 2).sum() for v, t in zip(variables, targets))
        grads = tape.gradient(loss, variables)
        for g, c, t in zip(grads, current, targets):
            np.testing.assert_allclose(g.numpy(), 2 * (c - t), rtol=1e-12)
        grads_seq.append([g.numpy().copy() for g in grads])
        assert opt.apply_gradients(zip(grads, variables)) is None
    expected = ref(init, grads_seq, **kw)
    for v, e in zip(variables, expected):
        assert v.grad is None
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-12, atol=1e-13)
    assert opt.iterations == 4


def test_apply_gradients_same_as_step(rng):
    init = rng.standard_normal((3, 3))
    g = rng.standard_normal((3, 3))
    a = tg.tensor(init.copy(), requires_grad=True)
    b = tg.Variable(init.copy())
    oa, ob = optim.Adam([a], lr=0.01), optim.Adam([b], lr=0.01)
    for _ in range(3):
        a.grad = tg.tensor(g)
        oa.step()
        ob.apply_gradients([(tg.tensor(g), b)])
    np.testing.assert_array_equal(a.detach().numpy(), b.numpy())


def test_apply_gradients_keras_style_and_none(rng):
    v1, v2 = tg.Variable(np.ones(2)), tg.Variable(np.ones(3))
    opt = optim.SGD(lr=0.5)  # no variables until apply_gradients
    assert opt.param_groups == []
    opt.apply_gradients(zip([tg.tensor(np.ones(2)), None], [v1, v2]))
    np.testing.assert_allclose(v1.numpy(), [0.5, 0.5])
    np.testing.assert_allclose(v2.numpy(), [1.0, 1.0, 1.0])  # None gradient: skipped
    assert len(opt.param_groups) == 1 and len(opt.param_groups[0]["params"]) == 2
    with pytest.raises(ValueError, match="No gradients provided"):
        opt.apply_gradients([(None, v1), (None, v2)])
    with pytest.raises(ValueError, match="shape"):
        opt.apply_gradients([(tg.tensor(np.ones(3)), v1)])
    with pytest.raises(TypeError, match="pairs"):
        opt.apply_gradients([v1, v2])


def test_apply_gradients_with_a_model_and_tape(rng):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x = tg.tensor(rng.standard_normal((16, 4)).astype(np.float32))
    y = tg.tensor(rng.standard_normal((16, 1)).astype(np.float32))
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        with tg.GradientTape() as tape:
            loss = nn.functional.mse_loss(model(x), y)
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(g is not None for g in grads), "tape gave None gradients for Parameters"
        opt.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---------------------------------------------------------------- schedulers
def _opt(lrs=(0.1,)):
    groups = [{"params": [tg.tensor([1.0], requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=lrs[0])


def _lrs(opt, sched, n):
    out = [sched.get_last_lr()]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
        assert out[-1] == [g["lr"] for g in opt.param_groups]
    return out


def test_step_lr_sequence():
    opt = _opt((0.1, 0.4))
    got = _lrs(opt, lr_scheduler.StepLR(opt, step_size=3, gamma=0.5), 10)
    for e, lrs in enumerate(got):
        assert lrs == pytest.approx([0.1 * 0.5 ** (e // 3), 0.4 * 0.5 ** (e // 3)], rel=1e-12)


def test_exponential_lr_sequence():
    opt = _opt((0.2,))
    got = _lrs(opt, lr_scheduler.ExponentialLR(opt, gamma=0.9), 12)
    for e, lrs in enumerate(got):
        assert lrs[0] == pytest.approx(0.2 * 0.9 ** e, rel=1e-12)


def test_cosine_annealing_lr_sequence():
    opt = _opt((0.1, 0.01))
    t_max, eta_min = 10, 0.001
    got = _lrs(opt, lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min), 25)
    for e, lrs in enumerate(got):
        for base, lr in zip((0.1, 0.01), lrs):
            closed = eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2
            assert lr == pytest.approx(closed, rel=1e-9, abs=1e-12), (e, base)
    assert got[t_max][0] == pytest.approx(eta_min)


def test_lambda_lr_per_group_and_state_dict():
    opt = _opt((0.1, 0.3))
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1.0 / (e + 1), lambda e: 0.5 ** e])
    got = _lrs(opt, sched, 5)
    for e, lrs in enumerate(got):
        assert lrs == pytest.approx([0.1 / (e + 1), 0.3 * 0.5 ** e], rel=1e-12)
    sd = sched.state_dict()
    assert sd["last_epoch"] == 5 and sd["lr_lambdas"] == [None, None]
    opt2 = _opt((0.1, 0.3))
    sched2 = lr_scheduler.LambdaLR(opt2, [lambda e: 1.0 / (e + 1), lambda e: 0.5 ** e])
    sched2.load_state_dict(sd)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])


def test_scheduler_changes_the_update(rng):
    p = tg.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = tg.tensor(np.ones(1))
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.detach().numpy(), [-(1.0 + 0.5 + 0.25)])


def test_scheduler_step_with_epoch_uses_closed_form():
    opt = _opt((0.1,))
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    sched.step(4)
    assert sched.get_last_lr()[0] == pytest.approx(0.1 * 0.5 ** 4)
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
