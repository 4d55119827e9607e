"""Gradient accumulation: several micro-batches, one optimizer step, in both idioms.

    python examples/grad_accumulation.py

autograd idiom: ``.grad`` accumulates across backward() calls until zero_grad(), so
backward each micro-batch's loss divided by the number of micro-batches, then step().
tape idiom: tape.gradient returns fresh gradients each time; add them up yourself, then
apply_gradients. Both give the full-batch gradient (checked below).
"""
import numpy as np

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.nn import functional as F


def make_problem(seed=0, n=96, features=8, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(features, 16), nn.Tanh(), nn.Linear(16, classes))
    return model, x, y


def full_batch_grads(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(tg.tensor(x)), tg.tensor(y)).backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    return grads


def accumulate_autograd(model, x, y, micro_batches):
    """Returns the accumulated .grad arrays (before the optimizer step)."""
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad()
    for xb, yb in zip(np.array_split(x, micro_batches), np.array_split(y, micro_batches)):
        loss = F.cross_entropy(model(tg.tensor(xb)), tg.tensor(yb)) / micro_batches
        loss.backward()  # adds into p.grad
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    opt.step()
    opt.zero_grad()
    return grads


def accumulate_tape(model, x, y, micro_batches):
    variables = model.trainable_variables
    opt = optim.SGD(lr=0.1)  # Keras style: the variables come with apply_gradients
    total = None
    for xb, yb in zip(np.array_split(x, micro_batches), np.array_split(y, micro_batches)):
        with tg.GradientTape() as tape:
            loss = F.cross_entropy(model(tg.tensor(xb)), tg.tensor(yb)) / micro_batches
        grads = tape.gradient(loss, variables)
        total = grads if total is None else [a + b for a, b in zip(total, grads)]
    result = [g.numpy().copy() for g in total]
    opt.apply_gradients(zip(total, variables))
    return result


def main(micro_batches=4, verbose=True):
    """Returns the largest difference between accumulated and full-batch gradients per idiom."""
    out = {}
    for idiom, fn in (("autograd", accumulate_autograd), ("tape", accumulate_tape)):
        model, x, y = make_problem()
        reference = full_batch_grads(model, x, y)
        accumulated = fn(model, x, y, micro_batches)
        out[idiom] = max(float(np.abs(a - b).max()) for a, b in zip(accumulated, reference))
        if verbose:
            print(f"{idiom:8s}: {micro_batches} micro-batches vs full batch, max |difference| = {out[idiom]:.2e}")
    return out


if __name__ == "__main__":
    main()
