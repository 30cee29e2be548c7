"""Keras optimizers for the optimizer objects PsychRNN's ``train_params`` accepted (TensorFlow 1's
``tf.compat.v1.train`` optimizers), used by :mod:`psychrnn_cli.compat`."""

from __future__ import annotations

from typing import Any

import keras


def keras_optimizer(optimizer: Any, learning_rate: float) -> Any:
    """A Keras optimizer for PsychRNN's ``optimizer`` setting: None gives Adam at ``learning_rate``
    (with TensorFlow 1's epsilon, 1e-8, as PsychRNN's), a Keras optimizer is returned as it is, a
    ``tf.compat.v1.train`` Adam, GradientDescent, Momentum or RMSProp optimizer is converted with
    its settings. Any other object: None."""
    if optimizer is None:
        return keras.optimizers.Adam(learning_rate, epsilon=1e-8)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    kind, a = type(optimizer).__name__, getattr(optimizer, "__dict__", {})
    if kind == "AdamOptimizer":
        return keras.optimizers.Adam(a["_lr"], beta_1=a["_beta1"], beta_2=a["_beta2"], epsilon=a["_epsilon"])
    if kind == "GradientDescentOptimizer":
        return keras.optimizers.SGD(a["_learning_rate"])
    if kind == "MomentumOptimizer":
        return keras.optimizers.SGD(a["_learning_rate"], momentum=a["_momentum"], nesterov=a["_use_nesterov"])
    if kind == "RMSPropOptimizer":
        return keras.optimizers.RMSprop(a["_learning_rate"], rho=a["_decay"], momentum=a["_momentum"],
                                        epsilon=a["_epsilon"])
    return None
