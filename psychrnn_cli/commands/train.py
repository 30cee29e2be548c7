"""``psychrnn train [OVERRIDES]``: the Hydra application (see :mod:`psychrnn_cli.app`)."""

from __future__ import annotations

import signal
import sys

SUMMARY = "train a network; Hydra overrides such as task=delayed_discrimination seed=3; -m sweeps"


class Terminated(BaseException):
    """SIGTERM outside the training loop (which handles it itself): before training started."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str]) -> int:
    from psychrnn_cli.app import train_app
    from psychrnn_cli.overrides import check_command_line
    from psychrnn_cli.schema import ConfigError

    try:
        check_command_line(argv)  # before Hydra makes a run directory
    except ConfigError as err:
        print(f"psychrnn train: error: {err}", file=sys.stderr)
        return 2
    completion = any(arg in ("-sc", "--shell-completion") for arg in argv)
    sys.argv = ["psychrnn" if completion else "psychrnn train", *argv]  # (the completion script names the command)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        train_app()
    except KeyboardInterrupt:  # outside the training loop, which handles Ctrl-C itself
        print("psychrnn train: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except Terminated:
        print("psychrnn train: stopped by SIGTERM before training started; nothing was trained", file=sys.stderr)
        return 143
    return 0
