"""The array operations model kinds compute with (see :mod:`psychrnn_cli.models`), in TensorFlow."""

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


class TensorOps:
    """The operations namespace of a model, float32 tensors; ``f`` is the model's transfer function."""

    matmul = staticmethod(tf.matmul)
    transpose = staticmethod(tf.transpose)
    sigmoid = staticmethod(tf.sigmoid)
    tanh = staticmethod(tf.tanh)
    exp = staticmethod(tf.exp)
    maximum = staticmethod(tf.maximum)
    minimum = staticmethod(tf.minimum)
    zeros_like = staticmethod(tf.zeros_like)
    ones_like = staticmethod(tf.ones_like)

    def __init__(self, transfer: str) -> None:
        self.f = transfer_function(transfer)

    @staticmethod
    def nonzero(x: tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.not_equal(x, 0), x.dtype)

    @staticmethod
    def spike(x: tf.Tensor, slope: float) -> tf.Tensor:
        """Heaviside ``x > 0`` (1.0 or 0.0) with the fast-sigmoid surrogate derivative
        ``1 / (1 + slope |x|)^2`` (Zenke and Ganguli 2018; Neftci, Mostafa and Zenke 2019)."""

        @tf.custom_gradient
        def heaviside(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
            return tf.cast(x > 0, x.dtype), lambda dy: dy / tf.square(1.0 + slope * tf.abs(x))

        return heaviside(x)

    @staticmethod
    def concat(arrays: list[tf.Tensor]) -> tf.Tensor:
        return tf.concat(arrays, axis=-1)

    @staticmethod
    def split(x: tf.Tensor, n: int) -> list[tf.Tensor]:
        return tf.split(x, n, axis=-1)
