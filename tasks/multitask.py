"""One network, many tasks: trials drawn from several tasks, with a rule input saying which.

Yang, G. R., Joglekar, M. R., Song, H. F., Newsome, W. T. and Wang, X.-J. (2019). Task
representations in neural networks trained to perform many cognitive tasks. Nature Neuroscience
22, 297-306.

``task=multitask task.tasks=[perceptual_discrimination, anti_saccade]`` trains one network on
both. Each trial comes from one task (its *member*); ``params["task"]`` names it and
``params["task_index"]`` numbers it (the order of ``tasks``).
"""

from __future__ import annotations

import difflib
import importlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from psychrnn_cli.task import DuckTypedTask, Task, TrialParams, check_batch, plain

NAME = "multitask"
NEUROGYM_ID = re.compile(r"^[A-Za-z][\w.]*-v\d+$")  # e.g. GoNogo-v0
NEUROGYM_TASK = "psychrnn_cli.tasks.neurogym_env.NeuroGymTask"
MIXING = ("trial", "batch")
ENTRY_KEYS = ("name", "_target_", "label")  # an entry's own keys; the others are the task's options
SET_BY_MULTITASK = {"N_batch", "seed", "rng"}  # task options the multi-task sets for every task


@dataclass
class Member:
    """One task of a multi-task: its label, the task, and its channels in the combined arrays.

    Attributes:
        label: the task's name in curves, tables and trial parameters.
        task: the task itself (drawing from the multi-task's generator).
        inputs: its input channels in the combined input (the rule channels come after all).
        outputs: its output channels in the combined output.
    """

    label: str
    task: Task
    inputs: slice
    outputs: slice



def _import(path: str, where: str) -> Any:
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"{where}: cannot import {path!r} ({err}); is its module on PYTHONPATH or in the working "
                         "directory?") from None


def resolve_entry(entry: Any, number: int) -> tuple[str, Any, dict[str, Any]]:
    """``(label, class or factory, options)`` of one entry of ``task.tasks``.

    An entry is a name (a built-in task such as ``anti_saccade``, a NeuroGym id such as
    ``GoNogo-v0``, or an import path ``my_module.MyTask``), or a mapping with ``name`` or
    ``_target_``, an optional ``label`` and the task's own options.
    """
    from psychrnn_cli.tasks import BUILTIN_TASKS

    where = f"task.tasks[{number}]"
    spec = {"name": entry} if isinstance(entry, str) else dict(entry) if isinstance(entry, Mapping) else None
    if spec is None or ("name" in spec) == ("_target_" in spec):
        raise ValueError(f"{where}: give a task name (e.g. anti_saccade), or a mapping with name: or _target_: and "
                         f"the task's options; got {entry!r}")
    label = spec.pop("label", None)
    options = {k: v for k, v in spec.items() if k not in ENTRY_KEYS}
    name = str(spec.get("name") or spec["_target_"])
    if "_target_" in spec or "." in name and not NEUROGYM_ID.match(name):
        target = _import(name, where)
        default_label = getattr(target, "__name__", name)
    elif name in BUILTIN_TASKS:
        target, default_label = _import(BUILTIN_TASKS[name], where), name
    elif NEUROGYM_ID.match(name):
        target, default_label = _import(NEUROGYM_TASK, where), name
        options = {"env": name, **options}
    else:
        close = difflib.get_close_matches(name, list(BUILTIN_TASKS), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ValueError(f"{where}: unknown task {name!r}; {hint}use a built-in task ({', '.join(BUILTIN_TASKS)}), "
                         "a NeuroGym id such as GoNogo-v0, or an import path such as my_module.MyTask")
    label = str(label or default_label)
    if not label or "/" in label:
        raise ValueError(f"{where}: label {label!r} must be a non-empty name without '/' (it names curves and results)")
    return label, target, options


def _scoring(task: Task) -> tuple[Any, ...]:
    """What decides a trial's accuracy: the accuracy function and the settings it reads."""
    owner = task.wrapped if isinstance(task, DuckTypedTask) else task
    function = getattr(type(owner), "accuracy_function", Task.accuracy_function)
    return function, getattr(owner, "accuracy", None), getattr(owner, "tolerance", None)


class MultiTask(Task):
    """Trials from several tasks in one network, with one rule input channel per task.

    Inputs: the tasks' inputs, then ``len(tasks)`` rule channels; rule channel ``k`` is 1 on trials
    of task ``k`` during ``rule_window`` (the whole trial by default) and 0 otherwise. With
    ``share_channels`` the tasks use the same input and output channels (the convention of Yang et
    al. 2019), which needs equal ``N_in`` and ``N_out`` and the same accuracy rule; otherwise each
    task has its own input and output channels, side by side in the order of ``tasks``, and the
    loss mask is 0 on the other tasks' outputs.

    Length: ``T`` defaults to the longest task's; a task given a shorter ``T`` of its own is padded
    at the end (inputs 0 except the rule, targets 0, mask 0). A task may not be longer than ``T``.
    ``dt`` and ``tau`` are the multi-task's: a task entry with a different value is an error.

    Mixing: each trial's task is drawn with ``proportions`` (default uniform; normalised), or,
    with ``mixing: batch``, one task per batch, drawn the same way.

    Accuracy: each trial by its own task's rule (on its own time steps and output channels); the
    overall accuracy is the mean over trials. :meth:`accuracy_by_task` gives it per task.

    Args:
        tasks: the tasks; see :func:`resolve_entry`. Options given in an entry go to that task.
        dt, tau, N_batch: see :class:`~psychrnn_cli.task.Task` (ms, ms, trials).
        T: trial length (ms), or ``None`` for the longest of the tasks' own lengths.
        share_channels: share input and output channels between the tasks.
        proportions: non-negative weights, one per task (a zero leaves a task out), or ``None``.
        mixing: ``trial`` (tasks mixed within a batch) or ``batch`` (one task per batch).
        rule_window: ``[start, end]`` in ms during which the rule input is on (``end`` null: to the
            end of the trial), or ``None`` for the whole trial.
    """

    def __init__(
        self,
        tasks: Sequence[Any] = (),
        dt: float = 10.0,
        tau: float = 100.0,
        T: float | None = None,
        N_batch: int = 50,
        share_channels: bool = False,
        proportions: Sequence[float] | None = None,
        mixing: str = "trial",
        rule_window: Sequence[float | None] | None = None,
        **kwargs,
    ) -> None:
        entries = plain(tasks)
        if not isinstance(entries, list) or len(entries) < 2:
            raise ValueError(f"{NAME}: task.tasks must list at least two tasks, e.g. "
                             f"[perceptual_discrimination, anti_saccade]; got {entries!r}")
        if mixing not in MIXING:
            raise ValueError(f"{NAME}: task.mixing must be one of {', '.join(MIXING)}, got {mixing!r}")
        self.mixing = mixing
        self.share_channels = bool(share_channels)
        self.weights = self._check_proportions(proportions, len(entries))
        tasks_built = self._build_members(entries, float(dt), float(tau), T, int(N_batch))
        longest = max(task.T for _, task in tasks_built)
        T = longest if T is None else float(T)
        for label, task in tasks_built:
            if task.N_steps > math.ceil(T / float(dt)):
                raise ValueError(f"{NAME}: task {label} has T = {task.T:g} ms, longer than task.T = {T:g} ms; raise "
                                 "task.T or shorten that task")
        self.members = self._layout(tasks_built)
        n_in = self.members[-1].inputs.stop + len(self.members)
        n_out = self.members[-1].outputs.stop
        super().__init__(n_in, n_out, dt, tau, T, N_batch, **kwargs)
        self.rule_steps = self._rule_steps(rule_window)
        self._batch_task = 0

    # --- construction ------------------------------------------------------------------

    @staticmethod
    def _check_proportions(proportions: Sequence[float] | None, n: int) -> np.ndarray:
        """Probabilities ``[n]`` from the weights (uniform for ``None``)."""
        if proportions is None:
            return np.full(n, 1.0 / n)
        values = plain(proportions)
        if not isinstance(values, list) or len(values) != n:
            raise ValueError(f"{NAME}: task.proportions must list {n} weights, one per task, got {values!r}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                   for v in values):
            raise ValueError(f"{NAME}: task.proportions must be numbers >= 0, got {values!r}")
        if sum(values) <= 0:
            raise ValueError(f"{NAME}: task.proportions must have a positive sum (a 0 leaves a task out), "
                             f"got {values!r}")
        return np.asarray(values, dtype=float) / sum(values)

    @staticmethod
    def _build_members(entries: list[Any], dt: float, tau: float, T: float | None, n_batch: int
                       ) -> list[tuple[str, Task]]:
        from psychrnn_cli.schema import check_arguments, unexpected_argument

        built: list[tuple[str, Task]] = []
        for number, entry in enumerate(entries):
            label, target, options = resolve_entry(entry, number)
            if label in [b[0] for b in built]:
                raise ValueError(f"{NAME}: task.tasks lists {label} twice; give each entry its own label "
                                 f"(e.g. {{name: {label}, label: {label}_2, ...}}) or drop the duplicate")
            for key, value in (("dt", dt), ("tau", tau)):
                if key in options and float(options[key]) != value:
                    raise ValueError(f"{NAME}: task.tasks[{number}] ({label}) has {key} = {options[key]} but the "
                                     f"multi-task has task.{key} = {value:g}; one network has one {key}: set "
                                     f"task.{key} and drop it from the entry")
            for key in SET_BY_MULTITASK.intersection(options):
                raise ValueError(f"{NAME}: task.tasks[{number}].{key} is set by the multi-task itself (trials per "
                                 "batch: train.batch_size; random draws: seed); drop it from the entry")
            options = {"dt": dt, "tau": tau, "N_batch": n_batch, **options}
            if T is not None:
                options.setdefault("T", T)
            check_arguments(f"task.tasks[{number}]", target, options)
            try:
                task = target(**options)
            except TypeError as err:  # (a task taking **kwargs refuses an option only when called)
                raise unexpected_argument(f"task.tasks[{number}]", target, err) or err from None
            if not isinstance(task, Task):
                task = DuckTypedTask(task)
            built.append((label, task))
        return built

    def _layout(self, built: list[tuple[str, Task]]) -> list[Member]:
        """Each task's input and output channels: shared, or side by side."""
        if self.share_channels:
            first_label, first = built[0]
            for label, task in built[1:]:
                for size in ("N_in", "N_out"):
                    if getattr(task, size) != getattr(first, size):
                        raise ValueError(
                            f"{NAME}: task.share_channels=true needs the same channels in every task, but {label} has "
                            f"{size} = {getattr(task, size)} and {first_label} has {getattr(first, size)}; set "
                            "task.share_channels=false to lay them side by side")
                if _scoring(task) != _scoring(first):
                    raise ValueError(
                        f"{NAME}: task.share_channels=true needs one accuracy rule, but {label} and {first_label} "
                        "score trials differently (their accuracy functions or settings differ); set "
                        "task.share_channels=false to lay them side by side")
            return [Member(label, task, slice(0, first.N_in), slice(0, first.N_out)) for label, task in built]
        members, n_in, n_out = [], 0, 0
        for label, task in built:
            members.append(Member(label, task, slice(n_in, n_in + task.N_in), slice(n_out, n_out + task.N_out)))
            n_in, n_out = n_in + task.N_in, n_out + task.N_out
        return members

    def _rule_steps(self, window: Sequence[float | None] | None) -> np.ndarray:
        """``[N_steps]`` bool: the steps with the rule input on."""
        if window is None:
            return np.ones(self.N_steps, dtype=bool)
        window = plain(window)
        if not isinstance(window, list) or len(window) != 2 or not isinstance(window[0], (int, float)) \
                or not (window[1] is None or isinstance(window[1], (int, float))):
            raise ValueError(f"{NAME}: task.rule_window must be [start, end] in ms (end null: to the end of the "
                             f"trial) or null, got {window!r}")
        start, end = float(window[0]), math.inf if window[1] is None else float(window[1])
        if not 0 <= start < end:
            raise ValueError(f"{NAME}: task.rule_window {window} must start at 0 ms or later and end after it starts")
        steps = (self.time_ms >= start) & (self.time_ms < end)
        if not steps.any():
            raise ValueError(f"{NAME}: task.rule_window {window} holds no time step of the trial (0 to {self.T:g} ms)")
        return steps

    # --- the generator, shared with the member tasks -----------------------------------

    @property
    def rng(self) -> np.random.Generator:
        return self._rng

    @rng.setter
    def rng(self, rng: np.random.Generator) -> None:
        self._rng = rng
        for member in self.members:
            member.task.rng = rng

    @property
    def param_units(self) -> dict[str, str]:
        """Trial parameter -> units, of all the tasks (for figures)."""
        return {k: v for m in self.members for k, v in getattr(m.task, "param_units", {}).items()}

    @property
    def labels(self) -> list[str]:
        """The tasks' labels, in order."""
        return [member.label for member in self.members]

    @property
    def rule_channels(self) -> slice:
        """The rule input channels, one per task."""
        return slice(self.N_in - len(self.members), self.N_in)

    # --- trials ------------------------------------------------------------------------

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        if self.mixing == "trial" or trial == 0:
            self._batch_task = int(self.rng.choice(len(self.members), p=self.weights))
        k = self._batch_task
        params = dict(self.members[k].task.generate_trial_params(batch, trial))
        params.update(task=self.members[k].label, task_index=k)
        return params

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each task's trials in its own channels and first steps; the rule on its channel."""
        B = len(params)
        x = np.zeros((B, self.N_steps, self.N_in))
        y, mask = np.zeros((B, self.N_steps, self.N_out)), np.zeros((B, self.N_steps, self.N_out))
        index = np.array([p["task_index"] for p in params], dtype=int)
        for k, member in enumerate(self.members):
            rows = np.flatnonzero(index == k)
            if rows.size == 0:
                continue
            x_k, y_k, mask_k = member.task.trials([params[i] for i in rows])
            check_batch(member.task, x_k, y_k, mask_k, rows.size)
            n = member.task.N_steps
            x[rows, :n, member.inputs] = x_k
            y[rows, :n, member.outputs] = y_k
            mask[rows, :n, member.outputs] = mask_k
        rule_steps = np.flatnonzero(self.rule_steps)[None, :]
        x[np.arange(B)[:, None], rule_steps, self.rule_channels.start + index[:, None]] = 1.0
        return x, y, mask

    # --- accuracy ----------------------------------------------------------------------

    def trial_tasks(self, output_mask: np.ndarray) -> np.ndarray:
        """Each trial's task index ``[B]``, read from where its mask is nonzero (side-by-side channels).

        With shared channels the mask cannot tell; every trial gets ``-1`` (the rule is shared).
        """
        if self.share_channels:
            return np.full(len(output_mask), -1)
        scored = np.stack([output_mask[:, :, m.outputs].any(axis=(1, 2)) for m in self.members], axis=1)  # [B, K]
        return np.argmax(scored, axis=1)

    def _member_accuracy(self, k: int, y: np.ndarray, out: np.ndarray, mask: np.ndarray) -> float:
        member = self.members[k]
        n, channels = member.task.N_steps, member.outputs
        return float(member.task.accuracy_function(y[:, :n, channels], out[:, :n, channels], mask[:, :n, channels]))

    def accuracy_function(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
        """Fraction of correct trials, each judged by its own task's rule; arrays ``[B, N_steps, N_out]``."""
        if self.share_channels:  # one rule for all (checked when built), on the whole trial
            return float(self.members[0].task.accuracy_function(correct_output, test_output, output_mask))
        index = self.trial_tasks(output_mask)
        correct = sum(self._member_accuracy(k, correct_output[index == k], test_output[index == k],
                                            output_mask[index == k]) * np.count_nonzero(index == k)
                      for k in np.unique(index))
        return float(correct / len(index))

    def accuracy_by_task(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray,
                         task_index: np.ndarray) -> dict[str, tuple[float, int]]:
        """Label -> ``(accuracy, trials)`` for every task, in order (accuracy NaN for a task without
        trials); ``task_index [B]`` from the trial parameters (``params["task_index"]``)."""
        task_index = np.asarray(task_index)
        result = {}
        for k, member in enumerate(self.members):
            rows = task_index == k
            accuracy = self._member_accuracy(k, correct_output[rows], test_output[rows], output_mask[rows]) \
                if rows.any() else math.nan
            result[member.label] = (accuracy, int(rows.sum()))
        return result


def accuracy_by_task(task: Task, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray,
                     params: list[TrialParams]) -> dict[str, tuple[float, int]]:
    """Label -> ``(accuracy, trials)`` per task of a :class:`MultiTask`; ``{}`` for any other task."""
    if not isinstance(task, MultiTask):
        return {}
    return task.accuracy_by_task(correct_output, test_output, output_mask, [p["task_index"] for p in params])
