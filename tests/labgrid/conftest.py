"""Boards for labgrid's real drivers, without hardware: busybox shells behind real console resources.

* ``pty_board(name)``: ``socat PTY,link=... EXEC:'busybox sh -i',pty,...``:
  a serial port (a pty) with a busybox shell behind it, for a RawSerialPort.
* ``tcp_board(name)``: the same shell behind a socat TCP listener on
  127.0.0.1, for a NetworkSerialPort (protocol raw).
* ``write_env(text)``: a labgrid environment file in the test's directory.

Each board gets the helpers on PATH (``helpers=False``: none, they are typed
in), a prompt ``board$ ``, and no group file (its helpers ask the host).
Readiness is read from socat's own log and from the kernel's table of
listening sockets, never waited for with sleep; every socat is ended by its pid.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from serialsync._resources import helper_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transports"))
from transport_links import free_port, listening, need, wait_until

pytest.importorskip("labgrid", reason="labgrid is not installed: pip install -e '.[labgrid]'")

SOCAT_READY = b"starting data transfer loop"
PROMPT = "board$ "


@dataclass
class SocatBoard:
    name: str
    proc: subprocess.Popen
    workdir: Path
    port: Path | None = None  # the pty a RawSerialPort opens
    tcp: int | None = None  # the TCP port a NetworkSerialPort connects to

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _board_env(workdir: Path, helpers: bool) -> dict[str, str]:
    bindir = workdir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for source in helper_files() if helpers else []:
        shutil.copy(source, bindir / source.name)
        (bindir / source.name).chmod(0o755)
    path = ([str(bindir)] if helpers else []) + [os.environ.get("PATH", "/usr/bin:/bin")]
    return {
        "PATH": os.pathsep.join(path),
        "HOME": str(workdir),
        "PS1": PROMPT,
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "LAVA_MULTI_NODE_CACHE": str(workdir / "lava_multi_node_cache.txt"),
        # its own, as on a board of its own; not there yet: the helpers ask the host
        "SERIALSYNC_GROUP_FILE": str(workdir / "lava_multi_node_group.txt"),
    }


def _start(argv: list[str], env: dict[str, str], cwd: Path, ready: bytes | None) -> subprocess.Popen:
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if ready is None:
        return proc
    assert proc.stderr is not None
    log = b""
    deadline = time.monotonic() + 10
    while ready not in log:
        left = deadline - time.monotonic()
        assert left > 0, f"socat did not start: {log!r}"
        if select.select([proc.stderr], [], [], left)[0]:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"socat exited: {log!r}"
            log += chunk
    return proc


SHELL = "EXEC:busybox sh -i,pty,stderr,setsid,ctty,sane"


@pytest.fixture
def pty_board(tmp_path):
    socat = need("socat", "socat")
    need("busybox", "busybox")
    boards: list[SocatBoard] = []

    def start(name: str, *, helpers: bool = True) -> SocatBoard:
        workdir = tmp_path / name
        workdir.mkdir()
        link = workdir / "tty"
        argv = [socat, "-d", "-d", f"PTY,link={link},raw,echo=0", SHELL]
        proc = _start(argv, _board_env(workdir, helpers), workdir, SOCAT_READY)
        boards.append(SocatBoard(name, proc, workdir, port=link))
        return boards[-1]

    yield start
    for board in boards:
        board.stop()


@pytest.fixture
def tcp_board(tmp_path):
    socat = need("socat", "socat")
    need("busybox", "busybox")
    boards: list[SocatBoard] = []

    def start(name: str, *, helpers: bool = True) -> SocatBoard:
        workdir = tmp_path / name
        workdir.mkdir()
        port = free_port()
        argv = [socat, "-d", "-d", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr", SHELL]
        proc = _start(argv, _board_env(workdir, helpers), workdir, None)
        wait_until(lambda: listening(port) or proc.poll() is not None, 10, f"socat to listen on {port}")
        assert proc.poll() is None, "socat exited"
        boards.append(SocatBoard(name, proc, workdir, tcp=port))
        return boards[-1]

    yield start
    for board in boards:
        board.stop()


def shell_driver(login_prompt: str = "login: ") -> str:
    return f"ShellDriver: {{prompt: 'board\\$ ', login_prompt: '{login_prompt}', username: root}}"


@pytest.fixture
def write_env(tmp_path):
    def write(text: str) -> Path:
        path = tmp_path / "env.yaml"
        path.write_text(text)
        return path

    return write


def pytest_configure(config):
    # the qemu tier's marker (tests/qemu/conftest.py registers it too, when that directory is collected)
    config.addinivalue_line("markers", "qemu: boots an emulated board under qemu-system-x86_64 (CI installs qemu)")
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
