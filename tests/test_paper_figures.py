"""The paper-figure pipeline end to end: paper/figures.py trains Fig. 2's experiment (two seeds,
few iterations) and draws the figure from the run files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from psychrnn_cli import load_run
from tests.conftest import REPO


@pytest.mark.slow
def test_fig2_regenerates_end_to_end(tmp_path):
    out = tmp_path / "fig2.png"
    done = subprocess.run([sys.executable, str(REPO / "paper" / "figures.py"), "fig2", "--runs", str(tmp_path),
                           "--out", str(out), "train.ensemble=2", "train.iterations=20", "train.eval_every=10",
                           "train.test_trials=100", "train.save_trials=10"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    members = sorted((tmp_path / "paper_fig2" / "0").glob("seed_*/run.h5"))
    assert [p.parent.name for p in members] == ["seed_0", "seed_1"]
    assert all(load_run(p)["attrs"]["status"] == "completed" for p in members)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    # drawing again from the trained runs does not train
    again = subprocess.run([sys.executable, str(REPO / "paper" / "figures.py"), "fig2", "--runs", str(tmp_path),
                            "--out", str(tmp_path / "again.png"), "--plot-only"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "psychrnn train" not in again.stdout, again.stderr[-2000:]
    assert (tmp_path / "again.png").exists()
