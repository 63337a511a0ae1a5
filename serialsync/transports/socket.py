"""A raw TCP console: ``socket://HOST:PORT``, through pyserial's URL handler. No options.

What ser2net's ``tcp``/``raw`` ports and ``qemu -serial tcp:...`` serve. EOF
when the server closes the connection.

pyserial's ``socket://`` leaves Nagle's algorithm on: with delayed ACKs that
costs 20-40 ms per exchange (qemu-board-notes, gotcha 8), so TCP_NODELAY is
set. Its ``close()`` sleeps 0.3 s ("for quick reconnects").
"""

from __future__ import annotations

import logging
import select
import socket  # the standard library's: imports are absolute
from collections.abc import Mapping
from pathlib import Path

from ..errors import TransportError
from .fd import FdTransport
from .options import host_port, network_connection
from .port import closed_at_once, open_pyserial
from .spec import ConnectionSpec, Scheme

log = logging.getLogger(__name__)


def parse(spec: str) -> ConnectionSpec:
    return network_connection(spec, "socket", {})


def open_console(
    connection: ConnectionSpec, *, workdir: Path, files: Mapping[str, bytes], settle: float
) -> SocketTransport:
    options = connection.options
    return SocketTransport(options["host"], options["port"], spec=connection.text, settle=settle)


class SocketTransport(FdTransport):
    """``socket://HOST:PORT``: a raw TCP console; EOF when the server closes the connection.

    With ``settle`` > 0 the new connection is watched that long: a console
    server that closes it at once (ser2net while someone else is connected,
    after "Port already in use") is a ConsoleRefused, so it can be tried again.
    """

    def __init__(self, host: str, port: int, *, spec: str, settle: float = 0.0) -> None:
        super().__init__(spec)
        self.host = host
        self.port = port
        self._port = open_pyserial(
            f"socket://{host_port(host, port)}", spec, "the TCP console", {"timeout": 0}, network=True
        )
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


SCHEME = Scheme(name="socket", prefixes=("socket://",), form="socket://HOST:PORT", parse=parse, open=open_console)

__all__ = ["SCHEME", "SocketTransport"]
