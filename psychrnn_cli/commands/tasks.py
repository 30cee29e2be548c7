"""``psychrnn tasks``: list the built-in tasks, and NeuroGym's supervised tasks when it is installed."""

from __future__ import annotations

import argparse
from importlib import import_module
from importlib.util import find_spec

SUMMARY = "list the built-in tasks (and NeuroGym's, when installed)"


def _first_doc_line(obj: object) -> str:
    lines = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return lines[0] if lines else ""


def parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="psychrnn tasks", description=SUMMARY)


def main(argv: list[str]) -> int:
    parser().parse_args(argv)
    from psychrnn_cli.tasks import BUILTIN_TASKS

    for name, path in BUILTIN_TASKS.items():
        module, _, cls = path.rpartition(".")
        print(f"{name:32s} {_first_doc_line(getattr(import_module(module), cls))}")
    print("\nUse one with: psychrnn train task=NAME   (your own: task=custom task._target_=module.Class)")
    print("Several in one network: psychrnn train task=multitask 'task.tasks=[NAME,NAME,...]'")

    if find_spec("neurogym") is None:
        print("\nNeuroGym tasks: not installed (pip install 'psychrnn-cli[neurogym]' adds about 20 more)")
        return 0
    from psychrnn_cli.tasks.neurogym_env import neurogym_env_summaries

    print("\nNeuroGym tasks (supervised):")
    for env_id, summary in neurogym_env_summaries().items():
        print(f"{env_id:42s} {summary}")
    print("\nUse one with: psychrnn train task=neurogym task.env=ID")
    return 0
