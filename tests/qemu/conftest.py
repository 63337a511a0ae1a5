"""Fixtures for tests on emulated boards (boards/qemu/): qemu-system-x86_64
booting a Debian kernel and a busybox initramfs, console on its UART.

* ``board_dir`` (session): the built board, cached in $SERIALSYNC_BOARD_CACHE
  or ~/.cache/serialsync/qemu-board (about 63 MiB; built once, in seconds).
  Skips the test with the reason when qemu or the build tools are missing.
* ``qemu_board(name, **kwargs)``: starts a QemuBoard (kwargs as its
  constructor; workdir defaults to the test's tmp_path/NAME, so console
  transcripts outlive the test); all are closed at teardown.
* ``qemu_console(board, timeout=...)``: connects to a board's console and
  returns a pexpect fdspawn on the socket (bytes, delaybeforesend=None);
  closed at teardown.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pexpect.fdpexpect
import pytest

REPO = Path(__file__).resolve().parents[2]
BOARD_PY = REPO / "boards" / "qemu" / "board.py"
MODULE_NAME = "serialsync_qemu_board"


def _load_board_module():
    """boards/qemu/board.py is not part of the package: load it by path, once."""
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, BOARD_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


qemu_board_module = _load_board_module()


def pytest_configure(config):
    config.addinivalue_line("markers", "qemu: boots an emulated board under qemu-system-x86_64 (CI installs qemu)")


def board_cache_dir() -> Path:
    env = os.environ.get("SERIALSYNC_BOARD_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "serialsync" / "qemu-board"


@pytest.fixture(scope="session")
def board_dir() -> Path:
    cache = board_cache_dir()
    reason = qemu_board_module.qemu_available(cache)
    if reason:
        pytest.skip(reason)
    return qemu_board_module.ensure_built(cache)


@pytest.fixture
def qemu_board(board_dir, tmp_path):
    boards = []

    def start(name: str = "board", **kwargs):
        kwargs.setdefault("workdir", tmp_path / name)
        board = qemu_board_module.QemuBoard(board_dir, name=name, **kwargs)
        boards.append(board)
        return board

    yield start
    for board in boards:
        board.close()


@pytest.fixture
def qemu_console():
    consoles = []

    def connect(board, timeout: float = 120.0) -> pexpect.fdpexpect.fdspawn:
        sock = board.connect()
        child = pexpect.fdpexpect.fdspawn(sock.detach(), timeout=timeout)
        child.delaybeforesend = None
        consoles.append(child)
        return child

    yield connect
    for child in consoles:
        if child.isalive():
            child.close()
