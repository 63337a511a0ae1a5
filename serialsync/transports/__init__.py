"""Byte pipes to a board's console, opened from a connection spec.

Imports errors and _time only; knows nothing of markers or groups.

A connection spec is what a job file's ``connection:`` (or the command line)
says. Each scheme is its own module, with its grammar, its options and its
opener, in the manner of pyserial's URL handlers; SCHEMES is the registry:

- ``/dev/ttyUSB0[?OPTIONS]``: a local serial device (serial_device.py)
- ``socket://HOST:PORT``: a raw TCP console (socket.py)
- ``rfc2217://HOST:PORT[?OPTIONS]``: an RFC 2217 console server (rfc2217.py)
- ``cmd:COMMAND [ARGS...]`` (or ``command:...``): a console client run on a pty (command.py)
- ``simulated[:SHELL][?login=USER:PASSWORD]``: a shell on this host with the DUT helpers (simulated.py)

Specs are parsed strictly, in the style of pyserial's ``from_url``: unknown,
repeated or malformed options are errors that quote SPEC_HELP. A spec is
parsed once into a ConnectionSpec, which is what a job's model holds and
what open_transport opens.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from .._time import Deadline, format_seconds
from ..errors import TransportError
from . import command, rfc2217, serial_device, simulated, socket
from .base import ConsoleRefused, MemoryTransport, Transport
from .command import CommandTransport
from .simulated import SimulatedBoard
from .spec import ConnectionSpec, Scheme, SpecError

#: the registry, in the order SPEC_HELP lists the forms
SCHEMES: tuple[Scheme, ...] = (serial_device.SCHEME, socket.SCHEME, rfc2217.SCHEME, command.SCHEME, simulated.SCHEME)
KINDS = tuple(scheme.name for scheme in SCHEMES)
SPEC_HELP = " | ".join(scheme.form for scheme in SCHEMES)

#: the first pause before a refused console is tried again; it doubles up to RETRY_PAUSE_MOST
RETRY_PAUSE_FIRST = 0.05
RETRY_PAUSE_MOST = 1.0
#: while retrying, seconds a new TCP connection is watched for a console server that closes it at once
CLOSED_AT_ONCE_WITHIN = 0.2


def _bad(spec: str, why: str) -> ValueError:
    return ValueError(f"bad connection {spec!r}: {why}; expected one of: {SPEC_HELP}")


def parse_connection(spec: str) -> ConnectionSpec:
    """Parse and validate a connection spec; ValueError quoting SPEC_HELP when it is wrong.

    Only the text is checked: whether the device, host or command exists is
    open_transport's business, so a job file can be checked on any machine.
    A ConnectionSpec is returned as it is: it was parsed already.
    """
    if isinstance(spec, ConnectionSpec):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"connection must be a non-empty string, one of: {SPEC_HELP}")
    text = str(spec)
    if "\0" in text:
        raise _bad(text, "a NUL byte")
    for scheme in SCHEMES:
        if scheme.claims(text):
            try:
                return scheme.parse(text)
            except SpecError as e:
                raise _bad(text, str(e)) from None
    name, colon, _ = text.partition(":")
    if not colon:
        raise _bad(text, "unsupported connection (a serial device is an absolute path like /dev/ttyUSB0)")
    raise _bad(text, f"unsupported connection type {name!r}")


def parse_spec(spec: str) -> tuple[str, str]:
    """(kind, target) of a connection spec, e.g. ("serial", "/dev/ttyUSB0"); ValueError quoting SPEC_HELP."""
    connection = parse_connection(spec)
    return connection.scheme, connection.target


def open_transport(
    connection: ConnectionSpec | str,
    *,
    workdir: Path,
    files: Mapping[str, bytes] | None = None,
    connect_timeout: float = 0.0,
    on_retry: Callable[[str], None] | None = None,
) -> Transport:
    """Open the console a connection spec names; TransportError naming the spec and why when that fails.

    ``workdir`` is the board's own directory on this host and ``files``
    (name -> bytes) what to place in it, for a board that has one here (a
    simulated board); other consoles ignore both.

    A console that is not taking a connection now but may soon (ConsoleRefused:
    the connection is refused, a console server closes it at once because
    someone else is connected, a serial device file does not exist yet) is
    tried again for up to ``connect_timeout`` seconds, with a short growing
    pause; ``on_retry`` is called before each retry with a sentence saying so,
    e.g. "socket://127.0.0.1:7001 refused the connection; retrying for up to
    30 s". When the time is up, ConsoleRefused says in one sentence what
    happened for how long and what to check. ``connect_timeout=0`` (the
    default): one attempt. Any other failure is raised at once.
    """
    if not 0 <= connect_timeout < math.inf:
        raise ValueError(f"connect_timeout must be a number of seconds >= 0, not {connect_timeout!r}")
    try:
        parsed = parse_connection(connection)
    except ValueError as e:
        raise TransportError(str(e)) from e
    scheme = next((s for s in SCHEMES if s.name == parsed.scheme), None)
    if scheme is None:  # a ConnectionSpec made by hand: parse_connection admits only SCHEMES
        raise TransportError(f"unsupported connection {parsed.text!r}")
    placed = dict(files or {})
    if connect_timeout == 0:
        return scheme.open(parsed, workdir=workdir, files=placed, settle=0.0)
    deadline = Deadline.after(connect_timeout)
    pause = RETRY_PAUSE_FIRST
    while True:
        try:
            return scheme.open(parsed, workdir=workdir, files=placed, settle=CLOSED_AT_ONCE_WITHIN)
        except ConsoleRefused as e:
            if deadline.expired:
                raise e.after(connect_timeout) from e.__cause__
            if on_retry is not None:
                on_retry(f"{parsed.text} {e.verb}; retrying for up to {format_seconds(deadline.remaining)}")
            threading.Event().wait(min(pause, deadline.remaining))
            pause = min(pause * 2, RETRY_PAUSE_MOST)


__all__ = [
    "KINDS",
    "SCHEMES",
    "SPEC_HELP",
    "CommandTransport",
    "ConnectionSpec",
    "ConsoleRefused",
    "MemoryTransport",
    "Scheme",
    "SimulatedBoard",
    "Transport",
    "open_transport",
    "parse_connection",
    "parse_spec",
]
