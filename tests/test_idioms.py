"""The two idioms share one engine (SPEC §3, §4): the same training loop written with
autograd (requires_grad, backward(), .grad) and with GradientTape (Variable,
tape.gradient) gives the same parameters, and both match a NumPy reference with
hand-written backpropagation (float64)."""
import numpy as np

import tapegrad as tg

F64 = tg.float64
STEPS, LR = 50, 0.1


def data():
    r = np.random.default_rng(42)
    X = r.normal(size=(32, 4))
    Y = np.sin(X @ r.normal(size=(4, 1))) + 0.1 * r.normal(size=(32, 1))
    params = {
        "W1": r.normal(size=(4, 8)) * 0.5,
        "b1": r.normal(size=(8,)) * 0.1,
        "W2": r.normal(size=(8, 1)) * 0.5,
        "b2": np.zeros((1,)),
    }
    return X, Y, params


NAMES = ["W1", "b1", "W2", "b2"]


def forward(X, W1, b1, W2, b2, Y):
    h = tg.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d = out - Y
    return (d * d).mean()


def train_autograd():
    X0, Y0, init = data()
    X, Y = tg.tensor(X0, dtype=F64), tg.tensor(Y0, dtype=F64)
    ps = [tg.tensor(init[n], dtype=F64, requires_grad=True) for n in NAMES]
    losses = []
    for _ in range(STEPS):
        loss = forward(X, *ps, Y)
        losses.append(loss.item())
        loss.backward()
        with tg.no_grad():
            for p in ps:
                p.sub_(LR * p.grad)
        for p in ps:
            p.grad = None
    return [np.array(p.detach().numpy(), copy=True) for p in ps], losses


def train_tape():
    X0, Y0, init = data()
    X, Y = tg.constant(X0, dtype=F64), tg.constant(Y0, dtype=F64)
    vs = [tg.Variable(init[n], dtype=F64, name=n) for n in NAMES]
    losses = []
    for _ in range(STEPS):
        with tg.GradientTape() as tape:
            loss = forward(X, *vs, Y)
        losses.append(loss.item())
        grads = tape.gradient(loss, vs)
        with tg.no_grad():
            for v, g in zip(vs, grads):
                v.assign_sub(LR * g)
    for v in vs:
        assert v.grad is None  # the tape never writes .grad
        assert isinstance(v, tg.Variable) and v.is_leaf
    return [np.array(v.numpy(), copy=True) for v in vs], losses


def train_numpy():
    X, Y, init = data()
    W1, b1, W2, b2 = (init[n].copy() for n in NAMES)
    n = Y.size
    losses = []
    for _ in range(STEPS):
        h = np.tanh(X @ W1 + b1)
        out = h @ W2 + b2
        d = out - Y
        losses.append((d * d).mean())
        g_out = 2.0 * d / n
        gW2 = h.T @ g_out
        gb2 = g_out.sum(0)
        g_h = g_out @ W2.T
        g_pre = g_h * (1 - h**2)
        gW1 = X.T @ g_pre
        gb1 = g_pre.sum(0)
        W1 -= LR * gW1
        b1 -= LR * gb1
        W2 -= LR * gW2
        b2 -= LR * gb2
    return [W1, b1, W2, b2], losses


def test_autograd_and_tape_training_loops_agree():
    pa, la = train_autograd()
    pt, lt = train_tape()
    for name, a, t in zip(NAMES, pa, pt):
        np.testing.assert_allclose(t, a, rtol=1e-13, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(lt, la, rtol=1e-13, atol=1e-14)
    # the loop actually trained
    assert la[-1] < 0.5 * la[0]
    # and the parameters moved
    _, _, init = data()
    for name, a in zip(NAMES, pa):
        assert not np.allclose(a, init[name]), name


def test_both_idioms_match_numpy_backprop():
    pa, la = train_autograd()
    pt, lt = train_tape()
    pn, ln = train_numpy()
    for name, a, t, r in zip(NAMES, pa, pt, pn):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12, err_msg=f"autograd {name}")
        np.testing.assert_allclose(t, r, rtol=1e-10, atol=1e-12, err_msg=f"tape {name}")
    np.testing.assert_allclose(la, ln, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lt, ln, rtol=1e-10, atol=1e-12)


def test_one_step_gradients_identical_across_idioms():
    X0, Y0, init = data()
    X, Y = tg.tensor(X0, dtype=F64), tg.tensor(Y0, dtype=F64)
    ps = [tg.tensor(init[n], dtype=F64, requires_grad=True) for n in NAMES]
    forward(X, *ps, Y).backward()
    vs = [tg.Variable(init[n], dtype=F64) for n in NAMES]
    with tg.GradientTape() as tape:
        loss = forward(X, *vs, Y)
    grads = tape.gradient(loss, vs)
    for name, p, g in zip(NAMES, ps, grads):
        assert g.shape == p.shape and g.dtype is F64
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-14, atol=1e-15, err_msg=name)
