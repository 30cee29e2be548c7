"""Context-dependent integration: a context cue says which of two noisy evidence streams to report.

Mante, V., Sussillo, D., Shenoy, K. V. and Newsome, W. T. (2013). Context-dependent computation
by recurrent dynamics in prefrontal cortex. Nature 503, 78-84.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from psychrnn_cli.task import Task, TrialParams
from psychrnn_cli.tasks.durations import Duration, draw_duration, duration_bounds

NAME = "context_dependent_integration"
MOTION, COLOUR = 0, 1


class ContextDependentIntegration(Task):
    """Integrate the stream the context cue selects (motion or colour) and report its sign.

    Inputs (4): 0 motion evidence, 1 colour evidence, 2 motion-context cue, 3 colour-context cue.
    Each evidence channel carries its signed coherence during the stimulus
    (``stim_onset <= time < stim_end``); the cue of the trial's context is 1 from ``cue_onset``
    to the end of the trial. All channels carry Gaussian noise (std as in perceptual
    discrimination, about ``0.45 * stim_noise`` at dt 10). The two coherences are drawn
    independently, so the irrelevant stream says nothing about the answer.

    Outputs (2): 0 = the relevant coherence is positive, 1 = negative. From ``response`` (the end
    of the stimulus plus a delay) to the end of the trial, the target is ``hi`` on the correct
    channel and ``lo`` on the other, with mask 1; before that the target and the mask are 0.
    Accuracy: the shared choice rule (chance 0.5).

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task` (ms, ms, ms, trials).
        coherences: unsigned coherences; each stream draws one uniformly and a random sign.
        context: a fixed context for every trial (0 motion, 1 colour); ``None`` draws it.
        cue_onset, stim_onset, stim_duration, delay_duration: when the context cue comes on, when
            the stimulus starts, how long it lasts and the delay before the response (ms); each a
            number or a ``[low, high]`` range drawn per trial.
        stim_noise: input noise scale.
        hi, lo: target values of the correct and the other channel.
    """

    param_units = {"cue_onset": "ms", "stim_onset": "ms", "stim_end": "ms",
                   "response": "ms"}  # trial parameter -> units, for figures

    def __init__(
        self,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 2000.0,
        N_batch: int = 50,
        coherences: Sequence[float] = (0.05, 0.1, 0.2, 0.4),
        context: int | None = None,
        cue_onset: Duration = 100.0,
        stim_onset: Duration = 300.0,
        stim_duration: Duration = 800.0,
        delay_duration: Duration = (200.0, 500.0),
        stim_noise: float = 1.0,
        hi: float = 1.0,
        lo: float = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(4, 2, dt, tau, T, N_batch, **kwargs)
        self.coherences = np.asarray(list(coherences), dtype=float)
        if self.coherences.size == 0 or np.any(self.coherences <= 0):
            raise ValueError(f"{NAME}: coherences must be a non-empty list of positive numbers "
                             f"(signs are drawn per trial), got {list(coherences)!r}")
        if context not in (None, MOTION, COLOUR):
            raise ValueError(f"{NAME}: context must be 0 (motion), 1 (colour) or null, got {context!r}")
        self.context = context
        self.cue_onset = duration_bounds(NAME, "cue_onset", cue_onset)
        self.stim_onset = duration_bounds(NAME, "stim_onset", stim_onset)
        self.stim_duration = duration_bounds(NAME, "stim_duration", stim_duration)
        self.delay_duration = duration_bounds(NAME, "delay_duration", delay_duration)
        latest_response = self.stim_onset[1] + self.stim_duration[1] + self.delay_duration[1]
        if latest_response >= self.T:
            raise ValueError(f"{NAME}: T = {self.T:g} ms leaves no response epoch (the response may start at "
                             f"{latest_response:g} ms); raise task.T or shorten the epochs")
        self.stim_noise = float(stim_noise)
        self.hi, self.lo = float(hi), float(lo)

    def _signed_coherence(self) -> float:
        magnitude = self.coherences[self.rng.integers(self.coherences.size)]
        return float(magnitude if self.rng.integers(2) == 0 else -magnitude)

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        context = int(self.rng.integers(2)) if self.context is None else int(self.context)
        motion, colour = self._signed_coherence(), self._signed_coherence()
        cue_onset = draw_duration(self.rng, self.cue_onset)
        stim_onset = draw_duration(self.rng, self.stim_onset)
        stim_end = stim_onset + draw_duration(self.rng, self.stim_duration)
        relevant = motion if context == MOTION else colour
        return {
            "context": context,
            "motion_coherence": motion,
            "colour_coherence": colour,
            "choice": 0 if relevant > 0 else 1,
            "cue_onset": cue_onset,
            "stim_onset": stim_onset,
            "stim_end": stim_end,
            "response": stim_end + draw_duration(self.rng, self.delay_duration),
        }

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.input_noise(self.N_in, self.stim_noise)
        y = np.zeros(self.N_out)
        mask = np.zeros(self.N_out)
        if params["stim_onset"] <= time < params["stim_end"]:
            x[0] += params["motion_coherence"]
            x[1] += params["colour_coherence"]
        if time >= params["cue_onset"]:
            x[2 + params["context"]] += 1.0
        if time >= params["response"]:
            choice = params["choice"]
            y[choice], y[1 - choice] = self.hi, self.lo
            mask[:] = 1.0
        return x, y, mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms  # [N_steps]
        keys = ("context", "motion_coherence", "colour_coherence", "choice", "cue_onset", "stim_onset", "stim_end",
                "response")
        context, motion, colour, choice, cue_onset, stim_onset, stim_end, response = np.array(
            [[p[k] for k in keys] for p in params]).T[:, :, None]  # each [B, 1]
        stimulus = (stim_onset <= time) & (time < stim_end)  # [B, N_steps]
        cue = time >= cue_onset
        responding = time >= response

        # channel by channel on [B, N_steps] views: loops over time are long, over channels short
        x = self.input_noise((len(params), self.N_steps, self.N_in), self.stim_noise)
        x[:, :, 0] += stimulus * motion
        x[:, :, 1] += stimulus * colour
        x[:, :, 2] += cue & (context == MOTION)  # True adds 1.0
        x[:, :, 3] += cue & (context == COLOUR)
        y = np.empty((len(params), self.N_steps, self.N_out))
        mask = np.empty_like(y)
        for channel in range(2):
            np.multiply(responding, np.where(choice == channel, self.hi, self.lo), out=y[:, :, channel])
            mask[:, :, channel] = responding
        return x, y, mask
