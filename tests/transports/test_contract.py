"""One test body, every console transport: the Transport contract (pyserial's PORT-style suite).

Each spec is opened for real against a far end the test controls: a socat
pty pair (a local serial device), a TCP server (socket://), ser2net serving
a pty (rfc2217://) and socat run as a command bridging to a TCP server (cmd:).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_links import FdPeer, Ser2net, SocatPair, SocketPeer, need, read_exactly

from serialsync.errors import TransportClosed, TransportTimeout
from serialsync.transports import Transport, open_transport

pytest.importorskip("serial", reason="pyserial is not installed (pip install pyserial)")
# pyserial 3.5's rfc2217 reader thread uses Thread.setDaemon/setName
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:serial.rfc2217")

EVERY_BYTE = bytes(range(256)) * 16  # 4 KiB, every byte value 16 times


def _open(kind: str, tmp_path: Path, cleanups: list) -> tuple[Transport, FdPeer]:
    if kind == "serial":
        pair = SocatPair(tmp_path)
        cleanups.append(pair.stop)
        transport = open_transport(str(pair.a), workdir=tmp_path)
        cleanups.append(transport.close)
        peer = pair.open_b()
        cleanups.append(peer.close)
        return transport, peer
    if kind == "rfc2217":
        pair = SocatPair(tmp_path)
        cleanups.append(pair.stop)
        server = Ser2net(pair.a, tmp_path)
        cleanups.append(server.stop)
        peer = pair.open_b()
        cleanups.append(peer.close)
        transport = open_transport(f"rfc2217://127.0.0.1:{server.port}?ign_set_control", workdir=tmp_path)
        cleanups.append(transport.close)
        return transport, peer
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    cleanups.append(listener.close)
    port = listener.getsockname()[1]
    if kind == "socket":
        spec = f"socket://127.0.0.1:{port}"
    else:  # a command that is itself a console client, as telnet would be
        spec = f"cmd:{need('socat', 'socat')} - TCP:127.0.0.1:{port}"
    transport = open_transport(spec, workdir=tmp_path)
    cleanups.append(transport.close)
    connection, _ = listener.accept()
    peer = SocketPeer(connection)
    cleanups.append(peer.close)
    return transport, peer


@pytest.fixture(params=["serial", "socket", "rfc2217", "cmd"])
def link(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Transport, FdPeer]]:
    cleanups: list = []
    try:
        yield _open(request.param, tmp_path, cleanups)
    finally:
        for cleanup in reversed(cleanups):
            cleanup()


def test_transport_contract(link: tuple[Transport, FdPeer]) -> None:
    transport, peer = link

    # bytes round trip both ways, every byte value
    transport.write(EVERY_BYTE)
    assert peer.recv_exactly(len(EVERY_BYTE), 10) == EVERY_BYTE
    peer.send(EVERY_BYTE)
    assert read_exactly(transport, len(EVERY_BYTE), 10) == EVERY_BYTE

    # read returns as soon as anything is there, without filling its buffer or waiting out its timeout
    peer.send(b"abc")
    started = time.monotonic()
    first = transport.read(4096, 20)
    assert time.monotonic() - started < 10
    assert first and b"abc".startswith(first)
    assert first + read_exactly(transport, 3 - len(first), 10) == b"abc"

    # nothing there: TransportTimeout after about the timeout, not b"" (that would mean EOF)
    started = time.monotonic()
    with pytest.raises(TransportTimeout):
        transport.read(100, 0.3)
    assert 0.29 <= time.monotonic() - started < 5

    # a zero timeout polls
    with pytest.raises(TransportTimeout):
        transport.read(100, 0)

    transport.close()
    with pytest.raises(TransportClosed):
        transport.read(100, 1)
    with pytest.raises(TransportClosed):
        transport.write(b"x")
    transport.close()  # twice is fine
