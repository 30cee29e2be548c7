"""Faults and damaged inputs: one line naming the file (or the stuck part) and what is wrong,
never a raw traceback; nothing good is lost.

Families: damaged run files (every after-training reader), weight files (``model.load_weights``,
``initializer=from_file``, the simulator's ``.npz`` reader), mask files, checkpoints, tasks that
return no trial parameters, a disk that fills or cannot be written, Ctrl-C while a task hangs, and
long silent initializers.
"""

from __future__ import annotations

import contextlib
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build
from psychrnn_cli.runfile import RunFileError
from psychrnn_cli.task import Task
from tests.conftest import FAST, REPO, run_cli



def assert_one_line_error(result, *fragments: str, code: int = 2) -> None:
    """``result`` (a finished CLI process) failed with ``code`` and one stderr line holding ``fragments``."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def damaged_copy(trained_run: Path, tmp_path: Path, damage) -> Path:
    """A copy of the trained run file with ``damage(h5py.File)`` applied."""
    path = tmp_path / "run.h5"
    shutil.copyfile(trained_run, path)
    with h5py.File(path, "r+") as f:
        damage(f)
    return path


def wrong_shape_W_rec(f: h5py.File) -> None:
    del f["model/weights/W_rec"]
    f["model/weights/W_rec"] = np.zeros((3, 3), np.float32)


def missing_W_out(f: h5py.File) -> None:
    del f["model/weights/W_out"]


def text_mask(f: h5py.File) -> None:
    del f["model/constraints/rec_connectivity"]
    f.create_dataset("model/constraints/rec_connectivity", data="all", dtype=h5py.string_dtype())


def no_sizes(f: h5py.File) -> None:
    del f["model"].attrs["N_rec"]


def config_not_yaml(f: h5py.File) -> None:
    del f["config"]
    f.create_dataset("config", data="task: [unclosed", dtype=h5py.string_dtype())


# --- damaged run files -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["evaluate"], ["simulate", "--lesion", "0", "--out", "{tmp}/sim.h5"],
                                     ["export", "--out", "{tmp}/w.npz"], ["analyse", "--fixed-points"],
                                     ["plot", "--out", "{tmp}/plots"]])
def test_every_command_reports_a_run_file_with_wrong_weight_shapes(trained_run, tmp_path, command):
    path = damaged_copy(trained_run, tmp_path, wrong_shape_W_rec)
    before = path.read_bytes()
    result = run_cli(command[0], str(path), *(arg.replace("{tmp}", str(tmp_path)) for arg in command[1:]))
    assert_one_line_error(result, str(path), "/model/weights/W_rec has shape (3, 3), expected (50, 50)")
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


@pytest.mark.parametrize("damage,message", [
    (missing_W_out, "/model/weights/W_out is missing"),
    (text_mask, "/model/constraints/rec_connectivity is missing or not a numeric array"),
    (no_sizes, "/model has no valid attributes N_in, N_rec, N_out and alpha"),
    (config_not_yaml, "/config is not valid YAML"),
])
def test_damaged_run_files_name_the_file_and_the_damage(trained_run, tmp_path, damage, message):
    from psychrnn_cli.interop import from_run
    from psychrnn_cli.simulator import load_network

    path = damaged_copy(trained_run, tmp_path, damage)
    with pytest.raises(RunFileError, match="a damaged run file") as info:
        load_network(path)
    assert message in str(info.value) and str(path) in str(info.value)
    if damage is not config_not_yaml:
        with pytest.raises(RunFileError, match="a damaged run file"):
            from_run(load_run(path), str(path))
    assert_one_line_error(run_cli("evaluate", str(path), "--trials", "10"), str(path), message)


# --- weight files: model.load_weights, initializer=from_file, the simulator's .npz reader -----------


def empty(path: Path) -> None:
    path.write_bytes(b"")


def not_zip(path: Path) -> None:
    path.write_text("W_rec = [[1, 2], [3, 4]]\n")


def truncated_zip(path: Path) -> None:
    arrays = {k: np.ones((50, 50)) for k in ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state")}
    np.savez(path, **arrays)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def pickled(path: Path) -> None:
    arrays = {k: np.zeros(2) for k in ("W_in", "W_out", "b_rec", "b_out", "init_state")}
    np.savez(path, W_rec=np.array([{"a": 1}], dtype=object), **arrays)


@pytest.mark.parametrize("make,message", [(empty, "not a zip archive"), (not_zip, "not a zip archive"),
                                          (truncated_zip, "not a zip archive"), (pickled, "W_rec is a pickled object")])
def test_unreadable_weight_files_are_config_errors(tmp_path, make, message):
    from psychrnn_cli.interop import InteropError, read_psychrnn
    from psychrnn_cli.masks import ConstraintError
    from psychrnn_cli.initializers import load_weights

    path = tmp_path / "weights.npz"
    make(path)
    with pytest.raises(ConstraintError) as info:
        load_weights(path)
    assert message in str(info.value) and str(path) in str(info.value)
    with pytest.raises(InteropError, match=message):
        read_psychrnn(path)


def test_load_weights_of_an_empty_npz_is_one_config_line(tmp_path):
    empty(tmp_path / "weights.npz")
    with pytest.raises(ConfigError, match=f"cannot load initial weights: cannot read {tmp_path / 'weights.npz'}"):
        build(compose_config([*FAST, f"model.load_weights={tmp_path / 'weights.npz'}"]))


def test_load_weights_of_a_damaged_run_file(trained_run, tmp_path):
    from psychrnn_cli.initializers import load_weights
    from psychrnn_cli.masks import ConstraintError

    path = damaged_copy(trained_run, tmp_path, wrong_shape_W_rec)
    with pytest.raises(ConstraintError, match=r"W_rec has shape \(3, 3\), expected \(50, 50\)"):
        load_weights(path)


# --- mask files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make,message", [
    (empty, "the file is empty"),
    (lambda p: np.savez(p.open("wb"), rec_connectivity=np.ones((50, 50))), "an .npz archive, not a .npy array"),
    (lambda p: np.save(p, np.array(["a", "b"])), "holds <U1 values, not numbers"),
    (lambda p: p.write_bytes(pickle.dumps(np.ones((50, 50)))), "cannot read it as a .npy array"),
])
def test_simulate_mask_file_that_is_not_a_numeric_array(trained_run, tmp_path, make, message):
    path = tmp_path / "mask.npy"
    make(path)
    result = run_cli("simulate", str(trained_run), "--mask-file", str(path), "--out", str(tmp_path / "sim.h5"))
    assert_one_line_error(result, f"--mask-file {path}", message)
    assert not (tmp_path / "sim.h5").exists()


def test_empty_constraint_mask_file_is_a_config_error(tmp_path):
    empty(tmp_path / "mask.npy")
    with pytest.raises(ConfigError, match=f"constraints.mask_file: cannot read {tmp_path / 'mask.npy'}"):
        build(compose_config([*FAST, "constraints=from_file", f"constraints.mask_file={tmp_path / 'mask.npy'}"]))


# --- checkpoints -----------------------------------------------------------------------------------


SHORT = [*FAST, "task.T=300", "train.stop_accuracy=null", "train.checkpoint_every=1"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    """A run completed at its iteration limit (2), so that asking for more iterations reads its checkpoint."""
    return train([*SHORT, "train.iterations=2"], run_dir=tmp_path_factory.mktemp("short_run"))


def damaged_checkpoint_run(run_file: Path, tmp_path: Path, damage) -> Path:
    """A copy of a run's directory whose checkpoint has ``damage(h5py.File)`` applied."""
    run_dir = tmp_path / "run"
    shutil.copytree(Path(run_file).parent, run_dir)
    with h5py.File(run_dir / "checkpoint.h5", "r+") as f:
        damage(f)
    return run_dir


@pytest.mark.parametrize("damage,message", [
    (lambda f: f.__delitem__("training_state/optimizer"), "it lacks /training_state/optimizer"),
    (lambda f: f.attrs.__delitem__("rng_train"), "it lacks @rng_train"),
    (lambda f: f.attrs.__setitem__("batch_counts", "[1, 2"), "is damaged (JSONDecodeError"),
    (lambda f: (f.__delitem__("training_state/params/W_rec"), f.create_dataset("training_state/params/W_rec",
                                                                                 data=np.zeros((3, 3)))),
     "does not fit this run"),
])
def test_damaged_checkpoint_is_a_config_error_and_is_kept(short_run, tmp_path, damage, message):
    run_dir = damaged_checkpoint_run(short_run, tmp_path, damage)
    before = (run_dir / "checkpoint.h5").read_bytes()
    with pytest.raises(ConfigError, match="cannot resume") as info:  # (more iterations: it must be read to continue)
        train([*SHORT, "train.iterations=3"], run_dir=run_dir)
    assert message in str(info.value) and str(run_dir / "checkpoint.h5") in str(info.value)
    assert (run_dir / "checkpoint.h5").read_bytes() == before


# --- tasks -----------------------------------------------------------------------------------------


class NoParamsTask:
    """PsychRNN-style task whose generate_trial_params forgets to return its parameters."""

    N_in, N_out, dt, tau, T, N_batch = 1, 2, 10, 100, 300, 50

    def __init__(self, N_batch: int = 50, **kwargs) -> None:
        self.N_batch = N_batch

    def generate_trial_params(self, batch, trial):
        self.last = {"sign": 1}  # (and returns None)

    def trial_function(self, time, params):
        return np.ones(1), np.array([1.0, 0.0]), np.ones(2)


def test_task_returning_no_trial_params_is_refused_before_training():
    with pytest.raises(ConfigError, match="NoParamsTask: generate_trial_params returned NoneType .* must return a dict"):
        build(compose_config([*FAST, "task=custom", "task._target_=tests.test_faults.NoParamsTask"]))


# --- Ctrl-C while a task hangs ----------------------------------------------------------------------


class HangingTask(Task):
    """Draws from ``self.rng`` (so its training batches are made ahead in the worker thread);
    training batches (``N_batch`` 7) hang forever from the fourth on, and so does every batch when
    ``hang_at_once`` is set."""

    def __init__(self, dt: float = 10, tau: float = 100, T: float = 300, N_batch: int = 50,
                 hang_at_once: bool = False) -> None:
        super().__init__(1, 2, dt, tau, T, N_batch)
        self.hang_at_once = hang_at_once

    def draw_sign(self) -> int:
        return int(self.rng.choice([-1, 1]))

    def generate_trial_params(self, batch: int, trial: int) -> dict:
        if self.hang_at_once or (self.N_batch == 7 and batch >= 3):
            threading.Event().wait()
        return {"sign": self.draw_sign()}

    def trial_function(self, time: float, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array([params["sign"]]), np.array([params["sign"] > 0, params["sign"] < 0], float), np.ones(2)


class HangingGlobalTask(HangingTask):
    """The same, drawing from NumPy's global random state: its batches are made in the main thread."""

    def draw_sign(self) -> int:
        return int(np.random.choice([-1, 1]))


@contextlib.contextmanager
def training(run_dir: Path, *overrides: str) -> Iterator[subprocess.Popen]:
    """``psychrnn train`` in a subprocess (short trials, batches of 7, an evaluation per iteration),
    killed at the end of the block if it still runs."""
    process = subprocess.Popen([sys.executable, "-m", "psychrnn_cli.cli", "train", *FAST, "task.T=300",
                                "train.stop_accuracy=null", "train.batch_size=7", "train.eval_every=1",
                                f"hydra.run.dir={run_dir}", *overrides],
                               cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def wait_for_log(process: subprocess.Popen, log: Path, line: str) -> None:
    """Until ``log`` holds ``line`` (the deadline only guards against a test that would never end)."""
    deadline = time.time() + 300
    while not log.exists() or line not in log.read_text():
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.time() < deadline, f"no {line!r} in {log}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["HangingTask", "HangingGlobalTask"])
def test_second_ctrl_c_stops_a_run_whose_task_hangs_and_says_where(tmp_path, task):
    with training(tmp_path, "task=custom", f"task._target_=tests.test_faults.{task}") as process:
        wait_for_log(process, tmp_path / "train.log", "iteration 2 (stage 0)")
        process.send_signal(signal.SIGINT)
        wait_for_log(process, tmp_path / "train.log", f"SIGINT received while making the next batch of task {task}")
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        assert "Traceback" not in process.stderr.read()
    run = load_run(tmp_path)
    assert run["attrs"]["status"] == "stopped" and run["attrs"]["iterations"] == 3
    assert run["attrs"]["message"] == f"interrupted during iteration 3 while making the next batch of task {task}"
    assert list(run["training"]["iteration"]) == [1, 2]


@pytest.mark.slow
def test_ctrl_c_while_the_task_is_checked_before_training(tmp_path):
    with training(tmp_path, "task=custom", "task._target_=tests.test_faults.HangingTask",
                  "+task.hang_at_once=true") as process:
        wait_for_log(process, tmp_path / "train.log", "")  # opened just before the config is built and checked
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130
        assert process.stderr.read().strip().splitlines()[-1] == "psychrnn train: interrupted (Ctrl-C)"


# --- a full disk, an unwritable or read-only run directory -----------------------------------------


def limit_file_size() -> None:
    """In the child: files may not grow beyond 2 MB (writes beyond fail with EFBIG, as on a full disk)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))


@pytest.mark.slow
def test_disk_full_at_the_end_keeps_the_checkpoint_and_the_run_finishes_elsewhere(tmp_path):
    run_dir, elsewhere = tmp_path / "full", tmp_path / "elsewhere"
    command = [sys.executable, "-m", "psychrnn_cli.cli", "train", "train.progress=false", "train.iterations=3",
               "train.eval_every=1", "train.eval_trials=20", "train.stop_accuracy=null", "train.test_trials=200",
               "train.save_trials=200"]  # the final run file holds 200 trials of 200 steps x 50 units: over 2 MB
    result = subprocess.run([*command, f"hydra.run.dir={run_dir}"], preexec_fn=limit_file_size, capture_output=True,
                            text=True, timeout=300)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert last.startswith("psychrnn train: error: training failed: WriteError: [Errno 27] cannot write run.h5 "
                           f"(File too large); checkpoint.h5 (iteration 3) is kept: copy {run_dir} to a disk with "
                           "space and rerun the same command with hydra.run.dir=<the copy>")
    assert load_run(run_dir)["attrs"]["status"] == "failed" and not list(run_dir.glob(".*tmp*"))
    shutil.copytree(run_dir, elsewhere)
    finished = subprocess.run([*command, f"hydra.run.dir={elsewhere}"], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    run = load_run(elsewhere)
    assert run["attrs"]["status"] == "completed" and run["attrs"]["iterations"] == 3
    assert run["trials"]["states"].shape == (200, 200, 50)


def test_disk_full_at_a_checkpoint_fails_in_one_message_and_keeps_the_last_one(tmp_path, monkeypatch):
    import errno

    from psychrnn_cli import run as run_module
    from psychrnn_cli.runfile import WriteError

    real, calls = run_module.write_checkpoint, []

    def checkpoint_until_the_disk_is_full(*args):
        calls.append(args)
        if len(calls) > 1:
            raise WriteError(errno.ENOSPC, "No space left on device", str(args[1]))
        real(*args)

    monkeypatch.setattr(run_module, "write_checkpoint", checkpoint_until_the_disk_is_full)
    with pytest.raises(WriteError) as info:
        train([*FAST, "task.T=300", "train.iterations=20", "train.checkpoint_every=5", "train.stop_accuracy=null"],
              run_dir=tmp_path)
    assert str(info.value) == ("[Errno 28] cannot write checkpoint.h5 (No space left on device); checkpoint.h5 "
                               f"(iteration 5) is kept: copy {tmp_path} to a disk with space and rerun the same "
                               "command with hydra.run.dir=<the copy> (or free space and rerun it here)")
    run = load_run(tmp_path)
    assert run["attrs"]["status"] == "failed" and "No space left on device" in run["attrs"]["message"]
    with h5py.File(tmp_path / "checkpoint.h5") as f:
        assert f.attrs["iteration"] == 5


@pytest.mark.parametrize("mode,key", [("hydra.run.dir", "hydra.run.dir"), ("-m", "hydra.sweep.dir")])
def test_run_directory_on_a_read_only_file_system_is_one_line(mode, key):
    args = ["hydra.run.dir=/proc/psychrnn-test"] if mode == "hydra.run.dir" else ["-m", "seed=0,1",
                                                                                 "hydra.sweep.dir=/proc/psychrnn-test"]
    assert_one_line_error(run_cli("train", *args), "cannot write to the run directory /proc/psychrnn-test",
                          f"choose another with {key}=PATH")


def test_recording_a_failure_in_an_unwritable_directory_still_returns_the_message(tmp_path):
    from psychrnn_cli.app import record_failure

    (tmp_path / "a_file").write_text("")
    assert record_failure(compose_config([]), tmp_path / "a_file" / "run", ValueError("boom")) == "ValueError: boom"


# --- long silent steps ----------------------------------------------------------------------------


def test_a_long_spectral_radius_computation_says_what_it_does(caplog, monkeypatch):
    from psychrnn_cli import initializers
    from psychrnn_cli.masks import build_constraints

    monkeypatch.setattr(initializers, "SLOW_EIGENSOLVE_N", 30)  # (the real threshold, 1000, is slow to test)
    constraints = build_constraints(1, 30, 1, np.random.default_rng(0))
    with caplog.at_level("INFO", logger="psychrnn_cli"):
        initializers.gaussian_spectral_radius(np.random.default_rng(0), constraints, 1, 1)
    assert "computing the spectral radius of the 30 x 30 recurrent matrix" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="psychrnn_cli"):
        initializers.gaussian_spectral_radius(np.random.default_rng(0), build_constraints(1, 29, 1, None), 1, 1)
    assert "spectral radius" not in caplog.text


# --- second attack round: run file that is a folder, trial counts, fixed task sizes ---------------


@pytest.mark.parametrize("command", [["evaluate"], ["analyse", "--fixed-points"], ["simulate", "--out", "{tmp}/s.h5"],
                                     ["plot", "--out", "{tmp}/plots"], ["export", "--out", "{tmp}/w.npz"]])
def test_run_file_that_is_a_folder_is_one_line(tmp_path, command):
    (tmp_path / "run" / "run.h5").mkdir(parents=True)
    result = run_cli(command[0], str(tmp_path / "run"), *(arg.replace("{tmp}", str(tmp_path)) for arg in command[1:]))
    assert_one_line_error(result, f"{tmp_path / 'run' / 'run.h5'} is a folder, not an HDF5 file")


@pytest.mark.parametrize("command", [["evaluate"], ["analyse", "--task-variance"], ["simulate", "--out", "{tmp}/s.h5"],
                                     ["plot", "--out", "{tmp}/plots"], ["export", "--out", "{tmp}/w.npz"], ["info"]])
def test_an_ensemble_folder_given_as_a_run_names_a_member_and_summarize(tmp_path, capsys, command):
    from tests.test_results_kept import code_of

    ensemble = tmp_path / "ens"
    for seed in (0, 1):
        (ensemble / f"seed_{seed}").mkdir(parents=True)
        (ensemble / f"seed_{seed}" / "run.h5").write_bytes(b"")
    argv = [command[0], str(ensemble), *(arg.replace("{tmp}", str(tmp_path)) for arg in command[1:])]
    assert code_of(*argv) == 2
    err = capsys.readouterr().err
    assert f"{ensemble} is a folder, not an HDF5 file (an ensemble or sweep folder: give one of its runs, e.g. " \
           f"{ensemble / 'seed_0'}, or summarize it with psychrnn summarize {ensemble})" in err
    assert len(err.strip().splitlines()) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["ens"]


@pytest.mark.parametrize("command", [["evaluate"], ["analyse", "--fixed-points"], ["simulate", "--out", "{tmp}/s.h5"],
                                     ["plot", "--out", "{tmp}/plots"]])
def test_trial_counts_that_do_not_fit_in_memory_are_refused(trained_run, tmp_path, command):
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command[1:]]
    result = run_cli(command[0], str(trained_run), *args, "--trials", "1000000000000")
    assert_one_line_error(result, "--trials 1000000000000 needs about", "GB", "or fewer")
    assert list(tmp_path.iterdir()) == []
    fewer = int(result.stderr.split("use --trials ")[1].split()[0])
    assert 1 <= fewer < 1000000000000


def test_trial_memory_estimate_counts_every_array(trained_run, monkeypatch):
    from psychrnn_cli import build as build_module
    from psychrnn_cli.build import task_from_run

    run = load_run(trained_run)
    task = task_from_run(run, 2, 0)
    per_trial = task.N_steps * (task.N_in + 3 * task.N_out + 50) * 8 * build_module.ARRAYS_HELD
    monkeypatch.setattr(build_module, "physical_memory", lambda: 10 * per_trial)
    task_from_run(run, 10, 0)
    with pytest.raises(ConfigError, match="--trials 11 needs about .* use --trials 5 or fewer"):
        task_from_run(run, 11, 0)


@pytest.mark.parametrize("key", ["N_in", "N_out", "N_batch"])
def test_task_sizes_cannot_change_after_training(trained_run, key):
    result = run_cli("evaluate", str(trained_run), f"task.{key}=3", "--trials", "10")
    assert_one_line_error(result, f"task.{key}=3", "is fixed by")


def test_task_argument_the_task_sets_itself_is_a_config_error(tmp_path):
    result = run_cli("train", f"hydra.run.dir={tmp_path / 'run'}", "+task.N_in=3", "train.iterations=2", *FAST)
    assert_one_line_error(result, "task.N_in is set by PerceptualDiscrimination itself", "drop task.N_in")


def model_as_dataset(f: h5py.File) -> None:
    del f["model"]
    f["model"] = np.zeros(3)


def trials_as_dataset(f: h5py.File) -> None:
    del f["trials"]
    f["trials"] = np.zeros(3)


def status_not_text(f: h5py.File) -> None:
    f.attrs["status"] = np.array([1, 2])


def iterations_not_a_number(f: h5py.File) -> None:
    f.attrs["iterations"] = "many"


@pytest.mark.parametrize("damage,message", [
    (model_as_dataset, "/model is a dataset, not a group"), (trials_as_dataset, "/trials is a dataset, not a group"),
    (status_not_text, "root attribute status is '[1 2]', not text"),
    (iterations_not_a_number, "root attribute iterations is 'many', not a whole number"),
])
@pytest.mark.parametrize("command", [["evaluate", "--no-save"], ["plot", "--out", "{tmp}/plots"]])
def test_run_file_objects_of_the_wrong_kind_are_one_line(trained_run, tmp_path, damage, message, command):
    path = damaged_copy(trained_run, tmp_path, damage)
    result = run_cli(command[0], str(path), "--trials", "10", *(arg.replace("{tmp}", str(tmp_path)) for arg in command[1:]))
    assert_one_line_error(result, str(path), message, "a damaged run file")


@pytest.mark.slow
def test_sigterm_while_the_task_is_checked_before_training(tmp_path):
    with training(tmp_path, "task=custom", "task._target_=tests.test_faults.HangingTask",
                  "+task.hang_at_once=true") as process:
        wait_for_log(process, tmp_path / "train.log", "")  # opened just before the config is built and checked
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143
        stderr = process.stderr.read()
    assert "Traceback" not in stderr and "Ctrl-C" not in stderr
    assert stderr.strip().splitlines()[-1] == ("psychrnn train: stopped by SIGTERM before training started; "
                                               "nothing was trained")


@pytest.mark.parametrize("values", [np.full((50, 50), "1"), np.ones((50, 50), complex)])
def test_mask_and_weight_files_of_non_real_arrays_are_refused(trained_run, tmp_path, values):
    from psychrnn_cli.initializers import load_weights
    from psychrnn_cli.masks import ConstraintError, read_arrays

    np.save(tmp_path / "mask.npy", values)
    with pytest.raises(ConstraintError, match=f"rec_connectivity in .*mask.npy is an array of {values.dtype}"):
        read_arrays(tmp_path / "mask.npy", {"rec_connectivity": (50, 50)}, "constraints.mask_file")
    assert run_cli("export", str(trained_run), "--out", str(tmp_path / "w.npz")).returncode == 0
    arrays = dict(np.load(tmp_path / "w.npz"))
    np.savez(tmp_path / "bad.npz", **{**arrays, "W_rec": values})
    with pytest.raises(ConstraintError, match=f"W_rec is an array of {values.dtype}, not of real numbers"):
        load_weights(tmp_path / "bad.npz", "model.load_weights")


def test_text_mask_file_is_a_config_error_not_a_failed_run(tmp_path):
    np.save(tmp_path / "mask.npy", np.full((50, 50), "1"))
    result = run_cli("train", f"hydra.run.dir={tmp_path / 'run'}", "constraints=from_file",
                     f"constraints.mask_file={tmp_path / 'mask.npy'}", "train.iterations=2", "task.T=300", *FAST)
    assert_one_line_error(result, "constraints.mask_file", "is an array of <U1")
