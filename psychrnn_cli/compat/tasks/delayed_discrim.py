"""PsychRNN's ``DelayedDiscrimination``: compare two vibration frequencies separated by a delay
(Romo et al. 1999, Nature): answer on channel 0 when f1 > f2 and on channel 1 when f1 < f2.

Trial parameters keep PsychRNN's names: the epoch boundaries ``stimulus_1``, ``delay``,
``stimulus_2``, ``decision``, ``end`` (ms), ``f1``, ``f2`` (Hz), ``choice`` and ``stim_noise``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psychrnn_cli.compat.tasks.task import NoisyInputsTask

FREQUENCY_PAIRS = ((18, 10), (22, 14), (26, 18), (30, 22), (34, 26))
F_MIN, F_MAX = 10.0, 34.0  # Hz, the range the input tuning spans


class DelayedDiscrimination(NoisyInputsTask):
    """Inputs ``[2]`` tuned to the frequency (``0.4 + 0.8 (f - 10) / 24`` and ``0.4 + 0.8 (34 - f) / 24``)
    during each stimulus; outputs ``[2]``: 1 on the answer's channel, 0.2 on the other, during the
    decision epoch, which is the only masked-in epoch.

    Args:
        dt, tau, T, N_batch: as :class:`~psychrnn_cli.compat.tasks.task.Task`.
        onset_time, stim_duration_1, delay_duration, stim_duration_2, decision_duration: fixed epoch
            durations (ms), or None to draw each per trial: the onset ``U(0, T/8)``, the others
            ``U(0, T/4)`` and the decision ``U(0, T/8)``.
    """

    def __init__(self, dt: float, tau: float, T: float, N_batch: int, onset_time: float | None = None,
                 stim_duration_1: float | None = None, delay_duration: float | None = None,
                 stim_duration_2: float | None = None, decision_duration: float | None = None) -> None:
        super().__init__(2, 2, dt, tau, T, N_batch)
        self.onset_time = onset_time
        self.stim_duration_1 = stim_duration_1
        self.delay_duration = delay_duration
        self.stim_duration_2 = stim_duration_2
        self.decision_duration = decision_duration
        self.lo = 0.2
        self.hi = 1.0

    def generate_trial_params(self, batch: int, trial: int) -> dict[str, Any]:
        rng, T = self.rng, self.T

        def duration(fixed: float | None, scale: float) -> float:
            return float(fixed) if fixed is not None else float(rng.uniform(0, 1) * scale)

        onset = duration(self.onset_time, T / 8)
        stim_1 = duration(self.stim_duration_1, T / 4)
        delay = duration(self.delay_duration, T / 4)
        stim_2 = duration(self.stim_duration_2, T / 4)
        decision = duration(self.decision_duration, T / 8)
        pair = FREQUENCY_PAIRS[int(rng.choice(len(FREQUENCY_PAIRS)))]
        choice = int(rng.choice(2))  # 0: f1 > f2, 1: f1 < f2
        f1, f2 = pair if choice == 0 else pair[::-1]
        return {"stimulus_1": onset, "delay": onset + stim_1, "stimulus_2": onset + stim_1 + delay,
                "decision": onset + stim_1 + delay + stim_2, "end": onset + stim_1 + delay + stim_2 + decision,
                "stim_noise": 0.1, "f1": f1, "f2": f2, "choice": choice}

    def _arrays(self, params: list[dict[str, Any]], time: np.ndarray, noise: np.ndarray):
        """Inputs, targets, masks ``[B, len(time), 2]`` at ``time`` (ms), given the input noise."""
        def column(key: str) -> np.ndarray:
            return np.array([p[key] for p in params], dtype=float)[:, None]

        t = np.asarray(time)[None, :]
        x = noise.reshape(len(params), t.shape[1], 2).copy()
        for start, stop, f in (("stimulus_1", "delay", "f1"), ("stimulus_2", "decision", "f2")):
            on = (t >= column(start)) & (t < column(stop))
            tuning = np.stack([0.4 + 0.8 * (column(f) - F_MIN) / 24, 0.4 + 0.8 * (F_MAX - column(f)) / 24], axis=-1)
            x += on[..., None] * tuning
        deciding = ((t >= column("decision")) & (t < column("end")))[..., None]
        chosen = column("choice")[..., None] == np.arange(2)
        y = deciding * np.where(chosen, self.hi, self.lo)
        mask = np.broadcast_to(deciding, y.shape).astype(float)
        return x, y, mask
