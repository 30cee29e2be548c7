"""A normal run directory for a network trained through the compat API (``train(..., run_dir=...)``).

The run file holds what ``psychrnn train`` writes (provenance, config, ``/model``, ``/training``
curves, ``/trials`` and ``/evaluation`` from a fresh test batch), so ``psychrnn evaluate``,
``simulate``, ``plot``, ``analyse``, ``export``, ``info`` and ``summarize`` work on it. Commands
that draw fresh trials rebuild the task from the stored config (its class and constructor
arguments), so the task class must be importable: defined in a module file, not in a notebook.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from psychrnn_cli.checkpoint import Curves
from psychrnn_cli.compat.backend.initializations import CompatError
from psychrnn_cli.masks import effective_weights
from psychrnn_cli.runfile import RUN_FILE, RUN_GROUPS, run_dir_lock, write_run
from psychrnn_cli.task import trial_param_arrays

RNN = Any  # a psychrnn_cli.compat.backend.rnn.RNN (not imported: that module imports this one)

TEST_TRIALS, SAVE_TRIALS = 200, 20


class CurveRecorder:
    """Evaluates the network on fresh trials of its own copy of the task (so training batches are
    the same with or without a run directory) and keeps the curves."""

    def __init__(self, rnn: RNN, task: Any, seed: int) -> None:
        self.rnn, self.task, self.curves = rnn, copy.deepcopy(task), Curves()
        self.task.rng = np.random.default_rng(seed)

    def evaluate(self, n_trials: int) -> tuple[float, float, tuple]:
        x, y, mask, params = self.task.get_trial_batch(n_trials)
        outputs, states = self.rnn.test(x)
        loss = float(np.mean(np.square(mask * (outputs - y))))
        return float(self.task.accuracy_function(y, outputs, mask)), loss, (x, y, mask, params, outputs, states)

    def record(self, iteration: int, stage: int, train_loss: float, wall_time: float) -> None:
        accuracy, loss, _ = self.evaluate(int(self.task.N_batch))
        self.curves.append(iteration=iteration, stage=stage, loss=loss, accuracy=accuracy, train_loss=train_loss,
                           wall_time=wall_time)


def task_config(task: Any) -> dict[str, Any]:
    """The task as a config node: its class's import path and its constructor's arguments."""
    cls = type(task)
    node: dict[str, Any] = {"_target_": f"{cls.__module__}.{cls.__qualname__}"}
    for name in list(inspect.signature(cls.__init__).parameters)[1:]:
        value = getattr(task, name, None)
        if isinstance(value, (bool, int, float, str, type(None))):
            node[name] = value
    return node


def config(rnn: RNN, task: Any, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    definition = rnn.definition
    return {
        "seed": seed,
        "task": task_config(task),
        "model": {"_target_": f"{type(definition).__module__}.{type(definition).__qualname__}", "N_rec": rnn.N_rec,
                  "rec_noise": rnn.rec_noise, "transfer_function": definition.transfer_function},
        "constraints": {"dale_ratio": rnn.constraints.dale_ratio},
        "compat": {"params": {k: v for k, v in rnn.params.items() if isinstance(v, (bool, int, float, str))},
                   "train_params": {k: v for k, v in settings.items() if isinstance(v, (bool, int, float, str))}},
    }


def write_run_dir(run_dir: Path | str, rnn: RNN, recorder: CurveRecorder, settings: dict[str, Any], seed: int,
                  iterations: int) -> Path:
    """Write ``run_dir/run.h5`` for a trained compat network; returns its path.

    Raises:
        CompatError: ``run_dir`` already holds a run file (never replaced).
    """
    from psychrnn_cli.network.base import describe
    from psychrnn_cli.run import provenance

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_FILE
    with run_dir_lock(run_dir, "psychrnn_cli.compat train", "give another run_dir"):
        if path.exists():
            raise CompatError(f"run_dir {run_dir} already holds {RUN_FILE}; give a new directory (nothing was written)")
        accuracy, loss, (x, y, mask, params, outputs, states) = recorder.evaluate(TEST_TRIALS)
        n = SAVE_TRIALS
        weights = rnn._model.numpy_weights()
        tree = {
            "attrs": {**provenance(seed), "status": "completed", "iterations": iterations, "message": "",
                      "weights_from_iteration": iterations},
            "config": OmegaConf.to_yaml(config(rnn, recorder.task, settings, seed)),
            "model": {"attrs": {**describe(rnn._model), "dt": rnn.dt, "tau": rnn.tau}, "weights": weights,
                      "effective": effective_weights(weights, rnn.constraints, gates=rnn.definition.gates),
                      "constraints": rnn.constraints.arrays()},
            "training": recorder.curves.arrays(),
            "trials": {"inputs": x[:n], "targets": y[:n], "mask": mask[:n], "outputs": outputs[:n],
                       "states": states[:n], "time_ms": recorder.task.time_ms,
                       **{k: v[:n] for k, v in trial_param_arrays(params).items()}},
            "evaluation": {"attrs": {"accuracy": accuracy, "loss": loss, "n_trials": TEST_TRIALS}},
        }
        return write_run(path, tree, layout=RUN_GROUPS)
