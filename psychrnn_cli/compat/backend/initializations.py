"""PsychRNN's initializers (``psychrnn.backend.initializations``) as factories of raw parameters.

Each class takes the network's ``params`` as keyword arguments, as PsychRNN's do, and
:meth:`WeightInitializer.weights` returns ``W_in [N_rec, N_in]``, ``W_rec [N_rec, N_rec]``,
``W_out [N_out, N_rec]``, ``b_rec [N_rec]``, ``b_out [N_out]`` and ``init_state [N_rec]`` (float32)
for the network's connectivity and Dale's principle (:class:`psychrnn_cli.masks.Constraints`).
Arrays given in ``params`` (``W_in``, ``W_rec``, ``W_out``, ``b_rec``, ``b_out``, ``init_state``,
for example a ``get_weights()`` dict) are used as they are; the others are drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psychrnn_cli.initializers import (alpha_identity, gaussian_spectral_radius, glorot_normal_masked,
                                       glorot_uniform_masked)
from psychrnn_cli.masks import Constraints

Weights = dict[str, np.ndarray]
RANDOM_INITS = ("glorot_gauss", "glorot_unif", "const_gauss", "const_unif")


class CompatError(ValueError):
    """A PsychRNN setting the compatibility layer cannot honour; the message says what to do instead."""


class WeightInitializer:
    """Given arrays where ``params`` holds them, random ones (``which_rand_init``,
    ``which_rand_W_rec_init``: glorot_gauss, glorot_unif, const_gauss, const_unif with
    ``init_minval``, ``init_maxval``) elsewhere; zero biases; ``init_state = 0.1 + 0.01 N(0, 1)``."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        for key in ("which_rand_init", "which_rand_W_rec_init"):
            if kwargs.get(key, "glorot_gauss") not in RANDOM_INITS:
                raise CompatError(f"{key}={kwargs[key]!r} is not one of {', '.join(RANDOM_INITS)}")

    def _random(self, rng: np.random.Generator, mask: np.ndarray, key: str) -> np.ndarray:
        kind = self.kwargs.get(key) or self.kwargs.get("which_rand_init") or "glorot_gauss"
        if kind == "glorot_gauss":
            return glorot_normal_masked(rng, mask)
        if kind == "glorot_unif":
            return glorot_uniform_masked(rng, mask)
        if kind == "const_gauss":
            return rng.standard_normal(mask.shape)
        return rng.uniform(self.kwargs.get("init_minval", -0.1), self.kwargs.get("init_maxval", 0.1), size=mask.shape)

    def recurrent(self, rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int) -> np.ndarray:
        """``W_rec`` when ``params`` does not give it."""
        return self._random(rng, constraints.rec_mask, "which_rand_W_rec_init")

    def weights(self, rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int) -> Weights:
        N_rec, given = constraints.N_rec, self.kwargs
        drawn = {
            "W_in": lambda: self._random(rng, constraints.input_mask, "which_rand_init"),
            "W_rec": lambda: self.recurrent(rng, constraints, N_in, N_out),
            "W_out": lambda: self._random(rng, constraints.output_mask, "which_rand_init"),
            "b_rec": lambda: np.zeros(N_rec), "b_out": lambda: np.zeros(N_out),
            "init_state": lambda: 0.1 + 0.01 * rng.standard_normal(N_rec),
        }
        out = {name: np.asarray(given[name] if given.get(name) is not None else draw(), dtype=np.float32)
               for name, draw in drawn.items()}
        out["init_state"] = out["init_state"].reshape(-1)
        return out


class GaussianSpectralRadius(WeightInitializer):
    """Gaussian ``W_rec`` scaled to spectral radius ``spec_rad`` (default 1.1). Unlike PsychRNN 1.0,
    the radius is that of the effective matrix, after masks and Dale's principle
    (:func:`psychrnn_cli.initializers.gaussian_spectral_radius`)."""

    def recurrent(self, rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int) -> np.ndarray:
        return gaussian_spectral_radius(rng, constraints, N_in, N_out, spec_rad=self.kwargs.get("spec_rad", 1.1))["W_rec"]


class AlphaIdentity(WeightInitializer):
    """``W_rec = alpha I``, with ``alpha`` from ``params`` (PsychRNN's; task params set it to dt / tau)."""

    def recurrent(self, rng: np.random.Generator, constraints: Constraints, N_in: int, N_out: int) -> np.ndarray:
        return alpha_identity(rng, constraints, N_in, N_out, alpha_init=self.kwargs["alpha"])["W_rec"]
