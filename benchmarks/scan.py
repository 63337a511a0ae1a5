"""Benchmark 4: scanning a large noisy console log for markers.

The watcher's path (Watcher.feed in 4 KiB reads, as a transport hands them
out) against (a) the floor: one compiled regex's finditer over the same bytes
in memory, and (b) the usual way: a pexpect expect() loop over the same
stream (fdpexpect on a pipe from cat) with a pattern list like LAVA's test
shell (its signals, its MultiNode marker, our marker), configured as LAVA
configures pexpect (utf-8, searchwindowsize None, maxread 2000). Every method
must find every marker, or the run fails. Memory: tracemalloc's peak while
the watcher reads the log, then a log four times as long (same markers,
three more logs' worth of noise).
"""

from __future__ import annotations

import gc
import itertools
import re
import subprocess
import time
import tracemalloc
from collections.abc import Iterable
from pathlib import Path

import pexpect
from pexpect import fdpexpect

from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.protocol import MarkerParser, Request
from serialsync.watcher import Watcher

from .consolelog import READ_SIZE, ConsoleLog, chunks, generate
from .context import Context
from .report import Row, Summary

SIZE, QUICK_SIZE = 32 << 20, 2 << 20
MARKERS, QUICK_MARKERS = 56, 8
MEMORY_SIZE, QUICK_MEMORY_SIZE = 8 << 20, 1 << 20
REPEATS, QUICK_REPEATS = 5, 1
TARGET_FLOOR_SHARE = 0.5
TARGET_VS_PEXPECT = 10.0
TARGET_MEMORY_RATIO = 1.25

FLOOR_RE = re.compile(rb"<(?:LAVA_MULTI_NODE> <LAVA_|SERIALSYNC1 )[^>\r\n]*>")
LAVA_LIKE = [
    pexpect.EOF,
    r"<LAVA_TEST_RUNNER EXIT>",
    r"<LAVA_TEST_RUNNER INSTALL_FAIL>",
    r"<LAVA_SIGNAL_(\S+) ([^>]+)>",
    r"<LAVA_MULTI_NODE> <LAVA_(\S+) ([^>]+)>",
    r"<SERIALSYNC1 ([^>]+)>",
]
MARKER_PATTERNS = (4, 5)  # indexes in LAVA_LIKE that are markers


def new_watcher() -> tuple[Watcher, list[Request]]:
    found: list[Request] = []
    watcher = Watcher(
        "dut",
        MemoryCoordinator([Member("dut", "solo")]),  # alone: its syncs complete at once
        lambda data: None,
        call_timeout=30,
        on_request=lambda device, request: found.append(request),
    )
    return watcher, found


def retire(watcher: Watcher) -> None:
    """Stop its reply-confirmation timers: nobody here will ever confirm a reply."""
    close = getattr(watcher, "close", None)
    if close is not None:
        close()


def watcher_pass(reads: list[bytes], expected: int) -> float:
    watcher, found = new_watcher()
    started = time.perf_counter()
    for data in reads:
        watcher.feed(data)
    watcher.wait_idle(30)  # the calls it started are part of its work
    elapsed = time.perf_counter() - started
    retire(watcher)
    if len(found) != expected:
        raise RuntimeError(f"watcher found {len(found)} markers of {expected}")
    return elapsed


def parser_pass(reads: list[bytes], expected: int) -> float:
    """The scan alone: MarkerParser, without serving what it finds."""
    parser = MarkerParser()
    found = 0
    started = time.perf_counter()
    for data in reads:
        parser.receive_data(data)
        for event in parser.events():
            found += isinstance(event, Request)
    elapsed = time.perf_counter() - started
    if found != expected:
        raise RuntimeError(f"parser found {found} markers of {expected}")
    return elapsed


def finditer_pass(data: bytes, expected: int) -> float:
    started = time.perf_counter()
    found = sum(1 for _ in FLOOR_RE.finditer(data))
    elapsed = time.perf_counter() - started
    if found != expected:
        raise RuntimeError(f"finditer found {found} markers of {expected}")
    return elapsed


def pexpect_pass(path: Path, expected: int) -> float:
    started = time.perf_counter()
    with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as cat:
        assert cat.stdout is not None
        # As LAVA's ShellCommand configures pexpect.
        lava_like = {"maxread": 2000, "searchwindowsize": None, "encoding": "utf-8", "codec_errors": "replace"}
        child = fdpexpect.fdspawn(cat.stdout.fileno(), timeout=60, **lava_like)
        patterns = child.compile_pattern_list(LAVA_LIKE)
        found = 0
        while (index := child.expect_list(patterns)) != 0:
            found += index in MARKER_PATTERNS
    elapsed = time.perf_counter() - started
    if found != expected:
        raise RuntimeError(f"pexpect found {found} markers of {expected}")
    return elapsed


def watcher_peak(stream: Iterable[bytes]) -> int:
    """tracemalloc's peak, in bytes, above what was allocated before the first read."""
    gc.collect()
    tracemalloc.start()
    try:
        watcher, _ = new_watcher()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for data in stream:
            watcher.feed(data)
        watcher.wait_idle(30)
        peak = tracemalloc.get_traced_memory()[1] - base
        retire(watcher)
        return peak
    finally:
        tracemalloc.stop()


def run(ctx: Context) -> list[Row]:
    try:
        return measure(ctx)
    except Exception as e:
        return [Row.failed(key, text, e) for key, text in FIGURES.items()]


FIGURES = {
    "scan.watcher": "marker scan: watcher.feed, 4 KiB reads",
    "scan.parser": "marker scan: MarkerParser alone, 4 KiB reads",
    "scan.pexpect": "marker scan: watcher vs pexpect expect() loop",
    "scan.memory": "marker scan: memory peak, 4x log vs 1x",
}


def measure(ctx: Context) -> list[Row]:
    size = QUICK_SIZE if ctx.quick else SIZE
    repeats = QUICK_REPEATS if ctx.quick else REPEATS
    ctx.progress(f"scan: generating a {size >> 20} MiB console log")
    log = generate(size, markers=QUICK_MARKERS if ctx.quick else MARKERS)
    path = ctx.workdir / "console.log"
    path.write_bytes(log.data)
    reads = list(chunks(log.data, READ_SIZE))
    mb = len(log.data) / 1e6

    ctx.progress(f"scan: {repeats} passes each of watcher, finditer, pexpect")
    watcher_t, parser_t, floor_t, pexpect_t = [], [], [], []
    for _ in range(repeats):  # interleaved, so drifting load hits all alike
        watcher_t.append(watcher_pass(reads, log.markers))
        parser_t.append(parser_pass(reads, log.markers))
        floor_t.append(finditer_pass(log.data, log.markers))
        pexpect_t.append(pexpect_pass(path, log.markers))
    w, r, f, p = (Summary.of(t) for t in (watcher_t, parser_t, floor_t, pexpect_t))
    mbps = {"unit": "MB/s", "min": mb / w.min, "median": mb / w.median, "p95": mb / w.p95}
    serving = (w.median - r.median) / log.markers * 1e6
    note = (
        f"{mb:.0f} MB, {log.markers} markers ({log.split} across a 4 KiB read); MB/s columns are of the fastest, "
        f"median and p95 pass times; serving the calls found costs {serving:.0f} us each (watcher minus parser)"
    )
    rows = [
        Row(
            "scan.watcher",
            FIGURES["scan.watcher"],
            floor=mb / f.median,
            floor_label="one regex finditer, in memory",
            ratio=f.median / w.median,
            target=f">= {TARGET_FLOOR_SHARE:.0%} of floor",
            met=f.median / w.median >= TARGET_FLOOR_SHARE,
            note=note,
            extra={"watcher_s": watcher_t, "finditer_s": floor_t, "bytes": len(log.data)},
            **mbps,  # type: ignore[arg-type]
        ),
        Row(
            "scan.parser",
            FIGURES["scan.parser"],
            unit="MB/s",
            min=mb / r.min,
            median=mb / r.median,
            p95=mb / r.p95,
            floor=mb / f.median,
            floor_label="one regex finditer, in memory",
            ratio=f.median / r.median,
            target=f">= {TARGET_FLOOR_SHARE:.0%} of floor",
            met=f.median / r.median >= TARGET_FLOOR_SHARE,
            note="the watcher's path without serving the calls it finds (diagnosis for scan.watcher)",
            extra={"parser_s": parser_t},
        ),
        Row(
            "scan.pexpect",
            FIGURES["scan.pexpect"],
            floor=mb / p.median,
            floor_label="pexpect, LAVA-like patterns",
            ratio=p.median / w.median,
            target=f">= {TARGET_VS_PEXPECT:g}x pexpect",
            met=p.median / w.median >= TARGET_VS_PEXPECT,
            extra={"pexpect_s": pexpect_t},
            **mbps,  # type: ignore[arg-type]
        ),
    ]
    rows.append(memory_row(ctx))
    return rows


def memory_row(ctx: Context) -> Row:
    size = QUICK_MEMORY_SIZE if ctx.quick else MEMORY_SIZE
    ctx.progress(f"scan: memory, {size >> 20} MiB log then 4x")
    log: ConsoleLog = generate(size, markers=QUICK_MARKERS if ctx.quick else MARKERS, seed=8)
    noise = generate(size, markers=0, seed=9).data
    one = watcher_peak(chunks(log.data))
    four = watcher_peak(itertools.chain(chunks(log.data), *(chunks(noise) for _ in range(3))))
    return Row(
        "scan.memory",
        FIGURES["scan.memory"],
        unit="KiB",
        median=four / 1024,
        floor=one / 1024,
        floor_label=f"peak reading {size >> 20} MiB",
        ratio=four / one if one else None,
        target=f"<= {TARGET_MEMORY_RATIO}x (flat)",
        met=one > 0 and four / one <= TARGET_MEMORY_RATIO,
        note=f"tracemalloc peak above the start while the watcher read {size >> 20} MiB, then {4 * size >> 20} MiB",
        extra={"peak_1x_bytes": one, "peak_4x_bytes": four},
    )
