"""The ``psychrnn`` command: sub-command dispatch. Importing this module does not import TensorFlow."""

from __future__ import annotations

import logging
import os
import pkgutil
import sys
from importlib import import_module
from types import ModuleType

from psychrnn_cli import __version__

USAGE = """\
usage: psychrnn COMMAND [ARGS]        (psychrnn COMMAND --help for a command's options)

Train recurrent neural networks on cognitive tasks (successor of PsychRNN).

commands:
{commands}
options:
  -h, --help          show this message
  --version           show the version
  -sc install=bash    print the shell completion script: eval "$(psychrnn -sc install=bash)"

Each training run writes outputs/<date>/<time>/run.h5; read it with psychrnn_cli.load_run(path).
"""


def commands() -> dict[str, ModuleType]:
    """Every module of :mod:`psychrnn_cli.commands` by command name (module name, ``_`` as ``-``)."""
    package = import_module("psychrnn_cli.commands")
    order = {"train": 0, "tasks": 1}
    names = sorted((m.name for m in pkgutil.iter_modules(package.__path__)), key=lambda n: (order.get(n, 2), n))
    return {name.replace("_", "-"): import_module(f"psychrnn_cli.commands.{name}") for name in names}


def shell_completion(args: list[str], available: dict[str, ModuleType]) -> int:
    """``psychrnn -sc install=bash`` (Hydra's shell completion, for ``psychrnn train``'s overrides)
    and the queries of the installed completion, ``psychrnn -sc query=bash`` with the line being
    completed in ``COMP_LINE``: command names for the first word; Hydra's answer for the words
    after ``psychrnn train``; nothing (the shell completes file names) after the other commands."""
    words = os.environ.get("COMP_LINE", "").split()
    completing_command = len(words) < 2 or (len(words) == 2 and not os.environ["COMP_LINE"].endswith(" "))
    if not any(arg.startswith("query=") for arg in args[1:]):  # install=SHELL, uninstall=SHELL
        return available["train"].main(args)
    if completing_command:
        print(" ".join(available))
    elif words[1] == "train":  # Hydra reads the line without the command name
        line = os.environ["COMP_LINE"]
        os.environ["COMP_LINE"] = line.replace(" train", "", 1)
        os.environ["COMP_POINT"] = str(max(0, int(os.environ.get("COMP_POINT", len(line))) - len(" train")))
        return available["train"].main(args)
    return 0


def quiet_start_up() -> None:
    """Silence TensorFlow's start-up notices (the absl one and the CPU-instructions one) and the
    plugin set-up lines of Optuna's database layer, before anything imports them: a Hydra sweeper
    plugin can import TensorFlow before psychrnn-cli's own import does (``TF_CPP_MIN_LOG_LEVEL`` is
    read once, at TensorFlow's import). A value the user set is kept."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    quiet_start_up()
    available = commands()
    if args and args[0] in ("-sc", "--shell-completion"):
        return shell_completion(args, available)
    if not args or args[0] in ("-h", "--help", "help"):
        listing = "".join(f"  {name:18s}  {module.SUMMARY}\n" for name, module in available.items())
        print(USAGE.format(commands=listing), end="")
        return 0
    if args[0] == "--version":
        print(f"psychrnn-cli {__version__}")
        return 0
    if args[0] not in available:
        print(f"psychrnn: unknown command {args[0]!r}; choose one of: {', '.join(available)} (psychrnn --help)",
              file=sys.stderr)
        return 2
    return available[args[0]].main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
