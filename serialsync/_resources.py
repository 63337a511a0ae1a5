"""Where the board-side helpers are, installed or in a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

HELPER_NAMES = (
    "lava-send",
    "lava-sync",
    "lava-wait",
    "lava-wait-all",
    "lava-group",
    "lava-role",
    "lava-self",
    "lava-test-case",
    "lava-test-set",
    "lava-test-raise",
    "lava-test-reference",
)


def helpers_dir() -> Path:
    """The directory holding dut-scripts: the installed package data, else the checkout's."""
    installed = Path(str(resources.files("serialsync"))) / "dut_scripts"
    if (installed / "lava-sync").is_file():
        return installed
    checkout = Path(__file__).resolve().parent.parent / "dut-scripts"
    if (checkout / "lava-sync").is_file():
        return checkout
    raise FileNotFoundError(f"serialsync's board helpers are missing (looked in {installed} and {checkout})")


def helper_files() -> list[Path]:
    """Every file a board needs: the helpers and what they source or run."""
    return sorted(p for p in helpers_dir().iterdir() if p.is_file() and not p.name.startswith((".", "_")))
