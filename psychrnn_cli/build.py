"""Config -> objects: task, constraints, initial weights, model, optimizer, loop settings.

The one module that reads the config tree; everything it builds takes plain arguments, so the
same objects can be made by hand from Python. TensorFlow is imported only by :func:`build`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from psychrnn_cli.masks import Constraints, all_to_all
from psychrnn_cli.task import DuckTypedTask, Task


class ConfigError(ValueError):
    """An invalid config value; the message names the key, the value and what is allowed."""


@dataclass
class Experiment:
    """Everything one training run needs, built from a config."""

    seed: int
    task: Task  # training batches
    eval_task: Task  # fresh batches for evaluation, from its own random stream
    test_task: Task  # the final test batch, from its own random stream
    constraints: Constraints
    model: Any  # psychrnn_cli.network.basic.BasicRNN
    steps: Any  # psychrnn_cli.network.step.CompiledSteps
    settings: Any  # psychrnn_cli.training.TrainSettings
    test_trials: int
    save_trials: int


def _positive(key: str, value: Any, kind: type = float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a positive {kind.__name__}, got {value!r}") from None
    if number <= 0 or (kind is int and number != value):
        raise ConfigError(f"{key} must be a positive {kind.__name__}, got {value!r}")
    return number


def _instantiate(group: str, node: DictConfig, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with errors that name the config group and the target."""
    target = node.get("_target_", "?")
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise ConfigError(f"{group}: cannot build {target}: {cause}") from None


def build_task(node: DictConfig, n_batch: int, rng: np.random.Generator) -> Task:
    """The task of a ``task:`` config node, drawing from ``rng``.

    A class that is not a :class:`Task` subclass but has PsychRNN's members is wrapped in a
    :class:`DuckTypedTask`.
    """
    for key in ("dt", "tau", "T"):
        if key in node:
            _positive(f"task.{key}", node[key])
    if "dt" in node and "tau" in node and node.dt > node.tau:
        raise ConfigError(f"task.dt ({node.dt} ms) must not exceed task.tau ({node.tau} ms): alpha = dt/tau > 1 is unstable")
    task = _instantiate("task", node, N_batch=n_batch)
    if not isinstance(task, Task):
        try:
            task = DuckTypedTask(task)
        except TypeError as err:
            raise ConfigError(f"task: {err}") from None
    task.rng = rng
    return task


def build_constraints(node: DictConfig, N_in: int, N_rec: int, N_out: int) -> Constraints:
    """Connectivity masks and Dale's principle from a ``constraints:`` node."""
    dale_ratio = node.get("dale_ratio")
    if dale_ratio is not None and not (isinstance(dale_ratio, (int, float)) and 0 <= dale_ratio <= 1):
        raise ConfigError(f"constraints.dale_ratio must be a number in [0, 1] (or null for off), got {dale_ratio!r}")
    return all_to_all(N_in, N_rec, N_out, autapses=bool(node.get("autapses", True)), dale_ratio=None if dale_ratio is None else float(dale_ratio))


def build(cfg: DictConfig) -> Experiment:
    """All objects of a training run. Validates values before any TensorFlow work."""
    if os.getcwd() not in sys.path:  # user tasks and functions in the working directory
        sys.path.insert(0, os.getcwd())
    seed = int(cfg.seed)
    train = cfg.train
    batch_size = _positive("train.batch_size", train.batch_size, int)
    for key in ("iterations", "eval_every", "eval_trials", "test_trials"):
        _positive(f"train.{key}", train[key], int)
    N_rec = _positive("model.N_rec", cfg.model.N_rec, int)
    if train.clip not in ("per_tensor", "global_norm", "none"):
        raise ConfigError(f"train.clip must be per_tensor, global_norm or none, got {train.clip!r}")

    train_rng, eval_rng, test_rng, init_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    np.random.seed(seed)  # for tasks written against NumPy's global random state
    task = build_task(cfg.task, batch_size, train_rng)
    eval_task = build_task(cfg.task, int(train.eval_trials), eval_rng)
    test_task = build_task(cfg.task, int(train.test_trials), test_rng)
    constraints = build_constraints(cfg.constraints, task.N_in, N_rec, task.N_out)
    initializer = _instantiate("initializer", cfg.initializer)
    weights = initializer(rng=init_rng, constraints=constraints, N_in=task.N_in, N_out=task.N_out)

    import tensorflow as tf

    from psychrnn_cli.network.basic import BasicRNN
    from psychrnn_cli.network.step import CompiledSteps
    from psychrnn_cli.training import TrainSettings

    tf.random.set_seed(seed)
    model = BasicRNN(
        weights,
        constraints,
        alpha=task.alpha,
        rec_noise=float(cfg.model.rec_noise),
        transfer_function=str(cfg.model.transfer_function),
        trainable=OmegaConf.to_container(cfg.model.trainable),
    )
    optimizer = _instantiate("optimizer", cfg.optimizer)
    loss = _instantiate("loss", cfg.loss)
    steps = CompiledSteps(model, optimizer, loss, (str(train.clip), float(train.clip_norm)), seed)
    settings = TrainSettings(
        iterations=int(train.iterations),
        batch_size=batch_size,
        eval_every=int(train.eval_every),
        eval_trials=int(train.eval_trials),
        stop_accuracy=None if train.stop_accuracy is None else float(train.stop_accuracy),
        progress=bool(train.progress),
    )
    return Experiment(seed, task, eval_task, test_task, constraints, model, steps, settings,
                      int(train.test_trials), min(int(train.save_trials), int(train.test_trials)))
