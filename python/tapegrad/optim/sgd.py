"""SGD with momentum, dampening, weight decay and Nesterov momentum (torch.optim.SGD)."""
from .. import _C
from .optimizer import Optimizer, _check, _check_numbers


class SGD(Optimizer):
    """Stochastic gradient descent, with torch.optim.SGD's arithmetic:

        g = grad + weight_decay * p
        buf = g                                   (first step)
        buf = momentum * buf + (1 - dampening) * g (later steps)
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    (``maximize=True`` negates the gradient first). All the parameters of a group are
    updated by one C++ call."""

    def __init__(self, params=None, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        self._check_hyperparameters(defaults)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _check_numbers(group, "lr", "momentum", "dampening", "weight_decay")
        _check(group["lr"] >= 0.0, f"Invalid learning rate: {group['lr']}")
        _check(group["momentum"] >= 0.0, f"Invalid momentum value: {group['momentum']}")
        _check(group["weight_decay"] >= 0.0, f"Invalid weight_decay value: {group['weight_decay']}")
        _check(not group["nesterov"] or (group["momentum"] > 0 and group["dampening"] == 0),
               "Nesterov momentum requires a momentum and zero dampening")

    def _update_group(self, group, params, grads):
        bufs = [self.state.get(p, {}).get("momentum_buffer") for p in params]
        new_bufs = _C._sgd_step(params, grads, bufs, float(group["lr"]), float(group["momentum"]),
                                float(group["dampening"]), float(group["weight_decay"]), bool(group["nesterov"]),
                                bool(group["maximize"]))
        if group["momentum"] != 0:
            for p, b in zip(params, new_bufs):
                self.state[p]["momentum_buffer"] = b
