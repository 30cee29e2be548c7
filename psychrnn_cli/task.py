"""The task contract (docs/guides/own-task.md): NumPy only, no TensorFlow.

A task describes trials: random parameters per trial (`generate_trial_params`) and the input,
target and loss mask at each time (`trial_function`). This is PsychRNN's contract, so a PsychRNN
task file runs here after changing its import line to ``from psychrnn_cli.task import Task``.

Arrays are batch-major: inputs ``x [B, N_steps, N_in]``, targets ``y`` and masks
``mask [B, N_steps, N_out]``. Time is in milliseconds; step ``t`` is at ``time = t * dt``.

Randomness: every draw comes from ``self.rng`` (a seeded ``numpy.random.Generator``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Iterator

import numpy as np

TrialParams = dict[str, Any]
Batch = tuple[np.ndarray, np.ndarray, np.ndarray, list[TrialParams]]


class TaskError(ValueError):
    """A task produced arrays of the wrong shape; the message names the task and the shapes."""


def check_batch(task: "Task", x: np.ndarray, y: np.ndarray, mask: np.ndarray, n_trials: int) -> None:
    """Raise :class:`TaskError` unless the batch can be trained and scored.

    ``x`` must be ``[n, N_steps, N_in]`` and ``y``, ``mask`` ``[n, N_steps, N_out]``, all finite; the
    mask must be >= 0 and score some output in every trial (a trial with an all-zero mask would
    count as correct).
    """
    expected = {"inputs": (n_trials, task.N_steps, task.N_in), "targets": (n_trials, task.N_steps, task.N_out),
                "mask": (n_trials, task.N_steps, task.N_out)}
    for name, array in zip(expected, (x, y, mask)):
        if np.shape(array) != expected[name]:
            raise TaskError(
                f"task {task.name} produced {name} of shape {np.shape(array)}, expected {expected[name]} "
                f"(trials, N_steps = ceil(T/dt), {'N_in' if name == 'inputs' else 'N_out'})"
            )
        if not np.isfinite(array).all():
            raise TaskError(f"task {task.name} produced {name} with NaN or infinite values; fix the task's "
                            "trial_function or trials, or its settings")
    if (mask < 0).any():
        raise TaskError(f"task {task.name} produced a loss mask with negative values (the loss would reward "
                        "errors there); use weights >= 0")
    unscored = int(np.count_nonzero(~mask.any(axis=(1, 2))))
    if unscored:
        raise TaskError(
            f"task {task.name}: {unscored} of {n_trials} trials have an all-zero loss mask (no output is "
            f"trained or scored, so they would count as correct); make the trials longer (task.T = {task.T:g} ms, "
            f"{task.N_steps} steps of {task.dt:g} ms) or fix the task's mask"
        )


def choice_accuracy(correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
    """Fraction of trials whose choice matches the target's (PsychRNN's rule, shared by all tasks).

    The choice of a trial is the output channel with the largest time average of
    ``output * mask``. All arrays are ``[B, N_steps, N_out]``.
    """
    return float(np.mean(trial_choices(test_output, output_mask) == trial_choices(correct_output, output_mask)))


def trial_choices(output: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Chosen channel per trial, ``[B]`` ints: argmax over channels of the masked time average."""
    return np.argmax(np.mean(output * mask, axis=1), axis=1)


class Task:
    """Base class of all tasks.

    Subclasses implement ``generate_trial_params`` and either ``trial_function`` (one time step,
    PsychRNN style) or, faster, ``trials`` (a whole batch at once, time-vectorized). Both paths
    must give the same arrays for the same parameters and random state.

    Args:
        N_in: number of input channels.
        N_out: number of output channels.
        dt: simulation step (ms).
        tau: unit time constant (ms).
        T: trial length (ms).
        N_batch: trials per training batch.
        seed: seed of ``self.rng`` when no ``rng`` is given.
        rng: the generator all random draws come from.
    """

    def __init__(
        self,
        N_in: int,
        N_out: int,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float = 2000.0,
        N_batch: int = 50,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        for name, value, whole in (("N_in", N_in, True), ("N_out", N_out, True), ("dt", dt, False), ("tau", tau, False),
                                   ("T", T, False), ("N_batch", N_batch, True)):
            if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value < math.inf
                    and (not whole or value == int(value))):
                raise TaskError(f"task {getattr(self, 'name', type(self).__name__)}: {name} must be a positive "
                                f"{'whole' if whole else 'finite'} number, got {value!r}")
        self.N_in = int(N_in)
        self.N_out = int(N_out)
        self.dt = float(dt)
        self.tau = float(tau)
        self.T = float(T)
        self.N_batch = int(N_batch)
        self.alpha = self.dt / self.tau
        self.N_steps = int(math.ceil(self.T / self.dt))
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.batch_count = 0

    @property
    def name(self) -> str:
        """The task's class name, for messages."""
        return type(self).__name__

    # --- the contract a task author implements -------------------------------------------

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        """Random parameters of one trial. ``batch`` counts batches from 1."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate_trial_params(batch, trial)")

    def next_trial_params(self, batch: int, trial: int, history: list[TrialParams]) -> TrialParams:
        """Parameters of the next trial of a sequence (``task.trials_per_sequence > 1``), optional.

        ``history`` holds the parameter dicts of the earlier trials of the same sequence, oldest
        first (empty for its first trial); ``trial`` is the trial's index in the batch of trials.
        Return a dict with the same keys, and values of the same shapes, for every trial of a
        sequence. Draw from ``self.rng``. The default ignores the history:
        ``generate_trial_params(batch, trial)``.
        """
        return self.generate_trial_params(batch, trial)

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Input ``[N_in]``, target ``[N_out]`` and mask ``[N_out]`` at ``time`` (ms)."""
        raise NotImplementedError(f"{type(self).__name__} must implement trial_function(time, params) or trials(params)")

    def accuracy_function(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
        """Fraction of correct trials; by default the choice rule of :func:`choice_accuracy`."""
        return choice_accuracy(correct_output, test_output, output_mask)

    # --- batch generation ----------------------------------------------------------------

    @property
    def time_ms(self) -> np.ndarray:
        """Time of each step, ``[N_steps]`` in ms: ``t * dt``."""
        return np.arange(self.N_steps) * self.dt

    def generate_trial(self, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One trial by calling ``trial_function`` at every step: ``x [N_steps, N_in]``, ``y``, ``mask``."""
        x = np.zeros((self.N_steps, self.N_in))
        y = np.zeros((self.N_steps, self.N_out))
        mask = np.zeros((self.N_steps, self.N_out))
        for t in range(self.N_steps):
            x_t, y_t, mask_t = self.trial_function(t * self.dt, params)
            if np.shape(x_t) != (self.N_in,) or np.shape(y_t) != (self.N_out,) or np.shape(mask_t) != (self.N_out,):
                raise TaskError(
                    f"task {self.name}: trial_function returned shapes {np.shape(x_t)}, {np.shape(y_t)}, "
                    f"{np.shape(mask_t)}; expected ({self.N_in},), ({self.N_out},), ({self.N_out},) (N_in, N_out, N_out)"
                )
            x[t], y[t], mask[t] = x_t, y_t, mask_t
        return x, y, mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs, targets and masks of a batch, ``[B, N_steps, N_in|N_out]``.

        The default calls :meth:`generate_trial` for each trial (the per-step path); tasks override
        it with array operations over time and trials.
        """
        x, y, mask = zip(*(self.generate_trial(p) for p in params))
        return np.stack(x), np.stack(y), np.stack(mask)

    def get_trial_batch(self, n_trials: int | None = None) -> Batch:
        """A fresh batch: ``(x, y, mask, trial_params)``. ``n_trials`` defaults to ``N_batch``."""
        self.batch_count += 1
        n = self.N_batch if n_trials is None else int(n_trials)
        params = [self.generate_trial_params(self.batch_count, trial) for trial in range(n)]
        x, y, mask = self.trials(params)
        check_batch(self, x, y, mask, n)
        return x, y, mask, params

    def batch_generator(self) -> Iterator[Batch]:
        """Endless batches of ``N_batch`` trials, as PsychRNN's ``batch_generator``."""
        while True:
            yield self.get_trial_batch()

    def input_noise(self, shape: int | tuple[int, ...], stim_noise: float | np.ndarray) -> np.ndarray:
        """Gaussian input noise of the given shape with PsychRNN's standard deviation.

        std = sqrt(2 * 0.01 * sqrt(10) * sqrt(dt) * stim_noise^2), about 0.045 at dt 10 and
        stim_noise 0.1. A batch drawn at once as ``(B, N_steps, N_in)`` equals ``B * N_steps``
        per-step draws of ``N_in`` values in (trial, time) order, so both paths agree.
        """
        std = np.sqrt(2 * 0.01 * math.sqrt(10) * math.sqrt(self.dt) * np.square(stim_noise))
        noise = self.rng.standard_normal(shape)
        if np.ndim(std) == 0:
            noise *= std  # in place: no second array (the same values as std * noise)
            return noise
        return std * noise


class DuckTypedTask(Task):
    """Adapter for a task object that only has PsychRNN's members (no base class of ours).

    It needs ``N_in, N_out, dt, tau, T, N_batch``, ``generate_trial_params`` and
    ``trial_function``; ``accuracy_function`` is used when present. Such tasks usually draw from
    NumPy's global random state, which the training run seeds.
    """

    REQUIRED = ("N_in", "N_out", "dt", "tau", "T", "N_batch", "generate_trial_params", "trial_function")

    def __init__(self, task: Any) -> None:
        missing = [name for name in self.REQUIRED if not hasattr(task, name)]
        if missing:
            raise TypeError(
                f"{type(task).__name__} is not a task: it lacks {', '.join(missing)} "
                "(subclass psychrnn_cli.task.Task, or give it PsychRNN's members)"
            )
        self.wrapped = task  # (first: the sizes' check names the task)
        super().__init__(task.N_in, task.N_out, task.dt, task.tau, task.T, task.N_batch)

    @property
    def name(self) -> str:
        return type(self.wrapped).__name__

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        return self.wrapped.generate_trial_params(batch, trial)

    def next_trial_params(self, batch: int, trial: int, history: list[TrialParams]) -> TrialParams:
        if hasattr(self.wrapped, "next_trial_params"):
            return self.wrapped.next_trial_params(batch, trial, history)
        return super().next_trial_params(batch, trial, history)

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.wrapped.trial_function(time, params)

    def accuracy_function(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
        if hasattr(self.wrapped, "accuracy_function"):
            return float(self.wrapped.accuracy_function(correct_output, test_output, output_mask))
        return super().accuracy_function(correct_output, test_output, output_mask)


def trial_param_arrays(params: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """One array ``[B]`` per numeric trial parameter (others are skipped)."""
    out = {}
    for key in params[0] if params else []:
        values = [p.get(key) for p in params]
        if all(isinstance(v, (int, float, np.integer, np.floating, bool)) for v in values):
            out[key] = np.asarray(values)
    return out


def plain(value: Any) -> Any:
    """Mappings and lists from a config (OmegaConf nodes, as a task's options arrive) as plain
    dicts and lists, recursively; anything else as it is."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value
