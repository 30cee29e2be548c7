"""``psychrnn info RUN_DIR``: a run file's summary and schema, for readers without ``h5dump``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

SUMMARY = "summarize a run file: status, overrides, accuracy, seed, versions, and its datasets"

EPILOG = """\
Prints the run's status and message, the command-line overrides it was trained with (from the run
directory's .hydra/overrides.yaml), iterations, test accuracy and loss, seed, creation time and
host, the versions and devices it ran with, then one line per dataset: path, shape, dtype, units
and axes. --config adds the full config. Exit status 2 for a missing or damaged run file.

example:
  psychrnn info outputs/2026-01-01/12-00-00
"""

VERSIONS = ("psychrnn_cli", "tensorflow", "numpy", "h5py", "hydra", "python")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="psychrnn info", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holding run.h5) or the run file itself")
    p.add_argument("--config", action="store_true", help="also print the run's full config (YAML)")
    return p


def overrides(run_file: Path) -> str:
    """The overrides in ``.hydra/overrides.yaml`` beside ``run_file``, space-separated ("none" for
    none), or a note when the run was not trained by ``psychrnn train``."""
    import yaml

    path = run_file.parent / ".hydra" / "overrides.yaml"
    try:
        items = yaml.safe_load(path.read_text()) or []
    except (OSError, yaml.YAMLError):
        return "not recorded (no readable .hydra/overrides.yaml: trained from Python?); see --config"
    return " ".join(str(item) for item in items) or "none (the defaults)"


def summary(run: dict[str, Any], run_file: Path) -> list[str]:
    """The summary lines of a loaded run (:func:`psychrnn_cli.runfile.load_run`)."""
    attrs = run.get("attrs", {})
    evaluation = run.get("evaluation", {}).get("attrs", {})
    status = str(attrs.get("status", "unknown"))
    if attrs.get("message"):
        status += f" ({attrs['message']})"
    iterations = f"{attrs.get('iterations', '?')}"
    if attrs.get("weights_from_iteration") not in (None, attrs.get("iterations")):
        iterations += f" (weights from iteration {attrs['weights_from_iteration']})"
    if "accuracy" in evaluation:
        accuracy = (f"{evaluation['accuracy']:.4f} on {evaluation.get('n_trials', '?')} fresh test trials "
                    f"(loss {evaluation.get('loss', float('nan')):.5g})")
    else:
        accuracy = "none (no test batch after training)"
    versions = ", ".join(f"{name} {attrs[f'{name}_version']}" for name in VERSIONS if f"{name}_version" in attrs)
    rows = [("run file", f"{run_file} (schema version {attrs.get('schema_version', '?')})"), ("status", status),
            ("overrides", overrides(run_file)), ("iterations", iterations), ("test accuracy", accuracy),
            ("seed", attrs.get("seed", "not recorded")),
            ("created", f"{attrs.get('created', '?')} on {attrs.get('host', '?')}"),
            ("versions", versions or "not recorded"), ("devices", attrs.get("devices", "not recorded"))]
    return [f"{name:<14}{value}" for name, value in rows]


def schema(run_file: Path) -> list[str]:
    """One line per dataset of ``run_file``: path, shape, dtype, units, axes."""
    import h5py

    lines: list[str] = []

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            dtype = "string" if h5py.check_string_dtype(item.dtype) else str(item.dtype)
            shape = "[" + ", ".join(str(n) for n in item.shape) + "]"
            units, axes = (item.attrs.get(key, "?") for key in ("units", "axes"))
            lines.append(f"  /{name:<44} {shape:<16} {dtype:<8} {units}" + (f"  [{axes}]" if axes else ""))

    with h5py.File(run_file, "r") as f:
        f.visititems(visit)
    return lines


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    import yaml

    from psychrnn_cli.runfile import RunFileError, load_run, resolve_run_path

    run_file = resolve_run_path(args.run_dir)
    try:
        run = load_run(run_file)
        lines = [*summary(run, run_file), "", "datasets (shape, dtype, units [axes]):", *schema(run_file)]
    except (RunFileError, OSError) as err:
        print(f"psychrnn info: error: {err}", file=sys.stderr)
        return 2
    if args.config:
        lines += ["", "config:", yaml.safe_dump(run.get("config", {}), sort_keys=False).rstrip()]
    print("\n".join(lines))
    return 0
