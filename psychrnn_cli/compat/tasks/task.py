"""PsychRNN's ``Task`` base class (``psychrnn.tasks.task.Task``) on the psychrnn-cli task contract.

A subclass defines ``generate_trial_params(batch, trial)`` and ``trial_function(time, params)``
exactly as for PsychRNN, and may define ``accuracy_function``. Random draws come from NumPy's
global random state, as PsychRNN's tasks make them (``np.random.seed`` makes batches
reproducible). The class is also a :class:`psychrnn_cli.task.Task`, so a compat task trains with
``psychrnn train task._target_=...`` as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psychrnn_cli.task import Task as NativeTask

ENGINE_ATTRIBUTES = ("rng", "batch_count")  # ours, not task parameters


class Task(NativeTask):
    """PsychRNN's task base class.

    Args:
        N_in: number of input channels.
        N_out: number of output channels.
        dt: simulation step (ms).
        tau: unit time constant (ms); ``alpha = dt / tau``.
        T: trial length (ms); ``N_steps = ceil(T / dt)``.
        N_batch: trials per batch.
    """

    def __init__(self, N_in: int, N_out: int, dt: float, tau: float, T: float, N_batch: int) -> None:
        super().__init__(N_in, N_out, dt, tau, T, N_batch, rng=np.random.mtrand._rand)

    def get_task_params(self) -> dict[str, Any]:
        """The task's settings (``N_in``, ``N_out``, ``dt``, ``tau``, ``T``, ``N_batch``, ``alpha``,
        ``N_steps`` and the subclass's own), the start of a network's ``params``.

        Unlike PsychRNN's, this is a copy: writing into it does not change the task.
        """
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in ENGINE_ATTRIBUTES}


class NoisyInputsTask(Task):
    """A built-in task computed for a whole batch at once by its ``_arrays(params, time, noise)``
    (inputs, targets, masks ``[B, len(time), N_in|N_out]`` at ``time`` ms) from Gaussian input
    noise with each trial's ``stim_noise``; ``trial_function`` is the same computation at one time."""

    def trial_function(self, time: float, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        noise = self.input_noise(self.N_in, params["stim_noise"])
        x, y, mask = (a[0, 0] for a in self._arrays([params], np.array([time]), noise))
        return x, y, mask

    def trials(self, params: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        noise = self.input_noise((len(params), self.N_steps, self.N_in), np.array([[[p["stim_noise"]]] for p in params]))
        return self._arrays(params, self.time_ms, noise)
