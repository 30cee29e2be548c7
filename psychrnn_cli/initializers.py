"""Initial weights (docs/concepts/networks.md), computed in NumPy from a seeded generator.

Initialization depends only on the seed, so the same seed gives the same weights bit for bit,
whatever TensorFlow does. Every initializer is called as
``init(rng=..., constraints=..., N_in=..., N_out=..., **its_config)`` and returns float32 arrays
keyed ``W_in [N_rec, N_in]``, ``W_rec [N_rec, N_rec]``, ``W_out [N_out, N_rec]``, ``b_rec [N_rec]``,
``b_out [N_out]`` and ``init_state [N_rec]``. A custom initializer with the same signature plugs
in through ``initializer._target_``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from psychrnn_cli.masks import Constraints, ConstraintError, effective_weights
from psychrnn_cli.models import PARAMETER_NAMES

Weights = dict[str, np.ndarray]
log = logging.getLogger("psychrnn_cli")


def glorot_std(mask: np.ndarray) -> float:
    """sqrt(2 / (fan_in + fan_out)) with fans counted over the mask's non-zeros.

    fan_in is the mean number of connections per row (inputs to a unit), fan_out per column.
    """
    fan_in = max(mask.sum(axis=1).mean(), 1.0)
    fan_out = max(mask.sum(axis=0).mean(), 1.0)
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


def glorot_normal_masked(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Glorot normal ``[rows, cols]`` with mask-aware fan-in and fan-out."""
    return rng.normal(0.0, glorot_std(mask), size=mask.shape)


def glorot_uniform_masked(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Glorot uniform ``[rows, cols]`` on ``[-l, l]``, ``l = sqrt(3) * glorot_std``, mask-aware fans."""
    limit = np.sqrt(3.0) * glorot_std(mask)
    return rng.uniform(-limit, limit, size=mask.shape)


SLOW_EIGENSOLVE_N = 1000  # from this size on, the eigensolve takes long enough to be announced


def spectral_radius(matrix: np.ndarray) -> float:
    """Largest absolute eigenvalue of a square matrix ``[N, N]`` (all eigenvalues: O(N^3) time)."""
    N = matrix.shape[0]
    if N >= SLOW_EIGENSOLVE_N:
        log.info("computing the spectral radius of the %d x %d recurrent matrix for the initial weights (a full "
                 "eigensolve: its time grows as N_rec^3; initializer=glorot_normal is instant)", N, N)
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def _finish(rng: np.random.Generator, constraints: Constraints, N_out: int, W_in: np.ndarray, W_rec: np.ndarray,
            W_out: np.ndarray, init_state_mean: float, init_state_std: float) -> Weights:
    """Add zero biases and ``init_state ~ mean + std * N(0, 1)``; cast to float32."""
    weights = {
        "W_in": W_in, "W_rec": W_rec, "W_out": W_out,
        "b_rec": np.zeros(constraints.N_rec), "b_out": np.zeros(N_out),
        "init_state": init_state_mean + init_state_std * rng.standard_normal(constraints.N_rec),
    }
    return {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}


def gaussian_spectral_radius(rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int,
                             spec_rad: float = 1.1, init_state_mean: float = 0.1,
                             init_state_std: float = 0.01) -> Weights:
    """Gaussian ``W_rec`` scaled so the *effective* matrix has spectral radius ``spec_rad``.

    With Dale's principle the raw matrix is E/I balanced first: inhibitory columns are scaled by
    ``dale_ratio / (1 - dale_ratio)`` and each row is normalised to unit L2 norm, so excitation
    and inhibition onto a unit roughly cancel. ``W_in`` and ``W_out`` are mask-aware Glorot normal.
    """
    N_rec = constraints.N_rec
    W_rec = rng.standard_normal((N_rec, N_rec))
    signs = constraints.signs
    if signs is not None and 0.0 < constraints.dale_ratio < 1.0:
        W_rec = np.abs(W_rec)
        W_rec[:, signs < 0] *= constraints.dale_ratio / (1.0 - constraints.dale_ratio)
        W_rec /= np.maximum(np.linalg.norm(W_rec, axis=1, keepdims=True), 1e-12)
    weights = _finish(rng, constraints, N_out, glorot_normal_masked(rng, constraints.input_mask), W_rec,
                      glorot_normal_masked(rng, constraints.output_mask), init_state_mean, init_state_std)
    radius = spectral_radius(effective_weights(weights, constraints)["W_rec"].astype(np.float64))
    if radius > 0:
        weights["W_rec"] = (weights["W_rec"].astype(np.float64) * (spec_rad / radius)).astype(np.float32)
    return weights


def alpha_identity(rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int,
                   alpha_init: float = 0.5, init_state_mean: float = 0.1, init_state_std: float = 0.01) -> Weights:
    """``W_rec = alpha_init * I`` (a configured number); Glorot normal input and output weights."""
    return _finish(rng, constraints, N_out, glorot_normal_masked(rng, constraints.input_mask),
                   alpha_init * np.eye(constraints.N_rec), glorot_normal_masked(rng, constraints.output_mask),
                   init_state_mean, init_state_std)


def glorot_normal(rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int,
                  init_state_mean: float = 0.1, init_state_std: float = 0.01) -> Weights:
    """Every matrix Glorot normal with fans counted over its connectivity mask."""
    return _finish(rng, constraints, N_out, glorot_normal_masked(rng, constraints.input_mask),
                   glorot_normal_masked(rng, constraints.rec_mask), glorot_normal_masked(rng, constraints.output_mask),
                   init_state_mean, init_state_std)


def glorot_uniform(rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int,
                   init_state_mean: float = 0.1, init_state_std: float = 0.01) -> Weights:
    """Every matrix Glorot uniform with fans counted over its connectivity mask."""
    return _finish(rng, constraints, N_out, glorot_uniform_masked(rng, constraints.input_mask),
                   glorot_uniform_masked(rng, constraints.rec_mask), glorot_uniform_masked(rng, constraints.output_mask),
                   init_state_mean, init_state_std)


def normal(rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int, mean: float = 0.0,
           std: float = 0.1, init_state_mean: float = 0.1, init_state_std: float = 0.01) -> Weights:
    """Every matrix ``N(mean, std^2)``."""
    N_rec = constraints.N_rec
    draw = lambda shape: rng.normal(mean, std, size=shape)  # noqa: E731
    return _finish(rng, constraints, N_out, draw((N_rec, N_in)), draw((N_rec, N_rec)), draw((N_out, N_rec)),
                   init_state_mean, init_state_std)


def uniform(rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int, min: float = -0.1,
            max: float = 0.1, init_state_mean: float = 0.1, init_state_std: float = 0.01) -> Weights:
    """Every matrix ``U(min, max)``."""
    if min > max:
        raise ConstraintError(f"initializer.min ({min:g}) must not exceed initializer.max ({max:g})")
    N_rec = constraints.N_rec
    draw = lambda shape: rng.uniform(min, max, size=shape)  # noqa: E731
    return _finish(rng, constraints, N_out, draw((N_rec, N_in)), draw((N_rec, N_rec)), draw((N_out, N_rec)),
                   init_state_mean, init_state_std)


def load_weights(path: str | Path, option: str = "weights file") -> Weights:
    """Parameters from a psychrnn-cli run file (``/model/weights``) or a PsychRNN ``.npz``.

    PsychRNN files hold effective matrices; with the same Dale signs they reproduce the same
    network when used as raw weights. Only numeric arrays are read (no unpickling). Every value
    must be finite. ``option`` names the setting that gave ``path``, for messages.

    Raises:
        ConstraintError: a missing, unreadable or damaged file, naming the option, the file and the problem.
    """
    from psychrnn_cli.interop import InteropError, read_psychrnn
    from psychrnn_cli.runfile import RunFileError, check_model_arrays, load_run

    path = Path(path)
    if not path.is_file():
        raise ConstraintError(f"{option} {path} does not exist (give a run.h5 or a PsychRNN .npz)")
    try:
        if path.suffix == ".npz":
            arrays = read_psychrnn(path).arrays
            weights = {k: arrays[k] for k in PARAMETER_NAMES}
            weights["init_state"] = weights["init_state"].reshape(-1)
        else:
            model = load_run(path).get("model", {})
            if "weights" not in model:
                raise ConstraintError(f"{option} {path} has no /model/weights: not a trained psychrnn-cli run file")
            check_model_arrays(model, str(path))
            weights = model["weights"]
    except (InteropError, RunFileError) as err:
        raise ConstraintError(f"{option}: cannot load initial weights: {err}") from None
    for name, array in weights.items():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise ConstraintError(f"{option} {path}: {name} holds {bad} NaN or infinite values; give a file of finite "
                                  "weights (a run that failed on a NaN loss saved unusable weights)")
    return {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}


def from_file(rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int, path: str = "",
              option: str = "initializer.path", gates: int | None = None) -> Weights:
    """The parameters stored in ``path`` (see :func:`load_weights`), checked against the network's sizes.

    ``option`` names the setting that gave ``path`` (``initializer.path`` or ``model.load_weights``).
    ``gates``, when given, is the number of gate blocks of rows the model kind needs in ``W_in``,
    ``W_rec`` and ``b_rec`` (basic 1, GRU 3, LSTM 4): a file of another model kind is refused.
    """
    if not path:
        raise ConstraintError(f"{option} is empty: give a run.h5 or a PsychRNN .npz, "
                              f"e.g. {option}=outputs/2026-01-01/12-00-00/run.h5")
    weights = load_weights(path, option)
    N_rec = constraints.N_rec
    if weights["W_rec"].shape[1] != N_rec or weights["W_in"].shape[1] != N_in or weights["W_out"].shape[0] != N_out:
        raise ConstraintError(
            f"{option} {path}: stored network has N_in={weights['W_in'].shape[1]}, "
            f"N_rec={weights['W_rec'].shape[1]}, N_out={weights['W_out'].shape[0]}; this run needs "
            f"N_in={N_in}, N_rec={N_rec}, N_out={N_out}"
        )
    if gates is not None and weights["W_rec"].shape[0] != gates * N_rec:
        raise ConstraintError(
            f"{option} {path}: stored W_rec has {weights['W_rec'].shape[0]} rows ({weights['W_rec'].shape[0] // N_rec} "
            f"gate block(s) of N_rec={N_rec}), this model kind needs {gates * N_rec} ({gates}): the file holds "
            "another model kind's weights; train with the model it was trained with"
        )
    return weights
