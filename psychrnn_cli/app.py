"""``psychrnn train``: the Hydra application over :func:`psychrnn_cli.run.run`, and job failures.

A job that raises leaves ``run.h5`` with status ``failed`` and its message (``run`` writes it when
training raises; for errors before that, such as a bad config value, a minimal run file is written
here) and the traceback at the end of ``train.log``. A single run then exits with a one-line error
(2 for a config error, 1 otherwise). In a sweep (``-m``) the job returns normally so that the other
jobs still run; :class:`SweepCallback` counts the outcomes after the sweep and exits 1 if a job did
not complete. Set ``HYDRA_FULL_ERROR=1`` to get the exception itself instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
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


def record_failure(cfg: DictConfig, run_dir: Path, err: Exception) -> str:
    """Leave a failed job's traces in ``run_dir`` and return its one-line message.

    Appends the traceback to ``train.log``. When the job failed before writing ``run.h5`` (a config
    error raised while building), writes a minimal run file: root attributes ``status`` = failed,
    ``message``, ``iterations`` = 0, ``seed`` (if an integer), ``created``, ``host``,
    ``slurm_job_id``, and the config. An existing run file is left as it is.
    """
    from psychrnn_cli import __version__
    from psychrnn_cli.run import RUN_FILE
    from psychrnn_cli.runfile import write_run

    message = _one_line(err)
    try:
        _log_failure(run_dir, message, err)
    except OSError:  # an unwritable or full disk: the message itself still goes out
        return message
    if not (run_dir / RUN_FILE).exists():
        attrs: dict[str, Any] = {
            "status": "failed", "message": message, "iterations": 0,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": socket.gethostname(), "psychrnn_cli_version": __version__,
            "slurm_job_id": os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", "")),
        }
        seed = cfg.get("seed") if "seed" in cfg else None
        if isinstance(seed, int) and not isinstance(seed, bool):
            attrs["seed"] = seed
        with contextlib.suppress(OSError):
            write_run(run_dir / RUN_FILE, {"attrs": attrs, "config": _config_yaml(cfg)})
    return message


def _log_failure(run_dir: Path, message: str, err: Exception) -> None:
    """Append ``message`` and ``err``'s traceback to ``run_dir/train.log``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "train.log", "a") as log:
        log.write(f"[{dt.datetime.now():%Y-%m-%d %H:%M:%S}] job failed: {message}\n")
        log.write("".join(traceback.format_exception(err)))


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="train")
def train_app(cfg: DictConfig) -> str:
    """Train one network in Hydra's run directory; returns the run's outcome (completed | failed)."""
    from psychrnn_cli.build import ConfigError
    from psychrnn_cli.run import run

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        run(cfg, run_dir)
    except Exception as err:
        message = record_failure(cfg, run_dir, err)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if hydra_cfg.mode == RunMode.MULTIRUN:
            print(f"psychrnn train: job {hydra_cfg.job.num} failed: {message} (in {run_dir}; the other jobs go on)",
                  file=sys.stderr)
            return "failed"
        if isinstance(err, ConfigError):
            print(f"psychrnn train: error: {err}", file=sys.stderr)
            sys.exit(2)
        print(f"psychrnn train: error: training failed: {message} (traceback in {run_dir / 'train.log'})",
              file=sys.stderr)
        sys.exit(1)
    return "completed"


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
    status 1 if any run is not ``completed``. (Hydra turns exceptions raised by callbacks into
    warnings, hence ``sys.exit``.)
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        exit_unless_writable(Path(str(config.hydra.run.dir)), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        exit_unless_writable(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")
        launcher = str(OmegaConf.select(config, "hydra.launcher._target_", default=""))
        missing = [cmd for cmd in ("sbatch", "srun") if shutil.which(cmd) is None]
        if launcher.endswith("SlurmLauncher") and missing:
            print(f"psychrnn train: error: hydra/launcher=slurm needs SLURM's {' and '.join(missing)} on PATH: run "
                  "on the cluster's login node, or sweep on this machine with hydra/launcher=local", file=sys.stderr)
            sys.exit(2)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from psychrnn_cli.summarize import SummaryError, collect_runs

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
            sys.exit(1)
