"""The ``psychrnn`` command: sub-command dispatch. Importing this module does not import TensorFlow."""

from __future__ import annotations

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

Each training run writes outputs/<date>/<time>/run.h5; read it with psychrnn_cli.load_run(path).
"""


def commands() -> dict[str, ModuleType]:
    """Every module of :mod:`psychrnn_cli.commands` by command name (module name, ``_`` as ``-``)."""
    package = import_module("psychrnn_cli.commands")
    order = {"train": 0, "tasks": 1}
    names = sorted((m.name for m in pkgutil.iter_modules(package.__path__)), key=lambda n: (order.get(n, 2), n))
    return {name.replace("_", "-"): import_module(f"psychrnn_cli.commands.{name}") for name in names}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    available = commands()
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
