"""The basic rate RNN (SPEC section 2) in TensorFlow 2.

    x[t+1] = (1 - alpha) x[t] + alpha (W_rec r[t] + W_in u[t] + b_rec) + sqrt(2 alpha) rec_noise xi[t]
    r[t] = f(x[t]),  z[t+1] = W_out r[t+1] + b_out

The loop over time is unrolled in Python while ``tf.function`` traces it once, so a compiled
graph, not Python, steps through time during training. The input and noise terms of all steps
are computed in one matrix product before the loop and the readout in one after it, leaving only
the recurrent product inside.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from psychrnn_cli.masks import Constraints, effective_weights
from psychrnn_cli.network import functions

PARAMETER_NAMES = ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state")


class BasicRNN(tf.Module):
    """Rate network with connectivity masks and Dale's principle.

    Args:
        weights: initial raw parameters (see :mod:`psychrnn_cli.initializers` for names and shapes).
        constraints: masks and Dale signs; the forward pass uses the effective weights.
        alpha: dt / tau.
        rec_noise: standard deviation scale of the recurrent noise (0 turns it off).
        transfer_function: name of f, see :func:`~psychrnn_cli.network.functions.transfer_function`.
        trainable: per-parameter flag; a parameter set to False is a constant.
    """

    kind = "basic"

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        constraints: Constraints,
        alpha: float,
        rec_noise: float = 0.0,
        transfer_function: str = "relu",
        trainable: dict[str, bool] | None = None,
    ) -> None:
        super().__init__(name=self.kind)
        trainable = trainable or {}
        self.params = {
            name: tf.Variable(weights[name], name=name, trainable=trainable.get(name, True), dtype=tf.float32)
            for name in PARAMETER_NAMES
        }
        self.constraints = constraints
        self.alpha = float(alpha)
        self.rec_noise = float(rec_noise)
        self.transfer_function_name = transfer_function
        self.f = functions.transfer_function(transfer_function)
        self.N_rec, self.N_in = weights["W_in"].shape
        self.N_out = weights["W_out"].shape[0]

    @property
    def trainable_params(self) -> list[tf.Variable]:
        return [v for v in self.params.values() if v.trainable]

    def effective(self) -> dict[str, tf.Tensor]:
        """The parameters the forward pass uses (masks and Dale applied)."""
        return effective_weights(self.params, self.constraints)

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """Raw parameters as NumPy arrays."""
        return {name: v.numpy() for name, v in self.params.items()}

    def __call__(self, inputs: tf.Tensor, noise: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Run the network over a batch of trials.

        Args:
            inputs: ``[B, N_steps, N_in]``.
            noise: standard normal ``[B, N_steps, N_rec]``, or None for a noiseless pass.

        Returns:
            outputs ``[B, N_steps, N_out]`` (z[1..T]) and states ``[B, N_steps, N_rec]`` (x[1..T]).
        """
        w = self.effective()
        alpha = self.alpha
        drive = alpha * (tf.einsum("btn,rn->btr", inputs, w["W_in"]) + w["b_rec"])
        if noise is not None and self.rec_noise > 0:
            drive += math.sqrt(2 * alpha) * self.rec_noise * noise
        rec_weights = alpha * tf.transpose(w["W_rec"])  # r @ (alpha W_rec^T) = alpha W_rec r
        x = tf.broadcast_to(w["init_state"], tf.stack([tf.shape(inputs)[0], self.N_rec]))
        rate = self.f(x)
        states, rates = [], []
        for drive_t in tf.unstack(drive, axis=1):
            x = (1 - alpha) * x + tf.matmul(rate, rec_weights) + drive_t
            rate = self.f(x)
            states.append(x)
            rates.append(rate)
        states, rates = tf.stack(states, axis=1), tf.stack(rates, axis=1)
        outputs = tf.einsum("btr,or->bto", rates, w["W_out"]) + w["b_out"]
        return outputs, states
