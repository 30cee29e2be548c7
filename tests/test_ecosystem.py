"""The ecosystem around training: TensorBoard events, clean terminal output, ``psychrnn info``, units
and axes on every run-file array, train.device, the GPU extra, shell completion, the objective a
sweeper optimizes, and a 4-trial Optuna search (slow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from psychrnn_cli.cli import main
from psychrnn_cli.runfile import write_run
from tests.conftest import REPO

# 10 iterations of a 10-unit network on 200 ms trials (dt 10 ms: 20 steps), evaluated at 5 and 10
TINY = ["task.T=200", "model.N_rec=10", "train.iterations=10", "train.eval_every=5", "train.eval_trials=20",
        "train.test_trials=20", "train.save_trials=2", "train.stop_accuracy=null"]
BIN = Path(sys.executable).parent


def quiet_env() -> dict[str, str]:
    """This environment without the TensorFlow log level the test suite sets (a user's shell has none)."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> tuple[Path, str]:
    """A run directory trained by ``psychrnn train ... train.tensorboard=true`` with its progress bar
    on and stderr going to a file (not a terminal), and what it wrote to stderr."""
    root = tmp_path_factory.mktemp("cli_run")
    run_dir = root / "run"
    with open(root / "stderr.txt", "w") as err:
        done = subprocess.run([str(BIN / "psychrnn"), "train", *TINY, "train.tensorboard=true",
                               f"hydra.run.dir={run_dir}"], stdout=subprocess.DEVNULL, stderr=err, cwd=root,
                              env=quiet_env(), timeout=600)
    stderr = (root / "stderr.txt").read_text()
    assert done.returncode == 0, stderr[-2000:]
    return run_dir, stderr


def test_tensorboard_events_hold_the_curves_and_histograms(cli_run):
    import tensorflow as tf

    run_dir, _ = cli_run
    files = list(run_dir.glob("events.out.tfevents.*"))
    assert len(files) == 1
    scalars: dict[str, dict[int, float]] = {}
    histograms: dict[str, set[int]] = {}
    for event in tf.compat.v1.train.summary_iterator(str(files[0])):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "histograms":
                histograms.setdefault(value.tag, set()).add(event.step)
            else:
                scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    assert set(scalars) == {"eval/loss", "eval/accuracy", "train/loss", "optimizer/learning_rate"}  # no curriculum
    assert set(histograms) == {"rates", *(f"weights/{n}" for n in ("W_in", "W_rec", "W_out", "b_rec", "b_out",
                                                                      "init_state"))}
    assert all(set(steps) == {5, 10} for steps in [*scalars.values(), *histograms.values()])
    assert scalars["optimizer/learning_rate"] == pytest.approx({5: 0.001, 10: 0.001})  # adam's default rate
    with h5py.File(run_dir / "run.h5") as f:  # the same numbers as the run file's curves
        assert list(f["training/iteration"][()]) == [5, 10]
        assert [scalars["eval/accuracy"][s] for s in (5, 10)] == pytest.approx(f["training/accuracy"][()])


def test_terminal_output_has_no_redraws_and_no_tensorflow_notices(cli_run):
    _, stderr = cli_run
    assert "\r" not in stderr  # no progress-bar redraws when stderr is a file
    for noise in ("oneDNN", "absl::InitializeLog", "cpu_feature_guard", "stage="):
        assert noise not in stderr
    lines = stderr.splitlines()
    assert sum("iteration 5 (stage 0)" in line for line in lines) == 1  # still one line per evaluation
    assert sum("iteration 10 (stage 0)" in line for line in lines) == 1
    assert all(line.startswith("[") for line in lines), lines  # every line is a log line of its own


def test_every_array_of_the_run_file_has_units_and_axes(cli_run):
    missing: list[str] = []
    with h5py.File(cli_run[0] / "run.h5") as f:
        f.visititems(lambda name, item: missing.append(name) if isinstance(item, h5py.Dataset) and not (
            "units" in item.attrs and "axes" in item.attrs) else None)
        assert f["trials/coherence"].attrs["axes"] == "trial"
        assert f["model/constraints/rec_connectivity"].attrs["axes"] == "postsynaptic unit, presynaptic unit"
    assert missing == []


def test_info_prints_summary_and_schema(cli_run, capsys):
    assert main(["info", str(cli_run[0])]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^status +completed$", out, re.M)
    assert re.search(r"^overrides +.*train\.tensorboard=true", out, re.M)
    assert re.search(r"^iterations +10$", out, re.M)
    assert re.search(r"^test accuracy +[01]\.\d{4} on 20 fresh test trials", out, re.M)
    assert re.search(r"^devices +/device:CPU:0", out, re.M)
    # 2 saved trials x 20 steps (200 ms / 10 ms) x 2 inputs; 10 units
    assert re.search(r"^  /trials/inputs +\[2, 20, 2\] +float\d+ +a\.u\.  \[trial, time, input\]$", out, re.M)
    assert re.search(r"^  /model/weights/W_rec +\[10, 10\] +float32 +1  \[postsynaptic unit, presynaptic unit\]$",
                     out, re.M)


def test_info_of_a_missing_or_damaged_file_is_one_line_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "absent")]) == 2
    damaged = tmp_path / "run.h5"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert main(["info", str(damaged)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("psychrnn info: error: ") for line in errors)
    assert "absent" in errors[0] and str(damaged) in errors[1]


def test_info_does_not_import_tensorflow(cli_run):
    code = ("import sys; from psychrnn_cli.cli import main; main(['info', sys.argv[1]]); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(cli_run[0])], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_gpu_that_is_not_there_is_a_clear_error(tmp_path):
    """A config error (``psychrnn train`` prints it on one line and exits with 2), before training."""
    import tensorflow as tf

    from psychrnn_cli import train
    from psychrnn_cli.schema import ConfigError

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU: train.device=gpu is valid here")
    with pytest.raises(ConfigError) as error:
        train([*TINY, "train.device=gpu"], run_dir=tmp_path)
    message = str(error.value)
    assert message.startswith("train.device=gpu, but TensorFlow") and "\n" not in message
    assert "sees no GPU" in message and "train.device=auto or cpu" in message
    assert not (tmp_path / "run.h5").exists()  # nothing trained


def test_gpu_extra_resolves_from_metadata():
    """``pip install -e '.[gpu]'`` asks for TensorFlow's own CUDA extra, at a version this
    environment's TensorFlow satisfies (nothing downloaded: the metadata is read)."""
    from packaging.requirements import Requirement

    requirements = [Requirement(r) for r in metadata.requires("psychrnn-cli")]
    gpu = [r for r in requirements if r.marker is not None and r.marker.evaluate({"extra": "gpu"})
           and not r.marker.evaluate({"extra": ""})]
    assert [(r.name, r.extras) for r in gpu] == [("tensorflow", {"and-cuda"})]
    base = [r for r in requirements if r.name == "tensorflow" and r.marker is None]
    assert len(base) == 1 and str(base[0].specifier) == str(gpu[0].specifier)  # the same TensorFlow, with CUDA
    installed = metadata.metadata("tensorflow")
    assert gpu[0].specifier.contains(installed["Version"])
    assert "and-cuda" in installed.get_all("Provides-Extra")


def test_shell_completion_as_hydra_documents_it(tmp_path):
    """``eval "$(psychrnn -sc install=bash)"`` makes TAB complete commands and train's overrides."""
    script = subprocess.run([str(BIN / "psychrnn"), "-sc", "install=bash"], capture_output=True, text=True,
                            timeout=120)
    assert script.returncode == 0, script.stderr
    assert script.stdout.rstrip().endswith("hydra_bash_completion psychrnn")

    def complete(line: str) -> list[str]:
        shell = (f'{script.stdout}\nCOMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; '
                 'COMP_WORDS=($COMP_LINE); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); '
                 'hydra_bash_completion; printf "%s\\n" "${COMPREPLY[@]}"')
        out = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                             env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
        assert "unknown command" not in out.stderr, out.stderr
        return out.stdout.split()

    assert complete("psychrnn ev") == ["evaluate"]
    assert "task=perceptual_discrimination" in complete("psychrnn train task=pe")


def fake_run(path: Path, accuracy: list[float], test_accuracy: float, test_loss: float) -> Path:
    """A run file with evaluations every 25 iterations of the given accuracy (train.stop_accuracy 0.9)."""
    config = OmegaConf.to_yaml({"train": {"stop_accuracy": 0.9, "iterations": 100}})
    iterations = 25 * np.arange(1, len(accuracy) + 1)
    write_run(path, {"attrs": {"status": "completed"}, "config": config,
                     "training": {"iteration": iterations, "accuracy": np.array(accuracy)},
                     "evaluation": {"attrs": {"accuracy": test_accuracy, "loss": test_loss, "n_trials": 500}}})
    return path


def test_objective_values_of_a_run_and_an_ensemble(tmp_path):
    from psychrnn_cli.objective import objective_value

    run = fake_run(tmp_path / "run.h5", [0.5, 0.92, 0.97], 0.95, 0.02)
    assert objective_value(run, "final_accuracy") == 0.95
    assert objective_value(run, "final_loss") == 0.02
    assert objective_value(run, "neg_iterations_to_criterion") == -50  # 0.92 >= 0.9 at the 2nd evaluation
    never = fake_run(tmp_path / "never.h5", [0.5, 0.6, 0.7, 0.8], 0.8, 0.1)
    assert objective_value(never, "neg_iterations_to_criterion") == -101  # -(train.iterations + 1)
    for k, acc in enumerate([0.9, 0.7]):  # an ensemble: the members' mean
        (tmp_path / "ens" / f"seed_{k}").mkdir(parents=True)
        fake_run(tmp_path / "ens" / f"seed_{k}" / "run.h5", [acc], acc, 0.1)
    assert objective_value(tmp_path / "ens", "final_accuracy") == pytest.approx(0.8)
    assert np.isnan(objective_value(tmp_path / "absent.h5", "final_accuracy"))


def test_sweeper_direction_must_match_the_objective():
    from psychrnn_cli.app import sweeper_problem

    def config(direction: str, objective: str):
        return OmegaConf.create({"hydra": {"sweeper": {"direction": direction}}, "train": {"objective": objective}})

    assert sweeper_problem(config("maximize", "final_accuracy")) is None
    assert sweeper_problem(config("minimize", "final_loss")) is None
    assert sweeper_problem(config("minimize", "final_accuracy")) == (
        "hydra.sweeper.direction=minimize, but train.objective=final_accuracy is to be maximized: add "
        "hydra.sweeper.direction=maximize")
    assert "direction=minimize" in sweeper_problem(config("maximize", "final_loss"))
    assert sweeper_problem(OmegaConf.create({"train": {"objective": "final_loss"}})) is None  # no optimizing sweeper


@pytest.mark.slow
def test_optuna_search_of_four_trials(tmp_path):
    """``psychrnn train -m hydra/sweeper=optuna``: 4 jobs, each returning its test accuracy."""
    sweep = tmp_path / "sweep"
    done = subprocess.run([str(BIN / "psychrnn"), "train", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4",
                           "hydra.sweeper.direction=maximize", "hydra.sweeper.sampler.seed=0",
                           "optimizer.learning_rate=interval(0.001,0.02)", *TINY, "train.progress=false",
                           f"hydra.sweep.dir={sweep}"], capture_output=True, text=True, cwd=tmp_path, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = sorted(p.parent.name for p in sweep.glob("*/run.h5"))
    assert jobs == ["0", "1", "2", "3"]
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    accuracies = []
    for job in jobs:
        with h5py.File(sweep / job / "run.h5") as f:
            accuracies.append(float(f["evaluation"].attrs["accuracy"]))
    assert results.best_value == pytest.approx(max(accuracies))  # the jobs returned their test accuracy
    assert 0.001 <= results.best_params["optimizer.learning_rate"] <= 0.02


def test_optuna_records_a_failed_job_as_a_failed_trial_and_goes_on(tmp_path):
    """A failed job returns None (NaN made Hydra's Optuna sweeper stop the search with a traceback).
    In a subprocess: Hydra's multirun sets up logging to the stderr it finds."""
    from tests.conftest import run_cli

    sweep = tmp_path / "sweep"
    done = run_cli("train", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.direction=maximize",
                   "hydra.sweeper.sampler.seed=0", *TINY[:1], *TINY[2:], "model.N_rec=choice(0,8)", "train.progress=false",
                   f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    err = done.stderr
    assert done.returncode == 1 and "Traceback" not in err, err[-2000:]  # 1: a run of the sweep failed
    assert "job 1 failed: ConfigError: model.N_rec must be a positive int, got 0" in err
    assert "sweep of 2 runs" in err and "1 completed, 1 failed" in err
    assert OmegaConf.load(sweep / "optimization_results.yaml").best_params == {"model.N_rec": 8}


@pytest.mark.parametrize("argv", [["-m", "model.N_rec=8", "model.N_rec=4,8"],
                                  ["-m", "hydra/sweeper=optuna", "hydra.sweeper.direction=maximize", "model.N_rec=8",
                                   "model.N_rec=choice(4,8)"]])
def test_a_key_given_as_a_value_and_as_a_sweep_is_refused_before_anything_runs(tmp_path, capsys, argv):
    """The Optuna sweeper kept the plain value silently and searched nothing."""
    from tests.test_results_kept import code_of

    assert code_of("train", *argv, f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep") == 2
    assert (f"model.N_rec is given twice (model.N_rec=8 and {argv[-1]}), one of them a sweep: give it once"
            in capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_a_key_given_twice_as_plain_values_takes_the_last():
    """Hydra's rule, which scripts that add an override to a list of defaults rely on."""
    from psychrnn_cli.overrides import check_command_line, compose

    argv = ["model.N_rec=8", "train.iterations=3", "model.N_rec=16"]
    check_command_line(argv)  # (raises a ConfigError for what it refuses)
    assert compose(argv).model.N_rec == 16


def test_licence_file_matches_the_declared_licence():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "2026 psychrnn-cli contributors" in text
    assert metadata.metadata("psychrnn-cli")["License"] == "MIT"


def test_log_lines_are_never_glued_to_the_progress_bar():
    import io
    import logging

    from tqdm import tqdm

    from psychrnn_cli.progress import BarSafeHandler

    stream = io.StringIO()
    bar = tqdm(total=10, file=stream, disable=False, ncols=60, mininterval=0)
    bar.update(3)
    handler = BarSafeHandler(stream)
    handler.emit(logging.LogRecord("psychrnn_cli", logging.INFO, __file__, 1, "iteration 3 evaluated", None, None))
    bar.update(1)
    bar.close()
    pieces = re.split(r"[\r\n]", stream.getvalue())
    assert "iteration 3 evaluated" in pieces  # a line of its own: the bar was cleared before it
    assert any("3/10" in piece for piece in pieces) and any("4/10" in piece for piece in pieces)  # redrawn after
