"""Gradient clipping, PyTorch style and TensorFlow style, on the same gradients.

    python examples/clipping.py

* tg.nn.utils.clip_grad_norm_(params, max_norm): in place on .grad, scales by
  max_norm / (total_norm + 1e-6) when that is below 1, returns the norm before clipping.
* tg.clip_by_global_norm(grads, clip_norm): returns new tensors scaled by
  clip_norm / max(global_norm, clip_norm), and the global norm; None passes through.
* tg.nn.utils.clip_grad_value_ / tg.clip_by_value: elementwise clamps.
"""
import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad.clip import clip_by_global_norm, clip_by_value
from tapegrad.nn.utils import clip_grad_norm_, clip_grad_value_


def main(max_norm=1.0, verbose=True):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
    x = tg.randn(64, 10) * 10.0
    target = tg.randn(64, 1)

    # PyTorch idiom: backward fills .grad; clip in place before opt.step().
    nn.functional.mse_loss(model(x), target).backward()
    norm_before = clip_grad_norm_(model.parameters(), max_norm)
    norm_after = float(np.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum())
                                   for p in model.parameters())))

    # TensorFlow idiom: the tape's gradients are clipped into new tensors.
    variables = model.trainable_variables
    with tg.GradientTape() as tape:
        loss = nn.functional.mse_loss(model(x), target)
    grads = tape.gradient(loss, variables)
    clipped, global_norm = clip_by_global_norm(grads + [None], max_norm)
    clipped_norm = float(np.sqrt(sum(float((g.numpy().astype(np.float64) ** 2).sum())
                                     for g in clipped if g is not None)))

    # elementwise
    clip_grad_value_(model.parameters(), 0.01)
    largest = max(float(np.abs(p.grad.numpy()).max()) for p in model.parameters())
    by_value = clip_by_value(grads[0], -0.01, 0.01)

    if verbose:
        print(f"clip_grad_norm_:      norm before {norm_before.item():.4f}, after {norm_after:.4f}")
        print(f"clip_by_global_norm:  global norm {global_norm.item():.4f}, clipped norm {clipped_norm:.4f}, "
              f"None entry kept: {clipped[-1] is None}")
        print(f"clip_grad_value_:     largest |grad| {largest:.4f}; "
              f"clip_by_value range [{by_value.numpy().min():.4f}, {by_value.numpy().max():.4f}]")
    return {"norm_before": norm_before.item(), "norm_after": norm_after, "global_norm": global_norm.item(),
            "clipped_norm": clipped_norm, "largest_after_value_clip": largest}


if __name__ == "__main__":
    main()
