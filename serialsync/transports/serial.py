"""Serial consoles through pyserial: a local tty, ``socket://`` and ``rfc2217://``.

Ports are built with ``serial.serial_for_url(url, do_not_open=True)``, so
settings are checked before anything is opened and every open failure
becomes a TransportError naming the spec and why.

pyserial quirks worked around here:

* ``Serial.read(n)`` waits for n bytes or the timeout; a console wants
  whatever arrived. So the fd ports select() and read what is there.
* Ports are opened O_NONBLOCK, and pyserial's own ``write()`` retries a write
  that raised EAGAIN at once, without waiting (a busy loop while the board
  is slow). So the fd ports select() for writability and os.write() the rest.
* ``socket://`` leaves Nagle's algorithm on: with delayed ACKs that costs
  20-40 ms per exchange (qemu-board-notes, gotcha 8). We set TCP_NODELAY.
* ``rfc2217://`` renegotiates with the server whenever ``.timeout`` is
  assigned (about 150 ms each time; gotcha 11), and has no fileno (a reader
  thread fills a queue, one item per byte). Its timeout is set once, before
  open, and reads loop in slices of it.
* ``close()`` of socket:// and rfc2217:// sleeps 0.3 s ("for quick reconnects").

A local device that vanishes (a USB-serial adapter re-enumerating while its
board power cycles) is closed, logged, and reopened on the same path until
``reopen`` seconds pass; see SerialDeviceTransport.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import socket
import termios
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import serial  # pyserial (this module's own name does not shadow it: imports are absolute)

from .._time import Deadline, format_seconds
from ..errors import TransportClosed, TransportError, TransportTimeout
from .base import ConsoleRefused, Transport, timeout_text

log = logging.getLogger(__name__)

#: longest a blocked read or write goes without noticing close() or a vanished device path
SLICE = 0.2
#: the fixed pyserial timeout of an rfc2217 port: the granularity of its read timeouts
RFC2217_SLICE = 0.05
#: how often a vanished device is tried again
REOPEN_INTERVAL = 0.2


def _wait(deadline: Deadline, cap: float) -> float:
    """A finite wait for select()/Condition.wait(): the time left, at most cap."""
    return min(deadline.remaining, cap)


def _reason(e: OSError) -> str:
    """An OS error in words, with a hint for the usual causes."""
    return _hint(e.errno, str(e))


def _hint(code: int | None, message: str) -> str:
    hints = {
        errno.ENOENT: "no such device (not plugged in, or a wrong path?)",
        errno.EACCES: "permission denied (is this user in the device's group, e.g. dialout?)",
        errno.EPERM: "permission denied (is this user in the device's group, e.g. dialout?)",
        errno.EBUSY: "the device is in use: another program opened it exclusively",
        errno.EAGAIN: "the device is in use: another program holds its lock"
        " (close that program, or share the port with ?exclusive=0)",
    }
    hint = hints.get(code) if code is not None else None
    return f"{hint}: {message}" if hint else message


def _check_size(max_bytes: int) -> None:
    if max_bytes < 1:  # os.read(fd, 0) returns b"", which would look like a vanished device
        raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")


def _os_error_in(e: BaseException) -> OSError | None:
    """The OSError behind an exception (pyserial wraps a failed connect in a SerialException)."""
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None


_REFUSED_HINT = "is the console server running, and is no one else connected?"


def _refusal(e: BaseException, spec: str, network: bool) -> ConsoleRefused | None:
    """A failed open that may pass if tried again, as a ConsoleRefused; None for any other failure."""
    original = _os_error_in(e)
    code = original.errno if original is not None else getattr(e, "errno", None)
    if network and code == errno.ECONNREFUSED:
        return ConsoleRefused(spec, failure="connection refused", verb="refused the connection", hint=_REFUSED_HINT)
    if network and code in (errno.ECONNRESET, errno.EPIPE):
        return closed_at_once(spec)
    if not network and code == errno.ENOENT:
        return ConsoleRefused(
            spec,
            failure="no such device",
            verb="does not exist",
            hint="is it plugged in, and is the path right?",
            lead="cannot open",
        )
    return None


def closed_at_once(spec: str) -> ConsoleRefused:
    """A console server that closed a new connection at once, as ser2net does while someone else is connected.

    (What it said, ser2net's "Port already in use", is not quoted: pyserial's
    open discards whatever arrived before it returns.)
    """
    return ConsoleRefused(
        spec,
        failure="closed at once by the console server",
        verb="was closed at once by the console server",
        hint="is someone else connected to this console?",
    )


def _why(e: BaseException) -> str:
    """A failed open in words, once (pyserial repeats the port and the errno inside its text)."""
    if not isinstance(e, serial.SerialException):
        return _reason(e) if isinstance(e, OSError) else str(e)
    original = _os_error_in(e)
    if e.errno and e.strerror:
        code, message = e.errno, os.strerror(e.errno)
    elif original is not None:
        code, message = original.errno, original.strerror or str(original)
    else:
        code, message = None, str(e)
    if "waiting for option 'control'" in message:
        message += " (a ser2net serving a pty does not answer SET_CONTROL: add ?ign_set_control)"
    elif "Could not configure port" in message:
        message += " (not a serial device?)"
    return _hint(code, message)


def _open_pyserial(
    url: str, spec: str, what: str, settings: dict[str, Any], *, network: bool = False
) -> serial.SerialBase:
    """A configured, opened pyserial port.

    ConsoleRefused when the console is not taking connections now (refused,
    closed at once, no device file yet); TransportError naming spec and why
    for any other failure.
    """
    try:
        port = serial.serial_for_url(url, do_not_open=True)
        for name, value in settings.items():
            setattr(port, name, value)  # before open: no renegotiation, no reconfiguring
    except (serial.SerialException, ValueError) as e:
        raise TransportError(f"{spec}: invalid settings for {what}: {e}") from e
    try:
        port.open()
    except (serial.SerialException, OSError) as e:
        refused = _refusal(e, spec, network)
        if refused is not None:
            raise refused from e
        raise TransportError(f"{spec}: cannot open {what}: {_why(e)}") from e
    return port


class _FdTransport(Transport):
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
        _check_size(max_bytes)
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
                    self._changed.wait(_wait(deadline, SLICE))
                    continue
                fd, generation = self._port.fileno(), self._generation
            try:
                readable, _, _ = select.select([fd], [], [], _wait(deadline, SLICE))
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
        except (OSError, serial.SerialException) as e:
            log.debug("%s: closing the port failed: %s", self.spec, e)


class SerialDeviceTransport(_FdTransport):
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
    ) -> None:
        super().__init__(spec)
        self.path = path
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
        port = _open_pyserial(self.path, self.spec, f"serial device {self.path}", self._settings)
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
        self._gone_at = time.monotonic()
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
        deadline = Deadline.after(self.reopen)
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
                    gap = time.monotonic() - self._gone_at
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
            self._stop.wait(_wait(deadline, REOPEN_INTERVAL))
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


class SocketTransport(_FdTransport):
    """``socket://HOST:PORT``: a raw TCP console; EOF when the server closes the connection.

    With ``settle`` > 0 the new connection is watched that long: a console
    server that closes it at once (ser2net while someone else is connected,
    after "Port already in use") is a ConsoleRefused, so it can be tried again.
    """

    def __init__(self, host: str, port: int, *, spec: str, settle: float = 0.0) -> None:
        super().__init__(spec)
        self.host = host
        self.port = port
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._port = _open_pyserial(f"socket://{where}", spec, "the TCP console", {"timeout": 0}, network=True)
        try:
            _set_nodelay(self._port.fileno())
        except OSError as e:
            self._release(self._port)
            raise TransportError(f"{spec}: cannot set TCP_NODELAY on the connection: {e}") from e
        if settle > 0 and _closed_within(self._port.fileno(), settle):
            self._release(self._port)
            self._port = None
            raise closed_at_once(spec)

    def _lost_locked(self, generation: int, why: object) -> None:
        if generation != self._generation or self._eof or self._closed:
            return
        if isinstance(why, OSError):
            log.warning("%s: connection lost: %s", self.spec, why)
        else:
            log.info("%s: the server closed the connection", self.spec)
        self._eof = True  # keep the port: close() releases it
        self._changed.notify_all()


def _closed_within(fd: int, settle: float) -> bool:
    """Whether the peer closed the connection within settle seconds."""
    poller = select.poll()
    hangup = getattr(select, "POLLRDHUP", 0)  # Linux: the peer shut its side down
    poller.register(fd, hangup or select.POLLIN)
    if not poller.poll(settle * 1000):
        return False
    if hangup:
        return True
    sock = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)  # a dup; MSG_PEEK leaves any bytes
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except OSError:
        return True
    finally:
        sock.close()


def _set_nodelay(fd: int) -> None:
    # pyserial keeps its socket private; a dup of the fd shares the socket's options
    sock = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    finally:
        sock.close()


class Rfc2217Transport(Transport):
    """``rfc2217://HOST:PORT``: a console server speaking RFC 2217 (ser2net), through pyserial.

    pyserial's port has no fd: its reader thread queues each received byte.
    The port's timeout is RFC2217_SLICE, set once before open (assigning it
    later renegotiates with the server); a read returns what is queued, or
    waits slice by slice for the first byte until its own timeout.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        spec: str,
        baud: int = 115200,
        ign_set_control: bool = False,
        poll_modem: bool = False,
        negotiation_timeout: float | None = None,
    ) -> None:
        self.spec = spec
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        options = []
        if ign_set_control:
            options.append("ign_set_control")
        if poll_modem:
            options.append("poll_modem")
        if negotiation_timeout is not None:
            options.append(f"timeout={negotiation_timeout:g}")
        url = f"rfc2217://{where}" + ("?" + "&".join(options) if options else "")
        self._port = _open_pyserial(
            url, spec, "the RFC 2217 console", {"baudrate": baud, "timeout": RFC2217_SLICE}, network=True
        )
        self._closed = False
        self._eof = False

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        _check_size(max_bytes)
        deadline = Deadline.after(timeout)
        port = self._port
        while True:
            if self._closed:
                raise TransportClosed(f"{self.spec}: closed")
            if self._eof:
                return b""
            try:
                waiting = port.in_waiting
                if waiting:
                    data = port.read(min(waiting, max_bytes))
                elif deadline.expired:
                    raise TransportTimeout(f"{self.spec}: nothing read in {timeout_text(timeout)}")
                else:
                    data = port.read(1)  # returns at the first byte, or after RFC2217_SLICE
                    more = port.in_waiting if data else 0
                    if more and max_bytes > 1:
                        data += port.read(min(more, max_bytes - 1))
            except serial.SerialException as e:
                if self._closed:
                    raise TransportClosed(f"{self.spec}: closed") from None
                # the reader thread ended: the server closed the connection, or it broke
                log.info("%s: the connection ended: %s", self.spec, e)
                self._eof = True
                return b""
            if data:
                return data
            # b"": the slice passed, or the reader thread just queued its end marker (next turn tells)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportClosed(f"{self.spec}: closed")
        if self._eof:
            raise TransportClosed(f"{self.spec}: the connection has ended")
        try:
            self._port.write(bytes(data))  # blocking sendall; pyserial doubles IAC bytes
        except serial.SerialException as e:
            raise TransportClosed(f"{self.spec}: write failed: {e}") from e

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._port.close()
        except (OSError, serial.SerialException) as e:
            log.debug("%s: closing failed: %s", self.spec, e)


__all__ = ["Rfc2217Transport", "SerialDeviceTransport", "SocketTransport"]
