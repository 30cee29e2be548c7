"""The HDF5 run file: schema, atomic writer, ``load_run``, and who may write (lock, ``--out``). NumPy, h5py only.

The run file's layout is :data:`RUN_GROUPS` (its top-level groups; the writer refuses any other)
and :data:`UNITS` (units and axes of its arrays); the documentation's run-file schema is generated
from both. The saved results (``/evaluation/<name>``, ``/analysis/<name>``) record the iteration and
the SHA-256 of the weights they were computed from (attrs ``run_iteration``, ``weights_sha256``),
and training keeps them when it rewrites the file.

No pickled objects: strings are stored as UTF-8, everything else as numeric arrays.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

SCHEMA_VERSION = 1
LOCK_FILE = ".psychrnn.lock"  # see run_dir_lock
RUN_FILE = "run.h5"  # the run file's name in a run directory

UNITS = {  # dataset name -> (units, axis names)
    "inputs": ("a.u.", "trial, time, input"),
    "targets": ("a.u.", "trial, time, output"),
    "mask": ("1", "trial, time, output"),
    "outputs": ("a.u.", "trial, time, output"),
    "states": ("a.u.", "trial, time, unit"),
    "u": ("1", "trial, time, presynaptic unit"),  # stp: utilisation of synaptic resources
    "x": ("1", "trial, time, presynaptic unit"),  # stp: available synaptic resources
    "spikes": ("spikes per time step (0 or 1)", "trial, time, unit"),
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
    # reward-based training (algorithm=actor_critic)
    "actions": ("action (0 = fixate when the task has no fixation output)", "trial, time"),
    "reward": ("reward", "trial"),
    "outcome": ("0 no action, 1 correct, 2 wrong, 3 abort", "trial"),
    "end_step": ("step of the first non-fixation action, from the start of the trial or its sequence (N_steps: "
                 "none)", "trial"),
    "mean_reward": ("reward per trial", "evaluation"),
    "train_reward": ("reward per trial", "evaluation"),
    "aborted": ("fraction of trials", "evaluation"),
    "stage": ("curriculum stage index", "evaluation"),
    "input_connectivity": ("1", "unit, input"),
    "rec_connectivity": ("1", "postsynaptic unit, presynaptic unit"),
    "output_connectivity": ("1", "output, unit"),
    "signs": ("1", "unit"),
    "threshold": ("1", "stage"),
    "start_iteration": ("iterations", "stage"),
    "check_iteration": ("iterations", "check"),
    "check_stage": ("curriculum stage index", "check"),
    "check_value": ("1", "check"),
}
RESULT_UNITS = {  # group pattern -> its datasets' (units, axis names), before UNITS
    r"analysis/fixed_points": {  # psychrnn analyse --fixed-points
        "xstar": ("a.u.", "fixed point, unit"), "qstar": ("a.u. squared", "fixed point"),
        "J_xstar": ("1", "fixed point, postsynaptic unit, presynaptic unit"),
        "eigvals": ("1", "fixed point, eigenvalue"), "is_stable": ("1", "fixed point"), "inputs": ("a.u.", "input"),
    },
    r"model/critic": {  # reward-based training: the critic's weights (readout or network)
        "W_value": ("1", "value, unit"), "b_value": ("reward", "value"),
        "W_in": ("1", "critic unit, critic input"), "W_rec": ("1", "postsynaptic critic unit, presynaptic critic unit"),
        "W_out": ("1", "value, critic unit"), "b_rec": ("1", "critic unit"), "b_out": ("reward", "value"),
        "init_state": ("a.u.", "critic unit"),
    },
    r"evaluation/.+/conditions/[^/]+": {  # psychrnn evaluate: a table per trial parameter
        "values": ("as the task defines it", "condition"), "n_trials": ("trials", "condition"),
        "accuracy": ("fraction correct", "condition"),
    },
}
GROUP_UNITS = {  # group -> (units, first axis) of its datasets that UNITS does not name
    "trials": ("as the task defines it", "trial"),  # numeric trial parameters (coherence, onset, ...)
    "training": ("1", "evaluation"),  # regularization terms (L2_rate, ...)
}
TEXT_UNITS = ("YAML text", "")  # string datasets (/config): a scalar


def units_and_axes(group: str, name: str, ndim: int) -> tuple[str, str] | None:
    """``(units, axes)`` of the dataset ``name`` in ``group`` (a path such as ``/trials``), or None."""
    group = group.strip("/")
    for pattern, table in RESULT_UNITS.items():
        if re.fullmatch(pattern, group) and name in table:
            return table[name]
    if name.startswith("plastic_") and name.removeprefix("plastic_") in UNITS:  # 0/1 masks shaped as the weight
        return "1", UNITS[name.removeprefix("plastic_")][1]
    if name in UNITS:
        units, axes = UNITS[name]
        if axes == "trial" and ndim == 2:  # reward-based scores of trial sequences, one per trial
            return units, "trial, position"
        return units, axes
    units, first = GROUP_UNITS.get(group, (None, ""))
    return None if units is None else (units, ", ".join([first] + [f"axis {k}" for k in range(1, ndim)]))


RUN_GROUPS = {  # the run file's layout: "attrs" (the root's attributes) and each top-level group -> what it holds
    "attrs": "schema_version; status (running, completed, stopped, requeued, failed); seed; iterations; "
             "weights_from_iteration (the iteration the stored weights are from: iterations, except after a "
             "failure); message (why the run stopped or failed); versions of psychrnn-cli, TensorFlow, NumPy, "
             "h5py, Hydra and Python; git_commit; created (UTC); host; slurm_job_id; requeues and "
             "requeue_reasons (SLURM); tf_intra_op_threads (threads per TensorFlow operation)",
    "config": "the resolved config as a YAML string",
    "model": "attrs kind, N_in, N_rec, N_out, dt, tau, alpha, rec_noise, transfer_function, dale_ratio and the "
             "model's own options; weights/<name>: the raw trainable parameters, W_in [N_rec, N_in], "
             "W_rec [N_rec, N_rec], W_out [N_out, N_rec], b_rec, b_out, init_state (gated models: G*N_rec rows); "
             "effective/<name>: the same with masks and Dale's principle applied, what the forward pass uses; "
             "constraints/<name>: input_connectivity, rec_connectivity, output_connectivity, signs (with Dale), "
             "plastic_<param> (0 = fixed entry); reward-based training: critic/ the critic's weights, attrs kind (readout: "
             "W_value [1, N_rec], b_value [1]; network: its N_rec, N_in, alpha, transfer_function, inputs and the "
             "six parameters of a basic model, W_out [1, N_rec] reading out the value); plastic: A [N_rec, N_rec] and "
             "eta_logit among the weights",
    "training": "1-D curves, one value per evaluation: iteration, loss and accuracy on a fresh batch, train_loss "
                "(mean since the last evaluation), wall_time (s of training), one column per regularizer term, "
                "stage (with a curriculum); reward-based training: mean_reward, aborted, train_reward, policy, value, "
                "entropy",
    "curriculum": "with a curriculum: per stage its task config, metric, threshold and start_iteration; per "
                  "check check_iteration, check_stage, check_value",
    "trials": "a fresh test batch after training (train.save_trials of them): inputs, targets, mask, outputs, "
              "states [trial, time, channel or unit], the state components the model records (Model.recorded: "
              "stp's u and x, spiking's spikes), time_ms, and one array per numeric trial parameter; trial "
              "sequences: attrs trials_per_sequence, iti_steps, trial_steps, with feedback also feedback, "
              "feedback_first_input and feedback_inputs (what each feedback channel carries), and parameters "
              "[trial, position]; reward-based training: actions, reward, outcome, end_step (sequences: reward, "
              "outcome and end_step [trial, position]; inputs with task.feedback=reward as the network saw them)",
    "evaluation": "attrs accuracy, loss, n_trials (reward-based training: also mean_reward, aborted; spiking "
                  "models: mean_firing_rate_hz, spikes per unit and second) on "
                  "train.test_trials fresh trials after training; "
                  "<name>: saved by psychrnn evaluate (attrs and per-condition tables)",
    "analysis": "fixed_points: saved by psychrnn analyse --fixed-points (xstar, qstar, J_xstar, eigvals, "
                "is_stable, inputs)",
}

RESULT_GROUPS = ("evaluation", "analysis")  # groups whose subgroups hold results saved after training


class RunFileError(Exception):
    """A run file is missing, unreadable, or not a run file of a version we can read."""


class RunDirBusy(RunFileError):
    """Another process holds the run directory's lock; the message names it."""


class OutputError(ValueError):
    """An output path a command must not write: it exists and is not that command's own file, or
    ``--overwrite`` was not given; the message says what to do."""


def _write_array(group: h5py.Group, name: str, value: np.ndarray) -> None:
    value = np.asarray(value)
    big = value.size >= 4096
    ds = group.create_dataset(name, data=value, compression="gzip" if big else None, chunks=True if big else None)
    if (labels := units_and_axes(group.name, name, value.ndim)) is not None:
        ds.attrs["units"], ds.attrs["axes"] = labels


def _write_tree(group: h5py.Group, tree: dict[str, Any]) -> None:
    """Write nested dicts as groups, arrays as datasets, and the dict under "attrs" as attributes."""
    for key, value in tree.items():
        if key == "attrs":
            for name, attr in value.items():
                group.attrs[name] = "null" if attr is None else attr
        elif isinstance(value, dict):
            _write_tree(group.require_group(key), value)
        elif isinstance(value, str):
            ds = group.create_dataset(key, data=value, dtype=h5py.string_dtype())
            ds.attrs["units"], ds.attrs["axes"] = TEXT_UNITS
        else:
            _write_array(group, key, value)


class WriteError(OSError):
    """A file could not be written (disk full, file too large, read-only); the previous one is kept."""


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` to write to; when the block succeeds the file is synced
    and renamed over ``path``, so a crash leaves the previous file or the new one, never a
    truncated file. The temporary file is removed either way."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_run(path: Path | str, tree: dict[str, Any], keep_results: bool = False,
              layout: dict[str, str] | None = None) -> Path:
    """Write ``tree`` as a run file, atomically: a temporary file in the same folder, then rename.

    ``tree`` is nested dicts of arrays and strings; each dict's ``"attrs"`` entry becomes the HDF5
    attributes of its group. A crash leaves either the previous file or the new one, never a
    truncated file. With ``keep_results``, the subgroups of ``/evaluation`` and ``/analysis`` that
    the existing file at ``path`` holds (results of ``psychrnn evaluate`` and ``analyse``) are
    copied into the new file. The HDF5 file is built in memory and written with plain file I/O, so
    a full disk is one clean :class:`WriteError` (HDF5 itself does not recover from failed writes).
    With ``layout`` (:data:`RUN_GROUPS` for a run file), a top-level entry it does not list is a
    ValueError: the documented layout and the written one cannot drift apart.
    """
    path = Path(path)
    undocumented = sorted(set(tree) - set(layout)) if layout is not None else []
    if undocumented:
        raise ValueError(f"write_run: {', '.join(undocumented)} not in the run file's layout (RUN_GROUPS)")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        _write_tree(f, tree)
        if keep_results and path.is_file():
            _copy_results(path, f)
    try:
        with atomic_file(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())
    except OSError as err:
        raise WriteError(err.errno, err.strerror or str(err), str(path)) from None
    return path


def _copy_results(source: Path, target: h5py.File) -> None:
    """Copy the result subgroups of ``source`` (see ``RESULT_GROUPS``) that ``target`` lacks."""
    with h5py.File(source, "r") as old:
        for group in RESULT_GROUPS:
            for name, item in old.get(group, {}).items():
                if isinstance(item, h5py.Group) and f"{group}/{name}" not in target:
                    old.copy(item, target.require_group(group), name)


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) of the raw weights ``/model/weights``: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name in sorted(k for k in weights if k != "attrs"):
        value = np.ascontiguousarray(weights[name])
        digest.update(f"{name} {value.dtype.str} {value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _file_weights_digest(f: h5py.File) -> str | None:
    group = f.get("model/weights")
    return None if group is None else weights_digest({name: ds[()] for name, ds in group.items()})


def result_provenance(run: dict[str, Any]) -> dict[str, Any]:
    """Attributes naming the weights a result was computed from: ``run_iteration`` and ``weights_sha256``."""
    attrs = run.get("attrs", {})
    iteration = attrs.get("weights_from_iteration", attrs.get("iterations", -1))
    return {"run_iteration": int(iteration if iteration is not None else -1),
            "weights_sha256": weights_digest(run.get("model", {}).get("weights", {}))}


def nonfinite_weights(run: dict[str, Any]) -> list[str]:
    """Names of the raw weights of a loaded run that hold NaN or infinite values."""
    weights = run.get("model", {}).get("weights", {})
    return [name for name, value in weights.items()
            if name != "attrs" and np.issubdtype(np.asarray(value).dtype, np.number)
            and not np.all(np.isfinite(value))]


def require_finite_weights(run: dict[str, Any], source: Path | str) -> None:
    """RunFileError if the loaded run's weights hold NaN or infinite values (a failed run's)."""
    bad = nonfinite_weights(run)
    if bad:
        raise RunFileError(f"{source} holds non-finite weights ({', '.join(bad)}), as a run that diverged leaves "
                           "them; retrain it, e.g. with a smaller optimizer.learning_rate")


def file_kind(path: Path) -> str:
    """What an existing file is, as far as psychrnn-cli's commands write it.

    ``run file``, or ``<kind> file`` (``checkpoint file``, ``simulation file``) for an HDF5 file
    of psychrnn-cli with a ``kind`` attribute; ``PsychRNN weight file`` for a ``.npz`` with a
    ``W_rec``; ``PNG figure``; ``summary table`` for a CSV written by ``psychrnn summarize``;
    otherwise ``other file`` (also when it cannot be read).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return "other file"
    if head.startswith(b"\x89HDF"):
        try:
            with h5py.File(path, "r") as f:
                if "schema_version" in f.attrs:
                    kind = f.attrs.get("kind", "run")
                    return f"{kind.decode() if isinstance(kind, bytes) else kind} file"
        except OSError:
            pass
        return "other file"
    if head.startswith(b"\x89PNG"):
        return "PNG figure"
    if head.startswith(b"PK"):
        try:
            with np.load(path, allow_pickle=False) as data:
                return "PsychRNN weight file" if "W_rec" in data.files else "other file"
        except (OSError, ValueError):
            return "other file"
    first = head.split(b"\n", 1)[0]
    return "summary table" if first.startswith(b"run,") or b",runs,n," in first else "other file"


def prepare_output(path: Path | str, kind: str, overwrite: bool) -> Path:
    """Check that a command may write the file ``path`` and create its folder; returns ``path``.

    A new file is always written. An existing file is replaced only when it is of ``kind`` (see
    :func:`file_kind`: a file this same command wrote) and ``overwrite`` is true; a run file, a
    checkpoint or any other file is never replaced. A symbolic link stands for the file it names
    (the path returned), and a link to a missing file is refused.

    Raises:
        OutputError: ``path`` is a folder or a link to a missing file, exists and is not of
            ``kind``, exists without ``overwrite``, or its folder cannot be created.
    """
    path = Path(path)
    if path.is_symlink():  # write the file the link names; the link itself is never replaced
        if not path.exists():
            raise OutputError(f"--out {path} is a link to {os.readlink(path)}, which does not exist: "
                              "choose another file")
        path = path.resolve()
    if path.is_dir():
        raise OutputError(f"--out {path} is a folder: give a file name")
    if path.exists():
        found = file_kind(path)
        if found != kind:
            what = "a file psychrnn-cli did not write" if found == "other file" else f"a {found}"
            raise OutputError(f"--out {path} already exists and is {what}, which is never overwritten: "
                              "choose another file")
        if not overwrite:
            raise OutputError(f"--out {path} already exists (a {found}): add --overwrite to replace it, "
                              "or choose another file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"--out {path}: cannot create the folder {path.parent} ({err.strerror or err})") from None
    return path


def update_run(path: Path | str, groups: dict[str, dict[str, Any]], attrs: dict[str, Any] | None = None,
               weights_sha256: str | None = None, overwrite: bool = False) -> Path:
    """Add groups (and set root attributes) of an existing run file, atomically, holding its run
    directory's lock.

    ``groups`` maps a group path (``"evaluation/evaluate"``, ``"analysis/fixed_points"``) to a
    tree as :func:`write_run` takes it. ``attrs`` sets root attributes (``status``, ...), keeping
    the others. The file is copied to a temporary name in the same folder, changed there, and
    renamed over the original, so a crash leaves the old file intact.

    Args:
        weights_sha256: the :func:`weights_digest` of the weights the groups were computed from;
            the file is left unchanged unless it still holds those weights.
        overwrite: replace a group already at a path (otherwise that is refused).

    Raises:
        RunFileError: the file is missing or not a run file, a training process holds the run
            directory, the weights changed, or a group exists and ``overwrite`` is false.
    """
    path = resolve_run_path(path).resolve()  # a symlink's target: its directory is locked, the link kept
    if not path.is_file():
        raise RunFileError(f"no run file at {path}: give a run directory holding run.h5, or the file itself")
    with run_dir_lock(path.parent, "psychrnn saving a result", "nothing was saved: run the command again once it "
                                                               "has ended"):
        try:
            with atomic_file(path) as tmp:
                shutil.copyfile(path, tmp)
                with h5py.File(tmp, "r+") as f:
                    if "schema_version" not in f.attrs:
                        raise RunFileError(f"{path} is an HDF5 file but not a psychrnn-cli run file (no schema_version)")
                    if weights_sha256 is not None and _file_weights_digest(f) != weights_sha256:
                        raise RunFileError(f"the weights in {path} changed while this command ran (now iteration "
                                           f"{f.attrs.get('iterations')}); nothing was saved: run the command again")
                    for name, tree in groups.items():
                        if name in f and not overwrite:
                            raise RunFileError(f"{path} already holds a result at /{name}: add --overwrite to replace "
                                               "it (psychrnn evaluate: or save under another --name)")
                        if name in f:
                            del f[name]
                        _write_tree(f.require_group(name), tree)
                    _write_tree(f, {"attrs": attrs or {}})
        except OSError as err:
            raise RunFileError(f"cannot update {path} (truncated or not a run file?): {_first_line(err)}") from None
    return path


@contextlib.contextmanager
def run_dir_lock(run_dir: Path, command: str, advice: str) -> Iterator[None]:
    """Hold the run directory's lock while the block runs (``fcntl.flock`` on ``run_dir/.psychrnn.lock``).

    One process at a time writes a run directory: ``psychrnn train`` for the whole of training,
    ``evaluate`` and ``analyse`` while they save a result. The kernel releases the lock when the
    process ends, however it ends, so a killed process leaves no stale lock. The lock file names
    the holder (command, pid, host, start time) for the message of the next one.

    Args:
        run_dir: an existing directory.
        command: what holds the lock, for the message of the next one (``psychrnn train``).
        advice: what the refused user can do, appended to the message.

    Raises:
        RunDirBusy: another process holds the lock.
        RunFileError: the lock file cannot be created (a read-only directory). A file system that
            does not support locks (some network file systems) runs the block unlocked.
    """
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise RunFileError(f"cannot write to {run_dir} ({err.strerror or err}); nothing was saved") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise RunDirBusy(f"{run_dir} is in use by {holder}; {advice}") from None
        except OSError:
            pass  # no locks on this file system
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{command} (pid {os.getpid()} on {socket.gethostname()}, started {started})".encode(), 0)
        yield
    finally:
        os.close(fd)


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


def check_model_arrays(model: dict[str, Any], source: str = "run file") -> None:
    """Raise RunFileError naming the first array of a loaded ``/model`` that is missing, not numeric,
    or of a shape that does not fit the sizes in ``/model``'s attributes (a damaged run file).

    Expected shapes, with G gate blocks (basic 1, GRU 3, LSTM 4; G is read off ``W_rec``):
    ``weights/W_in [G*N_rec, N_in]``, ``weights/W_rec [G*N_rec, N_rec]``, ``weights/W_out [N_out, N_rec]``,
    ``weights/b_rec [G*N_rec]``, ``weights/b_out [N_out]``, ``weights/init_state [N_rec]``, and the
    three connectivity masks ``[N_rec, N_in]``, ``[N_rec, N_rec]``, ``[N_out, N_rec]``.
    """
    attrs = model.get("attrs", {})
    try:
        N_in, N_rec, N_out = (int(attrs[key]) for key in ("N_in", "N_rec", "N_out"))
        float(attrs["alpha"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunFileError(f"{source}: /model has no valid attributes N_in, N_rec, N_out and alpha ({err!r}): "
                           "a damaged run file") from None
    W_rec = (model.get("weights") or {}).get("W_rec")
    G = max(1, np.shape(W_rec)[0] // N_rec) if np.ndim(W_rec) == 2 and N_rec > 0 else 1
    expected = {
        "weights/W_in": (G * N_rec, N_in), "weights/W_rec": (G * N_rec, N_rec), "weights/W_out": (N_out, N_rec),
        "weights/b_rec": (G * N_rec,), "weights/b_out": (N_out,), "weights/init_state": (N_rec,),
        "constraints/input_connectivity": (N_rec, N_in), "constraints/rec_connectivity": (N_rec, N_rec),
        "constraints/output_connectivity": (N_out, N_rec),
    }
    for path, shape in expected.items():
        group, name = path.split("/")
        array = model[group].get(name) if isinstance(model.get(group), dict) else None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise RunFileError(f"{source}: /model/{path} is missing or not a numeric array: a damaged run file")
        if array.shape != shape:
            raise RunFileError(f"{source}: /model/{path} has shape {array.shape}, expected {shape} (from /model's "
                               f"N_in={N_in}, N_rec={N_rec}, N_out={N_out}): a damaged run file")


def resolve_run_path(path: Path | str) -> Path:
    """``path/run.h5`` if ``path`` is a directory holding one (a run directory), else ``path`` itself."""
    path = Path(path)
    return path / RUN_FILE if path.is_dir() and (path / RUN_FILE).exists() else path


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
    if not path.is_file():
        members = sorted(p.parent.name for p in path.glob(f"*/{RUN_FILE}"))
        hint = f"an ensemble or sweep folder: give one of its runs, e.g. {path / members[0]}, or summarize it with " \
            f"psychrnn summarize {path}" if members else f"a run directory holds {RUN_FILE}"
        raise RunFileError(f"{path} is a folder, not an HDF5 file ({hint})")
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
            check_layout(f, path)
            tree = _read_tree(f)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as err:  # h5py's errors on damaged files
        raise RunFileError(f"cannot read {path} as HDF5 (truncated or not a run file): {_first_line(err)}") from None
    if "config" in tree:
        tree["config"] = _parse_config(tree["config"], path)
    return tree


GROUPS = ("model", "model/weights", "model/effective", "model/constraints", "training", "trials", *RESULT_GROUPS)
ROOT_ATTR_KINDS = {"status": str, "message": str, "iterations": int, "weights_from_iteration": int}


def check_layout(f: h5py.File, path: Path) -> None:
    """RunFileError naming the first object of the run file ``f`` (read from ``path``) whose kind
    is wrong: a group of the layout above that is not a group, or a root attribute ``status``,
    ``message`` (text), ``iterations`` or ``weights_from_iteration`` (a whole number) of another type."""
    for name in GROUPS:
        if name in f and not isinstance(f[name], h5py.Group):
            raise RunFileError(f"{path}: /{name} is a dataset, not a group: a damaged run file")
    for name, kind in ROOT_ATTR_KINDS.items():
        value = f.attrs.get(name)
        value = value.decode() if isinstance(value, bytes) else value
        ok = isinstance(value, (str, np.str_)) if kind is str else isinstance(value, (int, np.integer))
        if value is not None and not ok:
            raise RunFileError(f"{path}: root attribute {name} is {str(value)[:40]!r}, not "
                               f"{'text' if kind is str else 'a whole number'}: a damaged run file")


def _first_line(err: BaseException) -> str:
    """The first line of ``err``'s message (h5py's may span several)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


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
