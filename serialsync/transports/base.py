"""The Transport contract: a byte pipe to one board's console.

read() returns b"" if and only if the console is at EOF; it raises
TransportTimeout when nothing arrived in time and TransportClosed after
close(). Everything is bytes; nothing here knows about markers.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import deque

from .._time import format_seconds
from ..errors import TransportClosed, TransportError, TransportTimeout


class ConsoleRefused(TransportError):
    """A console not taking a connection now that may soon: open_transport tries again for its connect_timeout.

    The connection was refused (the console server is not up yet, a board's
    TCP console while it power-cycles), the server closed it at once (ser2net
    with a user already), or a serial device file does not exist (yet). The
    message is one sentence: the connection, what happened, what to check.
    """

    def __init__(self, spec: str, *, failure: str, verb: str, hint: str, lead: str = "cannot connect to") -> None:
        self.spec = spec
        self.failure = failure  # what happened, for the final sentence: "connection refused"
        self.verb = verb  # the same for a progress line about spec: "refused the connection"
        self.hint = hint  # what to check
        self.lead = lead
        self.waited = 0.0
        super().__init__(f"{lead} {spec}: {failure} ({hint})")

    def after(self, waited: float) -> ConsoleRefused:
        """The same failure, after waited seconds of trying again."""
        late = ConsoleRefused(self.spec, failure=self.failure, verb=self.verb, hint=self.hint, lead=self.lead)
        late.waited = waited
        late.args = (f"{self.lead} {self.spec}: {self.failure} for {format_seconds(waited)} ({self.hint})",)
        return late


class Transport(ABC):
    #: what the user wrote to get this transport; used in every error message
    spec: str = ""

    @abstractmethod
    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        """Up to max_bytes as soon as any arrive; b"" at EOF."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Write all of data (blocking until the OS took it)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r}>"


def timeout_text(timeout: float | None) -> str:
    """A read timeout in words, for "nothing read in ..."."""
    return "no time limit" if timeout is None else format_seconds(timeout)


def check_read_size(max_bytes: int) -> None:
    """ValueError unless max_bytes is at least 1: a read of 0 bytes returns b"", which means EOF."""
    if max_bytes < 1:  # os.read(fd, 0) returns b"", which would look like a vanished device
        raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")


class MemoryTransport(Transport):
    """An in-memory twin for tests: bytes put in rx are read; writes land in tx."""

    def __init__(self, spec: str = "memory") -> None:
        self.spec = spec
        self.tx = bytearray()
        self._rx: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._eof = False
        self._closed = False

    def feed(self, data: bytes) -> None:
        """Make data readable, as if the board printed it; b"" means EOF."""
        with self._cond:
            if data:
                self._rx.append(bytes(data))
            else:
                self._eof = True
            self._cond.notify_all()

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        with self._cond:
            if not self._cond.wait_for(lambda: self._rx or self._eof or self._closed, timeout):
                raise TransportTimeout(f"{self.spec}: nothing read in {timeout_text(timeout)}")
            if self._closed:
                raise TransportClosed(f"{self.spec}: closed")
            if not self._rx:
                return b""
            chunk = self._rx.popleft()
            if len(chunk) > max_bytes:
                self._rx.appendleft(chunk[max_bytes:])
                chunk = chunk[:max_bytes]
            return chunk

    def write(self, data: bytes) -> None:
        with self._cond:
            if self._closed:
                raise TransportClosed(f"{self.spec}: closed")
            self.tx += data
            self._cond.notify_all()

    def wait_written(self, predicate, timeout: float) -> bool:
        """Block until predicate(tx) holds; for tests that wait on replies."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(bytes(self.tx)), timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
