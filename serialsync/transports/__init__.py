"""Byte pipes to a board's console, opened from a connection spec.

Imports errors and _time only; knows nothing of markers or groups.

A connection spec is what a job file's ``connection:`` (or the command line)
says. The forms, parsed strictly in the style of pyserial's ``from_url``
(unknown, repeated or malformed options are errors that quote SPEC_HELP):

``/dev/ttyUSB0[?OPTIONS]``
    A local serial device: any absolute path to a tty, e.g.
    ``/dev/serial/by-id/usb-FTDI_...``. Options:

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

``socket://HOST:PORT``
    A raw TCP console (ser2net ``tcp``/``raw``, ``qemu -serial tcp:...``),
    through pyserial's URL handler, with TCP_NODELAY set. No options.

``rfc2217://HOST:PORT[?OPTIONS]``
    An RFC 2217 console server (ser2net ``telnet(rfc2217)``), through
    pyserial. ``baud=115200`` is asked of the server; pyserial's own options
    pass through: ``ign_set_control`` (do not wait for SET_CONTROL answers:
    needed for ser2net serving a pty), ``poll_modem``, ``timeout=3`` (seconds
    for option negotiation). pyserial's ``logging=`` is refused: it calls
    logging.basicConfig() on the host program's root logger; configure the
    ``pySerial.rfc2217`` logger instead.

``cmd:COMMAND [ARGS...]`` (or ``command:...``)
    A console client run on a pty (``telnet 127.0.0.1 7001``,
    ``conmux-console board``, ``qemu-system-x86_64 ... -serial stdio``). The
    text is split like a POSIX shell would (shlex) but no shell runs it. The
    pty is raw, so bytes pass unchanged both ways. EOF when the command exits.

``simulated[:sh|dash|bash|busybox][?login=USER:PASSWORD]``
    A POSIX shell on this host with the DUT helpers on PATH (the default).

Booleans take ``1/0``, ``on/off``, ``yes/no``, ``true/false``; a flag alone
(``?rtscts``) means on. Options are joined by ``&``.
"""

from __future__ import annotations

import math
import re
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._time import Deadline, format_seconds
from ..errors import TransportError
from .base import ConsoleRefused, MemoryTransport, Transport
from .command import CommandTransport
from .simulated import SHELLS, SimulatedBoard

SPEC_HELP = (
    "/dev/DEVICE[?baud=115200&exclusive=1&reopen=30&rtscts=0&xonxoff=0&low_latency=1]"
    " | socket://HOST:PORT"
    " | rfc2217://HOST:PORT[?baud=115200&ign_set_control&poll_modem&timeout=3]"
    " | cmd:COMMAND [ARGS...] (or command:...)"
    " | simulated[:" + "|".join(SHELLS) + "][?login=USER:PASSWORD]"
)

DEFAULT_BAUD = 115200
DEFAULT_REOPEN = 30.0

#: the first pause before a refused console is tried again; it doubles up to RETRY_PAUSE_MOST
RETRY_PAUSE_FIRST = 0.05
RETRY_PAUSE_MOST = 1.0
#: while retrying, seconds a new TCP connection is watched for a console server that closes it at once
CLOSED_AT_ONCE_WITHIN = 0.2

KINDS = ("serial", "socket", "rfc2217", "cmd", "simulated")
_LOGIN_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")


@dataclass(frozen=True)
class ConnectionSpec:
    """A parsed connection spec.

    kind is one of KINDS; target is the device path, ``HOST:PORT``, the
    command text or the shell name; options holds typed option values with
    the defaults filled in (and ``argv`` for a command, ``host``/``port`` for
    the network forms).
    """

    spec: str
    kind: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)


def _bad(spec: str, why: str) -> ValueError:
    return ValueError(f"bad connection {spec!r}: {why}; expected one of: {SPEC_HELP}")


def _shown(value: str | None) -> str:
    return "nothing" if value is None else repr(value)


def _boolean(value: str | None) -> bool:
    if value is None:
        return True  # a flag alone means on, as pyserial's ign_set_control
    lowered = value.lower()
    if lowered in ("1", "on", "yes", "true"):
        return True
    if lowered in ("0", "off", "no", "false"):
        return False
    raise ValueError(f"expected 1/0, on/off, yes/no or true/false, not {value!r}")


def _baud(value: str | None) -> int:
    if value is None or not value.isdigit() or not 0 < int(value) <= 20_000_000:
        raise ValueError(f"expected a line speed in bits per second like 115200, not {_shown(value)}")
    return int(value)


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds < math.inf:
        raise ValueError(f"expected seconds >= 0 like 30 or 0.5, not {_shown(value)}")
    return seconds


def _positive_seconds(value: str | None) -> float:
    seconds = _seconds(value)
    if seconds == 0:
        raise ValueError("expected seconds > 0, not 0")
    return seconds


SERIAL_OPTIONS: dict[str, Callable[[str | None], Any]] = {
    "baud": _baud,
    "exclusive": _boolean,
    "reopen": _seconds,
    "rtscts": _boolean,
    "xonxoff": _boolean,
    "low_latency": _boolean,
}
RFC2217_OPTIONS: dict[str, Callable[[str | None], Any]] = {
    "baud": _baud,
    "ign_set_control": _boolean,
    "poll_modem": _boolean,
    "timeout": _positive_seconds,
}


def _options(spec: str, query: str, known: dict[str, Callable[[str | None], Any]]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if not query:
        return options
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if name not in known:
            allowed = ", ".join(known) if known else "none"
            raise _bad(spec, f"unknown option {name!r} (options here: {allowed})")
        if name in options:
            raise _bad(spec, f"option {name!r} given twice")
        try:
            options[name] = known[name](value if equals else None)
        except ValueError as e:
            raise _bad(spec, f"option {name!r}: {e}") from None
    return options


def _network(spec: str, scheme: str, known: dict[str, Callable[[str | None], Any]]) -> ConnectionSpec:
    parts = urlsplit(spec)
    try:
        port = parts.port
    except ValueError:
        raise _bad(spec, "the port must be a number 1-65535") from None
    host = parts.hostname
    if not host or port is None or port == 0:
        raise _bad(spec, f"{scheme}:// needs HOST:PORT")
    if parts.username is not None or parts.password is not None:
        raise _bad(spec, "user names and passwords are not supported")
    if parts.path or parts.fragment or any(c.isspace() for c in parts.netloc):
        raise _bad(spec, f"unexpected text after HOST:PORT ({parts.path or parts.fragment or parts.netloc!r})")
    options = _options(spec, parts.query, known)
    options.update(host=host, port=port)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ConnectionSpec(spec, scheme, target, options)


def parse_connection(spec: str) -> ConnectionSpec:
    """Parse and validate a connection spec; ValueError quoting SPEC_HELP when it is wrong.

    Only the text is checked: whether the device, host or command exists is
    open_transport's business, so a job file can be checked on any machine.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"connection must be a non-empty string, one of: {SPEC_HELP}")
    if "\0" in spec:
        raise _bad(spec, "a NUL byte")
    if spec.startswith("/"):
        path, _, query = spec.partition("?")
        if any(c.isspace() for c in path):
            raise _bad(spec, "white space in the device path")
        options = {
            "baud": DEFAULT_BAUD,
            "exclusive": True,
            "reopen": DEFAULT_REOPEN,
            "rtscts": False,
            "xonxoff": False,
            "low_latency": True,
        }
        options.update(_options(spec, query, SERIAL_OPTIONS))
        return ConnectionSpec(spec, "serial", path, options)
    scheme, colon, rest = spec.partition(":")
    if scheme == "socket" and rest.startswith("//"):
        return _network(spec, "socket", {})
    if scheme == "rfc2217" and rest.startswith("//"):
        connection = _network(spec, "rfc2217", RFC2217_OPTIONS)
        connection.options.setdefault("baud", DEFAULT_BAUD)
        return connection
    if scheme in ("cmd", "command") and colon:
        try:
            argv = shlex.split(rest)
        except ValueError as e:
            raise _bad(spec, f"cannot split the command ({e})") from None
        if not argv:
            raise _bad(spec, "an empty command")
        return ConnectionSpec(spec, "cmd", rest.strip(), {"argv": tuple(argv)})
    if scheme == "simulated":
        shell, _, query = rest.partition("?")
        shell = shell or "sh"
        if shell not in SHELLS:
            raise _bad(spec, f"unknown shell {shell!r}")
        options: dict[str, object] = {}
        if query:
            # ?login=USER:PASSWORD: the board asks for a login first, as a real one would
            user, colon, password = query.removeprefix("login=").partition(":")
            valid = query.startswith("login=") and colon and _LOGIN_RE.match(user) and _LOGIN_RE.match(password)
            if not valid:
                raise _bad(spec, "the only option is login=USER:PASSWORD (letters, digits, _ . -)")
            options["login"] = (user, password)
        return ConnectionSpec(spec, "simulated", shell, options)
    if not colon:
        raise _bad(spec, "unsupported connection (a serial device is an absolute path like /dev/ttyUSB0)")
    raise _bad(spec, f"unsupported connection type {scheme!r}")


def parse_spec(spec: str) -> tuple[str, str]:
    """(kind, target) of a connection spec, e.g. ("serial", "/dev/ttyUSB0"); ValueError quoting SPEC_HELP."""
    connection = parse_connection(spec)
    return connection.kind, connection.target


def open_transport(
    spec: str,
    *,
    workdir: Path,
    group_text: bytes | None = None,
    connect_timeout: float = 0.0,
    on_retry: Callable[[str], None] | None = None,
) -> Transport:
    """Open the console a spec names; TransportError naming the spec and why when that fails.

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
        connection = parse_connection(spec)
    except ValueError as e:
        raise TransportError(str(e)) from e
    if connect_timeout == 0:
        return _open(connection, workdir, group_text, settle=0.0)
    deadline = Deadline.after(connect_timeout)
    pause = RETRY_PAUSE_FIRST
    while True:
        try:
            return _open(connection, workdir, group_text, settle=CLOSED_AT_ONCE_WITHIN)
        except ConsoleRefused as e:
            if deadline.expired:
                raise e.after(connect_timeout) from e.__cause__
            if on_retry is not None:
                on_retry(f"{spec} {e.verb}; retrying for up to {format_seconds(deadline.remaining)}")
            threading.Event().wait(min(pause, deadline.remaining))
            pause = min(pause * 2, RETRY_PAUSE_MOST)


def _open(connection: ConnectionSpec, workdir: Path, group_text: bytes | None, *, settle: float) -> Transport:
    spec = connection.spec
    options = connection.options
    if connection.kind == "simulated":
        return SimulatedBoard(
            workdir=workdir, shell=connection.target, group_text=group_text, spec=spec, login=options.get("login")
        )
    if connection.kind == "cmd":
        return CommandTransport(options["argv"], spec=spec)
    try:
        # pyserial is imported only when a serial console is opened, so the
        # simulated boards and job-file checks work without it
        from .serial import Rfc2217Transport, SerialDeviceTransport, SocketTransport
    except ImportError as e:
        raise TransportError(f"{spec}: pyserial is needed for this connection: {e} (pip install pyserial)") from e
    if connection.kind == "serial":
        return SerialDeviceTransport(
            connection.target,
            spec=spec,
            baud=options["baud"],
            exclusive=options["exclusive"],
            reopen=options["reopen"],
            rtscts=options["rtscts"],
            xonxoff=options["xonxoff"],
            low_latency=options["low_latency"],
        )
    if connection.kind == "socket":
        return SocketTransport(options["host"], options["port"], spec=spec, settle=settle)
    if connection.kind == "rfc2217":
        return Rfc2217Transport(
            options["host"],
            options["port"],
            spec=spec,
            baud=options["baud"],
            ign_set_control=options.get("ign_set_control", False),
            poll_modem=options.get("poll_modem", False),
            negotiation_timeout=options.get("timeout"),
        )
    raise TransportError(f"unsupported connection {spec!r}")  # parse_connection admits only KINDS


__all__ = [
    "KINDS",
    "SPEC_HELP",
    "CommandTransport",
    "ConnectionSpec",
    "ConsoleRefused",
    "MemoryTransport",
    "SimulatedBoard",
    "Transport",
    "open_transport",
    "parse_connection",
    "parse_spec",
]
