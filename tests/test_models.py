"""A model written in the user's own file (a small one, written here the way psychrnn_cli/models/adapting.py
shows) trains and then works in every post-training command, as the built-in models do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli import load_run, train
from tests.conftest import FAST

USER_MODEL = '''
from psychrnn_cli.models.basic import Basic


class SynapticRNN(Basic):
    """Units see each other through a synaptic current s that follows their rates: state (x, s)."""

    kind = "synaptic"

    def __init__(self, *args, filter_rate: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.filter_rate = float(filter_rate)

    def initial_state(self, ops, w, x0):
        return x0, ops.zeros_like(x0)

    def step(self, ops, w, state, drive):
        x, s = state
        return (1 - self.alpha) * x + ops.matmul(s, w["rec_kernel"]) + drive, s + self.filter_rate * (ops.f(x) - s)
'''


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory) -> Path:
    """A folder holding the user's module ``my_model.py``."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_model.py").write_text(USER_MODEL)
    return folder


@pytest.fixture(scope="module")
def user_run(tmp_path_factory, user_folder) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(user_folder)  # as the docs say: train from the folder holding the model's module
        patch.syspath_prepend(str(user_folder))
        return train([*FAST, "train.stop_accuracy=0.9", "train.iterations=400",
                      "model._target_=my_model.SynapticRNN", "+model.filter_rate=0.5"],
                     run_dir=tmp_path_factory.mktemp("synaptic"))


@pytest.fixture
def in_user_folder(monkeypatch, user_folder):
    monkeypatch.chdir(user_folder)
    monkeypatch.syspath_prepend(str(user_folder))


def test_user_model_run_records_its_class_and_options(user_run):
    attrs = load_run(user_run)["model"]["attrs"]
    assert attrs["kind"] == "synaptic" and attrs["model_class"] == "my_model.SynapticRNN"
    assert attrs["filter_rate"] == 0.5


def test_simulator_reproduces_the_user_models_stored_trials(user_run, in_user_folder):
    from psychrnn_cli.simulator import load_network, simulate

    run = load_run(user_run)
    result = simulate(load_network(user_run), run["trials"]["inputs"])
    scale = np.max(np.abs(run["trials"]["outputs"]))
    assert np.max(np.abs(result.outputs - run["trials"]["outputs"])) / scale < 1e-5
    assert result.full_states.shape[-1] == 2 * result.states.shape[-1]  # state (x, s)


def test_evaluate_simulate_plot_and_analyse_work_on_a_user_model(user_run, in_user_folder, tmp_path, capsys):
    from psychrnn_cli.commands import analyse, evaluate, plot, simulate

    assert evaluate.main([str(user_run), "--trials", "200"]) == 0, capsys.readouterr().err
    assert load_run(user_run)["evaluation"]["evaluate"]["attrs"]["accuracy"] >= 0.8

    out = tmp_path / "lesion.h5"
    assert simulate.main([str(user_run), "--lesion", "0-9", "--trials", "200", "--out", str(out)]) == 0
    lesioned = load_run(out)["attrs"]
    assert lesioned["accuracy"] < lesioned["baseline_accuracy"] - 0.1  # a fifth of the units silenced

    figures = tmp_path / "plots"
    assert plot.main([str(user_run), "--out", str(figures), "--trials", "100"]) == 0, capsys.readouterr().err
    assert {p.stem for p in figures.glob("*.png")} >= {"training", "example_trials", "psychometric", "weights",
                                                        "trajectories"}

    assert analyse.main([str(user_run), "--fixed-points", "--initial", "16", "--trials", "20"]) == 0
    found = load_run(user_run)["analysis"]["fixed_points"]
    assert found["xstar"].shape[1] == 100 and len(found["xstar"]) >= 1  # full state: x and s of 50 units


def test_export_says_psychrnn_has_no_format_for_a_user_model(user_run, in_user_folder, tmp_path, capsys):
    from psychrnn_cli.commands import export

    assert export.main([str(user_run), "--out", str(tmp_path / "w.npz")]) == 2
    err = capsys.readouterr().err
    assert "PsychRNN has no format for this model" in err and "run.h5" in err
    assert not (tmp_path / "w.npz").exists()


def test_a_checkpoint_naming_the_old_model_class_resumes_under_the_new_name():
    from psychrnn_cli.checkpoint import config_changes

    old = "model:\n  _target_: psychrnn_cli.network.gated.LSTM\n  N_rec: 50\n"
    assert config_changes(old, old.replace("psychrnn_cli.network.gated.LSTM", "psychrnn_cli.models.lstm.LSTM")) == []
    assert config_changes(old, old.replace("psychrnn_cli.network.gated.LSTM", "psychrnn_cli.models.gru.GRU"))


def test_a_model_with_an_extra_parameter_runs_the_same_in_both_engines():
    """extra_weights: a per-unit gain ``g [N_rec]`` on the rates, trained and simulated like W_rec."""
    import tensorflow as tf

    from psychrnn_cli.initializers import glorot_normal
    from psychrnn_cli.masks import build_constraints
    from psychrnn_cli.models.basic import Basic
    from psychrnn_cli.network.base import RecurrentModel
    from psychrnn_cli.simulator import Network, simulate

    class Gained(Basic):
        kind = "gained"

        def extra_weights(self, rng, N_in, N_out):
            return {"g": rng.uniform(0.5, 1.5, self.N_rec).astype(np.float32)}

        def step(self, ops, w, state, drive):
            (x,) = state
            return ((1 - self.alpha) * x + ops.matmul(w["g"] * ops.f(x), w["rec_kernel"]) + drive,)

    rng = np.random.default_rng(0)
    constraints = build_constraints(2, 10, 2, rng)
    definition = Gained(10, alpha=0.2, transfer_function="tanh")
    weights = definition.initial_weights(glorot_normal, rng, constraints, 2, 2)
    model = RecurrentModel(definition, weights, constraints)
    assert model.params["g"].trainable
    x = rng.normal(size=(3, 25, 2)).astype(np.float32)
    tf_outputs, _ = model(tf.constant(x))
    network = Network.from_weights(definition, weights, constraints)
    np.testing.assert_allclose(simulate(network, x).outputs, tf_outputs.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(simulate(Network.from_weights(definition, {**weights, "g": np.ones(10)}, constraints), x)
                           .outputs, tf_outputs.numpy(), atol=1e-3)  # the gain matters


def test_a_target_that_is_not_a_model_kind_is_named():
    from psychrnn_cli.models import ModelError, make_model

    with pytest.raises(ModelError, match=r"model._target_: 'collections.OrderedDict' must be a subclass of "
                                         r"psychrnn_cli.models.Model"):
        make_model({"_target_": "collections.OrderedDict", "N_rec": 4}, 0.1)
    with pytest.raises(ModelError, match=r"model: cannot build psychrnn_cli.models.gru.GRU: .*forget_bias"):
        make_model({"_target_": "gru", "N_rec": 4, "forget_bias": 1.0}, 0.1)
