"""The documentation: every command of the getting-started page runs, the README stays a short
front page whose first lines are the set-up commands, and the paper-figure helpers count right."""

from __future__ import annotations

import importlib.util
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FAST, REPO

DOCS = REPO / "docs"
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -e ."  # run by .ci/run and tests/test_install.py
SHORT_TRAINING = [*FAST, "train.iterations=20", "train.eval_every=10"]


def code_blocks(page: Path, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in a Markdown page, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), flags=re.S | re.M)


@pytest.mark.slow  # five subprocesses, one of them training: over the fast suite's budget
def test_getting_started_commands_all_run(tmp_path):
    page = DOCS / "getting-started.md"
    commands = [line.split("#")[0].strip() for block in code_blocks(page, "bash") for line in block.splitlines()]
    commands = [c for c in commands if c]
    assert commands[0] == INSTALL and commands[1] == "source .venv/bin/activate"
    stdout = {}
    for command in commands[2:]:
        args = shlex.split(command)
        assert args[0] == "psychrnn", command
        if args[1] == "train":
            args += SHORT_TRAINING  # the same command, trained briefly
        out = subprocess.run([sys.executable, "-m", "psychrnn_cli.cli", *args[1:]], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{command}: {out.stderr[-1500:]}"
        stdout[args[1]] = out.stdout
    assert list(stdout) == ["tasks", "train", "evaluate", "plot"]
    assert "perceptual_discrimination" in stdout["tasks"] and "accuracy" in stdout["evaluate"]
    assert (tmp_path / "runs/first/plots/psychometric.png").exists()

    (python_block,) = code_blocks(page, "python")
    out = subprocess.run([sys.executable, "-c", python_block], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    status, accuracy = out.stdout.split()[:2]
    assert status == "completed" and 0.0 <= float(accuracy) <= 1.0
    assert out.stdout.split()[-1] == "50"  # model.N_rec, the default


def test_readme_is_a_short_front_page_starting_with_the_set_up_commands():
    readme = (REPO / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= 150
    first_block = code_blocks(REPO / "README.md", "bash")[0].splitlines()
    assert first_block[0] == INSTALL + " && .venv/bin/psychrnn train task=perceptual_discrimination"
    assert first_block[1] == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
    assert first_block[1] in (REPO / ".ci/run").read_text()
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):  # every docs link points at a page that exists
        assert (REPO / link).exists(), link


def load_figures():
    spec = importlib.util.spec_from_file_location("paper_figures", REPO / "paper" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paper_iterations_to_criterion_and_constraint_names():
    figures = load_figures()
    run = {"training": {"iteration": np.array([10, 20, 30]), "accuracy": np.array([0.5, 0.92, 0.95]),
                        "wall_time": np.array([1.0, 2.0, 3.0])},
           "config": {"train": {"stop_accuracy": 0.9}}}
    assert figures.iterations_to_criterion(run) == 20.0
    run["config"]["train"]["stop_accuracy"] = 0.96
    assert math.isnan(figures.iterations_to_criterion(run))
    constraints = {"dale_ratio": 0.8, "autapses": False, "regions": None}
    assert figures.constraint_name({"config": {"constraints": constraints}}) == "Dale + no autapses"
    constraints.update(dale_ratio=None, autapses=True)
    assert figures.constraint_name({"config": {"constraints": constraints}}) == "none"


def test_run_file_layout_is_the_documented_one(trained_run, tmp_path):
    """The run-file schema page is generated from RUN_GROUPS: a real run writes only groups it lists,
    and the writer refuses one it does not."""
    from psychrnn_cli import load_run
    from psychrnn_cli.runfile import RUN_GROUPS, write_run

    run = load_run(trained_run)
    assert set(run) - {"path"} <= set(RUN_GROUPS)
    assert {"attrs", "config", "model", "training", "trials", "evaluation"} <= set(run)
    with pytest.raises(ValueError, match="perturbed not in the run file's layout"):
        write_run(tmp_path / "run.h5", {"config": "a: 1", "perturbed": {"x": [1.0]}}, layout=RUN_GROUPS)
    assert not (tmp_path / "run.h5").exists()
