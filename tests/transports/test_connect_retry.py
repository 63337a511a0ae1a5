"""A console that refuses the connection is tried again for connect_timeout, then fails in one sentence.

Real far ends: a TCP listener on 127.0.0.1 that starts listening only once the
first attempt was refused, ser2net refusing a second user, a serial device
that appears late. Each is started from the on_retry callback: no sleeps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_links import SocatPair, SocketPeer, free_port, listening, need, read_exactly, wait_until

from serialsync.errors import TransportError
from serialsync.transports import open_transport

pytest.importorskip("serial", reason="pyserial is not installed (pip install pyserial)")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:serial.rfc2217")

REFUSED_HINT = "(is the console server running, and is no one else connected?)"


def test_connect_retry_reaches_a_console_that_starts_listening_late(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: the first attempt is refused
    spec = f"socket://127.0.0.1:{port}"
    said: list[str] = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.settimeout(10)

    def on_retry(sentence: str) -> None:
        said.append(sentence)
        if len(said) == 1:  # the console server comes up
            listener.bind(("127.0.0.1", port))
            listener.listen(1)

    try:
        with open_transport(spec, workdir=tmp_path, connect_timeout=10, on_retry=on_retry) as transport:
            connection, _ = listener.accept()
            peer = SocketPeer(connection)
            peer.send(b"login: ")
            assert read_exactly(transport, 7, 10) == b"login: "
            transport.write(b"root\n")
            assert peer.recv_exactly(5, 10) == b"root\n"
            peer.close()
    finally:
        listener.close()
    assert said == [f"{spec} refused the connection; retrying for up to 10 s"]


@pytest.mark.parametrize("scheme", ["socket", "rfc2217"])
def test_connect_retry_gives_up_in_one_sentence(tmp_path: Path, scheme: str) -> None:
    port = free_port()  # nothing ever listens there
    spec = f"{scheme}://127.0.0.1:{port}" + ("?ign_set_control" if scheme == "rfc2217" else "")
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        open_transport(spec, workdir=tmp_path, connect_timeout=0.5, on_retry=said.append)
    assert time.monotonic() - started < 5
    assert str(info.value) == f"cannot connect to {spec}: connection refused for 0.5 s {REFUSED_HINT}"
    assert info.value.__cause__ is not None
    assert len(said) >= 2 and all(s.startswith(f"{spec} refused the connection; retrying for up to ") for s in said)


def test_connect_without_timeout_is_one_attempt_and_one_sentence(tmp_path: Path) -> None:
    port = free_port()
    spec = f"socket://127.0.0.1:{port}"
    said: list[str] = []
    with pytest.raises(TransportError) as info:
        open_transport(spec, workdir=tmp_path, on_retry=said.append)
    assert str(info.value) == f"cannot connect to {spec}: connection refused {REFUSED_HINT}"
    assert said == []


class RawSer2net:
    """ser2net serving a device as a raw TCP console; a second user gets "Port already in use"."""

    def __init__(self, device: Path, directory: Path) -> None:
        program = need("ser2net", "ser2net")
        self.port = free_port()
        config = directory / "ser2net-raw.yaml"
        config.write_text(
            "%YAML 1.1\n---\n"
            "connection: &console\n"
            f"  accepter: tcp,127.0.0.1,{self.port}\n"
            f"  connector: serialdev,{os.path.realpath(device)},115200n81,local\n"
        )
        self.proc = subprocess.Popen(
            [program, "-n", "-d", "-u", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: listening(self.port) or self.proc.poll() is not None, 10, "ser2net to listen")
        assert self.proc.poll() is None, "ser2net exited"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def raw_ser2net(socat_pair: SocatPair, tmp_path: Path) -> Iterator[RawSer2net]:
    server = RawSer2net(socat_pair.a, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_connect_retry_waits_for_the_other_user_of_ser2net_to_leave(
    socat_pair: SocatPair, raw_ser2net: RawSer2net, tmp_path: Path
) -> None:
    spec = f"socket://127.0.0.1:{raw_ser2net.port}"
    first = open_transport(spec, workdir=tmp_path)
    said: list[str] = []

    def on_retry(sentence: str) -> None:
        said.append(sentence)
        first.close()  # the other user leaves

    try:
        with open_transport(spec, workdir=tmp_path, connect_timeout=10, on_retry=on_retry) as second:
            peer = socat_pair.open_b()
            second.write(b"ping")
            assert peer.recv_exactly(4, 10) == b"ping"
            peer.send(b"pong")
            assert read_exactly(second, 4, 10) == b"pong"
            peer.close()
    finally:
        first.close()
    assert said and said[0].startswith(f"{spec} was closed at once by the console server; retrying for up to ")


def test_connect_retry_gives_up_on_a_busy_ser2net_in_one_sentence(
    socat_pair: SocatPair, raw_ser2net: RawSer2net, tmp_path: Path
) -> None:
    spec = f"socket://127.0.0.1:{raw_ser2net.port}"
    with open_transport(spec, workdir=tmp_path):
        with pytest.raises(TransportError) as info:
            open_transport(spec, workdir=tmp_path, connect_timeout=0.5)
    assert str(info.value) == (
        f"cannot connect to {spec}: closed at once by the console server for 0.5 s"
        " (is someone else connected to this console?)"
    )


def test_connect_retry_opens_a_serial_device_that_appears_late(tmp_path: Path) -> None:
    pairs: list[SocatPair] = []

    def on_retry(sentence: str) -> None:
        if not pairs:  # the USB adapter is plugged in
            pairs.append(SocatPair(tmp_path))

    device = tmp_path / "a"  # SocatPair's device end, not there yet
    try:
        with open_transport(str(device), workdir=tmp_path, connect_timeout=10, on_retry=on_retry) as transport:
            peer = pairs[0].open_b()
            transport.write(b"hello")
            assert peer.recv_exactly(5, 10) == b"hello"
            peer.close()
    finally:
        for pair in pairs:
            pair.stop()


def test_connect_retry_gives_up_on_a_missing_serial_device_in_one_sentence(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB9"
    said: list[str] = []
    with pytest.raises(TransportError) as info:
        open_transport(str(device), workdir=tmp_path, connect_timeout=0.3, on_retry=said.append)
    assert str(info.value) == (
        f"cannot open {device}: no such device for 0.3 s (is it plugged in, and is the path right?)"
    )
    assert said[0] == f"{device} does not exist; retrying for up to 0.3 s"
