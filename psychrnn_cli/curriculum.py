"""Curriculum learning (task shaping; docs/concepts/curriculum.md). NumPy only.

A curriculum is an ordered list of stages. Each stage has its own task (typically the run's task
with some parameters changed, such as a higher coherence), a metric and a threshold. Every
``metric_every`` iterations the current stage's metric is computed on a fresh batch of the stage's
task; when it passes, training moves to the next stage. After the last stage passes, training
stops or goes on with the last stage.

Metrics (``metric:`` of a stage):

- ``accuracy`` (default): the stage task's accuracy on fresh trials >= threshold;
- ``loss``: mean training loss since the last check <= threshold;
- ``iterations``: iterations spent in the stage >= threshold;
- an import path of a callable ``(stage, outputs, targets, mask, losses, iteration) -> (advance, value)``
  with ``outputs``, ``targets``, ``mask`` ``[B, N_steps, N_out]`` from fresh trials and ``losses`` the
  training losses since the last check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from psychrnn_cli.task import Task

MetricFunction = Callable[..., tuple[bool, float]]
Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
BUILTIN_METRICS = ("accuracy", "loss", "iterations")
SHARED_FIELDS = ("N_in", "N_out", "dt", "tau")


class CurriculumError(ValueError):
    """Stages that cannot form a curriculum; the message names the stage and the field."""


@dataclass
class Stage:
    """One stage: its task, when it is passed, and a description for the run file.

    Attributes:
        task: the task trained on during this stage.
        threshold: the value the metric must reach.
        metric: a name in ``BUILTIN_METRICS`` or a callable (see the module docstring).
        description: the stage's task config as YAML, stored in the run file.
    """

    task: Task
    threshold: float = 0.9
    metric: str | MetricFunction = "accuracy"
    description: str = ""

    @property
    def metric_name(self) -> str:
        return self.metric if isinstance(self.metric, str) else f"{self.metric.__module__}.{self.metric.__qualname__}"


@dataclass
class Curriculum:
    """The stages and where training is among them.

    Attributes:
        stages: at least one stage; a run without a curriculum has one stage whose metric never passes.
        metric_every: iterations between metric checks.
        metric_trials: fresh trials per metric check.
        after_last: ``"stop"`` or ``"continue"`` once the last stage passes.
        index: the current stage.
        start_iterations: iteration at which each stage began (``-1`` for stages not reached).
        checks: one ``(iteration, stage, value)`` per metric check.
    """

    stages: list[Stage]
    metric_every: int = 10
    metric_trials: int = 200
    after_last: str = "stop"
    index: int = 0
    start_iterations: list[int] = field(default_factory=list)
    checks: list[tuple[int, int, float]] = field(default_factory=list)
    finished: bool = False

    def __post_init__(self) -> None:
        if not self.stages:
            raise CurriculumError("a curriculum needs at least one stage")
        if self.after_last not in ("stop", "continue"):
            raise CurriculumError(f"curriculum.after_last must be stop or continue, got {self.after_last!r}")
        first = self.stages[0].task
        for number, stage in enumerate(self.stages):
            for name in SHARED_FIELDS:
                if getattr(stage.task, name) != getattr(first, name):
                    raise CurriculumError(
                        f"curriculum stage {number} has {name}={getattr(stage.task, name)} but stage 0 has "
                        f"{name}={getattr(first, name)}: all stages must share {', '.join(SHARED_FIELDS)}"
                    )
            if isinstance(stage.metric, str) and stage.metric not in BUILTIN_METRICS:
                raise CurriculumError(f"curriculum stage {number}: unknown metric {stage.metric!r}; use one of "
                                      f"{', '.join(BUILTIN_METRICS)} or an import path of a callable")
        if not self.start_iterations:
            self.start_iterations = [0] + [-1] * (len(self.stages) - 1)

    @classmethod
    def single(cls, task: Task) -> Curriculum:
        """No curriculum: one stage that never ends (metric checks are skipped)."""
        return cls([Stage(task, threshold=float("inf"), metric="iterations")], metric_every=0, after_last="continue")

    @property
    def active(self) -> bool:
        """Whether metric checks happen (a real curriculum whose last stage has not passed)."""
        return self.metric_every > 0 and not self.finished

    @property
    def stage(self) -> Stage:
        return self.stages[self.index]

    def measure(self, predict: Predict, losses: list[float], iteration: int) -> float:
        """The current stage's metric value; records it; advances the stage if it passes.

        Returns the metric value. After the last stage passes, ``finished`` becomes True.
        """
        stage = self.stage
        if stage.metric == "iterations":
            value = float(iteration - self.start_iterations[self.index])
            passed = value >= stage.threshold
        elif stage.metric == "loss":
            value = float(np.mean(losses)) if losses else float("inf")
            passed = value <= stage.threshold
        else:
            x, y, mask, _ = stage.task.get_trial_batch(self.metric_trials)
            outputs, _ = predict(x)
            if stage.metric == "accuracy":
                value = float(stage.task.accuracy_function(y, outputs, mask))
                passed = value >= stage.threshold
            else:
                passed, value = stage.metric(stage, outputs, y, mask, losses, iteration)
                passed, value = bool(passed), float(value)
        self.checks.append((iteration, self.index, value))
        if passed:
            if self.index + 1 < len(self.stages):
                self.index += 1
                self.start_iterations[self.index] = iteration
            else:
                self.finished = True
        return value

    def progress(self) -> dict[str, Any]:
        """Where training is among the stages (JSON-friendly), for checkpoints."""
        return {"index": self.index, "start_iterations": list(self.start_iterations),
                "checks": [list(c) for c in self.checks], "finished": self.finished}

    def restore(self, progress: dict[str, Any]) -> None:
        """Continue from a :meth:`progress` of the same stages."""
        self.index = int(progress["index"])
        self.start_iterations = [int(i) for i in progress["start_iterations"]]
        self.checks = [(int(i), int(s), float(v)) for i, s, v in progress["checks"]]
        self.finished = bool(progress["finished"])

    def record(self) -> dict[str, Any]:
        """The ``/curriculum`` group of the run file."""
        checks = np.asarray(self.checks, dtype=float).reshape(-1, 3)
        return {
            "attrs": {"metric_every": self.metric_every, "after_last": self.after_last, "final_stage": self.index,
                      "finished": self.finished},
            "threshold": np.array([s.threshold for s in self.stages]),
            "start_iteration": np.asarray(self.start_iterations),
            "check_iteration": checks[:, 0].astype(int),
            "check_stage": checks[:, 1].astype(int),
            "check_value": checks[:, 2],
            **{f"stage_{k}": {"attrs": {"metric": s.metric_name, "threshold": s.threshold, "task": s.description}}
               for k, s in enumerate(self.stages)},
        }
