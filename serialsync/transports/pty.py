"""A child process on a pseudo-terminal, as a Transport (pexpect underneath)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pexpect

from ..errors import TransportClosed, TransportError, TransportTimeout
from .base import Transport


class PtyProcessTransport(Transport):
    """Runs argv on a pty; its terminal is the board's console."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        spec: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        columns: int = 4000,
    ) -> None:
        self.spec = spec
        try:
            # A wide terminal keeps long lines from being wrapped by line editors.
            self._child = pexpect.spawn(
                argv[0],
                list(argv[1:]),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                dimensions=(50, columns),
                echo=True,
            )
        except (pexpect.ExceptionPexpect, OSError) as e:
            raise TransportError(f"{spec}: cannot start {argv[0]!r}: {e}") from e
        self._child.delaybeforesend = None
        self._closed = False

    @property
    def pid(self) -> int:
        return self._child.pid

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._closed:
            raise TransportClosed(f"{self.spec}: closed")
        try:
            return self._child.read_nonblocking(max_bytes, timeout)
        except pexpect.TIMEOUT:
            raise TransportTimeout(f"{self.spec}: nothing read in {timeout}s") from None
        except pexpect.EOF:
            return b""

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportClosed(f"{self.spec}: closed")
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._child.child_fd, view)
                view = view[n:]
        except OSError as e:
            raise TransportClosed(f"{self.spec}: write failed: {e}") from e

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._child.close(force=True)
