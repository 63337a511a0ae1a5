"""Deadlines on an injectable monotonic clock.

A relative duration is a float named ``timeout``; an absolute point is a
Deadline named ``deadline``. Nested waits share one Deadline, so a budget is
never counted twice.
"""

from __future__ import annotations

import math
import time
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

