"""The LSTM with a linear readout ``z = W_out h + b_out`` (Keras-style cell).

Rows of ``W_in``, ``W_rec`` and ``b_rec`` stack the gates' blocks of N_rec: input, forget, cell,
output. The transfer function (default tanh) replaces tanh in the candidate and in
``h = o * f(c)``. Recurrent noise and injected current enter the candidate's pre-activation.
Dale's principle is not supported.
"""

from __future__ import annotations

from typing import Any

from psychrnn_cli.models import Model, State, Weights


class LSTM(Model):
    """Long short-term memory: ``c = sigmoid(f + forget_bias) c + sigmoid(i) f(g)``,
    ``h = sigmoid(o) f(c)``; the state is ``(h, c)`` and ``h`` is recorded and read out.

    Args:
        forget_bias: added to the forget gate's pre-activation (1.0 helps memory at the start).
        Other arguments: see :class:`~psychrnn_cli.models.Model`.
    """

    kind = "lstm"
    gates = 4
    noise_gate = 2

    def __init__(self, *args: Any, forget_bias: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forget_bias = float(forget_bias)

    def prepare(self, ops: Any, w: Weights) -> Weights:
        return {**w, "rec_kernel": ops.transpose(w["W_rec"])}

    def initial_state(self, ops: Any, w: Weights, x0: Any) -> State:
        return x0, ops.zeros_like(x0)

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        h, c = state
        i, f, g, o = ops.split(drive + ops.matmul(h, w["rec_kernel"]), 4)
        c = ops.sigmoid(f + self.forget_bias) * c + ops.sigmoid(i) * ops.f(g)
        return ops.sigmoid(o) * ops.f(c), c

    def rates(self, ops: Any, x: Any) -> Any:
        return x
