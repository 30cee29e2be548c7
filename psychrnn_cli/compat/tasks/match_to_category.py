"""PsychRNN's ``MatchToCategory``: report which of ``N_out`` categories (equal arcs of the circle)
holds the direction of a stimulus shown as a bump of activity over ``N_in`` direction-tuned inputs
(Freedman and Assad 2006, Nature).

Trial parameters keep PsychRNN's names: ``angle`` (rad), ``category``, ``onset_time``,
``input_dur``, ``output_dur`` (ms) and ``stim_noise``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psychrnn_cli.compat.tasks.task import Task


class MatchToCategory(Task):
    """The stimulus from 200 to 1200 ms: input channel i (preferred angle ``2 pi i / (N_in - 1)``,
    PsychRNN's ``linspace(0, 2 pi, N_in)``, so the first and last coincide) carries the standard
    normal density of the circular distance to ``angle``; the target is 1 on the category's
    channel from 1200 to 2000 ms, the only masked-in window.

    Args:
        dt, tau, T, N_batch: as :class:`~psychrnn_cli.compat.tasks.task.Task` (T at least 2000 ms
            to hold the response window).
        N_in: input channels (default 16). N_out: categories (default 2).
    """

    def __init__(self, dt: float, tau: float, T: float, N_batch: int, N_in: int = 16, N_out: int = 2) -> None:
        super().__init__(N_in, N_out, dt, tau, T, N_batch)

    def generate_trial_params(self, batch: int, trial: int) -> dict[str, Any]:
        angle = float(self.rng.uniform(0, 2 * np.pi))
        return {"angle": angle, "category": int(angle / (2 * np.pi / self.N_out)), "onset_time": 200.0,
                "input_dur": 1000.0, "output_dur": 800.0, "stim_noise": 0.1}

    def trial_function(self, time: float, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        noise = self.rng.standard_normal(self.N_in)[None, None]
        x, y, mask = (a[0, 0] for a in self._arrays([params], np.array([time]), noise))
        return x, y, mask

    def trials(self, params: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._arrays(params, self.time_ms, self.rng.standard_normal((len(params), self.N_steps, self.N_in)))

    def _arrays(self, params: list[dict[str, Any]], time: np.ndarray, noise: np.ndarray):
        """Inputs ``[B, len(time), N_in]``, targets and masks ``[B, len(time), N_out]``, given standard
        normal noise; its scale ``stim_noise / (2 dt)`` is PsychRNN's."""
        def column(key: str) -> np.ndarray:
            return np.array([p[key] for p in params], dtype=float)[:, None]

        t = np.asarray(time)[None, :]
        preferred = np.linspace(0, 2 * np.pi, self.N_in)
        distance = np.angle(np.exp(1j * (preferred[None, :] - column("angle"))))  # [B, N_in], in (-pi, pi]
        bump = np.exp(-distance ** 2 / 2) / np.sqrt(2 * np.pi)
        stimulus_on = (t >= column("onset_time")) & (t < column("onset_time") + column("input_dur"))
        x = column("stim_noise")[..., None] / (2 * self.dt) * noise + stimulus_on[..., None] * bump[:, None, :]
        response_start = column("onset_time") + column("input_dur")
        responding = ((t >= response_start) & (t < response_start + column("output_dur")))[..., None]
        y = responding * (column("category")[..., None] == np.arange(self.N_out))
        mask = np.broadcast_to(responding, y.shape).astype(float)
        return x, y.astype(float), mask
