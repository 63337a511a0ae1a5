"""A Transport at a UART's wire rate: any byte pipe, slowed to N baud both ways.

Real boards sit behind 115200-baud lines, where a marker or a reply takes
milliseconds to cross; this wrapper lets the host side be measured and tested
against that, over a simulated board or any other transport.

Each byte costs ``bits_per_byte`` bit times (10 for 8N1: start, 8 data, stop).
Reads: a byte becomes readable no sooner than the wire would have delivered
it, counted from when it was taken from the inner transport. Writes: bytes
reach the inner transport as the wire would deliver them, and write() returns
when the last one is through. Waiting is a timed Event wait, never a spin;
close() interrupts it. Times are integer nanoseconds on the run's clock
(_time.Clock), so a schedule never drifts and "N bytes take N * bits / baud
seconds" holds exactly.
"""

from __future__ import annotations

import threading
from collections import deque

from .._time import SYSTEM_CLOCK, Clock
from ..errors import TransportClosed, TransportTimeout
from .base import Transport, timeout_text

_NS = 1_000_000_000
_INNER_READ = 4096  # bytes taken from the inner transport at a time


class _Segment:
    """Bytes put on the wire back to back, starting at ``epoch_ns``."""

    __slots__ = ("data", "done", "epoch_ns")

    def __init__(self, epoch_ns: int, data: bytes) -> None:
        self.epoch_ns = epoch_ns
        self.data = data
        self.done = 0  # bytes already handed on


class BaudRateTransport(Transport):
    def __init__(
        self, inner: Transport, baud: int = 115200, *, bits_per_byte: int = 10, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        if baud <= 0 or bits_per_byte <= 0:
            raise ValueError(f"baud and bits_per_byte must be positive, not {baud!r} and {bits_per_byte!r}")
        self.inner = inner
        self.baud = baud
        self.bits_per_byte = bits_per_byte
        self.clock = clock
        self.spec = f"{inner.spec}@{baud}"
        self._closed = threading.Event()  # also what pacing waits on, so close() cuts a wait short
        self._rx_lock = threading.Lock()
        self._rx: deque[_Segment] = deque()
        self._rx_free_ns = 0  # when the receive wire finishes what it already carries
        self._rx_eof = False
        self._tx_lock = threading.Lock()
        self._tx_free_ns = 0

    # --- wire arithmetic ----------------------------------------------------------
    def wire_time(self, nbytes: int) -> float:
        """Seconds the wire needs for nbytes."""
        return nbytes * self.bits_per_byte / self.baud

    def _bytes_by(self, epoch_ns: int, now_ns: int) -> int:
        """Bytes of a segment started at epoch_ns that the wire has delivered by now_ns."""
        return max(0, (now_ns - epoch_ns) * self.baud // (self.bits_per_byte * _NS))

    def _time_of(self, epoch_ns: int, count: int) -> int:
        """When the count-th byte of a segment started at epoch_ns is through (rounded up)."""
        return epoch_ns - (-(count * self.bits_per_byte * _NS) // self.baud)

    def _now_ns(self) -> int:
        return round(self.clock.monotonic() * _NS)

    def _pause(self, until_ns: int) -> None:
        delay = (until_ns - self._now_ns()) / _NS
        if delay > 0 and self._closed.wait(delay):
            raise TransportClosed(f"{self.spec}: closed")

    # --- Transport --------------------------------------------------------------------
    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else self._now_ns() + int(timeout * _NS)
        with self._rx_lock:
            while True:
                if self._closed.is_set():
                    raise TransportClosed(f"{self.spec}: closed")
                self._take_inner(deadline, timeout)
                if not self._rx:
                    return b""  # the inner transport is at EOF and the wire is empty
                segment = self._rx[0]
                now = self._now_ns()
                ready = min(self._bytes_by(segment.epoch_ns, now), len(segment.data)) - segment.done
                if ready > 0:
                    ready = min(ready, max_bytes)
                    chunk = segment.data[segment.done : segment.done + ready]
                    segment.done += ready
                    if segment.done == len(segment.data):
                        self._rx.popleft()
                    return chunk
                due = self._time_of(segment.epoch_ns, segment.done + 1)
                if deadline is not None and due > deadline:
                    self._pause(deadline)
                    raise TransportTimeout(f"{self.spec}: nothing read in {timeout_text(timeout)}")
                self._pause(due)

    def _take_inner(self, deadline: int | None, timeout: float | None) -> None:
        """Move what the inner transport has onto the wire; block for it only when the wire is empty."""
        if self._rx_eof:
            return
        if self._rx:
            wait: float | None = 0.0  # a look, so new bytes are stamped close to when they came
        elif deadline is None:
            wait = None
        else:
            wait = max(0.0, (deadline - self._now_ns()) / _NS)
        try:
            data = self.inner.read(_INNER_READ, wait)
        except TransportTimeout:
            if self._rx:
                return
            raise TransportTimeout(f"{self.spec}: nothing read in {timeout_text(timeout)}") from None
        if not data:
            self._rx_eof = True
            return
        # A byte cannot start crossing before it was taken, nor before the wire is free.
        epoch = max(self._now_ns(), self._rx_free_ns)
        self._rx.append(_Segment(epoch, bytes(data)))
        self._rx_free_ns = self._time_of(epoch, len(data))

    def write(self, data: bytes) -> None:
        data = bytes(data)
        with self._tx_lock:
            epoch = max(self._now_ns(), self._tx_free_ns)
            self._tx_free_ns = self._time_of(epoch, len(data))
            sent = 0
            while sent < len(data):
                if self._closed.is_set():
                    raise TransportClosed(f"{self.spec}: closed")
                through = min(self._bytes_by(epoch, self._now_ns()), len(data))
                if through > sent:
                    self.inner.write(data[sent:through])
                    sent = through
                else:
                    self._pause(self._time_of(epoch, sent + 1))

    def close(self) -> None:
        self._closed.set()
        self.inner.close()
