"""Benchmark 3: sync of 2 boards over an emulated 115200-baud UART, replies typed at once and echo-paced.

Each board's console goes through BaudRateTransport (10 bits a byte, both
ways). The floor is the wire time of the bytes a sync cannot do without: the
last board's request marker (board -> host) and its reply (host -> board),
counted from what actually crossed. Latency: from the moment that board
printed the marker (a tap below the emulated wire stamps it) to the moment
the last helper returned. The host sees a helper return only when the output
printed after it has crossed the wire too, so the wire time of those bytes
(everything printed after the echo of the reply, up to the round's output
line) is taken off the moment it was seen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from serialsync.transports import Transport
from serialsync.transports.baud import BaudRateTransport

from .boards import BoardGroup, EchoPacer, Pacer, with_status
from .context import Context
from .report import Row

BAUD = 115200
TARGET_RATIO = 1.5
ROUNDS = 40
QUICK_ROUNDS = 2
FIGURE = f"sync, 2 boards at {BAUD} baud"
ECHO_FIGURE = f"sync, 2 boards at {BAUD} baud, echo-paced"

_MARKER_RE = re.compile(rb"<SERIALSYNC1 \S+ SYNC [^>\r\n]*>\r?\n")
_REPLY_RE = re.compile(rb"#SERIALSYNC1 [^\n]*\n")


class Tap(Transport):
    """Between a board and its wire: keeps what crossed since reset(), with arrival times."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.rx: list[tuple[float, bytes]] = []
        self.tx = bytearray()

    def reset(self) -> None:
        self.rx = []
        self.tx = bytearray()

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        data = self.inner.read(max_bytes, timeout)
        self.rx.append((time.monotonic(), data))
        return data

    def write(self, data: bytes) -> None:
        self.tx += data
        self.inner.write(data)

    def close(self) -> None:
        self.inner.close()

    def printed_at(self, offset: int) -> float:
        """When the byte at offset of the received stream came out of the board."""
        end = 0
        for at, data in self.rx:
            end += len(data)
            if offset < end:
                return at
        raise IndexError(offset)

    def received(self) -> bytes:
        return b"".join(data for _, data in self.rx)


def run(ctx: Context) -> list[Row]:
    rounds = QUICK_ROUNDS if ctx.quick else ROUNDS
    rows = []
    for key, figure, pacer_for in (("uart.sync", FIGURE, None), ("uart.sync_echo", ECHO_FIGURE, EchoPacer)):
        ctx.progress(f"uart: {rounds} rounds at {BAUD} baud{', echo-paced' if pacer_for else ''}")
        try:
            wire, latency = measure(ctx, rounds, pacer_for, key)
        except Exception as e:
            rows.append(Row.failed(key, figure, e))
            continue
        target = f"<= {TARGET_RATIO}x wire time"
        row = Row.timed(key, figure, latency, wire, floor_label="wire time, marker + reply", target=target)
        row.met = row.ratio is not None and row.ratio <= TARGET_RATIO
        rows.append(row)
    return rows


def measure(
    ctx: Context, rounds: int, pacer_for: Callable[[], Pacer] | None = None, name: str = "uart"
) -> tuple[list[float], list[float]]:
    taps: dict[str, Tap] = {}
    lines: dict[str, BaudRateTransport] = {}

    def wrap(name: str, board: Transport) -> Transport:
        taps[name] = Tap(board)
        lines[name] = BaudRateTransport(taps[name], BAUD)
        return lines[name]

    floors: list[float] = []
    latencies: list[float] = []
    with BoardGroup(2, ctx.workdir / name, wrap=wrap, pacer_for=pacer_for) as group:
        for k in range(rounds + 1):  # round 0 warms up
            for tap in taps.values():
                tap.reset()
            command, pattern = with_status("lava-sync u", "R", k)
            seen = group.run_all(command, lambda i, pattern=pattern: pattern)
            printed, returned, wire = [], [], []
            for board, (_, seen_at, match) in zip(group.boards, seen, strict=True):
                if match.group(1) != b"0":
                    raise RuntimeError(f"lava-sync failed on {board.name} in round {k}")
                tap, line = taps[board.name], lines[board.name]
                rx = tap.received()
                marker = _MARKER_RE.search(rx)
                reply = _REPLY_RE.search(bytes(tap.tx))
                post = re.compile(rb"__R%d:0__" % k).search(rx, marker.end() if marker else 0)
                if marker is None or reply is None or post is None:
                    raise RuntimeError(f"round {k}: no marker, reply or output seen on {board.name}")
                typed = reply.group().rstrip(b"\n")
                echo = rx.find(typed + b"\r\n", marker.end())  # the tty echoes the newline as CR LF
                after = echo + len(typed) + 2 if echo >= 0 else post.start()
                printed.append(tap.printed_at(marker.start()))
                returned.append(seen_at - line.wire_time(post.end() - after))
                wire.append(line.wire_time(len(marker.group()) + len(reply.group())))
            last = max(range(len(printed)), key=printed.__getitem__)
            if k:
                floors.append(wire[last])
                latencies.append(max(returned) - printed[last])
    return floors, latencies
