"""MkDocs hook: the reference pages generated at build time, so nothing is written by hand twice.

- ``reference/cli.md``: ``psychrnn --help`` and every command's ``--help`` (``train``'s is Hydra's help,
  run in a subprocess);
- ``reference/configs.md``: the primary config and every option of every config group, from
  ``configs/`` with their comments;
- ``reference/run-file.md``: the run-file layout, from the module that writes it
  (:mod:`psychrnn_cli.runfile`: its layout docstring and its table of dataset units and axes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def _fence(text: str, language: str = "text") -> str:
    return f"```{language}\n{text.rstrip()}\n```\n"


def _help(args: list[str]) -> str:
    """What ``psychrnn ARGS`` prints (``--help`` output), run in a subprocess with this Python."""
    code = "import sys; from psychrnn_cli.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"psychrnn {' '.join(args)} failed: {out.stderr[-500:]}")
    return out.stdout


def cli_page() -> str:
    from psychrnn_cli.cli import commands

    parts = ["# Command-line reference\n",
             "Generated from the commands' own `--help` when the documentation is built.\n",
             "## psychrnn\n", _fence(_help(["--help"]))]
    for name in commands():
        parts += [f"## psychrnn {name}\n", _fence(_help([name, "--help"]))]
    return "\n".join(parts)


def configs_page() -> str:
    parts = ["# Config-group reference\n",
             "Generated from the YAML files in `configs/` when the documentation is built. Pick an option "
             "with `GROUP=OPTION` and change a value with `GROUP.KEY=VALUE` "
             "(see [Networks and constraints](../concepts/networks.md)).\n",
             "## The primary config: `configs/train.yaml`\n", _fence((CONFIGS / "train.yaml").read_text(), "yaml")]
    groups = sorted(p for p in CONFIGS.rglob("*") if p.is_dir() and any(p.glob("*.yaml")))
    for group in groups:
        name = group.relative_to(CONFIGS).as_posix()
        options = sorted(group.glob("*.yaml"))
        parts.append(f"## `{name}`\n")
        parts.append("Options: " + ", ".join(f"`{p.stem}`" for p in options) + ".\n")
        for option in options:
            parts += [f"### `{name}={option.stem}`\n", _fence(option.read_text(), "yaml")]
    return "\n".join(parts)


def run_file_page() -> str:
    from psychrnn_cli import runfile

    groups = "\n".join(f"| `{'/' if name == 'attrs' else '/' + name}` | {what} |"
                        for name, what in runfile.RUN_GROUPS.items())
    units = "\n".join(f"| `{name}` | {units} | {axes} |" for name, (units, axes) in runfile.UNITS.items())
    return "\n".join([
        "# Run-file schema\n",
        f"Schema version {runfile.SCHEMA_VERSION}. Generated when the documentation is built from "
        "`psychrnn_cli/runfile.py`, the module that writes and reads the run file (its tables `RUN_GROUPS` "
        "and `UNITS`; the writer refuses a group the layout does not list). "
        "[Run files](../concepts/run-files.md) explains each part; `h5dump -H run.h5` shows a file's layout.\n",
        "## Layout\n",
        "| group | what it holds |\n| --- | --- |\n" + groups + "\n",
        "## Units and axes of the arrays\n",
        "Arrays of these names carry the attributes `units` and `axes` (axes in order, outermost first).\n",
        "| dataset | units | axes |\n| --- | --- | --- |\n" + units + "\n",
        (runfile.__doc__ or "").split("\n\n")[-1].replace("``", "`") + "\n",
    ])


PAGES = {"reference/cli.md": cli_page, "reference/configs.md": configs_page, "reference/run-file.md": run_file_page}


def on_files(files: Files, config: Any) -> Files:
    for uri, make in PAGES.items():
        files.append(File.generated(config, uri, content=make()))
    return files
