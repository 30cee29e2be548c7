"""Delayed discrimination: compare two vibrotactile frequencies separated by a delay.

Romo, R., Brody, C. D., Hernandez, A. and Lemus, L. (1999). Neuronal correlates of parametric
working memory in the prefrontal cortex. Nature 399, 470-473.
Definition as in PsychRNN (Ehrlich et al. 2021; docs/concepts/tasks.md).
"""

from __future__ import annotations

import numpy as np

from psychrnn_cli.task import Task, TrialParams

FREQUENCY_PAIRS = ((18, 10), (22, 14), (26, 18), (30, 22), (34, 26))  # Hz, f_high > f_low


def frequency_drive(f: np.ndarray | float) -> np.ndarray:
    """Input of a stimulus of frequency ``f`` (Hz) on the two channels, ``[..., 2]``.

    Channel 0 rises from 0.4 at 10 Hz to 1.2 at 34 Hz; channel 1 falls over the same range.
    """
    f = np.asarray(f, dtype=float)
    return np.stack([0.4 + 0.8 * (f - 10) / 24, 0.4 + 0.8 * (34 - f) / 24], axis=-1)


class DelayedDiscrimination(Task):
    """Report whether the first of two frequencies was higher (choice 0) or lower (choice 1).

    Epochs (ms): fore period ``onset``, stimulus 1, delay, stimulus 2, decision. Each epoch
    length is drawn per trial (``U(0,1) * T/8`` for the fore period and decision, ``U(0,1) * T/4``
    for the others) unless fixed by its argument; the decision epoch lasts at least ``dt``, so that
    every trial is scored. During the decision epoch the target is 1 on the choice channel and 0.2
    on the other, with mask 1; the mask is 0 elsewhere.

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task`.
        onset_time, stim_duration_1, delay_duration, stim_duration_2, decision_duration:
            fixed epoch lengths in ms, or ``None`` to draw them.
        stim_noise: input noise scale, as in perceptual discrimination.
    """

    param_units = {"stimulus_1": "ms", "delay": "ms", "stimulus_2": "ms", "decision": "ms", "end": "ms",
                   "f1": "Hz", "f2": "Hz"}  # trial parameter -> units, for figures

    def __init__(
        self,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 2000.0,
        N_batch: int = 50,
        onset_time: float | None = None,
        stim_duration_1: float | None = None,
        delay_duration: float | None = None,
        stim_duration_2: float | None = None,
        decision_duration: float | None = None,
        stim_noise: float = 0.1,
        hi: float = 1.0,
        lo: float = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(2, 2, dt, tau, T, N_batch, **kwargs)
        self.epochs = {  # name -> (fixed length or None, maximum length as a fraction of T)
            "onset_time": (onset_time, 1 / 8),
            "stim_duration_1": (stim_duration_1, 1 / 4),
            "delay_duration": (delay_duration, 1 / 4),
            "stim_duration_2": (stim_duration_2, 1 / 4),
            "decision_duration": (decision_duration, 1 / 8),
        }
        self.stim_noise = float(stim_noise)
        self.hi, self.lo = float(hi), float(lo)

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        rng = self.rng
        # rng.random() is rng.uniform(0.0, 1.0), draw for draw; the running sum is np.cumsum's
        start, starts = 0.0, []
        for fixed, fraction in self.epochs.values():
            start += fixed if fixed is not None else rng.random() * fraction * self.T
            starts.append(float(start))
        starts[4] = max(starts[4], starts[3] + self.dt)  # a decision epoch shorter than dt may score no step
        f_high, f_low = FREQUENCY_PAIRS[rng.integers(len(FREQUENCY_PAIRS))]
        choice = int(rng.integers(2))
        f1, f2 = (f_high, f_low) if choice == 0 else (f_low, f_high)
        return {
            "stimulus_1": starts[0],
            "delay": starts[1],
            "stimulus_2": starts[2],
            "decision": starts[3],
            "end": starts[4],
            "f1": int(f1),
            "f2": int(f2),
            "choice": choice,
        }

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.input_noise(self.N_in, self.stim_noise)
        y = np.zeros(self.N_out)
        mask = np.zeros(self.N_out)
        if params["stimulus_1"] <= time < params["delay"]:
            x += frequency_drive(params["f1"])
        if params["stimulus_2"] <= time < params["decision"]:
            x += frequency_drive(params["f2"])
        if params["decision"] <= time < params["end"]:
            choice = params["choice"]
            y[choice], y[1 - choice] = self.hi, self.lo
            mask[:] = 1.0
        return x, y, mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms  # [N_steps]
        keys = ("stimulus_1", "delay", "stimulus_2", "decision", "end", "f1", "f2", "choice")
        s1, delay, s2, decision, end, f1, f2, choice = np.array([[p[k] for k in keys] for p in params]).T[:, :, None]
        first, second = (s1 <= time) & (time < delay), (s2 <= time) & (time < decision)  # [B, N_steps]
        deciding = (decision <= time) & (time < end)
        drive_1, drive_2 = frequency_drive(f1), frequency_drive(f2)  # [B, 1, 2]

        # channel by channel: loops over time are long, over 2 channels short
        x = self.input_noise((len(params), self.N_steps, self.N_in), self.stim_noise)
        y = np.zeros_like(x)
        for channel in range(2):
            x[:, :, channel] += first * drive_1[:, :, channel]
            x[:, :, channel] += second * drive_2[:, :, channel]
            y[:, :, channel] = deciding * np.where(choice == channel, self.hi, self.lo)
        mask = np.repeat(deciding.astype(float)[:, :, None], 2, axis=2)
        return x, y, mask
