"""A board that prints garbage for a minute: random bytes and mutated markers of both dialects.

Memory stays flat (process RSS, after a warm-up), every marker that asked
for an answer got one, and the number of calls waiting stays capped.
"""

from __future__ import annotations

import logging
import random
import threading

import pytest

from serialsync._time import Deadline
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.protocol import wire
from serialsync.watcher import MAX_PENDING_CALLS, Watcher

pytestmark = pytest.mark.slow

WARM_UP = 20.0  # seconds: allocator arenas, the worker pool and the group's capped stores reach their size
WARM_UP_BYTES = 20_000_000  # and this much fed: a loaded machine feeds less in the same time (CI grew 1.08 MiB)
WARM_UP_MOST = 60.0  # seconds, whatever was fed by then
MEASURED = 50.0  # then most of a minute more


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def valid_markers(rng: random.Random) -> list[bytes]:
    token = f"{rng.randrange(16**8):08x}.{rng.randrange(1, 99999)}"
    head = f"{wire.SS_MAGIC.decode()} {token} SYNC r{rng.randrange(10**6)}".encode()
    name = bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_") for _ in range(rng.randint(1, 300)))
    return [
        b"<" + head + b" " + wire.checksum(head) + b">\r\n",
        b"<LAVA_MULTI_NODE> <LAVA_SYNC id-%d>\r\n" % rng.randrange(10**6),
        b"<LAVA_MULTI_NODE> <LAVA_SEND id-%d k%d=v>\r\n" % (rng.randrange(10**6), rng.randrange(10**6)),
        b"<LAVA_MULTI_NODE> <LAVA_" + name + b" x>\r\n",
        b"<SERIALSYNC1 " + bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000))),
    ]


def mutated(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(0, 4)):
        at = rng.randrange(len(out) + 1)
        choice = rng.randrange(3)
        if choice == 0 and out:
            del out[min(at, len(out) - 1)]
        elif choice == 1:
            out.insert(at, rng.randrange(256))
        elif out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
    return bytes(out)


@pytest.fixture
def quiet_logs():
    """The watcher logs every nack; pytest keeps every record it captures, which would be what grows."""
    logger = logging.getLogger("serialsync")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def test_a_minute_of_hostile_console_input_keeps_host_memory_flat(quiet_logs):
    rng = random.Random(20261206)
    coordinator = MemoryCoordinator([Member("dev", "board"), Member("peer", "board")])
    typed = [0]
    watcher = Watcher("dev", coordinator, lambda data: typed.__setitem__(0, typed[0] + len(data)), call_timeout=1.0)
    most_waiting = 0
    try:
        warm, warm_most = Deadline.after(WARM_UP), Deadline.after(WARM_UP_MOST)
        deadline: Deadline | None = None  # the end of the measured part, once it began
        start_rss = None
        fed = 0
        while deadline is None or not deadline.expired:
            if start_rss is None and warm.expired and (fed >= WARM_UP_BYTES or warm_most.expired):
                start_rss = rss_bytes()
                deadline = Deadline.after(MEASURED)
            pieces = [bytes(rng.randrange(256) for _ in range(rng.randint(0, 512)))]
            pieces += [mutated(rng, m) if rng.random() < 0.7 else m for m in valid_markers(rng)]
            rng.shuffle(pieces)
            data = b"".join(pieces)
            for at in range(0, len(data), 97):  # a console's reads
                watcher.feed(data[at : at + 97])
            fed += len(data)
            most_waiting = max(most_waiting, watcher.pending())
        end_rss = rss_bytes()
    finally:
        coordinator.close()
        watcher.close()
    assert start_rss is not None
    grown = end_rss - start_rss
    print(
        f"\nfed {fed / 1e6:.1f} MB in all; RSS {start_rss / 2**20:.1f} -> "
        f"{end_rss / 2**20:.1f} MiB; {sum(watcher.parser.stats.values())} markers dropped by "
        f"{len(watcher.parser.stats)} reasons; at most {most_waiting} calls waiting; {typed[0]} bytes typed"
    )
    assert most_waiting <= MAX_PENDING_CALLS
    assert len(watcher.parser.stats) < 40  # reasons, not one key per garbled name
    assert grown <= 1 << 20, f"RSS grew by {grown / 2**20:.2f} MiB over {MEASURED:.0f} s of hostile input"
    assert threading.active_count() < MAX_PENDING_CALLS + 40
