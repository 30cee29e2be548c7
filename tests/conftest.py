"""Shared fixtures. TensorFlow is slow to import and to trace, so the suite trains few networks
and shares them: ``trained_run`` is one short perceptual-discrimination run used by many tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
FAST = ["train.progress=false", "train.eval_trials=100", "train.test_trials=200", "train.save_trials=20"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """run.h5 of perceptual discrimination trained to 90% (default network, seed 0)."""
    from psychrnn_cli import train

    return train([*FAST, "train.stop_accuracy=0.9", "train.iterations=400"], run_dir=tmp_path_factory.mktemp("run"))


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``psychrnn ARGS`` in a subprocess with this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "psychrnn_cli.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )
