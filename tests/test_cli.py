"""The ``psychrnn`` command in subprocesses, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from psychrnn_cli import load_run
from tests.conftest import FAST, run_cli


def test_help_lists_commands_and_does_not_import_tensorflow():
    code = ("import sys; from psychrnn_cli.cli import main; main(['--help']); main(['tasks']); "
            "assert 'tensorflow' not in sys.modules, 'help imported tensorflow'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "train " in out.stdout and "list the built-in tasks" in out.stdout
    for name in ("perceptual_discrimination", "delayed_discrimination", "match_to_category"):
        assert name in out.stdout


def test_docs_and_command_help_cite_no_document_outside_the_repository():
    from pathlib import Path

    from psychrnn_cli.cli import commands

    repo = Path(__file__).parents[1]
    texts = {str(p.relative_to(repo)): p.read_text() for p in [repo / "README.md", *(repo / "docs").rglob("*.md")]}
    for name, module in commands().items():
        if hasattr(module, "parser"):
            texts[f"psychrnn {name} --help"] = module.parser().format_help()
    outside = re.compile(r"\bSPEC\b|\bDESIGN\.md\b")  # the design notes live outside the repository
    for where, text in texts.items():
        assert not outside.search(text), where


def test_tasks_takes_no_arguments():
    from psychrnn_cli.cli import main

    for argv in (["tasks", "perceptual"], ["tasks", "--bogus"]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2


def test_version_and_unknown_command():
    assert run_cli("--version").stdout.startswith("psychrnn-cli ")
    bad = run_cli("trian")
    assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr


def test_train_help_and_cfg_job():
    help_out = run_cli("train", "--help")
    assert help_out.returncode == 0 and "psychrnn train" in help_out.stdout and "task:" in help_out.stdout
    cfg = run_cli("train", "--cfg", "job", "model.N_rec=77")
    assert cfg.returncode == 0 and "N_rec: 77" in cfg.stdout


def test_unknown_task_lists_the_valid_ones():
    out = run_cli("train", "task=perceptual_discrimnation")
    assert out.returncode != 0
    assert "perceptual_discrimnation" in out.stderr and "match_to_category" in out.stderr


def test_bad_value_is_one_clear_line(tmp_path):
    out = run_cli("train", "constraints.dale_ratio=1.5", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2
    assert "constraints.dale_ratio must be a number in [0, 1]" in out.stderr and "1.5" in out.stderr
    assert "Traceback" not in out.stderr


def test_multirun_two_seeds(tmp_path):
    out = run_cli("train", "-m", "seed=0,1", *FAST, "train.iterations=10", "train.eval_every=5",
                  "train.stop_accuracy=null", f"hydra.sweep.dir={tmp_path}", timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = [load_run(tmp_path / str(i)) for i in (0, 1)]
    assert [r["attrs"]["seed"] for r in runs] == [0, 1]
    assert all(r["attrs"]["status"] == "completed" for r in runs)
    assert not np.array_equal(runs[0]["model"]["weights"]["W_rec"], runs[1]["model"]["weights"]["W_rec"])
    assert (tmp_path / "0" / "train.log").read_text().count("iteration 10") == 1
    assert (tmp_path / "0" / ".hydra" / "overrides.yaml").exists()
