"""A training run end to end through the Python API, and the run file it writes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from psychrnn_cli import load_run, train
from psychrnn_cli.runfile import SCHEMA_VERSION, RunFileError, write_run
from tests.conftest import FAST, REPO

SHORT = [*FAST, "train.iterations=20", "train.eval_every=10", "train.stop_accuracy=null"]


def test_default_run_reaches_90_percent_on_fresh_trials(trained_run):
    run = load_run(trained_run)
    assert run["attrs"]["status"] == "completed"
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.9
    assert run["evaluation"]["attrs"]["n_trials"] == 200


def test_run_file_shapes_and_schema(trained_run):
    run = load_run(trained_run)
    attrs = run["attrs"]
    assert attrs["schema_version"] == SCHEMA_VERSION and attrs["seed"] == 0
    for key in ("tensorflow_version", "numpy_version", "psychrnn_cli_version", "created", "host"):
        assert attrs[key]
    assert attrs["tf_intra_op_threads"] == 1  # one thread per op, the default (psychrnn_cli.network)
    assert run["config"]["task"]["_target_"].endswith("PerceptualDiscrimination")
    model = run["model"]
    assert model["attrs"]["N_rec"] == 50 and model["attrs"]["alpha"] == pytest.approx(0.1)
    shapes = {"W_in": (50, 2), "W_rec": (50, 50), "W_out": (2, 50), "b_rec": (50,), "b_out": (2,), "init_state": (50,)}
    for group in ("weights", "effective"):
        assert {k: v.shape for k, v in model[group].items()} == shapes
    assert model["constraints"]["rec_connectivity"].shape == (50, 50)
    trials = run["trials"]
    assert trials["inputs"].shape == (20, 200, 2)
    assert trials["outputs"].shape == trials["targets"].shape == trials["mask"].shape == (20, 200, 2)
    assert trials["states"].shape == (20, 200, 50)
    np.testing.assert_array_equal(trials["time_ms"], np.arange(200) * 10.0)
    assert trials["coherence"].shape == (20,) and set(trials["direction"]) <= {0, 1}
    curves = run["training"]
    n = len(curves["iteration"])
    assert n >= 1 and all(len(curves[k]) == n for k in ("loss", "accuracy", "train_loss", "wall_time"))
    assert np.all(np.diff(curves["wall_time"]) > 0)


def test_run_file_datasets_carry_units(trained_run):
    with h5py.File(trained_run) as f:
        assert f["trials/time_ms"].attrs["units"] == "ms"
        assert f["trials/states"].attrs["axes"] == "trial, time, unit"
        assert f["training/accuracy"].attrs["units"] == "fraction correct"
        assert "\ntask:\n" in f["config"].asstr()[()]


def test_same_seed_same_run_different_seed_different_run(tmp_path):
    a = load_run(train([*SHORT, "seed=3"], run_dir=tmp_path / "a"))
    b = load_run(train([*SHORT, "seed=3"], run_dir=tmp_path / "b"))
    c = load_run(train([*SHORT, "seed=4"], run_dir=tmp_path / "c"))
    for name, value in a["model"]["weights"].items():
        np.testing.assert_array_equal(value, b["model"]["weights"][name])
    for name in ("loss", "accuracy", "train_loss"):
        np.testing.assert_array_equal(a["training"][name], b["training"][name])
    assert not np.array_equal(a["model"]["weights"]["W_rec"], c["model"]["weights"]["W_rec"])
    assert a["attrs"]["iterations"] == 20


def test_own_task_example_trains(tmp_path, monkeypatch):
    """The README's example file, a Task subclass written like a PsychRNN task."""
    monkeypatch.chdir(REPO / "examples")
    path = train([*FAST, "task=custom", "task._target_=pulse_sign.PulseSign", "task.T=1000",
                  "train.iterations=300", "train.stop_accuracy=0.9"], run_dir=tmp_path)
    run = load_run(path)
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.9
    assert run["trials"]["inputs"].shape[2] == 1


class DuckTypedPsychRNNTask:
    """Only PsychRNN's members, no base class, NumPy's global random state (as tutorials do)."""

    def __init__(self, dt, tau, T, N_batch):
        self.N_in, self.N_out, self.dt, self.tau, self.T, self.N_batch = 1, 1, dt, tau, T, N_batch
        self.alpha, self.N_steps = dt / tau, int(np.ceil(T / dt))

    def generate_trial_params(self, batch, trial):
        return {"level": np.random.uniform(-1, 1)}

    def trial_function(self, t, params):
        return np.array([params["level"]]), np.array([params["level"]]), np.ones(1)


def test_duck_typed_task_trains_and_is_seeded(tmp_path):
    overrides = [*FAST, "task=custom", "task._target_=tests.test_run.DuckTypedPsychRNNTask", "task.T=200",
                 "train.iterations=10", "train.eval_every=5", "train.stop_accuracy=null"]
    a = load_run(train(overrides, run_dir=tmp_path / "a"))
    b = load_run(train(overrides, run_dir=tmp_path / "b"))
    assert a["attrs"]["status"] == "completed" and a["trials"]["inputs"].shape == (20, 20, 1)
    np.testing.assert_array_equal(a["trials"]["inputs"], b["trials"]["inputs"])
    np.testing.assert_array_equal(a["model"]["weights"]["W_out"], b["model"]["weights"]["W_out"])


def test_load_run_errors(tmp_path):
    with pytest.raises(RunFileError, match="no run file"):
        load_run(tmp_path / "missing")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(RunFileError, match="cannot read"):
        load_run(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(RunFileError, match="not a psychrnn-cli run file"):
        load_run(tmp_path / "other.h5")
    write_run(tmp_path / "new.h5", {"attrs": {"status": "completed"}})
    with h5py.File(tmp_path / "new.h5", "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(RunFileError, match=f"version {SCHEMA_VERSION + 1}.*upgrade"):
        load_run(tmp_path / "new.h5")


def test_write_run_is_atomic(tmp_path, monkeypatch):
    """A failure while writing keeps the previous file and leaves no temporary file."""
    path = write_run(tmp_path / "run.h5", {"attrs": {"status": "running"}, "a": np.ones(3)})
    with pytest.raises(TypeError):
        write_run(path, {"attrs": {"status": "completed"}, "bad": object()})
    assert load_run(path)["attrs"]["status"] == "running"
    assert [p.name for p in tmp_path.iterdir()] == ["run.h5"]
