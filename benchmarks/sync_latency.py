"""Benchmark 1: one lava-sync round for groups of 2 to 256 simulated boards.

Latency: from the moment the host parsed the last board's marker to the
moment it saw every board's output printed after its helper returned. Floor:
a trivial command (printf, a shell builtin) typed into every board and its
output seen, through the same sessions. Rounds alternate floor and sync so
that the load of a shared machine falls on both alike.
"""

from __future__ import annotations

from .boards import BoardGroup
from .context import Context
from .report import Row

SIZES = (2, 8, 32, 128, 256)
TARGET_MS = {2: 5, 8: 10, 32: 40, 128: 200, 256: 500}
ROUNDS = {2: 100, 8: 50, 32: 20, 128: 12, 256: 10}
QUICK_SIZES = (2, 8)
QUICK_ROUNDS = 3


def figure(size: int) -> str:
    return f"sync round, {size} boards"


def run(ctx: Context) -> list[Row]:
    rows = []
    for size in SIZES:
        target = f"median <= {TARGET_MS[size]} ms"
        if ctx.quick and size not in QUICK_SIZES:
            rows.append(Row.skipped(f"sync.{size}", figure(size), "--quick", target))
            continue
        rounds = QUICK_ROUNDS if ctx.quick else ROUNDS[size]
        ctx.progress(f"sync: {size} boards, {rounds} rounds")
        try:
            floor, sync = measure(ctx, size, rounds)
        except Exception as e:
            rows.append(Row.failed(f"sync.{size}", figure(size), e))
            continue
        row = Row.timed(f"sync.{size}", figure(size), sync, floor, floor_label="echo round", target=target)
        row.met = row.median is not None and row.median <= TARGET_MS[size]
        rows.append(row)
    return rows


def measure(ctx: Context, size: int, rounds: int) -> tuple[list[float], list[float]]:
    floor: list[float] = []
    sync: list[float] = []
    with BoardGroup(size, ctx.workdir / f"sync-{size}") as group:
        group.echo_round(0)  # warm-up: first exec of awk and the helpers
        group.sync_round(0)
        for k in range(1, rounds + 1):
            floor.append(group.echo_round(k))
            sync.append(group.sync_round(k))
    return floor, sync
