"""RMSprop, with torch.optim.RMSprop's arithmetic."""
from .. import _C
from .optimizer import Optimizer, _check, _check_numbers, _zeros_like


class RMSprop(Optimizer):
    """RMSprop as torch.optim.RMSprop (``centered``, ``momentum``, ``maximize``); all the
    parameters of a group are updated by one C++ call."""

    def __init__(self, params=None, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *,
                 maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        self._check_hyperparameters(defaults)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _check_numbers(group, "lr", "alpha", "eps", "weight_decay", "momentum")
        _check(group["lr"] >= 0.0, f"Invalid learning rate: {group['lr']}")
        _check(group["eps"] >= 0.0, f"Invalid epsilon value: {group['eps']}")
        _check(group["momentum"] >= 0.0, f"Invalid momentum value: {group['momentum']}")
        _check(group["weight_decay"] >= 0.0, f"Invalid weight_decay value: {group['weight_decay']}")
        _check(group["alpha"] >= 0.0, f"Invalid alpha value: {group['alpha']}")

    def _update_group(self, group, params, grads):
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        square_avgs, bufs, grad_avgs = [], [], []
        for p in params:
            st = self.state[p]
            if not st:
                st["step"] = 0
                st["square_avg"] = _zeros_like(p)
            if momentum > 0 and st.get("momentum_buffer") is None:
                st["momentum_buffer"] = _zeros_like(p)
            if centered and st.get("grad_avg") is None:
                st["grad_avg"] = _zeros_like(p)
            st["step"] = int(st["step"]) + 1
            square_avgs.append(st["square_avg"])
            bufs.append(st.get("momentum_buffer") if momentum > 0 else None)
            grad_avgs.append(st.get("grad_avg") if centered else None)
        _C._rmsprop_step(params, grads, square_avgs, bufs, grad_avgs, float(group["lr"]), float(group["alpha"]),
                         float(group["eps"]), float(group["weight_decay"]), momentum, centered,
                         bool(group["maximize"]))
