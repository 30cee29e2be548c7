"""Sweeps with Hydra's basic launcher when jobs fail: the others still run, every job leaves a run
file with its status, the sweep exits 1, and ``psychrnn summarize`` reports the failed job."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from psychrnn_cli import load_run
from psychrnn_cli.cli import main as psychrnn
from psychrnn_cli.tasks.perceptual_discrimination import PerceptualDiscrimination
from tests.conftest import REPO, run_cli

SHORT = ["task.T=500", "train.iterations=20", "train.eval_every=10", "train.stop_accuracy=null",
         "train.progress=false", "train.eval_trials=50", "train.test_trials=50"]
# The sweep callback (checks, then a report and the exit status); redundant (and harmless) once
# configs/train.yaml registers it as hydra.callbacks.psychrnn_sweep.
FLAKY = ["task=custom", "task._target_=tests.test_sweeps.Flaky"]  # importable from cwd=REPO


class Flaky(PerceptualDiscrimination):
    """Perceptual discrimination that fails on demand.

    ``outcome``: ``complete`` trains normally; ``raise_in_training`` raises when the 5th batch is
    drawn (iteration 5: the trial checks made while building pass); ``bad_value`` refuses to be
    built (a config error, before any run file exists).
    """

    def __init__(self, outcome: str = "complete", **kwargs) -> None:
        if outcome == "bad_value":
            raise ValueError("outcome=bad_value is refused at construction")
        super().__init__(**kwargs)
        self.outcome = outcome

    def generate_trial_params(self, batch: int, trial: int) -> dict:
        if self.outcome == "raise_in_training" and batch >= 5:
            raise RuntimeError("raised while generating trials")
        return super().generate_trial_params(batch, trial)


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory):
    """A 3-job sweep: job 0 completes, job 1 raises during training, job 2 has a bad config value."""
    sweep = tmp_path_factory.mktemp("sweep")
    out = run_cli("train", "-m", *FLAKY, "+task.outcome=complete,raise_in_training,bad_value", *SHORT,
                  f"hydra.sweep.dir={sweep}", cwd=REPO, timeout=600)
    return sweep, out


def test_failed_jobs_do_not_stop_the_sweep(failing_sweep):
    sweep, out = failing_sweep
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert "job 1 failed: RuntimeError: raised while generating trials" in out.stderr
    assert "job 2 failed: ConfigError: task: cannot build" in out.stderr
    assert "2 of 3 runs did not complete" in out.stderr

    done = load_run(sweep / "0")
    assert done["attrs"]["status"] == "completed" and done["attrs"]["iterations"] == 20
    assert 0.0 <= done["evaluation"]["attrs"]["accuracy"] <= 1.0

    trained = load_run(sweep / "1")  # written by run() before training, then marked failed
    assert trained["attrs"]["status"] == "failed"
    assert trained["attrs"]["message"] == "RuntimeError: raised while generating trials"
    assert "W_rec" in trained["model"]["weights"]

    refused = load_run(sweep / "2")  # the minimal run file of a job that failed while building
    assert refused["attrs"]["status"] == "failed"
    assert "outcome=bad_value is refused at construction" in refused["attrs"]["message"]
    assert refused["attrs"]["seed"] == 0 and refused["attrs"]["iterations"] == 0
    assert refused["config"]["task"]["outcome"] == "bad_value"
    for job in ("1", "2"):
        assert "Traceback" in (sweep / job / "train.log").read_text()


def test_summarize_a_sweep_with_failed_jobs(failing_sweep, capsys):
    sweep, _ = failing_sweep
    assert psychrnn(["summarize", str(sweep), "--group-by", "task.outcome"]) == 0
    printed = capsys.readouterr().out
    assert "same in every run: task=custom" in printed  # constant overrides leave the table
    lines = {line.split()[0]: line.split() for line in printed.splitlines() if line[:2] in ("0 ", "1 ", "2 ")}
    assert lines["0"][1:3] == ["complete", "completed"]
    assert lines["1"][1:3] == ["raise_in_training", "failed"] and "RuntimeError:" in lines["1"]

    with open(sweep / "summary.csv") as fh:
        rows = {row["run"]: row for row in csv.DictReader(fh)}
    assert [rows[j]["status"] for j in ("0", "1", "2")] == ["completed", "failed", "failed"]
    assert rows["0"]["task.T"] == "500" and rows["2"]["task.outcome"] == "bad_value"
    done = load_run(sweep / "0")
    assert float(rows["0"]["accuracy"]) == pytest.approx(done["evaluation"]["attrs"]["accuracy"])
    assert float(rows["0"]["loss"]) == pytest.approx(done["evaluation"]["attrs"]["loss"])
    assert float(rows["0"]["time_s"]) == pytest.approx(done["training"]["wall_time"][-1])
    assert rows["1"]["accuracy"] == "" and rows["2"]["message"].startswith("ConfigError:")

    with open(sweep / "summary_by_task.outcome.csv") as fh:
        groups = {row["task.outcome"]: row for row in csv.DictReader(fh)}
    assert {k: (g["runs"], g["n"]) for k, g in groups.items()} == {
        "bad_value": ("1", "0"), "complete": ("1", "1"), "raise_in_training": ("1", "0")}
    assert float(groups["complete"]["accuracy_mean"]) == pytest.approx(done["evaluation"]["attrs"]["accuracy"])
    assert groups["raise_in_training"]["accuracy_mean"] == "" and groups["complete"]["accuracy_std"] == ""


def test_single_run_that_fails_exits_with_one_line(tmp_path: Path):
    out = run_cli("train", *FLAKY, "+task.outcome=raise_in_training", *SHORT, f"hydra.run.dir={tmp_path}",
                  cwd=REPO)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("psychrnn train: error: training failed: RuntimeError: raised while generating trials")
    assert str(tmp_path / "train.log") in last
    run = load_run(tmp_path)
    assert run["attrs"]["status"] == "failed" and math.isfinite(run["model"]["weights"]["W_rec"].sum())
