"""Opening a pyserial port, and its failures in words (the serial device, socket and rfc2217 schemes).

Ports are built with ``serial.serial_for_url(url, do_not_open=True)``, so
settings are checked before anything is opened and every open failure
becomes a TransportError naming the spec and why; a console that is not
taking connections now but may soon is a ConsoleRefused, tried again by
open_transport.

pyserial is imported only when a port is opened, so parsing specs, job-file
checks and simulated boards work without it.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

from ..errors import TransportError
from .base import ConsoleRefused

if TYPE_CHECKING:
    import serial

_REFUSED_HINT = "is the console server running, and is no one else connected?"


def open_pyserial(
    url: str, spec: str, what: str, settings: dict[str, Any], *, network: bool = False
) -> serial.SerialBase:
    """A configured, opened pyserial port.

    ConsoleRefused when the console is not taking connections now (refused,
    closed at once, no device file yet); TransportError naming spec and why
    for any other failure.
    """
    try:
        import serial  # pyserial
    except ImportError as e:
        raise TransportError(f"{spec}: pyserial is needed for this connection: {e} (pip install pyserial)") from e
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
        raise TransportError(f"{spec}: cannot open {what}: {_why(e, serial.SerialException)}") from e
    return port


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


def _why(e: BaseException, serial_exception: type[Exception]) -> str:
    """A failed open in words, once (pyserial repeats the port and the errno inside its text)."""
    if not isinstance(e, serial_exception):
        return _hint(e.errno, str(e)) if isinstance(e, OSError) else str(e)
    original = _os_error_in(e)
    code_in_e = getattr(e, "errno", None)
    strerror = getattr(e, "strerror", None)
    if code_in_e and strerror:
        code, message = code_in_e, os.strerror(code_in_e)
    elif original is not None:
        code, message = original.errno, original.strerror or str(original)
    else:
        code, message = None, str(e)
    if "waiting for option 'control'" in message:
        message += " (a ser2net serving a pty does not answer SET_CONTROL: add ?ign_set_control)"
    elif "Could not configure port" in message:
        message += " (not a serial device?)"
    return _hint(code, message)


__all__ = ["closed_at_once", "open_pyserial"]
