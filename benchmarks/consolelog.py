"""A large noisy console log, generated: kernel messages, test output, sparse markers.

Deterministic for a seed. Besides kernel-style lines it holds what makes
scanning hard: LAVA test-shell signals (``<LAVA_SIGNAL_...>``, which share the
``<LAVA_`` start with MultiNode markers), printk levels (``<6>``), stray
``<`` and ``>``, long lines, and markers of both dialects, half of them
placed across a 4 KiB read boundary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from serialsync.protocol import wire

READ_SIZE = 4096

_KERNEL = (
    b"usb 1-1: new high-speed USB device number %d using ehci-platform",
    b"EXT4-fs (mmcblk0p%d): mounted filesystem with ordered data mode. Quota mode: none.",
    b"random: crng init done, %d bits of entropy",
    b'audit: type=1400 audit(%d.123:45): apparmor="STATUS" operation="profile_load"',
    b"<6>[drm] Initialized panfrost 1.%d.0 20180908 for ff9a0000.gpu on minor 0",
    b"mmc0: new HS200 MMC card at address %04x",
    b"eth0: link up (1000Mbps/Full) - flow control rx/tx <%d>",
    b"systemd[1]: Started Journal Service (pid %d).",
)
_TEST = (
    b"+ ./run-test.sh --iteration %d",
    b"test_case_%d: PASS",
    b"<LAVA_SIGNAL_STARTTC case_%d>",
    b"<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=case_%d RESULT=pass>",
    b"<LAVA_SIGNAL_ENDTC case_%d>",
    b"iperf3: [  5]   0.00-1.00   sec   112 MBytes   %d Mbits/sec    0    411 KBytes",
    b"dd: 1048576 bytes (1.0 MB, 1.0 MiB) copied, 0.0%d s, 2.1 GB/s",
)


@dataclass(frozen=True)
class ConsoleLog:
    data: bytes
    markers: int  # markers of both dialects in data
    split: int  # of which crossing a READ_SIZE boundary


def marker(i: int) -> bytes:
    """Alternately a LAVA and a serialsync marker, SEND or SYNC, each parseable."""
    if i % 2 == 0:
        if i % 4 == 0:
            return b"<LAVA_MULTI_NODE> <LAVA_SEND lava-%d key=value%d>" % (i, i)
        return b"<LAVA_MULTI_NODE> <LAVA_SYNC lava-%d>" % i
    op = b"SEND scan-%d ip=10.0.0.%d" % (i, i % 250) if i % 4 == 1 else b"SYNC scan-%d" % i
    head = b"SERIALSYNC1 bench.%d " % i + op
    return b"<" + head + b" " + wire.checksum(head) + b">"


def noise_line(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.55:
        text = rng.choice(_KERNEL) % rng.randrange(1, 100000)
        return b"[%5d.%06d] " % (rng.randrange(100000), rng.randrange(1000000)) + text
    if roll < 0.95:
        return rng.choice(_TEST) % rng.randrange(1, 100000)
    # a long line of progress output (a tar -v, a hexdump)
    return b" ".join(b"%08x" % rng.getrandbits(32) for _ in range(rng.randrange(20, 200)))


def generate(size: int, *, markers: int, seed: int = 6) -> ConsoleLog:
    """About size bytes of console output holding exactly `markers` markers (0: noise only)."""
    rng = random.Random(seed)
    out = bytearray()
    every = size // (markers + 1) if markers else size + 1
    placed = split = 0
    while len(out) < size:
        if placed < markers and len(out) >= every * (placed + 1):
            m = marker(placed) + b"\r\n"
            if placed % 2 == 0:  # straddle the next read boundary, after a line of dots
                start = (len(out) // READ_SIZE + 1) * READ_SIZE - len(m) // 2
                if start - 2 < len(out):
                    start += READ_SIZE
                out += b"." * (start - 2 - len(out)) + b"\r\n"
                split += 1
            out += m
            placed += 1
            continue
        out += noise_line(rng) + b"\r\n"
    return ConsoleLog(bytes(out), placed, split)


def chunks(data: bytes, size: int = READ_SIZE):
    """data in reads of size bytes, as a console transport would hand them out."""
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])
