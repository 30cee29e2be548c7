"""The training loop: batches in, compiled steps, evaluation on fresh trials, early stop."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from psychrnn_cli.curriculum import Curriculum
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
    checkpoint_every: int = 100
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
class LoopState:
    """Where training is: everything the loop needs to continue after a restart.

    Attributes:
        iteration: iterations done.
        curves: the training curves so far.
        window: per-iteration loss terms since the last evaluation.
        metric_losses: training losses since the last curriculum check.
        elapsed: seconds of training before this process (for resumed runs).
    """

    iteration: int = 0
    curves: Curves = field(default_factory=Curves)
    window: list[dict[str, float]] = field(default_factory=list)
    metric_losses: list[float] = field(default_factory=list)
    elapsed: float = 0.0


@dataclass
class TrainResult:
    status: str  # completed | stopped | failed
    state: LoopState
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


def train(steps: CompiledSteps, curriculum: Curriculum, eval_task: Task, settings: TrainSettings,
          state: LoopState | None = None, checkpoint: Callable[[LoopState], None] | None = None) -> TrainResult:
    """Train until ``settings.iterations``, ``stop_accuracy``, or the end of the curriculum.

    Batches come from the current curriculum stage's task; evaluations (curves, early stop) use
    ``eval_task``. ``checkpoint(state)`` is called every ``settings.checkpoint_every`` iterations.
    Ctrl-C or SIGTERM stop cleanly with status ``stopped``; a non-finite loss stops with ``failed``.
    A ``state`` from a checkpoint continues where it left off.
    """
    state = state or LoopState()
    status, message, start = "completed", "", time.perf_counter() - state.elapsed
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _raise_stop) if in_main_thread else None
    bar = tqdm(total=settings.iterations, initial=state.iteration, disable=not settings.progress, unit="it",
               dynamic_ncols=True)
    try:
        while state.iteration < settings.iterations:
            state.iteration += 1
            iteration, stage_before = state.iteration, curriculum.index
            x, y, mask, _ = curriculum.stage.task.get_trial_batch()
            state.window.append(steps.train_step(x, y, mask))
            state.metric_losses.append(state.window[-1]["loss"])
            bar.update()
            if not all(math.isfinite(v) for v in state.window[-1].values()):
                status, message = "failed", f"loss became {state.window[-1]} at iteration {iteration}"
                break
            curriculum_done = False
            if curriculum.active and iteration % curriculum.metric_every == 0:
                value = curriculum.measure(steps.predict, state.metric_losses, iteration)
                state.metric_losses = []
                if curriculum.index != stage_before or curriculum.finished:
                    log.info("iteration %d: curriculum stage %d passed (%s %.4g)", iteration, stage_before,
                             curriculum.stages[stage_before].metric_name, value)
                curriculum_done = curriculum.finished and curriculum.after_last == "stop"
            if iteration % settings.eval_every == 0 or iteration == settings.iterations or curriculum_done:
                accuracy = _evaluate_into_curves(steps, eval_task, settings, state, stage_before,
                                                 time.perf_counter() - start)
                bar.set_postfix(stage=curriculum.index, loss=f"{state.curves.columns['loss'][-1]:.4f}",
                                acc=f"{accuracy:.3f}")
                if settings.stop_accuracy is not None and accuracy >= settings.stop_accuracy:
                    message = f"reached accuracy {accuracy:.3f} >= {settings.stop_accuracy}"
                    break
            if curriculum_done:
                message = f"curriculum finished at iteration {iteration}"
                break
            if checkpoint is not None and iteration % settings.checkpoint_every == 0:
                state.elapsed = time.perf_counter() - start
                checkpoint(state)
    except (KeyboardInterrupt, StopTraining) as stop:
        status, message = "stopped", f"stopped at iteration {state.iteration}: {stop or 'interrupted'}"
    finally:
        bar.close()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    state.elapsed = time.perf_counter() - start
    if message:
        log.info(message)
    return TrainResult(status, state, message)


def _evaluate_into_curves(steps: CompiledSteps, task: Task, settings: TrainSettings, state: LoopState, stage: int,
                          wall_time: float) -> float:
    """Evaluate on a fresh batch, append a row to the curves, log it; returns the accuracy.

    ``stage`` is the curriculum stage the last iteration trained in.
    """
    accuracy, loss, _ = evaluate(steps, task, settings.eval_trials)
    means = {("train_loss" if k == "loss" else k): float(np.mean([w[k] for w in state.window]))
             for k in state.window[0]}
    state.curves.append(iteration=state.iteration, stage=stage, loss=loss, accuracy=accuracy, **means,
                        wall_time=wall_time)
    state.window = []
    log.info("iteration %d (stage %d): loss %.5f, accuracy %.3f", state.iteration, stage, loss, accuracy)
    return accuracy
