"""``psychrnn train``: the Hydra application over :func:`psychrnn_cli.run.run`."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

CONFIG_MODULE = "psychrnn_cli.configs"


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="train")
def train_app(cfg: DictConfig) -> None:
    """Train one network in Hydra's run directory. Config errors print one line and exit 2."""
    from psychrnn_cli.build import ConfigError
    from psychrnn_cli.run import run

    try:
        run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as err:
        print(f"psychrnn train: error: {err}", file=sys.stderr)
        sys.exit(2)
