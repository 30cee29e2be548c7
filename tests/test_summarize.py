"""``psychrnn summarize`` on hand-made sweeps (run files written with ``write_run``; no TensorFlow)."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli.cli import main as psychrnn
from psychrnn_cli.runfile import write_run
from psychrnn_cli.sweep_summary import collect_runs, group_table

# job -> (N_rec, seed, status, test accuracy, test loss, iterations, training time in s)
JOBS = {
    "0": (32, 0, "completed", 0.80, 0.050, 300, 10.0),
    "1": (32, 1, "completed", 0.90, 0.030, 250, 12.0),
    "2": (64, 0, "completed", 0.95, 0.020, 200, 20.0),
    "10": (64, 1, "completed", 0.85, 0.040, 400, 30.0),
    "11": (64, 2, "failed", None, None, 0, None),
}


def make_run(run_dir: Path, n_rec: int, seed: int, status: str, accuracy, loss, iterations: int, seconds,
             overrides: bool = True) -> None:
    """A run directory as ``psychrnn train -m`` leaves it: .hydra/overrides.yaml and run.h5."""
    run_dir.mkdir(parents=True)
    if overrides:
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "overrides.yaml").write_text(f"- model.N_rec={n_rec}\n- +seed={seed}\n")
    tree = {"attrs": {"status": status, "iterations": iterations, "seed": seed,
                      "message": "" if status == "completed" else "RuntimeError: boom"},
            "config": f"seed: {seed}\nmodel:\n  N_rec: {n_rec}\n  kind: basic\n"}
    if accuracy is not None:
        tree["evaluation"] = {"attrs": {"accuracy": accuracy, "loss": loss, "n_trials": 100}}
        tree["training"] = {"wall_time": np.array([seconds / 2, seconds]), "accuracy": np.array([0.5, accuracy])}
    write_run(run_dir / "run.h5", tree)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Five runs (one failed), a job without run.h5 and a job whose run.h5 is garbage."""
    for job, values in JOBS.items():
        make_run(tmp_path / job, *values)
    (tmp_path / "12" / ".hydra").mkdir(parents=True)
    (tmp_path / "12" / ".hydra" / "overrides.yaml").write_text("- model.N_rec=128\n- +seed=0\n")
    make_run(tmp_path / "13", 128, 1, "completed", 0.9, 0.03, 100, 5.0)
    (tmp_path / "13" / "run.h5").write_bytes(b"this is not HDF5")
    (tmp_path / ".submitit" / "123_0").mkdir(parents=True)  # launcher files are not runs
    return tmp_path


def test_one_row_per_run_in_natural_order_with_missing_and_unreadable(sweep):
    runs = collect_runs(sweep)
    assert [r.path for r in runs] == ["0", "1", "2", "10", "11", "12", "13"]
    assert [r.status for r in runs] == ["completed"] * 4 + ["failed", "missing", "unreadable"]
    by_path = {r.path: r for r in runs}
    assert by_path["2"].accuracy == 0.95 and by_path["2"].loss == 0.02
    assert by_path["2"].iterations == 200 and by_path["2"].time_s == 20.0
    assert by_path["12"].overrides == {"model.N_rec": "128", "seed": "0"}
    assert "run.h5" in by_path["12"].message and "HDF5" in by_path["13"].message
    assert np.isnan(by_path["11"].accuracy) and by_path["11"].message == "RuntimeError: boom"


def test_group_by_gives_mean_std_and_n_of_completed_runs(sweep):
    header, rows = group_table(collect_runs(sweep), ["model.N_rec"])
    table = {row[0]: dict(zip(header, row)) for row in rows}
    assert list(table) == ["32", "64", "128"]
    assert (table["32"]["runs"], table["32"]["n"]) == (2, 2)
    assert table["32"]["accuracy_mean"] == pytest.approx(0.85)
    assert table["32"]["accuracy_std"] == pytest.approx(statistics.stdev([0.80, 0.90]))
    assert (table["64"]["runs"], table["64"]["n"]) == (3, 2)  # the failed run is counted, not averaged
    assert table["64"]["loss_mean"] == pytest.approx(0.03)
    assert table["64"]["time_s_std"] == pytest.approx(statistics.stdev([20.0, 30.0]))
    assert table["64"]["iterations_mean"] == pytest.approx(300)
    assert (table["128"]["runs"], table["128"]["n"]) == (2, 0) and np.isnan(table["128"]["accuracy_mean"])


def test_command_prints_an_aligned_table_and_writes_csv(sweep, capsys):
    assert psychrnn(["summarize", str(sweep)]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0].splitlines()
    header, rule, rows = table[0], table[1], table[2:]
    assert header.split()[:4] == ["run", "model.N_rec", "seed", "status"]
    assert len(rows) == 7
    status_at = header.index("status")
    assert all(row[status_at:].split()[0] in ("completed", "failed", "missing", "unreadable") for row in rows)
    accuracy_end = header.index("accuracy") + len("accuracy")  # numbers are right-aligned under their header
    assert [row[accuracy_end - 5:accuracy_end] for row in rows[:3]] == ["0.800", "0.900", "0.950"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert f"wrote {sweep / 'summary.csv'}" in out

    with open(sweep / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["run"] for r in rows] == ["0", "1", "2", "10", "11", "12", "13"]
    assert float(rows[3]["accuracy"]) == 0.85 and rows[3]["seed"] == "1" and rows[3]["model.N_rec"] == "64"
    assert rows[4]["status"] == "failed" and rows[4]["accuracy"] == ""


def test_group_by_and_out_options(sweep, tmp_path_factory, capsys):
    out_dir = tmp_path_factory.mktemp("elsewhere")
    assert psychrnn(["summarize", str(sweep), "--out", str(out_dir / "s.csv"), "--group-by", "model.N_rec"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy_mean" in printed and not (sweep / "summary.csv").exists()
    with open(out_dir / "s_by_model.N_rec.csv") as fh:
        groups = list(csv.DictReader(fh))
    assert [(g["model.N_rec"], g["runs"], g["n"]) for g in groups] == [("32", "2", "2"), ("64", "3", "2"),
                                                                      ("128", "2", "0")]
    assert float(groups[0]["accuracy_std"]) == pytest.approx(statistics.stdev([0.80, 0.90]))
    assert (out_dir / "s.csv").exists()


def test_runs_without_hydra_overrides_use_the_config_keys_that_differ(tmp_path, capsys):
    make_run(tmp_path / "a", 32, 0, "completed", 0.8, 0.05, 100, 1.0, overrides=False)
    make_run(tmp_path / "b", 64, 0, "completed", 0.9, 0.04, 100, 1.0, overrides=False)
    assert psychrnn(["summarize", str(tmp_path), "--group-by", "seed"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:3] == ["run", "model.N_rec", "status"]  # seed and kind are equal in both runs
    with open(tmp_path / "summary_by_seed.csv") as fh:
        assert [(g["seed"], g["n"]) for g in csv.DictReader(fh)] == [("0", "2")]


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such directory"),
    ("empty", "no runs found under"),
    ("bad_param", "--group-by nope: no run has this parameter (parameters of this sweep: model.N_rec, seed"),
])
def test_clear_errors(sweep, tmp_path_factory, capsys, case, expected):
    empty = tmp_path_factory.mktemp("empty")
    argv = {"missing": [str(empty / "nowhere")], "empty": [str(empty)],
            "bad_param": [str(sweep), "--group-by", "nope"]}[case]
    assert psychrnn(["summarize", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("psychrnn summarize: error: ") and expected in err
    assert len(err.strip().splitlines()) == 1


def test_an_ensemble_trained_from_the_command_line_gets_one_row_per_member(tmp_path, capsys):
    from tests.conftest import FAST, run_cli

    trained = run_cli("train", "train.ensemble=3", "seed=4", "task.T=300", "model.N_rec=8", "train.iterations=2",
                      "train.stop_accuracy=null", *FAST, f"hydra.run.dir={tmp_path / 'ens'}")
    assert trained.returncode == 0, trained.stderr
    runs = collect_runs(tmp_path)
    assert [(r.path, r.status, r.param("seed")) for r in runs] == [
        ("ens/seed_4", "completed", "4"), ("ens/seed_5", "completed", "5"), ("ens/seed_6", "completed", "6")]
    assert all(r.iterations == 2 and r.overrides["train.ensemble"] == "3" for r in runs)
    assert psychrnn(["summarize", str(tmp_path / "ens")]) == 0
    rows = list(csv.DictReader((tmp_path / "ens" / "summary.csv").open()))
    assert [(row["run"], row["seed"], row["status"]) for row in rows] == [
        ("seed_4", "4", "completed"), ("seed_5", "5", "completed"), ("seed_6", "6", "completed")]


def test_a_sweep_of_ensembles_gets_one_row_per_member_and_a_member_that_never_wrote_is_missing(tmp_path):
    for job, first in (("0", 0), ("1", 2)):  # psychrnn train -m train.ensemble=2 seed=0,2
        (tmp_path / job / ".hydra").mkdir(parents=True)
        (tmp_path / job / ".hydra" / "overrides.yaml").write_text(f"- train.ensemble=2\n- seed={first}\n")
        (tmp_path / job / ".hydra" / "config.yaml").write_text(f"seed: {first}\ntrain:\n  ensemble: 2\n")
    for seed in (0, 1, 2):
        make_run(tmp_path / str(seed // 2) / f"seed_{seed}", 50, seed, "completed", 0.9, 0.03, 100, 5.0,
                 overrides=False)
    runs = collect_runs(tmp_path)
    assert [(r.path, r.status, r.param("seed"), r.param("train.ensemble")) for r in runs] == [
        ("0/seed_0", "completed", "0", "2"), ("0/seed_1", "completed", "1", "2"),
        ("1/seed_2", "completed", "2", "2"), ("1/seed_3", "missing", "3", "2")]
    header, rows = group_table(runs, ["seed"])
    assert [row[:3] for row in rows] == [["0", 1, 1], ["1", 1, 1], ["2", 1, 1], ["3", 1, 0]]
