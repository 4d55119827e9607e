"""tapegrad.autograd: custom Functions, gradient checking and functional transforms.

* `Function` (with `FunctionCtx`): custom differentiable operations, as in PyTorch.
* `gradcheck`, `gradgradcheck`, `GradcheckError`: finite-difference checks in float64.
* `functional`: `jacobian, hessian, vjp, jvp, hvp, vhp`.
"""
from . import functional
from .function import Function, FunctionCtx
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["Function", "FunctionCtx", "GradcheckError", "functional", "gradcheck", "gradgradcheck"]
