"""Delayed match-to-category: report the category of a direction on a ring.

Freedman, D. J. and Assad, J. A. (2006). Experience-dependent representation of visual
categories in parietal cortex. Nature 443, 85-88.
Definition as in PsychRNN (Ehrlich et al. 2021; docs/concepts/tasks.md), except that the input
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

    Inputs, targets and masks are float32 (the precision training uses). The noise (16 x 200 x 50
    = 160,000 normals in a default batch) is most of the cost; NumPy's float32 Gaussian draws and
    float32 arithmetic make a batch about 15% faster than float64 (benchmarks/NOTES.md).

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task`.
        N_in: number of ring-tuned input channels.
        N_out: number of categories (equal arcs of the circle).
        onset_time, input_dur, output_dur: epoch timing in ms.
        stim_noise: input noise scale.
    """

    param_units = {"angle": "rad"}  # trial parameter -> units, for figures

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
        # 2 pi * rng.random() is what rng.uniform(0, 2 pi) computes, draw for draw, at a third of the cost
        angle = 2 * np.pi * self.rng.random()
        category = min(int(angle // (2 * np.pi / self.N_out)), self.N_out - 1)
        return {"angle": angle, "category": category}

    def _noise(self, shape: int | tuple[int, ...]) -> np.ndarray:
        """Input noise, float32 of ``shape``: N(0, 1) draws times ``stim_noise / (2 dt)``.

        A batch drawn at once as ``(B, N_steps, N_in)`` equals ``B * N_steps`` per-step draws of
        ``N_in`` values in (trial, time) order, so both paths agree.
        """
        noise = self.rng.standard_normal(shape, dtype=np.float32)
        noise *= np.float32(self.stim_noise / (2 * self.dt))
        return noise

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._noise(self.N_in)
        y = np.zeros(self.N_out, np.float32)
        mask = np.zeros(self.N_out, np.float32)
        stim_end = self.onset_time + self.input_dur
        if self.onset_time <= time < stim_end:
            x += self.ring_input(params["angle"]).astype(np.float32)
        if stim_end <= time < stim_end + self.output_dur:
            y[params["category"]] = 1.0
            mask[:] = 1.0
        return x, y, mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms  # [N_steps]
        angles = np.array([p["angle"] for p in params])  # [B]
        categories = np.array([p["category"] for p in params])  # [B]
        stim_end = self.onset_time + self.input_dur
        # both epochs cover the same steps in every trial: work on those slices only
        stimulus = steps(self.onset_time <= time, time < stim_end)
        response = steps(stim_end <= time, time < stim_end + self.output_dur)

        x = self._noise((len(params), self.N_steps, self.N_in))
        x[:, stimulus] += self.ring_input(angles).astype(np.float32)[:, None, :]
        y = np.zeros((len(params), self.N_steps, self.N_out), np.float32)
        y[:, response] = (categories[:, None] == np.arange(self.N_out))[:, None, :]  # True is 1.0
        mask = np.zeros_like(y)
        mask[:, response] = 1.0
        return x, y, mask


def steps(after_start: np.ndarray, before_end: np.ndarray) -> slice:
    """The steps where both ``[N_steps]`` conditions hold, as a slice (the epoch is one run of steps)."""
    inside = np.flatnonzero(after_start & before_end)
    return slice(inside[0], inside[-1] + 1) if inside.size else slice(0, 0)
