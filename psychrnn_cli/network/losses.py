"""Masked losses, as PsychRNN defines them (Ehrlich et al. 2021). Arguments are ``[B, N_steps, N_out]`` tensors.

A custom loss is any importable callable ``(outputs, targets, mask) -> scalar``, selected with
``loss._target_=my_module.my_loss``.
"""

from __future__ import annotations

import tensorflow as tf


def mse(outputs: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over all B * N_steps * N_out entries of ``(mask * (z - y))^2`` (PsychRNN's definition)."""
    return tf.reduce_mean(tf.square(mask * (outputs - targets)))


def bce(outputs: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Masked binary cross-entropy of ``clip(z, 1e-7, 1 - 1e-7)`` against the targets.

    Mean over all entries of ``-mask * (y log z + (1 - y) log(1 - z))``.
    """
    z = tf.clip_by_value(outputs, 1e-7, 1 - 1e-7)
    return tf.reduce_mean(-mask * (targets * tf.math.log(z) + (1 - targets) * tf.math.log(1 - z)))
