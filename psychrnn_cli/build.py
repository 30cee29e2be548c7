"""Config -> objects: task, constraints, initial weights, model, optimizer, loop settings.

The one module that reads the config tree; everything it builds takes plain arguments, so the
same objects can be made by hand from Python. TensorFlow is imported only by :func:`build`, after
every value is checked.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from psychrnn_cli.curriculum import BUILTIN_METRICS, Curriculum, CurriculumError, Stage
from psychrnn_cli.initializers import from_file
from psychrnn_cli.masks import ConstraintError, Constraints, Regions
from psychrnn_cli.models import BUILTIN, ENGINE_KEYS, ModelError, make_model, model_class
from psychrnn_cli.masks import build_constraints as build_mask_constraints
from psychrnn_cli.rewards import acts_on_feedback
from psychrnn_cli.schema import (FRACTION, HYDRA_KEYS, NON_NEGATIVE, NUMBER, POSITIVE_INT, TEXT, ConfigError, as_tree,
                                 check_arguments, check_config, unexpected_argument)
from psychrnn_cli.sequences import SEQUENCE_KEYS, SequenceTask, layout, make_sequences
from psychrnn_cli.task import DuckTypedTask, Task, TaskError
from psychrnn_cli.tasks.multitask import MultiTask


@dataclass
class Experiment:
    """Everything one training run needs, built from a config."""

    seed: int
    task: Task  # the run's task: what evaluations measure
    curriculum: Curriculum  # where training batches come from (one stage without a curriculum)
    eval_task: Task  # fresh batches for evaluation, from its own random stream
    test_task: Task  # the final test batch, from its own random stream
    constraints: Constraints
    model: Any  # psychrnn_cli.network.base.RecurrentModel
    steps: Any  # psychrnn_cli.network.step.CompiledSteps
    settings: Any  # psychrnn_cli.training.TrainSettings
    test_trials: int
    save_trials: int


def import_object(path: str, key: str) -> Any:
    """The object at a dotted import path such as ``my_module.my_function``, or a ConfigError."""
    module_name, _, name = str(path).rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(f"{key}: cannot import {path!r} ({err}); is its module on PYTHONPATH or in the "
                          "working directory?") from None


def importable_working_directory() -> None:
    """Put the working directory first on ``sys.path``, so user tasks and functions in it import."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _instantiate(group: str, node: DictConfig, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with errors that name the config group and the target.

    The node's keys are checked against the target's signature first (:func:`check_arguments`).
    """
    if OmegaConf.is_missing(node, "_target_"):
        raise ConfigError(f"{group}._target_ has no value: set it, e.g. {group}._target_=my_module.MyClass")
    target = node._target_
    arguments = {key: value for key, value in as_tree(node).items() if key not in HYDRA_KEYS}
    target_object = import_object(target, f"{group}._target_")
    check_arguments(group, target_object, arguments)
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise unexpected_argument(group, target_object, cause) or ConfigError(f"{group}: cannot build {target}: {cause}") from None


def build_task(node: DictConfig, n_batch: int, rng: np.random.Generator) -> Task:
    """The task of a ``task:`` config node, drawing from ``rng``.

    The node's values are checked by the schema and its keys against the task's signature. A
    class that is not a :class:`Task` subclass but has PsychRNN's members is wrapped in a
    :class:`DuckTypedTask`. The sequence keys (``trials_per_sequence``, ``iti``, ``feedback``) are
    not the task's arguments: with values other than their defaults, the task is wrapped in a
    :class:`~psychrnn_cli.sequences.SequenceTask` whose batch elements are ``n_batch`` sequences.
    """
    check_config(OmegaConf.create({"task": node}))
    if node.get("dt") is not None and node.get("tau") is not None and node.dt > node.tau:
        raise ConfigError(f"task.dt ({node.dt} ms) must not exceed task.tau ({node.tau} ms): alpha = dt/tau > 1 is unstable")
    sequence = {key: node.get(key, default) for key, default in SEQUENCE_KEYS.items()}
    if set(SEQUENCE_KEYS) & set(node):
        node = OmegaConf.create({key: value for key, value in as_tree(node).items() if key not in SEQUENCE_KEYS})
    task = _instantiate("task", node, N_batch=n_batch)
    for size in ("N_in", "N_out"):  # (of a PsychRNN-style task too, before it is wrapped)
        if hasattr(task, size) and not POSITIVE_INT.accepts(getattr(task, size)):
            raise ConfigError(f"task.{size} must be {POSITIVE_INT.allowed}, got {getattr(task, size)!r} "
                              f"(task {type(task).__name__} has no {'inputs' if size == 'N_in' else 'outputs'})")
    if not isinstance(task, Task):
        try:
            task = DuckTypedTask(task)
        except (TypeError, TaskError) as err:
            raise ConfigError(f"task: {err}") from None
    task.rng = rng
    if isinstance(task, MultiTask) and sequence != SEQUENCE_KEYS:
        raise ConfigError("task=multitask does not run in sequences (task.trials_per_sequence, task.iti, "
                          "task.feedback): its tasks' trials have different parameters; drop those options")
    try:
        return make_sequences(task, **sequence)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def check_task(task: Task, n_trials: int = 2) -> None:
    """Generate ``n_trials`` trials from a copy of ``task`` (random states untouched); ConfigError if
    that fails or if ``generate_trial_params`` returns something other than a dict.

    The copy draws the same numbers as ``task`` will, so its first batch of ``n_trials`` passes too.
    """
    global_state = np.random.get_state()
    try:
        params = copy.deepcopy(task).get_trial_batch(n_trials)[3]
    except TaskError as err:
        raise ConfigError(str(err)) from None
    except Exception as err:
        raise ConfigError(f"task {task.name}: making a batch failed: {type(err).__name__}: {err}") from None
    finally:
        np.random.set_state(global_state)
    for value in params:
        if not isinstance(value, Mapping):
            raise ConfigError(f"task {task.name}: generate_trial_params returned {type(value).__name__} "
                              f"({str(value)[:60]}); it must return a dict of the trial's parameters")


def sequence_setting(task: Task) -> tuple[dict[str, int], str] | None:
    """A sequence task's :func:`~psychrnn_cli.sequences.layout` and ``task.feedback``; None for single trials."""
    return (layout(task), task.feedback) if isinstance(task, SequenceTask) else None


def check_reward_tables(task: Task, abort_penalty: float, n_trials: int = 2) -> None:
    """ConfigError unless reward-based training can score trials of (a copy of) ``task``: its
    fixation output is one of its outputs and its reward tables fit (:mod:`psychrnn_cli.rewards`)."""
    from psychrnn_cli import rewards

    fixation = rewards.fixation_action(task)
    if fixation is not None and not 0 <= fixation < task.N_out:
        raise ConfigError(f"algorithm=actor_critic: task {task.name} has fixation_output={fixation}, not one of its "
                          f"{task.N_out} outputs (0..{task.N_out - 1}); fix it, or set it to None for an extra "
                          "fixation action")
    global_state = np.random.get_state()
    try:
        x, y, mask, params = copy.deepcopy(task).get_trial_batch(n_trials)
        rewards.check_tables(task, *rewards.reward_tables(task, y, mask, params, abort_penalty), n_trials)
    except ValueError as err:
        raise ConfigError(f"algorithm=actor_critic: {err}") from None
    except Exception as err:
        raise ConfigError(f"algorithm=actor_critic: task {task.name}: making a batch with its reward tables failed: "
                          f"{type(err).__name__}: {err}") from None
    finally:
        np.random.set_state(global_state)


STAGE_KEYS = {"task", "threshold", "metric"}
THRESHOLDS = {"accuracy": FRACTION, "loss": NON_NEGATIVE, "iterations": POSITIVE_INT}  # other metrics: NUMBER


def build_curriculum(node: DictConfig, task_node: DictConfig, task: Task, batch_size: int) -> Curriculum:
    """The stages of a ``curriculum:`` node; stage tasks draw from ``task``'s generator.

    A stage's ``task`` holds overrides of the run's task config, or a whole task with ``_target_``.
    """
    if not node.stages:
        return Curriculum.single(task)
    stages = []
    for number, stage in enumerate(node.stages):
        unknown = set(stage) - STAGE_KEYS
        if unknown:
            raise ConfigError(f"curriculum stage {number}: unknown keys {sorted(unknown)}; a stage has "
                              f"{', '.join(sorted(STAGE_KEYS))}")
        overrides = stage.get("task") or {}
        run_task = OmegaConf.create(OmegaConf.to_container(task_node))  # not in struct mode: a stage may add keys
        stage_task_node = overrides if "_target_" in overrides else OmegaConf.merge(run_task, overrides)
        if "_target_" in overrides:  # a whole task runs in the run's sequence mode, unless it sets its own
            sequence = {key: run_task[key] for key, default in SEQUENCE_KEYS.items() if run_task.get(key, default) != default}
            stage_task_node = OmegaConf.merge(sequence, overrides)
        metric, threshold = stage.get("metric") or "accuracy", stage.get("threshold", 0.9)
        if not TEXT.accepts(metric):
            raise ConfigError(f"curriculum stage {number}: metric must be {TEXT.allowed}, got {metric!r}")
        rule = THRESHOLDS.get(metric, NUMBER)
        if not rule.accepts(threshold):
            raise ConfigError(f"curriculum stage {number}: threshold must be {rule.allowed} for metric {metric}, "
                              f"got {threshold!r}")
        if metric not in BUILTIN_METRICS:
            if "." not in metric:
                raise ConfigError(f"curriculum stage {number}: unknown metric {metric!r}; use one of "
                                  f"{', '.join(BUILTIN_METRICS)} or an import path such as my_module.my_metric")
            metric = import_object(metric, f"curriculum stage {number} metric")
        try:
            stage_task = build_task(stage_task_node, batch_size, task.rng)
        except ConfigError as err:
            raise ConfigError(f"curriculum stage {number}: {err}") from None
        stages.append(Stage(stage_task, float(threshold), metric, OmegaConf.to_yaml(stage_task_node)))
    try:
        return Curriculum(stages, metric_every=node.metric_every, metric_trials=node.metric_trials,
                          after_last=node.after_last)
    except CurriculumError as err:
        raise ConfigError(str(err)) from None


def build_constraints(node: DictConfig, N_in: int, N_rec: int, N_out: int, seed: int) -> Constraints:
    """Connectivity masks, Dale's principle and plastic masks from a ``constraints:`` node."""
    regions = node.get("regions")
    if regions is not None:
        try:
            regions = Regions(**OmegaConf.to_container(regions))
        except TypeError as err:
            raise ConfigError(f"constraints.regions: {err}; keys are sizes, within, between, input_regions, "
                              "output_regions") from None
    mask_seed = seed if node.get("mask_seed") is None else int(node.mask_seed)
    try:
        return build_mask_constraints(
            N_in, N_rec, N_out, np.random.default_rng(mask_seed),
            autapses=bool(node.autapses), dale_ratio=node.dale_ratio, density=node.density, regions=regions,
            mask_file=node.mask_file, plastic_file=node.plastic_file, fixed_outgoing=node.fixed_outgoing,
        )
    except ConstraintError as err:
        raise ConfigError(str(err)) from None


def build_objective(cfg: DictConfig) -> Any:
    """Loss and regularizers."""
    from psychrnn_cli.network.regularizers import WEIGHT_TERMS
    from psychrnn_cli.network.step import Objective

    node = cfg.regularizer
    names = [*WEIGHT_TERMS, "L2_rate"]
    coefficients = {name: float(node.get(name, 0.0)) for name in names}
    custom = import_object(node.custom, "regularizer.custom") if node.get("custom") else None
    return Objective(_instantiate("loss", cfg.loss), coefficients, custom, float(node.get("custom_weight", 1.0)))


def build_optimizer(cfg: DictConfig) -> Any:
    """The Keras optimizer of ``optimizer:``, with the learning-rate ``schedule:``."""
    from psychrnn_cli.network.step import exponential_decay

    rate = cfg.optimizer.get("learning_rate")
    schedule = cfg.schedule
    if schedule.kind == "constant":
        return _instantiate("optimizer", cfg.optimizer)
    if schedule.kind == "exponential_decay":
        decayed = exponential_decay(
            float(rate), decay_steps=schedule.decay_steps, decay_rate=schedule.decay_rate,
            staircase=schedule.staircase)
        return _instantiate("optimizer", cfg.optimizer, learning_rate=decayed)
    raise ConfigError(f"schedule.kind must be constant or exponential_decay, got {schedule.kind!r}")


def build(cfg: DictConfig) -> Experiment:
    """All objects of a training run. Validates the config by its schema before building anything.

    Raises:
        ConfigError: any invalid or missing value, with a message that names the key.
    """
    check_config(cfg)
    try:
        return _build(cfg)
    except MissingMandatoryValue as err:
        key = err.full_key
        raise ConfigError(f"{key} has no value (???): set it on the command line, e.g. {key}=...") from None


def check_reporting(train: DictConfig) -> None:
    """ConfigError for ``train.tensorboard`` without TensorBoard installed, or
    ``train.objective=neg_iterations_to_criterion`` without a ``train.stop_accuracy`` to reach."""
    if train.get("tensorboard", False) and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("train.tensorboard=true needs the tensorboard package, which is not installed: "
                          "pip install 'psychrnn-cli[tensorboard]', or set train.tensorboard=false")
    if train.get("objective") == "neg_iterations_to_criterion" and train.stop_accuracy is None:
        raise ConfigError("train.objective=neg_iterations_to_criterion counts iterations until train.stop_accuracy, "
                          "which is null: set train.stop_accuracy (e.g. 0.9) or choose another train.objective")


def _build(cfg: DictConfig) -> Experiment:
    importable_working_directory()
    seed = int(cfg.seed)
    train = cfg.train
    check_reporting(train)
    batch_size, N_rec = train.batch_size, cfg.model.N_rec

    train_rng, eval_rng, test_rng, init_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    np.random.seed(seed)  # for tasks written against NumPy's global random state
    task = build_task(cfg.task, batch_size, train_rng)
    eval_task = build_task(cfg.task, int(train.eval_trials), eval_rng)
    test_task = build_task(cfg.task, int(train.test_trials), test_rng)
    for key in ("batch_size", "eval_trials", "test_trials"):  # before any trial is made (a long task.T or sequence)
        check_trial_memory(task, int(train[key]), N_rec, f"train.{key}=")
    curriculum = build_curriculum(cfg.curriculum, cfg.task, task, batch_size)
    for stage in curriculum.stages:
        check_task(stage.task)
    if (cfg.get("algorithm") or {}).get("kind") == "actor_critic":
        for number, stage in enumerate(curriculum.stages):
            check_reward_tables(stage.task, float(cfg.algorithm.abort_penalty))
            if curriculum.metric_every and acts_on_feedback(task) and stage.metric not in ("iterations", "loss"):
                raise ConfigError(f"curriculum stage {number}: metric {stage.metric_name} runs the network on inputs "
                                  "made in advance, but with task.feedback=reward they depend on its actions; use "
                                  "metric: loss or metric: iterations")
            if sequence_setting(stage.task) != sequence_setting(task):
                raise ConfigError("algorithm=actor_critic: every curriculum stage must keep task.trials_per_sequence, "
                                  "task.iti, task.feedback and the trial length of a sequence task (a network acts "
                                  "on one sequence layout); change them in a new run that loads the weights")
    elif getattr(task, "feedback", "none") == "reward":
        raise ConfigError("task.feedback=reward needs algorithm=actor_critic (in supervised training the inputs are "
                          "made before the network acts); use task.feedback=correct_side")
    constraints = build_constraints(cfg.constraints, task.N_in, N_rec, task.N_out, seed)
    model_node = OmegaConf.to_container(cfg.model, resolve=True)
    try:
        definition_class = model_class(str(model_node.get("_target_", BUILTIN["basic"])))
    except ModelError as err:
        raise ConfigError(str(err)) from None
    load_weights = model_node.get("load_weights")
    if load_weights:
        initializer = functools.partial(from_file, path=str(load_weights), option="model.load_weights")
    else:
        initializer = _instantiate("initializer", cfg.initializer)
    if getattr(initializer, "func", None) is from_file:  # a stored network: all its gate blocks, or an error
        initializer = functools.partial(initializer, gates=definition_class.gates)
    try:
        check_arguments("model", definition_class,
                        {key: value for key, value in model_node.items() if key not in ENGINE_KEYS})
        definition = make_model(model_node, task.alpha, task.dt)
        weights = definition.initial_weights(initializer, init_rng, constraints, task.N_in, task.N_out)
        definition.check(weights, constraints.dale_ratio)
    except ModelError as err:
        raise unexpected_argument("model", definition_class, err) or ConfigError(str(err)) from None
    except ConstraintError as err:
        raise ConfigError(str(err)) from None
    except TypeError as err:
        raise ConfigError(f"initializer: {err}") from None

    from psychrnn_cli.network import DeviceError, start
    from psychrnn_cli.network.base import RecurrentModel
    from psychrnn_cli.network.step import CompiledSteps
    from psychrnn_cli.training import TrainSettings

    try:
        start(seed, str(train.get("device", "auto")))
    except DeviceError as err:
        raise ConfigError(str(err)) from None
    try:
        model = RecurrentModel(definition, weights, constraints, model_node.get("trainable"))
    except ValueError as err:  # (an unknown transfer function)
        raise ConfigError(f"model: {err}") from None
    steps_args = (model, build_optimizer(cfg), build_objective(cfg), (str(train.clip), float(train.clip_norm)), seed)
    algorithm = cfg.get("algorithm") or {}
    if algorithm.get("kind", "supervised") == "actor_critic":
        from psychrnn_cli.network.reinforce import ActorCritic, ActorCriticSteps
        from psychrnn_cli.rewards import fixation_action

        settings = ActorCritic(**{k: v for k, v in algorithm.items() if k != "kind"})
        steps = ActorCriticSteps(*steps_args, settings, fixation_action(task), layout(task),
                                 getattr(task, "feedback", "none"))
    else:
        steps = CompiledSteps(*steps_args)
    settings = TrainSettings(
        iterations=int(train.iterations),
        batch_size=batch_size,
        eval_every=int(train.eval_every),
        eval_trials=int(train.eval_trials),
        stop_accuracy=None if train.stop_accuracy is None else float(train.stop_accuracy),
        checkpoint_every=int(train.checkpoint_every),
        progress=bool(train.progress),
        tensorboard=bool(train.get("tensorboard", False)),
    )
    return Experiment(seed, task, curriculum, eval_task, test_task, constraints, model, steps, settings,
                      int(train.test_trials), min(int(train.save_trials), int(train.test_trials)))


FIXED_TASK_KEYS = ("task.N_in", "task.N_out", "task.N_batch")
ARRAYS_HELD = 2  # the trials and their simulation are held at once, and the check's copy of the trials


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_trial_memory(task: Task, n_trials: int, N_rec: int, option: str = "--trials ") -> None:
    """ConfigError naming ``option`` (``--trials `` or ``train.batch_size=``...) if ``n_trials``
    trials (or sequences) of ``task`` would not fit in memory.

    Estimate, in bytes: ``n_trials x N_steps x (N_in + 3 N_out + N_rec) x 8 x ARRAYS_HELD``
    (inputs ``[n, N_steps, N_in]``; targets, mask and outputs ``[n, N_steps, N_out]``; states
    ``[n, N_steps, N_rec]``, float64), refused above the physical memory.
    """
    memory = physical_memory()
    per_trial = task.N_steps * (task.N_in + 3 * task.N_out + N_rec) * 8 * ARRAYS_HELD
    if memory is None or n_trials * per_trial <= memory:
        return
    sequence = isinstance(task, SequenceTask)
    what = f" (sequences of {task.K} trials, {task.N_steps} steps each)" if sequence else ""
    fits = memory // per_trial // 2
    fix = f"use {option}{fits} or fewer{' (or fewer task.trials_per_sequence)' if sequence else ''}" if fits else \
        ("even one sequence is too long: use fewer task.trials_per_sequence or a shorter task.iti or task.T"
         if sequence else "even one trial is too long: use a shorter task.T or a larger task.dt")
    raise ConfigError(f"{option}{n_trials}{what} needs about {n_trials * per_trial / 1e9:.3g} GB for its arrays, more "
                      f"than this machine's {memory / 1e9:.3g} GB of memory: {fix}")


def task_from_run(run: dict[str, Any], n_trials: int, seed: int, overrides: Sequence[str] = ()) -> Any:
    """The run's task rebuilt from its stored config, with ``task.KEY=VALUE`` overrides applied.

    The task draws from ``numpy.random.default_rng(seed)``. Raises ConfigError for a bad
    override or a task whose N_in, N_out, dt or tau no longer fit the network.
    """
    from omegaconf.errors import OmegaConfBaseException

    if not run.get("config") or "task" not in run["config"]:
        raise ConfigError("the run file has no stored config with a task; cannot generate fresh trials")
    importable_working_directory()  # a task from the user's own file, as in training
    cfg = OmegaConf.create({"task": run["config"]["task"]})
    for override in overrides:
        key, sep, _ = override.partition("=")
        if not sep or not key.startswith("task."):
            raise ConfigError(f"override {override!r}: only task settings can change, as task.KEY=VALUE "
                              "(for example task.coherence=0.1 or task.T=1500)")
        if key in FIXED_TASK_KEYS:
            raise ConfigError(f"override {override!r}: {key} is fixed by the trained network (N_in, N_out) or by "
                              "--trials (N_batch); drop it")
    with_overrides = f" with {' '.join(overrides)}" if overrides else ""
    try:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        np.random.seed(seed)  # for PsychRNN-style tasks that draw from NumPy's global state
        task = build_task(cfg.task, n_trials, np.random.default_rng(seed))
    except (OmegaConfBaseException, TypeError, ValueError) as err:  # (ConfigError is a ValueError)
        raise ConfigError(f"cannot build the task{with_overrides}: {err}") from None
    trained, feedback = (node.get("feedback", SEQUENCE_KEYS["feedback"]) for node in (run["config"]["task"], cfg.task))
    if feedback != trained:  # (as many channels can mean another thing: correct_side and reward with a fixation output)
        raise ConfigError(f"task.feedback={feedback} does not fit the trained network (task.feedback={trained}: its "
                          "feedback inputs were trained to mean that): keep it as trained")
    check_trial_memory(task, n_trials, int(run["model"]["attrs"]["N_rec"]))
    try:
        check_task(task, n_trials)  # the batch the caller draws first: every trial must be scored
    except ConfigError as err:
        raise ConfigError(f"cannot build the task{with_overrides}: {err}") from None
    attrs = run["model"]["attrs"]
    for key in ("N_in", "N_out", "dt", "tau"):
        if key in attrs and not math.isclose(float(getattr(task, key)), float(attrs[key])):
            raise ConfigError(f"task.{key}={getattr(task, key)} does not fit the trained network "
                              f"({key}={attrs[key]}): keep it as trained")
    return task
