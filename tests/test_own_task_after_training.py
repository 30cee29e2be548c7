"""A run trained on a task from the user's own file works with every after-training command run
from that folder, as training did (README, "Write your own task")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FAST

TASK_FILE = '''
import numpy as np
from psychrnn_cli.task import Task


class Step(Task):
    """Output 0 follows the sign of the input after 100 ms."""

    def __init__(self, dt=10, tau=100, T=300, N_batch=50):
        super().__init__(1, 2, dt, tau, T, N_batch)

    def generate_trial_params(self, batch, trial):
        return {"sign": int(self.rng.choice([-1, 1]))}

    def trial_function(self, time, params):
        x, y, mask = np.full(1, float(params["sign"])), np.zeros(2), np.zeros(2)
        if time >= 100:
            y[0 if params["sign"] > 0 else 1] = 1.0
            mask[:] = 1.0
        return x, y, mask
'''


def psychrnn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed ``psychrnn`` command (not ``python -m``, which would put the folder on sys.path)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = Path(sys.executable).parent / "psychrnn"
    return subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_evaluate_plot_simulate_and_analyse_import_the_task_from_the_working_directory(tmp_path):
    (tmp_path / "step_task.py").write_text(TASK_FILE)
    trained = psychrnn("train", "task=custom", "task._target_=step_task.Step", "task.T=300", "model.N_rec=8",
                       "train.iterations=2", "train.stop_accuracy=null", *FAST, "hydra.run.dir=run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    for args in (["evaluate", "run", "--trials", "20", "--no-save"], ["plot", "run", "--trials", "20"],
                 ["simulate", "run", "--trials", "20", "--lesion", "0"],
                 ["analyse", "run", "--fixed-points", "--trials", "20", "--initial", "4", "--no-save"]):
        done = psychrnn(*args, cwd=tmp_path)
        assert done.returncode == 0, f"psychrnn {' '.join(args)}: {done.stderr}"
        assert "No module named" not in done.stderr
    assert (tmp_path / "run" / "plots" / "accuracy_per_condition.png").is_file()
    assert (tmp_path / "run" / "simulation.h5").is_file()
