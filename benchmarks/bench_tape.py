"""W1, W3 and W8 (shared/BENCHMARKS.md) through tg.GradientTape against the autograd idiom.

Both idioms run in the same process on the same engine, alternating round by round (the
ratio is the median of the per-round ratios); the SPEC asks the tape to stay
within 1.2x of the autograd idiom (and far below TensorFlow's eager tape, whose figures are
in BENCHMARKS.md: W1 46.1 us/op, W3 3,202 us/step, W8 1,268 us/HVP).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_tape.py
"""
import os
import statistics
import sys

import numpy as np

import tapegrad as tg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import bench  # noqa: E402


TF_EAGER = {"W1": 46.1, "W3": 3202.0, "W8": 1268.0}


def paired(autograd, tape, rounds=21):
    """Median seconds per call of each idiom and the median of the per-round ratios. The
    two alternate round by round, so a change of machine load hits both alike."""
    ta, tt = [], []
    for _ in range(rounds):
        ta.append(bench(autograd, reps=1, min_time=0.03)[0])
        tt.append(bench(tape, reps=1, min_time=0.03)[0])
    return statistics.median(ta), statistics.median(tt), statistics.median(b / a for a, b in zip(ta, tt))


def chain(x, n=300):
    ops = [lambda v: v * 0.9, lambda v: v + 0.1, tg.sin, lambda v: v * 0.5, tg.exp, lambda v: v - 1.0]
    for i in range(n):
        x = ops[i % 6](x)
    return x


def w1():
    x0 = np.random.default_rng(1).uniform(0.2, 0.8)
    x = tg.tensor(x0, requires_grad=True)
    v = tg.Variable(x0)

    def autograd():
        x.grad = None
        tg.sum(chain(x)).backward()
        return x.grad

    def tape():
        with tg.GradientTape() as t:
            loss = tg.sum(chain(v))
        return t.gradient(loss, v)

    return autograd, tape, 300, "us/op"


def w3():
    rng = np.random.default_rng(3)
    sizes = [64, 128, 10]
    init = []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        init += [rng.standard_normal((fi, fo)).astype(np.float32) * np.sqrt(2 / fi), np.zeros(fo, np.float32)]
    drng = np.random.default_rng(103)
    X = tg.tensor(drng.standard_normal((32, 64)).astype(np.float32))
    y = tg.tensor(drng.integers(0, 10, 32))

    def loss_of(p):
        h = tg.relu(X @ p[0] + p[1])
        return tg.nn.functional.cross_entropy(h @ p[2] + p[3], y)

    params = [tg.tensor(a, requires_grad=True) for a in init]
    opt_a = tg.optim.SGD(params, lr=0.01)
    variables = [tg.Variable(a) for a in init]
    opt_t = tg.optim.SGD(variables, lr=0.01)

    def autograd():
        opt_a.zero_grad()
        loss_of(params).backward()
        opt_a.step()

    def tape():
        with tg.GradientTape() as t:
            loss = loss_of(variables)
        opt_t.apply_gradients(zip(t.gradient(loss, variables), variables))

    return autograd, tape, 1, "us/step"


def w8():
    rng = np.random.default_rng(8)
    x_np = rng.standard_normal(1000).astype(np.float32)
    v = tg.tensor(rng.standard_normal(1000).astype(np.float32))
    x = tg.tensor(x_np, requires_grad=True)
    xv = tg.Variable(x_np)

    def f(t):
        return tg.sum(tg.tanh(t) ** 3)

    def autograd():
        g, = tg.grad(f(x), x, create_graph=True)
        hv, = tg.grad(tg.sum(g * v), x)
        return hv

    def tape():
        with tg.GradientTape() as outer:
            with tg.GradientTape() as inner:
                y = f(xv)
            g = inner.gradient(y, xv)
            s = tg.sum(g * v)
        return outer.gradient(s, xv)

    a, t = autograd(), tape()
    assert np.allclose(a.numpy(), t.numpy(), rtol=1e-5, atol=1e-6), "tape and autograd HVPs differ"
    return autograd, tape, 1, "us/HVP"


def main():
    print(f"{'W':3} {'unit':8} {'autograd':>10} {'tape':>10} {'tape/autograd':>14} {'TF eager':>10} {'TF/tape':>8}")
    for name, make in (("W1", w1), ("W3", w3), ("W8", w8)):
        autograd, tape, per, unit = make()
        ta, tt, ratio = paired(autograd, tape)
        ta, tt = ta / per * 1e6, tt / per * 1e6
        tf = TF_EAGER[name]
        print(f"{name:3} {unit:8} {ta:10.3f} {tt:10.3f} {ratio:14.3f} {tf:10.1f} {tf / tt:8.1f}")


if __name__ == "__main__":
    main()
