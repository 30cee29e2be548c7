"""The GRU with a linear readout ``z = W_out h + b_out`` (Keras-style cell, reset gate applied
after the recurrent product).

Rows of ``W_in``, ``W_rec`` and ``b_rec`` stack the blocks update, reset, candidate. The transfer
function (default tanh) replaces tanh in the candidate. Recurrent noise and injected current enter
the candidate's pre-activation. Dale's principle is not supported.
"""

from __future__ import annotations

from typing import Any

from psychrnn_cli.models import Model, State, Weights


class GRU(Model):
    """``u = sigmoid(.)``, ``r = sigmoid(.)``, ``h~ = f(W_in_h x + b_h + r * (W_rec_h h))``,
    ``h = u h + (1 - u) h~``; the state is ``(h,)``, recorded and read out."""

    kind = "gru"
    gates = 3
    noise_gate = 2

    def prepare(self, ops: Any, w: Weights) -> Weights:
        return {**w, "rec_kernel": ops.transpose(w["W_rec"])}

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        (h,) = state
        x_u, x_r, x_h = ops.split(drive, 3)
        h_u, h_r, h_h = ops.split(ops.matmul(h, w["rec_kernel"]), 3)
        update = ops.sigmoid(x_u + h_u)
        candidate = ops.f(x_h + ops.sigmoid(x_r + h_r) * h_h)
        return (update * h + (1 - update) * candidate,)

    def rates(self, ops: Any, x: Any) -> Any:
        return x
