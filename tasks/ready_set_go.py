"""Ready-set-go interval reproduction: measure the interval between two pulses, then reproduce it.

Jazayeri, M. and Shadlen, M. N. (2010). Temporal context calibrates interval timing. Nature
Neuroscience 13, 1020-1026.
Remington, E. D., Narain, D., Hosseini, E. A. and Jazayeri, M. (2018). Flexible sensorimotor
computations through rapid reconfiguration of cortical dynamics. Neuron 98, 1005-1019.
"""

from __future__ import annotations

import numpy as np

from psychrnn_cli.task import Task, TrialParams
from psychrnn_cli.tasks.durations import Duration, draw_duration, duration_bounds

NAME = "ready_set_go"


def first_true(active: np.ndarray) -> np.ndarray:
    """Index of the first True along axis 1 of ``active [B, N_steps]``; ``N_steps`` where there is none."""
    return np.where(active.any(axis=1), active.argmax(axis=1), active.shape[1])


class ReadySetGo(Task):
    """Reproduce the interval between Ready and Set by answering "go" that long after Set.

    Trial parameters: ``ready``, ``interval`` (the sample interval ``t_s``), ``set`` and ``go``
    (ms).

    Inputs (2): 0 the Ready pulse at ``ready``, 1 the Set pulse at ``set = ready + interval``,
    each 1 for ``pulse_duration`` ms, with Gaussian input noise on both channels throughout.

    Output (1), "go": the target is 0 until ``go = set + interval`` and ``hi`` from then to the
    end of the trial. The mask is 1 from Set on and 0 before (the measurement epoch is free).

    Accuracy: the produced interval is the time from Set (the first masked step) to the first
    masked step where the output reaches ``threshold``; a trial is correct when it lies within
    ``tolerance * t_s`` of the target interval ``t_s`` (read the same way from the target), as in
    the tolerance windows of the experiments. Random output is (almost) never correct.

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task` (ms, ms, ms, trials).
        ready_onset: time of the Ready pulse (ms), a number or a ``[low, high]`` range.
        interval: the sample interval ``t_s`` (ms), a number or a ``[low, high]`` range; the
            default is the short prior of Jazayeri and Shadlen (2010).
        pulse_duration: length of the Ready and Set pulses (ms).
        stim_noise: input noise scale (0.1 gives a standard deviation of about 0.045 at dt 10).
        hi: target value after "go".
        threshold: output level that counts as "go".
        tolerance: largest relative error of a correct produced interval (0.15 = 15 %).
    """

    param_units = {"ready": "ms", "interval": "ms", "set": "ms", "go": "ms"}  # trial parameter -> units, for figures

    def __init__(
        self,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 2000.0,
        N_batch: int = 50,
        ready_onset: Duration = (100.0, 300.0),
        interval: Duration = (480.0, 800.0),
        pulse_duration: float = 50.0,
        stim_noise: float = 0.1,
        hi: float = 1.0,
        threshold: float = 0.5,
        tolerance: float = 0.15,
        **kwargs,
    ) -> None:
        super().__init__(2, 1, dt, tau, T, N_batch, **kwargs)
        self.ready_onset = duration_bounds(NAME, "ready_onset", ready_onset)
        self.interval = duration_bounds(NAME, "interval", interval)
        if self.interval[0] <= 0:
            raise ValueError(f"{NAME}: interval must be > 0 ms, got {interval!r}")
        self.pulse_duration = duration_bounds(NAME, "pulse_duration", pulse_duration)[0]
        if not 0 < self.pulse_duration <= self.interval[0]:
            raise ValueError(f"{NAME}: pulse_duration must be > 0 and at most the shortest interval "
                             f"({self.interval[0]:g} ms), got {pulse_duration!r}")
        latest_go = self.ready_onset[1] + 2 * self.interval[1]
        if latest_go >= self.T:
            raise ValueError(f"{NAME}: T = {self.T:g} ms is too short: 'go' may come at {latest_go:g} ms; "
                             "raise task.T or shorten ready_onset / interval")
        self.stim_noise = float(stim_noise)
        self.hi = float(hi)
        if not 0 < threshold < self.hi:
            raise ValueError(f"{NAME}: threshold must lie between 0 and hi ({self.hi:g}), got {threshold!r}")
        self.threshold = float(threshold)
        if not 0 < tolerance < 1:
            raise ValueError(f"{NAME}: tolerance is a fraction of the interval in (0, 1), got {tolerance!r}")
        self.tolerance = float(tolerance)

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        ready = draw_duration(self.rng, self.ready_onset)
        interval = draw_duration(self.rng, self.interval)
        set_time = ready + interval
        return {"ready": ready, "interval": interval, "set": set_time, "go": set_time + interval}

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.input_noise(self.N_in, self.stim_noise)
        if params["ready"] <= time < params["ready"] + self.pulse_duration:
            x[0] += 1.0
        if params["set"] <= time < params["set"] + self.pulse_duration:
            x[1] += 1.0
        y = np.full(self.N_out, self.hi if time >= params["go"] else 0.0)
        mask = np.full(self.N_out, 1.0 if time >= params["set"] else 0.0)
        return x, y, mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms[None, :]  # [1, N_steps]
        ready, set_, go = (np.array([p[key] for p in params])[:, None] for key in ("ready", "set", "go"))
        x = self.input_noise((len(params), self.N_steps, self.N_in), self.stim_noise)
        x[:, :, 0] += (ready <= time) & (time < ready + self.pulse_duration)
        x[:, :, 1] += (set_ <= time) & (time < set_ + self.pulse_duration)
        y = np.where(time >= go, self.hi, 0.0)[:, :, None]
        mask = (time >= set_)[:, :, None].astype(float)
        return x, y, mask

    def produced_intervals(self, output: np.ndarray, output_mask: np.ndarray) -> np.ndarray:
        """Produced interval per trial, ``[B]`` in ms: from Set to the first threshold crossing.

        ``output`` and ``output_mask`` are ``[B, N_steps, 1]``; Set is the first masked step.
        NaN where the output never reaches the threshold after Set.
        """
        masked = output_mask[:, :, 0] > 0
        set_step = first_true(masked)
        go_step = first_true(masked & (output[:, :, 0] >= self.threshold))
        return np.where(go_step < masked.shape[1], (go_step - set_step) * self.dt, np.nan)

    def accuracy_function(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
        target = self.produced_intervals(correct_output, output_mask)
        produced = self.produced_intervals(test_output, output_mask)
        return float(np.mean(np.abs(produced - target) <= self.tolerance * target))
