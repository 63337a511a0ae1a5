"""A local serial device: a socat pty pair stands in for a USB-serial adapter."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from transport_links import SocatPair, read_exactly

from serialsync.errors import TransportClosed, TransportError, TransportTimeout
from serialsync.transports import open_transport

pytest.importorskip("serial", reason="pyserial is not installed (pip install pyserial)")


def test_serial_device_round_trip_at_a_baud_rate(socat_pair: SocatPair, tmp_path: Path) -> None:
    with open_transport(f"{socat_pair.a}?baud=9600&rtscts=0", workdir=tmp_path) as transport:
        peer = socat_pair.open_b()
        transport.write(b"hello board\n")
        assert peer.recv_exactly(12, 10) == b"hello board\n"
        peer.send(b"board# ")
        assert read_exactly(transport, 7, 10) == b"board# "
        peer.close()


def test_serial_device_write_waits_out_a_full_pty(socat_pair: SocatPair, tmp_path: Path) -> None:
    """pyserial opens the pty O_NONBLOCK: a big write meets EAGAIN many times and must not lose a byte."""
    payload = bytes(range(256)) * 1024  # 256 KiB, far beyond what the ptys and socat buffer
    with open_transport(str(socat_pair.a), workdir=tmp_path) as transport:
        peer = socat_pair.open_b()
        writer = threading.Thread(target=transport.write, args=(payload,))
        writer.start()
        assert peer.recv_exactly(len(payload), 30) == payload
        writer.join(10)
        assert not writer.is_alive()
        peer.close()


def test_serial_device_exclusive_refuses_a_second_opener(socat_pair: SocatPair, tmp_path: Path) -> None:
    with open_transport(str(socat_pair.a), workdir=tmp_path):
        with pytest.raises(TransportError) as info:
            open_transport(f"{socat_pair.a}?reopen=0", workdir=tmp_path)
        message = str(info.value)
        assert str(socat_pair.a) in message and "in use" in message, message
        assert info.value.__cause__ is not None
    # closed: the lock is gone with it
    open_transport(str(socat_pair.a), workdir=tmp_path).close()


def test_serial_device_shared_when_not_exclusive(socat_pair: SocatPair, tmp_path: Path) -> None:
    with open_transport(f"{socat_pair.a}?exclusive=0", workdir=tmp_path):
        open_transport(f"{socat_pair.a}?exclusive=0", workdir=tmp_path).close()


def test_serial_device_missing_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "ttyUSB9"
    with pytest.raises(TransportError) as info:
        open_transport(str(missing), workdir=tmp_path)
    message = str(info.value)
    assert str(missing) in message and "no such device" in message, message
    assert info.value.__cause__ is not None


def test_serial_device_that_is_not_a_tty_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-tty"
    plain.write_bytes(b"")
    with pytest.raises(TransportError) as info:
        open_transport(str(plain), workdir=tmp_path)
    assert str(plain) in str(info.value) and "not a serial device" in str(info.value)


def test_serial_device_vanishes_and_is_reopened(
    socat_pair: SocatPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="serialsync.transports")
    transport = open_transport(f"{socat_pair.a}?reopen=30", workdir=tmp_path)
    back = threading.Event()
    transport.on_reconnect = back.set  # a watcher asks the board for what the gap lost
    try:
        peer = socat_pair.open_b()
        transport.write(b"before")
        assert peer.recv_exactly(6, 10) == b"before"
        peer.close()

        socat_pair.stop()  # the adapter is unplugged
        # the gap: reads time out (b"" would tell the caller the console ended)
        with pytest.raises(TransportTimeout):
            transport.read(100, 0.5)
        assert "device gone, a marker may have been lost" in caplog.text

        socat_pair.start()  # ... and plugged in again: the same path, a new pty behind it
        peer = socat_pair.open_b()
        transport.write(b"ping")  # waits through the rest of the gap, then goes to the new device
        assert peer.recv_exactly(4, 10) == b"ping"
        peer.send(b"pong")
        assert read_exactly(transport, 4, 10) == b"pong"
        peer.close()

        assert len(transport.gaps) == 1 and 0 < transport.gaps[0] < 30
        assert "device back after a gap of" in caplog.text
        assert back.wait(10), "the reopen was not reported"
    finally:
        transport.close()


def test_serial_device_not_back_in_time_is_eof(
    socat_pair: SocatPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="serialsync.transports")
    with open_transport(f"{socat_pair.a}?reopen=0.5", workdir=tmp_path) as transport:
        socat_pair.stop()
        deadline = time.monotonic() + 15
        while True:  # timeouts while the transport still hopes, then EOF
            assert time.monotonic() < deadline, "no EOF"
            try:
                if transport.read(100, 1) == b"":
                    break
            except TransportTimeout:
                continue
        assert transport.read(100, 1) == b""  # EOF stays
        with pytest.raises(TransportClosed):
            transport.write(b"x")
        assert "not back within reopen=0.5s" in caplog.text


def test_serial_device_reopen_off_is_eof_at_once(socat_pair: SocatPair, tmp_path: Path) -> None:
    with open_transport(f"{socat_pair.a}?reopen=0", workdir=tmp_path) as transport:
        socat_pair.stop()
        assert transport.read(100, 10) == b""


def test_serial_device_close_wakes_a_blocked_reader(socat_pair: SocatPair, tmp_path: Path) -> None:
    transport = open_transport(str(socat_pair.a), workdir=tmp_path)
    outcome: list[BaseException] = []

    def reader() -> None:
        try:
            transport.read(100, None)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    transport.close()
    thread.join(5)
    assert not thread.is_alive() and isinstance(outcome[0], TransportClosed)


def test_serial_device_asks_for_low_latency_and_says_when_it_cannot(socat_pair: SocatPair, tmp_path: Path) -> None:
    """A pty has no latency timer to turn off: the port says so once, and ?low_latency=0 asks nothing."""
    with open_transport(str(socat_pair.a), workdir=tmp_path) as transport:
        (note,) = transport.notes
        assert f"low-latency mode not set on {socat_pair.a}" in note and "latency timer" in note
    with open_transport(f"{socat_pair.a}?low_latency=0", workdir=tmp_path) as transport:
        assert transport.notes == []
