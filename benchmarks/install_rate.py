"""Benchmark: install-helpers onto a bare board (busybox, no helpers) over an emulated 115200-baud UART.

The session is the command's: a watcher's keyboard types while the session
reads. Figure: the whole install, from the first line typed to the last
command's end (every file checksummed on the board). Floor: the wire time of
the bytes the host typed (counted below the emulated wire), in the same run.
Rows: typed at once (the command's default, as a job's ``pacing: none``) and
echo-paced. Echo-paced, each line waits for busybox's line editor, which
pauses 20 ms after every line it reads before it reads (and echoes) the
next: 8 lines a piece of 6 hex lines, about 0.6x of the wire time the host
cannot save while it proves each line by its echo.
"""

from __future__ import annotations

import time
from pathlib import Path

from serialsync._resources import HELPER_NAMES, helper_files
from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.install import install_files
from serialsync.transports import SimulatedBoard
from serialsync.transports.baud import BaudRateTransport
from serialsync.watcher import Watcher

from .boards import EchoPacer, Pacer
from .context import Context
from .report import Row
from .typing_rate import warm_up
from .uart import BAUD, Tap

TARGET_RATIO = 1.5
SAMPLES = 3
QUICK_SAMPLES = 1
QUICK_FILES = ("lava-sync",)  # --quick: one small helper, a tenth of a second of wire


def run(ctx: Context) -> list[Row]:
    samples = QUICK_SAMPLES if ctx.quick else SAMPLES
    paths = [p for p in helper_files() if not ctx.quick or p.name in QUICK_FILES]
    files = [(p.name, p.read_bytes(), p.name in HELPER_NAMES) for p in paths]
    size = sum(len(data) for _, data, _ in files)
    cases = [
        ("install.helpers", f"install-helpers, bare busybox at {BAUD} baud", Pacer),
        ("install.helpers_echo", f"install-helpers, bare busybox at {BAUD} baud, echo-paced", EchoPacer),
    ]
    rows = []
    for key, figure, pacer in cases:
        ctx.progress(f"install: {samples} x {len(files)} files ({size} bytes) at {BAUD} baud, {pacer.__name__}")
        try:
            elapsed, wire = measure(ctx.workdir / key, files, samples, pacer())
        except Exception as e:
            rows.append(Row.failed(key, figure, e))
            continue
        target = f"<= {TARGET_RATIO}x wire time"
        row = Row.timed(key, figure, elapsed, wire, floor_label="wire time of the bytes typed", target=target)
        row.met = row.ratio is not None and row.ratio <= TARGET_RATIO
        row.note = f"{len(files)} files, {size} bytes, typed as hex: {wire[0] * BAUD / 10 / 1024:.0f} KiB a sample"
        if pacer is EchoPacer:
            row.note += "; busybox's line editor pauses 20 ms after each line it reads"
        rows.append(row)
    return rows


def measure(
    workdir: Path, files: list[tuple[str, bytes, bool]], samples: int, pacer: Pacer
) -> tuple[list[float], list[float]]:
    board = SimulatedBoard(workdir=workdir, shell="busybox", helpers=False)
    tap = Tap(board)
    line = BaudRateTransport(tap, BAUD)
    watcher = Watcher("b", MemoryCoordinator([Member("b", "solo")]), line.write, pacer=pacer)
    session = ConsoleSession(line, watcher, timeout=120)
    elapsed: list[float] = []
    wire: list[float] = []
    try:
        warm_up(session)
        for k in range(samples):
            target = workdir / f"installed-{k}"
            tap.reset()
            started = time.monotonic()
            install_files(session, files, str(target), timeout=120)
            elapsed.append(time.monotonic() - started)
            wire.append(line.wire_time(len(tap.tx)))
            wrong = [name for name, data, _ in files if (target / name).read_bytes() != data]
            if wrong:
                raise RuntimeError(f"installed copies differ: {', '.join(wrong)}")
    finally:
        watcher.close()
        session.close()
    return elapsed, wire
