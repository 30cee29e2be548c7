"""The NumPy simulator: agreement with the TensorFlow models, and every perturbation against the
model equations written out here. Also ``write_synthetic_run``, a TensorFlow-free run file used by
the tests of the commands that read run files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli import load_run
from psychrnn_cli.masks import build_constraints
from psychrnn_cli.perturbations import Clamp, Cut, Inject, InputNoise, RecurrentNoise, Scale, Silence
from psychrnn_cli.simulator import Network, SimulatorError, load_network, simulate

ALPHA = 0.1


def relu(v):
    return np.maximum(v, 0.0)


def write_synthetic_run(path: Path, overrides: tuple[str, ...] = (), seed: int = 0) -> Path:
    """A run file with random (untrained) weights and the config of ``psychrnn train OVERRIDES``,
    written without TensorFlow. Trials come from the simulator; curves are made up, with stages."""
    from omegaconf import OmegaConf

    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build_constraints as constraints_from_config
    from psychrnn_cli.build import build_task
    from psychrnn_cli.initializers import gaussian_spectral_radius
    from psychrnn_cli.masks import effective_weights
    from psychrnn_cli.runfile import write_run
    from psychrnn_cli.task import trial_param_arrays

    cfg = compose_config(["task.T=500", "model.N_rec=20", *overrides])
    rng = np.random.default_rng(seed)
    task = build_task(cfg.task, 8, rng)
    constraints = constraints_from_config(cfg.constraints, task.N_in, 20, task.N_out, seed)
    weights = gaussian_spectral_radius(rng, constraints, task.N_in, task.N_out)
    weights["b_rec"] = (0.1 * rng.standard_normal(20)).astype(np.float32)
    model = {"attrs": {"kind": "basic", "N_in": task.N_in, "N_rec": 20, "N_out": task.N_out, "dt": task.dt,
                       "tau": task.tau, "alpha": task.alpha, "rec_noise": 0.0, "transfer_function": "relu",
                       "dale_ratio": constraints.dale_ratio},
             "weights": weights, "effective": effective_weights(weights, constraints),
             "constraints": constraints.arrays()}
    x, y, mask, params = task.get_trial_batch()
    tree = {"attrs": {"status": "completed", "seed": seed}, "config": OmegaConf.to_yaml(cfg, resolve=True),
            "model": model,
            "training": {"iteration": np.array([10, 20, 30, 40]), "loss": np.array([0.2, 0.1, 0.08, 0.05]),
                         "train_loss": np.array([0.25, 0.12, 0.09, 0.06]), "accuracy": np.array([0.5, 0.6, 0.8, 0.9]),
                         "stage": np.array([0, 0, 1, 1])},
            "trials": {"inputs": x, "targets": y, "mask": mask, "time_ms": task.time_ms, **trial_param_arrays(params)},
            "evaluation": {"attrs": {"accuracy": 0.5, "loss": 0.1, "n_trials": 8}}}
    path.mkdir(parents=True, exist_ok=True)
    run_file = write_run(path / "run.h5", tree)
    result = simulate(load_network(run_file), x)
    tree["trials"].update(outputs=result.outputs.astype(np.float32), states=result.states.astype(np.float32))
    return write_run(run_file, tree)


def reference_basic(w, inputs, alpha=ALPHA, f=relu, rec_mask_per_step=None):
    """The basic model step by step: x[t+1] = (1-a) x + a (W_rec f(x) + W_in u + b_rec); z = W_out f(x) + b_out."""
    B, T, _ = inputs.shape
    x = np.broadcast_to(w["init_state"], (B, len(w["init_state"]))).astype(float)
    states, outputs = [], []
    for t in range(T):
        W_rec = w["W_rec"] if rec_mask_per_step is None else w["W_rec"] * rec_mask_per_step[t]
        x = (1 - alpha) * x + alpha * (f(x) @ W_rec.T + inputs[:, t] @ w["W_in"].T + w["b_rec"])
        states.append(x)
        outputs.append(f(x) @ w["W_out"].T + w["b_out"])
    return np.stack(outputs, 1), np.stack(states, 1)


def random_weights(rng, N_in=3, N_rec=12, N_out=2, gates=1, scale=0.4):
    G = gates
    return {"W_in": rng.normal(0, 0.5, (G * N_rec, N_in)), "W_rec": rng.normal(0, scale, (G * N_rec, N_rec)),
            "W_out": rng.normal(0, 0.5, (N_out, N_rec)), "b_rec": rng.normal(0, 0.1, G * N_rec),
            "b_out": rng.normal(0, 0.1, N_out), "init_state": rng.normal(0.1, 0.1, N_rec)}


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(0)
    return Network("basic", random_weights(rng), ALPHA)


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(1).normal(0.5, 0.5, (4, 30, 3))


def max_relative_error(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


# --- agreement with TensorFlow -------------------------------------------------------------------


@pytest.mark.parametrize("kind,transfer,dale,batch,steps", [
    ("basic", "relu", 0.8, 4, 60), ("basic", "tanh", None, 1, 7), ("basic", "softplus", None, 3, 25),
    ("lstm", "tanh", None, 3, 40), ("gru", "tanh", None, 1, 40), ("gru", "relu", None, 2, 13),
    ("adapting", "relu", 0.8, 3, 45), ("stp", "relu", 0.8, 3, 45), ("stp", "softplus", None, 2, 30),
])
def test_matches_tensorflow_forward_pass(kind, transfer, dale, batch, steps):
    import tensorflow as tf

    from psychrnn_cli.models import model_class
    from psychrnn_cli.network.base import RecurrentModel

    rng = np.random.default_rng(2)
    constraints = build_constraints(3, 16, 2, rng, dale_ratio=dale, density=0.7, autapses=False)
    constraints.input_mask[0, 0] = constraints.output_mask[1, 3] = 0.0
    weights = {k: v.astype(np.float32) for k, v in random_weights(rng, 3, 16, 2, model_class(kind).gates).items()}
    options = {"lstm": {"forget_bias": 0.7}, "adapting": {"tau_adapt": 30.0},
               "stp": {"dale_ratio": dale, "facilitating_tau_x": 20.0, "depressing_tau_u": 20.0}}
    kwargs = options.get(kind, {})
    definition = model_class(kind)(16, alpha=0.2, rec_noise=0.05, transfer_function=transfer, **kwargs)
    if kind == "adapting":  # per-unit strengths, as training leaves them
        weights["strength"] = rng.uniform(0.0, 3.0, 16).astype(np.float32)
    model = RecurrentModel(definition, weights, constraints)
    gain = 30.0 if kind == "stp" else 1.0  # rates of tens per second, which move stp's u and x
    x = gain * rng.normal(0.3, 1.0, (batch, steps, 3)).astype(np.float32)
    xi = rng.standard_normal((batch, steps, 16)).astype(np.float32)
    network = Network.from_weights(kind, weights, constraints, alpha=0.2, rec_noise=0.05, transfer_function=transfer,
                                   **kwargs)
    for noise in (None, xi):
        tf_out, tf_states, tf_recorded = model.forward(tf.constant(x), None if noise is None else tf.constant(noise))
        result = simulate(network, x, noise=False if noise is None else noise)
        assert result.outputs.shape == (batch, steps, 2) and result.states.shape == (batch, steps, 16)
        assert max_relative_error(result.outputs, tf_out.numpy()) < 1e-5
        assert max_relative_error(result.states, tf_states.numpy()) < 1e-5
        assert set(result.recorded) == set(tf_recorded) == set(definition.recorded)
        for name, value in tf_recorded.items():
            assert value.shape == (batch, steps, 16)
            assert max_relative_error(result.recorded[name], value.numpy()) < 1e-5


def test_trained_run_reproduces_the_stored_test_trials(trained_run):
    """The run file's /trials were computed by TensorFlow; the simulator recomputes them."""
    run = load_run(trained_run)
    result = simulate(load_network(trained_run), run["trials"]["inputs"])
    assert max_relative_error(result.outputs, run["trials"]["outputs"]) < 1e-5
    assert max_relative_error(result.states, run["trials"]["states"]) < 1e-5


def test_matches_the_spec_equations_and_any_length(net):
    x = np.random.default_rng(3).normal(size=(1, 123, 3))
    result = simulate(net, x)
    ref_out, ref_states = reference_basic(net.weights, x)
    np.testing.assert_allclose(result.states, ref_states, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.outputs, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.rates, relu(ref_states), atol=1e-12)


def test_simulator_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from psychrnn_cli import simulator, analysis, interop; "
            "net = simulator.Network('basic', {'W_in': np.ones((2, 1)), 'W_rec': np.eye(2), 'W_out': np.ones((1, 2)),"
            " 'b_rec': np.zeros(2), 'b_out': np.zeros(1), 'init_state': np.zeros(2)}, 0.1,"
            " transfer_function='tf.nn.elu');"
            "simulator.simulate(net, np.ones((1, 5, 1)));"
            "assert 'tensorflow' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


# --- model noise ------------------------------------------------------------------------------


def stationary_variance(network, steps, trials=4000, **kwargs):
    x = np.zeros((trials, steps, network.N_in))
    return simulate(network, x, seed=5, **kwargs).states[:, -1].var(axis=0)


def leaky_network(N=3, **kwargs):
    """No recurrence, W_in = I, linear: each unit is a leaky integrator of its input."""
    w = {"W_in": np.eye(N), "W_rec": np.zeros((N, N)), "W_out": np.eye(N), "b_rec": np.zeros(N), "b_out": np.zeros(N),
         "init_state": np.zeros(N)}
    return Network("basic", w, ALPHA, transfer_function="linear", **kwargs)


def test_model_noise_has_the_spec_variance_and_follows_the_seed():
    # x = (1-a) x + sqrt(2a) s xi  ->  stationary variance 2 a s^2 / (1 - (1-a)^2) = 2 s^2 / (2 - a)
    network = leaky_network(rec_noise=0.2)
    variance = stationary_variance(network, 150, noise=True)
    np.testing.assert_allclose(variance, 2 * 0.2 ** 2 / (2 - ALPHA), rtol=0.08)
    x = np.zeros((2, 10, 3))
    first, again, other = (simulate(network, x, noise=True, seed=s).states for s in (1, 1, 2))
    assert np.array_equal(first, again) and not np.allclose(first, other)
    assert np.all(simulate(network, x, noise=False).states == 0)


# --- perturbations ------------------------------------------------------------------------------


def test_silence_all_units_leaves_the_feed_forward_response(net, inputs):
    result = simulate(net, inputs, perturbations=[Silence(range(net.N_rec))])
    feed_forward = {**net.weights, "W_rec": np.zeros_like(net.weights["W_rec"])}
    _, ff_states = reference_basic(feed_forward, inputs)
    np.testing.assert_allclose(result.states, ff_states, atol=1e-12)  # only input and bias drive the units
    np.testing.assert_allclose(result.outputs, np.broadcast_to(net.weights["b_out"], result.outputs.shape), atol=1e-12)


def test_cutting_all_recurrent_connections_gives_the_feed_forward_network(net, inputs):
    result = simulate(net, inputs, perturbations=[Cut("W_rec", np.zeros((net.N_rec, net.N_rec)))])
    ref_out, ref_states = reference_basic({**net.weights, "W_rec": np.zeros((net.N_rec, net.N_rec))}, inputs)
    np.testing.assert_allclose(result.states, ref_states, atol=1e-12)
    np.testing.assert_allclose(result.outputs, ref_out, atol=1e-12)


def test_silence_some_units_removes_their_outgoing_connections(net, inputs):
    units = [1, 4, 7]
    result = simulate(net, inputs, perturbations=[Silence(units)])
    w = {k: v.copy() for k, v in net.weights.items()}
    w["W_rec"][:, units] = 0.0
    w["W_out"][:, units] = 0.0
    ref_out, ref_states = reference_basic(w, inputs)
    np.testing.assert_allclose(result.outputs, ref_out, atol=1e-12)
    np.testing.assert_allclose(result.states, ref_states, atol=1e-12)


def test_zero_mask_at_one_step_cuts_recurrence_exactly_at_that_step(net, inputs):
    k, T = 12, inputs.shape[1]
    masks = np.ones((T, net.N_rec, net.N_rec))
    masks[k] = 0.0
    base = simulate(net, inputs).states
    cut = simulate(net, inputs, perturbations=[Cut("W_rec", masks)]).states
    np.testing.assert_array_equal(cut[:, :k], base[:, :k])  # before: untouched
    w = net.weights
    without_recurrence = (1 - ALPHA) * base[:, k - 1] + ALPHA * (inputs[:, k] @ w["W_in"].T + w["b_rec"])
    np.testing.assert_allclose(cut[:, k], without_recurrence, atol=1e-12)  # at k: no recurrent input
    with_recurrence = (1 - ALPHA) * cut[:, k] + ALPHA * (relu(cut[:, k]) @ w["W_rec"].T + inputs[:, k + 1] @ w["W_in"].T
                                                         + w["b_rec"])
    np.testing.assert_allclose(cut[:, k + 1], with_recurrence, atol=1e-12)  # after: recurrence is back
    assert not np.allclose(cut[:, k], base[:, k])


def test_time_varying_cut_of_some_connections_matches_the_reference(net, inputs):
    rng = np.random.default_rng(4)
    masks = (rng.random((inputs.shape[1], net.N_rec, net.N_rec)) > 0.3).astype(float)
    result = simulate(net, inputs, perturbations=[Cut("W_rec", masks)])
    ref_out, _ = reference_basic(net.weights, inputs, rec_mask_per_step=masks)
    np.testing.assert_allclose(result.outputs, ref_out, atol=1e-12)


def test_scale_a_matrix_or_a_block_and_compose_with_a_cut(net, inputs):
    rows, cols = [0, 1, 2], [5, 6]
    original = net.weights["W_rec"].copy()
    cut = np.ones((net.N_rec, net.N_rec))
    cut[3, 4] = 0.0
    result = simulate(net, inputs, perturbations=[Scale("W_rec", 2.0, rows, cols), Cut("W_rec", cut),
                                                  Scale("W_out", 0.5)])
    w = {k: v.copy() for k, v in net.weights.items()}
    w["W_rec"][np.ix_(rows, cols)] *= 2.0
    w["W_rec"][3, 4] = 0.0
    w["W_out"] *= 0.5
    ref_out, ref_states = reference_basic(w, inputs)
    np.testing.assert_allclose(result.outputs, ref_out, atol=1e-12)
    np.testing.assert_allclose(result.states, ref_states, atol=1e-12)
    np.testing.assert_array_equal(net.weights["W_rec"], original)  # perturbations never change the network


def test_clamp_holds_units_during_the_window_only(net, inputs):
    # dt 10 ms: the window [100, 200) ms is steps 10..19
    base = simulate(net, inputs).states
    clamped = simulate(net, inputs, perturbations=[Clamp([2, 3], [0.5, -1.0], 100, 200)]).states
    np.testing.assert_array_equal(clamped[:, :10], base[:, :10])
    np.testing.assert_array_equal(clamped[:, 10:20, 2], 0.5)
    np.testing.assert_array_equal(clamped[:, 10:20, 3], -1.0)
    assert not np.allclose(clamped[:, 20:, 2], 0.5)  # released afterwards
    assert not np.allclose(clamped[:, 10:20, 0], base[:, 10:20, 0])  # the others feel the clamp


def test_injected_current_is_leaky_integrated_in_its_window():
    network = leaky_network()
    x = np.zeros((1, 40, 3))
    states = simulate(network, x, perturbations=[Inject([1], 2.0, 50, 150)]).states[0]
    n = np.arange(1, 41)
    inside = np.clip(n - 5, 0, 10)  # steps 5..14 receive the current
    decay_after = np.clip(n - 15, 0, None)
    expected = 2.0 * (1 - (1 - ALPHA) ** inside) * (1 - ALPHA) ** decay_after
    np.testing.assert_allclose(states[:, 1], expected, atol=1e-12)
    np.testing.assert_array_equal(states[:, [0, 2]], 0.0)


def test_input_and_recurrent_noise_have_the_stated_size():
    network = leaky_network()
    # input noise s on u: x = (1-a) x + a s eta -> variance a^2 s^2 / (1 - (1-a)^2)
    variance = stationary_variance(network, 150, perturbations=[InputNoise(0.5)])
    np.testing.assert_allclose(variance, ALPHA ** 2 * 0.25 / (1 - (1 - ALPHA) ** 2), rtol=0.08)
    variance = stationary_variance(network, 150, perturbations=[RecurrentNoise(0.3)])
    np.testing.assert_allclose(variance, 2 * 0.09 / (2 - ALPHA), rtol=0.08)


def test_gated_silence_equals_removing_the_units_columns():
    rng = np.random.default_rng(6)
    w = random_weights(rng, 3, 8, 2, gates=4)
    lstm = Network("lstm", w, ALPHA, transfer_function="tanh")
    x = rng.normal(size=(2, 20, 3))
    zeroed = {k: v.copy() for k, v in w.items()}
    zeroed["W_rec"][:, [0, 5]] = 0.0
    zeroed["W_out"][:, [0, 5]] = 0.0
    expected = simulate(Network("lstm", zeroed, ALPHA, transfer_function="tanh"), x)
    got = simulate(lstm, x, perturbations=[Silence([0, 5])])
    np.testing.assert_allclose(got.outputs, expected.outputs, atol=1e-12)
    # a per-unit recurrent mask applies to all four gate blocks
    mask = np.ones((8, 8))
    mask[2, 3] = 0.0
    blocks = {k: v.copy() for k, v in w.items()}
    blocks["W_rec"][[2, 10, 18, 26], 3] = 0.0
    expected = simulate(Network("lstm", blocks, ALPHA, transfer_function="tanh"), x).outputs
    np.testing.assert_allclose(simulate(lstm, x, perturbations=[Cut("W_rec", mask)]).outputs, expected, atol=1e-12)


def test_every_model_takes_every_perturbation_and_a_missing_matrix_is_named():
    """Perturbations act on the first state component and named matrices, whatever the model."""
    from psychrnn_cli.perturbations import parse

    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 30, 3))
    for kind, gates in (("lstm", 4), ("gru", 3), ("adapting", 1), ("stp", 1)):
        weights = random_weights(rng, 3, 8, 2, gates=gates)
        if kind == "adapting":
            weights["strength"] = np.full(8, 0.5)  # its extra parameter
        network = Network(kind, weights, ALPHA, transfer_function="tanh")
        n_steps = x.shape[1]
        texts = [("lesion", "0-1"), ("cut", "W_in:0>2-3@50-150"), ("scale", "W_rec:4>5=0.5"), ("clamp", "6=0.3@100-"),
                 ("inject", "7=1.0@0-100"), ("input-noise", "0.1"), ("rec-noise", "0.1")]
        perturbations = [parse(flag, text, network, n_steps) for flag, text in texts]
        result = simulate(network, x, seed=1, perturbations=perturbations)
        assert np.all(result.states[:, 10:, 6] == 0.3)  # clamped from 100 ms (dt 10)
        assert np.all(np.isfinite(result.outputs))
        lesioned = simulate(network, x, perturbations=perturbations[:1])
        zeroed = {k: v.copy() for k, v in network.weights.items()}
        zeroed["W_rec"][:, :2] = zeroed["W_out"][:, :2] = 0.0
        expected = simulate(Network(network.model, zeroed), x)
        np.testing.assert_allclose(lesioned.outputs, expected.outputs, atol=1e-12)
        with pytest.raises(SimulatorError, match=f"model={network.kind} has no matrix 'W_fb'"):
            simulate(network, x, perturbations=[Cut("W_fb", np.ones((8, 8)))])
        with pytest.raises(SimulatorError, match=f"model={network.kind} has no matrix 'W_fb'"):
            parse("cut", "W_fb:0>1", network, n_steps)


def test_stored_model_classes_of_older_run_files_still_load(tmp_path):
    from psychrnn_cli.models import make_model
    from psychrnn_cli.models.lstm import LSTM
    from psychrnn_cli.simulator import network_from_run

    assert isinstance(make_model({"_target_": "psychrnn_cli.network.gated.LSTM", "N_rec": 4, "forget_bias": 0.5},
                                 0.1), LSTM)
    run = load_run(write_synthetic_run(tmp_path))
    run["config"]["model"]["_target_"] = "psychrnn_cli.network.basic.BasicRNN"
    old = simulate(network_from_run(run), run["trials"]["inputs"])
    np.testing.assert_allclose(old.outputs, run["trials"]["outputs"], rtol=1e-5, atol=1e-6)


def test_a_run_file_whose_weights_do_not_fit_its_model_is_named(tmp_path, capsys):
    import h5py

    from psychrnn_cli.commands import evaluate

    run_file = write_synthetic_run(tmp_path)
    with h5py.File(run_file, "r+") as f:
        W_rec = f["model/weights/W_rec"][:, :5]
        del f["model/weights/W_rec"]
        f["model/weights/W_rec"] = W_rec
    assert evaluate.main([str(run_file), "--trials", "5", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "W_rec has shape (20, 5), expected (20, 20)" in err and "Traceback" not in err


def test_bad_perturbations_and_inputs_give_clear_errors(net, inputs):
    with pytest.raises(SimulatorError, match="matrix must be one of"):
        simulate(net, inputs, perturbations=[Scale("W_foo", 2.0)])
    with pytest.raises(SimulatorError, match="out of range"):
        simulate(net, inputs, perturbations=[Silence([99])])
    with pytest.raises(SimulatorError, match=r"fits neither \(12, 12\).*\(30, 12, 12\)"):
        simulate(net, inputs, perturbations=[Cut("W_rec", np.ones((5, 12, 12)))])
    with pytest.raises(SimulatorError, match=r"inputs must have shape \[trials, steps, 3\]"):
        simulate(net, inputs[0])
    with pytest.raises(SimulatorError, match="no NumPy version"):
        Network("basic", net.weights, ALPHA, transfer_function="tf.math.erf")


# --- the simulate command -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("synthetic"),
                               ("constraints=[dale,two_regions]", "constraints.regions.sizes=[10,10]"))


def test_simulate_command_writes_trials_and_both_conditions(synthetic_run, tmp_path, capsys):
    from psychrnn_cli.commands.simulate import main

    out = tmp_path / "sim.h5"
    code = main([str(synthetic_run.parent), "--lesion", "all", "--cut", "exc>inh@100-", "--trials", "30",
                 "--out", str(out), "task.coherences=[0.5]"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert re.search(r"accuracy without perturbation [\d.]+, with perturbation [\d.]+", printed)
    sim = load_run(out)
    assert sim["trials"]["inputs"].shape == (30, 50, 2) and np.all(sim["trials"]["coherence"] == 0.5)
    b_out = load_network(synthetic_run).weights["b_out"]
    np.testing.assert_allclose(sim["perturbed"]["outputs"], np.broadcast_to(b_out, (30, 50, 2)), atol=1e-12)
    baseline = simulate(load_network(synthetic_run), sim["trials"]["inputs"])
    np.testing.assert_allclose(sim["baseline"]["outputs"], baseline.outputs, atol=1e-12)
    assert sim["attrs"]["perturbations"] == "lesion all; cut exc>inh@100-"


def test_simulate_command_windowed_cut_and_clamp(synthetic_run, tmp_path):
    from psychrnn_cli.commands.simulate import main

    out = tmp_path / "sim.h5"
    assert main([str(synthetic_run), "--cut", "region0>region1@200-300", "--clamp", "0-2=0.25@100-", "--trials", "5",
                 "--out", str(out)]) == 0
    sim = load_run(out)
    network = load_network(synthetic_run)
    masks = np.ones((50, 20, 20))
    masks[20:30, 10:, :10] = 0.0  # region0 (units 0..9) -> region1 (units 10..19), steps 20..29
    expected = simulate(network, sim["trials"]["inputs"], perturbations=[Cut("W_rec", masks),
                                                                           Clamp([0, 1, 2], 0.25, 100)])
    np.testing.assert_allclose(sim["perturbed"]["states"], expected.states, atol=1e-12)
    assert np.all(sim["perturbed"]["states"][:, 10:, :3] == 0.25)


@pytest.mark.parametrize("args,message", [
    (["--lesion", "exc-3"], "--lesion 'exc-3': use indices and ranges"),
    (["--cut", "0-3"], "write SRC>DST"),
    (["--clamp", "1@5-9"], "write UNITS=VALUE"),
    (["--scale", "W_xx:2"], "model=basic has no matrix 'W_xx'; choose W_in, W_out, W_rec"),
    (["--inject", "0=1@abc"], "write @T0-T1 in ms"),
    (["--lesion", "region7"], "regions are region0..region1"),
    (["model.N_rec=5"], "only task settings can change"),
])
def test_simulate_command_rejects_bad_specs(synthetic_run, capsys, args, message):
    from psychrnn_cli.commands.simulate import main

    assert main([str(synthetic_run), "--trials", "2", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_commands_report_a_missing_or_corrupt_run(tmp_path, capsys):
    from psychrnn_cli.commands import analyse, evaluate, export, plot, simulate as simulate_command

    (tmp_path / "run.h5").write_bytes(b"not an hdf5 file")
    commands = ((evaluate, []), (simulate_command, []), (plot, []), (export, []), (analyse, ["--fixed-points"]))
    for module, extra in commands:
        assert module.main([str(tmp_path / "missing"), *extra]) == 2
        assert "no run file at" in capsys.readouterr().err
        assert module.main([str(tmp_path), *extra]) == 2
        assert "cannot read" in capsys.readouterr().err
