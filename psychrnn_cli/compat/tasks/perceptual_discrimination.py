"""PsychRNN's ``PerceptualDiscrimination``: two-alternative forced choice on the stronger of two
noisy inputs, as in random-dot motion discrimination (Britten et al. 1992, J Neurosci).

Trial parameters keep PsychRNN's names: ``coherence``, ``direction``, ``stim_noise``,
``onset_time`` and ``stim_duration`` (ms). One difference: a ``direction`` given to the constructor
is used (PsychRNN 1.0 drew it at random regardless).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psychrnn_cli.compat.tasks.task import NoisyInputsTask

COHERENCES = (0.1, 0.3, 0.5, 0.7)
DECISION_LAG = 20.0  # ms between the end of the stimulus and the target's onset


class PerceptualDiscrimination(NoisyInputsTask):
    """Inputs ``[2]``: both channels 1 during the stimulus, plus ``coherence`` on channel ``direction``;
    outputs ``[2]``: ``hi`` on the chosen channel and ``lo`` on the other from 20 ms after the
    stimulus; the mask is 1 from the stimulus's end.

    Args:
        dt, tau, T, N_batch: as :class:`~psychrnn_cli.compat.tasks.task.Task` (ms, ms, ms, trials).
        coherence: fixed coherence, or None to draw one of 0.1, 0.3, 0.5, 0.7 per trial.
        direction: fixed correct channel (0 or 1), or None to draw it per trial.
    """

    def __init__(self, dt: float, tau: float, T: float, N_batch: int, coherence: float | None = None,
                 direction: int | None = None) -> None:
        super().__init__(2, 2, dt, tau, T, N_batch)
        if direction not in (None, 0, 1):  # (as the built-in task; another value would choose no channel)
            raise ValueError(f"PerceptualDiscrimination: direction must be 0, 1 or None, got {direction!r}")
        if coherence is not None and not (isinstance(coherence, (int, float)) and 0 <= coherence < float("inf")):
            raise ValueError(f"PerceptualDiscrimination: coherence must be a finite number >= 0 or None, got "
                             f"{coherence!r}")
        self.coherence = coherence
        self.direction = direction
        self.lo = 0.2
        self.hi = 1.0

    def generate_trial_params(self, batch: int, trial: int) -> dict[str, Any]:
        rng = self.rng
        return {
            "coherence": self.coherence if self.coherence is not None else float(rng.choice(COHERENCES)),
            "direction": self.direction if self.direction is not None else int(rng.choice(2)),
            "stim_noise": 0.1,
            "onset_time": float(rng.uniform(0, self.T / 2)),
            "stim_duration": float(rng.uniform(self.T / 8, 3 * self.T / 8)),
        }

    def _arrays(self, params: list[dict[str, Any]], time: np.ndarray, noise: np.ndarray):
        """Inputs, targets, masks ``[B, len(time), 2]`` at ``time`` (ms), given the input noise."""
        onset = np.array([p["onset_time"] for p in params])[:, None]
        end = onset + np.array([p["stim_duration"] for p in params])[:, None]
        coherence = np.array([p["coherence"] for p in params], dtype=float)[:, None]
        chosen = np.array([p["direction"] for p in params])[:, None, None] == np.arange(2)  # [B, 1, 2]
        t = np.asarray(time)[None, :]
        on = ((t > onset) & (t < end))[..., None]
        x = noise.reshape(len(params), t.shape[1], 2) + on * (1 + chosen * coherence[..., None])
        target = np.where(chosen, self.hi, self.lo)
        y = (t > end + DECISION_LAG)[..., None] * target
        mask = np.broadcast_to((t >= end)[..., None], y.shape).astype(float)
        return x, y, mask
