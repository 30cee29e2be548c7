"""One training run from a composed config to ``run.h5``: build, train, evaluate, write.

The CLI (``psychrnn train``) and the Python API (:func:`psychrnn_cli.train`) both call :func:`run`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import h5py
import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from psychrnn_cli.build import ConfigError, Experiment, build
from psychrnn_cli.checkpoint import (CHECKPOINT_FILE, CheckpointError, LoopState, check_checkpoint, config_changes,
                                     load_checkpoint, save_checkpoint)
from psychrnn_cli.masks import effective_weights
from psychrnn_cli.progress import BarSafeHandler
from psychrnn_cli.runfile import (RUN_FILE, RUN_GROUPS, RunDirBusy, WriteError, file_kind, load_run, run_dir_lock,
                                  write_run)
from psychrnn_cli.sequences import feedback_attrs, layout, param_arrays
from psychrnn_cli.slurm import requeue_history

log = logging.getLogger("psychrnn_cli")
OVERWRITE_ADVICE = "add train.overwrite=true to replace it"


class RunDirError(ConfigError):
    """The run directory cannot take this run (another process trains there, or it holds a run that
    this config must not replace or cannot continue); nothing in it was changed."""


class LogFile(logging.FileHandler):
    """``train.log``: a line that cannot be written (a full disk) is skipped without a word, so that
    the error it would report is not buried under logging's own traceback (stderr still gets it)."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


@contextlib.contextmanager
def run_logging(log_file: Path, logger: logging.Logger = log, stderr: bool = True) -> Iterator[None]:
    """Log ``logger``'s messages (by default the package's) to ``log_file``, and to stderr, while the block runs."""
    handlers: list[logging.Handler] = [LogFile(log_file)]
    if stderr:
        handlers.append(BarSafeHandler(sys.stderr))
    formatter = logging.Formatter("[%(asctime)s] %(message)s", "%Y-%m-%d %H:%M:%S")
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    previous = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # Hydra's root handler would print every line twice
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    """Commit of the psychrnn-cli checkout this code runs from, or "unknown" for an installed wheel."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def provenance(seed: int | None) -> dict[str, Any]:
    """Root attributes: versions (TensorFlow's once this process has built a network), time, host,
    seed (when known) and SLURM job id."""
    attrs = {
        "psychrnn_cli_version": _version("psychrnn-cli"),
        "numpy_version": np.__version__,
        "h5py_version": _version("h5py"),
        "hydra_version": _version("hydra-core"),
        "python_version": platform.python_version(),
        "git_commit": _git_commit(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", "")),
    }
    if "tensorflow" in sys.modules:  # (a job that failed before building its network never loaded it)
        from psychrnn_cli.network import runtime_info

        attrs.update(runtime_info())
    if seed is not None:
        attrs["seed"] = seed
    return attrs


def model_tree(exp: Experiment) -> dict[str, Any]:
    """``/model``: attributes, raw and effective weights, constraints."""
    from psychrnn_cli.network.base import describe

    weights = exp.model.numpy_weights()
    tree = {
        "attrs": {**describe(exp.model), "dt": exp.task.dt, "tau": exp.task.tau},
        "weights": weights,
        "effective": effective_weights(weights, exp.constraints, gates=exp.model.gates),
        "constraints": exp.constraints.arrays(),
    }
    critic = getattr(exp.steps, "critic", None)  # (reward-based training)
    if critic is not None:
        tree["critic"] = {"attrs": critic.attrs(), **exp.steps.critic_weights()}
    return tree


def final_groups(exp: Experiment, state: LoopState) -> dict[str, Any]:
    """``/training``, ``/trials``, ``/evaluation`` (and ``/curriculum``) after training, from a fresh test batch."""
    from psychrnn_cli.tasks.multitask import accuracy_by_task
    from psychrnn_cli.training import evaluate

    accuracy, loss, (x, y, mask, params, outputs, states, recorded), scores = evaluate(exp.steps, exp.test_task,
                                                                                      exp.test_trials)
    n = exp.save_trials
    dtypes = {name: dtype for name, (_, dtype) in exp.model.definition.recorded.items()}
    trials = {"inputs": x[:n], "targets": y[:n], "mask": mask[:n], "outputs": outputs[:n], "states": states[:n],
              **{name: value[:n].astype(dtypes[name]) for name, value in recorded.items()},
              "time_ms": exp.test_task.time_ms, **{k: v[:n] for k, v in param_arrays(exp.test_task, params).items()},
              **{k: v[:n] for k, v in scores.items() if isinstance(v, np.ndarray)},  # (reward-based: sampled actions)
              "attrs": {**layout(exp.test_task), **feedback_attrs(exp.test_task)}}
    means = {k: v for k, v in scores.items() if not isinstance(v, np.ndarray)}  # (mean_reward, aborted)
    per_task = {f"accuracy_{label}": value for label, (value, _) in
                accuracy_by_task(exp.test_task, y, outputs, mask, params).items()}  # a multi-task's tasks
    if per_task:  # its trials' task_index, by name
        trials["attrs"]["tasks"] = json.dumps(exp.test_task.labels)
    if "spikes" in recorded:  # spiking models: mean over all test trials, steps and units
        means["mean_firing_rate_hz"] = float(np.mean(recorded["spikes"]) * 1000.0 / exp.test_task.dt)
    groups = {"training": state.curves.arrays(), "trials": trials,
              "evaluation": {"attrs": {"accuracy": accuracy, **per_task, "loss": loss, **means,
                                       "n_trials": exp.test_trials}}}
    if exp.curriculum.metric_every:
        groups["curriculum"] = exp.curriculum.record()
    return groups


def check_writable(run_dir: Path) -> None:
    """Create ``run_dir`` and write a probe file, or raise ConfigError before any training."""
    probe = run_dir / f".write-test{os.getpid()}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"\0" * 65536)
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"cannot write to the run directory {run_dir}: {err.strerror or err}; choose another "
                          "with hydra.run.dir=PATH (or free disk space)") from None


@contextlib.contextmanager
def hold_run_dir(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock while training (see :func:`~psychrnn_cli.runfile.run_dir_lock`), and
    remove the temporary files that a killed process left behind; RunDirError if another process
    holds it."""
    try:
        with run_dir_lock(run_dir, "psychrnn train", "wait until it ends, or train in another run directory "
                                                     "with hydra.run.dir=PATH"):
            for stale in run_dir.glob(".*.h5.tmp*"):
                stale.unlink()
            yield
    except RunDirBusy as err:
        raise RunDirError(str(err)) from None


def _check_own_files(run_dir: Path) -> None:
    """RunDirError if ``run.h5`` or ``checkpoint.h5`` in ``run_dir`` is not a file of that kind
    that psychrnn-cli wrote (another file, or a damaged one): training never writes over it."""
    for name, kind in ((RUN_FILE, "run file"), (CHECKPOINT_FILE, "checkpoint file")):
        path = run_dir / name
        if path.is_file() and (found := file_kind(path)) != kind:
            what = "another or a damaged file" if found == "other file" else f"a {found}"
            raise RunDirError(f"{path} is not a psychrnn-cli {kind} (it is {what}), so training never writes over "
                              "it: move it away, or train in another run directory")


def _trained_run(run_dir: Path) -> dict[str, Any] | None:
    """Root attributes and ``config`` of the run file in ``run_dir`` if it holds trained weights
    (a run file without ``/model``, such as one recording a config error, holds nothing to keep)."""
    path = run_dir / RUN_FILE
    if not path.exists():
        return None
    with h5py.File(path, "r") as f:
        if "model" not in f:
            return None
    run = load_run(path)
    return {**run["attrs"], "config": run.get("config") or {}}


def check_layout(run_dir: Path, member_dirs: list[Path] | None = None) -> None:
    """RunDirError unless ``run_dir`` holds only runs of the kind about to train there: a single run
    (``member_dirs`` None) or the ensemble whose members train in ``member_dirs``. A single run's
    trained ``run.h5`` beside ensemble members, or members of other seeds, would leave runs that
    ``.hydra/`` and ``psychrnn summarize`` no longer describe (``train.overwrite`` included)."""
    advice = "train in another run directory with hydra.run.dir=PATH"
    members = sorted(d.name for d in run_dir.glob("seed_*") if d.is_dir() and _trained_run(d) is not None)
    if member_dirs is None and members:
        raise RunDirError(f"{run_dir} holds the ensemble members {', '.join(members)}: a single run (train.ensemble=1) "
                          f"never trains beside them; {advice}")
    if member_dirs is None:
        return
    if _trained_run(run_dir) is not None:
        raise RunDirError(f"{run_dir} holds a single run (run.h5): an ensemble (train.ensemble={len(member_dirs)}) "
                          f"never trains beside it; {advice}")
    others = [name for name in members if name not in {d.name for d in member_dirs}]
    if others:
        raise RunDirError(f"{run_dir} holds the ensemble members {', '.join(others)}, which this config "
                          f"(seeds {member_dirs[0].name[5:]}..{member_dirs[-1].name[5:]}) does not train; "
                          f"keep seed and train.ensemble so that they are included, or {advice}")


def _checkpoint_iteration(run_dir: Path) -> int:
    """The iteration of ``run_dir/checkpoint.h5`` (0 when there is none or it cannot be read)."""
    try:
        with h5py.File(run_dir / CHECKPOINT_FILE, "r") as f:
            return int(f.attrs["iteration"])
    except (OSError, KeyError, ValueError):
        return 0


def plan_run(cfg: DictConfig, run_dir: Path) -> str:
    """How ``cfg`` starts in ``run_dir``: ``fresh``, ``resume`` (from its checkpoint) or ``done``.

    A run directory that holds a trained run (``run.h5`` with weights) takes only the same config
    (``train.iterations`` and the other keys of ``RESUMABLE_CHANGES`` may change): a completed run
    is ``done``, unless more ``train.iterations`` are asked for, which continue from its checkpoint;
    any other status resumes from the checkpoint, or starts afresh without one. ``train.overwrite``
    replaces whatever the directory holds.

    Raises:
        RunDirError: a different config (in the run file or the checkpoint), fewer
            ``train.iterations`` than already trained, a ``run.h5`` or ``checkpoint.h5`` that is
            not psychrnn-cli's (even with ``train.overwrite``), or a completed run asked for more
            iterations without its checkpoint.
    """
    train = cfg.train
    _check_own_files(run_dir)
    if train.get("overwrite", False):
        return "fresh"
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
    previous = _trained_run(run_dir)
    changes = config_changes(yaml.safe_dump(previous["config"]), config_yaml) if previous else []
    if changes:
        raise RunDirError(f"{run_dir} holds a run of a different config ({'; '.join(changes[:5])}): train in a new "
                          f"run directory with hydra.run.dir=PATH, or {OVERWRITE_ADVICE}")
    can_resume = bool(train.resume) and (run_dir / CHECKPOINT_FILE).exists()
    if can_resume:
        try:
            check_checkpoint(run_dir / CHECKPOINT_FILE, config_yaml)
        except CheckpointError as err:
            raise RunDirError(str(err)) from None
    completed = previous is not None and previous.get("status") == "completed"
    done = max(int(previous.get("iterations") or 0) if completed else 0,
               _checkpoint_iteration(run_dir) if can_resume else 0)
    if train.iterations < done:
        raise RunDirError(f"train.iterations={train.iterations} is fewer than the {done} iterations {run_dir} has "
                          f"already trained: ask for at least {done}, or train in a new run directory")
    if not completed:
        return "resume" if can_resume else "fresh"
    if previous.get("message") or train.iterations == done:  # it stopped by its own criteria, or is at the limit
        return "done"
    if not can_resume:
        raise RunDirError(f"{run_dir} holds a run completed after {done} iterations and no checkpoint to continue "
                          f"from{'' if train.resume else ' (train.resume=false)'}; to train afresh to "
                          f"{train.iterations} iterations, {OVERWRITE_ADVICE}")
    return "resume"


def _tasks(exp: Experiment) -> list:
    return [exp.task, exp.eval_task, exp.test_task, *(stage.task for stage in exp.curriculum.stages)]


def _generators(exp: Experiment) -> dict[str, np.random.Generator]:
    return {"train": exp.task.rng, "eval": exp.eval_task.rng, "test": exp.test_task.rng}


def write_checkpoint(exp: Experiment, path: Path, config_yaml: str, state: LoopState) -> None:
    """Save everything needed to continue this run to ``path`` (atomically)."""
    save_checkpoint(path, config_yaml, state, exp.steps.snapshot(), _generators(exp),
                    [task.batch_count for task in _tasks(exp)], exp.curriculum.progress())


def resume(exp: Experiment, path: Path, config_yaml: str) -> LoopState:
    """Restore weights, optimizer, random states and curriculum from ``path``; the loop's state.

    Raises:
        CheckpointError: the checkpoint is unreadable, damaged, of another config, or does not fit
            this network.
    """
    data = load_checkpoint(path, config_yaml)
    try:
        exp.steps.restore(data["training_arrays"])
        for name, rng in _generators(exp).items():
            rng.bit_generator.state = data["generator_states"][name]
        for task, count in zip(_tasks(exp), data["batch_counts"]):
            task.batch_count = count
        exp.curriculum.restore(data["curriculum"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"cannot resume: {path} does not fit this run ({type(err).__name__}: {err}); train in "
                              "a new run directory, or add train.overwrite=true to start afresh in this one") from None
    return data["state"]


class Job:
    """One run directory while it trains: the experiment, its checkpoints and its run file.

    Building it builds the experiment, resumes from ``run_dir/checkpoint.h5`` when
    ``from_checkpoint`` is true, and writes the run file with status ``running``. Every write keeps the results that
    ``psychrnn evaluate`` and ``analyse`` saved in the run file, unless ``train.overwrite`` is true.

    Args:
        cfg: the run's composed config.
        run_dir: an existing, writable directory, locked by this process (:func:`hold_run_dir`).
        logger: where progress messages go.
        from_checkpoint: continue from the checkpoint (see :func:`plan_run`).
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, logger: logging.Logger = log,
                 from_checkpoint: bool = False) -> None:
        self.log = logger
        self.path, self.checkpoint_path = run_dir / RUN_FILE, run_dir / CHECKPOINT_FILE
        self.keep_results = not cfg.train.get("overwrite", False)
        self.exp = exp = build(cfg)
        self.config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
        history = requeue_history(self.path) if cfg.train.resume else {}  # SLURM's requeues of this run so far
        self.header = {"attrs": {**provenance(exp.seed), **history}, "config": self.config_yaml}
        self.state = LoopState()
        if from_checkpoint:
            try:
                self.state = resume(exp, self.checkpoint_path, self.config_yaml)
            except CheckpointError as err:
                raise RunDirError(str(err)) from None
            logger.info("resuming from %s at iteration %d", self.checkpoint_path, self.state.iteration)
        self.good = (self.state.iteration, exp.steps.snapshot())  # the last weights known to be finite
        self.save("running", self.state.iteration)
        logger.info("training %s (N_rec %d) on %s; run directory %s", exp.model.kind, exp.model.N_rec,
                    exp.task.name, run_dir)

    def save(self, status: str, iterations: int, message: str = "", weights_from: int | None = None,
             **groups: Any) -> None:
        """Write the run file with this status and these groups (besides the header and ``/model``).

        ``weights_from`` is the iteration the weights are from (default ``iterations``).
        """
        self.header["attrs"].update(status=status, iterations=iterations, message=message,
                                    weights_from_iteration=iterations if weights_from is None else weights_from)
        write_run(self.path, {**self.header, "model": model_tree(self.exp), **groups}, keep_results=self.keep_results,
                  layout=RUN_GROUPS)

    def checkpoint(self, state: LoopState) -> None:
        write_checkpoint(self.exp, self.checkpoint_path, self.config_yaml, state)
        self.good = (state.iteration, self.exp.steps.snapshot())

    def previous_result(self):
        """How training ended, if the checkpoint this run resumed from says it already has."""
        from psychrnn_cli.training import TrainResult

        state = self.state
        if state.finished or (state.status == "completed" and state.iteration >= self.exp.settings.iterations):
            return TrainResult("completed", state, state.message or "already completed")
        return None

    def finish(self, result) -> Path:
        """After training (a :class:`~psychrnn_cli.training.TrainResult`): final checkpoint, test
        batch, run file. Returns the run file's path.

        After a second Ctrl-C (``result.at_once``) the run file gets the curves but no test batch
        (``/trials``, ``/evaluation``): the task may be what hangs.
        """
        weights_from = result.state.iteration
        if result.status == "completed":  # (a signal's stop saved its own checkpoint)
            self.checkpoint(result.state)
        elif result.status == "failed":  # a non-finite loss: keep the weights of the last checkpoint
            weights_from, snapshot = self.good
            self.exp.steps.restore(snapshot)
            self.log.info("keeping the weights of iteration %d, the last checkpoint before the failure", weights_from)
        if result.at_once:
            self.save(result.status, result.state.iteration, result.message, weights_from,
                      training=result.state.curves.arrays())
            self.log.info("%s after %d iterations (no test batch); wrote %s", result.status, result.state.iteration,
                          self.path)
            return self.path
        groups = final_groups(self.exp, result.state)
        evaluation = groups["evaluation"]["attrs"]
        if not np.isfinite(evaluation["loss"]):  # (the last finite weights of a diverging run may still blow up)
            self.save(result.status, result.state.iteration, result.message, weights_from,
                      training=groups["training"], **{k: v for k, v in groups.items() if k == "curriculum"})
            self.log.info("%s after %d iterations; no test batch: the weights kept give a loss of %s on fresh "
                          "trials; wrote %s", result.status, result.state.iteration, evaluation["loss"], self.path)
            return self.path
        self.save(result.status, result.state.iteration, result.message, weights_from, **groups)
        self.log.info("%s after %d iterations: test accuracy %.3f, loss %.5f on %d fresh trials; wrote %s",
                      result.status, result.state.iteration, evaluation["accuracy"], evaluation["loss"],
                      self.exp.test_trials * layout(self.exp.test_task)["trials_per_sequence"], self.path)
        return self.path

    def fail(self, err: BaseException) -> None:
        """Record an exception in the run file (status ``failed``), if the disk still lets us."""
        try:
            self.save("failed", self.state.iteration, f"{type(err).__name__}: {err}")
        except WriteError as write_err:
            self.log.info("could not record the failure in the run file either: %s", write_err.strerror)


def tensorboard(run_dir: Path, exp: Experiment) -> contextlib.AbstractContextManager:
    """With ``train.tensorboard``, the TensorBoard event writer of ``run_dir``
    (:func:`psychrnn_cli.network.tensorboard.tensorboard_events`) as an evaluation hook; else None."""
    if not exp.settings.tensorboard:
        return contextlib.nullcontext()
    from psychrnn_cli.network.tensorboard import tensorboard_events

    return tensorboard_events(run_dir, exp.steps, bool(exp.curriculum.metric_every))


def write_failure(err: WriteError, run_dir: Path) -> WriteError:
    """``err`` (a file of ``run_dir`` that could not be written) with what to do next: whether the
    last good checkpoint is kept, and how to finish the run elsewhere from it."""
    reason = f"cannot write {Path(err.filename).name} ({err.strerror})"
    try:
        with h5py.File(run_dir / CHECKPOINT_FILE, "r") as f:
            kept = f"{CHECKPOINT_FILE} (iteration {int(f.attrs['iteration'])}) is kept"
    except (OSError, KeyError):
        return WriteError(err.errno, f"{reason}; no checkpoint was kept: free disk space, or choose another "
                                     "directory with hydra.run.dir=PATH")
    return WriteError(err.errno, f"{reason}; {kept}: copy {run_dir} to a disk with space and rerun the same command "
                                 "with hydra.run.dir=<the copy> (or free space and rerun it here)")


def run(cfg: DictConfig, run_dir: Path | str, on_start: Callable[[], None] | None = None) -> Path:
    """Train the network ``cfg`` describes and write ``run_dir/run.h5``; returns the file's path.

    The run directory is locked while training: a second process training there fails at once
    (:class:`RunDirError`). :func:`plan_run` decides how to start: afresh, from the checkpoint
    (so a killed or preempted run restarted in the same directory ends as if it had never
    stopped), or not at all (a completed run asked again; nothing is written). ``on_start`` is
    called once those checks passed, before training (the CLI records the config there).

    The run file is written before training (status ``running``) and at the end. A checkpoint is
    written every ``train.checkpoint_every`` iterations and when training stops. Exceptions are
    re-raised after the run file records ``failed``. (``train.ensemble`` = K > 1 is
    :func:`psychrnn_cli.ensemble.train_runs`'s business.)
    """
    from psychrnn_cli.training import train

    run_dir = Path(run_dir)
    check_writable(run_dir)
    with hold_run_dir(run_dir):
        check_layout(run_dir)
        plan = plan_run(cfg, run_dir)
        if plan == "done":
            print(f"psychrnn train: {run_dir} already holds this run, completed; nothing to do (more "
                  "train.iterations continue a run that stopped at its iteration limit)", file=sys.stderr)
            return run_dir / RUN_FILE
        if on_start is not None:
            on_start()
        with run_logging(run_dir / "train.log"):
            job = Job(cfg, run_dir, from_checkpoint=plan == "resume")
            exp = job.exp
            try:
                with tensorboard(run_dir, exp) as on_evaluation:
                    result = job.previous_result() or train(exp.steps, exp.curriculum, exp.eval_task, exp.settings,
                                                            job.state, job.checkpoint, on_evaluation)
                return job.finish(result)
            except Exception as err:
                job.fail(err)
                if isinstance(err, WriteError):
                    raise write_failure(err, run_dir) from err
                raise


def run_outcome(path: Path) -> tuple[str, str]:
    """``(status, message)`` of the run file ``path`` after :func:`run`; for an ensemble's directory,
    the first failed member's, else the first stopped member's, else ``completed``."""
    files = sorted(path.glob("seed_*/" + RUN_FILE)) if path.is_dir() else [path]
    outcomes = []
    for file in files:
        with h5py.File(file, "r") as f:
            outcomes.append((str(f.attrs.get("status", "")), str(f.attrs.get("message", ""))))
    for status in ("failed", "stopped", "running"):
        bad = [(s, f"{file.parent.name}: {m}" if path.is_dir() else m) for file, (s, m) in zip(files, outcomes)
               if s == status]
        if bad:
            return bad[0]
    return "completed", ""
