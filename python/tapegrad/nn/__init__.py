"""tg.nn: Module, Parameter, layers, losses, functional, init and gradient-clipping utils."""
from . import functional, init, utils
from .layers import (BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding, Flatten, GELU, Identity, LayerNorm,
                     LeakyReLU, Linear, LogSoftmax, MSELoss, ReLU, Sequential, Sigmoid, Softmax, Tanh)
from .module import Module, Parameter

__all__ = ["Module", "Parameter", "Identity", "Linear", "ReLU", "Tanh", "Sigmoid", "GELU", "LeakyReLU", "Softmax",
           "LogSoftmax", "Flatten", "Dropout", "Sequential", "Embedding", "LayerNorm", "MSELoss", "CrossEntropyLoss",
           "BCEWithLogitsLoss", "functional", "init", "utils"]
