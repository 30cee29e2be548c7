"""Masked losses (SPEC section 4). Arguments are ``[B, N_steps, N_out]`` tensors."""

from __future__ import annotations

import tensorflow as tf


def mse(outputs: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over all B * N_steps * N_out entries of ``(mask * (z - y))^2`` (PsychRNN's definition)."""
    return tf.reduce_mean(tf.square(mask * (outputs - targets)))
