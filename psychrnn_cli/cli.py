"""The ``psychrnn`` command: sub-command dispatch. Importing this module does not import TensorFlow."""

from __future__ import annotations

import sys

from psychrnn_cli import __version__

USAGE = """\
usage: psychrnn COMMAND [ARGS]

Train recurrent neural networks on cognitive tasks (successor of PsychRNN).

commands:
  train [OVERRIDES]   train a network; Hydra overrides such as task=delayed_discrimination
                      model.N_rec=100 seed=3; -m sweeps (psychrnn train --help for all options)
  tasks               list the built-in tasks

options:
  -h, --help          show this message
  --version           show the version

Each run writes outputs/<date>/<time>/run.h5; read it with psychrnn_cli.load_run(path).
"""


def list_tasks() -> None:
    """Print each built-in task's config name and the first line of its docstring."""
    from importlib import import_module

    from psychrnn_cli.tasks import BUILTIN_TASKS

    for name, path in BUILTIN_TASKS.items():
        module, _, cls = path.rpartition(".")
        doc = (getattr(import_module(module), cls).__doc__ or "").strip().splitlines()
        print(f"{name:28s} {doc[0] if doc else ''}")
    print("\nUse one with: psychrnn train task=NAME   (your own: task=custom task._target_=module.Class)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command, rest = args[0], args[1:]
    if command == "--version":
        print(f"psychrnn-cli {__version__}")
        return 0
    if command == "tasks":
        list_tasks()
        return 0
    if command == "train":
        from psychrnn_cli.app import train_app

        sys.argv = ["psychrnn train", *rest]
        train_app()
        return 0
    print(f"psychrnn: unknown command {command!r}; choose one of: train, tasks (psychrnn --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
