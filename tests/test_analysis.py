"""Analysis: fixed points against analytic answers, PCA, psychometric data, and ``psychrnn analyse``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from psychrnn_cli import load_run
from psychrnn_cli.analysis import (condition_accuracy, condition_parameters, find_fixed_points, jacobian, pca,
                                   psychometric, sample_states, signed_coherence, speed)
from psychrnn_cli.simulator import Network, SimulatorError, load_network, simulate
from psychrnn_cli.task import choice_accuracy

ALPHA = 0.2


def linear_network(spectral_radius, N=6, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, N))
    W *= spectral_radius / np.max(np.abs(np.linalg.eigvals(W)))
    w = {"W_in": rng.standard_normal((N, 2)), "W_rec": W, "W_out": np.ones((1, N)), "b_rec": rng.standard_normal(N),
         "b_out": np.zeros(1), "init_state": np.zeros(N)}
    return Network("basic", w, ALPHA, transfer_function="linear")


@pytest.mark.parametrize("radius,stable", [(0.8, True), (1.6, False)])
def test_linear_network_has_its_one_analytic_fixed_point(radius, stable):
    net = linear_network(radius)
    u = np.array([0.3, -1.0])
    w = net.weights
    # F(x) = x  <=>  x = W x + W_in u + b  <=>  x* = (I - W)^-1 (W_in u + b)
    analytic = np.linalg.solve(np.eye(6) - w["W_rec"], w["W_in"] @ u + w["b_rec"])
    starts = np.random.default_rng(1).normal(0, 3, (20, 6))
    found = find_fixed_points(net, starts, u)
    assert found.xstar.shape == (1, 6) and found.n_slow == 0
    np.testing.assert_allclose(found.xstar[0], analytic, atol=1e-9)
    # J = (1 - a) I + a W, so its eigenvalues are 1 - a + a * eig(W)
    expected = np.sort_complex(1 - ALPHA + ALPHA * np.linalg.eigvals(w["W_rec"]))
    np.testing.assert_allclose(np.sort_complex(found.eigvals[0]), expected, atol=1e-9)
    np.testing.assert_allclose(found.J_xstar[0], (1 - ALPHA) * np.eye(6) + ALPHA * w["W_rec"], atol=1e-12)
    assert bool(found.is_stable[0]) is stable
    assert found.qstar[0] < 1e-20


def test_bistable_tanh_units_have_nine_fixed_points_four_stable():
    # two uncoupled units x = 2 tanh(x): fixed points 0 (unstable) and +-a with a = 2 tanh(a)
    a = 2.0
    for _ in range(200):
        a = 2 * np.tanh(a)
    w = {"W_in": np.zeros((2, 1)), "W_rec": 2 * np.eye(2), "W_out": np.eye(2), "b_rec": np.zeros(2),
         "b_out": np.zeros(2), "init_state": np.zeros(2)}
    net = Network("basic", w, ALPHA, transfer_function="tanh")
    grid = np.linspace(-3, 3, 9)
    found = find_fixed_points(net, np.array([[p, q] for p in grid for q in grid]))
    points = {tuple(np.round(x, 6)) for x in found.xstar}
    expected = {(round(p, 6), round(q, 6)) for p in (-a, 0.0, a) for q in (-a, 0.0, a)}
    assert points == expected
    stable = {tuple(np.round(x, 6)) for x in found.xstar[found.is_stable]}
    assert stable == {(round(p, 6), round(q, 6)) for p in (-a, a) for q in (-a, a)}
    assert np.all(speed(net, found.xstar) < 1e-12)


def test_fixed_points_of_a_gated_model_are_fixed_under_the_simulator():
    """Any model kind: GRU fixed points found by the finder stay put for one simulator step."""
    rng = np.random.default_rng(5)
    w = {"W_in": rng.normal(size=(12, 1)), "W_rec": rng.normal(0, 0.8, (12, 4)), "W_out": np.eye(4),
         "b_rec": rng.normal(0, 0.3, 12), "b_out": np.zeros(4), "init_state": np.zeros(4)}
    net = Network("gru", w, ALPHA, transfer_function="tanh")
    found = find_fixed_points(net, rng.uniform(-1, 1, size=(20, 4)))
    assert len(found.xstar) >= 1 and found.J_xstar.shape == (len(found.xstar), 4, 4)
    for x in found.xstar:
        step = simulate(Network("gru", {**w, "init_state": x}, ALPHA, transfer_function="tanh"), np.zeros((1, 1, 1)))
        assert 0.5 * np.sum((step.states[0, 0] - x) ** 2) <= 1e-12  # the finder's q_tol


def test_lstm_fixed_point_spans_both_state_components():
    """Zero weights: (h, c) = (0, 0) is the one fixed point; dc/dc = sigmoid(forget_bias), dh/dc = 0.5 of it."""
    w = {"W_in": np.zeros((8, 1)), "W_rec": np.zeros((8, 2)), "W_out": np.eye(2), "b_rec": np.zeros(8),
         "b_out": np.zeros(2), "init_state": np.zeros(2)}
    net = Network("lstm", w, ALPHA, transfer_function="tanh", forget_bias=1.0)
    found = find_fixed_points(net, np.random.default_rng(0).normal(size=(5, 4)))
    np.testing.assert_allclose(found.xstar, np.zeros((1, 4)), atol=1e-8)
    s = 1 / (1 + np.exp(-1.0))
    expected = np.zeros((4, 4))
    expected[2, 2] = expected[3, 3] = s
    expected[0, 2] = expected[1, 3] = 0.5 * s
    np.testing.assert_allclose(found.J_xstar[0], expected, atol=1e-8)
    assert found.is_stable[0]
    with pytest.raises(SimulatorError, match="model=lstm has 2 state component"):
        find_fixed_points(net, np.zeros((1, 2)))


def test_jacobian_matches_the_basic_models_analytic_jacobian():
    rng = np.random.default_rng(2)
    w = {"W_in": np.zeros((5, 1)), "W_rec": rng.normal(0, 0.7, (5, 5)), "W_out": np.eye(5), "b_rec": rng.normal(size=5),
         "b_out": np.zeros(5), "init_state": np.zeros(5)}
    net = Network("basic", w, ALPHA, transfer_function="softplus")
    x = rng.normal(size=5)
    slope = 1 / (1 + np.exp(-x))  # softplus' = sigmoid
    analytic = (1 - ALPHA) * np.eye(5) + ALPHA * w["W_rec"] * slope[None, :]
    np.testing.assert_allclose(jacobian(net, x[None])[0], analytic, atol=1e-8)


def test_pca_finds_the_dominant_direction():
    rng = np.random.default_rng(3)
    direction = np.array([3.0, 4.0, 0.0]) / 5
    samples = rng.standard_normal((2000, 1)) * 5 * direction + 0.1 * rng.standard_normal((2000, 3)) + 7.0
    fit = pca(samples.reshape(100, 20, 3), 2)
    assert abs(fit.components[0] @ direction) > 0.999
    assert fit.explained_variance_ratio[0] > 0.99
    np.testing.assert_allclose(fit.mean, 7.0 * np.ones(3) + 0 * direction, atol=0.3)
    assert fit.project(samples[:5]).shape == (5, 2)


def test_psychometric_and_condition_tables():
    coherence = np.array([0.1, 0.1, 0.5, 0.5, 0.5])
    direction = np.array([1, 0, 1, 0, 0])
    stim = signed_coherence(coherence, direction)
    np.testing.assert_array_equal(stim, [0.1, -0.1, 0.5, -0.5, -0.5])
    chosen = np.array([1, 1, 1, 0, 1])  # the output each trial ends up choosing
    outputs = np.zeros((5, 4, 2))
    outputs[np.arange(5), :, chosen] = 1.0
    mask = np.ones_like(outputs)
    levels, p, n = psychometric(stim, outputs, mask)
    np.testing.assert_array_equal(levels, [-0.5, -0.1, 0.1, 0.5])
    np.testing.assert_array_equal(p, [0.5, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(n, [2, 1, 1, 1])
    targets = np.zeros_like(outputs)
    targets[np.arange(5), :, direction] = 1.0
    levels, acc, n = condition_accuracy(coherence, targets, outputs, mask, choice_accuracy)
    np.testing.assert_array_equal(levels, [0.1, 0.5])
    np.testing.assert_allclose(acc, [0.5, 2 / 3])
    params = {"coherence": coherence, "direction": direction, "onset": np.arange(5.0), "fixed": np.ones(5)}
    assert condition_parameters(params, max_levels=3) == ["coherence", "direction"]


def test_analyse_command_saves_fixed_points_that_are_fixed(trained_run, tmp_path, capsys):
    from psychrnn_cli.commands.analyse import main

    run_file = tmp_path / "run.h5"
    shutil.copy(trained_run, run_file)
    assert main([str(tmp_path), "--fixed-points", "--initial", "64", "--trials", "20"]) == 0
    printed = capsys.readouterr().out
    assert "fixed point(s) from 64 searches" in printed and "saved under /analysis/fixed_points" in printed
    saved = load_run(run_file)["analysis"]["fixed_points"]
    assert {"xstar", "qstar", "J_xstar", "eigvals", "is_stable"} <= set(saved)
    K = len(saved["xstar"])
    assert K >= 1 and saved["J_xstar"].shape == (K, 50, 50) and saved["eigvals"].dtype.kind == "c"
    network = load_network(run_file)
    for x in saved["xstar"]:  # one simulator step from x* with zero input returns x*
        one_step = simulate(Network("basic", {**network.weights, "init_state": x}, network.alpha), np.zeros((1, 1, 2)))
        np.testing.assert_allclose(one_step.states[0, 0], x, atol=1e-10)
    np.testing.assert_array_equal(saved["is_stable"], np.all(np.abs(saved["eigvals"]) < 1, axis=1))
    assert "trials" in load_run(run_file)  # the rest of the run file is still there


def test_analyse_command_needs_an_analysis_and_a_valid_input(trained_run, capsys):
    from psychrnn_cli.commands.analyse import main

    assert main([str(trained_run)]) == 2
    assert "choose an analysis" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # an argparse usage error
        main([str(trained_run), "--fixed-points", "--input", "1,x", "--no-save"])
    assert info.value.code == 2 and "--input: expected comma-separated numbers" in capsys.readouterr().err
    assert main([str(trained_run), "--fixed-points", "--input", "1,2,3", "--no-save"]) == 2
    assert "give 2 comma-separated numbers" in capsys.readouterr().err


def test_sample_states_draws_from_the_given_states():
    states = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    picked = sample_states(states, 5, np.random.default_rng(0))
    pool = {tuple(s) for s in states.reshape(-1, 4)}
    assert picked.shape == (5, 4) and all(tuple(p) in pool for p in picked)
