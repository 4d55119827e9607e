"""Second derivatives, in both idioms: f(x) = x**3 * sin(x).

    python examples/second_derivative.py

autograd idiom: tg.grad(..., create_graph=True) makes the gradient differentiable.
tape idiom: nest GradientTapes; the outer tape records the inner tape's gradient.
"""
import math

import tapegrad as tg


def f(x):
    return x ** 3 * tg.sin(x)


def exact(x0):
    d1 = 3 * x0 ** 2 * math.sin(x0) + x0 ** 3 * math.cos(x0)
    d2 = 6 * x0 * math.sin(x0) + 6 * x0 ** 2 * math.cos(x0) - x0 ** 3 * math.sin(x0)
    return d1, d2


def autograd_idiom(x0):
    x = tg.tensor(x0, dtype=tg.float64, requires_grad=True)
    (d1,) = tg.grad(f(x), x, create_graph=True)
    (d2,) = tg.grad(d1, x)
    return d1.item(), d2.item()


def tape_idiom(x0):
    v = tg.Variable(x0, dtype=tg.float64)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = f(v)
        d1 = inner.gradient(y, v)
    d2 = outer.gradient(d1, v)
    return d1.item(), d2.item()


def main(x0=1.3, verbose=True):
    results = {"exact": exact(x0), "autograd": autograd_idiom(x0), "tape": tape_idiom(x0)}
    if verbose:
        for name, (d1, d2) in results.items():
            print(f"{name:8s}: f'({x0}) = {d1:.12f}   f''({x0}) = {d2:.12f}")
    return results


if __name__ == "__main__":
    main()
