"""The basic rate RNN (SPEC section 2), the default model.

    x[t+1] = (1 - alpha) x[t] + alpha (W_rec r[t] + W_in u[t] + b_rec) + sqrt(2 alpha) rec_noise xi[t]
    r[t] = f(x[t]),  z[t+1] = W_out r[t+1] + b_out

The recorded states are the pre-activations ``x[1..T]``.
"""

from __future__ import annotations

import tensorflow as tf

from psychrnn_cli.network.base import RecurrentModel, State, dense


class BasicRNN(RecurrentModel):
    """Leaky rate network; supports connectivity masks and Dale's principle."""

    kind = "basic"
    supports_dale = True

    def drive(self, w: dict[str, tf.Tensor], inputs: tf.Tensor, noise: tf.Tensor | None) -> tf.Tensor:
        """``alpha (W_in u[t] + b_rec) + sqrt(2 alpha) rec_noise xi[t]`` for all steps, time-major
        ``[N_steps, B, N_rec]``."""
        drive = dense(inputs, w["in_kernel"], w["in_bias"])
        if noise is not None and self.rec_noise > 0:
            drive += self.noise_scale() * noise
        return drive

    def prepare(self, w: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # alpha folded into the small weights, not applied to the [N_steps, B, N_rec] drive
        return {**w, "rec_kernel": self.alpha * tf.transpose(w["W_rec"]),  # r @ kernel = alpha W_rec r
                "in_kernel": self.alpha * w["W_in"], "in_bias": self.alpha * w["b_rec"]}

    def initial_state(self, w: dict[str, tf.Tensor], batch_size: tf.Tensor) -> State:
        x = tf.broadcast_to(w["init_state"], tf.stack([batch_size, self.N_rec]))
        return x, self.f(x)

    def step(self, w: dict[str, tf.Tensor], state: State, drive: tf.Tensor) -> State:
        x, rate = state
        x = (1 - self.alpha) * x + tf.matmul(rate, w["rec_kernel"]) + drive
        return x, self.f(x)
