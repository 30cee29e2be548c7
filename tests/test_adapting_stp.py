"""model=adapting (Benda and Herz 2003) and model=stp (Mongillo, Barak and Tsodyks 2008; Masse et al.
2019): one step against numbers worked out by hand, option errors, the recorded u and x in the run
file, the extra trainable parameter through checkpoint and resume, ensembles, and the commands
after training. (The simulator-vs-TensorFlow agreement is in tests/test_simulator.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build
from psychrnn_cli.models import ModelError
from psychrnn_cli.models.adapting import Adapting
from psychrnn_cli.models.stp import STP
from psychrnn_cli.simulator import NumpyOps, load_network, simulate
from tests.conftest import FAST, run_cli

SHORT = [*FAST, "task.T=300", "train.eval_every=3", "train.stop_accuracy=null", "train.checkpoint_every=3"]


def test_adapting_step_by_hand():
    """N_rec = 2, alpha = 0.1, dt = 10 ms, tau_adapt = 100 ms (a moves 1/10 of the way to r)."""
    model = Adapting(2, alpha=0.1, dt=10.0, tau_adapt=100.0, strength=0.5)
    w = {"W_rec": np.array([[0.0, 1.0], [2.0, 0.0]]), "strength": np.array([0.5, 2.0])}
    w = model.prepare(NumpyOps("relu"), w)
    x, a = np.array([[1.0, -1.0]]), np.array([[0.2, 0.4]])
    drive = np.array([[0.3, 0.0]])
    x_next, a_next = model.step(NumpyOps("relu"), w, (x, a), drive)
    # r = (1, 0); W_rec r = (0, 2)
    # x0: 0.9 * 1 + 0.1 * 0 + 0.3 - 0.1 * 0.5 * 0.2 = 1.19
    # x1: 0.9 * -1 + 0.1 * 2 + 0.0 - 0.1 * 2.0 * 0.4 = -0.78
    np.testing.assert_allclose(x_next, [[1.19, -0.78]])
    # a0: 0.2 + 0.1 (1 - 0.2) = 0.28;  a1: 0.4 + 0.1 (0 - 0.4) = 0.36
    np.testing.assert_allclose(a_next, [[0.28, 0.36]])
    # a negative strength adapts as strength 0
    w_neg = model.prepare(NumpyOps("relu"), {"W_rec": np.zeros((2, 2)), "strength": np.array([-1.0, -1.0])})
    np.testing.assert_allclose(model.step(NumpyOps("relu"), w_neg, (x, a), drive)[0], [[1.2, -0.9]])


def test_stp_step_by_hand():
    """N_rec = 3 under Dale (2 excitatory): unit 0 facilitating, unit 1 depressing, unit 2 static;
    dt = 10 ms, so dt = 0.01 s and dt/tau_x = 10/200, 10/1500; dt/tau_u = 10/1500, 10/200."""
    model = STP(3, alpha=0.1, dt=10.0, dale_ratio=2 / 3)
    ops = NumpyOps("relu")
    w = model.prepare(ops, {"W_rec": np.array([[0.0, 1.0, -1.0], [1.0, 0.0, -1.0], [1.0, 1.0, 0.0]]),
                            "init_state": np.zeros(3)})
    h0 = np.array([[10.0, 20.0, 5.0]])  # rates 10, 20, 5 spikes/s
    h, u, x = model.initial_state(ops, w, h0)
    np.testing.assert_allclose(u, [[0.15, 0.45, 1.0]])
    np.testing.assert_allclose(x, [[1.0, 1.0, 1.0]])
    u0 = np.array([[0.2, 0.5, 1.0]])
    x0 = np.array([[0.8, 0.6, 1.0]])
    h1, u1, x1 = model.step(ops, w, (h0, u0, x0), np.zeros((1, 3)))
    # x0' = 0.8 + (10/200)(0.2) - 0.01 * 0.2 * 0.8 * 10 = 0.8 + 0.01 - 0.016 = 0.794
    # x1' = 0.6 + (10/1500)(0.4) - 0.01 * 0.5 * 0.6 * 20 = 0.6 + 0.0026667 - 0.06 = 0.5426667
    np.testing.assert_allclose(x1, [[0.794, 0.6 + 0.4 / 150 - 0.06, 1.0]])
    # u0' = 0.2 + (10/1500)(0.15 - 0.2) + 0.01 * 0.15 * 0.8 * 10 = 0.2 - 0.00033333 + 0.012 = 0.21166667
    # u1' = 0.5 + (10/200)(0.45 - 0.5) + 0.01 * 0.45 * 0.5 * 20 = 0.5 - 0.0025 + 0.045 = 0.5425
    np.testing.assert_allclose(u1, [[0.2 - 0.05 / 150 + 0.012, 0.5425, 1.0]])
    # efficacies u' x' r: 0.21166667 * 0.794 * 10 = 1.68063333, 0.5425 * 0.54266667 * 20 = 5.88793333, 5
    s = np.array([(0.2 - 0.05 / 150 + 0.012) * 0.794 * 10, 0.5425 * (0.6 + 0.4 / 150 - 0.06) * 20, 5.0])
    # h' = 0.9 h + 0.1 W_rec s
    expected = 0.9 * h0[0] + 0.1 * np.array([s[1] - s[2], s[0] - s[2], s[0] + s[1]])
    np.testing.assert_allclose(h1, [expected])


def test_stp_clips_u_and_x_to_one_and_zero():
    """dt r = 0.01 * 500 = 5 would take x below 0 and u above 1 in one step: clipped."""
    model = STP(1, alpha=0.1, dt=10.0, synapses="depressing")
    ops = NumpyOps("relu")
    w = model.prepare(ops, {"W_rec": np.ones((1, 1)), "init_state": np.zeros(1)})
    h, u, x = model.step(ops, w, (np.array([[500.0]]), np.array([[0.45]]), np.array([[1.0]])), np.zeros((1, 1)))
    # x: 1 + 0 - 5 * 0.45 * 1 = -1.25 -> 0;  u: 0.45 + 0 + 5 * 0.45 * 0.55 = 1.6875 -> 1
    assert x[0, 0] == 0.0 and u[0, 0] == 1.0
    np.testing.assert_allclose(h, [[450.0]])  # 0.9 * 500 + 0.1 * 1 * (1 * 0 * 500)


@pytest.mark.parametrize("synapses,expected", [
    ("alternating", [0.15, 0.45, 0.15, 1.0]), ("facilitating", [0.15, 0.15, 0.15, 1.0]),
    ("depressing", [0.45, 0.45, 0.45, 1.0]), ("static", [1.0, 1.0, 1.0, 1.0]),
])
def test_stp_synapse_kinds_at_rest(synapses, expected):
    """Dale ratio 0.75 of 4 units: the last one is inhibitory and static; resting u is each kind's U."""
    model = STP(4, alpha=0.1, synapses=synapses, dale_ratio=0.75)
    ops = NumpyOps("relu")
    _, u, x = model.initial_state(ops, model.prepare(ops, {"W_rec": np.eye(4), "init_state": np.zeros(4)}),
                                  np.zeros((1, 4)))
    np.testing.assert_allclose(u, [expected])
    without_dale = STP(4, alpha=0.1, synapses=synapses)
    _, u, _ = without_dale.initial_state(ops, without_dale.prepare(ops, {"W_rec": np.eye(4), "init_state": np.zeros(4)}),
                                         np.zeros((1, 4)))
    assert u[0, 3] == {"alternating": 0.45}.get(synapses, expected[0])  # all follow synapses


def config_error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        build(compose_config(list(overrides)))
    return str(info.value)


@pytest.mark.parametrize("overrides,message", [
    (["model=stp", "model.facilitating_U=1.5"], "model.facilitating_U must be a number in (0, 1], got 1.5"),
    (["model=stp", "model.depressing_U=0"], "model.depressing_U must be a number in (0, 1], got 0"),
    (["model=stp", "model.depressing_tau_x=-200"], "model.depressing_tau_x must be a positive float, got -200"),
    (["model=stp", "model.facilitating_tau_u=0"], "model.facilitating_tau_u must be a positive float, got 0"),
    (["model=stp", "model.facilitating_tau_x=5"],
     "model.facilitating_tau_x (5 ms) must be at least the time step task.dt (10 ms)"),
    (["model=stp", "model.synapses=plastic"],
     "model.synapses must be one of alternating, facilitating, depressing, static, got 'plastic'"),
    (["model=stp", "constraints=dale", "model.dale_ratio=0.5"],
     "model.dale_ratio (0.5) must equal constraints.dale_ratio (0.8)"),
    (["model=adapting", "model.tau_adapt=-500"], "model.tau_adapt must be a positive float, got -500"),
    (["model=adapting", "model.tau_adapt=5"], "model.tau_adapt (5 ms) must be at least the time step task.dt (10 ms)"),
    (["model=adapting", "model.strength=-0.5"], "model.strength must be a number >= 0, got -0.5"),
    (["model=adapting", "model.train_strength=maybe"], "model.train_strength must be true or false, got 'maybe'"),
])
def test_bad_options_are_named_with_their_range(overrides, message):
    assert message in config_error(*overrides)


def test_bad_option_exits_2_with_one_line_before_training(tmp_path):
    out = run_cli("train", "model=stp", "model.facilitating_U=1.5", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "model.facilitating_U must be a number in (0, 1]" in out.stderr
    assert not (tmp_path / "run" / "run.h5").exists()


# --- trained networks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stp_run(tmp_path_factory) -> Path:
    return train([*SHORT, "model=stp", "constraints=dale", "train.iterations=6", "model.N_rec=20"],
                 run_dir=tmp_path_factory.mktemp("stp"))


def test_stp_run_file_records_u_and_x_beside_the_states(stp_run):
    import h5py

    run = load_run(stp_run)
    trials = run["trials"]
    assert trials["u"].shape == trials["x"].shape == trials["states"].shape == (20, 30, 20)
    with h5py.File(stp_run) as f:
        for name in ("u", "x"):
            ds = f["trials"][name]
            assert ds.dtype == np.float32 and ds.compression == "gzip" and ds.chunks is not None
            assert ds.attrs["axes"] == "trial, time, presynaptic unit"
    inhibitory = slice(16, 20)  # Dale ratio 0.8 of 20 units: static synapses, u = x = 1
    assert np.all(trials["u"][..., inhibitory] == 1) and np.all(trials["x"][..., inhibitory] == 1)
    assert np.all((trials["u"] >= 0) & (trials["u"] <= 1) & (trials["x"] >= 0) & (trials["x"] <= 1))
    assert np.any(trials["x"][..., :16] < 1)  # excitatory synapses used resources
    assert run["model"]["attrs"]["synapses"] == "alternating" and run["model"]["attrs"]["dale_ratio"] == 0.8


def test_simulator_reproduces_the_stored_stp_trials(stp_run):
    run = load_run(stp_run)
    result = simulate(load_network(stp_run), run["trials"]["inputs"])
    for name, value in (("outputs", result.outputs), ("u", result.recorded["u"]), ("x", result.recorded["x"])):
        stored = run["trials"][name]
        assert np.max(np.abs(value - stored)) / np.max(np.abs(stored)) < 1e-5, name


def test_simulate_lesion_evaluate_and_plot_work_on_stp(stp_run, tmp_path, capsys):
    from psychrnn_cli.commands import evaluate, plot
    from psychrnn_cli.commands import simulate as simulate_command

    out = tmp_path / "lesion.h5"
    assert simulate_command.main([str(stp_run), "--lesion", "0-9", "--trials", "20", "--out", str(out)]) == 0
    lesioned = load_run(out)
    for name in ("u", "x"):
        assert lesioned["perturbed"][name].shape == lesioned["baseline"][name].shape == (20, 30, 20)
        assert lesioned["perturbed"][name].dtype == np.float32
    assert not np.array_equal(lesioned["perturbed"]["x"], lesioned["baseline"]["x"])  # other rates, other use
    assert evaluate.main([str(stp_run), "--trials", "50"]) == 0, capsys.readouterr().err
    figures = tmp_path / "plots"
    assert plot.main([str(stp_run), "--out", str(figures), "--trials", "20"]) == 0, capsys.readouterr().err
    assert {"training", "example_trials"} <= {p.stem for p in figures.glob("*.png")}


def test_strength_is_a_parameter_trained_only_with_train_strength():
    from psychrnn_cli.masks import build_constraints
    from psychrnn_cli.network.base import RecurrentModel

    rng = np.random.default_rng(0)
    constraints = build_constraints(2, 4, 2, rng)
    for train_strength in (False, True):
        definition = Adapting(4, alpha=0.1, strength=0.3, train_strength=train_strength)
        weights = definition.initial_weights(lambda **_: {
            "W_in": np.ones((4, 2)), "W_rec": np.eye(4), "W_out": np.ones((2, 4)), "b_rec": np.zeros(4),
            "b_out": np.zeros(2), "init_state": np.zeros(4)}, rng, constraints, 2, 2)
        np.testing.assert_array_equal(weights["strength"], np.full(4, 0.3, np.float32))
        model = RecurrentModel(definition, weights, constraints)
        assert model.params["strength"].trainable is train_strength
        assert ("strength" in model.trainable_params) is train_strength
    with pytest.raises(ModelError, match=r"model=adapting with N_rec=4 needs strength of shape \(4,\), got \(3,\)"):
        definition.check({**weights, "strength": np.ones(3)})


def test_an_ensemble_of_two_adapting_networks_resumes_bit_identically(tmp_path):
    """model.train_strength=true: the per-unit strengths train, are checkpointed and resumed exactly."""
    run = [*SHORT, "model=adapting", "model.train_strength=true", "model.N_rec=20", "model.strength=0.3",
           "train.ensemble=2"]
    train([*run, "train.iterations=6"], run_dir=tmp_path / "whole")
    train([*run, "train.iterations=3"], run_dir=tmp_path / "resumed")
    train([*run, "train.iterations=6"], run_dir=tmp_path / "resumed")
    strengths = []
    for seed in (0, 1):
        whole, resumed = (load_run(tmp_path / name / f"seed_{seed}") for name in ("whole", "resumed"))
        assert resumed["attrs"]["iterations"] == 6 and resumed["attrs"]["status"] == "completed"
        for name, value in whole["model"]["weights"].items():
            np.testing.assert_array_equal(resumed["model"]["weights"][name], value, err_msg=f"seed {seed} {name}")
        strengths.append(whole["model"]["weights"]["strength"])
        assert strengths[-1].shape == (20,) and np.all(strengths[-1] != np.float32(0.3))
    assert not np.array_equal(*strengths)
    network = load_network(tmp_path / "whole" / "seed_1")  # the simulator reads the trained strengths
    np.testing.assert_array_equal(network.weights["strength"], strengths[1])
    result = simulate(network, whole["trials"]["inputs"])
    stored = whole["trials"]["outputs"]
    assert np.max(np.abs(result.outputs - stored)) / np.max(np.abs(stored)) < 1e-5


# --- acceptance (slow) -------------------------------------------------------------------------------


@pytest.mark.slow
def test_adapting_learns_delayed_discrimination(tmp_path):
    run = load_run(train(["train.progress=false", "model=adapting", "task=delayed_discrimination"], run_dir=tmp_path))
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.85 and run["evaluation"]["attrs"]["n_trials"] == 500


@pytest.mark.slow
def test_stp_with_dale_learns_delayed_discrimination_and_records_u_and_x(tmp_path):
    run = load_run(train(["train.progress=false", "model=stp", "constraints=dale", "task=delayed_discrimination"],
                         run_dir=tmp_path))
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.85 and run["evaluation"]["attrs"]["n_trials"] == 500
    trials = run["trials"]
    assert trials["u"].shape == trials["x"].shape == trials["states"].shape
