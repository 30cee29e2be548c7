"""Running as a SLURM job: telling a requeue from a cancel, handing a requeue to submitit, and the
requeue history of a run file. No TensorFlow.

SLURM signals a job that it is about to requeue exactly as one it cancels (SIGTERM, then SIGKILL
after ``KillWait``), but a requeue raises the job's restart count in the controller at once
(``scontrol show job``: ``Restarts=``), while the job's environment keeps the count it started
with (``SLURM_RESTART_COUNT``, absent before the first restart). That difference is the test.

A run file records its requeues in two root attributes, carried over from one attempt to the next:
``requeues`` (how many times SLURM requeued the job that trains it) and ``requeue_reasons`` (one
reason per requeue, ``"; "``-separated: ``time limit``, ``preemption`` (also ``scontrol
requeue``), or ``node failure`` (the job died without a signal and SLURM restarted it)).
"""

from __future__ import annotations

import logging
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Callable, NoReturn

log = logging.getLogger("psychrnn_cli")
TIME_LIMIT, PREEMPTION, NODE_FAILURE = "time limit", "preemption", "node failure"
REQUEUED = "requeued"  # the run file's status while its job waits in the queue to restart
MIN_RUN_S = 30  # a job runs at least this long (s) before SLURM's time-limit warning
WARNING_EARLY_S = 60  # SLURM may send the warning up to this much earlier than signal_delay_s (sbatch --signal)


def launcher_error(launcher: dict[str, Any]) -> str | None:
    """What is wrong with the time-limit settings of a submitit launcher config, or None.

    ``timeout_min`` must be a positive number of minutes, ``max_num_timeout`` (requeues after a
    time limit) at least 0, and ``signal_delay_s`` (the warning before the time limit, which SLURM
    may send up to :data:`WARNING_EARLY_S` seconds earlier still) must leave the job at least
    :data:`MIN_RUN_S` seconds to run before it.
    """
    timeout_min, delay = launcher.get("timeout_min"), launcher.get("signal_delay_s")
    if not _is_number(timeout_min) or timeout_min <= 0:
        return f"hydra.launcher.timeout_min must be a positive number of minutes, got {timeout_min!r}"
    if "max_num_timeout" in launcher:
        count = launcher["max_num_timeout"]
        if not _is_number(count) or count < 0 or count != int(count):
            return (f"hydra.launcher.max_num_timeout must be an integer >= 0 (requeues after a time limit; 0: "
                    f"none), got {count!r}")
    if delay is None:
        return None
    longest = int(timeout_min * 60 - WARNING_EARLY_S - MIN_RUN_S)
    why = (f"SLURM's warning comes signal_delay_s seconds, and up to {WARNING_EARLY_S} s more, before the time limit, "
           f"and a job needs {MIN_RUN_S} s before it")
    if longest < 1:
        return (f"hydra.launcher.timeout_min={timeout_min} is too short for SLURM's time-limit warning ({why}): "
                f"use timeout_min >= {math.ceil((WARNING_EARLY_S + MIN_RUN_S + 1) / 60)}")
    if not _is_number(delay) or not 0 < delay <= longest:
        return (f"hydra.launcher.signal_delay_s={delay!r} must be from 1 to {longest} with timeout_min={timeout_min} "
                f"({why}): change it, or raise hydra.launcher.timeout_min")
    return None


def jobs_in_queue(sweep_dir: Path) -> list[str]:
    """SLURM jobs still queued or running that train run directories under ``sweep_dir``: the job
    ids recorded by run files that are ``running`` or :data:`REQUEUED` and that ``squeue`` lists."""
    from psychrnn_cli.runfile import load_run

    recorded = set()
    for run_file in sweep_dir.rglob("run.h5") if sweep_dir.is_dir() else []:
        try:
            attrs = load_run(run_file)["attrs"]
        except Exception:  # a damaged run file is summarize's business
            continue
        if attrs.get("status") in ("running", REQUEUED) and attrs.get("slurm_job_id"):
            recorded.add(str(attrs["slurm_job_id"]))
    if not recorded:
        return []
    try:
        out = subprocess.run(["squeue", "-h", "-o", "%F"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(recorded & set(out.stdout.split()))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Requeue(SystemExit):
    """Training stopped because SLURM requeues this job; the process must end without a result.

    Raised by :class:`psychrnn_cli.training.GracefulStop` after the loop saved its checkpoint;
    ``psychrnn train`` and :func:`psychrnn_cli.train` catch it and call :meth:`hand_over`. Being a
    ``SystemExit``, it is not taken for a failure on its way, and submitit writes no result for the
    job, so the launcher keeps waiting for the job's next run.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"requeued by SLURM ({reason})")
        self.reason = reason

    def hand_over(self, run_dir: Path) -> NoReturn:
        """Mark the run files under ``run_dir`` :data:`REQUEUED` and end the process."""
        mark_requeued(run_dir, self.reason)
        raise self


def requeued_by(submitit_handler: Callable[[], Any]) -> bool:
    """Call submitit's handler of SLURM's time-limit signal; True if it requeued the job.

    The handler requeues the job and exits (``SystemExit``, caught here: the caller ends the
    process), or raises submitit's ``UncompletedJobError`` when it does not (``max_num_timeout``
    time-outs reached); then this returns False, and the run ends as stopped.
    """
    try:
        submitit_handler()
    except SystemExit:
        return True
    except Exception as err:  # submitit: "Job not requeued because: timed-out too many times."
        log.warning("SLURM time limit: %s Resume the run with a larger hydra.launcher.max_num_timeout or "
                    "timeout_min", err)
    return False


def job_id() -> str:
    """The SLURM job id the run file records: the array's id for a task of a job array; "" outside SLURM."""
    return os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", ""))


def restart_count() -> int:
    """How many times SLURM had restarted this job when this process started (0 for the first run)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def being_requeued() -> bool:
    """True when SLURM is requeueing this job (its restart count went up since this process started).

    False outside SLURM, after ``scancel``, and when ``scontrol`` cannot be asked (the run then
    stops as for any SIGTERM).
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return False
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    found = re.search(r"\bRestarts=(\d+)", out.stdout)
    return found is not None and int(found.group(1)) > restart_count()


def _reasons(attrs: dict[str, Any]) -> list[str]:
    text = str(attrs.get("requeue_reasons") or "")
    return [r for r in text.split("; ") if r]


def _history(reasons: list[str]) -> dict[str, Any]:
    return {"requeues": len(reasons), "requeue_reasons": "; ".join(reasons)}


def requeue_history(run_file: Path) -> dict[str, Any]:
    """Root attributes ``requeues`` and ``requeue_reasons`` for a new attempt at ``run_file``.

    Carries over those of the run file the last attempt left, adding :data:`NODE_FAILURE` when
    SLURM restarted this job after an attempt that ended without a word (its run file still says
    ``running``). Without a previous run file: no requeues.
    """
    from psychrnn_cli.runfile import load_run

    try:
        attrs = load_run(run_file)["attrs"] if run_file.is_file() else {}
    except Exception:  # a damaged file: its history is lost, the new attempt starts a new one
        attrs = {}
    reasons = _reasons(attrs)
    if attrs.get("status") == "running" and restart_count() > 0 and attrs.get("slurm_job_id") == job_id():
        reasons.append(NODE_FAILURE)
    return _history(reasons)


def mark_requeued(run_dir: Path, reason: str) -> list[Path]:
    """Mark the run file of ``run_dir`` (or of its ensemble members, ``seed_*/``) :data:`REQUEUED` if
    it is still ``running``, adding ``reason`` to its history; returns the paths of the files marked.
    (An ensemble's members that finished keep their status.)"""
    from psychrnn_cli.runfile import load_run, update_run

    message = f"SLURM requeued the job ({reason}); it resumes from its checkpoint.h5 when it runs again"
    marked = []
    for run_file in [run_dir / "run.h5", *sorted(run_dir.glob("seed_*/run.h5"))]:
        if not run_file.is_file():
            continue
        attrs = load_run(run_file)["attrs"]
        if attrs.get("status") == "running":
            history = _history([*_reasons(attrs), reason])
            marked.append(update_run(run_file, {}, attrs={"status": REQUEUED, "message": message, **history}))
    return marked
