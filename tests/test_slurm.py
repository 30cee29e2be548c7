"""A sweep through a real SLURM cluster: ``psychrnn train -m hydra/launcher=slurm``.

The cluster is the single-node one of ``start_local_slurm.sh`` (``PSYCHRNN_SLURM_SCRIPT``, default
``../shared/slurm/start_local_slurm.sh`` next to the checkout), started here if it is not up; the
script is idempotent and takes about a second when the cluster runs. The test is skipped, with the
reason, only where the script cannot start SLURM (not root, no apt-get, no script); with CI=true
it fails instead when the script exists and we are root.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psychrnn_cli import load_run
from tests.conftest import REPO, run_cli
from tests.test_sweeps import SHORT

START_SCRIPT = Path(os.environ.get("PSYCHRNN_SLURM_SCRIPT", REPO.parent / "shared" / "slurm" / "start_local_slurm.sh"))


def _cannot_start_reason() -> str | None:
    """Why this machine cannot start the local SLURM cluster, or None if it can."""
    if not START_SCRIPT.is_file():
        return f"no SLURM start script at {START_SCRIPT} (set PSYCHRNN_SLURM_SCRIPT)"
    if os.geteuid() != 0:
        return "start_local_slurm.sh must run as root"
    if shutil.which("apt-get") is None and shutil.which("sbatch") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    reason = _cannot_start_reason()
    if reason is not None:
        if os.environ.get("CI") == "true" and START_SCRIPT.is_file() and os.geteuid() == 0:
            pytest.fail(f"CI: SLURM should start here but: {reason}")
        pytest.skip(f"no local SLURM: {reason}")
    out = subprocess.run(["bash", str(START_SCRIPT)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{START_SCRIPT} failed:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}"


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
