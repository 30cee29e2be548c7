"""Delayed match-to-category: report the category of a direction on a ring.

Freedman, D. J. and Assad, J. A. (2006). Experience-dependent representation of visual
categories in parietal cortex. Nature 443, 85-88.
Definition as in PsychRNN (Ehrlich et al. 2021) and SPEC section 1, except that the input
channels' preferred angles are evenly spaced on the circle (PsychRNN puts its first and last
channel on the same angle).
"""

from __future__ import annotations

import numpy as np

from psychrnn_cli.task import Task, TrialParams


class MatchToCategory(Task):
    """Stimulus direction in, category out.

    Per trial, ``angle ~ U(0, 2 pi)`` and ``category = floor(angle / (2 pi / N_out))``. From
    ``onset_time`` for ``input_dur`` ms, input channel k (preferred angle ``2 pi k / N_in``) gets a
    Gaussian bump ``exp(-d^2 / 2) / sqrt(2 pi)`` of its circular distance d (radians) to the
    angle, plus Gaussian noise of standard deviation ``stim_noise / (2 dt)``. For ``output_dur``
    ms after the stimulus, the target is 1 on the category channel (0 elsewhere), mask 1.

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task`.
        N_in: number of ring-tuned input channels.
        N_out: number of categories (equal arcs of the circle).
        onset_time, input_dur, output_dur: epoch timing in ms.
        stim_noise: input noise scale.
    """

    def __init__(
        self,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 2000.0,
        N_batch: int = 50,
        N_in: int = 16,
        N_out: int = 2,
        onset_time: float = 200.0,
        input_dur: float = 1000.0,
        output_dur: float = 800.0,
        stim_noise: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(N_in, N_out, dt, tau, T, N_batch, **kwargs)
        self.onset_time, self.input_dur, self.output_dur = float(onset_time), float(input_dur), float(output_dur)
        self.stim_noise = float(stim_noise)
        self.preferred_angles = 2 * np.pi * np.arange(self.N_in) / self.N_in

    def ring_input(self, angle: np.ndarray | float) -> np.ndarray:
        """Bump of activity centred on ``angle`` (radians), ``[..., N_in]``."""
        diff = np.asarray(angle)[..., None] - self.preferred_angles
        distance = np.angle(np.exp(1j * diff))  # wrapped to [-pi, pi]
        return np.exp(-(distance**2) / 2) / np.sqrt(2 * np.pi)

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        angle = float(self.rng.uniform(0.0, 2 * np.pi))
        category = min(int(angle // (2 * np.pi / self.N_out)), self.N_out - 1)
        return {"angle": angle, "category": category}

    def _noise(self, shape: int | tuple[int, ...]) -> np.ndarray:
        noise = self.rng.standard_normal(shape)
        noise *= self.stim_noise / (2 * self.dt)
        return noise

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._noise(self.N_in)
        y = np.zeros(self.N_out)
        mask = np.zeros(self.N_out)
        stim_end = self.onset_time + self.input_dur
        if self.onset_time <= time < stim_end:
            x += self.ring_input(params["angle"])
        if stim_end <= time < stim_end + self.output_dur:
            y[params["category"]] = 1.0
            mask[:] = 1.0
        return x, y, mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms
        angles = np.array([p["angle"] for p in params])
        categories = np.array([p["category"] for p in params])[:, None]  # [B, 1]
        stim_end = self.onset_time + self.input_dur
        stimulus = np.flatnonzero((self.onset_time <= time) & (time < stim_end))  # the same steps in every trial
        response = (stim_end <= time) & (time < stim_end + self.output_dur)  # [N_steps]

        x = self._noise((len(params), self.N_steps, self.N_in))
        if stimulus.size:
            x[:, stimulus[0]:stimulus[-1] + 1] += self.ring_input(angles)[:, None, :]
        y = np.zeros((len(params), self.N_steps, self.N_out))
        for channel in range(self.N_out):  # loops over time are long, over channels short
            y[:, :, channel] = response * (categories == channel)
        mask = np.broadcast_to(response[None, :, None], y.shape).astype(float)
        return x, y, mask
