"""The basic rate RNN against its equations (README), effective weights and initialization."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from psychrnn_cli.initializers import gaussian_spectral_radius, spectral_radius
from psychrnn_cli.masks import build_constraints, effective_weights
from psychrnn_cli.models.basic import Basic
from psychrnn_cli.models.gru import GRU
from psychrnn_cli.models.lstm import LSTM
from psychrnn_cli.network.base import RecurrentModel
from psychrnn_cli.network.losses import bce, mse


def all_to_all(N_in, N_rec, N_out, **kwargs):
    return build_constraints(N_in, N_rec, N_out, np.random.default_rng(0), **kwargs)


def reference_forward(w, inputs, alpha, f, noise=None, rec_noise=0.0):
    """The basic model's equations written out step by step in NumPy."""
    B, T, _ = inputs.shape
    x = np.broadcast_to(w["init_state"], (B, w["W_rec"].shape[0])).astype(np.float64)
    outputs, states = [], []
    for t in range(T):
        x = (1 - alpha) * x + alpha * (f(x) @ w["W_rec"].T + inputs[:, t] @ w["W_in"].T + w["b_rec"])
        if noise is not None:
            x = x + np.sqrt(2 * alpha) * rec_noise * noise[:, t]
        states.append(x)
        outputs.append(f(x) @ w["W_out"].T + w["b_out"])
    return np.stack(outputs, 1), np.stack(states, 1)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    constraints = all_to_all(3, 20, 2, dale_ratio=0.8)
    weights = gaussian_spectral_radius(rng, constraints, 3, 2)
    weights["b_rec"] = rng.normal(size=20).astype(np.float32) * 0.1
    weights["b_out"] = rng.normal(size=2).astype(np.float32) * 0.1
    inputs = rng.normal(size=(4, 30, 3)).astype(np.float32)
    return constraints, weights, inputs


@pytest.mark.parametrize("name,f", [("relu", lambda v: np.maximum(v, 0)), ("tanh", np.tanh)])
def test_forward_matches_equations(setup, name, f):
    constraints, weights, inputs = setup
    model = RecurrentModel(Basic(20, alpha=0.1, transfer_function=name), weights, constraints)
    outputs, states = model(tf.constant(inputs))
    eff = effective_weights(weights, constraints)
    ref_out, ref_states = reference_forward(eff, inputs, 0.1, f)
    np.testing.assert_allclose(states.numpy(), ref_states, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs.numpy(), ref_out, rtol=1e-4, atol=1e-5)


def test_recurrent_noise_enters_as_specified(setup):
    constraints, weights, inputs = setup
    model = RecurrentModel(Basic(20, alpha=0.1, rec_noise=0.05), weights, constraints)
    noise = np.random.default_rng(1).normal(size=(4, 30, 20)).astype(np.float32)
    _, states = model(tf.constant(inputs), tf.constant(noise))
    _, ref_states = reference_forward(effective_weights(weights, constraints), inputs, 0.1,
                                      lambda v: np.maximum(v, 0), noise, 0.05)
    np.testing.assert_allclose(states.numpy(), ref_states, rtol=1e-4, atol=1e-5)
    quiet, _ = model(tf.constant(inputs))
    assert not np.allclose(quiet.numpy(), model(tf.constant(inputs), tf.constant(noise))[0].numpy())


def test_dale_effective_weights_signs_and_outputs():
    rng = np.random.default_rng(2)
    constraints = all_to_all(2, 10, 2, dale_ratio=0.7)
    raw = {k: rng.normal(size=s).astype(np.float32) for k, s in
           {"W_in": (10, 2), "W_rec": (10, 10), "W_out": (2, 10), "b_rec": (10,), "b_out": (2,), "init_state": (10,)}.items()}
    eff = effective_weights(raw, constraints)
    assert np.all(eff["W_rec"][:, :7] >= 0) and np.all(eff["W_rec"][:, 7:] <= 0)
    assert np.all(eff["W_out"][:, 7:] == 0) and np.all(eff["W_in"] >= 0)
    np.testing.assert_array_equal(np.abs(eff["W_rec"]), np.abs(raw["W_rec"]))


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_dale_ratio_extremes_are_valid(ratio):
    constraints = all_to_all(2, 10, 2, dale_ratio=ratio)
    assert set(constraints.signs) == {1.0 if ratio == 1.0 else -1.0}
    w = gaussian_spectral_radius(np.random.default_rng(0), constraints, 2, 2)
    assert np.all(np.isfinite(w["W_rec"]))


def test_no_autapses_zeroes_diagonal():
    constraints = all_to_all(2, 8, 2, autapses=False)
    w = gaussian_spectral_radius(np.random.default_rng(0), constraints, 2, 2)
    assert np.all(np.diag(effective_weights(w, constraints)["W_rec"]) == 0)


@pytest.mark.parametrize("dale_ratio", [None, 0.8])
def test_effective_spectral_radius_at_init(dale_ratio):
    constraints = all_to_all(2, 50, 2, dale_ratio=dale_ratio)
    w = gaussian_spectral_radius(np.random.default_rng(0), constraints, 2, 2, spec_rad=1.1)
    assert spectral_radius(effective_weights(w, constraints)["W_rec"]) == pytest.approx(1.1, abs=1e-3)


def test_initialization_depends_only_on_seed():
    constraints = all_to_all(2, 30, 2)
    a = gaussian_spectral_radius(np.random.default_rng(7), constraints, 2, 2)
    b = gaussian_spectral_radius(np.random.default_rng(7), constraints, 2, 2)
    c = gaussian_spectral_radius(np.random.default_rng(8), constraints, 2, 2)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["W_rec"], c["W_rec"])


def test_masked_mse_definition():
    z = tf.constant(np.ones((2, 3, 2), np.float32))
    y = tf.zeros_like(z)
    mask = np.zeros((2, 3, 2), np.float32)
    mask[0, 0, 0] = 1
    assert float(mse(z, y, tf.constant(mask))) == pytest.approx(1 / 12)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def reference_lstm(w, inputs, forget_bias=1.0):
    """Keras-style LSTM written out in NumPy: gates i, f, g, o stacked in rows."""
    B, T, _ = inputs.shape
    N = w["W_rec"].shape[1]
    h = np.broadcast_to(w["init_state"], (B, N)).astype(np.float64)
    c = np.zeros_like(h)
    hs = []
    for t in range(T):
        z = inputs[:, t] @ w["W_in"].T + h @ w["W_rec"].T + w["b_rec"]
        i, f, g, o = np.split(z, 4, axis=1)
        c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
    hs = np.stack(hs, 1)
    return hs @ w["W_out"].T + w["b_out"], hs


def reference_gru(w, inputs):
    """GRU (reset after the recurrent product) written out in NumPy: gates u, r, candidate."""
    B, T, _ = inputs.shape
    N = w["W_rec"].shape[1]
    h = np.broadcast_to(w["init_state"], (B, N)).astype(np.float64)
    hs = []
    for t in range(T):
        xu, xr, xh = np.split(inputs[:, t] @ w["W_in"].T + w["b_rec"], 3, axis=1)
        hu, hr, hh = np.split(h @ w["W_rec"].T, 3, axis=1)
        u = sigmoid(xu + hu)
        h = u * h + (1 - u) * np.tanh(xh + sigmoid(xr + hr) * hh)
        hs.append(h)
    hs = np.stack(hs, 1)
    return hs @ w["W_out"].T + w["b_out"], hs


@pytest.mark.parametrize("cls,reference", [(LSTM, reference_lstm), (GRU, reference_gru)])
def test_gated_models_match_equations(cls, reference):
    from psychrnn_cli.initializers import glorot_normal

    rng = np.random.default_rng(3)
    constraints = all_to_all(3, 16, 2, density=0.5)
    definition = cls(16, alpha=0.1, transfer_function="tanh")
    weights = definition.initial_weights(glorot_normal, rng, constraints, 3, 2)
    weights["b_rec"] = rng.normal(size=weights["b_rec"].shape).astype(np.float32) * 0.1
    inputs = rng.normal(size=(4, 25, 3)).astype(np.float32)
    model = RecurrentModel(definition, weights, constraints)
    outputs, states = model(tf.constant(inputs))
    ref_out, ref_states = reference(effective_weights(weights, constraints, gates=cls.gates), inputs)
    np.testing.assert_allclose(states.numpy(), ref_states, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs.numpy(), ref_out, rtol=1e-4, atol=1e-5)
    # the recurrent mask applies to every gate's block
    eff = model.effective()["W_rec"].numpy()
    assert np.all(eff[np.tile(constraints.rec_mask, (cls.gates, 1)) == 0] == 0)


def test_masked_bce_definition():
    z = tf.constant(np.full((1, 2, 1), 0.8, np.float32))
    y = tf.constant(np.array([[[1.0], [0.0]]], np.float32))
    mask = tf.constant(np.array([[[1.0], [0.0]]], np.float32))
    assert float(bce(z, y, mask)) == pytest.approx(-np.log(0.8) / 2, rel=1e-5)


def test_dale_on_a_gated_model_is_a_clear_error():
    from psychrnn_cli.initializers import glorot_normal

    constraints = all_to_all(2, 8, 2, dale_ratio=0.8)
    definition = LSTM(8, alpha=0.1)
    weights = definition.initial_weights(glorot_normal, np.random.default_rng(0), constraints, 2, 2)
    with pytest.raises(ValueError, match="applies only to model=basic and models that declare supports_dale; "
                                         "model=lstm does not"):
        RecurrentModel(definition, weights, constraints)
