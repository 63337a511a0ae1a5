"""Benchmark 7: sync of 8 boards split over two host processes sharing a Redis group.

There is no Redis coordinator yet (issue 5); the row says so, so the table
keeps its shape and runs can be compared once it exists.
"""

from __future__ import annotations

from .context import Context
from .report import Row

FIGURE = "sync, 8 boards over 2 hosts (Redis)"
TARGET = "median <= 15 ms"


def run(ctx: Context) -> list[Row]:
    try:
        import serialsync.coordinator.redis  # noqa: F401  (only whether it exists)
    except ImportError:
        status = "n/a (no Redis backend yet)"
    else:
        status = "n/a (Redis backend found; its benchmark is not written yet)"
    return [Row("redis.sync", FIGURE, unit="", target=TARGET, status=status)]
