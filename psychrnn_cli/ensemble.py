"""``train.ensemble=K``: K networks trained together, each written as if it had trained alone.

Member k has seed ``seed + k`` and its own directory ``<run_dir>/seed_<seed + k>/`` holding the
same ``run.h5``, ``checkpoint.h5`` and ``train.log`` as a solo run with that seed (its config
records that seed and ``train.ensemble: 1``), so ``psychrnn evaluate``, ``plot`` and
``summarize`` see no difference, and a member can be resumed on its own. The ensemble's own
``train.log`` stays in ``<run_dir>``.

Every member keeps its own trial batches, initial weights, optimizer state, recurrent noise,
curriculum and stopping rules: one :class:`~psychrnn_cli.training.Trainer` per member, around one
traced step for all, run side by side (:class:`~psychrnn_cli.network.ensemble_step.EnsembleSteps`). A member that
passes a curriculum stage advances alone; a member that stops (stop accuracy, end of its
curriculum, a non-finite loss) writes its run file at once while the others go on.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
from omegaconf import DictConfig, OmegaConf

from psychrnn_cli.build import ConfigError
from psychrnn_cli.prefetch import BatchSource, BatchWorker, global_state_key
from psychrnn_cli.progress import progress_bar
from psychrnn_cli.run import Job, check_layout, check_writable, hold_run_dir, plan_run, run, run_logging, tensorboard
from psychrnn_cli.task import Task

log = logging.getLogger("psychrnn_cli")


def ensemble_size(cfg: DictConfig) -> int:
    """``train.ensemble`` (1 when absent), or a ConfigError unless it is a positive integer."""
    size = cfg.train.get("ensemble", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"train.ensemble must be a positive integer (the number of networks trained together), "
                          f"got {size!r}")
    return size


def member_config(cfg: DictConfig, seed: int) -> DictConfig:
    """The config of a solo run with ``seed``: ``cfg`` with that seed and ``train.ensemble`` = 1."""
    member = copy.deepcopy(cfg)
    OmegaConf.update(member, "seed", seed, force_add=True)
    OmegaConf.update(member, "train.ensemble", 1, force_add=True)
    return member


def check_own_random_state(task: Task) -> None:
    """A ConfigError if making a batch of (a copy of) ``task`` draws from NumPy's global random
    state, which the members would share."""
    saved, before = np.random.get_state(), global_state_key()
    try:
        copy.deepcopy(task).get_trial_batch(2)
        shared = global_state_key() != before
    finally:
        np.random.set_state(saved)
    if shared:
        raise ConfigError(f"train.ensemble needs tasks that draw from their own random generator: task {task.name} "
                          "uses NumPy's global random state (np.random.*), which the members would share; draw from "
                          "self.rng instead, or train the seeds as separate runs (psychrnn train -m seed=...)")


def train_runs(cfg: DictConfig, run_dir: Path | str, on_start: Callable[[], None] | None = None) -> Path:
    """Train what ``cfg`` asks for and return where it went: one network (:func:`psychrnn_cli.run.run`,
    returning its run file) or, with ``train.ensemble`` = K > 1, K networks together (seeds ``seed``
    .. ``seed + K - 1``), each in its own directory ``run_dir/seed_<seed>/`` (:func:`run_ensemble`),
    returning ``run_dir``. ``on_start`` is called once the run directory accepted the run."""
    if ensemble_size(cfg) > 1:
        return run_ensemble(cfg, Path(run_dir), on_start)
    return run(cfg, run_dir, on_start)


def run_ensemble(cfg: DictConfig, run_dir: Path, on_start: Callable[[], None] | None = None) -> Path:
    """Train ``train.ensemble`` networks together; each writes ``run_dir/seed_<seed>/run.h5``.

    Returns ``run_dir``. The ensemble's directory and every member's are locked while training,
    and each member starts as :func:`~psychrnn_cli.run.plan_run` says for a solo run: members
    resume from their own checkpoints, completed members are left as they are. ``on_start`` is
    called once every member passed those checks. An exception marks every member that has not
    finished as ``failed`` and is re-raised.

    Raises:
        ConfigError: an invalid config, or a task that draws from NumPy's global random state.
        RunDirError: a directory is in use, a member directory must not take its member's run, or
            ``run_dir`` holds a single run or members of other seeds (see :func:`~psychrnn_cli.run.check_layout`).
    """
    size, first = ensemble_size(cfg), int(cfg.seed)
    seeds = list(range(first, first + size))
    dirs = [run_dir / f"seed_{seed}" for seed in seeds]
    configs = [member_config(cfg, seed) for seed in seeds]
    with contextlib.ExitStack() as locks:
        check_writable(run_dir)
        locks.enter_context(hold_run_dir(run_dir))
        check_layout(run_dir, dirs)  # before any member directory is made
        for directory in dirs:
            check_writable(directory)
            locks.enter_context(hold_run_dir(directory))
        plans = [plan_run(member, member_dir) for member, member_dir in zip(configs, dirs)]
        if all(plan == "done" for plan in plans):
            print(f"psychrnn train: every member in {run_dir} already holds its completed run; nothing to do",
                  file=sys.stderr)
            return run_dir
        if on_start is not None:
            on_start()
        train_ensemble(run_dir, seeds, configs, plans)
    return run_dir


def train_ensemble(run_dir: Path, seeds: list[int], configs: list[DictConfig], plans: list[str]) -> None:
    """Build and train the members whose plan is not ``done``, in their locked directories."""
    size, first = len(seeds), seeds[0]
    with run_logging(run_dir / "train.log"):
        log.info("ensemble of %d networks (seeds %d to %d) trained together; member runs in %s/seed_<seed>/",
                 size, seeds[0], seeds[-1], run_dir)
        for seed, plan in zip(seeds, plans):
            if plan == "done":
                log.info("seed %d already completed in %s/seed_%d; left as it is", seed, run_dir, seed)
        members = [(seed, member, plan) for seed, member, plan in zip(seeds, configs, plans) if plan != "done"]
        loggers = [logging.getLogger(f"psychrnn_cli.ensemble.seed_{seed}") for seed, _, _ in members]
        with contextlib.ExitStack() as stack:
            for (seed, _, _), logger in zip(members, loggers):
                stack.enter_context(run_logging(run_dir / f"seed_{seed}" / "train.log", logger, stderr=False))
            jobs: list[Job] = []
            try:
                for (seed, member, plan), logger in zip(members, loggers):
                    logger.info("member %d of an ensemble of %d (seeds %d to %d) trained in one process",
                                seed - first + 1, size, seeds[0], seeds[-1])
                    jobs.append(Job(member, run_dir / f"seed_{seed}", logger, from_checkpoint=plan == "resume"))
                    if len(jobs) == 1:  # (before building the other members)
                        check_own_random_state(jobs[0].exp.task)
                train_members(jobs)
            except Exception as err:
                for job in jobs:
                    if job.header["attrs"]["status"] == "running":
                        job.fail(err)
                raise
        statuses = Counter(job.header["attrs"]["status"] for job in jobs)
        log.info("ensemble done: %s", ", ".join(f"{n} {status}" for status, n in statuses.most_common()))


def train_members(jobs: list[Job]) -> None:
    """Train the members of ``jobs`` that have not finished, together; write every run file.

    The loop is the one single runs use (:func:`psychrnn_cli.training.run_trainers`), with one
    trainer per member around one step call for all. A member that stops is finished (final
    checkpoint, test batch, run file) in a background thread while the others train on; every
    member is finished when this returns, and an error in finishing one is raised.
    """
    from psychrnn_cli.network.ensemble_step import EnsembleSteps
    from psychrnn_cli.training import Trainer, run_trainers

    unfinished = set(range(len(jobs)))
    finishing: list[Future] = []

    def write(k: int, result, still_training: int) -> None:
        jobs[k].finish(result)
        log.info("seed %d %s after %d iterations%s; %d of %d members still training", jobs[k].exp.seed,
                 result.status, result.state.iteration, f" ({result.message})" if result.message else "",
                 still_training, len(jobs))

    for k, job in enumerate(jobs):
        if (result := job.previous_result()) is not None:
            unfinished.discard(k)
            write(k, result, len(unfinished))
    with ThreadPoolExecutor(1, thread_name_prefix="ensemble-finish") as writer, \
            EnsembleSteps([job.exp.steps for job in jobs]) as ensemble, BatchWorker() as executor, \
            contextlib.ExitStack() as events:
        def finish(k: int, result) -> None:
            unfinished.discard(k)
            finishing.append(writer.submit(write, k, result, len(unfinished)))

        trainers = {k: Trainer(jobs[k].exp.steps, jobs[k].exp.curriculum, jobs[k].exp.eval_task,
                               replace(jobs[k].exp.settings, progress=False),
                               BatchSource(executor, jobs[k].exp.steps.make_batch), jobs[k].state,
                               jobs[k].checkpoint, jobs[k].log,
                               events.enter_context(tensorboard(jobs[k].path.parent, jobs[k].exp)))
                    for k in sorted(unfinished)}
        progress = progress_bar(max(job.exp.settings.iterations for job in jobs),
                                min((t.state.iteration for t in trainers.values()), default=0),
                                jobs[0].exp.settings.progress)

        def after_iteration() -> None:
            for done in (f for f in finishing if f.done()):
                done.result()  # (raises what finishing a member raised)
            progress.update()
            progress.set_postfix(training=f"{len(unfinished)}/{len(jobs)}")

        try:
            run_trainers(trainers, ensemble.train_step, finish, after_iteration)
        finally:
            progress.close()
            wait(finishing)
    for done in finishing:
        done.result()
