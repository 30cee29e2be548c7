"""Resumable training state: the loop's progress and ``checkpoint.h5``. NumPy and h5py only.

A checkpoint holds everything a restarted process needs to continue exactly where the last one
left off: raw weights, optimizer slots, the recurrent-noise generator, every NumPy random state,
the curriculum's progress, the curves, and the iteration. It is replaced atomically (temporary
file, then rename), so a crash at any moment leaves the previous checkpoint or the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from psychrnn_cli.models import ALIASES as MODEL_ALIASES
from psychrnn_cli.runfile import RunFileError, load_run, write_run
from psychrnn_cli.sequences import SEQUENCE_KEYS

CHECKPOINT_FILE = "checkpoint.h5"
# the episodes a checkpoint of algorithm=actor_critic on trial sequences trained with (an older one, without
# the attribute: whole sequences)
REWARD_EPISODES = "trial"
# config keys that may change between a checkpoint and its resumption
RESUMABLE_CHANGES = {"train.iterations", "train.progress", "train.checkpoint_every", "train.stop_accuracy",
                     "train.ensemble",  # (a member of an ensemble records 1; older checkpoints lack the key)
                     "train.resume", "train.overwrite",  # (how to start, not what to train)
                     "train.device", "train.tensorboard", "train.objective"}  # (where and what is reported)
ADDED_KEYS = {  # config keys added after runs were written -> their value before they existed
    "algorithm.kind": "supervised", "algorithm.critic_N_rec": 50, **{f"task.{key}": default for key, default in SEQUENCE_KEYS.items()}}


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed; the message says why and what to do."""


class Curves:
    """Training curves: named columns with one entry per evaluation.

    ``iteration``, ``stage``, ``loss`` and ``accuracy`` (on a fresh evaluation batch),
    ``train_loss`` and one column per active regularizer (means over the training batches since the
    last evaluation), and ``wall_time`` (s since training started).
    """

    def __init__(self, columns: dict[str, list[float]] | None = None) -> None:
        self.columns: dict[str, list[float]] = columns or {}

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
        elapsed: seconds of training so far, over all processes.
        status: ``running``, or how training ended.
        message: why training ended early (empty while running or after the last iteration).
    """

    iteration: int = 0
    curves: Curves = field(default_factory=Curves)
    window: list[dict[str, float]] = field(default_factory=list)
    metric_losses: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    status: str = "running"
    message: str = ""

    @property
    def finished(self) -> bool:
        """Completed for good: stopped early by its own criteria, not by the iteration limit."""
        return self.status == "completed" and bool(self.message)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def config_changes(old_yaml: str, new_yaml: str) -> list[str]:
    """``key: old -> new`` for every config value that differs, except those resumption allows
    (a model class stored under its name before the current layout counts as unchanged, and so does
    a key of ``ADDED_KEYS`` missing on one side and at its old meaning on the other)."""
    old, new = _flatten(yaml.safe_load(old_yaml)), _flatten(yaml.safe_load(new_yaml))
    for values in (old, new):
        for key, value in ADDED_KEYS.items():
            values.setdefault(key, value)
        if "model._target_" in values:
            values["model._target_"] = MODEL_ALIASES.get(values["model._target_"], values["model._target_"])
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key) and key not in RESUMABLE_CHANGES]


def _rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def save_checkpoint(path: Path, config_yaml: str, state: LoopState, training_arrays: dict[str, np.ndarray],
                    generators: dict[str, np.random.Generator], batch_counts: list[int],
                    curriculum: dict[str, Any]) -> None:
    """Write ``checkpoint.h5`` atomically.

    Args:
        path: the checkpoint file.
        config_yaml: the run's resolved config.
        state: the loop's progress.
        training_arrays: weights, optimizer slots and noise state (``CompiledSteps.snapshot()``).
        generators: the NumPy generators of the run's tasks by name.
        batch_counts: ``batch_count`` of every task object, in a fixed order.
        curriculum: ``index``, ``start_iterations``, ``checks``, ``finished``.
    """
    window_keys = sorted(state.window[0]) if state.window else []
    legacy = np.random.get_state()
    tree = {
        "attrs": {"kind": "checkpoint", "reward_episodes": REWARD_EPISODES, "iteration": state.iteration,
                  "elapsed": state.elapsed, "status": state.status, "message": state.message,
                  "window_keys": json.dumps(window_keys),
                  "curriculum": json.dumps(curriculum), "batch_counts": json.dumps(batch_counts),
                  **{f"rng_{name}": _rng_state(rng) for name, rng in generators.items()},
                  "numpy_global_rng": json.dumps([legacy[0], int(legacy[2]), int(legacy[3]), float(legacy[4])])},
        "config": config_yaml,
        "numpy_global_keys": legacy[1],
        "training_state": training_arrays,
        "curves": state.curves.arrays(),
        "window": np.array([[w[k] for k in window_keys] for w in state.window], dtype=float).reshape(
            len(state.window), len(window_keys)),
        "metric_losses": np.asarray(state.metric_losses, dtype=float),
    }
    write_run(path, tree)


def check_checkpoint(path: Path, config_yaml: str) -> dict[str, Any]:
    """Read the checkpoint ``path`` (as :func:`~psychrnn_cli.runfile.load_run` does) and check that
    it was written for ``config_yaml``; returns its tree.

    Raises:
        CheckpointError: unreadable file, not a checkpoint, or a config that differs beyond
            ``RESUMABLE_CHANGES``.
    """
    try:
        tree = load_run(path)
    except RunFileError as err:
        raise CheckpointError(f"cannot resume: {err}; train in a new run directory, or add train.overwrite=true "
                              "to start afresh in this one") from None
    if tree.get("attrs", {}).get("kind") != "checkpoint":
        raise CheckpointError(f"{path} is not a psychrnn-cli checkpoint; move it away, or train in a new run "
                              "directory")
    missing = [name for name in CHECKPOINT_ITEMS if _lookup(tree, name) is None]
    if missing:
        raise CheckpointError(f"cannot resume: {path} is damaged: it lacks {', '.join(missing)}; train in a new "
                              "run directory, or add train.overwrite=true to start afresh in this one")
    changes = config_changes(yaml.safe_dump(tree["config"]), config_yaml)
    if changes:
        raise CheckpointError(
            f"{path.parent} holds a checkpoint of a different config ({'; '.join(changes[:5])}); "
            "train in a new run directory, or add train.overwrite=true to start afresh in this one"
        )
    config = tree["config"] if isinstance(tree["config"], dict) else {}
    if ((config.get("algorithm") or {}).get("kind") == "actor_critic"
            and int((config.get("task") or {}).get("trials_per_sequence", 1)) > 1
            and tree["attrs"].get("reward_episodes") != REWARD_EPISODES):
        raise CheckpointError(
            f"cannot resume: {path} was written when algorithm=actor_critic scored a whole sequence of trials as "
            "one episode; each trial is an episode of its own now, and the resumed run would mix the two objectives; "
            "train in a new run directory, or add train.overwrite=true to start afresh in this one"
        )
    return tree


def load_checkpoint(path: Path, config_yaml: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` for the same config.

    Returns a dict with ``state`` (a :class:`LoopState`), ``training_arrays``, ``generator_states``
    (name -> bit-generator state), ``batch_counts`` and ``curriculum``. Restores NumPy's global
    random state.

    Raises:
        CheckpointError: see :func:`check_checkpoint`, or a damaged file.
    """
    tree = check_checkpoint(path, config_yaml)
    try:
        return _read_checkpoint(tree)
    except (KeyError, TypeError, ValueError) as err:  # (json.JSONDecodeError is a ValueError)
        raise CheckpointError(f"cannot resume: {path} is damaged ({type(err).__name__}: {err}); train in a new "
                              "run directory, or add train.overwrite=true to start afresh in this one") from None


# what load_checkpoint reads: /path for groups and datasets, @name for root attributes
CHECKPOINT_ITEMS = ("/config", "/numpy_global_keys", "/training_state/params", "/training_state/optimizer",
                    "/training_state/noise", "/window", "/metric_losses", "@iteration", "@elapsed", "@status",
                    "@window_keys", "@curriculum", "@batch_counts", "@numpy_global_rng", "@rng_train", "@rng_eval",
                    "@rng_test")


def _lookup(tree: dict[str, Any], name: str) -> Any:
    """The item ``/a/b`` (nested keys) or ``@attr`` (root attribute) of a loaded checkpoint, or None."""
    if name.startswith("@"):
        return tree.get("attrs", {}).get(name[1:])
    node: Any = tree
    for key in name[1:].split("/"):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _read_checkpoint(tree: dict[str, Any]) -> dict[str, Any]:
    """:func:`load_checkpoint` after the file was found complete and of the same config."""
    attrs = tree["attrs"]
    name, pos, has_gauss, cached = json.loads(attrs["numpy_global_rng"])
    np.random.set_state((name, tree["numpy_global_keys"], pos, has_gauss, cached))
    window_keys = json.loads(attrs["window_keys"])
    state = LoopState(
        iteration=int(attrs["iteration"]),
        curves=Curves({k: v.tolist() for k, v in tree.get("curves", {}).items() if k != "attrs"}),
        window=[dict(zip(window_keys, row.tolist())) for row in tree["window"]],
        metric_losses=tree["metric_losses"].tolist(),
        elapsed=float(attrs["elapsed"]),
        status=str(attrs["status"]),
        message=str(attrs.get("message") or ""),
    )
    return {
        "state": state,
        "training_arrays": {k: v for k, v in tree["training_state"].items() if k != "attrs"},
        "generator_states": {k[4:]: json.loads(v) for k, v in attrs.items() if k.startswith("rng_")},
        "batch_counts": json.loads(attrs["batch_counts"]),
        "curriculum": json.loads(attrs["curriculum"]),
    }
