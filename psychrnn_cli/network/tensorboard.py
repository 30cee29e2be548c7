"""``train.tensorboard=true``: TensorBoard event files in the run directory, written at every evaluation.

Scalars (step = training iteration): ``eval/loss`` and ``eval/accuracy`` on the evaluation batch,
``train/<term>`` (the task loss ``train/loss`` and each active regularization term, means over the
iterations since the last evaluation), ``optimizer/learning_rate`` and, with a curriculum,
``curriculum/stage``. Histograms: every trainable parameter (``weights/W_rec``, ...) and the firing
rates of the evaluation batch (``rates``, over trials, time steps and units).

The files (``events.out.tfevents.*``, one per training process) sit in the run directory itself,
so ``tensorboard --logdir DIR`` shows one run per run directory below ``DIR``: every job of a
sweep. Writing needs the ``tensorboard`` package (``pip install 'psychrnn-cli[tensorboard]'``),
which implements ``tf.summary``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from psychrnn_cli.checkpoint import LoopState
from psychrnn_cli.network.step import CompiledSteps

NOT_LOGGED = ("iteration", "stage", "wall_time")  # curve columns that are not a scalar of their own
EvaluationHook = Callable[[LoopState, np.ndarray], None]


@contextlib.contextmanager
def tensorboard_events(run_dir: Path, steps: CompiledSteps, curriculum: bool) -> Iterator[EvaluationHook]:
    """A hook ``(loop state, evaluation states [B, N_steps, N_rec])`` that writes the latest row of
    the curves and the histograms to ``run_dir``; the file is flushed after every evaluation and
    closed when the block ends."""
    writer = tf.summary.create_file_writer(str(run_dir))

    def write(state: LoopState, states: np.ndarray) -> None:
        row = {name: values[-1] for name, values in state.curves.columns.items()}
        with writer.as_default(step=state.iteration):
            tf.summary.scalar("eval/loss", row["loss"])
            tf.summary.scalar("eval/accuracy", row["accuracy"])
            for name, value in row.items():
                if name not in (*NOT_LOGGED, "loss", "accuracy"):
                    tf.summary.scalar(f"train/{name.removeprefix('train_')}", value)
            tf.summary.scalar("optimizer/learning_rate", float(steps.optimizer.learning_rate))
            if curriculum:
                tf.summary.scalar("curriculum/stage", row["stage"])
            for name, value in steps.model.numpy_weights().items():
                tf.summary.histogram(f"weights/{name}", value)
            tf.summary.histogram("rates", steps.model.rates(tf.constant(states, tf.float32)))
        writer.flush()

    try:
        yield write
    finally:
        writer.close()
