"""``psychrnn train [OVERRIDES]``: the Hydra application (see :mod:`psychrnn_cli.app`)."""

from __future__ import annotations

import sys

SUMMARY = "train a network; Hydra overrides such as task=delayed_discrimination seed=3; -m sweeps"


def main(argv: list[str]) -> int:
    from psychrnn_cli.app import train_app
    from psychrnn_cli.overrides import check_command_line
    from psychrnn_cli.schema import ConfigError

    try:
        check_command_line(argv)  # before Hydra makes a run directory
    except ConfigError as err:
        print(f"psychrnn train: error: {err}", file=sys.stderr)
        return 2
    sys.argv = ["psychrnn train", *argv]
    try:
        train_app()
    except KeyboardInterrupt:  # outside the training loop, which handles Ctrl-C itself
        print("psychrnn train: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    return 0
