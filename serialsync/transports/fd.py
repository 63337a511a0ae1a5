"""Consoles that are a pyserial port with a file descriptor: read and written with select().

Shared by the local serial device and ``socket://`` schemes. pyserial quirks
worked around here:

* ``Serial.read(n)`` waits for n bytes or the timeout; a console wants
  whatever arrived. So the port's fd is select()ed and read for what is there.
* Ports are opened O_NONBLOCK, and pyserial's own ``write()`` retries a write
  that raised EAGAIN at once, without waiting (a busy loop while the board
  is slow). So the fd is select()ed for writability and os.write() the rest.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from typing import TYPE_CHECKING

from .._time import Deadline
from ..errors import TransportClosed, TransportTimeout
from .base import Transport, check_read_size, timeout_text

if TYPE_CHECKING:
    import serial

log = logging.getLogger(__name__)

#: longest a blocked read or write goes without noticing close() or a vanished device path
SLICE = 0.2


def slice_of(deadline: Deadline, cap: float) -> float:
    """A finite wait for select()/Condition.wait(): the time left, at most cap."""
    return min(deadline.remaining, cap)


class FdTransport(Transport):
    """A pyserial port with a file descriptor, read and written with select().

    Read and write may run on different threads, and close() on a third. The
    lock guards which port is current; os.read/os.write are done under it
    (they never block: the fd is non-blocking), so a port is never used after
    it was closed, even if its fd number was reused. Each port gets a new
    generation number, so a thread that selected on an old one starts over.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._changed = threading.Condition()
        self._port: serial.SerialBase | None = None
        self._generation = 0
        self._closed = False
        self._eof = False

    # hooks for subclasses -------------------------------------------------
    def _lost_locked(self, generation: int, why: object) -> None:
        """The current port failed (read error, no data, write error); called with the lock held."""
        raise NotImplementedError

    def _idle_check(self, generation: int) -> None:
        """Called when a select slice passed with nothing to do."""

    def _gone_error(self) -> TransportClosed:
        return TransportClosed(f"{self.spec}: the connection is closed")

    # the Transport contract ------------------------------------------------
    def fileno(self) -> int:
        """The current port's fd (for tests and select users); TransportClosed when there is none."""
        with self._changed:
            self._raise_if_closed()
            if self._port is None:
                raise self._gone_error()
            return self._port.fileno()

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        check_read_size(max_bytes)
        deadline = Deadline.after(timeout)
        while True:
            with self._changed:
                self._raise_if_closed()
                if self._eof:
                    return b""
                if self._port is None:  # a device gap: wait for it to come back, up to our timeout
                    if deadline.expired:
                        raise TransportTimeout(
                            f"{self.spec}: nothing read in {timeout_text(timeout)} (the device is gone)"
                        )
                    self._changed.wait(slice_of(deadline, SLICE))
                    continue
                fd, generation = self._port.fileno(), self._generation
            try:
                readable, _, _ = select.select([fd], [], [], slice_of(deadline, SLICE))
            except (OSError, ValueError):
                continue  # closed under us by another thread: the lock tells what happened
            if not readable:
                self._idle_check(generation)
                if deadline.expired:
                    raise TransportTimeout(f"{self.spec}: nothing read in {timeout_text(timeout)}")
                continue
            with self._changed:
                if generation != self._generation or self._closed:
                    continue
                try:
                    data = os.read(fd, max_bytes)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    self._lost_locked(generation, e)
                    continue
                if not data:
                    self._lost_locked(generation, "read returned no data (end of file, or the device disconnected)")
                    continue
                return data

    def write(self, data: bytes) -> None:
        view = memoryview(bytes(data))
        while view:
            with self._changed:
                self._raise_if_closed()
                if self._eof:
                    raise self._gone_error()
                if self._port is None:  # a device gap: writes wait for the device to come back
                    self._changed.wait(SLICE)
                    continue
                fd, generation = self._port.fileno(), self._generation
            try:
                _, writable, _ = select.select([], [fd], [], SLICE)
            except (OSError, ValueError):
                continue
            if not writable:
                self._idle_check(generation)
                continue
            with self._changed:
                if generation != self._generation or self._closed:
                    continue
                try:
                    written = os.write(fd, view)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    self._lost_locked(generation, e)
                    continue
            view = view[written:]

    def close(self) -> None:
        with self._changed:
            if self._closed:
                return
            self._closed = True
            port, self._port = self._port, None
            self._generation += 1
            self._changed.notify_all()
        if port is not None:
            self._release(port)

    # helpers -----------------------------------------------------------------
    def _raise_if_closed(self) -> None:
        if self._closed:
            raise TransportClosed(f"{self.spec}: closed")

    def _release(self, port: serial.SerialBase) -> None:
        try:
            port.close()
        except OSError as e:  # pyserial's SerialException is an OSError
            log.debug("%s: closing the port failed: %s", self.spec, e)


__all__ = ["SLICE", "FdTransport", "slice_of"]
