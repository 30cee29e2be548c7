"""Connectivity masks, Dale's principle and fixed synapses, checked after real training steps."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from psychrnn_cli.initializers import gaussian_spectral_radius, spectral_radius
from psychrnn_cli.masks import ConstraintError, Regions, build_constraints, effective_weights
from psychrnn_cli.models.basic import Basic
from psychrnn_cli.network.base import RecurrentModel
from psychrnn_cli.network.losses import mse
from psychrnn_cli.network.step import CompiledSteps, Objective
from psychrnn_cli.tasks.perceptual_discrimination import PerceptualDiscrimination

N_REC = 20


def constraints(**kwargs):
    return build_constraints(2, N_REC, 2, np.random.default_rng(1), **kwargs)


def test_sparse_mask_density_and_seed():
    a = build_constraints(2, 200, 2, np.random.default_rng(5), density=0.3)
    b = build_constraints(2, 200, 2, np.random.default_rng(5), density=0.3)
    assert abs(a.rec_mask.mean() - 0.3) < 0.02
    np.testing.assert_array_equal(a.rec_mask, b.rec_mask)


def test_regions_block_structure():
    c = build_constraints(3, 100, 2, np.random.default_rng(0), autapses=False,
                          regions=Regions(sizes=[60, 40], within=0.5, between=0.1, input_regions=[0], output_regions=[1]))
    assert abs(c.rec_mask[:60, :60].mean() - 0.5) < 0.05 and abs(c.rec_mask[60:, :60].mean() - 0.1) < 0.05
    assert np.all(c.input_mask[:60] == 1) and np.all(c.input_mask[60:] == 0)
    assert np.all(c.output_mask[:, 60:] == 1) and np.all(c.output_mask[:, :60] == 0)
    assert np.all(np.diag(c.rec_mask) == 0)


@pytest.mark.parametrize("kwargs,message", [
    ({"density": 0.0}, r"density must be a number in \(0, 1\]"),
    ({"density": 1.5}, r"density must be a number in \(0, 1\]"),
    ({"dale_ratio": -0.1}, r"dale_ratio must be a number in \[0, 1\]"),
    ({"regions": Regions(sizes=[10, 5])}, r"adding up to model.N_rec=20"),
    ({"regions": Regions(sizes=[10, 10], output_regions=[2])}, r"numbered 0..1"),
    ({"mask_file": "/nonexistent/mask.npy"}, r"does not exist"),
])
def test_bad_constraints_are_clear_errors(kwargs, message):
    with pytest.raises(ConstraintError, match=message):
        constraints(**kwargs)


def test_mask_files_npy_npz_h5_and_wrong_shape(tmp_path):
    rec = (np.random.default_rng(0).random((N_REC, N_REC)) < 0.5).astype(float)
    np.save(tmp_path / "rec.npy", rec)
    np.testing.assert_array_equal(constraints(mask_file=str(tmp_path / "rec.npy")).rec_mask, rec)
    inp = np.zeros((N_REC, 2)); inp[:5] = 1
    np.savez(tmp_path / "m.npz", input_connectivity=inp)
    c = constraints(mask_file=str(tmp_path / "m.npz"))
    np.testing.assert_array_equal(c.input_mask, inp)
    assert np.all(c.rec_mask == 1)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["model/constraints/rec_connectivity"] = rec
    np.testing.assert_array_equal(constraints(mask_file=str(tmp_path / "m.h5")).rec_mask, rec)
    np.save(tmp_path / "bad.npy", np.ones((3, 3)))
    with pytest.raises(ConstraintError, match=r"shape \(3, 3\), expected \(20, 20\)"):
        constraints(mask_file=str(tmp_path / "bad.npy"))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ConstraintError, match="cannot read"):
        constraints(mask_file=str(tmp_path / "junk.npz"))


def test_fixed_outgoing_builder():
    c = constraints(fixed_outgoing=0.2)
    assert np.all(c.plastic["W_rec"][:, -4:] == 0) and np.all(c.plastic["W_rec"][:, :-4] == 1)
    assert np.all(c.plastic["W_out"][:, -4:] == 0)


@pytest.fixture(scope="module")
def trained_constrained():
    """A network with Dale, no autapses, regions, sparsity and fixed synapses, after 15 Adam steps."""
    plastic_b_rec = np.ones(N_REC, np.float32)
    plastic_b_rec[:3] = 0
    c = build_constraints(2, N_REC, 2, np.random.default_rng(2), autapses=False, dale_ratio=0.75, density=0.8,
                          regions=Regions(sizes=[10, 10], within=1.0, between=0.5, input_regions=[0],
                                          output_regions=[1]), fixed_outgoing=0.25)
    c.plastic["b_rec"] = plastic_b_rec
    weights = gaussian_spectral_radius(np.random.default_rng(3), c, 2, 2, spec_rad=1.1)
    model = RecurrentModel(Basic(N_REC, alpha=0.1), weights, c, trainable={"init_state": False})
    steps = CompiledSteps(model, keras.optimizers.Adam(0.05), Objective(mse), ("per_tensor", 1.0), 0)
    task = PerceptualDiscrimination(T=300, N_batch=16, seed=0)
    for _ in range(15):
        x, y, mask, _ = task.get_trial_batch()
        steps.train_step(x, y, mask)
    return c, weights, model


def test_masked_entries_are_zero_after_training(trained_constrained):
    c, _, model = trained_constrained
    eff = {k: v.numpy() for k, v in model.effective().items()}
    assert np.all(eff["W_rec"][c.rec_mask == 0] == 0)
    assert np.all(eff["W_in"][c.input_mask == 0] == 0)
    assert np.all(eff["W_out"][c.output_mask == 0] == 0)
    assert np.all(np.diag(eff["W_rec"]) == 0)


def test_dale_signs_hold_after_training(trained_constrained):
    c, _, model = trained_constrained
    eff = {k: v.numpy() for k, v in model.effective().items()}
    n_exc = 15
    assert np.all(eff["W_rec"][:, :n_exc] >= 0) and np.all(eff["W_rec"][:, n_exc:] <= 0)
    assert np.all(eff["W_out"][:, n_exc:] == 0), "inhibitory units must not project to outputs"
    assert np.all(eff["W_in"] >= 0)


def test_fixed_entries_are_bit_identical_after_training(trained_constrained):
    c, initial, model = trained_constrained
    now = model.numpy_weights()
    for name, plastic in c.plastic.items():
        np.testing.assert_array_equal(now[name][plastic == 0], initial[name][plastic == 0])
        assert not np.array_equal(now[name][plastic == 1], initial[name][plastic == 1]), f"{name} did not train"
    np.testing.assert_array_equal(now["init_state"], initial["init_state"])  # whole-matrix flag


def test_fixed_entries_survive_momentum_and_weight_decay():
    """SGD with momentum and weight decay would move fixed entries; the step resets them exactly."""
    c = constraints(fixed_outgoing=0.5)
    weights = gaussian_spectral_radius(np.random.default_rng(0), c, 2, 2)
    model = RecurrentModel(Basic(N_REC, alpha=0.1), weights, c)
    steps = CompiledSteps(model, keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=0.1), Objective(mse),
                          ("none", 1.0), 0)
    task = PerceptualDiscrimination(T=200, N_batch=8, seed=0)
    for _ in range(5):
        x, y, mask, _ = task.get_trial_batch()
        steps.train_step(x, y, mask)
    fixed = c.plastic["W_rec"] == 0
    np.testing.assert_array_equal(model.numpy_weights()["W_rec"][fixed], weights["W_rec"][fixed])


@pytest.mark.parametrize("dale_ratio", [None, 0.8])
def test_spectral_radius_of_effective_matrix_with_masks(dale_ratio):
    c = build_constraints(2, 100, 2, np.random.default_rng(0), dale_ratio=dale_ratio, density=0.5, autapses=False)
    w = gaussian_spectral_radius(np.random.default_rng(1), c, 2, 2, spec_rad=1.1)
    assert spectral_radius(effective_weights(w, c)["W_rec"]) == pytest.approx(1.1, abs=1e-3)
