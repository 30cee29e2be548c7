"""Perceptual discrimination: two-alternative random-dot motion.

Roitman, J. D. and Shadlen, M. N. (2002). Response of neurons in the lateral intraparietal area
during a combined visual discrimination reaction time task. J. Neurosci. 22(21), 9475-9489.
Definition as in PsychRNN (Ehrlich et al. 2021; docs/concepts/tasks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from psychrnn_cli.task import Task, TrialParams


class PerceptualDiscrimination(Task):
    """Report which of two noisy input channels carries the stronger signal.

    Inputs (2): during the stimulus (``onset < time < onset + duration``) the channel of the
    motion ``direction`` gets ``1 + coherence`` and the other ``1``; both carry Gaussian noise
    throughout. Outputs (2): after ``onset + duration + 20`` ms, ``hi`` on the correct channel and
    ``lo`` on the other (0 before). The loss mask is 0 before ``onset + duration`` and 1 after.

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task` (ms, ms, ms, trials).
        coherences: values a trial's coherence is drawn from, uniformly.
        coherence: a fixed coherence for every trial (overrides ``coherences``).
        direction: a fixed direction (0 or 1) for every trial; ``None`` draws it.
        stim_noise: input noise scale (0.1 gives a standard deviation of about 0.045 at dt 10).
        hi, lo: target values of the correct and the other channel.
    """

    param_units = {"onset": "ms", "duration": "ms"}  # trial parameter -> units, for figures

    def __init__(
        self,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 2000.0,
        N_batch: int = 50,
        coherences: Sequence[float] = (0.1, 0.3, 0.5, 0.7),
        coherence: float | None = None,
        direction: int | None = None,
        stim_noise: float = 0.1,
        hi: float = 1.0,
        lo: float = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(2, 2, dt, tau, T, N_batch, **kwargs)
        self.coherences = np.asarray([coherence] if coherence is not None else list(coherences), dtype=float)
        if self.coherences.size == 0:
            raise ValueError("perceptual_discrimination: 'coherences' is empty; give at least one value, e.g. [0.1, 0.5]")
        if direction not in (None, 0, 1):
            raise ValueError(f"perceptual_discrimination: direction must be 0, 1 or null, got {direction!r}")
        self.direction = direction
        self.stim_noise = float(stim_noise)
        self.hi, self.lo = float(hi), float(lo)

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        rng, T = self.rng, self.T
        # low + (high - low) * rng.random() is what rng.uniform(low, high) computes, draw for draw
        return {
            "coherence": float(self.coherences[rng.integers(self.coherences.size)]),
            "direction": int(rng.integers(2)) if self.direction is None else int(self.direction),
            "onset": 0.0 + (T / 2 - 0.0) * rng.random(),
            "duration": T / 8 + (3 * T / 8 - T / 8) * rng.random(),
        }

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.input_noise(self.N_in, self.stim_noise)
        y = np.zeros(self.N_out)
        mask = np.ones(self.N_out)
        d, stim_end = params["direction"], params["onset"] + params["duration"]
        if params["onset"] < time < stim_end:
            x[d] += 1 + params["coherence"]
            x[1 - d] += 1
        if time > stim_end + 20:
            y[d], y[1 - d] = self.hi, self.lo
        if time < stim_end:
            mask[:] = 0.0
        return x, y, mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms  # [N_steps]
        coherence, direction, onset, duration = np.array(
            [(p["coherence"], p["direction"], p["onset"], p["duration"]) for p in params]).T[:, :, None]  # [B, 1]
        stim_end = onset + duration
        stimulus = (onset < time) & (time < stim_end)  # [B, N_steps]
        late = time > stim_end + 20

        # channel by channel: loops over time are long, over 2 channels short
        x = self.input_noise((len(params), self.N_steps, self.N_in), self.stim_noise)
        y = np.zeros_like(x)
        for channel in range(2):
            chosen = direction == channel
            x[:, :, channel] += stimulus * (1 + coherence * chosen)
            y[:, :, channel] = late * np.where(chosen, self.hi, self.lo)
        mask = np.repeat((time >= stim_end).astype(float)[:, :, None], 2, axis=2)
        return x, y, mask
