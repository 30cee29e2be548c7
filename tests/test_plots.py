"""Figures: ``psychrnn plot`` writes the PNG files, and each figure shows the data it claims."""

from __future__ import annotations

import numpy as np
import pytest

from matplotlib.collections import Collection
from matplotlib.colorbar import Colorbar
from matplotlib.patches import Rectangle

from psychrnn_cli.analysis import psychometric
from psychrnn_cli.plots import (psychometric_figure, run_figures, training_figure, trajectories_figure,
                                weights_figure)
from psychrnn_cli.simulator import Network, load_network
from tests.conftest import FAST
from tests.test_simulator import write_synthetic_run

PNG = b"\x89PNG\r\n\x1a\n"
BUILT_IN_TASKS = {  # task -> the shortest trial (ms) that gives every trial a loss
    "perceptual_discrimination": 300, "delayed_discrimination": 300, "match_to_category": 1500,
    "context_dependent_integration": 2000, "ready_set_go": 2000, "anti_saccade": 1500}
CURRICULUM = ["curriculum.stages=[{task:{coherence:0.5},metric:iterations,threshold:2},{task:{coherence:0.1}}]",
              "curriculum.metric_every=2"]  # stage 1 begins at iteration 2


@pytest.fixture(scope="module")
def every_task_run(tmp_path_factory) -> dict[str, object]:
    """run.h5 of each built-in task after 4 iterations of a tiny network (evaluated every iteration);
    perceptual discrimination with a two-stage curriculum."""
    from psychrnn_cli import train

    runs = {}
    for task, T in BUILT_IN_TASKS.items():
        extra = CURRICULUM if task == "perceptual_discrimination" else []
        runs[task] = train([*FAST, f"task={task}", f"task.T={T}", "model.N_rec=8", "train.iterations=4",
                            "train.eval_every=1", "train.stop_accuracy=null", *extra],
                           run_dir=tmp_path_factory.mktemp(task))
    return runs


def finite_data(ax) -> list[np.ndarray]:
    """The plotted data of one axes: line y values, bar heights, images, point collections."""
    data = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
    data += [np.array([p.get_height()]) for p in ax.patches if isinstance(p, Rectangle)]
    data += [np.asarray(image.get_array(), dtype=float) for image in ax.images]
    data += [np.asarray(c.get_offsets(), dtype=float) for c in ax.collections if isinstance(c, Collection)]
    return [d for d in data if d.size and np.isfinite(d).any()]


def is_colour_bar(ax) -> bool:
    return isinstance(getattr(ax, "_colorbar", None), Colorbar)


@pytest.mark.parametrize("task", BUILT_IN_TASKS)
def test_every_built_in_task_plots_figures_with_data(every_task_run, task):
    figures = run_figures(every_task_run[task], n_trials=60)
    expected = "psychometric" if task == "perceptual_discrimination" else "accuracy_per_condition"
    assert set(figures) == {"training", "example_trials", expected, "weights", "trajectories"}
    for name, fig in figures.items():
        axes = [ax for ax in fig.axes if not is_colour_bar(ax)]
        assert axes, name
        for ax in axes:
            assert finite_data(ax), f"{task}: {name}.png has an empty panel {ax.get_title()!r}"
        texts = [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]
        assert not any("e+0" in text for text in texts), texts


def test_ready_set_go_scores_interval_bins_and_colours_trajectories_by_interval(every_task_run):
    figures = run_figures(every_task_run["ready_set_go"], n_trials=60)
    accuracy_axes = figures["accuracy_per_condition"].axes
    assert "interval (ms)" in [ax.get_xlabel() for ax in accuracy_axes]
    trajectories = figures["trajectories"]
    colours = {line.get_color() if isinstance(line.get_color(), str) else tuple(line.get_color())
               for line in trajectories.axes[1].lines}
    assert len(colours) > 10  # a continuous colour scale over the sample interval
    assert [ax.get_ylabel() for ax in trajectories.axes if is_colour_bar(ax)] == ["interval (ms)"]
    titles = [ax.get_title() for ax in figures["example_trials"].axes]
    assert all(" ms" in title for title in titles if title.startswith("trial"))


def test_discrete_conditions_get_a_legend_of_discrete_colours(every_task_run):
    trajectories = run_figures(every_task_run["anti_saccade"], n_trials=60)["trajectories"]
    assert not any(is_colour_bar(ax) for ax in trajectories.axes)
    legend = trajectories.axes[1].get_legend()
    assert legend.get_title().get_text() == "choice"
    assert [t.get_text() for t in legend.get_texts()] == ["0", "1"]
    colours = {line.get_color() for line in trajectories.axes[1].lines}
    assert colours == {"C0", "C1"}


def test_a_run_without_stored_trials_plots_without_example_trials(every_task_run, tmp_path):
    import shutil

    import h5py

    run_file = shutil.copy(every_task_run["anti_saccade"], tmp_path / "run.h5")
    with h5py.File(run_file, "r+") as f:  # as train.save_trials=0 leaves it
        for name, data in list(f["trials"].items()):
            if name != "time_ms":
                del f["trials"][name]
                f["trials"].create_dataset(name, shape=(0, *data.shape[1:]), dtype=data.dtype)
    figures = run_figures(run_file, n_trials=20)
    assert set(figures) == {"training", "accuracy_per_condition", "weights", "trajectories"}


def test_curriculum_stage_lines_mark_where_each_stage_began(every_task_run):
    from psychrnn_cli.runfile import load_run

    run = load_run(every_task_run["perceptual_discrimination"])
    np.testing.assert_array_equal(run["curriculum"]["start_iteration"], [0, 2])
    acc_ax = run_figures(every_task_run["perceptual_discrimination"], n_trials=60)["training"].axes[1]
    marks = [line.get_xdata()[0] for line in acc_ax.lines if line.get_linestyle() == ":"]
    assert marks == [0, 2]


def test_plot_command_on_a_trained_run(trained_run, tmp_path, capsys):
    from psychrnn_cli.commands.plot import main

    assert main([str(trained_run), "--out", str(tmp_path), "--trials", "100"]) == 0
    names = {"training", "example_trials", "psychometric", "weights", "trajectories"}
    assert {p.stem for p in tmp_path.glob("*.png")} == names
    for name in names:
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    assert capsys.readouterr().out.count("wrote ") == 5


def test_other_tasks_get_accuracy_per_condition_and_default_folder(tmp_path):
    from psychrnn_cli.plots import plot_run

    run_file = write_synthetic_run(tmp_path / "run", ("task=delayed_discrimination",))
    paths = plot_run(run_file.parent, n_trials=40)
    assert {p.name for p in paths} == {"training.png", "example_trials.png", "accuracy_per_condition.png",
                                       "weights.png", "trajectories.png"}
    assert all(p.parent == run_file.parent / "plots" for p in paths)


def test_training_figure_marks_curriculum_stages():
    curves = {"iteration": np.array([10, 20, 30, 40]), "loss": np.array([0.3, 0.2, 0.1, 0.05]),
              "accuracy": np.array([0.4, 0.6, 0.7, 0.9]), "stage": np.array([0, 0, 1, 2])}
    fig = training_figure(curves, stage_starts=np.array([0, 24, 31, -1]))  # stage 3 not reached
    loss_ax, acc_ax = fig.axes
    marks = [line.get_xdata()[0] for line in acc_ax.lines if line.get_linestyle() == ":"]
    assert marks == [0, 24, 31]
    assert [t.get_text().strip() for t in acc_ax.texts] == ["stage 0", "stage 1", "stage 2"]
    np.testing.assert_array_equal(acc_ax.lines[0].get_ydata(), curves["accuracy"])
    assert not training_figure(curves).axes[1].texts
    assert not training_figure(curves, stage_starts=np.array([0, -1])).axes[1].texts


def test_condition_groups_by_value_then_by_quantile_bins_then_all_trials():
    from psychrnn_cli.plots import condition_groups

    rng = np.random.default_rng(0)
    discrete = {"choice": np.array([0, 1, 1, 0] * 10), "onset": rng.uniform(0, 500, 40)}
    index, labels = condition_groups(discrete, {"onset": "ms"}, 40)["choice"]
    np.testing.assert_array_equal(index, discrete["choice"])
    assert labels == ["0", "1"]
    interval = np.linspace(480, 800, 40)
    groups = condition_groups({"interval": interval}, {"interval": "ms"}, 40)
    index, labels = groups["interval (ms)"]
    np.testing.assert_array_equal(np.bincount(index), [10, 10, 10, 10])
    assert labels[0] == "480-560" and labels[-1] == "720-800"
    assert list(condition_groups({}, {}, 5)) == ["all trials"]


def test_psychometric_figure_plots_choice_fractions():
    stim = np.array([-0.2, -0.2, 0.2, 0.2])
    outputs = np.zeros((4, 3, 2))
    outputs[[0, 2, 3], :, 1] = 1.0  # trials 0, 2, 3 choose output 1
    outputs[1, :, 0] = 1.0
    fig = psychometric_figure(*psychometric(stim, outputs, np.ones_like(outputs)))
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [-0.2, 0.2])
    np.testing.assert_array_equal(line.get_ydata(), [0.5, 1.0])
    assert "Psychometric" in fig.axes[0].get_title()


def test_weights_figure_shows_the_matrix_and_the_ei_and_region_boundaries(tmp_path):
    run_file = write_synthetic_run(tmp_path, ("constraints=[dale,two_regions]", "constraints.regions.sizes=[12,8]"))
    network = load_network(run_file)
    fig = weights_figure(network)
    rec_ax = fig.axes[0]
    np.testing.assert_array_equal(rec_ax.images[0].get_array(), network.weights["W_rec"])

    def boundaries(style):  # (rows, columns) where lines of this style cross the matrix
        lines = [line for line in rec_ax.lines if line.get_linestyle() == style]
        rows = {line.get_ydata()[0] for line in lines if line.get_ydata()[0] == line.get_ydata()[1]}
        cols = {line.get_xdata()[0] for line in lines if line.get_xdata()[0] == line.get_xdata()[1]}
        return rows, cols

    assert boundaries("-") == ({15.5}, {15.5})  # 16 of 20 units excitatory
    assert boundaries("--") == ({11.5}, {11.5})  # regions of 12 and 8 units
    texts = {t.get_text() for t in rec_ax.texts}
    assert {"E", "I", "region 0", "region 1"} <= texts
    assert "16 E | 4 I" in fig._suptitle.get_text()


@pytest.mark.parametrize("colour", [np.array([-0.5, 0.5, 0.1]), np.array([0, 1, 1])])
def test_trajectories_figure_projects_on_principal_components(colour):
    rng = np.random.default_rng(0)
    states = rng.normal(size=(3, 10, 4)) * np.array([5.0, 1.0, 0.1, 0.1])
    fig = trajectories_figure(states, np.arange(10) * 10.0, colour, "condition")
    ax, ax_time = fig.axes[:2]
    assert len(ax.lines) == 3 + 2  # one per trial, plus start and end markers
    first_pc = np.abs(ax_time.lines[0].get_ydata())
    np.testing.assert_allclose(first_pc, np.abs(states[0, :, 0] - states[..., 0].mean()), rtol=0.2, atol=0.5)
    assert "principal components" in fig._suptitle.get_text()


def test_weights_figure_for_a_gated_network():
    rng = np.random.default_rng(1)
    w = {"W_in": rng.normal(size=(12, 2)), "W_rec": rng.normal(size=(12, 4)), "W_out": rng.normal(size=(2, 4)),
         "b_rec": np.zeros(12), "b_out": np.zeros(2), "init_state": np.zeros(4)}
    fig = weights_figure(Network("gru", w, 0.1, transfer_function="tanh"))
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), w["W_rec"][8:12])
    assert "candidate block" in fig._suptitle.get_text()


@pytest.mark.parametrize("extra", [[], ["algorithm=actor_critic", "task.feedback=reward"]],
                         ids=["supervised", "reward_feedback"])
def test_spiking_runs_on_trial_sequences_plot_the_spikes_of_one_trial(extra, tmp_path):
    """The raster and the population rate are drawn trial by trial, as every other figure of a
    sequence run (the spikes of whole sequences against one trial's times was an IndexError)."""
    from psychrnn_cli import load_run, train

    run_file = train([*FAST, "model=spiking", "model.N_rec=8", "task.T=300", "task.trials_per_sequence=2",
                      "task.iti=20", "train.iterations=1", *extra], run_dir=tmp_path)
    figures = run_figures(run_file, n_trials=3)
    layout = load_run(run_file)["trials"]["attrs"]
    trial_ms = layout["trial_steps"] * load_run(run_file)["model"]["attrs"]["dt"]
    (rate,) = figures["spikes"].axes[1].get_lines()
    assert len(rate.get_xdata()) == layout["trial_steps"] and rate.get_xdata()[-1] < trial_ms
    assert figures["spikes"].axes[1].get_title() == "population rate, mean of 6 trials"
