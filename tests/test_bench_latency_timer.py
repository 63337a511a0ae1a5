"""benchmarks' USB-adapter emulation: a few bytes wait for the latency timer, a full packet goes at once."""

from __future__ import annotations

import time

import pytest

from benchmarks.typing_rate import PACKET, LatencyTimer
from serialsync.errors import TransportTimeout
from serialsync.transports.base import MemoryTransport


def test_a_few_bytes_are_held_until_the_latency_timer_runs_out():
    wire = MemoryTransport()
    adapter = LatencyTimer(wire, latency=0.05)
    wire.feed(b"echo")
    started = time.monotonic()
    assert adapter.read(100, 5) == b"echo"
    assert time.monotonic() - started >= 0.05


def test_a_full_packet_is_handed_over_at_once():
    wire = MemoryTransport()
    adapter = LatencyTimer(wire, latency=10.0)  # a timer that would fail the test if it were waited for
    wire.feed(b"x" * PACKET)
    assert adapter.read(1000, 5) == b"x" * PACKET


def test_low_latency_mode_hands_each_byte_at_once():
    wire = MemoryTransport()
    adapter = LatencyTimer(wire, latency=0.0)
    wire.feed(b"a")
    assert adapter.read(100, 5) == b"a"


def test_a_read_times_out_when_the_wire_is_silent_and_eof_hands_over_what_is_held():
    wire = MemoryTransport()
    adapter = LatencyTimer(wire, latency=10.0)
    with pytest.raises(TransportTimeout):
        adapter.read(100, 0.02)
    wire.feed(b"tail")
    with pytest.raises(TransportTimeout):  # held: neither a packet nor the timer's end
        adapter.read(100, 0.02)
    wire.feed(b"")
    assert adapter.read(100, 5) == b"tail"
    adapter.write(b"typed")
    assert bytes(wire.tx) == b"typed"
