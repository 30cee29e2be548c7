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
    ("task.T=0", "task.T must be a positive float or null, got 0"),
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
    assert process.wait(timeout=120) == 3  # stopped
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


# --- issue 14: results that are silently wrong -------------------------------------------------------
# Families: trials nothing is scored on; values outside the schema; unknown keys; curriculum stages
# setting keys their task lacks; files with values a mask or weights cannot hold.
# Run them: .venv/bin/python -m pytest tests/test_bad_input.py -k "unscored or schema or unknown_keys or
#   stage_setting or files_with or arguments or simulate_mask or cli_refuses or delayed"
# Results that can be lost and exit codes (issue 14): tests/test_results_kept.py, one section per family.


class EmptyMaskTask:
    """A PsychRNN-style task whose loss mask is zero everywhere."""

    def __init__(self, dt, tau, T, N_batch):
        self.N_in, self.N_out, self.dt, self.tau, self.T, self.N_batch = 1, 2, dt, tau, T, N_batch

    def generate_trial_params(self, batch, trial):
        return {}

    def trial_function(self, time, params):
        return np.ones(1), np.array([1.0, 0.0]), np.zeros(2)


class NoOutputTask(EmptyMaskTask):
    """Declares no output channel (N_out = 0) although its config says nothing about N_out."""

    def __init__(self, dt, tau, T, N_batch):
        super().__init__(dt, tau, T, N_batch)
        self.N_out = 0


class PulsedTask(EmptyMaskTask):
    """A user's task with an extra constructor argument, as in the README (``+task.pulse_ms=50``)."""

    def __init__(self, dt, tau, T, N_batch, pulse_ms: float = 100.0):
        super().__init__(dt, tau, T, N_batch)
        self.pulse_ms = pulse_ms


@pytest.mark.parametrize("overrides", [
    ["task.T=5"],  # one step at dt 10: perceptual discrimination scores nothing in it
    ["task=ready_set_go", "task.T=5", "task.ready_onset=0", "task.interval=1", "task.pulse_duration=1"],
    ["task=custom", "task._target_=tests.test_bad_input.EmptyMaskTask"],
])
def test_unscored_trials_are_an_error_when_generated(overrides):
    message = config_error(*overrides)
    assert "trials have an all-zero loss mask" in message and "task.T" in message


def test_unscored_or_non_finite_batches_name_the_count_and_the_array():
    from psychrnn_cli.task import Task, TaskError, check_batch

    task = Task(1, 2, T=30)
    x, y, mask = np.zeros((3, 3, 1)), np.zeros((3, 3, 2)), np.ones((3, 3, 2))
    mask[1] = 0.0
    with pytest.raises(TaskError, match="1 of 3 trials have an all-zero loss mask"):
        check_batch(task, x, y, mask, 3)
    mask[1] = 1.0
    mask[0, 0, 0] = -1.0
    with pytest.raises(TaskError, match="loss mask with negative values"):
        check_batch(task, x, y, mask, 3)
    mask[0, 0, 0] = 1.0
    x[2, 1, 0] = np.nan
    with pytest.raises(TaskError, match="inputs with NaN or infinite values"):
        check_batch(task, x, y, mask, 3)


def test_unscored_trials_in_evaluate_are_refused(trained_run, capsys):
    from psychrnn_cli.commands.evaluate import main

    assert main([str(trained_run), "task.T=5", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "all-zero loss mask" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("overrides,message", [
    (["train.clip_norm=-1"], "train.clip_norm must be a positive float, got -1"),
    (["model.rec_noise=-0.1"], "model.rec_noise must be a number >= 0, got -0.1"),
    (["model.rec_noise=nan"], "model.rec_noise must be a number >= 0, got nan"),
    (["model.N_rec=true"], "model.N_rec must be a positive int, got True"),
    (["train.iterations=true"], "train.iterations must be a positive int, got True"),
    (["train.iterations=2.5"], "train.iterations must be a positive int, got 2.5"),
    (["train.stop_accuracy=1.5"], "train.stop_accuracy must be a number in [0, 1] or null, got 1.5"),
    (["train.stop_accuracy=-0.1"], "train.stop_accuracy must be a number in [0, 1] or null, got -0.1"),
    (["train.progress=3"], "train.progress must be true or false, got 3"),
    (["train.clip=norm"], "train.clip must be one of per_tensor, global_norm, none, got 'norm'"),
    (["seed=-1"], "seed must be an int in [0, 4294967295], got -1"),
    (["task.dt=inf"], "task.dt must be a positive float, got inf"),
    (["constraints.fixed_outgoing=true"], "constraints.fixed_outgoing must be a number in [0, 1], got True"),
    (["regularizer.L2_rec=nan"], "regularizer.L2_rec must be a number >= 0, got nan"),
    (["schedule=exponential_decay", "schedule.decay_rate=-1"], "schedule.decay_rate must be a positive float, got -1"),
    (["curriculum.metric_every=0"], "curriculum.metric_every must be a positive int, got 0"),
    (["task=match_to_category", "task.N_out=0"], "task.N_out must be a positive int, got 0"),
    (["task=match_to_category", "task.N_in=0"], "task.N_in must be a positive int, got 0"),
    (["task=custom", "task._target_=tests.test_bad_input.NoOutputTask"], "task.N_out must be a positive int, got 0"),
    (["task.coherence=true"], "task.coherence must be float | None (an argument of PerceptualDiscrimination), got True"),
    (["task.coherences=[0.1,abc]"],
     "task.coherences must be collections.abc.Sequence[float] (an argument of PerceptualDiscrimination), got [0.1, 'abc']"),
    (["task.coherences=[0.1,true]"],
     "task.coherences must be collections.abc.Sequence[float] (an argument of PerceptualDiscrimination), got [0.1, True]"),
    (["initializer.spec_rad=true"], "initializer.spec_rad must be a positive float, got True"),
    (["task.direction=true"], "task.direction must be int | None (an argument of PerceptualDiscrimination), got True"),
    (["curriculum=coherence_ramp", "curriculum.stages.0.threshold=true"],
     "curriculum stage 0: threshold must be a number in [0, 1] for metric accuracy, got True"),
    (["curriculum=coherence_ramp", "curriculum.stages.0.threshold=-1"],
     "curriculum stage 0: threshold must be a number in [0, 1] for metric accuracy, got -1"),
    (["curriculum=coherence_ramp", "curriculum.stages.1.threshold=1.5"],
     "curriculum stage 1: threshold must be a number in [0, 1] for metric accuracy, got 1.5"),
    (["curriculum=coherence_ramp", "+curriculum.stages.0.metric=loss", "curriculum.stages.0.threshold=-0.1"],
     "curriculum stage 0: threshold must be a number >= 0 for metric loss, got -0.1"),
    (["curriculum=coherence_ramp", "+curriculum.stages.0.metric=iterations", "curriculum.stages.0.threshold=0"],
     "curriculum stage 0: threshold must be a positive int for metric iterations, got 0"),
    (["curriculum=coherence_ramp", "curriculum.stages=[1,2]"], "curriculum.stages must be a list of stages"),
    (["task.stim_noise=-1"], "task.stim_noise must be a number >= 0, got -1"),
    (["initializer.spec_rad=-1"], "initializer.spec_rad must be a positive float, got -1"),
    (["initializer=normal", "initializer.std=-1"], "initializer.std must be a number >= 0, got -1"),
    (["initializer=uniform", "initializer.min=1", "initializer.max=0"],
     "initializer.min (1) must not exceed initializer.max (0)"),
])
def test_schema_refuses_values_of_the_wrong_type_or_range(overrides, message):
    assert message in config_error(*overrides)


@pytest.mark.parametrize("overrides,message", [
    (["+train.iteratons=10"], "unknown config key train.iteratons; did you mean train.iterations?"),
    (["model.Nrec=64"], "unknown config key model.Nrec; did you mean model.N_rec?"),
    (["+curriculum.metric_evry=5"], "unknown config key curriculum.metric_evry; did you mean curriculum.metric_every?"),
    (["constraints=two_regions", "constraints.regions.betwen=0.1"],
     "unknown config key constraints.regions.betwen; did you mean constraints.regions.between?"),
    (["+seeed=3"], "unknown config key seeed; did you mean seed?"),
    (["+task.cohrence=0.5"], "task.cohrence is not an argument of PerceptualDiscrimination; did you mean task.coherence?"),
    (["+model.trainable.W_recc=false"], "unknown config key model.trainable.W_recc; did you mean model.trainable.W_rec?"),
    (["+initializer.spec_radius=1.0"], "initializer.spec_radius is not an argument of gaussian_spectral_radius; "
                                       "did you mean initializer.spec_rad?"),
    (["model=lstm", "+model.forget_bia=2"], "model.forget_bia is not an argument of LSTM; did you mean model.forget_bias?"),
    (["+optimizer.betaa_1=0.8"], "optimizer.betaa_1 is not an argument of Adam; did you mean optimizer.beta_1?"),
    (["task=custom", "task._target_=tests.test_bad_input.PulsedTask", "task.pulse_ms=50"],
     "unknown config key task.pulse_ms; to pass a new argument to your own _target_, add it with +task.pulse_ms=50"),
    (["curriculum=coherence_ramp", "curriculum.stages.1.treshold=0.5"],
     "unknown config key curriculum.stages.1.treshold; did you mean curriculum.stages.1.threshold?"),
    (["curriculum=coherence_ramp", "curriculum.stages.0.task.coherense=0.5"],
     "unknown config key curriculum.stages.0.task.coherense; did you mean curriculum.stages.0.task.coherence?"),
])
def test_unknown_keys_are_errors_with_a_suggestion(overrides, message):
    assert message in config_error(*overrides)


class OptionsTask(EmptyMaskTask):
    """A user's task that keeps any keyword argument it is given."""

    def __init__(self, dt, tau, T, N_batch, **options):
        super().__init__(dt, tau, T, N_batch)
        self.options = options


def test_arguments_a_users_target_declares_are_accepted():
    from psychrnn_cli.build import build_task

    cfg = compose_config(["task=custom", "task._target_=tests.test_bad_input.PulsedTask", "+task.pulse_ms=50"])
    assert build_task(cfg.task, 2, np.random.default_rng(0)).wrapped.pulse_ms == 50
    cfg = compose_config(["task=custom", "task._target_=tests.test_bad_input.OptionsTask", "+task.anything=3"])
    assert build_task(cfg.task, 2, np.random.default_rng(0)).wrapped.options == {"anything": 3}


@pytest.mark.parametrize("overrides,message", [
    (["task=ready_set_go", "curriculum=coherence_ramp"],
     "curriculum stage 0: task.coherence is not an argument of ReadySetGo"),
    (["curriculum=coherence_ramp", "curriculum.stages=[{task:{coherence:0.5}},{task:{stim_nosie:0.1}}]"],
     "curriculum stage 1: task.stim_nosie is not an argument of PerceptualDiscrimination; did you mean task.stim_noise?"),
])
def test_curriculum_stage_setting_a_key_its_task_lacks(overrides, message):
    assert message in config_error(*overrides)


def _write(path: Path, **arrays: np.ndarray) -> Path:
    if path.suffix == ".npy":
        np.save(path, next(iter(arrays.values())))
    else:
        np.savez(path, **arrays)
    return path


def _weights(**changes: float) -> dict[str, np.ndarray]:
    weights = {"W_in": np.zeros((50, 2)), "W_rec": np.zeros((50, 50)), "W_out": np.zeros((2, 50)),
               "b_rec": np.zeros(50), "b_out": np.zeros(2), "init_state": np.zeros((1, 50))}
    for name, value in changes.items():
        weights[name].flat[0] = value
    return weights


@pytest.mark.parametrize("name,arrays,option,message", [
    ("half.npy", {"m": np.full((50, 50), 0.5)}, "constraints.mask_file", "values other than 0 and 1 (e.g. 0.5)"),
    ("nan.npy", {"m": np.where(np.eye(50) > 0, np.nan, 1.0)}, "constraints.mask_file", "values other than 0 and 1 (e.g. nan)"),
    ("inf.npz", {"input_connectivity": np.full((50, 2), np.inf)}, "constraints.mask_file", "(e.g. inf)"),
    ("two.npz", {"W_rec": np.full((50, 50), 2.0)}, "constraints.plastic_file", "values other than 0 and 1 (e.g. 2)"),
    ("w.npz", _weights(W_rec=np.nan), "model.load_weights", "W_rec holds 1 NaN or infinite values"),
    ("w.npz", _weights(b_out=np.inf), "initializer=from_file initializer.path", "b_out holds 1 NaN or infinite values"),
])
def test_files_with_values_a_mask_or_weights_cannot_hold(tmp_path, name, arrays, option, message):
    path = _write(tmp_path / name, **arrays)
    *group, key = option.split()
    message_found = config_error(*group, f"{key}={path}")
    assert message in message_found and key.split("=")[-1] in message_found and str(path) in message_found


def test_simulate_mask_file_with_nan_is_refused(trained_run, tmp_path, capsys):
    from psychrnn_cli.commands.simulate import main

    np.save(tmp_path / "cut.npy", np.full((50, 50), np.nan))
    out = tmp_path / "simulation.h5"
    assert main([str(trained_run), "--mask-file", str(tmp_path / "cut.npy"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--mask-file" in err and "NaN or infinite" in err and not out.exists()


@pytest.mark.parametrize("overrides,message", [
    (["model.N_rec=true"], "model.N_rec must be a positive int, got True"),
    (["model.Nrec=64"], "did you mean model.N_rec?"),
    (["+train.iteratons=10"], "did you mean train.iterations?"),
    (["-m", "model.Nrec=32,64"], "did you mean model.N_rec?"),
    (["-m", "+train.iteratons=1,2"], "did you mean train.iterations?"),
    (["task=null"], "task=null: no such option; task has anti_saccade, block_prior, context_dependent_integration"),
    (["model=null"], "model=null: no such option; model has adapting, basic, gru, lstm, plastic, spiking, stp"),
    (["~train.batch_size"], "~train.batch_size: train.batch_size cannot be removed"),
    (["~task"], "~task: task cannot be removed"),
    (["constraints=two_regions", "~constraints.regions.within"], "constraints.regions.within cannot be removed"),
])
def test_cli_refuses_bad_config_in_one_line_and_writes_nothing(tmp_path, overrides, message):
    from tests.conftest import run_cli

    out = run_cli("train", *overrides, *FAST, "task.T=300", "train.iterations=1", f"hydra.run.dir={tmp_path / 'run'}",
                  f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("psychrnn train: error: ") and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_delayed_discrimination_scores_every_trial():
    """Its decision epoch is drawn as U(0, 1) * T/8 (PsychRNN's rule): below dt it covered no step."""
    from psychrnn_cli.tasks.delayed_discrimination import DelayedDiscrimination

    _, _, mask, params = DelayedDiscrimination(seed=0).get_trial_batch(2000)
    assert mask.any(axis=(1, 2)).all()
    assert all(p["end"] - p["decision"] >= 10 for p in params)


@pytest.mark.parametrize("option,value,message", [
    ("--scale", "inf", "--scale factor: 'inf' is not a finite number"),
    ("--scale", "0-4>5-9=nan", "--scale factor: 'nan' is not a finite number"),
    ("--clamp", "0=nan", "--clamp: 'nan' is not a finite number"),
    ("--inject", "0-3=-inf@100-200", "--inject: '-inf' is not a finite number"),
    ("--inject", "0=1@800-100", "window @800-100 holds no time"),
    ("--cut", "0>1@500-500", "window @500-500 holds no time"),
    ("--clamp", "0=1@1.2.3-5", "window @1.2.3-5"),
])
def test_simulate_perturbations_with_non_finite_values_or_empty_windows(trained_run, tmp_path, capsys, option, value,
                                                                        message):
    from psychrnn_cli.commands.simulate import main

    out = tmp_path / "simulation.h5"
    assert main([str(trained_run), option, value, "--trials", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("command", [["evaluate", "--no-save"], ["simulate", "--out", "{tmp}/sim.h5"]])
@pytest.mark.parametrize("override", ["task.coherences=[0.1", "task.T={1500", "task.coherences=[0.1]]"])
def test_task_overrides_that_do_not_parse_are_usage_errors(trained_run, tmp_path, capsys, command, override):
    from psychrnn_cli.cli import main

    with pytest.raises(SystemExit) as exit:
        main([command[0], str(trained_run), override, "--trials", "5", *[a.format(tmp=tmp_path) for a in command[1:]]])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and f"argument task.KEY=VALUE: {override}: " in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model", ["lstm", "gru"])
@pytest.mark.parametrize("option", ["model.load_weights", "initializer=from_file initializer.path"])
def test_weights_of_another_model_kind_are_refused(trained_run, model, option):
    """A basic network's file would otherwise fill every gate block of a gated model with copies of itself."""
    overrides = [f"model={model}", "model.transfer_function=relu", *option.split(" ")]
    overrides[-1] += f"={trained_run}"
    message = config_error(*overrides)
    assert f"{option.split(' ')[-1]} {trained_run}: stored W_rec has 50 rows" in message
    assert "another model kind's weights" in message


def test_weights_of_the_same_model_kind_still_load(trained_run):
    exp_weights = build(compose_config([f"model.load_weights={trained_run}"])).model.numpy_weights()
    assert np.array_equal(exp_weights["W_rec"], load_run(trained_run)["model"]["weights"]["W_rec"])


# --- the newer features: model options, algorithm options, sequences (attack 3) ------------------

@pytest.mark.parametrize("overrides,message", [
    # an option of another preset of the same group: name the preset, not "+key" (which would be refused or ignored)
    (["model.tau_mem=20"], "unknown config key model.tau_mem; it is an option of model=spiking, not of the model "
                           "chosen: add model=spiking"),
    (["model=stp", "model.tau_adapt=50"], "model.tau_adapt; it is an option of model=adapting"),
    (["model.synapses=static"], "it is an option of model=stp"),
    (["task.prior=0.7"], "it is an option of task=block_prior"),
    (["task.tasks=[anti_saccade,ready_set_go]"], "it is an option of task=multitask"),
    (["algorithm.critic=network"], "it is an option of algorithm=actor_critic, not of the algorithm chosen"),
    (["model=spiking", "model.trainable.A=false"], "model.trainable.A; it is an option of model=plastic"),  # was
    (["model=gru", "model.trainable.eta_logit=false"], "it is an option of model=plastic"),  # "did you mean ...?"
    # reward-training options of a supervised run are refused, not ignored
    (["+algorithm.critic=network"], "algorithm.critic is an option of reward-based training, but this run is "
                                    "supervised (algorithm.kind=supervised): add algorithm=actor_critic"),
    (["algorithm=actor_critic", "algorithm.kind=supervised"], "algorithm.abort_penalty is an option of reward-based"),
    # numbers beyond float32 (the network's precision) are refused, not turned into inf
    (["algorithm=actor_critic", "algorithm.fixation_bias=1e300"],
     "algorithm.fixation_bias must be a number, got 1e+300 (beyond float32, in which the network computes)"),
    (["algorithm=actor_critic", "algorithm.abort_penalty=1e30"],  # (its square made the value loss inf: exit 1)
     "algorithm.abort_penalty must be a number in [0, 1e+06], got 1e+30"),
    (["model=adapting", "model.tau_adapt=1e300"], "model.tau_adapt must be a positive float, got 1e+300 (beyond"),
    (["model=stp", "model.depressing_tau_x=-1e300"], "model.depressing_tau_x must be a positive float, got -1e+300"),
    # model=stp takes its excitatory fraction from constraints.dale_ratio, with or without Dale
    (["model=stp", "model.dale_ratio=0.5"], "model.dale_ratio (0.5) must equal constraints.dale_ratio (null)"),
    (["model=stp", "constraints=dale", "model.dale_ratio=null"],
     "model.dale_ratio (null) must equal constraints.dale_ratio (0.8)"),
    # trials too long for memory are refused before any is made (this used to hang making them)
    (["task.trials_per_sequence=1000000", "task.iti=100"],
     "(sequences of 1000000 trials, 210000000 steps each) needs about"),
    (["task.trials_per_sequence=1000000", "task.iti=100"],
     "even one sequence is too long: use fewer task.trials_per_sequence or a shorter task.iti or task.T"),
    (["task.T=1e9"], "train.batch_size=50 needs about"),
    (["task.T=1e9"], "even one trial is too long: use a shorter task.T or a larger task.dt"),
])
def test_options_of_the_newer_features_that_do_not_apply_or_make_no_sense(overrides, message, monkeypatch):
    monkeypatch.setattr("psychrnn_cli.build.physical_memory", lambda: 16_000_000_000)  # a 16 GB machine
    assert message in config_error(*overrides)


def test_float32_numbers_and_stp_dale_as_its_constraints_still_build():
    build(compose_config(["model=stp", "constraints=dale", "model.N_rec=8", "task.T=200", "train.batch_size=4",
                          "algorithm=actor_critic", "algorithm.fixation_bias=1e30"]))
