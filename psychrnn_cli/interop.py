"""PsychRNN weight files: read them without unpickling, export basic-model runs.

Described in docs/guides/after-training.md, "PsychRNN weight files, both ways".

A PsychRNN file is an ``np.savez`` archive with keys ``W_in [N_rec, N_in]``, ``W_rec [N_rec, N_rec]``,
``W_out [N_out, N_rec]`` (effective matrices), ``b_rec [N_rec]``, ``b_out [N_out]``,
``init_state [1, N_rec]``, ``Dale_rec`` and ``Dale_out`` (diagonal ``[N_rec, N_rec]``: +1/-1 and
1/0 per unit, identity without Dale), ``input_connectivity``, ``rec_connectivity``,
``output_connectivity`` (0/1 masks) and ``dale_ratio`` (a number, or ``None`` stored as a pickled
object, which we read as None without unpickling and never write). Keys with a ``/`` (optimizer slots such as ``W_rec/Adam``) are not weights and are skipped.

PsychRNN's forward pass recomputes effective weights from the file: ``W * mask``, and with a
(truthy) ``dale_ratio`` also ``|W_rec * M| @ Dale_rec``, ``|W_in * M|``, ``|W_out * M| @ Dale_out``.
The stored matrices are already effective, so this changes nothing for PsychRNN's own files.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from psychrnn_cli.masks import Constraints, effective_weights
from psychrnn_cli.models import BUILTIN
from psychrnn_cli.runfile import (atomic_file, check_model_arrays, load_run, prepare_output, require_finite_weights,
                                  resolve_run_path)

REQUIRED = ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state")
OPTIONAL = ("Dale_rec", "Dale_out", "input_connectivity", "rec_connectivity", "output_connectivity")


class InteropError(ValueError):
    """A file is not a usable PsychRNN weight file, or a run cannot be exported; the message says why."""


@dataclass
class PsychRNNWeights:
    """The contents of a PsychRNN weight file.

    Attributes:
        arrays: the numeric entries by key, dtypes as stored (REQUIRED and any OPTIONAL present).
        dale_ratio: fraction of excitatory units, or None when Dale's principle is off.
        skipped: keys that were not read (optimizer slots, unknown entries).
    """

    arrays: dict[str, np.ndarray]
    dale_ratio: float | None
    skipped: tuple[str, ...] = ()

    @property
    def N_rec(self) -> int:
        return self.arrays["W_rec"].shape[0]


REAL_KINDS = "biuf"  # NumPy dtype kinds of real numbers: bool, signed and unsigned integers, floats


def read_psychrnn(path: str | Path) -> PsychRNNWeights:
    """Read a PsychRNN ``.npz`` weight file, numeric arrays only (``allow_pickle=False``).

    ``dale_ratio`` stored as a pickled object is PsychRNN's ``None`` and is read as None without
    unpickling it; a missing ``dale_ratio`` (PsychRNN < 1.0) also means None.

    Raises:
        InteropError: a missing or unreadable file, missing weights, or inconsistent shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise InteropError(f"PsychRNN weight file {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise InteropError(f"cannot read {path} as a PsychRNN .npz weight file: not a zip archive (empty or damaged?)")
    arrays: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    dale_ratio: float | None = None
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if key not in REQUIRED + OPTIONAL + ("dale_ratio",):
                    skipped.append(key)
                    continue
                try:
                    value = data[key]
                except ValueError:  # a pickled object, which allow_pickle=False refuses to load
                    if key != "dale_ratio":  # PsychRNN pickles only dale_ratio=None
                        raise InteropError(f"{path}: {key} is a pickled object, not a numeric array") from None
                    continue
                if value.dtype.kind not in REAL_KINDS:
                    raise InteropError(f"{path}: {key} is an array of {value.dtype}, not of real numbers")
                if key == "dale_ratio":
                    dale_ratio = float(value)
                else:
                    arrays[key] = value
    except InteropError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise InteropError(f"cannot read {path} as a PsychRNN .npz weight file: {err}") from None
    missing = [key for key in REQUIRED if key not in arrays]
    if missing:
        raise InteropError(f"{path} is not a PsychRNN weight file: it lacks {', '.join(missing)}")
    weights = PsychRNNWeights(arrays, dale_ratio, tuple(skipped))
    _check_shapes(weights, path)
    return weights


def _check_shapes(weights: PsychRNNWeights, path: Path | str) -> None:
    a = weights.arrays
    N_rec, N_in, N_out = a["W_rec"].shape[0], a["W_in"].shape[1] if a["W_in"].ndim == 2 else -1, a["W_out"].shape[0]
    expected = {"W_in": (N_rec, N_in), "W_rec": (N_rec, N_rec), "W_out": (N_out, N_rec), "b_rec": (N_rec,),
                "b_out": (N_out,), "Dale_rec": (N_rec, N_rec), "Dale_out": (N_rec, N_rec),
                "input_connectivity": (N_rec, N_in), "rec_connectivity": (N_rec, N_rec),
                "output_connectivity": (N_out, N_rec)}
    for key, shape in expected.items():
        if key in a and a[key].shape != shape:
            raise InteropError(f"{path}: {key} has shape {a[key].shape}, expected {shape} (N_in={N_in}, "
                               f"N_rec={N_rec}, N_out={N_out})")
    if a["init_state"].size != N_rec:
        raise InteropError(f"{path}: init_state has {a['init_state'].size} values, expected N_rec={N_rec}")


def write_psychrnn(path: str | Path, weights: PsychRNNWeights) -> Path:
    """Write ``weights`` as PsychRNN does (``np.savez``), atomically: temporary file, then rename.

    Without Dale's principle the ``dale_ratio`` key is left out rather than pickled (psychrnn-cli
    writes no pickled objects); PsychRNN's loader then warns that the file looks older than 1.0 and
    applies no Dale's principle, which is what such a network needs.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    dale = {} if weights.dale_ratio is None else {"dale_ratio": np.float64(weights.dale_ratio)}
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **weights.arrays, **dale)
    return path


def from_run(run: dict[str, Any], source: str = "run file") -> PsychRNNWeights:
    """PsychRNN weights of a loaded basic-model run file (see :func:`psychrnn_cli.runfile.load_run`).

    Raises:
        InteropError: no trained network, or not a basic model.
        RunFileError: a damaged ``/model`` (see :func:`psychrnn_cli.simulator.check_model_arrays`).
    """
    model = run.get("model", {})
    if "weights" not in model or "constraints" not in model:
        raise InteropError("the run file holds no trained network (/model/weights missing); nothing to export")
    attrs = model.get("attrs", {})
    kind = attrs.get("kind")
    if kind != "basic" or attrs.get("model_class", BUILTIN["basic"]) != BUILTIN["basic"]:
        raise InteropError(f"PsychRNN has no format for this model (model={attrs.get('model_class', kind)}), "
                           "only for the basic model; use our HDF5 run file (run.h5), which psychrnn_cli.load_run "
                           "and psychrnn_cli.simulator.load_network read")
    check_model_arrays(model, source)
    masks = model["constraints"]
    constraints = Constraints(masks["input_connectivity"], masks["rec_connectivity"], masks["output_connectivity"],
                              model["attrs"].get("dale_ratio"))
    N_rec = constraints.N_rec
    signs = constraints.signs if constraints.signs is not None else np.ones(N_rec, np.float32)
    eff = effective_weights(model["weights"], constraints)
    arrays = {
        "W_in": eff["W_in"], "W_rec": eff["W_rec"], "W_out": eff["W_out"],
        "b_rec": eff["b_rec"], "b_out": eff["b_out"], "init_state": eff["init_state"].reshape(1, -1),
        "Dale_rec": np.diag(signs).astype(np.float32),
        "Dale_out": np.diag((signs > 0).astype(np.float32)),
        "input_connectivity": masks["input_connectivity"], "rec_connectivity": masks["rec_connectivity"],
        "output_connectivity": masks["output_connectivity"],
    }
    return PsychRNNWeights({k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}, constraints.dale_ratio)


def export_run(run_path: str | Path, out: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write the run's network as a PsychRNN ``.npz`` (default: ``psychrnn_weights.npz`` next to run.h5).

    ``.npz`` is appended to ``out`` unless it ends so. An existing file is replaced only if it is a
    PsychRNN weight file and ``overwrite`` is true (see :func:`psychrnn_cli.runfile.prepare_output`).

    Raises:
        RunFileError: an unreadable run file, or non-finite weights.
        OutputError: ``out`` must not be written.
    """
    run_file = resolve_run_path(run_path)
    path = Path(out) if out is not None else run_file.with_name("psychrnn_weights.npz")
    path = prepare_output(path if path.suffix == ".npz" else path.with_name(path.name + ".npz"),
                          "PsychRNN weight file", overwrite)
    run = load_run(run_file)
    require_finite_weights(run, run_file)
    return write_psychrnn(path, from_run(run, str(run_file)))


def psychrnn_effective(weights: PsychRNNWeights) -> dict[str, np.ndarray]:
    """The matrices PsychRNN's forward pass uses (see the module docstring), float64."""
    a = {k: np.asarray(v, dtype=np.float64) for k, v in weights.arrays.items()}
    N_rec, N_in, N_out = a["W_rec"].shape[0], a["W_in"].shape[1], a["W_out"].shape[0]
    W_in = a["W_in"] * a.get("input_connectivity", np.ones((N_rec, N_in)))
    W_rec = a["W_rec"] * a.get("rec_connectivity", np.ones((N_rec, N_rec)))
    W_out = a["W_out"] * a.get("output_connectivity", np.ones((N_out, N_rec)))
    if weights.dale_ratio:  # PsychRNN applies Dale only for a truthy dale_ratio
        W_in = np.abs(W_in)
        W_rec = np.abs(W_rec) @ a.get("Dale_rec", np.eye(N_rec))
        W_out = np.abs(W_out) @ a.get("Dale_out", np.eye(N_rec))
    return {"W_in": W_in, "W_rec": W_rec, "W_out": W_out, "b_rec": a["b_rec"], "b_out": a["b_out"],
            "init_state": a["init_state"].reshape(-1)}
