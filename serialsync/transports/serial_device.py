"""A local serial device: ``/dev/ttyUSB0[?OPTIONS]``, through pyserial.

Any absolute path to a tty, e.g. ``/dev/serial/by-id/usb-FTDI_...``. Options:

- ``baud=115200``  line speed.
- ``exclusive=1``  lock the port (flock, plus TIOCEXCL for non-root
  openers): a second opener gets an error naming the device. ``0`` shares it.
- ``reopen=30``    seconds to keep trying to reopen the same path when
  the device vanishes (a USB adapter re-enumerating while its board power
  cycles). The gap is logged, since a marker may have been lost in it.
  ``0``: the console ends (EOF) when the device goes.
- ``rtscts=0``, ``xonxoff=0``  hardware / software flow control.
- ``low_latency=1``  ask the driver to hand over each byte at once (Linux
  ASYNC_LOW_LATENCY; a USB adapter otherwise holds small reads for its
  latency timer, 16 ms on FTDI). When the driver cannot, the run says so.

A device that vanishes is closed, logged, and reopened on the same path
until ``reopen`` seconds pass; see SerialDeviceTransport.
"""

from __future__ import annotations

import fcntl
import logging
import os
import termios
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._time import SYSTEM_CLOCK, Clock, Deadline, format_seconds
from ..errors import TransportClosed, TransportError
from .fd import SLICE, FdTransport, slice_of
from .options import DEFAULT_BAUD, OptionParser, baud, boolean, parse_options, seconds
from .port import open_pyserial
from .spec import ConnectionSpec, Scheme, SpecError

if TYPE_CHECKING:
    import serial

log = logging.getLogger(__name__)

#: how often a vanished device is tried again
REOPEN_INTERVAL = 0.2
DEFAULT_REOPEN = 30.0

OPTIONS: dict[str, OptionParser] = {
    "baud": baud,
    "exclusive": boolean,
    "reopen": seconds,
    "rtscts": boolean,
    "xonxoff": boolean,
    "low_latency": boolean,
}
DEFAULTS: dict[str, Any] = {
    "baud": DEFAULT_BAUD,
    "exclusive": True,
    "reopen": DEFAULT_REOPEN,
    "rtscts": False,
    "xonxoff": False,
    "low_latency": True,
}


def parse(spec: str) -> ConnectionSpec:
    path, _, query = spec.partition("?")
    if any(c.isspace() for c in path):
        raise SpecError("white space in the device path")
    return ConnectionSpec(spec, scheme="serial", target=path, options={**DEFAULTS, **parse_options(query, OPTIONS)})


def open_console(
    connection: ConnectionSpec, *, workdir: Path, files: Mapping[str, bytes], settle: float
) -> SerialDeviceTransport:
    options = connection.options
    return SerialDeviceTransport(
        connection.target,
        spec=connection.text,
        baud=options["baud"],
        exclusive=options["exclusive"],
        reopen=options["reopen"],
        rtscts=options["rtscts"],
        xonxoff=options["xonxoff"],
        low_latency=options["low_latency"],
    )


class SerialDeviceTransport(FdTransport):
    """A local serial device (a tty path), opened exclusively, reopened when it vanishes.

    When the device goes (read/write fail with EIO/ENODEV, a read returns
    nothing, or the path disappears), the port is closed and a WARNING is
    logged with the time: a marker may have been lost. The same path is then
    tried every REOPEN_INTERVAL s until ``reopen`` seconds pass. Meanwhile
    reads wait up to their timeout (TransportTimeout, never b"") and writes
    wait for the device; when it is back the gap's length is logged. If it
    does not come back, reads return b"" (EOF) and writes raise
    TransportClosed. ``reopen=0`` gives EOF as soon as the device goes.
    """

    def __init__(
        self,
        path: str,
        *,
        spec: str,
        baud: int = 115200,
        exclusive: bool = True,
        reopen: float = 30.0,
        rtscts: bool = False,
        xonxoff: bool = False,
        low_latency: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(spec)
        self.path = path
        self.clock = clock  # times the gaps and the reopen deadline
        self.reopen = reopen
        self.exclusive = exclusive
        self.low_latency = low_latency
        #: what the run should say about this port (low-latency mode refused, ...), once
        self.notes: list[str] = []
        #: called (on the reopening thread) once the device is back after a gap: what the
        #: board printed meanwhile is lost, so a watcher asks for it again (Watcher.console_reconnected)
        self.on_reconnect: Callable[[], None] | None = None
        self._settings: dict[str, Any] = {
            "baudrate": baud,
            "exclusive": exclusive,
            "rtscts": rtscts,
            "xonxoff": xonxoff,
            "timeout": 0,  # pyserial's read is not used; 0 keeps any stray call from blocking
        }
        self._stop = threading.Event()
        self._reopener: threading.Thread | None = None
        self._gone_at = 0.0
        self.gaps: list[float] = []  #: seconds the device was away, one entry per gap it came back from
        self._port = self._open()

    def _open(self) -> serial.SerialBase:
        port = open_pyserial(self.path, self.spec, f"serial device {self.path}", self._settings)
        if self.exclusive:
            # pyserial's exclusive is an advisory flock: only other flock users see it.
            # TIOCEXCL makes the kernel refuse other opens too (except root's).
            try:
                fcntl.ioctl(port.fileno(), termios.TIOCEXCL)
            except OSError as e:
                log.debug("%s: TIOCEXCL failed: %s", self.spec, e)
        if self.low_latency:
            self._ask_low_latency(port)
        return port

    def _ask_low_latency(self, port: serial.SerialBase) -> None:
        # Each echo-paced chunk and each reply's round trip waits for the adapter's
        # latency timer otherwise (16 ms on FTDI, per read).
        try:
            port.set_low_latency_mode(True)  # type: ignore[attr-defined]
        except (OSError, AttributeError, NotImplementedError, ValueError) as e:
            why = getattr(e, "strerror", None) or str(e) or "not supported"
            note = (
                f"low-latency mode not set on {self.path} ({why}): small reads may wait for the adapter's "
                "latency timer; see README, 'Serial adapters'"
            )
            if note not in self.notes:
                self.notes.append(note)
                log.info("%s: %s", self.spec, note)

    def _release(self, port: serial.SerialBase) -> None:
        if self.exclusive:
            # TIOCEXCL outlives our fd if another process (e.g. socat) keeps the tty open
            try:
                fcntl.ioctl(port.fileno(), termios.TIOCNXCL)
            except (OSError, ValueError, TypeError):
                pass  # the device is gone, or the port is already closed
        super()._release(port)

    def _idle_check(self, generation: int) -> None:
        # a vanished USB device normally wakes select(); this catches a path removed without that
        if not os.path.exists(self.path):
            with self._changed:
                self._lost_locked(generation, f"{self.path} disappeared")

    def _gone_error(self) -> TransportClosed:
        return TransportClosed(f"{self.spec}: the device is gone (not back within reopen={self.reopen:g}s)")

    def _lost_locked(self, generation: int, why: object) -> None:
        if generation != self._generation or self._closed or self._port is None:
            return  # another thread got there first
        port, self._port = self._port, None
        self._generation += 1
        self._release(port)
        self._gone_at = self.clock.monotonic()
        when = datetime.now().isoformat(sep=" ", timespec="milliseconds")
        if self.reopen > 0:
            log.warning(
                "%s: device gone, a marker may have been lost (at %s: %s); trying to reopen %s for up to %s",
                self.spec,
                when,
                why,
                self.path,
                format_seconds(self.reopen),
            )
            self._reopener = threading.Thread(target=self._reopen_loop, name=f"reopen {self.path}", daemon=True)
            self._reopener.start()
        else:
            log.warning(
                "%s: device gone, a marker may have been lost (at %s: %s); reopen=0, so the console ends here",
                self.spec,
                when,
                why,
            )
            self._eof = True
        self._changed.notify_all()

    def _reopen_loop(self) -> None:
        deadline = Deadline.after(self.reopen, self.clock)
        last: TransportError | None = None
        while not self._stop.is_set():
            try:
                port = self._open()
            except TransportError as e:
                last = e
            else:
                with self._changed:
                    if self._closed:
                        self._release(port)
                        return
                    self._port = port
                    gap = self.clock.monotonic() - self._gone_at
                    self.gaps.append(gap)
                    log.warning(
                        "%s: device back after a gap of %s; whatever the board printed in it was lost",
                        self.spec,
                        format_seconds(gap),
                    )
                    self._changed.notify_all()
                if self.on_reconnect is not None:
                    self.on_reconnect()
                return
            if deadline.expired:
                break
            self._stop.wait(slice_of(deadline, REOPEN_INTERVAL))
        with self._changed:
            if not self._closed:
                self._eof = True
                log.warning(
                    "%s: device not back within reopen=%gs, the console ends here (last error: %s)",
                    self.spec,
                    self.reopen,
                    last,
                )
            self._changed.notify_all()

    def close(self) -> None:
        self._stop.set()
        super().close()
        reopener = self._reopener
        if reopener is not None and reopener is not threading.current_thread():
            reopener.join(SLICE + 1)


SCHEME = Scheme(
    name="serial",
    prefixes=("/",),
    form="/dev/DEVICE[?baud=115200&exclusive=1&reopen=30&rtscts=0&xonxoff=0&low_latency=1]",
    parse=parse,
    open=open_console,
)

__all__ = ["DEFAULT_REOPEN", "SCHEME", "SerialDeviceTransport"]
