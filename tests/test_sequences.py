"""Trial sequences (task.trials_per_sequence, task.iti, task.feedback), the next_trial_params hook,
and the block prior task with its evaluation by block."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
import yaml
from omegaconf import DictConfig, OmegaConf

from psychrnn_cli import load_run, train
from psychrnn_cli.analysis import block_choices, choice_by_block, likely_side_choice
from psychrnn_cli.build import ConfigError, build_task, check_task, check_trial_memory
from psychrnn_cli.checkpoint import config_changes
from psychrnn_cli.sequences import SequenceTask, layout, param_arrays, per_trial
from psychrnn_cli.task import Task
from tests.conftest import FAST, REPO, run_cli


def task_node(name: str, **values) -> DictConfig:
    """The config node of built-in task ``name`` with ``values`` changed (without composing the whole config)."""
    return OmegaConf.merge(OmegaConf.load(REPO / "configs" / "task" / f"{name}.yaml"), values)


class Counting(Task):
    """3 steps per trial (dt 10, T 30); the input is the trial's ``value``; the correct output is
    ``side`` (target 1 there, 0 on the other), scored at every step. ``value`` counts the trials of
    a sequence (the length of the history), ``side`` alternates 1, 0, 1, ..."""

    def __init__(self, N_batch: int = 2, **kwargs) -> None:
        super().__init__(1, 2, dt=10, tau=100, T=30, N_batch=N_batch, **kwargs)

    def generate_trial_params(self, batch, trial):
        return self.next_trial_params(batch, trial, [])

    def next_trial_params(self, batch, trial, history):
        return {"value": float(len(history) + 1), "side": (len(history) + 1) % 2}

    def trials(self, params):
        value = np.array([p["value"] for p in params])
        side = np.array([p["side"] for p in params])
        x = np.repeat(value[:, None, None], 3, axis=1)
        y = np.zeros((len(params), 3, 2))
        y[np.arange(len(params)), :, side] = 1.0
        return x, y, np.ones_like(y)


def test_sequence_builder_places_trials_iti_and_feedback_by_hand():
    task = SequenceTask(Counting(seed=0), trials_per_sequence=3, iti=20, feedback="correct_side")
    x, y, mask, params = task.get_trial_batch(2)
    # 3 segments of 2 ITI steps + 3 trial steps; inputs: value, then feedback for outputs 0 and 1
    assert (task.N_in, task.N_out, task.N_steps) == (3, 2, 15)
    assert x.shape == (2, 15, 3) and y.shape == mask.shape == (2, 15, 2)
    expected_value = [0, 0, 1, 1, 1, 0, 0, 2, 2, 2, 0, 0, 3, 3, 3]
    expected_mask = [0, 0, 1, 1, 1] * 3
    # trial 1 (side 1) is followed by feedback on output 1, trial 2 (side 0) by feedback on output 0
    expected_feedback_0 = [0] * 10 + [1, 1, 0, 0, 0]
    expected_feedback_1 = [0] * 5 + [1, 1, 0, 0, 0] + [0] * 5
    expected_target_1 = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    for b in range(2):
        np.testing.assert_array_equal(x[b, :, 0], expected_value)
        np.testing.assert_array_equal(x[b, :, 1], expected_feedback_0)
        np.testing.assert_array_equal(x[b, :, 2], expected_feedback_1)
        np.testing.assert_array_equal(mask[b, :, 0], expected_mask)
        np.testing.assert_array_equal(y[b, :, 1], expected_target_1)
    np.testing.assert_array_equal(param_arrays(task, params)["value"], [[1, 2, 3], [1, 2, 3]])
    assert [p["side"] for p in params[1]["trials"]] == [1, 0, 1]
    assert layout(task) == {"trials_per_sequence": 3, "iti_steps": 2, "trial_steps": 3}

    # accuracy is per trial: choose output 1 everywhere -> trials 1 and 3 right, trial 2 wrong
    always_1 = np.zeros_like(y)
    always_1[:, :, 1] = 1.0
    assert task.accuracy_function(y, always_1, mask) == pytest.approx(2 / 3)
    trial_task, (split_y,), trials = per_trial(task, [y], params)
    assert trial_task is task.trial_task and split_y.shape == (6, 3, 2)
    assert [t["position"] for t in trials] == [0, 1, 2, 0, 1, 2]


def test_one_trial_per_sequence_is_the_task_itself_bit_for_bit():
    # The hash of 2 batches of 8 trials of three built-in tasks (seed 0), computed with the code
    # before trial sequences existed (the parent of this change on main; tmp script hashing
    # x, y, mask as float64 bytes for task=perceptual_discrimination, anti_saccade, ready_set_go).
    digest = hashlib.sha256()
    for name in ("perceptual_discrimination", "anti_saccade", "ready_set_go"):
        task = build_task(task_node(name), 8, np.random.default_rng(0))
        assert not isinstance(task, SequenceTask)
        for _ in range(2):
            for array in task.get_trial_batch()[:3]:
                digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    assert digest.hexdigest() == "2af8a54f06e3c0682040dfad07582abb6043f51efc688707e2d08c1436f1f0a7"

    # wrapped with K = 1 and no ITI, a task makes the same arrays from the same draws
    node = task_node("perceptual_discrimination")
    plain = build_task(node, 5, np.random.default_rng(3))
    wrapped = SequenceTask(build_task(node, 5, np.random.default_rng(3)))
    for a, b in zip(plain.get_trial_batch()[:3], wrapped.get_trial_batch()[:3]):
        np.testing.assert_array_equal(a, b)

    # a run trained before the sequence keys existed continues: its config has no changes
    before = {"task": {"_target_": "x.Y", "dt": 10}, "seed": 0}
    after = {"task": {"_target_": "x.Y", "dt": 10, "trials_per_sequence": 1, "iti": 0, "feedback": "none"}, "seed": 0}
    assert config_changes(yaml.safe_dump(before), yaml.safe_dump(after)) == []


class Broken(Counting):
    def __init__(self, fault: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.fault = fault

    def next_trial_params(self, batch, trial, history):
        params = super().next_trial_params(batch, trial, history)
        if history and self.fault == "list":
            return [1, 2]
        if history and self.fault == "keys":
            return {**params, "extra": 1}
        if self.fault == "shape":
            params["value"] = np.zeros(len(history) + 1)
        return params


@pytest.mark.parametrize("fault,message", [
    ("list", "returned list ([1, 2]) for trial 1 of a sequence; it must return a dict"),
    ("keys", "returned the keys ['extra', 'side', 'value'] for trial 1 of a sequence, but ['side', 'value'] for its "
             "first trial"),
    ("shape", "returned value of shape (2,) for trial 1 of a sequence, but (1,) for its first trial"),
])
def test_a_malformed_history_hook_is_a_config_error(fault, message):
    with pytest.raises(ConfigError, match="^" + re.escape(f"task Broken: next_trial_params {message}")) as err:
        check_task(SequenceTask(Broken(fault, seed=0), trials_per_sequence=3))
    assert "\n" not in str(err.value)


def test_sequence_options_and_memory_are_checked(monkeypatch):
    for overrides, message in [
        ({"trials_per_sequence": 0}, "task.trials_per_sequence must be a positive int, got 0"),
        ({"trials_per_sequence": 2, "feedback": "correct_side"}, "set task.iti > 0 (ms)"),
        ({"iti": -5}, "task.iti must be a number >= 0, got -5"),
        ({"feedback": "rewards"}, "task.feedback must be one of none, correct_side, reward, got 'rewards'"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            build_task(task_node("perceptual_discrimination", **overrides), 2, np.random.default_rng(0))
    task = build_task(task_node("block_prior"), 2, np.random.default_rng(0))
    # 20 trials of (400 + 100) ms at dt 20 = 500 steps; per sequence 500 x (4 + 6 + 50) x 8 x 2 bytes = 480 kB
    monkeypatch.setattr("psychrnn_cli.build.physical_memory", lambda: 48_000_000)
    check_trial_memory(task, 100, 50, "train.batch_size=")
    with pytest.raises(ConfigError, match=r"^train.batch_size=101 \(sequences of 20 trials, 500 steps each\) needs "
                                          r"about 0.0485 GB .* use train.batch_size=50 or fewer \(or fewer "
                                          r"task.trials_per_sequence\)$"):
        check_trial_memory(task, 101, 50, "train.batch_size=")


@pytest.mark.parametrize("iti,steps", [(1e-12, 1), (1e-9, 1), (1, 1), (10, 1), (10.000000001, 1), (11, 2), (30, 3)])
@pytest.mark.parametrize("feedback", ["none", "reward"])
def test_the_iti_is_rounded_up_to_whole_steps_and_a_positive_one_is_never_lost(iti, steps, feedback):
    """dt 10 ms. A positive ITI shorter than 1e-9 steps was 0 steps: feedback then never reached the network."""
    task = SequenceTask(Counting(), trials_per_sequence=2, iti=iti, feedback=feedback)
    assert task.iti_steps == steps and task.N_steps == 2 * (steps + 3)


def test_cli_refuses_trials_per_sequence_below_one(tmp_path):
    result = run_cli("train", "task.trials_per_sequence=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "task.trials_per_sequence must be a positive int, got 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_block_prior_switches_blocks_and_draws_sides_from_the_prior():
    node = task_node("block_prior", block_length=[2, 2], prior=1.0, trials_per_sequence=7)
    task = build_task(node, 50, np.random.default_rng(0))
    values = param_arrays(task, task.get_trial_batch()[3])  # each [50 sequences, 7 trials]
    first = values["prior"][:, :1]
    assert set(np.unique(first)) <= {0.0, 1.0}
    np.testing.assert_array_equal(values["prior"], np.hstack([first, first, 1 - first, 1 - first, first, first, 1 - first]))
    np.testing.assert_array_equal(values["block_trial"], np.tile([0, 1, 0, 1, 0, 1, 0], (50, 1)))
    np.testing.assert_array_equal(values["direction"], values["prior"])  # prior 1: always the likely side
    assert 0 < first.mean() < 1  # both first blocks occur


def test_choice_by_block_by_hand():
    outputs = np.zeros((6, 1, 2))
    chose_1 = np.array([1, 1, 0, 0, 0, 1], dtype=bool)
    outputs[chose_1, 0, 1] = outputs[~chose_1, 0, 0] = 1.0
    mask = np.ones_like(outputs)
    prior = np.array([0.8, 0.8, 0.8, 0.2, 0.2, 0.2])
    stimulus = np.array([0.0, 0.0, 0.1, 0.0, 0.1, 0.1])
    priors, levels, p, counts = choice_by_block(prior, stimulus, outputs, mask)
    np.testing.assert_array_equal(priors, [0.2, 0.8])
    np.testing.assert_array_equal(levels, [0.0, 0.1])
    np.testing.assert_array_equal(p, [[0.0, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(counts, [[1, 2], [2, 1]])
    # the likely side: output 1 in 0.8 blocks (trials 0, 1 yes; 2 no), output 0 in 0.2 blocks (3, 4 yes; 5 no)
    assert likely_side_choice(prior, outputs, mask) == pytest.approx(4 / 6)
    values = {"prior": prior, "coherence": np.abs(stimulus), "direction": np.array([1, 0, 1, 0, 0, 1])}
    blocks = block_choices(values, outputs, mask)
    assert blocks["attrs"]["p_likely_side_zero_coherence"] == pytest.approx(1.0)  # trials 0, 1, 3
    np.testing.assert_array_equal(blocks["signed_coherence"], [-0.1, 0.0, 0.1])


@pytest.fixture(scope="module")
def sequence_run(tmp_path_factory):
    """A few iterations of block_prior in sequences of 3 trials (training, resume, after-training)."""
    overrides = [*FAST, "task=block_prior", "task.trials_per_sequence=3", "train.batch_size=8", "train.eval_every=2",
                 "train.eval_trials=8", "train.test_trials=8", "train.save_trials=4", "train.checkpoint_every=2",
                 "train.iterations=4", "model.rec_noise=0.05"]
    whole = train(overrides, run_dir=tmp_path_factory.mktemp("whole"))
    return overrides, whole


@pytest.mark.slow
def test_sequences_resume_bit_identical(sequence_run, tmp_path):
    overrides, whole = sequence_run
    train([*overrides[:-2], "train.iterations=2", overrides[-1]], run_dir=tmp_path)
    resumed = load_run(train(overrides, run_dir=tmp_path))
    run = load_run(whole)
    for name, value in run["model"]["weights"].items():
        np.testing.assert_array_equal(value, resumed["model"]["weights"][name], err_msg=name)
    for name in ("loss", "accuracy", "train_loss"):
        np.testing.assert_array_equal(run["training"][name], resumed["training"][name], err_msg=name)


def test_sequence_runs_record_their_layout(sequence_run):
    run = load_run(sequence_run[1])
    assert run["attrs"]["status"] == "completed" and run["attrs"]["iterations"] == 4
    trials = run["trials"]
    assert trials["attrs"]["trials_per_sequence"] == 3 and trials["attrs"]["iti_steps"] == 5
    assert trials["inputs"].shape == (4, 3 * 25, 4) and trials["prior"].shape == (4, 3)


def test_evaluate_and_plot_report_choices_by_block(sequence_run, tmp_path):
    from psychrnn_cli.commands.evaluate import evaluate_run, table
    from psychrnn_cli.plots import run_figures

    run = load_run(sequence_run[1])
    result = evaluate_run(run, 20, 0, [], noise=False)
    assert result["attrs"]["n_trials"] == 20 and result["attrs"]["trials_per_sequence"] == 3
    assert result["blocks"]["n_trials"].sum() == 60  # every trial of every sequence, once
    np.testing.assert_array_equal(result["blocks"]["prior"], [0.2, 0.8])
    assert result["conditions"]["coherence"]["n_trials"].sum() == 60
    assert "P(choose output 1) by block prior" in table(result)
    figures = run_figures(sequence_run[1], n_trials=10)
    assert set(figures) == {"training", "example_trials", "accuracy_per_condition", "psychometric_blocks", "weights",
                            "trajectories"}
    curves = figures["psychometric_blocks"].axes[0].get_legend().get_texts()
    assert [t.get_text() for t in curves] == ["block P(output 1 correct) = 0.2", "block P(output 1 correct) = 0.8"]


@pytest.mark.slow
def test_block_prior_learns_the_prior_in_sequences_of_20(tmp_path):
    """Acceptance: ``psychrnn train task=block_prior task.trials_per_sequence=20`` (defaults otherwise)
    trains until, on fresh sequences at coherence 0, the network chooses the side its block favours
    in at least 65% of trials, while its accuracy over all coherences is at least 80%.

    The run is checked every 300 iterations: it continues from its checkpoint with more
    train.iterations (bit-identical to a run without the pauses), up to the default 3000.
    """
    from psychrnn_cli.commands.evaluate import evaluate_run
    from psychrnn_cli.plots import plot_run

    overrides = ["task=block_prior", "task.trials_per_sequence=20", "train.progress=false"]
    for iterations in range(300, 3001, 300):
        run = load_run(train([*overrides, f"train.iterations={iterations}"], run_dir=tmp_path))
        accuracy = evaluate_run(run, 100, 1, [], noise=True)["attrs"]["accuracy"]
        zero = evaluate_run(run, 100, 2, ["task.coherences=[0.0]"], noise=True)["blocks"]
        likely = zero["attrs"]["p_likely_side_zero_coherence"]
        if (accuracy >= 0.8 and likely >= 0.65) or run["attrs"]["status"] != "completed" or \
                run["attrs"]["iterations"] < iterations:  # (stopped early: stop_accuracy)
            break
    print(f"block_prior: {run['attrs']['iterations']} iterations, accuracy {accuracy:.3f}, "
          f"P(likely side | coherence 0) {likely:.3f}, training time {run['training']['wall_time'][-1] / 60:.1f} min")
    assert accuracy >= 0.8 and likely >= 0.65
    paths = plot_run(tmp_path)
    assert tmp_path / "plots" / "psychometric_blocks.png" in paths


def test_block_prior_vectorized_and_per_step_paths_agree():
    from psychrnn_cli.tasks.block_prior import BlockPrior

    task_a, task_b = BlockPrior(seed=5), BlockPrior(seed=5)
    params = [task_a.generate_trial_params(1, i) for i in range(20)]
    assert params == [task_b.generate_trial_params(1, i) for i in range(20)]
    for fast, slow in zip(task_a.trials(params), Task.trials(task_b, params)):
        np.testing.assert_array_equal(fast, slow)
