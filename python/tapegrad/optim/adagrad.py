"""Adagrad, with torch.optim.Adagrad's arithmetic."""
from .. import _C
from .optimizer import Optimizer, _check, _check_numbers


class Adagrad(Optimizer):
    """Adagrad as torch.optim.Adagrad (``lr_decay``, ``initial_accumulator_value``,
    ``maximize``); all the parameters of a group are updated by one C++ call."""

    def __init__(self, params=None, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        self._check_hyperparameters(defaults)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _check_numbers(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
        _check(group["lr"] >= 0.0, f"Invalid learning rate: {group['lr']}")
        _check(group["lr_decay"] >= 0.0, f"Invalid lr_decay value: {group['lr_decay']}")
        _check(group["weight_decay"] >= 0.0, f"Invalid weight_decay value: {group['weight_decay']}")
        _check(group["initial_accumulator_value"] >= 0.0,
               f"Invalid initial_accumulator_value value: {group['initial_accumulator_value']}")
        _check(group["eps"] >= 0.0, f"Invalid epsilon value: {group['eps']}")

    def _update_group(self, group, params, grads):
        sums, steps = [], []
        for p in params:
            st = self.state[p]
            if not st:
                st["step"] = 0
                st["sum"] = _C.full(p.shape, float(group["initial_accumulator_value"]), dtype=p.dtype)
            st["step"] = int(st["step"]) + 1
            sums.append(st["sum"])
            steps.append(st["step"])
        _C._adagrad_step(params, grads, sums, steps, float(group["lr"]), float(group["lr_decay"]),
                         float(group["weight_decay"]), float(group["eps"]), bool(group["maximize"]))
