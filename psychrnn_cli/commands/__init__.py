"""Sub-commands of ``psychrnn``: one module each, found by :func:`psychrnn_cli.cli.commands`.

A command module defines ``SUMMARY`` (one line for ``psychrnn --help``) and
``main(argv: list[str]) -> int``. It must import nothing heavy at module level (TensorFlow,
matplotlib): ``psychrnn --help`` imports every command module.

The argparse types below turn a bad number into argparse's one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse

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
