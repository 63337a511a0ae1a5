"""The Transport contract: a byte pipe to one board's console.

read() returns b"" if and only if the console is at EOF; it raises
TransportTimeout when nothing arrived in time and TransportClosed after
close(). Everything is bytes; nothing here knows about markers.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import deque

from ..errors import TransportClosed, TransportTimeout


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
                raise TransportTimeout(f"{self.spec}: nothing read in {timeout}s")
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
