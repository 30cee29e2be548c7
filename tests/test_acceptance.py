"""Long training checks (marked slow; `.ci/run` runs them): the acceptance numbers of the issues."""

from __future__ import annotations

import pytest

from psychrnn_cli import load_run, train

pytestmark = pytest.mark.slow
QUIET = ["train.progress=false", "train.stop_accuracy=0.9"]


@pytest.mark.parametrize("overrides", [
    ["constraints=dale", "constraints.dale_ratio=0.8", "constraints.autapses=false"],
    ["constraints=two_regions"],
], ids=["dale_no_autapses", "two_regions"])
def test_constrained_networks_learn_perceptual_discrimination(tmp_path, overrides):
    run = load_run(train([*QUIET, *overrides], run_dir=tmp_path))
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.85
    assert run["evaluation"]["attrs"]["n_trials"] == 500


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_gated_models_learn_delayed_discrimination(tmp_path, model):
    run = load_run(train([*QUIET, "task=delayed_discrimination", f"model={model}"], run_dir=tmp_path))
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.85
