"""``psychrnn tasks``: list the built-in tasks."""

from __future__ import annotations

from importlib import import_module

SUMMARY = "list the built-in tasks"


def main(argv: list[str]) -> int:
    from psychrnn_cli.tasks import BUILTIN_TASKS

    for name, path in BUILTIN_TASKS.items():
        module, _, cls = path.rpartition(".")
        doc = (getattr(import_module(module), cls).__doc__ or "").strip().splitlines()
        print(f"{name:28s} {doc[0] if doc else ''}")
    print("\nUse one with: psychrnn train task=NAME   (your own: task=custom task._target_=module.Class)")
    return 0
