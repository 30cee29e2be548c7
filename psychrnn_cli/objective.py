"""``train.objective``: the number a training job returns to Hydra, for a sweeper that optimises it
(Hydra's Optuna sweeper, ``psychrnn train -m hydra/sweeper=optuna ...``).

Objectives, read from the run file after training (an ensemble: the mean over its members):

- ``final_accuracy``: test accuracy on fresh trials after training (``/evaluation`` attribute
  ``accuracy``); maximize.
- ``neg_iterations_to_criterion``: minus the iteration of the first evaluation whose accuracy
  reached ``train.stop_accuracy`` (``/training/iteration`` and ``/training/accuracy``); a run that
  never reached it scores ``-(train.iterations + 1)``, below every run that did; maximize.
- ``final_loss``: test loss after training (``/evaluation`` attribute ``loss``); minimize.

A job that failed or was refused, or whose run file lacks the value (NaN here), returns None to
the sweeper, which Optuna records as a failed trial (:func:`psychrnn_cli.app.train_app`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from psychrnn_cli.runfile import RUN_FILE, RunFileError, load_run

DIRECTIONS = {"final_accuracy": "maximize", "neg_iterations_to_criterion": "maximize", "final_loss": "minimize"}


def objective_value(path: Path, name: str) -> float:
    """The objective ``name`` of the run file ``path``, or of the mean over the members of the
    ensemble directory ``path``; NaN when a run file cannot be read or lacks what it needs."""
    files = sorted(path.glob(f"seed_*/{RUN_FILE}")) if path.is_dir() else [path]
    values = [_one_run(file, name) for file in files]
    return float(np.mean(values)) if values else math.nan


def _one_run(file: Path, name: str) -> float:
    try:
        run = load_run(file)
    except RunFileError:
        return math.nan
    evaluation = run.get("evaluation", {}).get("attrs", {})
    if name == "final_accuracy":
        return float(evaluation.get("accuracy", math.nan))
    if name == "final_loss":
        return float(evaluation.get("loss", math.nan))
    train = run["config"]["train"]
    curves = run.get("training", {})
    reached = np.flatnonzero(np.asarray(curves.get("accuracy", [])) >= train["stop_accuracy"])
    if reached.size == 0:
        return -float(train["iterations"] + 1)
    return -float(np.asarray(curves["iteration"])[reached[0]])
