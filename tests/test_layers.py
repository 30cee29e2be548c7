"""Import layering: TensorFlow only under psychrnn_cli/network/, model kinds import no array
library, post-training modules never reach the trainer, no import cycles, and importing the
network package changes no TensorFlow setting."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "psychrnn_cli"
TENSORFLOW = ("tensorflow", "keras")
TRAINER = ("psychrnn_cli.run", "psychrnn_cli.training", "psychrnn_cli.network", "psychrnn_cli.ensemble",
           "psychrnn_cli.app")
CONFIG = ("psychrnn_cli.build", "psychrnn_cli.app", "hydra", "omegaconf")
POST_TRAINING = ("simulator", "perturbations", "analysis", "interop", "plots", "sweep_summary", "runfile", "models",
                 "commands/evaluate", "commands/simulate", "commands/plot", "commands/analyse",
                 "commands/export", "commands/summarize")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, top_level_only: bool = False) -> set[str]:
    """Modules ``path`` imports: anywhere in the file (also inside functions), or only at its top level."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaches(names: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}


def python_files(*parts: str) -> list[Path]:
    return sorted(PACKAGE.joinpath(*parts).rglob("*.py"))


def test_only_the_network_package_imports_tensorflow():
    outside = {module_name(p): reaches(imported(p), TENSORFLOW) for p in python_files()
               if "network" not in p.relative_to(PACKAGE).parts}
    assert {m: found for m, found in outside.items() if found} == {}


def test_model_kinds_import_no_array_library_at_import_time():
    for path in python_files("models"):
        assert not reaches(imported(path), TENSORFLOW), path
        assert not reaches(imported(path, top_level_only=True), ("numpy",)), path


@pytest.mark.parametrize("name", POST_TRAINING)
def test_post_training_modules_never_import_the_trainer(name):
    paths = python_files(name) if PACKAGE.joinpath(name).is_dir() else [PACKAGE / f"{name}.py"]
    for path in paths:
        assert reaches(imported(path), TRAINER) == set(), path


@pytest.mark.parametrize("name", ["models", "simulator", "perturbations", "analysis", "interop"])
def test_the_model_and_simulator_layers_do_not_read_configs(name):
    paths = python_files(name) if PACKAGE.joinpath(name).is_dir() else [PACKAGE / f"{name}.py"]
    for path in paths:
        assert reaches(imported(path), CONFIG) == set(), path


def test_no_import_cycles():
    """Counting imports inside functions too (a deferred import is still a cycle between layers)."""
    paths = {module_name(p): p for p in python_files()}
    graph = {}
    for name, path in paths.items():
        targets = set()
        for imported_name in imported(path):
            while imported_name and imported_name not in paths:
                imported_name = imported_name.rpartition(".")[0]
            if imported_name not in ("", name, "psychrnn_cli"):  # (the package's own lazy API is no layer)
                targets.add(imported_name)
        graph[name] = targets

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    assert {(a, b) for a in graph for b in graph[a] if a in reachable(b)} == set()


def test_post_training_commands_and_build_run_without_tensorflow():
    """In a fresh interpreter: every module outside network/ imports, and `psychrnn train`'s config
    checks run, without loading TensorFlow."""
    modules = [module_name(p) for p in python_files() if "network" not in p.relative_to(PACKAGE).parts]
    code = (f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
            "from psychrnn_cli import compose_config\nfrom psychrnn_cli.build import ConfigError, build\n"
            "try:\n    build(compose_config(['model.N_rec=0']))\nexcept ConfigError:\n    pass\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
            "assert not loaded, loaded[:5]\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_importing_the_network_package_changes_no_tensorflow_setting(trained_run):
    code = ("import psychrnn_cli.network.step, tensorflow as tf\n"
            "assert tf.config.threading.get_intra_op_parallelism_threads() == 0\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PATH": "", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    from psychrnn_cli import load_run

    assert load_run(trained_run)["attrs"]["tf_intra_op_threads"] == 1  # set where training starts, and recorded


def test_a_job_failing_on_its_config_records_the_same_provenance_without_tensorflow(trained_run, tmp_path):
    from psychrnn_cli import load_run
    from tests.conftest import run_cli

    result = run_cli("train", "constraints.mask_file=/no/such.npy", f"hydra.run.dir={tmp_path}")  # found while building
    assert result.returncode == 2 and "constraints.mask_file" in result.stderr
    failed, trained = load_run(tmp_path)["attrs"], load_run(trained_run)["attrs"]
    assert failed["status"] == "failed" and "tensorflow_version" not in failed
    for key in ("psychrnn_cli_version", "numpy_version", "h5py_version", "python_version", "git_commit", "seed"):
        assert failed[key] == trained[key], key
