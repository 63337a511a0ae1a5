"""The far ends of the transport tests: socat pty pairs, TCP peers, ser2net.

A socat pty pair stands in for a USB-serial port: the transport opens one
end (``a``) as its device, the test plays the board on the other (``b``).
Killing socat makes the device vanish; a new socat with the same link paths
brings it back. ser2net serves such a pty over RFC 2217 on 127.0.0.1.

Nothing waits with sleep: socat's readiness is read from its own log line,
ser2net's from the kernel's table of listening sockets, data with select()
against a deadline. Every process here is started by the test and ended by
its pid. (A plain module, not conftest: the test modules import from it.)
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from serialsync.transports import Transport

SOCAT_READY = b"starting data transfer loop"


def need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (CI installs it: apt-get install -y {package})")
    return path


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition nobody can notify us of (a port starting to listen), up to timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        threading.Event().wait(0.01)


def read_exactly(transport: Transport, n: int, timeout: float) -> bytes:
    """n bytes from a transport, across as many reads as it takes, within timeout."""
    deadline = time.monotonic() + timeout
    got = bytearray()
    while len(got) < n:
        data = transport.read(n - len(got), max(0.0, deadline - time.monotonic()))
        assert data, f"EOF after {len(got)} of {n} bytes"
        got += data
    return bytes(got)


class FdPeer:
    """The board's end of a link: a pty (or any fd) read and written with select()."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], 10)
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                continue

    def recv_exactly(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        got = bytearray()
        while len(got) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"the peer got {len(got)} of {n} bytes in {timeout}s: {bytes(got[-40:])!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    data = os.read(self.fd, n - len(got))
                except BlockingIOError:
                    continue
                assert data, f"EOF at the peer after {len(got)} of {n} bytes"
                got += data
        return bytes(got)

    def close(self) -> None:
        os.close(self.fd)


class SocketPeer(FdPeer):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        super().__init__(sock.fileno())

    def close(self) -> None:
        self.sock.close()


class SocatPair:
    """``socat pty,link=a pty,link=b``: two ptys joined, a stand-in for a USB-serial port."""

    def __init__(self, directory: Path) -> None:
        self.socat = need("socat", "socat")
        self.a = directory / "a"
        self.b = directory / "b"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            [self.socat, "-d", "-d", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        log = b""
        deadline = time.monotonic() + 10
        while SOCAT_READY not in log:  # socat says so once both ptys and links exist
            left = deadline - time.monotonic()
            assert left > 0, f"socat did not start: {log!r}"
            if select.select([self.proc.stderr], [], [], left)[0]:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                assert chunk, f"socat exited: {log!r}"
                log += chunk

    def stop(self) -> None:
        """socat ends: the device vanishes (socat removes the links on SIGTERM)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            assert self.proc.stderr is not None
            self.proc.stderr.close()
            self.proc = None

    def open_b(self) -> FdPeer:
        return FdPeer(os.open(self.b, os.O_RDWR | os.O_NOCTTY))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, from /proc (no connection made)."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":  # 0A: TCP_LISTEN
            return True
    return False


class Ser2net:
    """ser2net 4 in the foreground, serving one device over RFC 2217 on 127.0.0.1."""

    def __init__(self, device: Path, directory: Path) -> None:
        program = need("ser2net", "ser2net")
        self.port = free_port()
        config = directory / "ser2net.yaml"
        # 'local': ignore modem lines (a pty has none); ser2net -u: no UUCP lock directory needed
        config.write_text(
            "%YAML 1.1\n---\n"
            "connection: &console\n"
            f"  accepter: telnet(rfc2217),tcp(nodelay),127.0.0.1,{self.port}\n"
            f"  connector: serialdev,{os.path.realpath(device)},115200n81,local\n"
            "  options:\n"
            "    kickolduser: true\n"
        )
        self.log = directory / "ser2net.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [program, "-n", "-d", "-u", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: listening(self.port) or self.proc.poll() is not None,
            10,
            f"ser2net to listen on 127.0.0.1:{self.port}",
        )
        assert self.proc.poll() is None, f"ser2net exited: {self.log.read_text()}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
