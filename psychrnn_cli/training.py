"""The training loop: batches in, compiled steps, evaluation on fresh trials, early stop."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from psychrnn_cli.checkpoint import LoopState
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


@dataclass
class TrainResult:
    """How training ended: ``status`` is completed, stopped or failed; ``message`` says why."""

    status: str
    state: LoopState
    message: str = ""


class GracefulStop:
    """While active, SIGTERM, SIGUSR2 and a first Ctrl-C ask the loop to stop after the current
    iteration (``reason`` is set); a second Ctrl-C interrupts at once. Only the main thread handles
    signals.

    SIGUSR2 is what SLURM sends before a job's time limit; the handler that was installed before
    (submitit's, which requeues the job) is called on exit, after the loop has saved a checkpoint.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)

    def __init__(self) -> None:
        self.reason = ""
        self.previous: dict[int, Any] = {}
        self.forward: tuple[int, Any] | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.reason:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        if signum == signal.SIGUSR2 and callable(self.previous.get(signum)):
            self.forward = (signum, frame)
        log.info("%s received: stopping after this iteration (Ctrl-C again to stop at once)", self.reason)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.forward is not None:
            signum, frame = self.forward
            self.previous[signum](signum, frame)


def evaluate(steps: CompiledSteps, task: Task, n_trials: int) -> tuple[float, float, tuple]:
    """Accuracy and loss on a fresh batch, and the batch with outputs and states.

    Returns:
        accuracy, loss, and ``(x, y, mask, params, outputs, states)`` as NumPy arrays.
    """
    x, y, mask, params = task.get_trial_batch(n_trials)
    outputs, states = steps.predict(x)
    loss = float(np.mean(np.square(mask * (outputs - y))))
    return task.accuracy_function(y, outputs, mask), loss, (x, y, mask, params, outputs, states)


def train(steps: CompiledSteps, curriculum: Curriculum, eval_task: Task, settings: TrainSettings,
          state: LoopState | None = None, checkpoint: Callable[[LoopState], None] | None = None) -> TrainResult:
    """Train until ``settings.iterations``, ``stop_accuracy``, or the end of the curriculum.

    Batches come from the current curriculum stage's task; evaluations (curves, early stop) use
    ``eval_task``. ``checkpoint(state)`` is called every ``settings.checkpoint_every`` iterations
    and when a signal stops training. Ctrl-C, SIGTERM or SIGUSR2 stop after the current iteration
    with status ``stopped`` (see :class:`GracefulStop`); a non-finite loss stops with ``failed``. A
    ``state`` from a checkpoint continues where it left off.
    """
    state = state or LoopState()
    status, message, start = "completed", "", time.perf_counter() - state.elapsed
    bar = tqdm(total=settings.iterations, initial=state.iteration, disable=not settings.progress, unit="it",
               dynamic_ncols=True)
    with GracefulStop() as stop:
        try:
            while state.iteration < settings.iterations:
                if stop.reason:
                    status, message = "stopped", f"stopped by {stop.reason} after iteration {state.iteration}"
                    if checkpoint is not None:
                        state.elapsed = time.perf_counter() - start
                        checkpoint(state)
                    break
                state.iteration += 1
                iteration, stage_before = state.iteration, curriculum.index
                x, y, mask, _ = curriculum.stage.task.get_trial_batch()
                state.window.append(steps.train_step(x, y, mask))
                state.metric_losses.append(state.window[-1]["loss"])
                bar.update()
                if not all(math.isfinite(v) for v in state.window[-1].values()):
                    status, message = "failed", f"loss became {state.window[-1]} at iteration {iteration}"
                    break
                curriculum_done = _check_curriculum(curriculum, steps, state)
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
        except KeyboardInterrupt:
            status, message = "stopped", f"interrupted during iteration {state.iteration}"
        finally:
            bar.close()
    state.elapsed, state.status, state.message = time.perf_counter() - start, status, message
    if message:
        log.info(message)
    return TrainResult(status, state, message)


def _check_curriculum(curriculum: Curriculum, steps: CompiledSteps, state: LoopState) -> bool:
    """Measure the stage metric when it is due; True when the curriculum ended and says stop."""
    stage, iteration = curriculum.index, state.iteration
    if not curriculum.active or iteration % curriculum.metric_every:
        return False
    value = curriculum.measure(steps.predict, state.metric_losses, iteration)
    state.metric_losses = []
    if curriculum.index != stage or curriculum.finished:
        log.info("iteration %d: curriculum stage %d passed (%s %.4g)", iteration, stage,
                 curriculum.stages[stage].metric_name, value)
    return curriculum.finished and curriculum.after_last == "stop"


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
