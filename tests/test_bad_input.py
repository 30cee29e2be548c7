"""Bad input gets a clear error that names the problem and the fix; nothing is ever lost.

One test per case of issue 7. Config errors are raised by ``build`` before any TensorFlow work
(``ConfigError``); the CLI prints them as one line (see test_cli.py).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build
from psychrnn_cli.runfile import RunFileError
from tests.conftest import FAST


def config_error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        build(compose_config(list(overrides)))
    return str(info.value)


def test_unknown_group_option_lists_the_valid_ones():
    from hydra.errors import MissingConfigException

    for group, valid in (("task", "delayed_discrimination"), ("model", "gru"), ("constraints", "two_regions"),
                         ("optimizer", "rmsprop")):
        with pytest.raises(MissingConfigException) as info:
            compose_config([f"{group}=nonsense"])
        assert f"{group}/nonsense" in str(info.value) and valid in str(info.value)


@pytest.mark.parametrize("override,message", [
    ("model.N_rec=0", "model.N_rec must be a positive int, got 0"),
    ("model.N_rec=-5", "model.N_rec must be a positive int, got -5"),
    ("task.dt=0", "task.dt must be a positive float, got 0"),
    ("task.tau=-100", "task.tau must be a positive float, got -100"),
    ("task.T=0", "task.T must be a positive float, got 0"),
    ("train.batch_size=0", "train.batch_size must be a positive int, got 0"),
    ("task.dt=150", "task.dt (150 ms) must not exceed task.tau (100 ms)"),
    ("constraints.dale_ratio=1.2", "constraints.dale_ratio must be a number in [0, 1]"),
    ("constraints.dale_ratio=-0.5", "constraints.dale_ratio must be a number in [0, 1]"),
    ("constraints.density=0", "constraints.density must be a number in (0, 1]"),
    ("constraints.density=2", "constraints.density must be a number in (0, 1]"),
    ("constraints.regions={sizes:[20,20]}", "sizes [20, 20] must be positive integers adding up to model.N_rec=50"),
    ("optimizer.learning_rate=abc", "optimizer.learning_rate must be a positive float, got 'abc'"),
    ("optimizer._target_=keras.optimizers.Adamw", "optimizer._target_: cannot import 'keras.optimizers.Adamw'"),
    ("model._target_=my_models.Missing", "model._target_: cannot import 'my_models.Missing'"),
    ("loss._target_=losses.nope", "loss._target_: cannot import 'losses.nope'"),
    ("model.transfer_function=relux", "unknown transfer function 'relux'"),
])
def test_invalid_config_values(override, message):
    assert message in config_error(override)


def test_mask_files_missing_unreadable_or_wrong_shape(tmp_path):
    assert "file /no/such.npy does not exist" in config_error("constraints.mask_file=/no/such.npy")
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    assert "cannot read" in config_error(f"constraints.mask_file={tmp_path / 'bad.npz'}")
    np.save(tmp_path / "small.npy", np.ones((10, 10)))
    assert "has shape (10, 10), expected (50, 50)" in config_error(f"constraints.mask_file={tmp_path / 'small.npy'}")


def test_curriculum_stages_that_disagree():
    message = config_error("curriculum=coherence_ramp", "curriculum.stages=[{task:{}},{task:{dt:5}}]")
    assert "stage 1 has dt=5.0 but stage 0 has dt=10.0" in message


class WrongShapeTask:
    """Returns 3 input values per step although it declares N_in = 2."""

    def __init__(self, dt, tau, T, N_batch):
        self.N_in, self.N_out, self.dt, self.tau, self.T, self.N_batch = 2, 2, dt, tau, T, N_batch

    def generate_trial_params(self, batch, trial):
        return {}

    def trial_function(self, time, params):
        return np.zeros(3), np.zeros(2), np.ones(2)


def test_task_with_wrong_shapes_is_caught_on_the_first_batch():
    message = config_error("task=custom", "task._target_=tests.test_bad_input.WrongShapeTask")
    assert "WrongShapeTask" in message and "(3,)" in message and "expected (2,)" in message


def test_unwritable_run_directory_is_reported_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot write to the run directory .*hydra.run.dir"):
        train(FAST, run_dir=blocker / "run")


CALLS = []


def nan_after_12_calls(outputs, targets, mask):
    """MSE that turns into NaN from the 13th training step on (counted in a TF variable)."""
    import tensorflow as tf

    if not CALLS:
        CALLS.append(tf.Variable(0))
    count = CALLS[0].assign_add(1)
    loss = tf.reduce_mean(tf.square(mask * (outputs - targets)))
    return tf.where(count > 12, tf.constant(float("nan")), loss)


def test_nan_loss_fails_cleanly_and_keeps_the_last_good_checkpoint(tmp_path):
    path = train([*FAST, "task.T=300", "loss._target_=tests.test_bad_input.nan_after_12_calls",
                  "train.checkpoint_every=5", "train.eval_every=5", "train.stop_accuracy=null"], run_dir=tmp_path)
    run = load_run(path)
    assert run["attrs"]["status"] == "failed"
    assert "loss became" in run["attrs"]["message"] and "at iteration 13" in run["attrs"]["message"]
    with h5py.File(tmp_path / "checkpoint.h5") as f:
        assert f.attrs["iteration"] == 10
        assert all(np.all(np.isfinite(f["training_state/params"][k][()])) for k in f["training_state/params"])


def test_reading_missing_truncated_and_foreign_files(trained_run, tmp_path):
    with pytest.raises(RunFileError, match="no run file"):
        load_run(tmp_path / "nothing_here")
    data = Path(trained_run).read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFileError, match="truncated or not a run file"):
        load_run(tmp_path / "truncated.h5")
    np.savez(tmp_path / "weights.npz", W_rec=np.eye(2))
    with pytest.raises(RunFileError, match="cannot read"):
        load_run(tmp_path / "weights.npz")


def test_no_pickled_objects_in_written_files(trained_run):
    def check(name, obj):
        if isinstance(obj, h5py.Dataset):
            assert obj.dtype.kind in "biuf" or h5py.check_string_dtype(obj.dtype) is not None, name
    with h5py.File(trained_run) as f:
        f.visititems(check)
    with h5py.File(Path(trained_run).parent / "checkpoint.h5") as f:
        f.visititems(check)


@pytest.mark.slow
def test_ctrl_c_writes_a_stopped_run_file(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "psychrnn_cli.cli", "train", *FAST, "train.iterations=100000",
                                "train.stop_accuracy=null", f"hydra.run.dir={tmp_path}"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not (tmp_path / "train.log").exists() or "iteration 25" not in (tmp_path / "train.log").read_text():
        assert process.poll() is None and time.time() < deadline, process.stderr.read()[-2000:]
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0
    run = load_run(tmp_path)
    assert run["attrs"]["status"] == "stopped" and "SIGINT" in run["attrs"]["message"]
    assert run["attrs"]["iterations"] >= 25 and "trials" in run


def _last_logged_iteration(log_file: Path) -> int:
    """The iteration of the last evaluation line in ``train.log`` (0 before the first)."""
    if not log_file.exists():
        return 0
    found = re.findall(r"\] iteration (\d+) ", log_file.read_text())
    return int(found[-1]) if found else 0


@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_a_broken_file(tmp_path):
    """Kill a training process 20 times at random points, restarting it in the same directory each
    time: the run directory always holds no run file or a complete, readable one, and no checkpoint
    or a loadable one. Kill points are counted in iterations (0 to 30 after the process's first
    logged iteration, or during start-up), so the test does not depend on the machine's speed."""
    rng = random.Random(0)
    command = [sys.executable, "-m", "psychrnn_cli.cli", "train", *FAST, "task.T=300", "train.iterations=100000",
               "train.eval_every=1", "train.checkpoint_every=1", "train.stop_accuracy=null", f"hydra.run.dir={tmp_path}"]
    log_file = tmp_path / "train.log"
    kills = 0
    while kills < 20:
        start = _last_logged_iteration(log_file)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kills % 5 == 0:  # during start-up (import, build, tracing): a random moment before the first iteration
            time.sleep(rng.uniform(0.0, 2.0))
        else:
            target = start + rng.randint(1, 30)
            while _last_logged_iteration(log_file) < target:
                assert process.poll() is None, f"training ended (exit {process.returncode}) before kill {kills + 1}"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside the next iteration or its file writes
        assert process.poll() is None, f"training ended (exit {process.returncode}) before kill {kills + 1}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        if (tmp_path / "run.h5").exists():
            assert load_run(tmp_path)["attrs"]["status"] in ("running", "completed")
        if (tmp_path / "checkpoint.h5").exists():
            with h5py.File(tmp_path / "checkpoint.h5") as f:
                assert f.attrs["kind"] == "checkpoint" and "training_state/params/W_rec" in f
        assert len(list(tmp_path.glob(".*.tmp*"))) <= 2  # at most the two files being written when killed
    assert kills == 20 and _last_logged_iteration(log_file) > 0
