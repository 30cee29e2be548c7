"""``psychrnn evaluate``, the atomic run-file update, and the after-training commands without TensorFlow."""

from __future__ import annotations

import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from psychrnn_cli import load_run
from psychrnn_cli.runfile import update_run
from tests.test_simulator import write_synthetic_run


@pytest.fixture()
def run_copy(trained_run, tmp_path):
    shutil.copy(trained_run, tmp_path / "run.h5")
    return tmp_path / "run.h5"


def test_evaluate_prints_and_saves_accuracy_per_condition(run_copy, capsys):
    from psychrnn_cli.commands.evaluate import main

    before = load_run(run_copy)
    assert main([str(run_copy.parent), "--trials", "400", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    after = load_run(run_copy)
    result = after["evaluation"]["evaluate"]
    attrs = result["attrs"]
    assert attrs["n_trials"] == 400 and attrs["seed"] == 1 and f"accuracy {attrs['accuracy']:.4f}" in printed
    # a different engine (NumPy, not TensorFlow) on different fresh trials: close to the training-time test
    assert abs(attrs["accuracy"] - before["evaluation"]["attrs"]["accuracy"]) < 0.1
    coherence = result["conditions"]["coherence"]
    np.testing.assert_array_equal(coherence["values"], [0.1, 0.3, 0.5, 0.7])
    assert coherence["n_trials"].sum() == 400
    assert coherence["accuracy"][-1] >= coherence["accuracy"][0]  # easier trials are not harder
    assert set(result["conditions"]) == {"coherence", "direction"}  # onset and duration are continuous
    assert after["evaluation"]["attrs"] == before["evaluation"]["attrs"]  # training-time results kept
    np.testing.assert_array_equal(after["model"]["weights"]["W_rec"], before["model"]["weights"]["W_rec"])


def test_evaluate_with_task_overrides_and_no_save(run_copy, capsys):
    from psychrnn_cli.commands.evaluate import main

    assert main([str(run_copy), "task.coherence=0.7", "task.T=1000", "--trials", "50"]) == 0
    group = load_run(run_copy)["evaluation"]["evaluate task.coherence=0.7 task.T=1000"]
    assert group["attrs"]["overrides"] == "task.coherence=0.7 task.T=1000"
    assert "coherence" not in group["conditions"]  # a single level is no condition
    capsys.readouterr()
    assert main([str(run_copy), "--trials", "10", "--name", "quick", "--no-save"]) == 0
    assert "quick" not in load_run(run_copy)["evaluation"]


@pytest.mark.parametrize("args,message", [
    (["model.N_rec=3"], "only task settings can change"),
    (["task.dt=20"], "task.dt=20.0 does not fit the trained network"),
    (["task.nonsense=1"], "cannot build the task"),
    (["--trials", "0"], "argument --trials: must be at least 1, got 0"),
])
def test_evaluate_rejects_bad_requests(run_copy, capsys, args, message):
    from psychrnn_cli.commands.evaluate import main

    try:
        code = main([str(run_copy), *args])
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_evaluate_refuses_outputs_that_are_not_finite_and_keeps_the_file(run_copy, capsys):
    """Finite weights whose activity grows without bound give no score (it would print loss inf or nan)."""
    from psychrnn_cli.commands.evaluate import main

    with h5py.File(run_copy, "r+") as f:
        f["model/weights/W_rec"][...] = 1e6 * np.abs(f["model/weights/W_rec"][()])
    before = run_copy.read_bytes()
    assert main([str(run_copy), "--trials", "10"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "psychrnn evaluate: error: the network's outputs are not finite or too large to score on 10 trials of its "
        "task (its activity grows without bound with these weights): nothing to score"]
    assert run_copy.read_bytes() == before


def test_update_run_replaces_groups_and_leaves_the_file_intact_on_failure(tmp_path):
    run_file = write_synthetic_run(tmp_path)
    update_run(run_file, {"evaluation/x": {"attrs": {"a": 1}, "values": np.arange(3)}})
    update_run(run_file, {"evaluation/x": {"attrs": {"a": 2}}}, overwrite=True)
    group = load_run(run_file)["evaluation"]["x"]
    assert group == {"attrs": {"a": 2}}  # replaced as a whole
    before = run_file.read_bytes()
    with pytest.raises(TypeError):
        update_run(run_file, {"analysis/bad": {"thing": object()}})
    assert run_file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".psychrnn.lock", "run.h5"]  # no temporary file left
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = 1
    from psychrnn_cli.runfile import RunFileError

    with pytest.raises(RunFileError, match="not a psychrnn-cli run file"):
        update_run(tmp_path / "plain.h5", {"evaluation/x": {}})


def test_after_training_commands_never_import_tensorflow(tmp_path):
    run_dir = write_synthetic_run(tmp_path / "run").parent
    code = f"""
import sys
from psychrnn_cli.cli import main
d = {str(run_dir)!r}
assert main(['evaluate', d, '--trials', '20']) == 0
assert main(['simulate', d, '--trials', '5', '--lesion', '0-3']) == 0
assert main(['analyse', d, '--fixed-points', '--initial', '8', '--trials', '4']) == 0
assert main(['export', d]) == 0
assert main(['plot', d, '--trials', '20']) == 0
assert 'tensorflow' not in sys.modules, 'a command imported tensorflow'
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (run_dir / "simulation.h5").is_file() and (run_dir / "psychrnn_weights.npz").is_file()
