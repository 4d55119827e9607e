"""A first look at tapegrad: the autograd idiom, NumPy interop and a matmul.

    pip install . && python examples/quickstart.py
"""
import numpy as np

import tapegrad as tg

# --- autograd idiom: record ops on tensors that require grad, then sweep backwards ---
x = tg.tensor(2.0, requires_grad=True)
y = x**2 + 3 * x
y.backward()
print("y = x**2 + 3*x at x = 2:", y.item())
print("dy/dx = 2*x + 3        :", x.grad)  # tensor(7.)
assert abs(x.grad.item() - 7.0) < 1e-6

# --- NumPy interop and a matmul: fit w in X @ w ~ t by a few steps of gradient descent ---
rng = np.random.default_rng(0)
X_np = rng.normal(size=(64, 3)).astype(np.float32)
true_w = np.array([1.5, -2.0, 0.5], dtype=np.float32)
t_np = X_np @ true_w

X = tg.tensor(X_np)                                  # a copy of the array (tg.from_numpy shares memory)
t = tg.tensor(t_np)
w = tg.zeros((3,), requires_grad=True)

for step in range(200):
    residual = X @ w - t                             # (64, 3) @ (3,) -> (64,)
    loss = (residual * residual).mean()
    loss.backward()
    with tg.no_grad():
        w -= 0.1 * w.grad                            # an in-place update outside the graph
    w.grad = None                                    # zero the gradient for the next step

print("loss after 200 steps   :", loss.item())
print("fitted w               :", w.numpy(), " (true:", true_w, ")")
assert np.allclose(w.numpy(), true_w, atol=1e-3)

# Results go back to NumPy with .numpy() or np.asarray(t).
print("X @ w (first 3 rows)   :", np.asarray(X @ w)[:3])
