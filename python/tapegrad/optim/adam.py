"""Adam (with AMSGrad) and AdamW, with torch.optim.Adam / AdamW's arithmetic."""
from .. import _C
from .optimizer import Optimizer, _check, _check_numbers, _zeros_like


class Adam(Optimizer):
    """Adam, as torch.optim.Adam (``amsgrad``, ``maximize``; ``decoupled_weight_decay=True``
    is AdamW). The step count is kept per parameter; all the parameters of a group are
    updated by one C++ call."""

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        self._check_hyperparameters(defaults)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        _check_numbers(group, "lr", "eps", "weight_decay")
        _check(group["lr"] >= 0.0, f"Invalid learning rate: {group['lr']}")
        _check(group["eps"] >= 0.0, f"Invalid epsilon value: {group['eps']}")
        betas = group["betas"]
        _check(isinstance(betas, (tuple, list)) and len(betas) == 2, f"betas must be a pair, got {betas!r}")
        _check_numbers({"betas[0]": betas[0], "betas[1]": betas[1]}, "betas[0]", "betas[1]")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(group["weight_decay"] >= 0.0, f"Invalid weight_decay value: {group['weight_decay']}")

    def _update_group(self, group, params, grads):
        amsgrad = bool(group["amsgrad"])
        exp_avgs, exp_avg_sqs, max_sqs, steps = [], [], [], []
        for p in params:
            st = self.state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = _zeros_like(p)
                st["exp_avg_sq"] = _zeros_like(p)
                if amsgrad:
                    st["max_exp_avg_sq"] = _zeros_like(p)
            elif amsgrad and st.get("max_exp_avg_sq") is None:
                st["max_exp_avg_sq"] = _zeros_like(p)
            st["step"] = int(st["step"]) + 1
            exp_avgs.append(st["exp_avg"])
            exp_avg_sqs.append(st["exp_avg_sq"])
            max_sqs.append(st.get("max_exp_avg_sq") if amsgrad else None)
            steps.append(st["step"])
        beta1, beta2 = group["betas"]
        _C._adam_step(params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps, float(group["lr"]), float(beta1),
                      float(beta2), float(group["eps"]), float(group["weight_decay"]), amsgrad,
                      bool(group["decoupled_weight_decay"]), bool(group["maximize"]))


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): ``p *= 1 - lr * weight_decay``
    before the Adam update."""

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)
