"""A labgrid target on the emulated board: NetworkSerialPort to its UART, helpers typed in, ShellDriver on top."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from conftest import shell_driver
from labgrid import Environment

from serialsync.boards import values
from serialsync.labgrid import labgrid_group

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

BOARD_PY = Path(__file__).resolve().parents[2] / "boards" / "qemu" / "board.py"
MODULE_NAME = "serialsync_qemu_board"  # the name tests/qemu/conftest.py loads it under: loaded once


def _board_module():
    if MODULE_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(MODULE_NAME, BOARD_PY)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[MODULE_NAME]


@pytest.fixture
def qemu_target_board(tmp_path):
    module = _board_module()
    cache = Path(os.environ.get("SERIALSYNC_BOARD_CACHE", Path.home() / ".cache" / "serialsync" / "qemu-board"))
    cache = cache.expanduser()
    reason = module.qemu_available(cache)
    if reason:
        pytest.skip(reason)
    board = module.QemuBoard(module.ensure_built(cache), name="qemu1", workdir=tmp_path / "qemu1")
    try:
        yield board
    finally:
        board.close()


def test_labgrid_target_on_the_emulated_board(qemu_target_board, pty_board, write_env):
    port = qemu_target_board.spec.rsplit(":", 1)[1]
    peer = pty_board("peer1")
    env = Environment(
        config_file=str(
            write_env(
                f"""
imports: [serialsync.labgrid]
targets:
  qemu1:
    resources:
      NetworkSerialPort: {{host: 127.0.0.1, port: {port}, protocol: raw}}
    drivers:
      SerialDriver: {{}}
      SerialsyncDriver: {{role: server, install_helpers: true}}
      ShellDriver: {{prompt: 'board# ', login_prompt: 'login: ', username: root, login_timeout: 180}}
  peer1:
    resources:
      RawSerialPort: {{port: "{peer.port}", speed: 115200}}
    drivers:
      SerialDriver: {{}}
      SerialsyncDriver: {{role: client}}
      {shell_driver()}
"""
            )
        )
    )
    try:
        with labgrid_group(env, host=("host", "host"), boot_timeout=180) as group:
            shell = env.get_target("qemu1").get_driver("ShellDriver")
            waiting = group["peer1"].start("lava-wait kernel && lava-send got")
            out, _, status = shell.run('lava-send kernel "release=$(uname -r)" && lava-wait got', timeout=120)
            assert status == 0, out
            assert waiting.wait(120).ok
            release = values(group.host.wait("kernel", timeout=30), "release")["qemu1"]
            out, _, _ = env.get_target("peer1").get_driver("ShellDriver").run('cat "$LAVA_MULTI_NODE_CACHE"')
            assert out == [f"qemu1:release={release}"]
    finally:
        env.cleanup()
