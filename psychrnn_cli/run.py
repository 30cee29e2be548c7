"""One training run from a composed config to ``run.h5``: build, train, evaluate, write.

The CLI (``psychrnn train``) and the Python API (:func:`psychrnn_cli.train`) both call :func:`run`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np
from omegaconf import DictConfig, OmegaConf

from psychrnn_cli.build import ConfigError, Experiment, build
from psychrnn_cli.checkpoint import CHECKPOINT_FILE, CheckpointError, LoopState, load_checkpoint, save_checkpoint
from psychrnn_cli.masks import effective_weights
from psychrnn_cli.runfile import WriteError, write_run

log = logging.getLogger("psychrnn_cli")
RUN_FILE = "run.h5"


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
        handlers.append(logging.StreamHandler(sys.stderr))
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


def provenance(seed: int) -> dict[str, Any]:
    """Root attributes: versions, time, host, seed and SLURM job id."""
    import tensorflow as tf

    return {
        "psychrnn_cli_version": _version("psychrnn-cli"),
        "tensorflow_version": tf.__version__,
        # threads per TensorFlow operation (0: TensorFlow's default, all cores); the last bits of results depend on it
        "tf_intra_op_threads": int(os.environ.get("TF_NUM_INTRAOP_THREADS",
                                                  tf.config.threading.get_intra_op_parallelism_threads())),
        "numpy_version": np.__version__,
        "h5py_version": _version("h5py"),
        "hydra_version": _version("hydra-core"),
        "python_version": platform.python_version(),
        "git_commit": _git_commit(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "seed": seed,
        "slurm_job_id": os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", "")),
    }


def trial_param_arrays(params: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """One array ``[B]`` per numeric trial parameter (others are skipped)."""
    out = {}
    for key in params[0] if params else []:
        values = [p.get(key) for p in params]
        if all(isinstance(v, (int, float, np.integer, np.floating, bool)) for v in values):
            out[key] = np.asarray(values)
    return out


def model_tree(exp: Experiment) -> dict[str, Any]:
    """``/model``: attributes, raw and effective weights, constraints."""
    from psychrnn_cli.network.base import describe

    weights = exp.model.numpy_weights()
    return {
        "attrs": {**describe(exp.model), "dt": exp.task.dt, "tau": exp.task.tau},
        "weights": weights,
        "effective": effective_weights(weights, exp.constraints, gates=exp.model.gates),
        "constraints": exp.constraints.arrays(),
    }


def final_groups(exp: Experiment, state: LoopState) -> dict[str, Any]:
    """``/training``, ``/trials``, ``/evaluation`` (and ``/curriculum``) after training, from a fresh test batch."""
    from psychrnn_cli.training import evaluate

    accuracy, loss, (x, y, mask, params, outputs, states) = evaluate(exp.steps, exp.test_task, exp.test_trials)
    n = exp.save_trials
    trials = {"inputs": x[:n], "targets": y[:n], "mask": mask[:n], "outputs": outputs[:n], "states": states[:n],
              "time_ms": exp.test_task.time_ms, **{k: v[:n] for k, v in trial_param_arrays(params).items()}}
    groups = {"training": state.curves.arrays(), "trials": trials,
              "evaluation": {"attrs": {"accuracy": accuracy, "loss": loss, "n_trials": exp.test_trials}}}
    if exp.curriculum.metric_every:
        groups["curriculum"] = exp.curriculum.record()
    return groups


def check_writable(run_dir: Path) -> None:
    """Create ``run_dir`` and write a probe file, or raise ConfigError before any training.

    Also removes temporary files that a killed process left behind.
    """
    probe = run_dir / ".write-test"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"\0" * 65536)
        probe.unlink()
        for stale in run_dir.glob(".*.h5.tmp*"):
            stale.unlink()
    except OSError as err:
        raise ConfigError(f"cannot write to the run directory {run_dir}: {err.strerror or err}; choose another "
                          "with hydra.run.dir=PATH (or free disk space)") from None


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
        raise CheckpointError(f"cannot resume: {path} does not fit this run ({type(err).__name__}: {err}); "
                              f"delete it to start afresh") from None
    return data["state"]


class Job:
    """One run directory while it trains: the experiment, its checkpoints and its run file.

    Building it builds the experiment, resumes from ``run_dir/checkpoint.h5`` when there is one
    (and ``train.resume`` is true), and writes the run file with status ``running``.

    Args:
        cfg: the run's composed config.
        run_dir: an existing, writable directory.
        logger: where progress messages go.
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, logger: logging.Logger = log) -> None:
        self.log = logger
        self.path, self.checkpoint_path = run_dir / RUN_FILE, run_dir / CHECKPOINT_FILE
        self.exp = exp = build(cfg)
        self.config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
        self.header = {"attrs": provenance(exp.seed), "config": self.config_yaml}
        self.state = LoopState()
        if self.checkpoint_path.exists() and cfg.train.resume:
            try:
                self.state = resume(exp, self.checkpoint_path, self.config_yaml)
            except CheckpointError as err:
                raise ConfigError(str(err)) from None
            logger.info("resuming from %s at iteration %d", self.checkpoint_path, self.state.iteration)
        self.save("running", self.state.iteration)
        logger.info("training %s (N_rec %d) on %s; run directory %s", exp.model.kind, exp.model.N_rec,
                    exp.task.name, run_dir)

    def save(self, status: str, iterations: int, message: str = "", **groups: Any) -> None:
        """Write the run file with this status and these groups (besides the header and ``/model``)."""
        self.header["attrs"].update(status=status, iterations=iterations, message=message)
        write_run(self.path, {**self.header, "model": model_tree(self.exp), **groups})

    def checkpoint(self, state: LoopState) -> None:
        write_checkpoint(self.exp, self.checkpoint_path, self.config_yaml, state)

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
        if result.status == "completed":  # (a signal's stop saved its own checkpoint)
            self.checkpoint(result.state)
        if result.at_once:
            self.save(result.status, result.state.iteration, result.message, training=result.state.curves.arrays())
            self.log.info("%s after %d iterations (no test batch); wrote %s", result.status, result.state.iteration,
                          self.path)
            return self.path
        groups = final_groups(self.exp, result.state)
        self.save(result.status, result.state.iteration, result.message, **groups)
        evaluation = groups["evaluation"]["attrs"]
        self.log.info("%s after %d iterations: test accuracy %.3f, loss %.5f on %d fresh trials; wrote %s",
                      result.status, result.state.iteration, evaluation["accuracy"], evaluation["loss"],
                      self.exp.test_trials, self.path)
        return self.path

    def fail(self, err: BaseException) -> None:
        """Record an exception in the run file (status ``failed``), if the disk still lets us."""
        try:
            self.save("failed", self.state.iteration, f"{type(err).__name__}: {err}")
        except WriteError as write_err:
            self.log.info("could not record the failure in the run file either: %s", write_err.strerror)


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


def run(cfg: DictConfig, run_dir: Path | str) -> Path:
    """Train the network ``cfg`` describes and write ``run_dir/run.h5``; returns the file's path.

    The run file is written before training (status ``running``) and at the end. A checkpoint is
    written every ``train.checkpoint_every`` iterations and when training stops; when ``run_dir``
    already holds one (and ``train.resume`` is true), training continues from it, so a killed or
    preempted run restarted in the same directory ends as if it had never stopped. Exceptions are
    re-raised after the run file records ``failed``.

    With ``train.ensemble`` = K > 1, trains K networks together (seeds ``seed`` .. ``seed + K - 1``),
    each in its own directory ``run_dir/seed_<seed>/``, and returns ``run_dir`` (see
    :mod:`psychrnn_cli.ensemble`).
    """
    from psychrnn_cli.ensemble import ensemble_size, run_ensemble
    from psychrnn_cli.training import train

    run_dir = Path(run_dir)
    if ensemble_size(cfg) > 1:
        return run_ensemble(cfg, run_dir)
    check_writable(run_dir)
    with run_logging(run_dir / "train.log"):
        job = Job(cfg, run_dir)
        exp = job.exp
        try:
            result = job.previous_result() or train(exp.steps, exp.curriculum, exp.eval_task, exp.settings,
                                                    job.state, job.checkpoint)
            return job.finish(result)
        except Exception as err:
            job.fail(err)
            if isinstance(err, WriteError):
                raise write_failure(err, run_dir) from err
            raise
