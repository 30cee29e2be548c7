"""``psychrnn train``: the Hydra application over :func:`psychrnn_cli.ensemble.train_runs`, and job failures.

A job that raises leaves ``run.h5`` with status ``failed`` and its message (``run`` writes it when
training raises; for errors before that, such as a bad config value, a minimal run file is written
here) and the traceback at the end of ``train.log``. A run directory that refuses the run (in use,
or holding another run) is left untouched. A single run exits with ``EXIT_CODES`` of its status
(0 completed, 1 failed, 3 stopped) or 2 for a config error, with a one-line message. In a sweep
(``-m``) the job returns normally so that the other jobs still run; :class:`SweepCallback` counts
the outcomes after the sweep and exits as a single run with the worst of them would. Set
``HYDRA_FULL_ERROR=1`` to get the exception itself instead.

Hydra does not write ``.hydra/`` (``hydra.output_subdir`` is null): :func:`save_hydra_config`
writes it once the run directory has accepted the run, so it always records the config trained.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shlex
import shutil
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

CONFIG_MODULE = "psychrnn_cli.configs"
EXIT_CODES = {"completed": 0, "failed": 1, "running": 1, "stopped": 3}  # and 2: a usage or config error


def _one_line(err: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, cut at ``limit`` characters."""
    text = str(err).strip().splitlines()
    line = f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _config_yaml(cfg: DictConfig) -> str:
    try:
        return OmegaConf.to_yaml(cfg, resolve=True)
    except Exception:  # a broken interpolation may be the very error being recorded
        return OmegaConf.to_yaml(cfg, resolve=False)


def save_hydra_config(cfg: DictConfig, run_dir: Path) -> None:
    """Write ``run_dir/.hydra/`` as Hydra would: ``config.yaml``, ``hydra.yaml``, ``overrides.yaml``."""
    hydra_cfg = HydraConfig.get()
    folder = run_dir / ".hydra"
    folder.mkdir(exist_ok=True)
    for name, node in (("config.yaml", cfg), ("hydra.yaml", OmegaConf.create({"hydra": hydra_cfg})),
                       ("overrides.yaml", hydra_cfg.overrides.task)):
        (folder / name).write_text(OmegaConf.to_yaml(node))


def record_failure(cfg: DictConfig, run_dir: Path, err: Exception) -> str:
    """Leave a failed job's traces in ``run_dir`` and return its one-line message.

    Appends the traceback to ``train.log``. When the job failed before writing ``run.h5`` (a config
    error raised while building), writes a minimal run file: root attributes ``status`` = failed,
    ``message``, ``iterations`` = 0 and the provenance (:func:`psychrnn_cli.run.provenance`; the
    seed if it is an integer), and the config; and ``.hydra/``. An existing run file is left as it
    is, and nothing is written while another process holds the run directory.
    """
    from psychrnn_cli.runfile import RunDirBusy, run_dir_lock

    message = _one_line(err)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with run_dir_lock(run_dir, "psychrnn train (recording a failure)", ""):
            _write_failure(cfg, run_dir, err, message)
    except (RunDirBusy, OSError):  # busy, or an unwritable or full disk: the message itself still goes out
        pass
    return message


def _write_failure(cfg: DictConfig, run_dir: Path, err: Exception, message: str) -> None:
    from psychrnn_cli.run import provenance
    from psychrnn_cli.runfile import RUN_FILE, RUN_GROUPS, write_run

    _log_failure(run_dir, message, err)
    if not (run_dir / RUN_FILE).exists():
        seed = cfg.get("seed") if "seed" in cfg else None
        seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
        attrs = {**provenance(seed), "status": "failed", "message": message, "iterations": 0}
        write_run(run_dir / RUN_FILE, {"attrs": attrs, "config": _config_yaml(cfg)}, layout=RUN_GROUPS)
        save_hydra_config(cfg, run_dir)


def resume_command(run_dir: Path) -> str:
    """The command line that resumes the run in ``run_dir``: this job's overrides and its directory."""
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("hydra.run.dir=")]
    return shlex.join(["psychrnn", "train", *overrides, f"hydra.run.dir={run_dir.resolve()}"])


def _log_failure(run_dir: Path, message: str, err: Exception) -> None:
    """Append ``message`` and ``err``'s traceback to ``run_dir/train.log``."""
    with open(run_dir / "train.log", "a") as log:
        log.write(f"[{dt.datetime.now():%Y-%m-%d %H:%M:%S}] job failed: {message}\n")
        log.write("".join(traceback.format_exception(err)))


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="train")
def train_app(cfg: DictConfig) -> float | None:
    """Train one network in Hydra's run directory; returns its ``train.objective`` for a sweeper
    (:mod:`psychrnn_cli.objective`), or None when the job failed, the run directory refused it or
    the run has no such value: Optuna's sweeper records None as a failed trial (NaN made it stop
    the whole sweep with a traceback)."""
    from psychrnn_cli.build import ConfigError
    from psychrnn_cli.ensemble import train_runs
    from psychrnn_cli.objective import objective_value
    from psychrnn_cli.run import RunDirError, run_outcome
    from psychrnn_cli.slurm import Requeue

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    job = f"job {hydra_cfg.job.num} " if multirun else ""
    try:
        path = train_runs(cfg, run_dir, on_start=lambda: save_hydra_config(cfg, run_dir))
        status, message = run_outcome(path)
    except Requeue as requeue:  # SLURM runs this job again: no result now
        requeue.hand_over(run_dir)
    except Exception as err:
        refused = isinstance(err, RunDirError)
        message = str(err) if refused else record_failure(cfg, run_dir, err)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if multirun:
            print(f"psychrnn train: {job}{'refused' if refused else 'failed'}: {message} (in {run_dir}; the other "
                  "jobs go on)", file=sys.stderr)
            return None
        if isinstance(err, ConfigError):
            print(f"psychrnn train: error: {err}", file=sys.stderr)
            sys.exit(2)
        print(f"psychrnn train: error: training failed: {message} (traceback in {run_dir / 'train.log'})",
              file=sys.stderr)
        sys.exit(1)
    if status == "stopped":
        print(f"psychrnn train: {job}{message}; to resume it, run: {resume_command(run_dir)}", file=sys.stderr)
    elif status != "completed":
        print(f"psychrnn train: {'' if multirun else 'error: '}{job}training {status}: {message} (run file in "
              f"{run_dir})", file=sys.stderr)
    if not multirun and status != "completed":
        sys.exit(EXIT_CODES[status])
    value = objective_value(path, str(cfg.train.get("objective", "final_accuracy")))
    return None if math.isnan(value) else value


def launcher_problem(config: DictConfig) -> str | None:
    """Why the sweep cannot start (a one-line message), or None: a sweeper optimizing the wrong
    way (:func:`sweeper_problem`), invalid time-limit settings of a submitit launcher, SLURM's
    commands missing, or SLURM jobs of an earlier run of the same sweep still queued or running in
    its run directories."""
    from psychrnn_cli.slurm import jobs_in_queue, launcher_error

    if error := sweeper_problem(config):
        return error
    launcher = str(OmegaConf.select(config, "hydra.launcher._target_", default=""))
    settings = {key: OmegaConf.select(config, f"hydra.launcher.{key}")
                for key in ("timeout_min", "signal_delay_s", "max_num_timeout") if key in config.hydra.launcher}
    if "submitit" in launcher and (error := launcher_error(settings)):
        return error
    if not launcher.endswith("SlurmLauncher"):
        return None
    if missing := [cmd for cmd in ("sbatch", "srun") if shutil.which(cmd) is None]:
        return (f"hydra/launcher=slurm needs SLURM's {' and '.join(missing)} on PATH: run on the cluster's login node, "
                "or sweep on this machine with hydra/launcher=local")
    sweep_dir = Path(str(config.hydra.sweep.dir))
    if queued := jobs_in_queue(sweep_dir):
        return (f"SLURM job {', '.join(queued)} still trains runs of {sweep_dir}: wait until it ends "
                f"(squeue -j {queued[0]}) or cancel it (scancel {queued[0]}), then run this again")
    return None


def sweeper_problem(config: DictConfig) -> str | None:
    """Why an optimizing sweeper (Optuna's) would search the wrong way: its ``direction`` is not
    the one of ``train.objective`` (:data:`psychrnn_cli.objective.DIRECTIONS`); or None."""
    from psychrnn_cli.objective import DIRECTIONS

    direction = OmegaConf.select(config, "hydra.sweeper.direction", default=None)
    direction = getattr(direction, "name", direction)  # (Optuna's sweeper holds an enum)
    objective = str(OmegaConf.select(config, "train.objective", default="final_accuracy"))
    wanted = DIRECTIONS.get(objective)
    if not isinstance(direction, str) or wanted is None or direction.lower() == wanted:
        return None
    return (f"hydra.sweeper.direction={direction}, but train.objective={objective} is to be {wanted}d: add "
            f"hydra.sweeper.direction={wanted}")


def exit_unless_writable(directory: Path, key: str) -> None:
    """Create ``directory`` or exit with status 2 and one line naming it and ``key``.

    Runs before Hydra creates the directory and ``.hydra/`` itself, which on a read-only or
    unwritable file system would end in Hydra's traceback.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            raise PermissionError(13, "not writable (read-only file system?)")
    except OSError as err:
        print(f"psychrnn train: error: cannot write to the run directory {directory}: {err.strerror or err}; choose "
              f"another with {key}=PATH", file=sys.stderr)
        sys.exit(2)


class SweepCallback(Callback):
    """Hydra callback for ``-m``: checks the launcher before the sweep, reports the runs after it.
    For a single run, checks that the run directory can be written before Hydra writes into it.

    After the sweep it reads every run directory under ``hydra.sweep.dir`` (so it sees jobs that
    ran in other processes or on SLURM), prints one line counting them by status, and exits with
    status 1 if any run is not ``completed`` (3 when every such run was stopped, as for a single
    run). (Hydra turns exceptions raised by callbacks into warnings, hence ``sys.exit``.)
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        exit_unless_writable(Path(str(config.hydra.run.dir)), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if error := launcher_problem(config):
            print(f"psychrnn train: error: {error}", file=sys.stderr)
            sys.exit(2)
        exit_unless_writable(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")  # (after: it makes the folder)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from psychrnn_cli.sweep_summary import SummaryError, collect_runs

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            runs = collect_runs(sweep_dir)
        except SummaryError as err:
            print(f"psychrnn train: error: {err}", file=sys.stderr)
            sys.exit(1)
        counts = Counter(run.status for run in runs)
        print(f"psychrnn train: sweep of {len(runs)} runs in {sweep_dir}: "
              + ", ".join(f"{n} {status}" for status, n in counts.most_common())
              + f"  (table: psychrnn summarize {sweep_dir})", file=sys.stderr)
        bad = [run for run in runs if run.status != "completed"]
        if bad:
            print(f"psychrnn train: error: {len(bad)} of {len(runs)} runs did not complete; first: {bad[0].path} "
                  f"({bad[0].status}: {bad[0].message})", file=sys.stderr)
            sys.exit(EXIT_CODES["stopped"] if all(run.status == "stopped" for run in bad) else 1)
