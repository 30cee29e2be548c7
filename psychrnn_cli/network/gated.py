"""LSTM and GRU models with a linear readout ``z = W_out h + b_out`` (SPEC section 2).

Keras-style cells. Rows of ``W_in``, ``W_rec`` and ``b_rec`` stack the gates' blocks of N_rec
(LSTM: input, forget, cell, output; GRU: update, reset, candidate). The transfer function (default
tanh) replaces tanh in the candidate and, for the LSTM, in ``h = o * f(c)``. Recurrent noise
``sqrt(2 alpha) rec_noise xi[t]`` is added to the candidate's pre-activation. Connectivity masks
apply to every gate's block; Dale's principle is not supported.
"""

from __future__ import annotations

import tensorflow as tf

from psychrnn_cli.network.base import RecurrentModel, State


class LSTM(RecurrentModel):
    """Long short-term memory: ``c = f c + i g``, ``h = o f(c)``; states are ``h``.

    Args:
        forget_bias: added to the forget gate's pre-activation (1.0 helps memory at the start).
        Other arguments: see :class:`~psychrnn_cli.network.base.RecurrentModel`.
    """

    kind = "lstm"
    gates = 4
    noise_gate = 2

    def __init__(self, *args, forget_bias: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.forget_bias = float(forget_bias)

    def prepare(self, w: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {**w, "rec_kernel": tf.transpose(w["W_rec"])}

    def initial_state(self, w: dict[str, tf.Tensor], batch_size: tf.Tensor) -> State:
        h = tf.broadcast_to(w["init_state"], tf.stack([batch_size, self.N_rec]))
        return h, tf.zeros_like(h)

    def step(self, w: dict[str, tf.Tensor], state: State, drive: tf.Tensor) -> State:
        h, c = state
        i, f, g, o = tf.split(drive + tf.matmul(h, w["rec_kernel"]), 4, axis=-1)
        c = tf.sigmoid(f + self.forget_bias) * c + tf.sigmoid(i) * self.f(g)
        return tf.sigmoid(o) * self.f(c), c

    def rates(self, states: tf.Tensor) -> tf.Tensor:
        return states


class GRU(RecurrentModel):
    """Gated recurrent unit (reset gate applied after the recurrent product); states are ``h``.

    ``u = sigmoid(.)``, ``r = sigmoid(.)``, ``h~ = f(W_in_h x + b_h + r * (W_rec_h h))``,
    ``h = u h + (1 - u) h~``.
    """

    kind = "gru"
    gates = 3
    noise_gate = 2

    def prepare(self, w: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {**w, "rec_kernel": tf.transpose(w["W_rec"])}

    def step(self, w: dict[str, tf.Tensor], state: State, drive: tf.Tensor) -> State:
        (h,) = state
        x_u, x_r, x_h = tf.split(drive, 3, axis=-1)
        h_u, h_r, h_h = tf.split(tf.matmul(h, w["rec_kernel"]), 3, axis=-1)
        update = tf.sigmoid(x_u + h_u)
        candidate = self.f(x_h + tf.sigmoid(x_r + h_r) * h_h)
        return (update * h + (1 - update) * candidate,)

    def rates(self, states: tf.Tensor) -> tf.Tensor:
        return states
