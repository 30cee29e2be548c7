"""Sweeps through a real SLURM cluster: ``psychrnn train -m hydra/launcher=slurm``.

The tests use any SLURM that answers here (``sbatch`` on PATH and ``scontrol ping`` reporting the
controller up). Where none does, they start the single-node cluster of ``start_local_slurm.sh``
(``PSYCHRNN_SLURM_SCRIPT``, default ``../shared/slurm/start_local_slurm.sh`` next to the checkout;
idempotent). They are skipped, with the reason, only where no SLURM answers and the script cannot
start one (not root, no apt-get, no script); with CI=true they fail instead when the script exists
and we are root.

SLURM holds a requeued job for about two minutes before it may start again (its ``BeginTime``);
the requeue tests release it at once (``scontrol update StartTime=now``), which changes nothing
else. Their training is paced (:class:`Paced`: at most 10 iterations per second on any machine),
so that where the requeues fall is set by iteration counts, not by the machine's speed.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli import load_run
from psychrnn_cli.runfile import write_run
from psychrnn_cli.tasks.perceptual_discrimination import PerceptualDiscrimination
from tests.conftest import REPO, run_cli
from tests.test_sweeps import SHORT

START_SCRIPT = Path(os.environ.get("PSYCHRNN_SLURM_SCRIPT", REPO.parent / "shared" / "slurm" / "start_local_slurm.sh"))


def slurm_answers() -> bool:
    """True when a SLURM cluster is reachable from here: ``sbatch`` on PATH and the controller up."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return False
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "UP" in out.stdout


def cannot_start_reason(script: Path) -> str | None:
    """Why ``script`` cannot start the local SLURM cluster here, or None if it can."""
    if not script.is_file():
        return f"no SLURM start script at {script} (set PSYCHRNN_SLURM_SCRIPT)"
    if os.geteuid() != 0:
        return "start_local_slurm.sh must run as root"
    if shutil.which("apt-get") is None and shutil.which("sbatch") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    return None


def skip_reason(script: Path) -> str | None:
    """Why the SLURM tests cannot run here, or None when a SLURM answers (or ``script`` can start one)."""
    if slurm_answers():
        return None
    reason = cannot_start_reason(script)
    return None if reason is None else f"no SLURM answers here (sbatch, scontrol ping) and {reason}"


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    reason = skip_reason(START_SCRIPT)
    if reason is not None:
        if os.environ.get("CI") == "true" and START_SCRIPT.is_file() and os.geteuid() == 0:
            pytest.fail(f"CI: SLURM should start here but: {reason}")
        pytest.skip(reason)
    if slurm_answers():
        return
    out = subprocess.run(["bash", str(START_SCRIPT)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{START_SCRIPT} failed:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}"


class Paced(PerceptualDiscrimination):
    """Perceptual discrimination that takes at least ``pace_s`` seconds per batch (a sleep), so that
    training runs at most ``1 / pace_s`` iterations per second however fast the machine. Its trials
    are those of :class:`PerceptualDiscrimination` with the same seed."""

    def __init__(self, pace_s: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pace_s = pace_s

    def get_trial_batch(self, n_trials: int | None = None):
        time.sleep(self.pace_s)
        return super().get_trial_batch(n_trials)


PACED = ["task=custom", "task._target_=tests.test_slurm.Paced", "task.T=300", "train.progress=false",
         "train.eval_every=25", "train.checkpoint_every=25", "train.stop_accuracy=null", "train.eval_trials=50",
         "train.test_trials=50", "train.save_trials=10"]  # importable from cwd=REPO
ONE_CPU = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]


def sacct_states(job_id: str, expected: int, timeout: float = 60) -> dict[str, str]:
    """State of each task of array job ``job_id`` per sacct, waiting until ``expected`` tasks have ended."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State"], capture_output=True,
                             text=True, timeout=30)
        states = dict(line.split("|") for line in out.stdout.split() if "|" in line)
        ended = [s for s in states.values() if s not in ("PENDING", "RUNNING", "REQUEUED", "COMPLETING")]
        if len(ended) >= expected or time.monotonic() > deadline:
            return states
        time.sleep(1)


def test_two_job_sweep_runs_on_slurm(slurm_cluster, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    start = time.perf_counter()
    out = run_cli("train", "-m", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2",
                  "hydra.launcher.timeout_min=10", "seed=0,1", *SHORT, f"hydra.sweep.dir={sweep}",
                  cwd=tmp_path, timeout=900)
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[test_slurm] 2-job SLURM sweep end to end (submit, run, collect): {elapsed:.1f} s")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "sweep of 2 runs" in out.stderr and "2 completed" in out.stderr

    runs = [load_run(sweep / str(job)) for job in (0, 1)]
    assert [r["attrs"]["status"] for r in runs] == ["completed", "completed"]
    assert [r["attrs"]["seed"] for r in runs] == [0, 1]
    assert all(r["attrs"]["iterations"] == 20 and r["trials"]["outputs"].shape[1] == 50 for r in runs)

    job_id = runs[0]["attrs"]["slurm_job_id"]  # SLURM_ARRAY_JOB_ID inside the job
    assert job_id and runs[1]["attrs"]["slurm_job_id"] == job_id
    assert {p.name for p in (sweep / ".submitit").iterdir()} >= {f"{job_id}_0", f"{job_id}_1"}
    assert sacct_states(job_id, expected=2) == {f"{job_id}_0": "COMPLETED", f"{job_id}_1": "COMPLETED"}

    script = (sweep / ".submitit" / job_id / f"{job_id}_submission.sh").read_text()
    assert "#SBATCH --array=0-1" in script and "#SBATCH --requeue" in script
    assert f"{shlex.quote(sys.executable)} -u -m submitit" in script  # the job runs this interpreter


def test_slurm_launcher_without_slurm_is_one_clear_line(tmp_path):
    """On a machine without SLURM commands the sweep stops before submitting, with one line."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # this venv only: no sbatch, no srun
    out = subprocess.run([sys.executable, "-m", "psychrnn_cli.cli", "train", "-m", "hydra/launcher=slurm", "seed=0,1",
                          f"hydra.sweep.dir={tmp_path}"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith(
        "psychrnn train: error: hydra/launcher=slurm needs SLURM's sbatch and srun on PATH")
    assert "Traceback" not in out.stderr and not (tmp_path / "0").exists()


@pytest.mark.parametrize("setting, named", [
    ("hydra.launcher.timeout_min=3", "hydra.launcher.signal_delay_s=120 must be from 1 to 90 with timeout_min=3"),
    ("hydra.launcher.signal_delay_s=7200", "hydra.launcher.signal_delay_s=7200 must be from 1 to 7110"),
    ("hydra.launcher.signal_delay_s=0", "hydra.launcher.signal_delay_s=0 must be from 1 to 7110"),
    ("hydra.launcher.timeout_min=1", "hydra.launcher.timeout_min=1 is too short for SLURM's time-limit warning"),
    ("hydra.launcher.max_num_timeout=-1", "hydra.launcher.max_num_timeout must be an integer >= 0"),
    ("hydra.launcher.timeout_min=0", "hydra.launcher.timeout_min must be a positive number of minutes, got 0"),
])
def test_bad_time_limit_settings_are_refused_before_submission(tmp_path, setting, named):
    """A time-limit warning that leaves the job no time to run (or a negative requeue count) is a
    config error: one line, exit 2, nothing submitted (with or without SLURM on the machine)."""
    out = run_cli("train", "-m", "hydra/launcher=slurm", setting, "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                  cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"psychrnn train: error: {named}"), out.stderr[-2000:]
    assert "Traceback" not in out.stderr and not (tmp_path / "sweep").exists()


def test_a_reachable_slurm_is_used_without_the_start_script(slurm_cluster, tmp_path):
    """The tests need a SLURM, not the script that starts the local one."""
    assert skip_reason(tmp_path / "absent.sh") is None


def write_attrs(run_dir: Path, **attrs) -> Path:
    """A minimal run file with these root attributes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_run(run_dir / "run.h5", {"attrs": attrs, "config": "seed: 0\n"})


def test_requeue_history_carries_over_and_counts_a_silent_restart_as_node_failure(tmp_path, monkeypatch):
    from psychrnn_cli.slurm import requeue_history

    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    requeued = write_attrs(tmp_path / "a", status="requeued", slurm_job_id="77", requeues=1,
                           requeue_reasons="time limit")
    assert requeue_history(requeued) == {"requeues": 1, "requeue_reasons": "time limit"}
    died = write_attrs(tmp_path / "b", status="running", slurm_job_id="77", requeues=1, requeue_reasons="preemption")
    assert requeue_history(died) == {"requeues": 2, "requeue_reasons": "preemption; node failure"}
    other_job = write_attrs(tmp_path / "c", status="running", slurm_job_id="76")  # a sweep run again: no restart
    assert requeue_history(other_job) == {"requeues": 0, "requeue_reasons": ""}
    assert requeue_history(tmp_path / "none" / "run.h5") == {"requeues": 0, "requeue_reasons": ""}


def test_mark_requeued_marks_only_runs_still_training(tmp_path):
    """An ensemble's run directory: a member that finished keeps its status."""
    from psychrnn_cli.slurm import mark_requeued

    write_attrs(tmp_path / "seed_0", status="completed", message="reached accuracy")
    write_attrs(tmp_path / "seed_1", status="running", requeues=1, requeue_reasons="preemption")
    write_attrs(tmp_path / "other" / "run", status="running")  # another run's file, not this job's
    assert mark_requeued(tmp_path, "time limit") == [tmp_path / "seed_1" / "run.h5"]
    assert load_run(tmp_path / "other" / "run")["attrs"]["status"] == "running"
    done, requeued = (load_run(tmp_path / f"seed_{k}")["attrs"] for k in (0, 1))
    assert done["status"] == "completed" and "requeues" not in done
    assert (requeued["status"], requeued["requeues"], requeued["requeue_reasons"]) == (
        "requeued", 2, "preemption; time limit")
    assert requeued["message"].startswith("SLURM requeued the job (time limit); it resumes from its checkpoint")


def test_summarize_shows_requeues_and_why(tmp_path, capsys):
    from psychrnn_cli.cli import main as psychrnn

    write_attrs(tmp_path / "0", status="completed", iterations=10, requeues=2, requeue_reasons="time limit; preemption")
    write_attrs(tmp_path / "1", status="requeued", iterations=5, requeues=1, requeue_reasons="node failure")
    write_attrs(tmp_path / "2", status="completed", iterations=10)  # trained before run files had the attributes
    assert psychrnn(["summarize", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[2:5]
    at = header.index("requeues")
    assert [row[at:].split()[:2] for row in rows] == [["2", "time"], ["1", "node"], ["0", "-"]]
    with open(tmp_path / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["status"], r["requeues"], r["requeued_by"]) for r in table] == [
        ("completed", "2", "time limit; preemption"), ("requeued", "1", "node failure"), ("completed", "0", "")]


def wait_until(condition, what: str, timeout: float = 600) -> None:
    """Poll ``condition()`` every 0.5 s until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.5)


class Sweep:
    """``psychrnn train -m ARGS`` running in the background (output in ``log``), from the checkout."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.dir, self.log = tmp_path / "sweep", tmp_path / "sweep.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "psychrnn_cli.cli", "train", "-m", *args,
                                          f"hydra.sweep.dir={self.dir}"], cwd=REPO, stdout=log, stderr=log)

    def attrs(self, job: int = 0) -> dict:
        """Root attributes of a job's run file ({} before it exists)."""
        try:
            return load_run(self.dir / str(job))["attrs"]
        except Exception:  # not written yet
            return {}

    def job(self) -> str:
        """SLURM id of the sweep's job array, "" before job 0's run file exists."""
        return str(self.attrs().get("slurm_job_id") or "")

    def logged_iteration(self, job: int = 0) -> int:
        """The last iteration a job's train.log reports an evaluation at (0 before the first)."""
        log = self.dir / str(job) / "train.log"
        found = re.findall(r"iteration (\d+) \(stage", log.read_text() if log.exists() else "")
        return int(found[-1]) if found else 0

    def wait_for(self, condition, what: str, timeout: float = 600) -> None:
        """Wait until ``condition()`` while the sweep command is still waiting."""
        wait_until(lambda: condition() or self.proc.poll() is not None, what, timeout)
        assert self.proc.poll() is None, f"the sweep ended while waiting for {what}:\n{self.output()[-3000:]}"

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.job():
            subprocess.run(["scancel", self.job()], timeout=30)


def job_listed(job: str) -> bool:
    """True while ``squeue`` lists SLURM job ``job`` (an array: any of its tasks)."""
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%i"], capture_output=True, text=True, timeout=30)
    return bool(out.stdout.strip())


HELD_SINCE: dict[str, float] = {}  # job id -> when release_if_held first saw it held


def release_if_held(job: str, settle_s: float = 5.0) -> bool:
    """Let a requeued job start soon rather than after SLURM's ~2-minute hold; True once released.

    Released only after it has been held ``settle_s`` seconds: slurmd refuses to launch a job whose
    new credential dates from the same second as the revocation of its previous attempt's ("Job
    credential revoked"), and the new attempt then ends FAILED before its batch script runs, which
    a release within a fraction of a second of the requeue made happen.
    """
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T %r"], capture_output=True, text=True, timeout=30)
    if out.stdout.split() != ["PENDING", "BeginTime"]:
        HELD_SINCE.pop(job, None)
        return False
    if time.monotonic() - HELD_SINCE.setdefault(job, time.monotonic()) < settle_s:
        return False
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, timeout=30)
    HELD_SINCE.pop(job)
    return True


@pytest.mark.slow
def test_requeued_job_is_waited_for_and_ends_as_if_never_stopped(slurm_cluster, tmp_path):
    """``scontrol requeue`` mid-training (what SLURM does to a preempted job): the sweep waits for
    the job's second run, exits 0, and the weights are those of an uninterrupted run."""
    args = [*PACED, "seed=7", "train.iterations=300"]  # at least 30 s of training
    sweep = Sweep(tmp_path, *ONE_CPU, "hydra.launcher.timeout_min=10", *args)
    try:
        sweep.wait_for(lambda: sweep.logged_iteration() >= 50, "evaluation at iteration 50")
        subprocess.run(["scontrol", "requeue", sweep.job()], check=True, timeout=30)
        sweep.wait_for(lambda: sweep.attrs().get("status") == "requeued", "run file marked requeued")
        sweep.wait_for(lambda: release_if_held(sweep.job()), "requeued job held by SLURM")
        assert sweep.proc.wait(timeout=600) == 0, sweep.output()[-3000:]
    finally:
        sweep.stop()
    assert "sweep of 1 runs" in sweep.output() and "1 completed" in sweep.output()
    run = load_run(sweep.dir / "0")
    assert run["attrs"]["status"] == "completed" and run["attrs"]["iterations"] == 300
    assert (run["attrs"]["requeues"], run["attrs"]["requeue_reasons"]) == (1, "preemption")
    log = (sweep.dir / "0" / "train.log").read_text()
    assert "SIGTERM received" in log
    assert 50 <= int(re.search(r"resuming from \S+ at iteration (\d+)", log).group(1)) < 300

    reference = tmp_path / "reference"
    out = run_cli("train", *args, "+task.pace_s=0", f"hydra.run.dir={reference}", cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    expected = load_run(reference)["model"]["weights"]
    assert set(run["model"]["weights"]) == set(expected)
    for name, weights in expected.items():
        assert np.array_equal(run["model"]["weights"][name], weights), name


@pytest.mark.slow
def test_time_limit_requeues_until_the_run_completes(slurm_cluster, tmp_path, capsys):
    """timeout_min=2 with the warning 30 s before (SLURM may send it up to 60 s earlier still): a
    job runs at most 90 s (900 paced iterations) per start, so 1850 iterations take at least three
    starts on any machine."""
    sweep = Sweep(tmp_path, *ONE_CPU, "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30",
                  "hydra.launcher.max_num_timeout=12", *PACED, "seed=3", "train.iterations=1850")
    try:
        deadline = time.monotonic() + 1800
        while sweep.proc.poll() is None:
            assert time.monotonic() < deadline, sweep.output()[-3000:]
            if sweep.job():
                release_if_held(sweep.job())
            time.sleep(1)
        assert sweep.proc.returncode == 0, sweep.output()[-3000:]
    finally:
        sweep.stop()
    run = load_run(sweep.dir / "0")
    assert run["attrs"]["status"] == "completed" and run["attrs"]["iterations"] == 1850
    reasons = run["attrs"]["requeue_reasons"].split("; ")
    assert run["attrs"]["requeues"] == len(reasons) >= 2 and set(reasons) == {"time limit"}
    assert run["training"]["wall_time"][-1] >= 185  # training time over all starts: 1850 iterations of >= 0.1 s

    from psychrnn_cli.cli import main as psychrnn

    assert psychrnn(["summarize", str(sweep.dir)]) == 0
    header, row = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith(("run", "0 "))]
    assert row[header.index("requeues")] == str(len(reasons))


@pytest.mark.slow
def test_interrupted_sweep_command_resumes_when_run_again(slurm_cluster, tmp_path):
    """The sweep command dies while a job trains: running it again is refused while the job is in
    SLURM's queue; after ``scancel``, running it again trains only what is left."""
    args = [*ONE_CPU, "hydra.launcher.timeout_min=10", *PACED, "seed=5", "train.iterations=20,300"]
    sweep = Sweep(tmp_path, *args)
    try:
        sweep.wait_for(lambda: sweep.logged_iteration(job=1) >= 50, "job 1 at iteration 50")
        sweep.proc.kill()  # the login session dies; the jobs go on
        sweep.proc.wait()
        job = sweep.job()
        again = run_cli("train", "-m", *args, f"hydra.sweep.dir={sweep.dir}", cwd=REPO, timeout=120)
        assert again.returncode == 2, again.stderr[-3000:]
        assert again.stderr.strip().splitlines()[-1].startswith(
            f"psychrnn train: error: SLURM job {job} still trains runs of {sweep.dir}: wait until it ends")
        subprocess.run(["scancel", job], check=True, timeout=30)
        wait_until(lambda: sweep.attrs(job=1).get("status") == "stopped" and not job_listed(job),
                   "job 1 stopped by scancel")
        assert sweep.attrs(job=0)["status"] == "completed"
        again = run_cli("train", "-m", *args, f"hydra.sweep.dir={sweep.dir}", cwd=REPO, timeout=600)
    finally:
        sweep.stop()
    assert again.returncode == 0, again.stderr[-3000:]
    assert "sweep of 2 runs" in again.stderr and "2 completed" in again.stderr
    assert [sweep.attrs(job=j)["iterations"] for j in (0, 1)] == [20, 300]
    log = (sweep.dir / "1" / "train.log").read_text()
    assert 50 <= int(re.search(r"resuming from \S+ at iteration (\d+)", log).group(1)) < 300


@pytest.mark.slow
def test_time_limit_with_no_requeue_left_stops_the_run(slurm_cluster, tmp_path):
    """max_num_timeout=0: the time-limit warning stops the run with its checkpoint, and the sweep ends."""
    sweep = Sweep(tmp_path, *ONE_CPU, "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30",
                  "hydra.launcher.max_num_timeout=0", *PACED, "seed=3", "train.iterations=100000")
    try:
        assert sweep.proc.wait(timeout=600) != 0, sweep.output()[-3000:]
    finally:
        sweep.stop()
    assert "1 of 1 runs did not complete" in sweep.output()
    run = load_run(sweep.dir / "0")
    assert run["attrs"]["status"] == "stopped" and run["attrs"]["message"].startswith("stopped by SIGUSR2")
    assert run["attrs"]["requeues"] == 0 and (sweep.dir / "0" / "checkpoint.h5").is_file()
    assert "not requeued because: timed-out too many times" in (sweep.dir / "0" / "train.log").read_text()


@pytest.mark.slow
def test_requeued_ensemble_resumes_every_member(slurm_cluster, tmp_path):
    """An ensemble job requeued mid-training: every member's run file records the requeue, and
    every member completes in the job's second run."""
    sweep = Sweep(tmp_path, *ONE_CPU, "hydra.launcher.timeout_min=10", *PACED, "seed=0", "train.ensemble=2",
                  "train.iterations=200")
    member = sweep.dir / "0" / "seed_1"
    try:
        sweep.wait_for(lambda: "iteration 50 (stage" in read_text(member / "train.log"), "member at iteration 50")
        job = str(load_run(member)["attrs"]["slurm_job_id"])
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
        sweep.wait_for(lambda: release_if_held(job), "requeued job held by SLURM")
        sweep.proc.wait(timeout=600)  # (its exit status counts the ensemble's folder as a run of its own)
    finally:
        sweep.stop()
    for seed in (0, 1):
        attrs = load_run(sweep.dir / "0" / f"seed_{seed}")["attrs"]
        assert (attrs["status"], attrs["iterations"], attrs["requeues"], attrs["requeue_reasons"]) == (
            "completed", 200, 1, "preemption")


def read_text(path: Path) -> str:
    return path.read_text() if path.exists() else ""
