"""Pro- and anti-saccades: look toward a flashed stimulus, or away from it, as a rule cue says.

Hallett, P. E. (1978). Primary and secondary saccades to goals defined by instructions. Vision
Research 18, 1279-1296.
Munoz, D. P. and Everling, S. (2004). Look away: the anti-saccade task and the voluntary control
of eye movement. Nature Reviews Neuroscience 5, 218-228.
This version has a memory delay between the stimulus and the go signal (the fixation offset).
"""

from __future__ import annotations

import numpy as np

from psychrnn_cli.task import Task, TrialParams
from psychrnn_cli.tasks.durations import Duration, draw_duration, duration_bounds

NAME = "anti_saccade"
FIXATION, PRO_CUE, ANTI_CUE, LEFT_STIMULUS, RIGHT_STIMULUS = range(5)


class AntiSaccade(Task):
    """Hold fixation, then saccade toward (pro) or away from (anti) a remembered stimulus.

    Inputs (5): 0 fixation point (1 until ``go``), 1 pro-rule cue and 2 anti-rule cue (the
    trial's rule is 1 until ``go``), 3 left and 4 right stimulus (1 on the stimulus side from
    ``stim_onset`` for ``stim_duration``), all with Gaussian input noise.

    Outputs (2): 0 left, 1 right saccade. The target is 0 before ``go`` (hold fixation, do not
    look at the stimulus) and, from ``go`` to the end of the trial, ``hi`` on the correct side
    (the stimulus side on pro trials, the opposite side on anti trials) and ``lo`` on the other.
    The mask is 1 throughout, so an early, reflexive saccade costs loss.

    Accuracy: a trial is correct when no output reaches ``fixation_threshold`` before ``go``
    (no premature saccade) and the choice after ``go`` (the channel with the largest mean output)
    is the target's. ``go`` is read from the target: its first nonzero step. Random output is
    (almost) never correct.

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task` (ms, ms, ms, trials).
        anti_fraction: probability that a trial is an anti-saccade trial (0 = all pro, 1 = all anti).
        stim_onset, stim_duration, delay_duration: when the stimulus appears, how long it stays
            and the memory delay until the fixation point goes off (ms); each a number or a
            ``[low, high]`` range drawn per trial.
        stim_noise: input noise scale (0.1 gives a standard deviation of about 0.045 at dt 10).
        hi, lo: target values of the correct and the other side after ``go``.
        fixation_threshold: output level before ``go`` that counts as a premature saccade.
    """

    param_units = {"stim_onset": "ms", "stim_end": "ms", "go": "ms"}  # trial parameter -> units, for figures

    def __init__(
        self,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 2000.0,
        N_batch: int = 50,
        anti_fraction: float = 0.5,
        stim_onset: Duration = (300.0, 700.0),
        stim_duration: Duration = 200.0,
        delay_duration: Duration = (100.0, 500.0),
        stim_noise: float = 0.1,
        hi: float = 1.0,
        lo: float = 0.2,
        fixation_threshold: float = 0.5,
        **kwargs,
    ) -> None:
        super().__init__(5, 2, dt, tau, T, N_batch, **kwargs)
        if not 0 <= anti_fraction <= 1:
            raise ValueError(f"{NAME}: anti_fraction is a probability in [0, 1], got {anti_fraction!r}")
        self.anti_fraction = float(anti_fraction)
        self.stim_onset = duration_bounds(NAME, "stim_onset", stim_onset)
        self.stim_duration = duration_bounds(NAME, "stim_duration", stim_duration)
        self.delay_duration = duration_bounds(NAME, "delay_duration", delay_duration)
        latest_go = self.stim_onset[1] + self.stim_duration[1] + self.delay_duration[1]
        if latest_go >= self.T:
            raise ValueError(f"{NAME}: T = {self.T:g} ms leaves no response epoch (go may come at "
                             f"{latest_go:g} ms); raise task.T or shorten the epochs")
        self.stim_noise = float(stim_noise)
        if not 0 <= lo < hi:
            raise ValueError(f"{NAME}: targets need 0 <= lo < hi, got lo={lo!r}, hi={hi!r}")
        self.hi, self.lo = float(hi), float(lo)
        self.fixation_threshold = float(fixation_threshold)

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        anti = int(self.rng.random() < self.anti_fraction)
        side = int(self.rng.integers(2))
        stim_onset = draw_duration(self.rng, self.stim_onset)
        stim_end = stim_onset + draw_duration(self.rng, self.stim_duration)
        return {
            "anti": anti,
            "side": side,
            "choice": 1 - side if anti else side,
            "stim_onset": stim_onset,
            "stim_end": stim_end,
            "go": stim_end + draw_duration(self.rng, self.delay_duration),
        }

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.input_noise(self.N_in, self.stim_noise)
        y = np.zeros(self.N_out)
        if time < params["go"]:
            x[FIXATION] += 1.0
            x[ANTI_CUE if params["anti"] else PRO_CUE] += 1.0
        else:
            choice = params["choice"]
            y[choice], y[1 - choice] = self.hi, self.lo
        if params["stim_onset"] <= time < params["stim_end"]:
            x[LEFT_STIMULUS + params["side"]] += 1.0
        return x, y, np.ones(self.N_out)

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms  # [N_steps]
        keys = ("anti", "side", "choice", "stim_onset", "stim_end", "go")
        anti, side, choice, stim_onset, stim_end, go = np.array([[p[k] for k in keys] for p in params]).T[:, :, None]
        fixating = time < go  # [B, N_steps]
        stimulus = (stim_onset <= time) & (time < stim_end)

        # channel by channel on [B, N_steps] views: loops over time are long, over channels short;
        # adding a boolean adds 1.0 where it is True
        x = self.input_noise((len(params), self.N_steps, self.N_in), self.stim_noise)
        x[:, :, FIXATION] += fixating
        x[:, :, PRO_CUE] += fixating & (anti == 0)
        x[:, :, ANTI_CUE] += fixating & (anti == 1)
        x[:, :, LEFT_STIMULUS] += stimulus & (side == 0)
        x[:, :, RIGHT_STIMULUS] += stimulus & (side == 1)
        responding = ~fixating
        y = np.empty((len(params), self.N_steps, self.N_out))
        for channel in range(2):
            np.multiply(responding, np.where(choice == channel, self.hi, self.lo), out=y[:, :, channel])
        return x, y, np.ones_like(y)

    def accuracy_function(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
        """Fraction of trials with fixation held until ``go`` and the right choice after it.

        All arrays are ``[B, N_steps, 2]``; ``go`` is the first step where the target is nonzero.
        """
        responding = (correct_output.max(axis=2) > 0) & (output_mask.max(axis=2) > 0)  # [B, N_steps]
        fixating = (correct_output.max(axis=2) == 0) & (output_mask.max(axis=2) > 0)
        held = ~np.any(fixating[:, :, None] & (test_output >= self.fixation_threshold), axis=(1, 2))
        after_go = responding[:, :, None]
        same_choice = np.argmax(np.sum(test_output * after_go, axis=1), axis=1) == np.argmax(
            np.sum(correct_output * after_go, axis=1), axis=1)
        return float(np.mean(held & same_choice))
