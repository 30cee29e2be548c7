"""Results that must never be lost, and exit codes that tell the truth (issue 14), by family:

1. ``--out`` of every after-training command: never over a file the command did not write, its
   own file only with ``--overwrite``, its folder created.
2. Training again in a run directory: a completed run is left as it is or continued, keeping the
   results saved in it; fewer iterations, a different config, a missing checkpoint are refused.
3. One writer per run directory: a lock that names its holder and dies with it.
4. ``.hydra/`` records the config the run trained with, never a refused one.
5. Saved results name the weights they came from and are not saved into changed or busy runs.
6. Saved results are kept (``--overwrite`` to replace), and empty requests are usage errors.
7. A run that diverges keeps finite weights, and non-finite weights are refused everywhere.
8. Exit codes: 0 completed, 1 failed, 2 usage or config error, 3 stopped.

Run them with ``.venv/bin/python -m pytest tests/test_results_kept.py`` (``-m slow`` adds the
signal test).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from psychrnn_cli import load_run, train
from psychrnn_cli.build import ConfigError
from psychrnn_cli.cli import main as psychrnn
from psychrnn_cli import runfile
from psychrnn_cli.runfile import RunFileError
from tests.conftest import FAST, run_cli

LOCK_FILE = ".psychrnn.lock"

SHORT = [*FAST, "task.T=300", "train.iterations=10", "train.eval_every=5", "train.stop_accuracy=null"]


def code_of(*argv: str) -> int:
    """``psychrnn ARGV`` in this process; argparse's usage errors count as their exit code."""
    try:
        return psychrnn(list(argv))
    except SystemExit as exit:
        return exit.code


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too, but not the lock files, which name their last holder)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE}


@pytest.fixture()
def run_dir(trained_run, tmp_path) -> Path:
    """A copy of the shared trained run directory (run.h5 and checkpoint.h5)."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("run.h5", "checkpoint.h5"):
        shutil.copy(Path(trained_run).parent / name, folder / name)
    return folder


# --- 1. --out ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["simulate", "{run}", "--out", "{run}/run.h5", "--trials", "5"],
    ["simulate", "{run}", "--out", "{run}/checkpoint.h5", "--trials", "5", "--overwrite"],
    ["simulate", ".", "--out", "run.h5", "--trials", "5"],  # relative to the run directory
    ["export", "{run}", "--out", "{run}/notes.npz", "--overwrite"],
    ["export", "{run}", "--out", "{run}/notes", "--overwrite"],  # .npz is appended
    ["plot", "{run}", "--out", "{run}/figures", "--trials", "20", "--overwrite"],
    ["summarize", "{run}", "--out", "{run}/run.h5", "--overwrite"],
    ["summarize", "{run}", "--out", "{run}/notes.csv", "--overwrite"],
], ids=["simulate-run", "simulate-checkpoint", "simulate-relative", "export-foreign-npz", "export-suffix",
        "plot-foreign-png", "summarize-run", "summarize-foreign-csv"])
def test_out_never_replaces_a_file_the_command_did_not_write(run_dir, monkeypatch, capsys, argv):
    (run_dir / "notes.npz").write_text("my notes")
    (run_dir / "notes.csv").write_text("a,b\n1,2\n")
    (run_dir / "figures").mkdir()
    (run_dir / "figures" / "training.png").write_text("not a figure")
    before = snapshot(run_dir)
    monkeypatch.chdir(run_dir)
    assert code_of(*[a.format(run=run_dir) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "never overwritten" in err and len(err.splitlines()) == 1
    assert snapshot(run_dir) == before


def test_out_through_a_symlink_writes_the_file_it_names_and_keeps_the_link(run_dir, tmp_path):
    assert code_of("simulate", str(run_dir), "--trials", "5", "--out", str(tmp_path / "sim.h5")) == 0
    link = tmp_path / "link.h5"
    link.symlink_to(tmp_path / "sim.h5")
    assert code_of("simulate", str(run_dir), "--trials", "5", "--seed", "1", "--out", str(link), "--overwrite") == 0
    assert link.is_symlink() and load_run(tmp_path / "sim.h5")["attrs"]["seed"] == 1
    dangling = tmp_path / "dangling.h5"
    dangling.symlink_to(tmp_path / "missing" / "x.h5")
    assert code_of("simulate", str(run_dir), "--trials", "5", "--out", str(dangling)) == 2
    assert dangling.is_symlink() and not (tmp_path / "missing").exists()


def test_out_says_what_the_file_it_refuses_is(run_dir, capsys):
    (run_dir / "notes.csv").write_text("a,b\n1,2\n")
    assert code_of("summarize", str(run_dir), "--out", str(run_dir / "notes.csv"), "--overwrite") == 2
    assert "notes.csv already exists and is a file psychrnn-cli did not write" in capsys.readouterr().err
    assert code_of("export", str(run_dir), "--out", str(run_dir / "checkpoint.h5.npz")) == 0
    assert code_of("simulate", str(run_dir), "--out", str(run_dir / "checkpoint.h5.npz"), "--overwrite") == 2
    assert "checkpoint.h5.npz already exists and is a PsychRNN weight file" in capsys.readouterr().err


@pytest.mark.parametrize("argv, written", [
    (["simulate", "{run}", "--trials", "5"], "simulation.h5"),
    (["export", "{run}"], "psychrnn_weights.npz"),
    (["plot", "{run}", "--trials", "20"], "plots/weights.png"),
    (["summarize", "{run}", "--out", "{run}/sweep.csv"], "sweep.csv"),
], ids=["simulate", "export", "plot", "summarize"])
def test_out_replaces_the_commands_own_file_only_with_overwrite(run_dir, capsys, argv, written):
    argv = [a.format(run=run_dir) for a in argv]
    assert code_of(*argv) == 0
    first = (run_dir / written).read_bytes()
    capsys.readouterr()
    assert code_of(*argv) == 2
    assert "add --overwrite" in capsys.readouterr().err
    assert (run_dir / written).read_bytes() == first
    assert code_of(*argv, "--overwrite") == 0


def test_the_default_summary_table_is_refreshed(run_dir):
    """summarize's own default table follows the runs as they finish; it is never any other file."""
    assert code_of("summarize", str(run_dir)) == 0
    (run_dir / "summary.csv").write_text("run,status\nstale,running\n")
    assert code_of("summarize", str(run_dir)) == 0
    assert "stale" not in (run_dir / "summary.csv").read_text()


@pytest.mark.parametrize("argv, written", [
    (["simulate", "{run}", "--trials", "5", "--out", "{new}/sim.h5"], "sim.h5"),
    (["export", "{run}", "--out", "{new}/weights.npz"], "weights.npz"),
    (["plot", "{run}", "--trials", "20", "--out", "{new}"], "weights.png"),
    (["summarize", "{run}", "--out", "{new}/sweep.csv"], "sweep.csv"),
], ids=["simulate", "export", "plot", "summarize"])
def test_out_creates_its_folder(run_dir, tmp_path, argv, written):
    new = tmp_path / "results" / "deeper"
    assert code_of(*[a.format(run=run_dir, new=new) for a in argv]) == 0
    assert (new / written).is_file()


# --- 2. training again in a run directory -----------------------------------------------------------


def test_a_completed_run_trained_again_is_left_as_it_is_or_continued_keeping_saved_results(tmp_path, capsys):
    train(SHORT, run_dir=tmp_path)
    assert code_of("evaluate", str(tmp_path), "--trials", "20") == 0
    assert code_of("analyse", str(tmp_path), "--fixed-points", "--initial", "4", "--trials", "4") == 0
    before = (tmp_path / "run.h5").read_bytes()
    capsys.readouterr()
    train(SHORT, run_dir=tmp_path)  # the README's resume recipe, or a requeue, after the end
    assert "nothing to do" in capsys.readouterr().err
    assert (tmp_path / "run.h5").read_bytes() == before
    run = load_run(train([*SHORT, "train.iterations=15"], run_dir=tmp_path))  # more iterations: continue
    assert run["attrs"]["iterations"] == 15 and run["attrs"]["status"] == "completed"
    assert run["evaluation"]["evaluate"]["attrs"]["run_iteration"] == 10  # kept, and says what it scored
    assert run["analysis"]["fixed_points"]["attrs"]["run_iteration"] == 10
    with pytest.raises(ConfigError, match=r"train.iterations=12 is fewer than the 15 iterations"):
        train([*SHORT, "train.iterations=12"], run_dir=tmp_path)
    (tmp_path / "run.h5").unlink()  # a checkpoint alone counts too
    with pytest.raises(ConfigError, match=r"train.iterations=12 is fewer than the 15 iterations"):
        train([*SHORT, "train.iterations=12"], run_dir=tmp_path)


def test_a_different_config_never_replaces_a_trained_run_without_train_overwrite(tmp_path):
    train(SHORT, run_dir=tmp_path)
    before = (tmp_path / "run.h5").read_bytes()
    with pytest.raises(ConfigError, match=r"different config \(model.N_rec: 50 -> 20\).*train.overwrite=true"):
        train([*SHORT, "model.N_rec=20"], run_dir=tmp_path)
    (tmp_path / "checkpoint.h5").unlink()  # what the old advice said to do
    for overrides in (["model.N_rec=20"], ["model.N_rec=20", "train.resume=false"]):
        with pytest.raises(ConfigError, match="different config"):
            train([*SHORT, *overrides], run_dir=tmp_path)
    with pytest.raises(ConfigError, match="no checkpoint to continue from.*train.overwrite=true"):
        train([*SHORT, "train.iterations=20"], run_dir=tmp_path)
    assert (tmp_path / "run.h5").read_bytes() == before
    replaced = load_run(train([*SHORT, "model.N_rec=20", "train.overwrite=true"], run_dir=tmp_path))
    assert replaced["config"]["model"]["N_rec"] == 20


@pytest.mark.parametrize("name, content, overrides", [
    ("run.h5", b"my own notes", ["train.overwrite=true"]),
    ("run.h5", None, []),  # a simulation file named run.h5
    ("checkpoint.h5", b"\x89HDF\r\n\x1a\n truncated", ["train.resume=false"]),
], ids=["text-run", "simulation-run", "damaged-checkpoint"])
def test_training_never_writes_over_files_it_did_not_write(run_dir, tmp_path, name, content, overrides):
    target = tmp_path / "target"
    target.mkdir()
    if content is None:
        assert code_of("simulate", str(run_dir), "--trials", "5", "--out", str(target / name)) == 0
    else:
        (target / name).write_bytes(content)
    before = snapshot(target)
    with pytest.raises(ConfigError, match=f"{name} is not a psychrnn-cli .* never writes over it"):
        train([*SHORT, *overrides], run_dir=target)
    assert snapshot(target) == before


def test_ensemble_members_follow_the_same_rules(tmp_path, capsys):
    ensemble = [*SHORT, "train.iterations=5", "train.ensemble=2"]
    train(ensemble, run_dir=tmp_path)
    before = snapshot(tmp_path)
    train(ensemble, run_dir=tmp_path)
    assert "nothing to do" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="different config"):
        train([*ensemble, "model.N_rec=20"], run_dir=tmp_path)
    with runfile.run_dir_lock(tmp_path / "seed_1", "psychrnn train", ""):
        with pytest.raises(ConfigError, match=f"seed_1 is in use by psychrnn train \\(pid {os.getpid()}"):
            train([*ensemble, "train.iterations=8"], run_dir=tmp_path)
    assert snapshot(tmp_path) == before


def test_a_single_run_and_an_ensemble_never_share_a_run_directory(tmp_path):
    """A run directory holds one single run or the members of one ensemble: training the other kind
    (or members of other seeds) there would leave runs that .hydra/ and summarize no longer describe."""
    solo, ensemble = tmp_path / "solo", tmp_path / "ensemble"
    train([*SHORT, "train.iterations=5"], run_dir=solo)
    train([*SHORT, "train.iterations=5", "train.ensemble=2"], run_dir=ensemble)
    before = snapshot(tmp_path)
    for overrides, folder, message in (
            (["train.ensemble=2"], solo, "holds a single run"),
            ([], ensemble, "holds the ensemble members seed_0, seed_1"),
            (["train.overwrite=true"], ensemble, "holds the ensemble members seed_0, seed_1"),
            (["train.ensemble=2", "seed=1"], ensemble, "holds the ensemble members seed_0, which")):
        with pytest.raises(ConfigError, match=message):
            train([*SHORT, "train.iterations=5", *overrides], run_dir=folder)
    assert snapshot(tmp_path) == before


# --- 3, 4. the lock, and .hydra ---------------------------------------------------------------------


def test_a_second_writer_fails_at_once_naming_the_first_and_writes_nothing(tmp_path):
    with runfile.run_dir_lock(tmp_path, "psychrnn train", ""):
        out = run_cli("train", *SHORT, f"hydra.run.dir={tmp_path}")
        assert out.returncode == 2, out.stderr[-2000:]
        assert f"is in use by psychrnn train (pid {os.getpid()} on " in out.stderr and "started" in out.stderr
        assert "Traceback" not in out.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [".psychrnn.lock"]  # no run.h5, no .hydra, no log
        assert code_of("evaluate", str(tmp_path)) == 2  # nor does anything else write into it


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from psychrnn_cli.runfile import run_dir_lock\n"
                               f"with run_dir_lock(Path({str(tmp_path)!r}), 'psychrnn train', ''):\n"
                               "    print('locked', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFileError, match=f"pid {holder.pid} "):
            with runfile.run_dir_lock(tmp_path, "test", "wait"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with runfile.run_dir_lock(tmp_path, "test", "wait"):
        pass


def test_hydra_folder_keeps_the_config_the_run_trained_with(tmp_path):
    assert run_cli("train", *SHORT, f"hydra.run.dir={tmp_path}").returncode == 0
    before = snapshot(tmp_path)
    refused = run_cli("train", *SHORT, "model.N_rec=20", f"hydra.run.dir={tmp_path}")
    assert refused.returncode == 2 and "different config" in refused.stderr
    assert snapshot(tmp_path) == before
    (tmp_path / "run.h5").unlink()  # the checkpoint alone refuses it before anything is written
    del before["run.h5"]
    refused = run_cli("train", *SHORT, "model.N_rec=20", f"hydra.run.dir={tmp_path}")
    assert refused.returncode == 2 and "checkpoint of a different config" in refused.stderr
    assert snapshot(tmp_path) == before
    assert "- model.N_rec=20" not in (tmp_path / ".hydra" / "overrides.yaml").read_text()


# --- 5, 6. saved results ----------------------------------------------------------------------------


def test_saved_results_name_their_weights_and_are_not_saved_into_changed_weights(run_dir):
    assert code_of("evaluate", str(run_dir), "--trials", "20") == 0
    run = load_run(run_dir)
    attrs = run["evaluation"]["evaluate"]["attrs"]
    assert attrs["weights_sha256"] == runfile.weights_digest(run["model"]["weights"])
    assert attrs["run_iteration"] == run["attrs"]["iterations"]
    before = (run_dir / "run.h5").read_bytes()
    with pytest.raises(RunFileError, match="weights in .* changed"):
        runfile.update_run(run_dir, {"evaluation/later": {"attrs": {"a": 1}}}, weights_sha256="0" * 64)
    with runfile.run_dir_lock(run_dir, "psychrnn train", ""):  # a trainer holds the directory
        assert code_of("evaluate", str(run_dir), "--trials", "20", "--name", "during") == 2
        assert code_of("analyse", str(run_dir), "--fixed-points", "--initial", "4", "--trials", "4") == 2
    assert (run_dir / "run.h5").read_bytes() == before


def test_results_saved_through_a_symlink_go_into_the_run_it_names(run_dir, tmp_path):
    """The lock taken is the real run directory's, and the link itself is never replaced."""
    link = tmp_path / "link.h5"
    link.symlink_to(run_dir / "run.h5")
    with runfile.run_dir_lock(run_dir, "psychrnn train", ""):
        assert code_of("evaluate", str(link), "--trials", "20") == 2
    assert code_of("evaluate", str(link), "--trials", "20") == 0
    assert link.is_symlink() and "evaluate" in load_run(run_dir)["evaluation"]


def test_a_saved_result_is_kept_unless_overwrite_is_given(run_dir, capsys):
    for argv in (["evaluate", str(run_dir), "--trials", "20"],
                 ["analyse", str(run_dir), "--fixed-points", "--initial", "4", "--trials", "4"]):
        assert code_of(*argv) == 0
        before = (run_dir / "run.h5").read_bytes()
        capsys.readouterr()
        assert code_of(*argv) == 2
        assert "--overwrite" in capsys.readouterr().err
        assert (run_dir / "run.h5").read_bytes() == before
        assert code_of(*argv, "--overwrite") == 0
    assert code_of("evaluate", str(run_dir), "--trials", "20", "--name", "second") == 0
    assert {"evaluate", "second"} <= set(load_run(run_dir)["evaluation"])


@pytest.mark.parametrize("name", [".", "..", "evaluate/inside", "/evaluate", "a/b", "", "  "])
def test_evaluate_name_is_one_group_of_its_own(run_dir, capsys, name):
    """A --name that is a path would write into another result, or (".") replace /evaluation itself."""
    assert code_of("evaluate", str(run_dir), "--trials", "20") == 0
    before = (run_dir / "run.h5").read_bytes()
    capsys.readouterr()
    assert code_of("evaluate", str(run_dir), "--trials", "20", "--name", name, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "argument --name" in err and "Traceback" not in err
    assert (run_dir / "run.h5").read_bytes() == before


@pytest.mark.parametrize("argv", [
    ["analyse", "{run}", "--fixed-points", "--initial", "0"],
    ["analyse", "{run}", "--fixed-points", "--trials", "0"],
    ["analyse", "{run}", "--fixed-points", "--init-noise", "-1"],
    ["analyse", "{run}", "--fixed-points", "--q-tol", "0"],
    ["evaluate", "{run}", "--trials", "-3"],
    ["simulate", "{run}", "--trials", "0"],
    ["simulate", "{run}", "--rec-noise", "-0.1"],
    ["simulate", "{run}", "--input-noise", "nan"],
    ["plot", "{run}", "--dpi", "0"],
    ["plot", "{run}", "--trials", "0"],
    ["plot", "{run}", "--dpi", "100000"],
    ["evaluate", "{run}", "--seed", "-1"],
    ["simulate", "{run}", "--seed", "4294967296"],
    ["plot", "{run}", "--seed", "-2"],
    ["analyse", "{run}", "--fixed-points", "--seed", "-1"],
    ["analyse", "{run}", "--fixed-points", "--input", "nan,1"],
    ["analyse", "{run}", "--fixed-points", "--input", "1,inf"],
])
def test_empty_or_negative_requests_are_usage_errors(run_dir, capsys, argv):
    before = snapshot(run_dir)
    assert code_of(*[a.format(run=run_dir) for a in argv]) == 2
    assert "argument " + argv[-2] in capsys.readouterr().err
    assert snapshot(run_dir) == before


# --- 7, 8. divergence and exit codes ----------------------------------------------------------------


@pytest.mark.parametrize("command", [["export"], ["evaluate"], ["simulate"], ["plot"],
                                     ["analyse", "--fixed-points"]])
def test_non_finite_weights_are_refused(run_dir, capsys, command):
    with h5py.File(run_dir / "run.h5", "r+") as f:
        f["model/weights/W_rec"][0, 0] = np.nan
    assert code_of(command[0], str(run_dir), *command[1:]) == 2
    assert "non-finite weights (W_rec)" in capsys.readouterr().err
    assert not (run_dir / "psychrnn_weights.npz").exists()


def test_a_diverging_run_exits_1_and_keeps_the_last_good_weights(tmp_path, capsys):
    out = run_cli("train", *SHORT, "optimizer.learning_rate=1e6", "train.checkpoint_every=1",
                  f"hydra.run.dir={tmp_path}")
    assert out.returncode == 1, out.stderr[-2000:]
    assert "training failed: loss became" in out.stderr.strip().splitlines()[-1]
    run = load_run(tmp_path)
    assert run["attrs"]["status"] == "failed"
    assert run["attrs"]["weights_from_iteration"] < run["attrs"]["iterations"]
    assert all(np.all(np.isfinite(w)) for w in run["model"]["weights"].values())
    # those weights (about 1e6 each) give a loss of nan on the final test: no test batch, no numbers from it
    assert "evaluation" not in run and "trials" not in run
    assert "no test batch: the weights kept give a loss of nan" in (tmp_path / "train.log").read_text()
    assert code_of("summarize", str(tmp_path)) == 0
    with h5py.File(tmp_path / "checkpoint.h5") as f:
        assert f.attrs["iteration"] == run["attrs"]["weights_from_iteration"]
        np.testing.assert_array_equal(f["training_state/params/W_rec"][()], run["model"]["weights"]["W_rec"])
    # the saved weights are finite, but (learning rate 1e6) about 1e6 each: the activity they make
    # overflows, so evaluate says so rather than print a loss of inf
    assert code_of("evaluate", str(tmp_path), "--trials", "20", "--no-save") == 2
    err = capsys.readouterr().err
    assert f"status is 'failed'; evaluating the weights it saved (from iteration " \
           f"{run['attrs']['weights_from_iteration']})" in err
    assert "outputs are not finite or too large to score on 20 trials" in err.splitlines()[-1]


@pytest.mark.slow
def test_sigterm_exits_3_and_says_how_to_resume(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "psychrnn_cli.cli", "train", *SHORT, "train.iterations=100000",
                                f"hydra.run.dir={tmp_path}"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not (tmp_path / "train.log").exists() or "iteration 5 " not in (tmp_path / "train.log").read_text():
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 3
    err = process.stderr.read()
    assert "Ctrl-C" not in err and "SIGTERM received" in err
    assert "to resume it, run: psychrnn train " in err and f"hydra.run.dir={tmp_path}" in err.splitlines()[-1]
    assert load_run(tmp_path)["attrs"]["status"] == "stopped"


@pytest.mark.parametrize("statuses, code", [(["completed", "completed"], None), (["completed", "stopped"], 3),
                                            (["stopped", "failed"], 1), (["completed", "running"], 1)])
def test_a_sweep_exits_as_a_single_run_would(tmp_path, statuses, code):
    from omegaconf import OmegaConf

    from psychrnn_cli.app import SweepCallback

    for job, status in enumerate(statuses):
        (tmp_path / str(job)).mkdir()
        runfile.write_run(tmp_path / str(job) / "run.h5", {"attrs": {"status": status, "message": "", "iterations": 1}})
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    if code is None:
        SweepCallback().on_multirun_end(config)
    else:
        with pytest.raises(SystemExit) as exit:
            SweepCallback().on_multirun_end(config)
        assert exit.value.code == code
