"""An RFC 2217 console server: ``rfc2217://HOST:PORT[?OPTIONS]``, through pyserial.

What ser2net's ``telnet(rfc2217)`` ports serve. ``baud=115200`` is asked of
the server; pyserial's own options pass through: ``ign_set_control`` (do not
wait for SET_CONTROL answers: needed for ser2net serving a pty),
``poll_modem``, ``timeout=3`` (seconds for option negotiation). pyserial's
``logging=`` is refused: it calls logging.basicConfig() on the host
program's root logger; configure the ``pySerial.rfc2217`` logger instead.

pyserial quirks worked around here: its port renegotiates with the server
whenever ``.timeout`` is assigned (about 150 ms each time; gotcha 11), and
has no fileno (a reader thread fills a queue, one item per byte). So its
timeout is set once, before open, and reads loop in slices of it. Its
``close()`` sleeps 0.3 s ("for quick reconnects").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from .._time import Deadline
from ..errors import TransportClosed, TransportTimeout
from .base import Transport, check_read_size, timeout_text
from .options import DEFAULT_BAUD, OptionParser, baud, boolean, host_port, network_connection, positive_seconds
from .port import open_pyserial
from .spec import ConnectionSpec, Scheme

log = logging.getLogger(__name__)

#: the fixed pyserial timeout of an rfc2217 port: the granularity of its read timeouts
RFC2217_SLICE = 0.05

OPTIONS: dict[str, OptionParser] = {
    "baud": baud,
    "ign_set_control": boolean,
    "poll_modem": boolean,
    "timeout": positive_seconds,
}


def parse(spec: str) -> ConnectionSpec:
    return network_connection(spec, "rfc2217", OPTIONS, defaults={"baud": DEFAULT_BAUD})


def open_console(
    connection: ConnectionSpec, *, workdir: Path, files: Mapping[str, bytes], settle: float
) -> Rfc2217Transport:
    options = connection.options
    return Rfc2217Transport(
        options["host"],
        options["port"],
        spec=connection.text,
        baud=options["baud"],
        ign_set_control=options.get("ign_set_control", False),
        poll_modem=options.get("poll_modem", False),
        negotiation_timeout=options.get("timeout"),
    )


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
        options = []
        if ign_set_control:
            options.append("ign_set_control")
        if poll_modem:
            options.append("poll_modem")
        if negotiation_timeout is not None:
            options.append(f"timeout={negotiation_timeout:g}")
        url = f"rfc2217://{host_port(host, port)}" + ("?" + "&".join(options) if options else "")
        self._port = open_pyserial(
            url, spec, "the RFC 2217 console", {"baudrate": baud, "timeout": RFC2217_SLICE}, network=True
        )
        # pyserial is importable now that a port opened; it is not imported when specs are parsed
        from serial import SerialException

        self._port_error: type[Exception] = SerialException
        self._closed = False
        self._eof = False

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        check_read_size(max_bytes)
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
            except self._port_error as e:
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
        except self._port_error as e:
            raise TransportClosed(f"{self.spec}: write failed: {e}") from e

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._port.close()
        except OSError as e:  # pyserial's SerialException is an OSError
            log.debug("%s: closing failed: %s", self.spec, e)


SCHEME = Scheme(
    name="rfc2217",
    prefixes=("rfc2217://",),
    form="rfc2217://HOST:PORT[?baud=115200&ign_set_control&poll_modem&timeout=3]",
    parse=parse,
    open=open_console,
)

__all__ = ["SCHEME", "Rfc2217Transport"]
