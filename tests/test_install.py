"""A non-editable install (a built wheel) works from an empty directory: tasks and configs ship
inside the package."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from psychrnn_cli import load_run
from tests.conftest import FAST, REPO


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh venv holding our wheel; its dependencies come from this environment's site-packages
    (added as a plain path, so this environment's editable install of psychrnn_cli stays out)."""
    root = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(root / "dist"), str(REPO)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    wheel = next((root / "dist").glob("psychrnn_cli-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    return env_dir


def test_wheel_trains_from_empty_directory(wheel_venv, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    where = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", "import psychrnn_cli; print(psychrnn_cli.__file__)"],
                           capture_output=True, text=True, cwd=work)
    assert str(wheel_venv) in where.stdout, "the wheel, not the checkout, must be imported"
    out = subprocess.run([str(wheel_venv / "bin" / "psychrnn"), "train", "task=perceptual_discrimination", *FAST,
                          "train.iterations=20", "train.eval_every=10"], capture_output=True, text=True, cwd=work,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = list(work.glob("outputs/*/*/run.h5"))
    assert len(runs) == 1
    assert load_run(runs[0])["attrs"]["status"] == "completed"
