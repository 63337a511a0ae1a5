"""Deadlines on an injectable monotonic clock.

A relative duration is a float named ``timeout``; an absolute point is a
Deadline named ``deadline``. Nested waits share one Deadline, so a budget is
never counted twice.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()


class Deadline:
    """A point on a monotonic clock; ``Deadline.never()`` has no end."""

    __slots__ = ("at", "clock", "timeout")

    def __init__(self, at: float, timeout: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.at = at
        self.timeout = timeout
        self.clock = clock

    @classmethod
    def after(cls, timeout: float | None, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        if timeout is None:
            return cls.never(clock)
        if timeout < 0 or math.isnan(timeout):
            raise ValueError(f"timeout must be a number >= 0, not {timeout!r}")
        return cls(clock.monotonic() + timeout, timeout, clock)

    @classmethod
    def never(cls, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        return cls(math.inf, math.inf, clock)

    @property
    def remaining(self) -> float:
        """Seconds left, never below zero (inf for a deadline that never ends)."""
        return max(0.0, self.at - self.clock.monotonic())

    @property
    def expired(self) -> bool:
        return self.clock.monotonic() >= self.at

    def earliest(self, other: Deadline) -> Deadline:
        return self if self.at <= other.at else other

    def __repr__(self) -> str:
        return f"Deadline(timeout={self.timeout}, remaining={self.remaining:.3f})"


def format_seconds(seconds: float) -> str:
    """A duration as a person reads it: ``0.25 s``, ``1.5 s``, ``30 s``, ``2 min``, ``1.5 h``.

    For messages: never a raw float like ``0.9945752149999407s``.
    """
    if math.isnan(seconds):
        return "an unknown time"
    if math.isinf(seconds):
        return "no limit" if seconds > 0 else "0 s"
    seconds = max(0.0, seconds)

    def short(value: float, unit: str) -> str:
        return f"{round(value, 1):g} {unit}"

    if seconds == 0:
        return "0 s"
    if seconds < 0.01:
        return f"{seconds * 1000:.2g} ms" if seconds >= 0.001 else "less than 1 ms"
    if seconds < 1:
        return f"{seconds:.2g} s"
    if seconds < 10:
        return short(seconds, "s")
    if seconds < 120:
        return f"{round(seconds)} s"
    if seconds < 7200:
        return short(seconds / 60, "min")
    return short(seconds / 3600, "h")


class RunClock:
    """When a run started, on both clocks: monotonic for order and durations, wall for reports.

    Wall times are derived from the monotonic offset, so a clock step (NTP)
    during a run cannot reorder what happened.
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.start = clock.monotonic()
        self.wall_start = datetime.now().astimezone()

    def now(self) -> float:
        return self.clock.monotonic()

    def offset(self, at: float) -> float:
        """Seconds from the run's start to the monotonic instant ``at``."""
        return at - self.start

    def iso(self, at: float) -> str:
        """The monotonic instant ``at`` as ISO 8601 with the local offset."""
        return (self.wall_start + timedelta(seconds=at - self.start)).isoformat(timespec="milliseconds")

    def span(self, started: float, ended: float) -> dict[str, str | float]:
        """The fields results.json gives everything that took time."""
        return {
            "started_at": self.iso(started),
            "ended_at": self.iso(ended),
            "start": round(self.offset(started), 3),
            "end": round(self.offset(ended), 3),
        }
