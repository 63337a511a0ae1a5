"""Benchmark: echo-paced typing over an emulated 115200-baud UART, and behind a USB adapter's latency timer.

A board (dash on a pty) reads a heredoc that the host types through a
session's watcher, whose keyboard paces by the board's echo: the path every
step and reply takes. Figure: from the first line queued to the board's
answer printed after the heredoc. Floor: the wire time of those bytes (what
was typed, and the answer), measured on the same emulated wire, so the
ratio is elapsed / wire time and the rate is its inverse.

Rows:

* ``typing.echo``: the UART alone;
* ``typing.latency``: behind an FTDI-like adapter whose receive side holds
  bytes until its 16 ms latency timer runs out or a USB packet (62 bytes)
  is full: each echo the pacer waits for comes up to 16 ms late. No target:
  a line is proven by its echo, then its line end's, so each line waits for
  the timer twice whatever the host does; the row shows what low-latency
  mode saves;
* ``typing.lowlatency``: the same adapter in low-latency mode (each byte
  handed over at once), what ``low_latency=1`` asks of a serial port.
"""

from __future__ import annotations

import time

from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.errors import TransportTimeout
from serialsync.transports import SimulatedBoard, Transport
from serialsync.transports.baud import BaudRateTransport
from serialsync.transports.simulated import PROMPT
from serialsync.watcher import Watcher

from .boards import WARM_UP, EchoPacer
from .context import Context
from .report import Row
from .uart import BAUD, Tap

TARGET_RATE = 0.8  # of the wire rate
LINE_CHARS = 240  # printable characters a typed line (the install's hex lines are 480)
LINES = 24  # per sample: 5.8 KiB, half a second of wire
QUICK_LINES = 2
SAMPLES = 5
QUICK_SAMPLES = 1
LATENCY = 0.016  # FTDI's default latency timer
PACKET = 62  # an FT232R's full-speed USB packet: 64 bytes, 2 of them modem status


class LatencyTimer(Transport):
    """A USB serial adapter's receive side: what the wire delivered is held until its buffer
    fills a packet or its latency timer runs out (0: low-latency mode, each byte at once).

    Writes go straight through. One reader at a time, as a console session reads.
    """

    def __init__(self, inner: Transport, latency: float = LATENCY, packet: int = PACKET) -> None:
        self.inner = inner
        self.latency = latency
        self.packet = packet
        self.spec = f"{inner.spec}+latency{latency * 1e3:g}ms"
        self._held = bytearray()
        self._since = 0.0  # when the oldest held byte came off the wire

    def _due(self, now: float) -> bool:
        return bool(self._held) and (len(self._held) >= self.packet or now >= self._since + self.latency)

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self._due(now):
                handed = bytes(self._held[:max_bytes])
                del self._held[:max_bytes]
                return handed
            ends = [self._since + self.latency] if self._held else []
            ends += [deadline] if deadline is not None else []
            wait = max(0.0, min(ends) - now) if ends else None
            try:
                data = self.inner.read(4096, wait)  # the wait is the timer's: no spinning
            except TransportTimeout:
                if deadline is not None and time.monotonic() >= deadline and not self._due(time.monotonic()):
                    raise
                continue
            if not data:  # EOF: what is held still goes
                handed, self._held = bytes(self._held), bytearray()
                return handed
            if not self._held:
                self._since = time.monotonic()
            self._held += data

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


def run(ctx: Context) -> list[Row]:
    lines = QUICK_LINES if ctx.quick else LINES
    samples = QUICK_SAMPLES if ctx.quick else SAMPLES
    ctx.progress(f"typing: {samples} x {lines} lines of {LINE_CHARS} characters, echo-paced at {BAUD} baud")
    cases = [
        ("typing.echo", f"echo-paced typing at {BAUD} baud", None),
        ("typing.latency", f"the same, {LATENCY * 1e3:g} ms adapter latency timer", LATENCY),
        ("typing.lowlatency", "the same, adapter in low-latency mode", 0.0),
    ]
    rows = []
    for key, figure, latency in cases:
        try:
            elapsed, wire = measure(ctx, key, lines, samples, latency)
        except Exception as e:
            rows.append(Row.failed(key, figure, e))
            continue
        what = f"{lines} lines of {LINE_CHARS} characters a sample"
        if latency:
            what += "; each line waits for the latency timer twice (its echo, its line end's echo)"
        rows.append(rate_row(key, figure, elapsed, wire, what, targeted=not latency))
    return rows


def rate_row(key: str, figure: str, elapsed: list[float], wire: list[float], what: str, targeted: bool = True) -> Row:
    """A row whose target is a share of the wire rate: met when elapsed / wire <= 1 / TARGET_RATE."""
    target = f">= {TARGET_RATE:.0%} of wire rate (<= 1.25x)" if targeted else ""
    row = Row.timed(key, figure, elapsed, wire, floor_label="wire time", target=target)
    if targeted:
        row.met = row.ratio is not None and row.ratio <= 1 / TARGET_RATE
    rate = f"{1 / row.ratio:.0%} of wire rate" if row.ratio else "no rate"
    row.note = f"{rate}; {what}"
    return row


def warm_up(session: ConsoleSession) -> None:
    """Type once the shell prompts, a long line first: an echo pacer learns the echo time on it."""
    session.expect_exact(PROMPT.encode())
    session.sendline(f": {WARM_UP}; echo __SS''READY__")
    session.expect(rb"__SSREADY__")


def measure(
    ctx: Context, key: str, lines: int, samples: int, latency: float | None
) -> tuple[list[float], list[float]]:
    board = SimulatedBoard(workdir=ctx.workdir / key, shell="dash", helpers=False)
    line = BaudRateTransport(Tap(board), BAUD)
    console: Transport = line if latency is None else LatencyTimer(line, latency)
    watcher = Watcher("b", MemoryCoordinator([Member("b", "solo")]), console.write, pacer=EchoPacer())
    session = ConsoleSession(console, watcher, timeout=60)
    payload = [("%02d" % i * LINE_CHARS)[:LINE_CHARS] for i in range(lines)]  # noqa: UP031
    elapsed: list[float] = []
    wire: list[float] = []
    try:
        warm_up(session)
        for k in range(1, samples + 1):
            typed = [f"cat >/dev/null <<'_T_EOF'; echo __T''{k}__", *payload, "_T_EOF"]
            answer = f"__T{k}__\r\n".encode()
            started = time.monotonic()
            for text in typed:
                session.sendline(text)
            session.expect(answer.strip())
            elapsed.append(time.monotonic() - started)
            wire.append(line.wire_time(sum(len(t) + 1 for t in typed) + len(answer)))
    finally:
        watcher.close()
        session.close()
    return elapsed, wire
