"""A fault-injecting hop between the host and a board: a lossy, noisy UART.

Wraps any Transport. Each direction has its own rates for dropping,
changing, duplicating and inserting bytes, and reads can have kernel-style
lines sprayed into them at random points, as a board's printk would. One
seeded generator drives it, so a failing run can be repeated exactly.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .base import Transport

NOISE_LINES = (
    b"[%5d.%06d] usb 1-1: new high-speed USB device number 3 using ehci-pci\r\n",
    b"[%5d.%06d] random: crng init done\r\n",
    b"[%5d.%06d] EXT4-fs (mmcblk0p2): mounted filesystem with ordered data mode\r\n",
    b"[%5d.%06d] eth0: link up, 100Mbps, full-duplex, lpa 0x45E1\r\n",
)


@dataclass(frozen=True)
class Faults:
    """Per-byte probabilities for one direction (0 = never)."""

    drop: float = 0.0
    change: float = 0.0
    duplicate: float = 0.0
    insert: float = 0.0
    noise_line: float = 0.0  # per read: a kernel-style line spliced in at a random point

    def __post_init__(self) -> None:
        for name in ("drop", "change", "duplicate", "insert", "noise_line"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability, not {value!r}")

    @property
    def any(self) -> bool:
        return any((self.drop, self.change, self.duplicate, self.insert, self.noise_line))


class FaultyTransport(Transport):
    def __init__(self, inner: Transport, *, to_board: Faults = Faults(), from_board: Faults = Faults(), seed: int = 0):
        self.inner = inner
        self.spec = f"faulty({inner.spec})"
        self.to_board = to_board
        self.from_board = from_board
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # reads and writes come from different threads
        self.injected = {"drop": 0, "change": 0, "duplicate": 0, "insert": 0, "noise_line": 0}

    def _mangle(self, data: bytes, faults: Faults) -> bytes:
        if not faults.any:
            return data
        with self._lock:
            rng = self._rng
            out = bytearray()
            for byte in data:
                r = rng.random()
                if r < faults.drop:
                    self.injected["drop"] += 1
                    continue
                if r < faults.drop + faults.change:
                    self.injected["change"] += 1
                    # Printable stays printable: a control byte the tty acts on
                    # (^C, ^Z, ^D) is another kind of fault than a garbled one.
                    byte = rng.choice([b for b in range(0x21, 0x7F) if b != byte]) if 0x20 < byte < 0x7F else byte ^ 1
                out.append(byte)
                if rng.random() < faults.duplicate:
                    self.injected["duplicate"] += 1
                    out.append(byte)
                if rng.random() < faults.insert:
                    self.injected["insert"] += 1
                    out.append(rng.randrange(0x20, 0x7F))
            if faults.noise_line and rng.random() < faults.noise_line:
                self.injected["noise_line"] += 1
                at = rng.randrange(len(out) + 1)
                line = rng.choice(NOISE_LINES) % (rng.randrange(100000), rng.randrange(1000000))
                out[at:at] = line
            return bytes(out)

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        while True:
            data = self.inner.read(max_bytes, timeout)
            if not data:
                return data  # EOF stays EOF
            mangled = self._mangle(data, self.from_board)
            if mangled:  # all of it dropped: not EOF, read on
                return mangled

    def write(self, data: bytes) -> None:
        mangled = self._mangle(data, self.to_board)
        if mangled:
            self.inner.write(mangled)

    def close(self) -> None:
        self.inner.close()
