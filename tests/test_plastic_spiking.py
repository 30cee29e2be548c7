"""model=plastic (Miconi, Clune and Stanley 2018) and model=spiking (Zenke and Ganguli 2018): their
equations on small cases worked out by hand, the NumPy simulator against the TensorFlow engine,
bad options, and every post-training command on a trained run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build
from psychrnn_cli.masks import build_constraints
from psychrnn_cli.models.plastic import Plastic
from psychrnn_cli.models.spiking import Spiking
from psychrnn_cli.perturbations import Silence
from psychrnn_cli.simulator import Network, load_network, simulate
from tests.conftest import FAST

QUICK = [*FAST, "task.T=300", "train.iterations=4", "train.eval_every=2", "train.checkpoint_every=2",
         "train.stop_accuracy=null"]


def all_to_all(N_in: int, N_rec: int, N_out: int):
    return build_constraints(N_in, N_rec, N_out, np.random.default_rng(0))


# --- plastic ---------------------------------------------------------------------------------------

PLASTIC_WEIGHTS = {
    "W_in": np.zeros((2, 1)), "W_rec": np.full((2, 2), 0.5), "W_out": np.eye(2), "b_rec": np.zeros(2),
    "b_out": np.zeros(2), "init_state": np.array([1.0, 2.0]), "A": np.array([[1.0, 2.0], [3.0, 4.0]]),
    "eta_logit": np.array(0.0),  # eta = sigmoid(0) = 0.5
}
# alpha 0.5, relu, no input. Step 1: r0 = [1, 2], H0 = 0: x1 = 0.5 x0 + 0.5 W r0 = [1.25, 1.75];
# H1 = 0.5 r0 r(-1)^T = 0. Step 2: x2 = 0.5 x1 + 0.5 W r1 = [1.375, 1.625]; H2 = 0.5 r1 r0^T =
# [[0.625, 1.25], [0.875, 1.75]]. Step 3: W + A * H2 = [[1.125, 3], [3.125, 7.5]], times r2 =
# [6.421875, 16.484375]; x3 = 0.5 x2 + 0.5 of that = [3.8984375, 9.0546875].
PLASTIC_STATES = np.array([[1.25, 1.75], [1.375, 1.625], [3.8984375, 9.0546875]])


def test_plastic_steps_match_the_equations_worked_by_hand():
    network = Network(Plastic(2, alpha=0.5), PLASTIC_WEIGHTS)
    result = simulate(network, np.zeros((1, 3, 1)))
    np.testing.assert_allclose(result.states[0], PLASTIC_STATES, rtol=1e-12)
    np.testing.assert_allclose(result.outputs[0], PLASTIC_STATES, rtol=1e-12)  # W_out = I, relu of positives
    assert result.full_states.shape == (1, 3, 4)  # x and r_prev; the Hebbian matrix is left out


def test_plastic_tensorflow_engine_matches_the_same_hand_computed_steps():
    import tensorflow as tf

    from psychrnn_cli.network.base import RecurrentModel

    weights = {k: np.asarray(v, np.float32) for k, v in PLASTIC_WEIGHTS.items()}
    model = RecurrentModel(Plastic(2, alpha=0.5), weights, all_to_all(1, 2, 2))
    outputs, states = model(tf.zeros((1, 3, 1)))
    np.testing.assert_allclose(states.numpy()[0], PLASTIC_STATES, rtol=1e-6)
    with tf.GradientTape() as tape:  # the trace's gradient reaches A (through the recomputed pieces)
        outputs, _ = model(tf.zeros((1, 3, 1)))
        loss = tf.reduce_sum(outputs)
    grad_A, grad_eta = tape.gradient(loss, [model.params["A"], model.params["eta_logit"]])
    # only step 3 sees H2: d sum(x3) / dA = 0.5 * H2 * r2 (column j times r2[j]), summed over outputs
    np.testing.assert_allclose(grad_A.numpy(), 0.5 * np.array([[0.625, 1.25], [0.875, 1.75]]) * [1.375, 1.625],
                               rtol=1e-5)
    assert float(grad_eta) != 0.0


def test_plastic_term_follows_the_recurrent_mask_and_lesions():
    weights = {**PLASTIC_WEIGHTS, "W_rec": np.array([[0.5, 0.0], [0.5, 0.5]])}  # no synapse 1 -> 0
    result = simulate(Network(Plastic(2, alpha=0.5), weights), np.zeros((1, 3, 1)))
    # step 3 as above, but unit 0 gets no input from unit 1 (neither W nor A * H):
    # x3[0] = 0.5 x2[0] + 0.5 (W[0, 0] + A[0, 0] H2[0, 0]) r2[0]
    x1 = np.array([0.5 * 1 + 0.5 * 0.5 * 1, 0.5 * 2 + 0.5 * 0.5 * 3])  # [0.75, 1.75]
    x2 = np.array([0.5 * x1[0] + 0.25 * x1[0], 0.5 * x1[1] + 0.25 * (x1[0] + x1[1])])
    H2 = 0.5 * np.outer(x1, [1.0, 2.0])
    x3_0 = 0.5 * x2[0] + 0.5 * (0.5 + 1.0 * H2[0, 0]) * x2[0]
    np.testing.assert_allclose(result.states[0, :, 0], [x1[0], x2[0], x3_0], rtol=1e-12)
    # a lesion of unit 1 removes its synapses onto unit 0 in the same way, plastic part included
    lesioned = simulate(Network(Plastic(2, alpha=0.5), PLASTIC_WEIGHTS), np.zeros((1, 3, 1)), perturbations=[Silence([1])])
    np.testing.assert_allclose(lesioned.states[0, :, 0], [x1[0], x2[0], x3_0], rtol=1e-12)


@pytest.mark.parametrize("definition, own", [(Plastic(2, alpha=0.5), {"A", "eta_logit"}), (Spiking(2, alpha=0.05, dt=1.0),
                                                                                            set())])
def test_stored_weights_give_the_model_s_own_parameters_and_not_another_kind_s(definition, own):
    """model.load_weights of a plastic run started from fresh A and eta_logit (and carried an
    adapting run's strength into any model)."""
    stored = {**PLASTIC_WEIGHTS, "A": np.full((2, 2), 7.0), "eta_logit": np.array(3.0), "strength": np.ones(2)}
    weights = definition.initial_weights(lambda **kwargs: dict(stored), np.random.default_rng(0),
                                         all_to_all(1, 2, 2), 1, 2)
    assert set(weights) == {"W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state"} | own
    for name in weights:
        np.testing.assert_array_equal(weights[name], stored[name])


def test_fixed_points_refuse_the_plastic_model_naming_its_matrix_state():
    from psychrnn_cli.analysis import find_fixed_points
    from psychrnn_cli.simulator import SimulatorError

    with pytest.raises(SimulatorError, match=r"model=plastic's state components have shapes \(2,\), \(2, 2\), \(2,\)"):
        find_fixed_points(Network(Plastic(2, alpha=0.5), PLASTIC_WEIGHTS), np.zeros((1, 6)))


# --- spiking ---------------------------------------------------------------------------------------


def test_fixed_points_refuse_the_spiking_model_whose_step_has_no_jacobian():
    from psychrnn_cli.analysis import find_fixed_points
    from psychrnn_cli.simulator import SimulatorError

    weights = {"W_in": np.zeros((2, 1)), "W_rec": np.zeros((2, 2)), "W_out": np.eye(2), "b_rec": np.zeros(2),
               "b_out": np.zeros(2), "init_state": np.zeros(2)}
    with pytest.raises(SimulatorError, match=r"fixed points need a differentiable step; model=spiking's units spike"):
        find_fixed_points(Network(Spiking(2, alpha=0.05, dt=1.0), weights), np.zeros((1, 8)))


def test_spiking_steps_match_the_equations_worked_by_hand():
    # dt 1 ms, tau_mem 2, tau_syn 1, tau_out 4: unit 0 gets input 10, unit 1 only unit 0's spikes (weight 5).
    # Step t gives v[t+1], I[t+1] and s[t+1] = H(v[t+1] - 1), recorded at index t.
    bm, bs, bo = math.exp(-0.5), math.exp(-1.0), math.exp(-0.25)
    weights = {"W_in": np.array([[10.0], [0.0]]), "W_rec": np.array([[0.0, 0.0], [5.0, 0.0]]),
               "W_out": np.eye(2), "b_rec": np.zeros(2), "b_out": np.zeros(2), "init_state": np.zeros(2)}
    model = Spiking(2, alpha=0.01, dt=1.0, tau_mem=2.0, tau_syn=1.0, tau_out=4.0, theta=1.0)
    result = simulate(Network(model, weights), np.ones((1, 5, 1)))
    # unit 0: v1 = 0, I1 = 10 (1 - bs) = 6.32; v2 = (1 - bm) I1 = 2.49 > 1 (spike at index 1);
    # I2 = bs I1 + 10 (1 - bs) = 8.65; v3 = bm v2 + (1 - bm) I2 - 1 = 3.91 (reset by subtraction)
    I1 = 10 * (1 - bs)
    I2 = bs * I1 + 10 * (1 - bs)
    v2 = (1 - bm) * I1
    v3 = bm * v2 + (1 - bm) * I2 - 1.0
    assert v2 == pytest.approx(2.4872, abs=1e-4) and v3 == pytest.approx(3.9108, abs=1e-4)
    # unit 1: unit 0's spike s2 enters I3 = 5 (1 - bs) = 3.16; v4 = (1 - bm) I3 = 1.24 > 1 (index 3);
    # I4 = bs I3 + 5 (1 - bs) = 4.32 (s3 = 1); v5 = bm v4 + (1 - bm) I4 - 1 = 1.46 > 1 (index 4)
    I3_1 = 5 * (1 - bs)
    v4_1 = (1 - bm) * I3_1
    v5_1 = bm * v4_1 + (1 - bm) * (bs * I3_1 + 5 * (1 - bs)) - 1.0
    assert v4_1 == pytest.approx(1.2437, abs=1e-4) and v5_1 == pytest.approx(1.4554, abs=1e-4)
    spikes = np.array([[0, 0], [1, 0], [1, 0], [1, 1], [1, 1]])
    np.testing.assert_array_equal(result.recorded["spikes"][0], spikes)
    o = np.zeros(2)
    expected_o = []
    for s in spikes:  # the readout's filter of the spikes
        o = bo * o + (1 - bo) * s
        expected_o.append(o)
    np.testing.assert_allclose(result.states[0], expected_o, rtol=1e-12)
    np.testing.assert_allclose(result.outputs[0], expected_o, rtol=1e-12)


def test_spiking_surrogate_derivative_is_the_fast_sigmoid():
    import tensorflow as tf

    from psychrnn_cli.network.ops import TensorOps

    x = tf.constant([-0.5, 0.0, 0.2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = TensorOps("linear").spike(x, 10.0)
    np.testing.assert_array_equal(s.numpy(), [0, 0, 1])
    np.testing.assert_allclose(tape.gradient(s, x).numpy(), [1 / 36, 1.0, 1 / 9], rtol=1e-6)


# --- bad options (before training) ----------------------------------------------------------------

@pytest.mark.parametrize("overrides,message", [
    (["model=plastic", "constraints=dale"], "model=plastic cannot keep Dale's principle (constraints.dale_ratio=0.8)"),
    (["model=plastic", "model.eta_init=1.0"], "model.eta_init must be a number in (0, 1), got 1.0"),
    (["model=spiking", "model.tau_mem=-5"], "model.tau_mem must be a positive float, got -5"),
    (["model=spiking", "model.tau_syn=0"], "model.tau_syn must be a positive float, got 0"),
    (["model=spiking", "task.dt=10", "model.tau_mem=15"],
     "task.dt=10 ms is too coarse for model.tau_mem=15 ms: dt must be at most tau_mem / 2 = 7.5 ms"),
])
def test_bad_options_fail_before_training_naming_the_option(overrides, message):
    with pytest.raises(ConfigError) as err:
        build(compose_config(overrides))
    assert message in str(err.value)


def test_the_spiking_preset_steps_finer_than_the_tasks():
    cfg = compose_config(["model=spiking", "task=delayed_discrimination"])
    assert cfg.task.dt == 5
    assert compose_config(["model=spiking", "task.dt=2"]).task.dt == 2


# --- the NumPy simulator against the TensorFlow engine -------------------------------------------------


@pytest.mark.parametrize("definition,scale", [
    (Plastic(20, alpha=0.2, transfer_function="tanh"), 1.0),
    (Spiking(20, alpha=0.05, dt=2.0, theta=0.2), 3.0),  # inputs scaled up so that most units fire
], ids=["plastic", "spiking"])
def test_simulator_reproduces_the_tensorflow_forward_pass(definition, scale):
    import tensorflow as tf

    from psychrnn_cli.initializers import gaussian_spectral_radius
    from psychrnn_cli.network.base import RecurrentModel

    rng = np.random.default_rng(1)
    constraints = build_constraints(3, 20, 2, rng, density=0.8)
    weights = definition.initial_weights(gaussian_spectral_radius, rng, constraints, 3, 2)
    if "A" in weights:  # a trained network's plastic coefficients
        weights["A"] = rng.normal(0, 0.5, (20, 20)).astype(np.float32)
    inputs = (scale * rng.random((8, 60, 3))).astype(np.float32)
    outputs, states, recorded = RecurrentModel(definition, weights, constraints).forward(tf.constant(inputs))
    result = simulate(Network.from_weights(definition, weights, constraints), inputs)
    if definition.kind == "plastic":
        assert np.max(np.abs(result.outputs - outputs.numpy())) / np.max(np.abs(result.outputs)) < 1e-5
        np.testing.assert_allclose(result.states, states.numpy(), rtol=1e-5, atol=1e-5)
        return
    spikes = recorded["spikes"].numpy()
    assert 0.02 < spikes.mean() < 0.5  # the comparison sees spikes and silences
    assert np.mean(result.recorded["spikes"] == spikes) >= 0.999
    assert np.max(np.abs(result.outputs - outputs.numpy())) < 1e-4


# --- trained runs: simulator against TensorFlow, post-training commands (slow) ------------------------


@pytest.fixture(scope="module", params=["plastic", "spiking"])
def trained(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, train([*QUICK, f"model={request.param}"], run_dir=tmp_path_factory.mktemp(request.param))


@pytest.mark.slow
def test_simulator_reproduces_the_tensorflow_trials(trained):
    kind, run_dir = trained
    run = load_run(run_dir)
    stored = run["trials"]
    result = simulate(load_network(run_dir), stored["inputs"])
    if kind == "plastic":
        scale = np.max(np.abs(stored["outputs"]))
        assert np.max(np.abs(result.outputs - stored["outputs"])) / scale < 1e-5
        assert np.any(run["model"]["weights"]["A"] != 0)
        return
    assert stored["spikes"].dtype == np.uint8 and stored["spikes"].shape == stored["states"].shape
    assert np.mean(result.recorded["spikes"] == stored["spikes"]) >= 0.999
    assert np.max(np.abs(result.outputs - stored["outputs"])) < 1e-4
    rate = run["evaluation"]["attrs"]["mean_firing_rate_hz"]
    assert rate > 0 and np.isfinite(rate)


@pytest.mark.slow
def test_lesion_evaluate_and_plot_work(trained, tmp_path, capsys):
    from psychrnn_cli.commands import evaluate, plot
    from psychrnn_cli.commands import simulate as simulate_command

    kind, run_dir = trained
    assert evaluate.main([str(run_dir), "--trials", "50"]) == 0, capsys.readouterr().err
    out = tmp_path / "lesion.h5"
    assert simulate_command.main([str(run_dir), "--lesion", "0-9", "--trials", "20", "--out", str(out)]) == 0
    assert "perturbed" in load_run(out)
    figures = tmp_path / "plots"
    assert plot.main([str(run_dir), "--out", str(figures), "--trials", "20"]) == 0, capsys.readouterr().err
    if kind == "spiking":
        assert (figures / "spikes.png").is_file()


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run_and_ensembles_train(trained, tmp_path):
    kind = trained[0]
    overrides = [*QUICK, f"model={kind}"]
    first = load_run(train([*overrides, "train.iterations=2"], run_dir=tmp_path / "resumed"))
    assert first["attrs"]["iterations"] == 2
    resumed = load_run(train(overrides, run_dir=tmp_path / "resumed"))
    whole = load_run(trained[1])
    assert resumed["attrs"]["iterations"] == whole["attrs"]["iterations"] == 4
    for name, value in whole["model"]["weights"].items():  # A and eta_logit (plastic) included
        np.testing.assert_array_equal(resumed["model"]["weights"][name], value, err_msg=name)
    np.testing.assert_array_equal(resumed["training"]["loss"], whole["training"]["loss"])

    train([*overrides, "train.iterations=2", "train.ensemble=2"], run_dir=tmp_path / "ensemble")
    members = [load_run(tmp_path / "ensemble" / f"seed_{seed}") for seed in (0, 1)]
    assert all(m["attrs"]["status"] == "completed" and m["model"]["attrs"]["kind"] == kind for m in members)
    assert not np.array_equal(members[0]["model"]["weights"]["W_rec"], members[1]["model"]["weights"]["W_rec"])


# --- acceptance (slow) -------------------------------------------------------------------------------


@pytest.mark.slow
def test_plastic_network_learns_delayed_discrimination(tmp_path):
    run = load_run(train(["train.progress=false", "model=plastic", "task=delayed_discrimination"], run_dir=tmp_path))
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.85 and run["evaluation"]["attrs"]["n_trials"] == 500
    assert np.any(run["model"]["weights"]["A"] != 0)


@pytest.mark.slow
def test_spiking_network_learns_perceptual_discrimination_at_a_plausible_rate(tmp_path):
    run = load_run(train(["train.progress=false", "model=spiking", "task=perceptual_discrimination"],
                         run_dir=tmp_path))
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.85 and run["evaluation"]["attrs"]["n_trials"] == 500
    assert 1.0 <= run["evaluation"]["attrs"]["mean_firing_rate_hz"] <= 50.0
