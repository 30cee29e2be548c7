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
    """The training config that ``psychrnn train OVERRIDES`` would use, as an OmegaConf object."""
    from hydra import compose, initialize_config_module

    from psychrnn_cli.app import CONFIG_MODULE

    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def train(overrides: Sequence[str] = (), run_dir: str | Path | None = None) -> Path:
    """Train as ``psychrnn train OVERRIDES`` does and return the path of the run file.

    Args:
        overrides: Hydra overrides, e.g. ``["model.N_rec=100", "seed=2"]``.
        run_dir: where to write; by default ``outputs/<date>/<time>`` under the working directory.
    """
    import datetime as dt

    from psychrnn_cli.ensemble import train_runs

    if run_dir is None:
        run_dir = Path("outputs") / dt.datetime.now().strftime("%Y-%m-%d/%H-%M-%S")
    return train_runs(compose_config(overrides), run_dir)
