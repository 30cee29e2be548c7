"""The basic leaky rate RNN, the default model (Song, Yang and Wang 2016; PsychRNN's ``Basic``).

    x[t+1] = (1 - alpha) x[t] + alpha (W_rec r[t] + W_in u[t] + b_rec) + sqrt(2 alpha) rec_noise xi[t]
    r[t] = f(x[t]),  z[t+1] = W_out r[t+1] + b_out

The recorded states are the pre-activations ``x[1..T]``.
"""

from __future__ import annotations

from typing import Any

from psychrnn_cli.models import Model, State, Weights


class Basic(Model):
    """Leaky rate network; supports connectivity masks and Dale's principle."""

    kind = "basic"
    supports_dale = True

    def drive_gain(self) -> float:
        return self.alpha  # alpha folded into W_in and b_rec, not applied to the whole drive

    def prepare(self, ops: Any, w: Weights) -> Weights:
        return {**w, "rec_kernel": self.alpha * ops.transpose(w["W_rec"])}  # r @ kernel = alpha W_rec r

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        (x,) = state
        return ((1 - self.alpha) * x + ops.matmul(ops.f(x), w["rec_kernel"]) + drive,)
