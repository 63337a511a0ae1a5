"""A child process on a pseudo-terminal, as a Transport (pexpect underneath).

Used for a spawned console command (``cmd:``, raw pty) and for a simulated
board (an interactive shell, a normal pty with echo and line editing).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import shutil
import threading
import tty
from collections.abc import Mapping, Sequence

import pexpect

from .._time import Deadline
from ..errors import TransportClosed, TransportError, TransportTimeout
from .base import Transport, timeout_text

# Held while a process is started, and while a file it may execute is being
# written: a child forked during the write would hold the file open for
# writing until it execs, and running that file then fails (ETXTBSY).
SPAWN_LOCK = threading.Lock()

log = logging.getLogger(__name__)

#: how long an exited command may take to be reaped after its pty reported EOF
REAP_TIMEOUT = 2.0


def _raw_stdin() -> None:
    """Runs in the child before exec: its terminal passes bytes through unchanged."""
    tty.setraw(0)


class PtyProcessTransport(Transport):
    """Runs argv on a pty; its terminal is the board's console (raw=True: bytes pass unchanged)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        spec: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        columns: int = 4000,
        raw: bool = False,
    ) -> None:
        self.spec = spec
        if not argv:
            raise TransportError(f"{spec}: no command given")
        self.argv = list(argv)
        search_path = (env or os.environ).get("PATH", os.defpath)
        program = shutil.which(argv[0], path=search_path)
        if program is None:
            raise TransportError(f"{spec}: cannot start {argv[0]!r}: command not found, or not executable")
        try:
            # a wide terminal: programs that forward the window size must not make the board wrap lines
            with SPAWN_LOCK:
                self._child = pexpect.spawn(
                    program,
                    list(argv[1:]),
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    dimensions=(50, columns),
                    preexec_fn=_raw_stdin if raw else None,
                )
        except (pexpect.ExceptionPexpect, OSError) as e:
            raise TransportError(f"{spec}: cannot start {argv[0]!r}: {e}") from e
        self._child.delaybeforesend = None
        self._wake_r, self._wake_w = os.pipe()
        self._poll = select.poll()
        self._poll.register(self._child.child_fd, select.POLLIN | select.POLLPRI)
        self._poll.register(self._wake_r, select.POLLIN)
        self._closed = False
        self._eof = False
        #: the command's exit status once it ended (None: running, or killed by a signal)
        self.exit_status: int | None = None
        #: the signal that ended it, if one did
        self.signal_status: int | None = None

    @property
    def pid(self) -> int:
        return self._child.pid

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._closed:
            raise TransportClosed(f"{self.spec}: closed")
        if self._eof:
            return b""
        fd = self._child.child_fd
        # The wake pipe ends the wait when another thread calls close(): no
        # waking up on a timer to look (256 idle boards would cost real CPU).
        # poll(), not select(): a big group has more than FD_SETSIZE descriptors.
        try:
            ready = [ready_fd for ready_fd, _ in self._poll.poll(None if timeout is None else timeout * 1000)]
        except (ValueError, OSError) as e:  # the pty was closed under us
            if self._closed:
                raise TransportClosed(f"{self.spec}: closed") from None
            raise TransportError(f"{self.spec}: read failed: {e}") from e
        if self._closed or self._wake_r in ready:
            raise TransportClosed(f"{self.spec}: closed")
        if not ready:
            raise TransportTimeout(f"{self.spec}: nothing read in {timeout_text(timeout)}")
        try:
            data = os.read(fd, max_bytes)
        except OSError as e:
            if e.errno != errno.EIO:  # Linux reports a pty whose other side is gone as EIO
                raise TransportError(f"{self.spec}: read failed: {e}") from e
            data = b""
        if not data:
            self._ended()
        return data

    def _ended(self) -> None:
        self._eof = True
        # the pty reports EOF as the command's last fd closes, a moment before it can be reaped
        reaped = Deadline.after(REAP_TIMEOUT)
        while self._child.isalive():
            if reaped.expired:
                log.info("%s: the command closed its terminal but runs on; the console is at EOF", self.spec)
                return
            threading.Event().wait(0.01)
        self.exit_status = self._child.exitstatus
        self.signal_status = self._child.signalstatus
        how = f"status {self.exit_status}" if self.signal_status is None else f"signal {self.signal_status}"
        log.info("%s: the command exited (%s); the console is at EOF", self.spec, how)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportClosed(f"{self.spec}: closed")
        if self._eof:
            raise TransportClosed(f"{self.spec}: the command has ended (status {self.exit_status})")
        view = memoryview(bytes(data))
        try:
            while view:
                view = view[os.write(self._child.child_fd, view) :]
        except (OSError, ValueError) as e:
            if self._closed:
                raise TransportClosed(f"{self.spec}: closed") from None
            raise TransportClosed(f"{self.spec}: write failed (has the command exited?): {e}") from e

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.write(self._wake_w, b"x")
            self._child.close(force=True)
            # the wake pipe stays open: a reader may still be in select() on it

    def __del__(self) -> None:
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                os.close(fd)
