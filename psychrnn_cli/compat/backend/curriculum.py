"""PsychRNN's curriculum (``psychrnn.backend.curriculum``): train on a list of tasks in order,
moving on when a metric passes its threshold. The command line's curriculum is
:mod:`psychrnn_cli.curriculum`; this one keeps PsychRNN's Python interface.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np


def default_metric(curriculum_params: dict[str, Any], input_data: np.ndarray, correct_output: np.ndarray,
                   output_mask: np.ndarray, output: np.ndarray, epoch: int, losses: list[float],
                   verbosity: bool) -> tuple[bool, float]:
    """The current stage's accuracy function on a test batch; ``(accuracy >= threshold, accuracy)``."""
    stage = curriculum_params["stage"]
    accuracy = curriculum_params["accuracies"][stage](correct_output, output, output_mask)
    if verbosity:
        print(f"Accuracy: {accuracy}")
    return accuracy >= curriculum_params["thresholds"][stage], accuracy


class Curriculum:
    """Stages of tasks, passed in order.

    Args:
        tasks: one task per stage (same ``N_in``, ``N_out`` as the network).
        metric: ``(curriculum_params, input, target, mask, output, epoch, losses, verbosity) ->
            (passed, value)``; default :func:`default_metric`.
        accuracies: per stage, ``(target, output, mask) -> accuracy``; default each task's own.
        thresholds: per stage; default 0.9.
        metric_epoch: check every this many updates (default 10).
        output_file: where ``[[metric value, stage], ...]`` is saved (NumPy ``.npy``) after every
            check (PsychRNN wrote it only when the last stage passed).
    """

    def __init__(self, tasks: list[Any], metric: Callable = default_metric, accuracies: list[Callable] | None = None,
                 thresholds: list[float] | None = None, metric_epoch: int = 10, output_file: str | None = None) -> None:
        self.tasks = list(tasks)
        self.metric = metric
        self.accuracies = accuracies if accuracies is not None else [task.accuracy_function for task in self.tasks]
        self.thresholds = thresholds if thresholds is not None else [0.9] * len(self.tasks)
        self.metric_epoch = int(metric_epoch)
        self.output_file = output_file
        if output_file is not None:
            Path(output_file).parent.mkdir(parents=True, exist_ok=True)
        self.stop_training = False
        self.stage = 0
        self.metric_values: list[list[float]] = []

    def metric_test(self, input_data: np.ndarray, correct_output: np.ndarray, output_mask: np.ndarray,
                    test_output: np.ndarray, epoch: int, losses: list[float], verbosity: bool = False) -> bool:
        """Measure the current stage; advance (True) when it passes, and stop after the last."""
        passed, value = self.metric(vars(self), input_data, correct_output, output_mask, test_output, epoch, losses,
                                    verbosity)
        self.metric_values.append([value, self.stage])
        if passed:
            self.stage += 1
            if verbosity:
                print(f"Stage {self.stage}")
            self.stop_training = self.stage == len(self.tasks)
        if self.output_file is not None:
            np.save(self.output_file, np.array(self.metric_values, dtype=float))
        return bool(passed)

    def batch_generator(self) -> Iterator:
        """Batches of the current stage's task."""
        return self.tasks[self.stage].batch_generator()

    def get_generator_function(self) -> Iterator:
        """Deprecated name of :meth:`batch_generator`."""
        warnings.warn("get_generator_function is deprecated; use batch_generator", DeprecationWarning, stacklevel=2)
        return self.batch_generator()
