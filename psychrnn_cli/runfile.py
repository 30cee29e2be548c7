"""The HDF5 run file: its schema, an atomic writer and ``load_run``. NumPy and h5py only.

Layout of ``run.h5`` (schema version 1)::

    /                       attrs: schema_version, versions, created (UTC), host, seed, status, ...
    /config                 the resolved config as a YAML string
    /model                  attrs: kind, N_in, N_rec, N_out, dt, tau, alpha, rec_noise, ...
    /model/weights/<name>   raw trainable parameters
    /model/effective/<name> the parameters the forward pass uses (masks and Dale applied)
    /model/constraints/<name>  connectivity masks, Dale signs, plastic masks
    /training/<curve>       1-D curves over evaluations: iteration, loss, accuracy, train_loss, wall_time
    /trials/<name>          a test batch after training: inputs, targets, mask, outputs, states,
                            time_ms, and one dataset per numeric trial parameter
    /evaluation             attrs: accuracy, loss, n_trials on a fresh batch after training
    /evaluation/<name>      written by ``psychrnn evaluate`` (attrs and per-condition tables)
    /analysis/fixed_points  written by ``psychrnn analyse --fixed-points``

No pickled objects: strings are stored as UTF-8, everything else as numeric arrays.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SCHEMA_VERSION = 1

UNITS = {  # dataset name -> (units, axis names)
    "inputs": ("a.u.", "trial, time, input"),
    "targets": ("a.u.", "trial, time, output"),
    "mask": ("1", "trial, time, output"),
    "outputs": ("a.u.", "trial, time, output"),
    "states": ("a.u.", "trial, time, unit"),
    "time_ms": ("ms", "time"),
    "W_in": ("1", "unit, input"),
    "W_rec": ("1", "postsynaptic unit, presynaptic unit"),
    "W_out": ("1", "output, unit"),
    "b_rec": ("1", "unit"),
    "b_out": ("1", "output"),
    "init_state": ("a.u.", "unit"),
    "iteration": ("iterations", "evaluation"),
    "loss": ("1", "evaluation"),
    "train_loss": ("1", "evaluation"),
    "accuracy": ("fraction correct", "evaluation"),
    "wall_time": ("s since training start", "evaluation"),
}


class RunFileError(Exception):
    """A run file is missing, unreadable, or not a run file of a version we can read."""


def _write_array(group: h5py.Group, name: str, value: np.ndarray) -> None:
    value = np.asarray(value)
    big = value.size >= 4096
    ds = group.create_dataset(name, data=value, compression="gzip" if big else None, chunks=True if big else None)
    if name in UNITS:
        ds.attrs["units"], ds.attrs["axes"] = UNITS[name]


def _write_tree(group: h5py.Group, tree: dict[str, Any]) -> None:
    """Write nested dicts as groups, arrays as datasets, and the dict under "attrs" as attributes."""
    for key, value in tree.items():
        if key == "attrs":
            for name, attr in value.items():
                group.attrs[name] = "null" if attr is None else attr
        elif isinstance(value, dict):
            _write_tree(group.require_group(key), value)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        else:
            _write_array(group, key, value)


class WriteError(OSError):
    """A file could not be written (disk full, file too large, read-only); the previous one is kept."""


def write_run(path: Path | str, tree: dict[str, Any]) -> Path:
    """Write ``tree`` as a run file, atomically: a temporary file in the same folder, then rename.

    ``tree`` is nested dicts of arrays and strings; each dict's ``"attrs"`` entry becomes the HDF5
    attributes of its group. A crash leaves either the previous file or the new one, never a
    truncated file. The HDF5 file is built in memory and written with plain file I/O, so a full
    disk is one clean :class:`WriteError` (HDF5 itself does not recover from failed writes).
    """
    path = Path(path)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        _write_tree(f, tree)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(buffer.getbuffer())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise WriteError(err.errno, err.strerror or str(err), str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def update_run(path: Path | str, groups: dict[str, dict[str, Any]]) -> Path:
    """Add or replace groups of an existing run file, atomically.

    ``groups`` maps a group path (``"evaluation/evaluate"``, ``"analysis/fixed_points"``) to a
    tree as :func:`write_run` takes it; a group already at that path is replaced as a whole. The
    file is copied to a temporary name in the same folder, changed there, and renamed over the
    original, so a crash leaves the old file intact.

    Raises:
        RunFileError: the file is missing or is not a run file.
    """
    path = resolve_run_path(path)
    if not path.is_file():
        raise RunFileError(f"no run file at {path}: give a run directory holding run.h5, or the file itself")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            if "schema_version" not in f.attrs:
                raise RunFileError(f"{path} is an HDF5 file but not a psychrnn-cli run file (no schema_version)")
            for name, tree in groups.items():
                if name in f:
                    del f[name]
                _write_tree(f.require_group(name), tree)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise RunFileError(f"cannot update {path} (truncated or not a run file?): {err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    out = {}
    for name, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, np.generic):
            value = value.item()
        out[name] = None if isinstance(value, str) and value == "null" else value
    return out


def _read_tree(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if group.attrs:
        out["attrs"] = _read_attrs(group)
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_tree(item)
        elif h5py.check_string_dtype(item.dtype) is not None:
            out[key] = item.asstr()[()]
        else:
            out[key] = item[()]
    return out


def resolve_run_path(path: Path | str) -> Path:
    """``path`` itself if it is a file, ``path/run.h5`` if it is a run directory."""
    path = Path(path)
    return path / "run.h5" if path.is_dir() else path


def load_run(path: Path | str) -> dict[str, Any]:
    """Read a run file (or the ``run.h5`` in a run directory) into plain dicts and NumPy arrays.

    Groups become dicts, datasets arrays (strings as ``str``), attributes a dict under ``"attrs"``;
    ``"config"`` is parsed into a dict. Example: ``load_run(d)["model"]["effective"]["W_rec"]``.

    Raises:
        RunFileError: missing file, not HDF5, not a run file, a newer schema version, or a damaged
            ``/config``.
    """
    path = resolve_run_path(path)
    if not path.exists():
        raise RunFileError(f"no run file at {path}: give a run directory holding run.h5, or the file itself")
    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("schema_version")
            if version is None:
                raise RunFileError(f"{path} is an HDF5 file but not a psychrnn-cli run file (no schema_version)")
            if not isinstance(version, (int, np.integer)):
                raise RunFileError(f"{path}: schema_version is {version!r}, not an integer: a damaged run file")
            if int(version) > SCHEMA_VERSION:
                raise RunFileError(
                    f"{path} has run-file schema version {int(version)}, newer than this psychrnn-cli reads "
                    f"({SCHEMA_VERSION}): upgrade psychrnn-cli"
                )
            tree = _read_tree(f)
    except OSError as err:
        raise RunFileError(f"cannot read {path} as HDF5 (truncated or not a run file): {err}") from None
    if "config" in tree:
        tree["config"] = _parse_config(tree["config"], path)
    return tree


def _parse_config(text: Any, path: Path) -> dict[str, Any]:
    """The ``/config`` YAML string of the run file ``path`` as a dict, or RunFileError."""
    import yaml

    try:
        config = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError as err:
        raise RunFileError(f"{path}: /config is not valid YAML ({str(err).splitlines()[0]}): a damaged run file") from None
    if not isinstance(config, dict):
        raise RunFileError(f"{path}: /config is not a YAML mapping: a damaged run file")
    return config
