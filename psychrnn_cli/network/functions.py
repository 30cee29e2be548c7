"""Transfer functions by name."""

from __future__ import annotations

import importlib
from typing import Callable

import tensorflow as tf

TRANSFER_FUNCTIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu,
    "tanh": tf.math.tanh,
    "sigmoid": tf.math.sigmoid,
    "softplus": tf.math.softplus,
    "linear": tf.identity,
}


def transfer_function(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The elementwise function called ``name``: a short name (relu, tanh, sigmoid, softplus,
    linear) or a dotted path into TensorFlow such as ``tf.nn.elu`` or ``tf.math.erf``."""
    if name in TRANSFER_FUNCTIONS:
        return TRANSFER_FUNCTIONS[name]
    module_path, _, attr = name.rpartition(".")
    if module_path.startswith("tf.") or module_path == "tf":
        module_path = "tensorflow" + module_path[2:]
    try:
        return getattr(importlib.import_module(module_path), attr)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(
            f"unknown transfer function {name!r}: use one of {sorted(TRANSFER_FUNCTIONS)} "
            "or a dotted TensorFlow name such as tf.nn.elu"
        ) from None
