"""task=multitask: one network, many tasks (rule inputs, channel layout, mixing, per-task accuracy,
resume), and the task-variance analysis with cluster lesions."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build_task
from psychrnn_cli.task_variance import cluster_units, silhouette, task_variance
from psychrnn_cli.tasks.multitask import MultiTask
from tests.conftest import FAST

QUIET = {"stim_noise": 0.0}  # noise-free inputs, so that blocks can be compared exactly


def two_tasks(**kwargs) -> MultiTask:
    return MultiTask([{"name": "perceptual_discrimination", **QUIET}, {"name": "delayed_discrimination", **QUIET}],
                     T=500, seed=0, **kwargs)


# --- layout, rule input, mask -------------------------------------------------------------------

def test_side_by_side_layout_rule_channels_and_mask():
    task = two_tasks()
    assert (task.N_in, task.N_out) == (2 + 2 + 2, 2 + 2)  # PD inputs, DD inputs, 2 rule channels; outputs side by side
    x, y, mask, params = task.get_trial_batch(40)
    k = np.array([p["task_index"] for p in params])
    assert set(k) == {0, 1} and [p["task"] for p in params[:3]] == [task.labels[i] for i in k[:3]]
    np.testing.assert_array_equal(x[:, :, 4:6], np.repeat(np.eye(2)[k][:, None, :], task.N_steps, axis=1))
    pd, dd = k == 0, k == 1
    assert not x[pd][:, :, 2:4].any() and not x[dd][:, :, 0:2].any()  # the other task's inputs stay 0
    assert not mask[pd][:, :, 2:4].any() and not mask[dd][:, :, 0:2].any()  # ... and its outputs are not scored
    assert mask[pd][:, :, 0:2].any(axis=(1, 2)).all() and mask[dd][:, :, 2:4].any(axis=(1, 2)).all()
    # a task's block is what the task alone makes of the same trial parameters
    alone = task.members[1].task
    x_dd, y_dd, mask_dd = alone.trials([params[i] for i in np.flatnonzero(dd)])
    np.testing.assert_array_equal(x[dd][:, :, 2:4], x_dd)
    np.testing.assert_array_equal(y[dd][:, :, 2:4], y_dd)
    np.testing.assert_array_equal(mask[dd][:, :, 2:4], mask_dd)


def test_shared_channels_and_rule_window():
    task = two_tasks(share_channels=True, rule_window=[100, 300])
    assert (task.N_in, task.N_out) == (2 + 2, 2)
    x, _, _, params = task.get_trial_batch(10)
    on = (task.time_ms >= 100) & (task.time_ms < 300)  # steps 10..29 at dt 10
    for trial, p in zip(x, params):
        expected = np.zeros((task.N_steps, 2))
        expected[on, p["task_index"]] = 1.0
        np.testing.assert_array_equal(trial[:, 2:4], expected)


def test_shared_channels_need_the_same_layout():
    with pytest.raises(ValueError, match=r"share_channels=true needs the same channels.*anti_saccade has N_in = 5.*"
                                         r"perceptual_discrimination has 2"):
        MultiTask(["perceptual_discrimination", "anti_saccade"], share_channels=True, T=1500)


def test_a_shorter_task_is_padded_with_mask_zero():
    task = MultiTask([{"name": "perceptual_discrimination", "T": 300, **QUIET}, {"name": "delayed_discrimination",
                                                                                   **QUIET}], T=500, seed=1)
    assert task.N_steps == 50 and task.members[0].task.N_steps == 30
    x, y, mask, params = task.get_trial_batch(20)
    pd = np.array([p["task_index"] for p in params]) == 0
    assert pd.any()
    assert not mask[pd][:, 30:].any() and not y[pd][:, 30:].any() and not x[pd][:, 30:, :4].any()
    assert (x[pd][:, 30:, 4] == 1).all()  # the rule stays on for the whole trial


# --- mixing ----------------------------------------------------------------------------------

def test_proportions_and_one_task_per_batch():
    only_first = two_tasks(proportions=[2, 0])
    assert {p["task_index"] for p in only_first.get_trial_batch(50)[3]} == {0}
    three_to_one = two_tasks(proportions=[3, 1])
    share = np.mean([p["task_index"] == 0 for p in three_to_one.get_trial_batch(2000)[3]])
    assert abs(share - 0.75) < 0.04  # binomial std 0.0097
    per_batch = two_tasks(mixing="batch")
    tasks_of_batches = [{p["task_index"] for p in per_batch.get_trial_batch(8)[3]} for _ in range(20)]
    assert all(len(s) == 1 for s in tasks_of_batches) and set().union(*tasks_of_batches) == {0, 1}


# --- accuracy -------------------------------------------------------------------------------

def test_accuracy_per_task_and_overall():
    task = two_tasks()
    _, y, mask, params = task.get_trial_batch(30)
    k = np.array([p["task_index"] for p in params])
    outputs = y.copy()
    outputs[k == 1] = y[k == 1][:, :, [0, 1, 3, 2]]  # every DD trial answers the other choice
    by_task = task.accuracy_by_task(y, outputs, mask, k)
    assert by_task == {"perceptual_discrimination": (1.0, int((k == 0).sum())),
                       "delayed_discrimination": (0.0, int((k == 1).sum()))}
    assert task.accuracy_function(y, outputs, mask) == pytest.approx(np.mean(k == 0))


class AnswersOneTask:
    """Stands in for the compiled steps: the target on trials of task 0, the other choice on the others."""

    def __init__(self, task: MultiTask) -> None:
        self.task = task

    def predict(self, x: np.ndarray):
        on_task_0 = x[:, 0, self.task.rule_channels.start] == 1  # the rule input says the task
        _, y, _ = self.task.trials(self.params)
        return np.where(on_task_0[:, None, None], y, y[:, :, [0, 1, 3, 2]]), None, {}


def test_early_stop_waits_for_every_task(monkeypatch):
    from psychrnn_cli.curriculum import Curriculum
    from psychrnn_cli.prefetch import BatchSource
    from psychrnn_cli.training import TrainSettings, Trainer

    task = two_tasks()
    steps = AnswersOneTask(task)
    original = task.get_trial_batch

    def remember(n=None):  # the fake network answers from the trial parameters
        batch = original(n)
        steps.params = batch[3]
        return batch

    monkeypatch.setattr(task, "get_trial_batch", remember)
    trainer = Trainer(steps, Curriculum.single(task), task, TrainSettings(eval_trials=40, progress=False),
                      BatchSource(None))
    trainer.state.window = [{"loss": 1.0}]
    assert trainer._evaluate_into_curves(0.0) == 0.0  # task 1 is never right, whatever the overall accuracy
    columns = trainer.state.curves.columns
    assert columns["accuracy_perceptual_discrimination"] == [1.0]
    assert columns["accuracy_delayed_discrimination"] == [0.0]
    assert 0 < columns["accuracy"][0] < 1


# --- bad input: a one-line ConfigError before training -------------------------------------------

@pytest.mark.parametrize("override, message", [
    ("task.tasks=[perceptual_discrimination,anti_sacade]", r"task.tasks\[1\]: unknown task 'anti_sacade'; did you "
                                                            r"mean anti_saccade\?"),
    ("task.proportions=[1,-1]", r"task.proportions must be a list of numbers >= 0"),
    ("task.trials_per_sequence=2", r"task=multitask does not run in sequences .*: its tasks' trials have different "
                                   r"parameters"),  # (two trials of one task could pass the check, then fail training)
    ("task.iti=100", r"task=multitask does not run in sequences"),
])
def test_bad_multitask_config_is_a_config_error(override, message):
    cfg = compose_config(["task=multitask", override])
    with pytest.raises(ConfigError, match=message):
        build_task(cfg.task, 5, np.random.default_rng(0))


@pytest.mark.parametrize("tasks, options, message", [
    (["perceptual_discrimination", "perceptual_discrimination"], {}, r"lists perceptual_discrimination twice"),
    (["perceptual_discrimination", {"name": "delayed_discrimination", "dt": 5}], {},
     r"task.tasks\[1\] \(delayed_discrimination\) has dt = 5 but the multi-task has task.dt = 10"),
    (["perceptual_discrimination", {"name": "anti_saccade", "colour": 1}], {},
     r"task.tasks\[1\].colour is not an argument of AntiSaccade"),
    (["perceptual_discrimination", {"name": "delayed_discrimination", "T": 3000}], {"T": 2000},
     r"delayed_discrimination has T = 3000 ms, longer than task.T = 2000 ms"),
    (["perceptual_discrimination"], {}, r"at least two tasks"),
    (["perceptual_discrimination", "delayed_discrimination"], {"proportions": [0, 0]}, r"must have a positive sum"),
    (["perceptual_discrimination", "delayed_discrimination"], {"proportions": [1, 1, 1]}, r"must list 2 weights"),
    (["perceptual_discrimination", "delayed_discrimination"], {"mixing": "epoch"}, r"one of trial, batch"),
    (["perceptual_discrimination", "delayed_discrimination"], {"rule_window": [-100, 500]},
     r"task.rule_window \[-100, 500\] must start at 0 ms or later"),
    (["perceptual_discrimination", "delayed_discrimination"], {"rule_window": [500, 100]}, r"end after it starts"),
    (["perceptual_discrimination", {"name": "delayed_discrimination", "N_batch": 3}], {},
     r"task.tasks\[1\].N_batch is set by the multi-task itself"),
    (["perceptual_discrimination", {"name": "delayed_discrimination", "seed": 3}], {},
     r"task.tasks\[1\].seed is set by the multi-task itself"),
])
def test_bad_multitask_arguments_are_refused(tasks, options, message):
    with pytest.raises(ValueError, match=message):
        MultiTask(tasks, **options)


def test_a_neurogym_id_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym", None)  # makes `import neurogym` fail
    cfg = compose_config(["task=multitask", "task.tasks=[perceptual_discrimination,GoNogo-v0]"])
    with pytest.raises(ConfigError, match=r"NeuroGym is not installed: pip install 'psychrnn-cli\[neurogym\]'"):
        build_task(cfg.task, 5, np.random.default_rng(0))


# --- task variance on a synthetic network -------------------------------------------------------

def test_task_variance_and_clusters_of_known_units():
    # 8 trials per task; s = +-1 per trial (half each). Units 0-2 carry c*s in task 0 only, units
    # 3-5 in task 1 only, unit 6 is silent: variance across trials = c^2 in the unit's task, else 0.
    s = np.tile([1.0, -1.0], 4)
    c = np.array([1.0, 2.0, 3.0])
    activity = np.zeros((16, 5, 7))
    activity[:8, :, 0:3] = s[:, None, None] * c
    activity[8:, :, 3:6] = s[:, None, None] * c
    index = np.repeat([0, 1], 8)
    epoch = np.ones((16, 5), dtype=bool)
    epoch[:, 0] = False  # a step outside the epoch, with a different value, must not count
    activity[:, 0] += np.arange(16)[:, None]
    variance = task_variance(activity, index, 2, epoch)
    expected = np.zeros((7, 2))
    expected[0:3, 0] = expected[3:6, 1] = c ** 2
    np.testing.assert_allclose(variance, expected)
    clusters = cluster_units(variance)
    assert clusters.k == 2
    np.testing.assert_array_equal(clusters.cluster, [0, 0, 0, 1, 1, 1, -1])  # cluster 0 prefers task 0
    np.testing.assert_array_equal(clusters.normalised[0], [1.0, 0.0])
    assert clusters.order().tolist() == [0, 1, 2, 3, 4, 5]


def test_silhouette_of_two_pairs():
    data = np.array([[0.0], [1.0], [10.0], [11.0]])
    # a = 1 for every point; b = 10.5, 9.5, 9.5, 10.5 (mean distance to the other pair)
    expected = np.mean([9.5 / 10.5, 8.5 / 9.5, 8.5 / 9.5, 9.5 / 10.5])
    assert silhouette(data, np.array([0, 0, 1, 1])) == pytest.approx(expected)


# --- training, resume, analyse, lesion (one small network) ---------------------------------------

MULTI = [*FAST, "task=multitask", "task.tasks=[perceptual_discrimination,delayed_discrimination]", "task.T=400",
         "model.N_rec=24", "train.eval_every=5", "train.checkpoint_every=5", "train.stop_accuracy=null",
         "curriculum.metric_every=5",  # sequential learning: the first task alone, then both
         "curriculum.stages=[{task:{proportions:[1,0]},metric:iterations,threshold:10},{task:{proportions:[1,1]}}]"]


@pytest.fixture(scope="module")
def multitask_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("multitask")
    return run_dir, load_run(train([*MULTI, "train.iterations=20"], run_dir=run_dir))


def test_curves_hold_accuracy_per_task_and_trials_their_task(multitask_run):
    _, run = multitask_run
    curves = run["training"]
    assert len(curves["accuracy_perceptual_discrimination"]) == len(curves["iteration"]) == 4
    assert set(run["trials"]["task_index"]) <= {0, 1}
    assert json.loads(run["trials"]["attrs"]["tasks"]) == ["perceptual_discrimination", "delayed_discrimination"]
    assert run["curriculum"]["start_iteration"].tolist() == [0, 10]


def test_multitask_resume_is_bit_identical(multitask_run, tmp_path):
    from tests.test_resume import assert_same_run

    train([*MULTI, "train.iterations=10"], run_dir=tmp_path)
    resumed = load_run(train([*MULTI, "train.iterations=20"], run_dir=tmp_path))
    assert_same_run(multitask_run[1], resumed)
    for name in ("accuracy_perceptual_discrimination", "accuracy_delayed_discrimination"):
        np.testing.assert_array_equal(resumed["training"][name], multitask_run[1]["training"][name])


def test_evaluation_and_summary_report_accuracy_per_task(multitask_run):
    from psychrnn_cli.commands.evaluate import evaluate_run, table
    from psychrnn_cli.sweep_summary import run_table, summarize_run

    run_dir, run = multitask_run
    final = run["evaluation"]["attrs"]
    labels = ("perceptual_discrimination", "delayed_discrimination")
    assert all(0 <= final[f"accuracy_{label}"] <= 1 for label in labels)
    header, rows = run_table([summarize_run(run_dir, run_dir.parent)])
    after = header.index("accuracy") + 1
    assert set(header[after:after + 2]) == {f"accuracy_{label}" for label in labels}
    assert rows[0][header.index("accuracy_delayed_discrimination")] == final["accuracy_delayed_discrimination"]
    result = evaluate_run(run, 60, 0, [], noise=False)
    n = [result["attrs"][f"n_trials_{label}"] for label in labels]
    assert sum(n) == 60
    # the overall accuracy is the trial-weighted mean of the tasks'
    assert result["attrs"]["accuracy"] == pytest.approx(
        sum(result["attrs"][f"accuracy_{label}"] * k for label, k in zip(labels, n)) / 60)
    assert f"delayed_discrimination: accuracy {result['attrs']['accuracy_delayed_discrimination']:.4f} on {n[1]} " \
           "trials" in table(result)


def test_task_variance_analysis_map_and_cluster_lesion(multitask_run, tmp_path, capsys):
    from psychrnn_cli.commands import analyse, simulate
    from psychrnn_cli.task_variance import task_variance_figure

    run_dir, _ = multitask_run
    assert analyse.main([str(run_dir), "--task-variance", "--trials", "30", "--clusters", "2"]) == 0
    result = load_run(run_dir)["analysis"]["task_variance"]
    assert result["attrs"]["k"] == 2 and set(result["cluster"]) <= {-1, 0, 1} and (result["cluster"] == 1).any()
    assert result["variance"].shape == (24, 2)
    assert sorted(result["order"]) == np.flatnonzero(result["cluster"] >= 0).tolist()
    assert len(task_variance_figure(result).axes[0].images) == 1
    out = tmp_path / "lesion.h5"
    assert simulate.main([str(run_dir), "--lesion", "cluster1", "--trials", "40", "--out", str(out)]) == 0
    attrs = load_run(out)["attrs"]
    assert {"accuracy_perceptual_discrimination", "baseline_accuracy_delayed_discrimination"} <= set(attrs)
    assert "perceptual_discrimination: " in capsys.readouterr().out
    assert simulate.main([str(run_dir), "--lesion", "cluster2", "--out", str(tmp_path / "x.h5")]) == 2
    assert "clusters are cluster0..cluster1" in capsys.readouterr().err
    assert simulate.main([str(run_dir), "--lesion", "cluster0,cluster1", "--out", str(tmp_path / "x.h5")]) == 2
    assert "clusters are cluster0..cluster1; name one cluster (lists take unit indices only)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--task-variance", "--max-clusters", "1"], "argument --max-clusters: must be at least 2"),
    (["--task-variance", "--epoch", "300-100"], "--epoch '300-100': the window must end after it starts"),
    (["--task-variance", "--epoch", "5000-6000"], "--epoch 5000-6000: no time step of task perceptual_discrimination "
                                                  "(0 to 400 ms) is in the epoch of two or more of its 30 trials"),
    (["--task-variance", "--trials", "1"], "--epoch response: no time step of task perceptual_discrimination"),
    (["--task-variance", "--initial", "5"], "--initial is an option of --fixed-points, not of --task-variance"),
    (["--task-variance", "--input", "1,2"], "--input is an option of --fixed-points"),
    (["--task-variance", "--q-tol", "1e-6"], "--q-tol is an option of --fixed-points"),
    (["--fixed-points", "--epoch", "all"], "--epoch is an option of --task-variance, not of --fixed-points"),
    (["--fixed-points", "--clusters", "3"], "--clusters is an option of --task-variance"),
    (["--fixed-points", "--max-clusters", "3"], "--max-clusters is an option of --task-variance"),
])
def test_analysis_options_that_do_not_apply_are_refused(multitask_run, capsys, argv, message):
    from psychrnn_cli.cli import main

    run_file = multitask_run[0] / "run.h5"
    before = run_file.read_bytes()
    try:
        code = main(["analyse", str(multitask_run[0]), *argv, *([] if "--trials" in argv else ["--trials", "30"])])
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert run_file.read_bytes() == before


def test_task_variance_of_a_single_task_run_is_refused(trained_run, capsys):
    from psychrnn_cli.commands import analyse

    assert analyse.main([str(trained_run), "--task-variance", "--no-save"]) == 2
    assert "--task-variance needs a multi-task run (task=multitask)" in capsys.readouterr().err


# --- acceptance (slow) ----------------------------------------------------------------------------

FOUR_TASKS = ("perceptual_discrimination", "delayed_discrimination", "anti_saccade", "context_dependent_integration")


@pytest.mark.slow
def test_four_tasks_reach_85_percent_each_then_clusters_map_and_lesions(tmp_path, capsys):
    from psychrnn_cli.commands import analyse, plot, simulate
    from psychrnn_cli.commands.evaluate import evaluate_run

    run_dir = tmp_path / "four"
    train(["train.progress=false", "task=multitask", f"task.tasks=[{','.join(FOUR_TASKS)}]", "model.N_rec=128",
           "train.iterations=4000", "train.eval_every=100", "train.stop_accuracy=0.92"], run_dir=run_dir)
    run = load_run(run_dir)
    assert all(len(run["training"][f"accuracy_{label}"]) == len(run["training"]["iteration"]) for label in FOUR_TASKS)
    for k, label in enumerate(FOUR_TASKS):  # 500 fresh trials of each task
        only = ",".join("1" if j == k else "0" for j in range(4))
        result = evaluate_run(run, 500, 1, [f"task.proportions=[{only}]"], noise=True)
        assert result["attrs"][f"n_trials_{label}"] == 500
        assert result["attrs"][f"accuracy_{label}"] >= 0.85, (label, result["attrs"])
    assert analyse.main([str(run_dir), "--task-variance", "--trials", "200"]) == 0
    clusters = load_run(run_dir)["analysis"]["task_variance"]
    assert clusters["attrs"]["k"] >= 2
    assert plot.main([str(run_dir), "--trials", "100"]) == 0 and (run_dir / "plots" / "task_variance.png").exists()
    for c in range(clusters["attrs"]["k"]):
        assert simulate.main([str(run_dir), "--lesion", f"cluster{c}", "--trials", "400",
                              "--out", str(tmp_path / f"lesion{c}.h5")]) == 0
        attrs = load_run(tmp_path / f"lesion{c}.h5")["attrs"]
        assert all(f"accuracy_{label}" in attrs for label in FOUR_TASKS)
    capsys.readouterr()
