"""Sub-commands of ``psychrnn``: one module each, found by :func:`psychrnn_cli.cli.commands`.

A command module defines ``SUMMARY`` (one line for ``psychrnn --help``) and
``main(argv: list[str]) -> int``. It must import nothing heavy at module level (TensorFlow,
matplotlib): ``psychrnn --help`` imports every command module.

The argparse types below turn a bad number into argparse's one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import math

OVERWRITE_HELP = "replace an existing output file that this command wrote before (never any other file)"


def count(text: str) -> int:
    """argparse type: a whole number of at least 1 (trials, searches, dots per inch)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0 (noise standard deviations)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def positive(text: str) -> float:
    """argparse type: a finite number > 0 (tolerances)."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be greater than 0, got 0")
    return value


def rng_seed(text: str) -> int:
    """argparse type: a seed of NumPy's generators, a whole number in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, 4294967295], got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be a whole number in [0, 4294967295], got {value}")
    return value


def finite_numbers(text: str) -> list[float]:
    """argparse type: comma-separated finite numbers (``1,1.3``)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1,1.3, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def task_override(text: str) -> str:
    """argparse type: a ``task.KEY=VALUE`` override whose value is valid YAML (checked by OmegaConf,
    which reads it later); the override itself is returned."""
    from omegaconf import OmegaConf

    try:
        OmegaConf.from_dotlist([text])
    except Exception as err:  # yaml's and OmegaConf's errors share no base class
        reason = " ".join(str(err).split())
        raise argparse.ArgumentTypeError(f"{text}: not KEY=VALUE with a YAML value, e.g. task.coherences=[0.1,0.2] "
                                         f"({reason[:120]})") from None
    return text
