"""socket:// against a TCP server on 127.0.0.1, rfc2217:// against ser2net serving a socat pty."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from transport_links import Ser2net, SocatPair, free_port, read_exactly

from serialsync.errors import TransportClosed, TransportError, TransportTimeout
from serialsync.transports import open_transport

pytest.importorskip("serial", reason="pyserial is not installed (pip install pyserial)")
# pyserial 3.5's rfc2217 reader thread uses Thread.setDaemon/setName
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:serial.rfc2217")


def test_socket_sets_tcp_nodelay(tcp_listener: socket.socket, tmp_path: Path) -> None:
    port = tcp_listener.getsockname()[1]
    with open_transport(f"socket://127.0.0.1:{port}", workdir=tmp_path) as transport:
        tcp_listener.accept()[0].close()
        probe = socket.fromfd(transport.fileno(), socket.AF_INET, socket.SOCK_STREAM)
        try:
            assert probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            probe.close()


def test_socket_eof_when_the_server_closes(tcp_listener: socket.socket, tmp_path: Path) -> None:
    port = tcp_listener.getsockname()[1]
    with open_transport(f"socket://127.0.0.1:{port}", workdir=tmp_path) as transport:
        connection, _ = tcp_listener.accept()
        connection.sendall(b"last words")
        connection.close()
        assert read_exactly(transport, 10, 10) == b"last words"
        assert transport.read(100, 10) == b""
        assert transport.read(100, 10) == b""  # EOF stays EOF
        with pytest.raises(TransportClosed):
            transport.write(b"anyone?")


def test_socket_refused_names_the_address(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(TransportError) as info:
        open_transport(f"socket://127.0.0.1:{port}", workdir=tmp_path)
    assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value)
    assert info.value.__cause__ is not None


def test_rfc2217_through_ser2net(socat_pair: SocatPair, ser2net: Ser2net, tmp_path: Path) -> None:
    peer = socat_pair.open_b()
    spec = f"rfc2217://127.0.0.1:{ser2net.port}?ign_set_control&baud=115200"
    with open_transport(spec, workdir=tmp_path) as transport:
        # reads must not renegotiate (assigning .timeout would: ~150 ms each): many short reads stay fast
        started = time.monotonic()
        for n in range(20):
            with pytest.raises(TransportTimeout):
                transport.read(10, 0)
            line = b"line %d\r\n" % n
            peer.send(line)
            assert read_exactly(transport, len(line), 10) == line
        assert time.monotonic() - started < 3
        telnet_bytes = b"\xff\xfe\xff\xff IAC (0xff) is doubled on the wire, undoubled by ser2net \xff"
        transport.write(telnet_bytes)
        assert peer.recv_exactly(len(telnet_bytes), 10) == telnet_bytes
        peer.send(telnet_bytes)
        assert read_exactly(transport, len(telnet_bytes), 10) == telnet_bytes
    peer.close()


def test_rfc2217_eof_when_ser2net_goes(socat_pair: SocatPair, ser2net: Ser2net, tmp_path: Path) -> None:
    with open_transport(f"rfc2217://127.0.0.1:{ser2net.port}?ign_set_control", workdir=tmp_path) as transport:
        ser2net.stop()
        deadline = time.monotonic() + 10
        while True:
            assert time.monotonic() < deadline, "no EOF"
            try:
                if transport.read(100, 1) == b"":
                    break
            except TransportTimeout:
                continue


def test_rfc2217_refused_names_the_address(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(TransportError) as info:
        open_transport(f"rfc2217://127.0.0.1:{port}?ign_set_control", workdir=tmp_path)
    assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value)
    assert info.value.__cause__ is not None


def test_rfc2217_without_ign_set_control_says_what_to_add(
    socat_pair: SocatPair, ser2net: Ser2net, tmp_path: Path
) -> None:
    # ser2net does not acknowledge SET_CONTROL for a pty (qemu-board-notes, gotcha 11)
    with pytest.raises(TransportError) as info:
        open_transport(f"rfc2217://127.0.0.1:{ser2net.port}?timeout=1", workdir=tmp_path)
    assert "ign_set_control" in str(info.value) and f"127.0.0.1:{ser2net.port}" in str(info.value)
