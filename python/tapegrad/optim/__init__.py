"""tg.optim: optimizers whose updates run in C++ kernels, with torch.optim's numerics.

``SGD, Adam, AdamW, RMSprop, Adagrad``, each with ``step()``, ``zero_grad(set_to_none=True)``,
``apply_gradients(zip(grads, variables))`` (tape idiom), ``param_groups``,
``state_dict()`` / ``load_state_dict()``; ``tg.optim.lr_scheduler``.
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
