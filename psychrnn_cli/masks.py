"""Connectivity masks, Dale's principle, plastic masks and effective weights.

Described in docs/concepts/networks.md.

NumPy only. Shapes follow PsychRNN: ``W_in [N_rec, N_in]``, ``W_rec [N_rec, N_rec]`` (row =
postsynaptic, column = presynaptic), ``W_out [N_out, N_rec]``. Masks are float32 0/1 arrays of
the same shapes.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

MASK_KEYS = {"W_in": "input_connectivity", "W_rec": "rec_connectivity", "W_out": "output_connectivity"}


class ConstraintError(ValueError):
    """Invalid constraint settings; the message names the setting and what is allowed."""


@dataclass
class Constraints:
    """Everything that restricts a network's weights.

    Attributes:
        input_mask: ``[N_rec, N_in]`` 0/1, which input weights exist.
        rec_mask: ``[N_rec, N_rec]`` 0/1, which recurrent weights exist.
        output_mask: ``[N_out, N_rec]`` 0/1, which output weights exist.
        dale_ratio: fraction of excitatory units, or ``None`` when Dale's principle is off.
        plastic: per-parameter 0/1 masks of the entries training may change (missing = all).
    """

    input_mask: np.ndarray
    rec_mask: np.ndarray
    output_mask: np.ndarray
    dale_ratio: float | None = None
    plastic: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def N_rec(self) -> int:
        return self.rec_mask.shape[0]

    @property
    def signs(self) -> np.ndarray | None:
        """``[N_rec]`` +1 for excitatory and -1 for inhibitory units, ``None`` without Dale.

        The first ``round(dale_ratio * N_rec)`` units are excitatory.
        """
        if self.dale_ratio is None:
            return None
        n_exc = int(round(self.dale_ratio * self.N_rec))
        return np.where(np.arange(self.N_rec) < n_exc, 1.0, -1.0).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """All constraint arrays by the names the run file uses."""
        out = {MASK_KEYS["W_in"]: self.input_mask, MASK_KEYS["W_rec"]: self.rec_mask,
               MASK_KEYS["W_out"]: self.output_mask}
        if self.signs is not None:
            out["signs"] = self.signs
        out.update({f"plastic_{name}": mask for name, mask in self.plastic.items()})
        return out


def effective_weights(weights: dict[str, Any], constraints: Constraints, gates: int = 1) -> dict[str, Any]:
    """The parameters the forward pass uses, from the raw trainable ones.

    Without Dale: ``W_eff = W * M``. With Dale: ``W_rec_eff = |W_rec * M_rec| * signs`` (column j
    carries the sign of presynaptic unit j), ``W_in_eff = |W_in * M_in|`` and
    ``W_out_eff = |W_out * M_out| * (signs > 0)``. For gated models (``gates`` > 1 blocks of rows in
    ``W_in`` and ``W_rec``) each block gets the same mask. Works on NumPy arrays and TensorFlow
    tensors alike (only ``*`` and ``abs`` are used); other parameters pass through.
    """
    eff = dict(weights)
    eff["W_in"] = weights["W_in"] * np.tile(constraints.input_mask, (gates, 1))
    eff["W_rec"] = weights["W_rec"] * np.tile(constraints.rec_mask, (gates, 1))
    eff["W_out"] = weights["W_out"] * constraints.output_mask
    signs = constraints.signs
    if signs is not None:
        eff["W_in"] = abs(eff["W_in"])
        eff["W_rec"] = abs(eff["W_rec"]) * signs[None, :]
        eff["W_out"] = abs(eff["W_out"]) * (signs > 0).astype(np.float32)[None, :]
    return eff


# --- builders ------------------------------------------------------------------------------------


@dataclass
class Regions:
    """Multi-region block structure.

    Attributes:
        sizes: units per region, in order (must add up to N_rec).
        within: connection probability between units of the same region.
        between: connection probability between units of different regions.
        input_regions: indices of the regions that receive the inputs (None: all).
        output_regions: indices of the regions that project to the outputs (None: all).
    """

    sizes: Sequence[int]
    within: float = 1.0
    between: float = 0.1
    input_regions: Sequence[int] | None = None
    output_regions: Sequence[int] | None = None

    def labels(self) -> np.ndarray:
        """Region index of every unit, ``[N_rec]``."""
        return np.repeat(np.arange(len(self.sizes)), self.sizes)


def _check_probability(name: str, value: float, low_open: bool = True) -> float:
    if not isinstance(value, (int, float)) or not ((0 < value <= 1) if low_open else (0 <= value <= 1)):
        allowed = "(0, 1]" if low_open else "[0, 1]"
        raise ConstraintError(f"constraints.{name} must be a number in {allowed}, got {value!r}")
    return float(value)


def region_masks(regions: Regions, N_in: int, N_rec: int, N_out: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input, recurrent and output masks of a multi-region network."""
    sizes = list(regions.sizes)
    if not sizes or any(not isinstance(s, int) or s <= 0 for s in sizes) or sum(sizes) != N_rec:
        raise ConstraintError(
            f"constraints.regions.sizes {sizes} must be positive integers adding up to model.N_rec={N_rec}"
        )
    within = _check_probability("regions.within", regions.within, low_open=False)
    between = _check_probability("regions.between", regions.between, low_open=False)
    labels = regions.labels()
    for name, chosen in (("input_regions", regions.input_regions), ("output_regions", regions.output_regions)):
        if chosen is not None and any(not -len(sizes) <= r < len(sizes) for r in chosen):
            raise ConstraintError(f"constraints.regions.{name} {list(chosen)}: regions are numbered 0..{len(sizes) - 1}")
    same = labels[:, None] == labels[None, :]
    rec = rng.random((N_rec, N_rec)) < np.where(same, within, between)

    def in_regions(chosen: Sequence[int] | None) -> np.ndarray:
        return np.ones(N_rec, bool) if chosen is None else np.isin(labels, np.arange(len(sizes))[list(chosen)])

    input_mask = np.broadcast_to(in_regions(regions.input_regions)[:, None], (N_rec, N_in))
    output_mask = np.broadcast_to(in_regions(regions.output_regions)[None, :], (N_out, N_rec))
    return input_mask.astype(np.float32), rec.astype(np.float32), output_mask.astype(np.float32)


def read_arrays(path: str | Path, expected: dict[str, tuple[int, ...]], what: str) -> dict[str, np.ndarray]:
    """Arrays named in ``expected`` (name -> shape) from a .npy, .npz or .h5 file.

    A ``.npy`` file holds one array, taken as the first expected name. In an ``.h5`` file names
    are looked up at the root, then under ``/model/constraints`` (a psychrnn-cli run file).
    Missing names are left out; a present array of the wrong shape, or with a value other than 0
    and 1, is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise ConstraintError(f"{what}: file {path} does not exist")
    arrays: dict[str, np.ndarray] = {}
    try:
        if path.suffix == ".npy":
            arrays[next(iter(expected))] = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in expected if k in data}
        elif path.suffix in (".h5", ".hdf5"):
            with h5py.File(path, "r") as f:
                for key in expected:
                    for prefix in ("", "model/constraints/"):
                        if prefix + key in f:
                            arrays[key] = f[prefix + key][()]
                            break
        else:
            raise ConstraintError(f"{what}: {path} must be a .npy, .npz or .h5 file")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, ConstraintError):
            raise
        raise ConstraintError(f"{what}: cannot read {path}: {err or type(err).__name__}") from None
    for key, array in arrays.items():
        if array.dtype.kind not in "biuf":  # bool, integers, floats
            raise ConstraintError(f"{what}: {key} in {path} is an array of {array.dtype}; a mask holds the numbers 0 and 1")
        if array.shape != expected[key]:
            raise ConstraintError(f"{what}: {key} in {path} has shape {array.shape}, expected {expected[key]}")
        values = np.unique(array[~np.isin(array, (0, 1))])  # NaN and infinities included
        if values.size:
            raise ConstraintError(f"{what}: {key} in {path} holds values other than 0 and 1 (e.g. {values[0]:g}); "
                                  "a mask marks each entry with 1 (kept) or 0 (removed)")
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def build_constraints(
    N_in: int,
    N_rec: int,
    N_out: int,
    rng: np.random.Generator,
    autapses: bool = True,
    dale_ratio: float | None = None,
    density: float = 1.0,
    regions: Regions | None = None,
    mask_file: str | None = None,
    plastic_file: str | None = None,
    fixed_outgoing: float = 0.0,
) -> Constraints:
    """Compose masks: regions (or all-to-all) x random sparsity x a mask file x no autapses.

    Args:
        N_in, N_rec, N_out: layer sizes.
        rng: draws the random masks (sparse, regions).
        autapses: False removes self-connections.
        dale_ratio: fraction of excitatory units, None for off.
        density: fraction of recurrent connections kept at random, in (0, 1].
        regions: multi-region block structure.
        mask_file: .npy (recurrent mask) or .npz/.h5 with ``input_connectivity``,
            ``rec_connectivity``, ``output_connectivity`` (any of them); multiplied in.
        plastic_file: .npz/.h5 with 0/1 arrays named after parameters (``W_rec``...) or
            ``plastic_W_rec`` (as a run file stores them); 0 marks a fixed entry.
        fixed_outgoing: fraction of units, the last ones, whose outgoing recurrent and output
            weights stay fixed.
    """
    if dale_ratio is not None:
        dale_ratio = _check_probability("dale_ratio", dale_ratio, low_open=False)
    density = _check_probability("density", density)
    fixed_outgoing = _check_probability("fixed_outgoing", fixed_outgoing, low_open=False)
    if regions is not None:
        input_mask, rec_mask, output_mask = region_masks(regions, N_in, N_rec, N_out, rng)
    else:
        input_mask = np.ones((N_rec, N_in), np.float32)
        rec_mask = np.ones((N_rec, N_rec), np.float32)
        output_mask = np.ones((N_out, N_rec), np.float32)
    if density < 1.0:
        rec_mask = rec_mask * (rng.random((N_rec, N_rec)) < density)
    if mask_file:
        shapes = {MASK_KEYS["W_rec"]: (N_rec, N_rec), MASK_KEYS["W_in"]: (N_rec, N_in), MASK_KEYS["W_out"]: (N_out, N_rec)}
        loaded = read_arrays(mask_file, shapes, "constraints.mask_file")
        if not loaded:
            raise ConstraintError(f"constraints.mask_file: {mask_file} holds none of {', '.join(shapes)}")
        input_mask = input_mask * loaded.get(MASK_KEYS["W_in"], 1.0)
        rec_mask = rec_mask * loaded.get(MASK_KEYS["W_rec"], 1.0)
        output_mask = output_mask * loaded.get(MASK_KEYS["W_out"], 1.0)
    if not autapses:
        rec_mask = rec_mask.copy()
        np.fill_diagonal(rec_mask, 0.0)
    plastic = plastic_masks(N_in, N_rec, N_out, plastic_file, fixed_outgoing)
    return Constraints(input_mask.astype(np.float32), rec_mask.astype(np.float32), output_mask.astype(np.float32),
                       dale_ratio, plastic)


def plastic_masks(N_in: int, N_rec: int, N_out: int, plastic_file: str | None, fixed_outgoing: float) -> dict[str, np.ndarray]:
    """Per-parameter 0/1 masks of trainable entries, from a file and the ``fixed_outgoing`` builder."""
    shapes = {"W_in": (N_rec, N_in), "W_rec": (N_rec, N_rec), "W_out": (N_out, N_rec), "b_rec": (N_rec,),
              "b_out": (N_out,), "init_state": (N_rec,)}
    plastic: dict[str, np.ndarray] = {}
    if plastic_file:
        wanted = {**shapes, **{f"plastic_{k}": s for k, s in shapes.items()}}
        loaded = read_arrays(plastic_file, wanted, "constraints.plastic_file")
        if not loaded:
            raise ConstraintError(f"constraints.plastic_file: {plastic_file} holds none of {', '.join(shapes)}")
        plastic = {k.removeprefix("plastic_"): v for k, v in loaded.items()}
    n_fixed = int(round(fixed_outgoing * N_rec))
    if n_fixed:
        for name in ("W_rec", "W_out"):
            mask = plastic.get(name, np.ones(shapes[name], np.float32)).copy()
            mask[:, N_rec - n_fixed:] = 0.0
            plastic[name] = mask
    return plastic
