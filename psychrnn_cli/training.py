"""The training loop: batches in, compiled steps, evaluation on fresh trials, early stop."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from psychrnn_cli.network.step import CompiledSteps
from psychrnn_cli.task import Task

log = logging.getLogger("psychrnn_cli")


@dataclass
class TrainSettings:
    """Loop settings (``train:`` in the config). Counts are iterations or trials."""

    iterations: int = 3000
    batch_size: int = 50
    eval_every: int = 25
    eval_trials: int = 200
    stop_accuracy: float | None = 0.95
    progress: bool = True


class Curves:
    """Training curves: named columns with one entry per evaluation.

    ``iteration``, ``loss`` and ``accuracy`` (on a fresh evaluation batch), ``train_loss`` and one
    column per active regularizer (means over the training batches since the last evaluation),
    and ``wall_time`` (s since training started).
    """

    def __init__(self) -> None:
        self.columns: dict[str, list[float]] = {}

    def append(self, **values: float) -> None:
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(values) for name, values in self.columns.items()}


@dataclass
class TrainResult:
    status: str  # completed | stopped | failed
    iterations: int
    curves: Curves
    message: str = ""


class StopTraining(Exception):
    """Raised by the SIGTERM handler to stop training cleanly."""


def evaluate(steps: CompiledSteps, task: Task, n_trials: int) -> tuple[float, float, tuple]:
    """Accuracy and loss on a fresh batch, and the batch with outputs and states.

    Returns:
        accuracy, loss, and ``(x, y, mask, params, outputs, states)`` as NumPy arrays.
    """
    x, y, mask, params = task.get_trial_batch(n_trials)
    outputs, states = steps.predict(x)
    loss = float(np.mean(np.square(mask * (outputs - y))))
    return task.accuracy_function(y, outputs, mask), loss, (x, y, mask, params, outputs, states)


def _raise_stop(signum, frame):
    raise StopTraining(f"received signal {signum}")


def train(steps: CompiledSteps, task: Task, eval_task: Task, settings: TrainSettings) -> TrainResult:
    """Train until ``settings.iterations`` or ``stop_accuracy``; Ctrl-C or SIGTERM stop cleanly."""
    curves, window, start = Curves(), [], time.perf_counter()
    status, message, iteration = "completed", "", 0
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _raise_stop) if in_main_thread else None
    bar = tqdm(total=settings.iterations, disable=not settings.progress, unit="it", dynamic_ncols=True)
    try:
        for iteration in range(1, settings.iterations + 1):
            x, y, mask, _ = task.get_trial_batch()
            window.append(steps.train_step(x, y, mask))
            bar.update()
            if not all(math.isfinite(v) for v in window[-1].values()):
                status, message = "failed", f"loss became {window[-1]} at iteration {iteration}"
                break
            if iteration % settings.eval_every and iteration != settings.iterations:
                continue
            accuracy, eval_loss, _ = evaluate(steps, eval_task, settings.eval_trials)
            train_terms = {("train_loss" if k == "loss" else k): float(np.mean([w[k] for w in window])) for k in window[0]}
            curves.append(iteration=iteration, loss=eval_loss, accuracy=accuracy, **train_terms,
                          wall_time=time.perf_counter() - start)
            window = []
            bar.set_postfix(loss=f"{eval_loss:.4f}", acc=f"{accuracy:.3f}")
            log.info("iteration %d: loss %.5f, accuracy %.3f", iteration, eval_loss, accuracy)
            if settings.stop_accuracy is not None and accuracy >= settings.stop_accuracy:
                message = f"reached accuracy {accuracy:.3f} >= {settings.stop_accuracy}"
                break
    except (KeyboardInterrupt, StopTraining) as stop:
        status, message = "stopped", f"stopped at iteration {iteration}: {stop or 'interrupted'}"
    finally:
        bar.close()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    if message:
        log.info(message)
    return TrainResult(status, iteration, curves, message)
