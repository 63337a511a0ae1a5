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
