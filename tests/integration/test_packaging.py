"""An installed serialsync (a wheel, not this checkout) finds its board helpers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def source_copy(tmp_path: Path) -> Path:
    """The checkout's sources, copied: building a wheel writes build/ and *.egg-info where it builds."""
    skip = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "serialsync-out", "__pycache__", ".*cache")
    return Path(shutil.copytree(ROOT, tmp_path / "src", ignore=skip))


def test_packaging_wheel_ships_the_helpers_and_the_demo(tmp_path):
    wheel_dir = tmp_path / "wheel"
    source = source_copy(tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheel_dir.glob("serialsync-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        cwd=tmp_path,
    )
    probe = (
        "import serialsync, serialsync._resources as r, importlib.resources as ir;"
        "print(serialsync.__file__); print(r.helpers_dir());"
        "print(len(ir.files('serialsync').joinpath('examples/demo.yaml').read_text()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    package, helpers, demo_size = Path(out[0]).parent, Path(out[1]), int(out[2])
    assert package.is_relative_to(target)
    assert helpers == package / "dut_scripts"
    for name in ("lava-send", "lava-sync", "lava-wait", "lava-wait-all", "lava-group", "lava-role", "lava-self"):
        assert (helpers / name).is_file()
    assert demo_size > 0
