"""``train.ensemble=K``: K networks trained together, each member exactly a solo run with its seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli import load_run, train
from psychrnn_cli.build import ConfigError
from psychrnn_cli.sweep_summary import collect_runs
from psychrnn_cli.tasks.perceptual_discrimination import PerceptualDiscrimination
from tests.conftest import FAST

SEEDS = (5, 6, 7)
# recurrent noise and a curriculum whose accuracy stage each member passes when it gets there
RUN = [*FAST, "task.T=300", "seed=5", "model.rec_noise=0.05", "train.iterations=20", "train.eval_every=5",
       "train.stop_accuracy=null", "curriculum=coherence_ramp", "curriculum.metric_every=2",
       "curriculum.metric_trials=50", "curriculum.stages=[{task:{coherence:0.7},threshold:0.6},{task:{coherence:0.3}}]"]
ENSEMBLE = [*RUN, f"train.ensemble={len(SEEDS)}"]


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory) -> Path:
    return train(ENSEMBLE, run_dir=tmp_path_factory.mktemp("ensemble"))


@pytest.fixture(scope="module")
def solo_runs(tmp_path_factory) -> dict[int, dict]:
    return {seed: load_run(train([*RUN, f"seed={seed}"], run_dir=tmp_path_factory.mktemp(f"solo{seed}")))
            for seed in SEEDS}


def test_each_member_equals_the_solo_run_with_its_seed(ensemble_dir, solo_runs):
    starts = []
    for seed, solo in solo_runs.items():
        member = load_run(ensemble_dir / f"seed_{seed}")
        assert member["config"] == solo["config"] and member["attrs"]["seed"] == seed
        assert member["attrs"]["iterations"] == solo["attrs"]["iterations"] == 20
        for name, value in solo["model"]["weights"].items():
            np.testing.assert_array_equal(member["model"]["weights"][name], value, err_msg=f"seed {seed} {name}")
        np.testing.assert_array_equal(member["curriculum"]["start_iteration"], solo["curriculum"]["start_iteration"])
        np.testing.assert_array_equal(member["training"]["train_loss"], solo["training"]["train_loss"])
        starts.append(tuple(solo["curriculum"]["start_iteration"]))
    assert len(set(starts)) > 1, "members should pass the curriculum stage at different iterations"


def test_member_directories_are_ordinary_run_directories(ensemble_dir):
    runs = collect_runs(ensemble_dir)
    assert [run.path for run in runs] == [f"seed_{seed}" for seed in SEEDS]
    assert all(run.status == "completed" for run in runs)
    for seed in SEEDS:
        assert (ensemble_dir / f"seed_{seed}" / "checkpoint.h5").is_file()
        assert "member" in (ensemble_dir / f"seed_{seed}" / "train.log").read_text()
    assert "ensemble of 3 networks (seeds 5 to 7)" in (ensemble_dir / "train.log").read_text()


def test_continued_ensemble_ends_with_the_same_members(ensemble_dir, tmp_path):
    """8 iterations, then continued to 20 from the checkpoints: as if trained for 20 at once (the
    evaluation the short run made at its last iteration changes no noise that training sees)."""
    train([*ENSEMBLE, "train.iterations=8"], run_dir=tmp_path)
    assert load_run(tmp_path / "seed_6")["attrs"]["iterations"] == 8
    train(ENSEMBLE, run_dir=tmp_path)
    for seed in SEEDS:
        resumed, whole = load_run(tmp_path / f"seed_{seed}"), load_run(ensemble_dir / f"seed_{seed}")
        assert resumed["attrs"]["iterations"] == 20
        for name, value in whole["model"]["weights"].items():
            np.testing.assert_array_equal(resumed["model"]["weights"][name], value, err_msg=f"seed {seed} {name}")
        for name in ("start_iteration", "check_value"):
            np.testing.assert_array_equal(resumed["curriculum"][name], whole["curriculum"][name])


@pytest.mark.parametrize("size", [0, -2, 1.5, "two"])
def test_ensemble_size_must_be_a_positive_integer(size, tmp_path):
    with pytest.raises(ConfigError, match="train.ensemble must be a positive integer"):
        train([*FAST, f"train.ensemble={size}"], run_dir=tmp_path)


class GlobalStateTask(PerceptualDiscrimination):
    """Draws its onsets from NumPy's global random state, as PsychRNN's tasks do."""

    def generate_trial_params(self, batch, trial):
        return {**super().generate_trial_params(batch, trial), "onset": float(np.random.uniform(0, self.T / 2))}


def test_tasks_drawing_from_numpys_global_state_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="NumPy's global random state"):
        train([*FAST, "task=custom", "task._target_=tests.test_ensemble.GlobalStateTask", "train.ensemble=2"],
              run_dir=tmp_path)


@pytest.mark.slow
def test_sigterm_stops_every_member_with_a_checkpoint_and_the_rerun_finishes_them(ensemble_dir, tmp_path):
    """(The runs in subprocesses use one thread per op, the fixture's may not: equal to 1e-5.)"""
    import os
    import signal
    import subprocess
    import sys
    import time

    import h5py

    def iteration(seed: int) -> int:
        try:
            with h5py.File(tmp_path / f"seed_{seed}" / "checkpoint.h5", "r") as f:
                return int(f.attrs["iteration"])
        except (OSError, KeyError):
            return 0

    command = [sys.executable, "-m", "psychrnn_cli.cli", "train", *ENSEMBLE, "train.checkpoint_every=2",
               f"hydra.run.dir={tmp_path}"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while iteration(SEEDS[-1]) < 4 and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"finished before it could be stopped: {process.stderr.read()[-1500:]}"
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=120)
    for seed in SEEDS:
        stopped = load_run(tmp_path / f"seed_{seed}")
        assert stopped["attrs"]["status"] == "stopped" and "SIGTERM" in stopped["attrs"]["message"]
        assert 4 <= iteration(seed) < 20
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    for seed in SEEDS:
        resumed, whole = load_run(tmp_path / f"seed_{seed}"), load_run(ensemble_dir / f"seed_{seed}")
        assert resumed["attrs"]["status"] == "completed" and resumed["attrs"]["iterations"] == 20
        for name, value in whole["model"]["weights"].items():
            np.testing.assert_array_equal(resumed["model"]["weights"][name], value, err_msg=f"seed {seed} {name}")


def assert_members_equal_solo_runs(run: list[str], seeds: tuple[int, ...], ensemble_dir: Path, tmp_path: Path) -> None:
    for seed in seeds:
        solo = load_run(train([*run, f"seed={seed}"], run_dir=tmp_path / f"solo{seed}"))
        member = load_run(ensemble_dir / f"seed_{seed}")
        for name, value in solo["model"]["weights"].items():
            np.testing.assert_array_equal(member["model"]["weights"][name], value, err_msg=f"seed {seed} {name}")


@pytest.mark.parametrize("overrides", [
    ["model=lstm"], ["model=gru"], ["constraints=dale", "constraints.dale_ratio=0.8", "constraints.autapses=false"],
    ["constraints=two_regions", "constraints.fixed_outgoing=0.2"],
], ids=["lstm", "gru", "dale", "masks_and_fixed_entries"])
def test_members_of_other_models_and_constraints_equal_solo_runs(overrides, tmp_path):
    run = [*FAST, "task.T=300", "model.rec_noise=0.05", "train.iterations=6", "train.eval_every=3",
           "train.stop_accuracy=null", *overrides]
    train([*run, "seed=3", "train.ensemble=2"], run_dir=tmp_path / "ensemble")
    assert_members_equal_solo_runs(run, (3, 4), tmp_path / "ensemble", tmp_path)


def test_members_on_stages_of_other_trial_lengths_equal_solo_runs(tmp_path):
    """Members on curriculum stages with different trial lengths (batches of different shapes)."""
    run = [*RUN[:-1], "curriculum.stages=[{task:{T:300},threshold:0.6},{task:{T:400}}]"]
    train([*run, "train.ensemble=3"], run_dir=tmp_path / "ensemble")
    starts = {tuple(load_run(tmp_path / "ensemble" / f"seed_{seed}")["curriculum"]["start_iteration"])
              for seed in SEEDS}
    assert len(starts) > 1, starts
    assert_members_equal_solo_runs(run, SEEDS, tmp_path / "ensemble", tmp_path)


def test_a_members_steps_do_not_depend_on_the_other_members():
    """What makes a resumed ensemble, whose finished members are gone, train the others bit-identically:
    a member's weights are the same whichever members share the compiled step."""
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build
    from psychrnn_cli.ensemble import member_config
    from psychrnn_cli.network.ensemble_step import EnsembleSteps

    cfg = compose_config([*FAST, "task.T=300", "model.rec_noise=0.05"])
    tasks = {seed: build(member_config(cfg, seed)).task for seed in range(4)}
    batches = {seed: [task.get_trial_batch()[:3] for _ in range(3)] for seed, task in tasks.items()}

    def weights_after_3_steps(seeds: list[int]) -> dict[int, dict[str, np.ndarray]]:
        members = [build(member_config(cfg, seed)).steps for seed in seeds]
        ensemble = EnsembleSteps(members)
        for it in range(3):
            ensemble.train_step({k: batches[seed][it] for k, seed in enumerate(seeds)})
        return {seed: member.model.numpy_weights() for seed, member in zip(seeds, members)}

    together = weights_after_3_steps([0, 1, 2, 3])
    for seeds in ([2, 1], [2, 3]):
        for seed, weights in weights_after_3_steps(seeds).items():
            for name, value in weights.items():
                np.testing.assert_array_equal(value, together[seed][name], err_msg=f"{seeds} seed {seed} {name}")
