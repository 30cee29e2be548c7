"""The training loop: batches in, compiled steps, evaluation on fresh trials, early stop."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from psychrnn_cli import slurm
from psychrnn_cli.checkpoint import LoopState
from psychrnn_cli.curriculum import Curriculum
from psychrnn_cli.prefetch import BatchSource, BatchWorker, TrainingBatch
from psychrnn_cli.progress import progress_bar
from psychrnn_cli.task import Task
from psychrnn_cli.tasks.multitask import MultiTask, accuracy_by_task

if TYPE_CHECKING:  # (TensorFlow is imported where the network is built, after the config is checked)
    from psychrnn_cli.network.step import CompiledSteps

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
    tensorboard: bool = False  # write TensorBoard events at evaluations (psychrnn_cli.network.tensorboard)
    prefetch: bool = True  # make the next batch in a background thread during the step


@dataclass
class TrainResult:
    """How training ended: ``status`` is completed, stopped or failed; ``message`` says why;
    ``at_once`` is True after a second Ctrl-C (nothing more should be computed)."""

    status: str
    state: LoopState
    message: str = ""
    at_once: bool = False


class GracefulStop:
    """While active, SIGTERM, SIGUSR2 and a first Ctrl-C ask the loop to stop after the current
    iteration (``reason`` is set); a second Ctrl-C interrupts at once. Only the main thread handles
    signals.

    SIGUSR2 is what SLURM sends before a job's time limit; the handler that was installed before
    (submitit's, which requeues the job) is called on exit, after the loop has saved a checkpoint.
    When the job is requeued, by that handler or by SLURM itself (preemption, ``scontrol requeue``:
    a SIGTERM while the job's restart count goes up; a ``scancel`` only stops the run), exit raises
    :class:`~psychrnn_cli.slurm.Requeue`, so that the job hands no result to the launcher.

    Args:
        doing: what the loop is busy with (e.g. "making the next batch of task X"; "" for nothing
            worth saying), logged with the signal so that a hang shows where it is.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)

    def __init__(self, doing: Callable[[], str] = str) -> None:
        self.reason = ""
        self.doing = doing
        self.previous: dict[int, Any] = {}
        self.forward: Callable[[], Any] | None = None
        self.requeue = ""  # why SLURM requeues the job, if it does

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.reason:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        if signum == signal.SIGUSR2 and callable(self.previous.get(signum)):
            self.forward = functools.partial(self.previous[signum], signum, frame)
        elif signum == signal.SIGTERM and slurm.being_requeued():
            self.requeue = slurm.PREEMPTION
        doing = self.doing()
        log.info("%s received%s: stopping after this iteration%s", self.reason, f" while {doing}" if doing else "",
                 " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else "")

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.forward is not None and slurm.requeued_by(self.forward):
            self.requeue = slurm.TIME_LIMIT
        if self.requeue:
            log.info("requeued by SLURM (%s): the job ends here and resumes from its checkpoint when it runs again",
                     self.requeue)
            raise slurm.Requeue(self.requeue)


def evaluate(steps: CompiledSteps, task: Task, n_trials: int) -> tuple[float, float, tuple, dict[str, Any]]:
    """Accuracy and loss on a fresh batch, and the batch with outputs and states.

    Returns:
        accuracy, loss, ``(x, y, mask, params, outputs, states, recorded)`` as NumPy arrays
        (``recorded``: the model's recorded state components by name), and the scores of
        reward-based training (``mean_reward``, ``aborted`` and the sampled actions: see
        :meth:`~psychrnn_cli.network.reinforce.ActorCriticSteps.evaluate_policy`; empty for supervised
        training).
    """
    if hasattr(steps, "evaluate_policy"):
        return steps.evaluate_policy(task, n_trials)
    x, y, mask, params = task.get_trial_batch(n_trials)
    outputs, states, recorded = steps.predict(x)
    loss = float(np.mean(np.square(mask * (outputs - y))))
    return task.accuracy_function(y, outputs, mask), loss, (x, y, mask, params, outputs, states, recorded), {}


EvaluationHook = Callable[[LoopState, np.ndarray], None]  # (loop state, evaluation states [B, N_steps, N_rec])


def train(steps: CompiledSteps, curriculum: Curriculum, eval_task: Task, settings: TrainSettings,
          state: LoopState | None = None, checkpoint: Callable[[LoopState], None] | None = None,
          on_evaluation: EvaluationHook | None = None) -> TrainResult:
    """Train until ``settings.iterations``, ``stop_accuracy``, or the end of the curriculum.

    Batches come from the current curriculum stage's task, the next one made in a background
    thread while the step runs (``settings.prefetch``); evaluations (curves, early stop) use
    ``eval_task``. ``checkpoint(state)`` is called every ``settings.checkpoint_every`` iterations
    and when a signal stops training; ``on_evaluation(state, states)`` after every evaluation (the
    TensorBoard events). Ctrl-C, SIGTERM or SIGUSR2 stop after the current iteration
    with status ``stopped`` (see :class:`GracefulStop`); a non-finite loss stops with ``failed``. A
    ``state`` from a checkpoint continues where it left off.
    """
    results: list[TrainResult] = []
    with BatchWorker() if settings.prefetch else contextlib.nullcontext() as executor:
        trainer = Trainer(steps, curriculum, eval_task, settings, BatchSource(executor, steps.make_batch), state,
                          checkpoint, on_evaluation=on_evaluation)
        run_trainers({0: trainer}, lambda batches: {0: steps.train_step(*batches[0])},
                     lambda k, result: results.append(result))
    return results[0]


StepFunction = Callable[[dict[int, TrainingBatch]], dict[int, dict[str, float]]]


def run_trainers(trainers: dict[int, Trainer], step: StepFunction, finish: Callable[[int, TrainResult], None],
                 after_iteration: Callable[[], None] = lambda: None) -> None:
    """The outer training loop, for one run (one trainer) and for an ensemble's members alike.

    Each iteration takes the next batch of every trainer still running, runs ``step`` on them
    (trainer key -> batch ``(x, y, mask)`` in, trainer key -> loss terms out) and hands each
    trainer its loss terms. A trainer that ends (its stop rules) is closed and reported to
    ``finish(key, result)`` at once, while the others go on; the others are reported after the
    loop. Signals stop every trainer still running (see :class:`GracefulStop`).
    """
    reported: set[int] = set()

    def report(k: int) -> None:
        reported.add(k)
        trainers[k].close()
        finish(k, trainers[k].result())

    active: list[int] = []
    with GracefulStop(lambda: "; ".join(doing for trainer in trainers.values() if (doing := trainer.doing))) as stop:
        try:
            while active := [k for k, trainer in trainers.items() if trainer.running]:
                if stop.reason:
                    for k in active:
                        trainers[k].stop(f"stopped by {stop.reason} after iteration {trainers[k].state.iteration}")
                    break
                for k, terms in step({k: trainers[k].next_batch() for k in active}).items():
                    trainers[k].after_step(terms)
                    if not trainers[k].running:  # done: its weights are final now
                        report(k)
                after_iteration()
        except KeyboardInterrupt:
            for k in active:
                if k not in reported:
                    trainers[k].interrupted()
        finally:
            for trainer in trainers.values():
                trainer.close()
    for k in sorted(set(trainers) - reported):
        report(k)


class Trainer:
    """One run's side of the training loop: its batches, curves, curriculum, evaluations and stop rules.

    The loop calls :meth:`next_batch`, runs the step, and hands the loss terms to
    :meth:`after_step`, until :attr:`running` is False. An ensemble drives one Trainer per member
    around one compiled step for all (see :mod:`psychrnn_cli.ensemble`), so each member trains
    exactly as it would alone.
    """

    def __init__(self, steps: CompiledSteps, curriculum: Curriculum, eval_task: Task, settings: TrainSettings,
                 batches: BatchSource, state: LoopState | None = None,
                 checkpoint: Callable[[LoopState], None] | None = None, logger: logging.Logger = log,
                 on_evaluation: EvaluationHook | None = None) -> None:
        self.steps, self.curriculum, self.eval_task, self.settings = steps, curriculum, eval_task, settings
        self.batches, self.checkpoint, self.log, self.on_evaluation = batches, checkpoint, logger, on_evaluation
        self.state = state or LoopState()
        self.status, self.message, self.running = "completed", "", self.state.iteration < settings.iterations
        self.at_once = False  # stopped by a second Ctrl-C
        self.start = time.perf_counter() - self.state.elapsed
        self.stage_before = curriculum.index
        self.bar = progress_bar(settings.iterations, self.state.iteration, settings.progress)

    def next_batch(self) -> TrainingBatch:
        """Start the next iteration: its batch ``(x, y, mask)``, float32 ``[B, N_steps, N_in|N_out]``."""
        self.state.iteration += 1
        iteration, self.stage_before, task = self.state.iteration, self.curriculum.index, self.curriculum.stage.task
        batch = self.batches.get(task)
        check_due = self.curriculum.active and iteration % self.curriculum.metric_every == 0
        if iteration < self.settings.iterations and not check_due:  # the next draw from this stream is ours
            self.batches.prefetch(task)
        return batch

    def after_step(self, terms: dict[str, float]) -> None:
        """Record the step's loss terms; check the curriculum, evaluate, stop or checkpoint when due."""
        state, settings, iteration = self.state, self.settings, self.state.iteration
        state.window.append(terms)
        state.metric_losses.append(terms["loss"])
        self.bar.update()
        if not all(math.isfinite(v) for v in terms.values()):
            return self._end("failed", f"loss became {terms} at iteration {iteration}")
        curriculum_done = self._check_curriculum()
        if iteration % settings.eval_every == 0 or iteration == settings.iterations or curriculum_done:
            accuracy = self._evaluate_into_curves(time.perf_counter() - self.start)
            stage = {"stage": self.curriculum.index} if self.curriculum.metric_every else {}  # (a curriculum)
            self.bar.set_postfix(**stage, loss=f"{state.curves.columns['loss'][-1]:.4f}", acc=f"{accuracy:.3f}")
            if settings.stop_accuracy is not None and accuracy >= settings.stop_accuracy:
                every = " on every task (the lowest)" if isinstance(self.eval_task, MultiTask) else ""
                return self._end("completed", f"reached accuracy {accuracy:.3f}{every} >= {settings.stop_accuracy}")
        if curriculum_done:
            return self._end("completed", f"curriculum finished at iteration {iteration}")
        if iteration >= settings.iterations:
            return self._end("completed", "")
        if self.checkpoint is not None and iteration % settings.checkpoint_every == 0:
            self._save_checkpoint()

    def stop(self, message: str) -> None:
        """Stop before the next iteration (a signal): checkpoint, status ``stopped``."""
        if self.checkpoint is not None:
            self._save_checkpoint()
        self._end("stopped", message)

    @property
    def doing(self) -> str:
        """What the loop is stuck in, for messages: "making the next batch of task X", or ""."""
        task = self.batches.waiting
        return "" if task is None else f"making the next batch of task {task.name}"

    def interrupted(self) -> None:
        """A second Ctrl-C interrupted the current iteration: stop without waiting for anything."""
        doing = self.doing
        self.batches.drop()
        self.at_once = True
        self._end("stopped", f"interrupted during iteration {self.state.iteration}" + (f" while {doing}" if doing else ""))

    def close(self) -> None:
        """Put back a batch made ahead and not used; close the progress bar."""
        self.batches.close()
        self.bar.close()

    def result(self) -> TrainResult:
        state = self.state
        state.elapsed, state.status, state.message = time.perf_counter() - self.start, self.status, self.message
        if self.message:
            self.log.info(self.message)
        return TrainResult(self.status, state, self.message, self.at_once)

    def _end(self, status: str, message: str) -> None:
        self.status, self.message, self.running = status, message, False

    def _save_checkpoint(self) -> None:
        self.state.elapsed = time.perf_counter() - self.start
        with self.batches.as_of_last_used():
            self.checkpoint(self.state)

    def _check_curriculum(self) -> bool:
        """Measure the stage metric when it is due; True when the curriculum ended and says stop."""
        curriculum, state = self.curriculum, self.state
        stage, iteration = curriculum.index, state.iteration
        if not curriculum.active or iteration % curriculum.metric_every:
            return False
        value = curriculum.measure(lambda x: self.steps.predict(x, stream="check")[:2], state.metric_losses, iteration)
        state.metric_losses = []
        if curriculum.index != stage or curriculum.finished:
            self.log.info("iteration %d: curriculum stage %d passed (%s %.4g)", iteration, stage,
                          curriculum.stages[stage].metric_name, value)
        return curriculum.finished and curriculum.after_last == "stop"

    def _evaluate_into_curves(self, wall_time: float) -> float:
        """Evaluate on a fresh batch, append a row to the curves, log it; returns the accuracy that
        decides early stopping: a multi-task's lowest accuracy over its tasks (each must reach it)."""
        state, stage = self.state, self.stage_before  # the stage the last iteration trained in
        accuracy, loss, (x, y, mask, params, outputs, states, _), scores = evaluate(self.steps, self.eval_task,
                                                                                   self.settings.eval_trials)
        per_task = {f"accuracy_{label}": value for label, (value, _) in
                    accuracy_by_task(self.eval_task, y, outputs, mask, params).items()}
        means = {("train_loss" if k == "loss" else k): float(np.mean([w[k] for w in state.window]))
                 for k in state.window[0]}
        rewards = {k: v for k, v in scores.items() if k in ("mean_reward", "aborted")}
        state.curves.append(iteration=state.iteration, stage=stage, loss=loss, accuracy=accuracy, **per_task, **rewards,
                            **means, wall_time=wall_time)
        state.window = []
        self.log.info("iteration %d (stage %d): loss %.5f, accuracy %.3f%s", state.iteration, stage, loss, accuracy,
                      "".join(f", {k.replace('_', ' ')} {v:.3f}" for k, v in {**per_task, **rewards}.items()))
        if self.on_evaluation is not None:
            self.on_evaluation(state, states)
        return min((v for v in per_task.values() if not math.isnan(v)), default=accuracy)
