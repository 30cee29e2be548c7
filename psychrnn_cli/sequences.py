"""Trial sequences: K trials of a task run back to back without resetting the network. NumPy only.

A batch element of a :class:`SequenceTask` is a sequence of ``K = trials_per_sequence`` trials of
another task, concatenated along time. Each trial is preceded by an inter-trial interval (ITI) of
``iti`` ms whose loss mask is 0; during the ITI before trial ``k > 0``, optional feedback input
channels tell the network the correct answer of trial ``k - 1`` (``feedback="correct_side"``) or,
in reward-based training, the reward it earned and the choice it made on trial ``k - 1``
(``feedback="reward"``: the channels are left at zero here and filled in while the network acts,
see :mod:`psychrnn_cli.network.reinforce`). The layout of one sequence, with
``I`` ITI steps and ``N`` steps per trial (segment length ``S = I + N``)::

    step:   0 .. I-1 | I .. S-1 | S .. S+I-1 | S+I .. 2S-1 | ...
            ITI      | trial 0  | ITI        | trial 1     | ...

The trial parameters of a sequence come from the task's hook
:meth:`~psychrnn_cli.task.Task.next_trial_params` (``history`` = the parameters of the earlier
trials of the same sequence), so they may depend on the sequence so far (blocks, switches); a task
without the hook draws each trial independently. Loss and accuracy are per trial: the loss mask is
0 in every ITI, and :meth:`SequenceTask.accuracy_function` applies the task's own rule to each
trial's segment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from psychrnn_cli.task import Batch, Task, TaskError, TrialParams, check_batch, trial_choices, trial_param_arrays

FEEDBACK = ("none", "correct_side", "reward")
SEQUENCE_KEYS = {"trials_per_sequence": 1, "iti": 0.0, "feedback": "none"}  # task config key -> default


class SequenceTask(Task):
    """Sequences of ``trials_per_sequence`` trials of ``task``, with ITIs and optional feedback.

    Inputs: the task's ``N_in`` channels, then the feedback channels, non-zero only during the ITI
    before each trial but the first:

    - ``feedback="correct_side"``: ``N_out`` channels, 1 on the channel of the previous trial's
      correct choice (the task's choice rule applied to its targets).
    - ``feedback="reward"`` (reward-based training only): 1 channel for the reward the network
      earned on the previous trial, then one channel per choice action (every action but fixation,
      :func:`choice_actions`), 1 on the choice it made there. All zero in the batches made here:
      they depend on the actions the network samples, and the actor-critic step fills them in.

    Outputs: the task's. ``N_steps = K * (I + N)``.

    Args:
        task: the task whose trials make the sequences (its ``rng`` is shared).
        trials_per_sequence: K >= 1.
        iti: inter-trial interval before each trial (ms, >= 0; rounded up to whole steps).
        feedback: ``"none"``, ``"correct_side"`` or ``"reward"`` (both need ``iti > 0`` and ``K >= 2``).

    Trial parameters of a batch element: ``{"trials": [K parameter dicts]}`` (numeric ones as
    arrays ``[B, K]``: :func:`param_arrays`).
    """

    def __init__(self, task: Task, trials_per_sequence: int = 1, iti: float = 0.0, feedback: str = "none") -> None:
        if int(trials_per_sequence) < 1:
            raise ValueError(f"task.trials_per_sequence must be a positive int, got {trials_per_sequence!r}")
        if feedback not in FEEDBACK:
            raise ValueError(f"task.feedback must be one of {', '.join(FEEDBACK)}, got {feedback!r}")
        if iti < 0:
            raise ValueError(f"task.iti must be a number >= 0 (ms), got {iti!r}")
        if feedback != "none" and int(trials_per_sequence) == 1:
            raise ValueError(f"task.feedback={feedback} tells the network about the previous trial of a sequence, and "
                             "with task.trials_per_sequence=1 there is none: set task.trials_per_sequence to 2 or "
                             "more (or train with task.feedback=none)")
        if feedback != "none" and iti <= 0:
            raise ValueError(f"task.feedback={feedback} is shown during the inter-trial interval: set task.iti > 0 "
                             "(ms), e.g. task.iti=200")
        self.trial_task = task
        self.K = int(trials_per_sequence)
        # rounded up to whole steps (the tolerance keeps 0.3 / 0.1 at 3 steps), and any positive ITI to one at least
        self.iti_steps = max(int(math.ceil(iti / task.dt - 1e-9)), int(iti > 0))
        self.feedback = feedback
        n_feedback = {"none": 0, "correct_side": task.N_out, "reward": 1 + len(choice_actions(task))}[feedback]
        self.segment_steps = self.iti_steps + task.N_steps
        super().__init__(task.N_in + n_feedback, task.N_out, task.dt, task.tau, self.K * self.segment_steps * task.dt,
                         task.N_batch, rng=task.rng)
        self.N_steps = self.K * self.segment_steps  # (not ceil(T / dt), which rounding could change)

    @property
    def rng(self) -> np.random.Generator:  # type: ignore[override]
        """The trial task's generator: every draw of a sequence comes from it."""
        return self.trial_task.rng

    @rng.setter
    def rng(self, value: np.random.Generator) -> None:
        self.trial_task.rng = value

    @property
    def fixation_output(self) -> int | None:
        """The trial task's fixation output channel, if it has one (reward-based training's actions)."""
        return getattr(self.trial_task, "fixation_output", None)

    @property
    def name(self) -> str:
        return f"{self.trial_task.name} (sequences of {self.K})"

    @property
    def param_units(self) -> dict[str, str]:
        """The trial task's units of its trial parameters."""
        return getattr(self.trial_task, "param_units", {})

    def trial_steps(self) -> np.ndarray:
        """Index of the steps of each trial in a sequence, ``[K, N]`` (the ITIs left out)."""
        starts = np.arange(self.K) * self.segment_steps + self.iti_steps
        return starts[:, None] + np.arange(self.trial_task.N_steps)

    def split(self, array: np.ndarray) -> np.ndarray:
        """``[B, N_steps, C]`` sequences -> ``[B * K, N, C]`` trials, in sequence order (ITIs dropped)."""
        array = np.asarray(array)
        return array[:, self.trial_steps()].reshape(-1, self.trial_task.N_steps, array.shape[-1])

    def get_trial_batch(self, n_trials: int | None = None) -> Batch:
        """``n_trials`` sequences (default ``N_batch``): ``x [n, N_steps, N_in]``, ``y``, ``mask``
        ``[n, N_steps, N_out]`` and one parameter dict per sequence."""
        self.batch_count += 1
        n = self.N_batch if n_trials is None else int(n_trials)
        sequences = [self._sequence_params(b * self.K) for b in range(n)]
        flat = [p for sequence in sequences for p in sequence]
        x, y, mask = self.trial_task.trials(flat)  # [n K, N, C]
        check_batch(self.trial_task, x, y, mask, n * self.K)
        return (*self._assemble(x, y, mask, n), [{"trials": sequence} for sequence in sequences])

    def accuracy_function(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
        """The trial task's accuracy over all trials, each scored on its own segment."""
        return self.trial_task.accuracy_function(self.split(correct_output), self.split(test_output),
                                                 self.split(output_mask))

    def _sequence_params(self, first: int) -> list[TrialParams]:
        """The K parameter dicts of one sequence, from the hook; TaskError for a malformed one.

        ``first``: the index of the sequence's first trial in the batch.
        """
        history: list[TrialParams] = []
        for k in range(self.K):
            params = self.trial_task.next_trial_params(self.batch_count, first + k, list(history))
            check_trial_params(self.trial_task, params, history[0] if history else None, k)
            history.append(params)
        return history

    def _assemble(self, x: np.ndarray, y: np.ndarray, mask: np.ndarray, n: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trials ``[n K, N, C]`` -> sequences ``[n, N_steps, C]``: ITIs of zeros, feedback channels."""
        K, N, iti = self.K, self.trial_task.N_steps, self.iti_steps
        shape = (n, K, self.segment_steps)
        x_seq = np.zeros((*shape, self.N_in))
        y_seq, mask_seq = np.zeros((*shape, self.N_out)), np.zeros((*shape, self.N_out))
        x_seq[:, :, iti:, :self.trial_task.N_in] = x.reshape(n, K, N, -1)
        y_seq[:, :, iti:] = y.reshape(n, K, N, -1)
        mask_seq[:, :, iti:] = mask.reshape(n, K, N, -1)
        if self.feedback == "correct_side" and K > 1:
            correct = trial_choices(y, mask).reshape(n, K)  # [n, K]
            for k in range(1, K):
                x_seq[np.arange(n), k, :iti, self.trial_task.N_in + correct[:, k - 1]] = 1.0
        return tuple(a.reshape(n, self.N_steps, -1) for a in (x_seq, y_seq, mask_seq))


def check_trial_params(task: Task, params: Any, first: TrialParams | None, position: int) -> None:
    """TaskError unless ``params`` (trial ``position`` of a sequence) is a dict with the keys, and
    values of the shapes, of the sequence's ``first`` trial."""
    hook = f"task {task.name}: next_trial_params"
    if not isinstance(params, Mapping):
        raise TaskError(f"{hook} returned {type(params).__name__} ({str(params)[:60]}) for trial {position} of a "
                        "sequence; it must return a dict of the trial's parameters")
    if first is None:
        return
    if set(params) != set(first):
        raise TaskError(f"{hook} returned the keys {sorted(params)} for trial {position} of a sequence, but "
                        f"{sorted(first)} for its first trial; every trial must have the same keys")
    for key, value in params.items():
        if np.shape(value) != np.shape(first[key]):
            raise TaskError(f"{hook} returned {key} of shape {np.shape(value)} for trial {position} of a sequence, "
                            f"but {np.shape(first[key])} for its first trial; keep each parameter's shape")


def param_arrays(task: Task, params: list[TrialParams]) -> dict[str, np.ndarray]:
    """One array per numeric trial parameter of a batch (:func:`~psychrnn_cli.task.trial_param_arrays`):
    ``[B]`` for a task, ``[B, K]`` for the sequences of a :class:`SequenceTask`."""
    if not isinstance(task, SequenceTask):
        return trial_param_arrays(params)
    trials = trial_param_arrays([p for sequence in params for p in sequence["trials"]])
    return {key: values.reshape(len(params), task.K) for key, values in trials.items()}


def per_trial(task: Task, arrays: list[np.ndarray], params: list[TrialParams]
              ) -> tuple[Task, list[np.ndarray], list[TrialParams]]:
    """The trial view of a batch, for analyses that score trials one by one.

    For a :class:`SequenceTask`: its trial task, each array ``[B, N_steps, C]`` split into
    ``[B * K, N, C]`` trials, and the ``B * K`` trial parameter dicts, each with ``position`` (0 ..
    K-1 in its sequence) added. Any other task: everything unchanged.
    """
    if not isinstance(task, SequenceTask):
        return task, arrays, params
    trials = [{**p, "position": k} for sequence in params for k, p in enumerate(sequence["trials"])]
    return task.trial_task, [task.split(a) for a in arrays], trials


def make_sequences(task: Task, trials_per_sequence: int = 1, iti: float = 0.0, feedback: str = "none") -> Task:
    """``task`` itself for the defaults (one trial, no ITI, no feedback: exactly the task's batches),
    else a :class:`SequenceTask` of it."""
    if (int(trials_per_sequence), float(iti), feedback) == (1, 0.0, "none"):
        return task
    return SequenceTask(task, trials_per_sequence, iti, feedback)


def layout(task: Task) -> dict[str, int]:
    """Where the trials of a batch element are: ``trials_per_sequence`` K, ``iti_steps`` I and
    ``trial_steps`` N (trial ``k`` spans steps ``k (I + N) + I`` to ``(k + 1)(I + N) - 1``); a
    task that is not a sequence task has K = 1, I = 0."""
    if isinstance(task, SequenceTask):
        return {"trials_per_sequence": task.K, "iti_steps": task.iti_steps, "trial_steps": task.trial_task.N_steps}
    return {"trials_per_sequence": 1, "iti_steps": 0, "trial_steps": task.N_steps}


def choice_actions(task: Task) -> list[int]:
    """The actions of reward-based training that are choices (every action but fixation, in
    order; see :mod:`psychrnn_cli.rewards`): ``1 .. N_out`` for a task without a fixation output,
    else every output channel but ``task.fixation_output``."""
    fixation = getattr(task, "fixation_output", None)
    if fixation is None:
        return list(range(1, task.N_out + 1))
    return [a for a in range(task.N_out) if a != int(fixation)]


def feedback_attrs(task: Task) -> dict[str, Any]:
    """What the run file records of a sequence task's feedback channels (empty without feedback):
    ``feedback`` (the setting), ``feedback_first_input`` (index of its first input channel) and
    ``feedback_inputs`` (what each channel carries, in order)."""
    if not isinstance(task, SequenceTask) or task.feedback == "none":
        return {}
    first = task.trial_task.N_in
    if task.feedback == "correct_side":
        what = [f"correct output {c} on the previous trial" for c in range(task.N_out)]
    else:
        shift = getattr(task.trial_task, "fixation_output", None) is None  # (action a is output a - 1 then)
        what = ["reward earned on the previous trial"] + [f"chose output {a - shift} (action {a}) on the previous trial"
                                                          for a in choice_actions(task.trial_task)]
    return {"feedback": task.feedback, "feedback_first_input": first,
            "feedback_inputs": "; ".join(f"input {first + i}: {text}" for i, text in enumerate(what))}
