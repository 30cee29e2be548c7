"""Initial weights (SPEC section 3), computed in NumPy from a seeded generator.

Initialization depends only on the seed, so the same seed gives the same weights bit for bit,
whatever TensorFlow does. Every initializer returns float32 arrays keyed ``W_in [N_rec, N_in]``,
``W_rec [N_rec, N_rec]``, ``W_out [N_out, N_rec]``, ``b_rec [N_rec]``, ``b_out [N_out]`` and
``init_state [N_rec]``.
"""

from __future__ import annotations

import numpy as np

from psychrnn_cli.masks import Constraints, effective_weights


def glorot_normal_masked(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Glorot normal ``[rows, cols]`` with fan-in and fan-out counted over the mask's non-zeros.

    std = sqrt(2 / (fan_in + fan_out)) with fan_in the mean number of connections per row
    (inputs to a unit) and fan_out the mean per column.
    """
    fan_in = max(mask.sum(axis=1).mean(), 1.0)
    fan_out = max(mask.sum(axis=0).mean(), 1.0)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=mask.shape)


def spectral_radius(matrix: np.ndarray) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def gaussian_spectral_radius(
    rng: np.random.Generator,
    constraints: Constraints,
    N_in: int,
    N_out: int,
    spec_rad: float = 1.1,
    init_state_mean: float = 0.1,
    init_state_std: float = 0.01,
) -> dict[str, np.ndarray]:
    """Gaussian recurrent weights scaled so the *effective* ``W_rec`` has spectral radius ``spec_rad``.

    With Dale's principle the raw matrix is E/I balanced first: inhibitory columns are scaled by
    ``dale_ratio / (1 - dale_ratio)`` and each row is normalised to unit L2 norm, so excitation
    and inhibition onto a unit roughly cancel. ``W_in`` and ``W_out`` are mask-aware Glorot
    normal; biases are 0; ``init_state ~ init_state_mean + init_state_std * N(0, 1)``.
    """
    N_rec = constraints.N_rec
    W_rec = rng.standard_normal((N_rec, N_rec))
    signs = constraints.signs
    if signs is not None and 0.0 < constraints.dale_ratio < 1.0:
        W_rec = np.abs(W_rec)
        W_rec[:, signs < 0] *= constraints.dale_ratio / (1.0 - constraints.dale_ratio)
        W_rec /= np.linalg.norm(W_rec, axis=1, keepdims=True)
    weights = {
        "W_in": glorot_normal_masked(rng, constraints.input_mask),
        "W_rec": W_rec,
        "W_out": glorot_normal_masked(rng, constraints.output_mask),
        "b_rec": np.zeros(N_rec),
        "b_out": np.zeros(N_out),
        "init_state": init_state_mean + init_state_std * rng.standard_normal(N_rec),
    }
    radius = spectral_radius(effective_weights(weights, constraints)["W_rec"])
    if radius > 0:
        weights["W_rec"] = weights["W_rec"] * (spec_rad / radius)
    return {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
