"""BaudRateTransport: bytes unchanged, and never faster than the wire (lower bounds only)."""

from __future__ import annotations

import threading
import time

import pytest

from serialsync.errors import TransportClosed, TransportTimeout
from serialsync.transports import MemoryTransport
from serialsync.transports.baud import BaudRateTransport

SECOND_AT_115200 = 11520  # bytes: 11520 * 10 bits = 115200 bits


def payload(n: int) -> bytes:
    return bytes(range(256)) * (n // 256) + bytes(range(n % 256))


def read_all(transport: BaudRateTransport, n: int, chunk: int = 4096) -> bytes:
    got = bytearray()
    while len(got) < n:
        data = transport.read(chunk, timeout=10)
        assert data, "unexpected EOF"
        got += data
    return bytes(got)


def test_baud_write_delivers_bytes_unchanged_and_takes_the_wire_time():
    inner = MemoryTransport()
    wire = BaudRateTransport(inner, 115200)
    data = payload(SECOND_AT_115200)
    started = time.monotonic()
    wire.write(data)
    assert time.monotonic() - started >= 1.0
    assert bytes(inner.tx) == data


def test_baud_read_delivers_bytes_unchanged_no_sooner_than_the_wire():
    inner = MemoryTransport()
    wire = BaudRateTransport(inner, 115200)
    data = payload(SECOND_AT_115200)
    inner.feed(data)
    started = time.monotonic()
    assert read_all(wire, len(data)) == data
    assert time.monotonic() - started >= 1.0


def test_baud_read_hands_out_bytes_as_they_cross_not_all_at_the_end():
    inner = MemoryTransport()
    wire = BaudRateTransport(inner, 9600)
    inner.feed(b"x" * 96)  # 0.1 s on the wire
    first = wire.read(4096, timeout=5)
    assert 1 <= len(first) < 96


def test_baud_read_respects_max_bytes_and_keeps_the_rest():
    inner = MemoryTransport()
    wire = BaudRateTransport(inner, 1_000_000)
    inner.feed(b"abcdefgh")
    assert read_all(wire, 8, chunk=3) == b"abcdefgh"


def test_baud_each_direction_has_its_own_wire():
    # A write in progress (100 s of output at 300 baud) does not hold up reads: full duplex.
    inner = MemoryTransport()
    wire = BaudRateTransport(inner, 300)

    def write() -> None:
        with pytest.raises(TransportClosed):
            wire.write(b"y" * 3000)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert inner.wait_written(lambda tx: len(tx) >= 1, timeout=10)
        inner.feed(b"ping")
        assert read_all(wire, 4) == b"ping"
        assert writer.is_alive()  # still writing: the read did not wait for the write
    finally:
        wire.close()
        writer.join()


def test_baud_timeout_eof_and_close():
    inner = MemoryTransport()
    wire = BaudRateTransport(inner, 115200)
    with pytest.raises(TransportTimeout):
        wire.read(10, timeout=0.01)
    inner.feed(b"last")
    inner.feed(b"")  # EOF after the bytes
    assert read_all(wire, 4) == b"last"
    assert wire.read(10, timeout=1) == b""
    wire.close()
    with pytest.raises(TransportClosed):
        wire.read(10, timeout=1)
    with pytest.raises(TransportClosed):
        wire.write(b"x")


def test_baud_close_interrupts_a_paced_write():
    inner = MemoryTransport()
    wire = BaudRateTransport(inner, 300)  # 100 s for this write
    failures: list[BaseException] = []

    def write() -> None:
        try:
            wire.write(b"z" * 3000)
        except TransportClosed as e:
            failures.append(e)

    writer = threading.Thread(target=write)
    writer.start()
    assert inner.wait_written(lambda tx: len(tx) >= 1, timeout=10)
    wire.close()
    writer.join(timeout=10)
    assert not writer.is_alive()
    assert failures and len(inner.tx) < 3000


def test_baud_rejects_a_nonsense_rate():
    with pytest.raises(ValueError):
        BaudRateTransport(MemoryTransport(), 0)
