"""Hebbian fast weights: "differentiable plasticity" (Miconi, Clune and Stanley 2018, ICML).

A leaky rate network (as :mod:`.basic`) whose recurrent weights change within a trial::

    x[t+1] = (1 - alpha) x[t] + alpha ((W_rec + A * H[t]) r[t] + W_in u[t] + b_rec) + noise
    H[t+1] = (1 - eta) H[t] + eta r[t] r[t-1]^T        (row = postsynaptic, column = presynaptic)
    r[t] = f(x[t]),  H[0] = 0 and r[-1] = 0 in every trial

``*`` is elementwise: each synapse has a trained plasticity coefficient ``A [N_rec, N_rec]``
beside its trained weight; ``H`` is the Hebbian trace, one matrix per trial (``[B, N_rec, N_rec]``).
The rate ``eta = sigmoid(eta_logit)`` is trained through the free scalar ``eta_logit``, which keeps
it in (0, 1). ``A`` acts only where the effective ``W_rec`` is not zero, so connectivity masks
(no autapses, sparse, regions, mask files) and lesions or cuts of ``W_rec`` remove the plastic
part of a synapse too. ``A`` starts at zero: training decides how plastic each synapse is.

Dale's principle is refused: the Hebbian term changes a synapse's sign whatever the sign of ``W``.
"""

from __future__ import annotations

import math
from typing import Any

from psychrnn_cli.models import ModelError, State, Weights
from psychrnn_cli.models.basic import Basic


class Plastic(Basic):
    """Leaky rate network with trained Hebbian fast weights.

    Args:
        eta_init: initial Hebbian rate eta, in (0, 1).
        Other arguments: see :class:`~psychrnn_cli.models.Model`.
    """

    kind = "plastic"
    supports_dale = False
    recompute = True  # H is [B, N_rec, N_rec] per step: keep it only between pieces of the loop

    def __init__(self, *args: Any, eta_init: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not 0 < eta_init < 1:
            raise ModelError(f"model.eta_init must be a number in (0, 1), got {eta_init!r}")
        self.eta_init = float(eta_init)

    def extra_weights(self, rng: Any, N_in: int, N_out: int) -> Weights:
        import numpy as np

        return {"A": np.zeros((self.N_rec, self.N_rec), np.float32),
                "eta_logit": np.float32(math.log(self.eta_init / (1 - self.eta_init)))}

    def check(self, weights: Weights, dale_ratio: float | None = None) -> None:
        if dale_ratio is not None:
            raise ModelError(f"model=plastic cannot keep Dale's principle (constraints.dale_ratio={dale_ratio}): "
                             "its Hebbian term A * H changes the sign of synapses; set constraints.dale_ratio=null "
                             "(drop constraints=dale)")
        super().check(weights)

    def prepare(self, ops: Any, w: Weights) -> Weights:
        return {**super().prepare(ops, w), "plastic": self.alpha * w["A"] * ops.nonzero(w["W_rec"]),
                "eta": ops.sigmoid(w["eta_logit"])}

    def initial_state(self, ops: Any, w: Weights, x0: Any) -> State:
        zeros = ops.zeros_like(x0)
        return x0, zeros[:, :, None] * zeros[:, None, :], zeros

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        x, H, r_prev = state
        r = ops.f(x)
        hebbian = ops.matmul(w["plastic"] * H, r[:, :, None])[:, :, 0]  # alpha (A * H) r, [B, N_rec]
        x = (1 - self.alpha) * x + ops.matmul(r, w["rec_kernel"]) + hebbian + drive
        H = (1 - w["eta"]) * H + w["eta"] * (r[:, :, None] * r_prev[:, None, :])
        return x, H, r
