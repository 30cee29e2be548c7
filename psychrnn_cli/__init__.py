"""psychrnn-cli: train recurrent neural networks on cognitive tasks, the successor of PsychRNN.

Python API (no TensorFlow import until you train)::

    from psychrnn_cli import train, load_run
    path = train(["task=perceptual_discrimination", "seed=1"], run_dir="outputs/my_run")
    run = load_run(path)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

__version__ = "0.1.0"
__all__ = ["train", "compose_config", "load_run", "__version__"]


def __getattr__(name: str):
    """``load_run`` on first use, so that ``psychrnn --help`` does not import NumPy and h5py."""
    if name == "load_run":
        from psychrnn_cli.runfile import load_run

        return load_run
    raise AttributeError(f"module 'psychrnn_cli' has no attribute {name!r}")


def compose_config(overrides: Sequence[str] = ()):
    """The training config that ``psychrnn train OVERRIDES`` would use, as an OmegaConf object.

    Raises:
        psychrnn_cli.build.ConfigError: an override of a key that is not in the config.
    """
    from psychrnn_cli.overrides import compose

    return compose(overrides)


def train(overrides: Sequence[str] = (), run_dir: str | Path | None = None) -> Path:
    """Train as ``psychrnn train OVERRIDES`` does and return the path of the run file.

    In a SLURM job that SLURM requeues during training, marks the run file ``requeued`` and ends
    the process (``SystemExit``); the job's next run resumes from the checkpoint.

    Args:
        overrides: Hydra overrides, e.g. ``["model.N_rec=100", "seed=2"]``.
        run_dir: where to write; by default ``outputs/<date>/<time>`` under the working directory.
    """
    import datetime as dt

    from psychrnn_cli.ensemble import train_runs
    from psychrnn_cli.slurm import Requeue

    if run_dir is None:
        run_dir = Path("outputs") / dt.datetime.now().strftime("%Y-%m-%d/%H-%M-%S")
    try:
        return train_runs(compose_config(overrides), run_dir)
    except Requeue as requeue:  # in a SLURM job that is being requeued
        requeue.hand_over(Path(run_dir))
