"""Connectivity masks, Dale's principle and effective weights (SPEC section 2). NumPy only.

Shapes follow PsychRNN: ``W_in [N_rec, N_in]``, ``W_rec [N_rec, N_rec]`` (row = postsynaptic,
column = presynaptic), ``W_out [N_out, N_rec]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Constraints:
    """Everything that restricts a network's weights.

    Attributes:
        input_mask: ``[N_rec, N_in]`` 0/1, which input weights exist.
        rec_mask: ``[N_rec, N_rec]`` 0/1, which recurrent weights exist.
        output_mask: ``[N_out, N_rec]`` 0/1, which output weights exist.
        dale_ratio: fraction of excitatory units, or ``None`` when Dale's principle is off.
        plastic: per-parameter 0/1 masks of the entries training may change (missing = all).
    """

    input_mask: np.ndarray
    rec_mask: np.ndarray
    output_mask: np.ndarray
    dale_ratio: float | None = None
    plastic: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def N_rec(self) -> int:
        return self.rec_mask.shape[0]

    @property
    def signs(self) -> np.ndarray | None:
        """``[N_rec]`` +1 for excitatory and -1 for inhibitory units, ``None`` without Dale.

        The first ``round(dale_ratio * N_rec)`` units are excitatory.
        """
        if self.dale_ratio is None:
            return None
        n_exc = int(round(self.dale_ratio * self.N_rec))
        return np.where(np.arange(self.N_rec) < n_exc, 1.0, -1.0).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """All constraint arrays by the names the run file uses."""
        out = {"input_connectivity": self.input_mask, "rec_connectivity": self.rec_mask,
               "output_connectivity": self.output_mask}
        if self.signs is not None:
            out["signs"] = self.signs
        out.update({f"plastic_{name}": mask for name, mask in self.plastic.items()})
        return out


def all_to_all(N_in: int, N_rec: int, N_out: int, autapses: bool = True, dale_ratio: float | None = None) -> Constraints:
    """Full connectivity; ``autapses=False`` removes self-connections (the diagonal of ``rec_mask``)."""
    rec_mask = np.ones((N_rec, N_rec), dtype=np.float32)
    if not autapses:
        np.fill_diagonal(rec_mask, 0.0)
    return Constraints(
        input_mask=np.ones((N_rec, N_in), dtype=np.float32),
        rec_mask=rec_mask,
        output_mask=np.ones((N_out, N_rec), dtype=np.float32),
        dale_ratio=dale_ratio,
    )


def effective_weights(weights: dict[str, Any], constraints: Constraints) -> dict[str, Any]:
    """The matrices the forward pass uses, from the raw trainable ones.

    Without Dale: ``W_eff = W * M``. With Dale: ``W_rec_eff = |W_rec * M_rec| * signs`` (column j
    carries the sign of presynaptic unit j), ``W_in_eff = |W_in * M_in|`` and
    ``W_out_eff = |W_out * M_out| * (signs > 0)``. Works on NumPy arrays and TensorFlow tensors
    alike (only ``*`` and ``abs`` are used); biases and the initial state pass through.
    """
    eff = dict(weights)
    masked = {
        "W_in": weights["W_in"] * constraints.input_mask,
        "W_rec": weights["W_rec"] * constraints.rec_mask,
        "W_out": weights["W_out"] * constraints.output_mask,
    }
    signs = constraints.signs
    if signs is None:
        eff.update(masked)
    else:
        eff["W_in"] = abs(masked["W_in"])
        eff["W_rec"] = abs(masked["W_rec"]) * signs[None, :]
        eff["W_out"] = abs(masked["W_out"]) * (signs > 0).astype(np.float32)[None, :]
    return eff
