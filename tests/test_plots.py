"""Figures: ``psychrnn plot`` writes the PNG files, and each figure shows the data it claims."""

from __future__ import annotations

import numpy as np
import pytest

from psychrnn_cli.analysis import psychometric
from psychrnn_cli.plots import (psychometric_figure, training_figure, trajectories_figure, weights_figure)
from psychrnn_cli.simulator import Network, load_network
from tests.test_simulator import write_synthetic_run

PNG = b"\x89PNG\r\n\x1a\n"


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
    fig = training_figure(curves)
    loss_ax, acc_ax = fig.axes
    marks = [line.get_xdata()[0] for line in acc_ax.lines if line.get_linestyle() == ":"]
    assert marks == [10, 30, 40]
    assert [t.get_text().strip() for t in acc_ax.texts] == ["stage 0", "stage 1", "stage 2"]
    np.testing.assert_array_equal(acc_ax.lines[0].get_ydata(), curves["accuracy"])
    no_stages = training_figure({k: v for k, v in curves.items() if k != "stage"})
    assert not no_stages.axes[1].texts


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
