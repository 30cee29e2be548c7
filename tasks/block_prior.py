"""Block prior: perceptual discrimination whose correct side follows a prior that switches in blocks.

The International Brain Laboratory, Aguillon-Rodriguez, V. et al. (2021). Standardized and
reproducible measurement of decision-making in mice. eLife 10, e63711. In its full task the side
of the stimulus has prior probability 0.8 or 0.2 in blocks of trials that switch without a cue,
and mice learn to lean towards the likely side, most at zero contrast. Here the block lengths are
drawn uniformly (the IBL draws them from a truncated exponential), and the stimulus is the
two-channel evidence of perceptual discrimination (Roitman and Shadlen 2002, J. Neurosci.).

Run it as trial sequences (``task.trials_per_sequence > 1``): the blocks continue across the
trials of a sequence through :meth:`BlockPrior.next_trial_params`, and feedback of the previous
correct side during the inter-trial interval (``task.feedback=correct_side``) lets the network
infer the current block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from psychrnn_cli.task import Task, TrialParams


class BlockPrior(Task):
    """Report the side with the stronger evidence; at weak evidence, the side the block favours.

    Inputs (2): during the stimulus (``onset <= time < onset + duration``) the channel of the
    correct side (``direction``) gets ``1 + coherence`` and the other ``1``; both carry Gaussian
    noise throughout. Outputs (2): from the end of the stimulus, ``hi`` on the correct side and
    ``lo`` on the other; the loss mask is 1 there and 0 before. A coherence of 0 carries no
    evidence: its correct side is drawn from the block's prior like any other.

    Trial parameters: ``coherence``, ``direction`` (0 or 1), ``prior`` (probability that
    direction is 1 in the trial's block: ``prior`` or ``1 - prior``), ``block_trial`` (0, 1, ...
    within the block) and ``block_length`` (trials).

    Args:
        dt, tau, T, N_batch: see :class:`~psychrnn_cli.task.Task` (ms, ms, ms, trials).
        coherences: values a trial's coherence is drawn from, uniformly (0 included).
        prior: probability of the likely side in a block, in [0.5, 1].
        block_length: ``[low, high]``: a block lasts a uniformly drawn number of trials in this range.
        onset, duration: the stimulus epoch (ms).
        stim_noise: input noise scale (0.1 gives a standard deviation of about 0.045 at dt 10).
        hi, lo: target values of the correct and the other side.
    """

    def __init__(
        self,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 400.0,
        N_batch: int = 50,
        coherences: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.4),
        prior: float = 0.8,
        block_length: Sequence[int] = (10, 30),
        onset: float = 100.0,
        duration: float = 200.0,
        stim_noise: float = 0.1,
        hi: float = 1.0,
        lo: float = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(2, 2, dt, tau, T, N_batch, **kwargs)
        self.coherences = np.asarray(list(coherences), dtype=float)
        if self.coherences.size == 0 or (self.coherences < 0).any():
            raise ValueError(f"block_prior: task.coherences must be a non-empty list of numbers >= 0, got {list(coherences)}")
        if not 0.5 <= prior <= 1:
            raise ValueError(f"block_prior: task.prior must be in [0.5, 1] (the likely side's probability), got {prior!r}")
        if len(block_length) != 2 or not 1 <= block_length[0] <= block_length[1]:
            raise ValueError(f"block_prior: task.block_length must be [low, high] trials with 1 <= low <= high, "
                             f"got {list(block_length)}")
        if not 0 <= onset < onset + duration <= T - dt:
            raise ValueError(f"block_prior: the stimulus (task.onset={onset:g}, task.duration={duration:g} ms) must "
                             f"be > 0 ms long and end at least one step (dt={dt:g} ms) before task.T={T:g} ms")
        self.priors = (round(1 - float(prior), 12), float(prior))  # P(direction 1) in the two kinds of block
        self.block_length = (int(block_length[0]), int(block_length[1]))
        self.onset, self.duration = float(onset), float(duration)
        self.stim_noise = float(stim_noise)
        self.hi, self.lo = float(hi), float(lo)

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        """A trial at the start of a block (a trial without history)."""
        return self.next_trial_params(batch, trial, [])

    def next_trial_params(self, batch: int, trial: int, history: list[TrialParams]) -> TrialParams:
        """The block goes on from the last trial of ``history``, or switches to the other prior
        after ``block_length`` trials; the first block's likely side is drawn, 1 or 0 equally."""
        rng = self.rng
        last = history[-1] if history else None
        if last is not None and last["block_trial"] + 1 < last["block_length"]:
            prior, block_trial, block_length = last["prior"], last["block_trial"] + 1, last["block_length"]
        else:
            if last is None:
                prior = self.priors[int(rng.random() < 0.5)]
            else:
                prior = self.priors[int(last["prior"] == self.priors[0])]  # the other block
            block_trial, block_length = 0, int(rng.integers(self.block_length[0], self.block_length[1] + 1))
        return {
            "coherence": float(self.coherences[rng.integers(self.coherences.size)]),
            "direction": int(rng.random() < prior),
            "prior": float(prior),
            "block_trial": int(block_trial),
            "block_length": int(block_length),
        }

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        time = self.time_ms  # [N_steps]
        coherence, direction = np.array([(p["coherence"], p["direction"]) for p in params]).T[:, :, None]  # [B, 1]
        stim_end = self.onset + self.duration
        stimulus = (self.onset <= time) & (time < stim_end)  # [N_steps]
        response = time >= stim_end
        x = self.input_noise((len(params), self.N_steps, self.N_in), self.stim_noise)
        y = np.zeros_like(x)
        for channel in range(2):
            chosen = direction == channel  # [B, 1]
            x[:, :, channel] += stimulus * (1 + coherence * chosen)
            y[:, :, channel] = response * np.where(chosen, self.hi, self.lo)
        mask = np.repeat(np.broadcast_to(response.astype(float), (len(params), self.N_steps))[:, :, None], 2, axis=2)
        return x, y, mask

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.input_noise(self.N_in, self.stim_noise)
        d, stim_end = params["direction"], self.onset + self.duration
        if self.onset <= time < stim_end:
            x[d] += 1 + params["coherence"]
            x[1 - d] += 1
        y, mask = np.zeros(self.N_out), np.zeros(self.N_out)
        if time >= stim_end:
            y[d], y[1 - d] = self.hi, self.lo
            mask[:] = 1.0
        return x, y, mask
