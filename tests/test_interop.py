"""PsychRNN weight files: reading without unpickling, the model's equations, export and round trips."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from psychrnn_cli import load_run
from psychrnn_cli.interop import InteropError, PsychRNNWeights, export_run, from_run, read_psychrnn, write_psychrnn
from psychrnn_cli.simulator import load_network, simulate
from tests.test_simulator import write_synthetic_run

N_IN, N_REC, N_OUT = 2, 10, 2


def psychrnn_style_file(path, dale_ratio=0.8, optimizer_slots=True):
    """An .npz laid out as PsychRNN's RNN.save writes it (keys and shapes from its documentation).

    The recurrent matrix is deliberately not sign-consistent, so that PsychRNN's effective-weight
    rule (|W * M| @ Dale) matters.
    """
    rng = np.random.default_rng(0)
    n_exc = int(dale_ratio * N_REC) if dale_ratio is not None else N_REC
    dale_vec = np.where(np.arange(N_REC) < n_exc, 1.0, -1.0)
    rec_mask = (rng.random((N_REC, N_REC)) > 0.2).astype(np.float32)
    arrays = {
        "init_state": (0.1 + 0.01 * rng.standard_normal((1, N_REC))).astype(np.float32),
        "W_in": rng.normal(0, 0.5, (N_REC, N_IN)).astype(np.float32),
        "W_rec": rng.normal(0, 0.3, (N_REC, N_REC)).astype(np.float32),
        "W_out": rng.normal(0, 0.5, (N_OUT, N_REC)).astype(np.float32),
        "b_rec": rng.normal(0, 0.1, N_REC).astype(np.float32),
        "b_out": rng.normal(0, 0.1, N_OUT).astype(np.float32),
        "Dale_rec": np.diag(dale_vec).astype(np.float32),
        "Dale_out": np.diag(np.where(dale_vec > 0, 1.0, 0.0)).astype(np.float32),
        "input_connectivity": np.ones((N_REC, N_IN), np.float32),
        "rec_connectivity": rec_mask,
        "output_connectivity": np.ones((N_OUT, N_REC), np.float32),
    }
    if optimizer_slots:
        arrays.update({"W_rec/Adam": np.ones((N_REC, N_REC)), "W_rec/Adam_1": np.ones((N_REC, N_REC))})
    np.savez(path, **arrays, dale_ratio=dale_ratio)  # None is stored pickled, as PsychRNN does
    return arrays


def spec_forward(W_in, W_rec, W_out, b_rec, b_out, x0, inputs, alpha=0.1):
    """The basic model in NumPy, relu."""
    x = np.broadcast_to(x0, (inputs.shape[0], len(x0)))
    out = []
    for t in range(inputs.shape[1]):
        x = (1 - alpha) * x + alpha * (np.maximum(x, 0) @ W_rec.T + inputs[:, t] @ W_in.T + b_rec)
        out.append(np.maximum(x, 0) @ W_out.T + b_out)
    return np.stack(out, 1)


@pytest.mark.parametrize("dale_ratio", [0.8, None])
def test_psychrnn_file_runs_as_the_spec_equations(tmp_path, dale_ratio):
    a = psychrnn_style_file(tmp_path / "w.npz", dale_ratio)
    weights = read_psychrnn(tmp_path / "w.npz")
    assert weights.dale_ratio == dale_ratio
    assert set(weights.skipped) == {"W_rec/Adam", "W_rec/Adam_1"}
    signs = np.diag(a["Dale_rec"]).astype(float)
    M = a["rec_connectivity"].astype(float)
    if dale_ratio is None:
        W_rec, W_in, W_out = a["W_rec"] * M, a["W_in"], a["W_out"]
    else:  # W_rec_eff = |W_rec * M_rec| diag(signs), W_in_eff = |W_in|, W_out_eff = |W_out| diag(signs > 0)
        W_rec, W_in, W_out = np.abs(a["W_rec"] * M) * signs, np.abs(a["W_in"]), np.abs(a["W_out"]) * (signs > 0)
    inputs = np.random.default_rng(1).normal(0.5, 0.5, (3, 40, N_IN))
    expected = spec_forward(W_in, W_rec, W_out, a["b_rec"], a["b_out"], a["init_state"][0].astype(float), inputs)
    got = simulate(load_network(tmp_path / "w.npz"), inputs).outputs
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_reading_never_unpickles(tmp_path, monkeypatch):
    arrays = psychrnn_style_file(tmp_path / "w.npz", dale_ratio=None)
    np.savez(tmp_path / "evil.npz", **{**arrays, "W_in": np.array([object()])})

    def refuse(*args, **kwargs):
        raise AssertionError("the reader unpickled something")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert read_psychrnn(tmp_path / "w.npz").dale_ratio is None
    with pytest.raises(InteropError, match="W_in is a pickled object"):
        read_psychrnn(tmp_path / "evil.npz")


def test_load_and_resave_round_trips_bit_exactly(tmp_path):
    for dale in (0.8, None):
        psychrnn_style_file(tmp_path / "a.npz", dale)
        first = read_psychrnn(tmp_path / "a.npz")
        second = read_psychrnn(write_psychrnn(tmp_path / "b.npz", first))
        assert second.dale_ratio == first.dale_ratio
        assert first.arrays.keys() == second.arrays.keys()
        for key, value in first.arrays.items():
            assert value.dtype == second.arrays[key].dtype and value.tobytes() == second.arrays[key].tobytes()
        # what PsychRNN's own loader sees: np.load(allow_pickle=True) and .item() on dale_ratio;
        # without Dale the key is absent (PsychRNN then applies no Dale) and nothing is pickled
        with np.load(tmp_path / "b.npz", allow_pickle=False) as data:
            assert (data["dale_ratio"].item() if "dale_ratio" in data else None) == dale
            assert data["init_state"].shape == (1, N_REC)
            assert all(data[key].dtype != object for key in data)


def test_export_of_a_run_keeps_the_network(tmp_path):
    run_file = write_synthetic_run(tmp_path / "run", ("constraints=[dale,no_autapses]", "constraints.dale_ratio=0.75"))
    path = export_run(run_file.parent, tmp_path / "exported")
    assert path.name == "exported.npz"
    exported = read_psychrnn(path)
    run = load_run(run_file)
    effective = run["model"]["effective"]
    for key in ("W_in", "W_rec", "W_out", "b_rec", "b_out"):
        np.testing.assert_array_equal(exported.arrays[key], effective[key])
    assert exported.arrays["init_state"].shape == (1, 20) and exported.dale_ratio == 0.75
    signs = np.diag(exported.arrays["Dale_rec"])
    assert (signs > 0).sum() == 15 and np.all(signs[:15] == 1) and np.all(signs[15:] == -1)
    np.testing.assert_array_equal(np.diag(exported.arrays["Dale_out"]), (signs > 0).astype(np.float32))
    assert np.all(np.diag(exported.arrays["rec_connectivity"]) == 0)
    inputs = run["trials"]["inputs"]
    from_npz, from_run_file = (simulate(load_network(p), inputs).outputs for p in (path, run_file))
    np.testing.assert_allclose(from_npz, from_run_file, rtol=1e-12, atol=1e-12)
    again = read_psychrnn(write_psychrnn(tmp_path / "again.npz", exported))
    assert all(again.arrays[k].tobytes() == v.tobytes() for k, v in exported.arrays.items())


def test_initializer_from_file_reads_an_export(tmp_path):
    from psychrnn_cli.initializers import from_file
    from psychrnn_cli.masks import build_constraints

    run_file = write_synthetic_run(tmp_path / "run")
    path = export_run(run_file)
    constraints = build_constraints(2, 20, 2, np.random.default_rng(0))
    weights = from_file(np.random.default_rng(0), constraints, 2, 2, path=str(path))
    np.testing.assert_array_equal(weights["W_rec"], read_psychrnn(path).arrays["W_rec"])
    assert weights["init_state"].shape == (20,)


def test_bad_files_and_runs_give_clear_errors(tmp_path):
    with pytest.raises(InteropError, match="does not exist"):
        read_psychrnn(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InteropError, match="cannot read"):
        read_psychrnn(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", W_rec=np.eye(3))
    with pytest.raises(InteropError, match="lacks W_in, W_out, b_rec, b_out, init_state"):
        read_psychrnn(tmp_path / "partial.npz")
    a = psychrnn_style_file(tmp_path / "w.npz", optimizer_slots=False)
    np.savez(tmp_path / "shape.npz", **{**a, "b_rec": np.zeros(3)})
    with pytest.raises(InteropError, match=r"b_rec has shape \(3,\), expected \(10,\)"):
        read_psychrnn(tmp_path / "shape.npz")
    with pytest.raises(InteropError, match="PsychRNN has no format for this model .*use our HDF5 run file"):
        from_run({"model": {"attrs": {"kind": "lstm"}, "weights": {}, "constraints": {}}})


def test_export_command(tmp_path, capsys):
    from psychrnn_cli.commands.export import main

    run_file = write_synthetic_run(tmp_path / "run")
    assert main([str(run_file.parent), "--format", "psychrnn"]) == 0
    assert (tmp_path / "run" / "psychrnn_weights.npz").is_file()
    assert "wrote" in capsys.readouterr().out
    assert isinstance(read_psychrnn(tmp_path / "run" / "psychrnn_weights.npz"), PsychRNNWeights)
