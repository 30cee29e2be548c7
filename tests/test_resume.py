"""Checkpoints: a run killed (SIGTERM or SIGKILL) and restarted in its directory ends with the
same weights and curves as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from psychrnn_cli import load_run, train
from psychrnn_cli.build import ConfigError
from tests.conftest import FAST

# noise, a curriculum and Adam all carry state that a resumed run must restore
RESUMABLE = [*FAST, "task.T=500", "model.rec_noise=0.1", "train.eval_every=5", "train.checkpoint_every=5",
             "train.stop_accuracy=null", "curriculum=coherence_ramp", "curriculum.metric_every=5",
             "curriculum.stages=[{task:{coherence:0.7},metric:iterations,threshold:15},{task:{coherence:0.3}}]"]


def assert_same_run(a: dict, b: dict) -> None:
    for name, value in a["model"]["weights"].items():
        np.testing.assert_array_equal(value, b["model"]["weights"][name], err_msg=name)
    for name in ("iteration", "stage", "loss", "accuracy", "train_loss"):
        np.testing.assert_array_equal(a["training"][name], b["training"][name], err_msg=name)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    return load_run(train([*RESUMABLE, "train.iterations=40"], run_dir=tmp_path_factory.mktemp("whole")))


def test_resumed_run_equals_uninterrupted_run(uninterrupted, tmp_path):
    first = load_run(train([*RESUMABLE, "train.iterations=20"], run_dir=tmp_path))
    assert first["attrs"]["iterations"] == 20
    resumed = load_run(train([*RESUMABLE, "train.iterations=40"], run_dir=tmp_path))
    assert resumed["attrs"]["iterations"] == 40 and resumed["attrs"]["status"] == "completed"
    assert_same_run(uninterrupted, resumed)
    np.testing.assert_array_equal(resumed["curriculum"]["start_iteration"], uninterrupted["curriculum"]["start_iteration"])
    assert "resuming from" in (tmp_path / "train.log").read_text()


def test_checkpoint_of_another_config_is_refused(tmp_path):
    train([*RESUMABLE, "train.iterations=5"], run_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"run of a different config \(model.N_rec: 50 -> 60\).*train.overwrite=true"):
        train([*RESUMABLE, "train.iterations=10", "model.N_rec=60"], run_dir=tmp_path)
    (tmp_path / "run.h5").unlink()  # the checkpoint alone refuses it too
    with pytest.raises(ConfigError, match=r"checkpoint of a different config \(model.N_rec: 50 -> 60\).*overwrite=true"):
        train([*RESUMABLE, "train.iterations=10", "model.N_rec=60"], run_dir=tmp_path)


def _psychrnn(run_dir: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "psychrnn_cli.cli", "train", *RESUMABLE, "train.iterations=40",
            f"hydra.run.dir={run_dir}", *extra]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _checkpoint_iteration(run_dir: Path) -> int:
    try:
        with h5py.File(run_dir / "checkpoint.h5", "r") as f:
            return int(f.attrs["iteration"])
    except (OSError, KeyError):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_process_resumes_with_identical_results(uninterrupted, tmp_path, signum):
    process = _psychrnn(tmp_path)
    deadline = time.time() + 240
    while _checkpoint_iteration(tmp_path) < 10 and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"finished before it could be killed: {process.stderr.read()[-1500:]}"
    os.kill(process.pid, signum)
    process.wait(timeout=120)
    killed = load_run(tmp_path)
    if signum == signal.SIGTERM:
        assert killed["attrs"]["status"] == "stopped" and "SIGTERM" in killed["attrs"]["message"]
    else:
        assert killed["attrs"]["status"] == "running"  # the file written at the start stays readable
    assert 10 <= _checkpoint_iteration(tmp_path) < 40
    restarted = _psychrnn(tmp_path)
    assert restarted.wait(timeout=300) == 0, restarted.stderr.read()[-2000:]
    resumed = load_run(tmp_path)
    assert resumed["attrs"]["status"] == "completed" and resumed["attrs"]["iterations"] == 40
    assert_same_run(uninterrupted, resumed)


def test_sigusr2_saves_a_checkpoint_then_calls_the_previous_handler(tmp_path):
    """SLURM's time-limit signal: stop after the iteration, checkpoint, then let submitit requeue."""
    import threading

    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(_checkpoint_iteration(tmp_path)))
    timer = threading.Timer(12.0, os.kill, (os.getpid(), signal.SIGUSR2))
    try:
        timer.start()
        run = load_run(train([*FAST, "task.T=300", "train.iterations=100000", "train.stop_accuracy=null",
                              "train.checkpoint_every=100000"], run_dir=tmp_path))
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR2, previous)
    assert run["attrs"]["status"] == "stopped" and "SIGUSR2" in run["attrs"]["message"]
    assert len(calls) == 1 and calls[0] == run["attrs"]["iterations"] > 0
