"""The one place that types into a board: an ordered outbox, one writer thread, a pacer.

Everything typed into a board — a step, a reply, a retry line — goes through
one Keyboard, so lines never interleave, and the reader never waits for the
typing: an echo-paced line is checked against what the reader hands to
``observe()`` meanwhile. The keyboard also remembers whether the latest
*tracked* line (a command a session typed) could not be typed, so a wait
for its effect can say so at once instead of waiting out its timeout.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import EchoMismatch
from .pacers import Pacer

log = logging.getLogger("serialsync.keyboard")

Write = Callable[[bytes], None]


@dataclass(frozen=True)
class _Item:
    data: bytes
    checked: bool  # the line must be proven by its echo (False: it carries its own checksum)
    on_typed: Callable[[], None] | None
    on_failed: Callable[[Exception], None] | None


class Keyboard:
    def __init__(self, name: str, write: Write, pacer: Pacer | None = None) -> None:
        self.name = name
        self.pacer = pacer or Pacer()
        self.write_error: Exception | None = None  # the console is dead: nothing more is typed
        self._write = write
        self._outbox: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._typing = False
        self._writer: threading.Thread | None = None
        self._closed = False
        # Tracked lines (a session's commands): how many were queued, how many are
        # still in flight, and a failure of one of them (its number, the error).
        self._tracked = 0
        self._in_flight = 0
        self._failure: tuple[int, Exception] | None = None

    def observe(self, data: bytes) -> None:
        """Console output, as read: the pacer follows the echo in it."""
        if data:
            self.pacer.observe(data)

    def type(
        self,
        data: bytes,
        *,
        checked: bool = True,
        on_typed: Callable[[], None] | None = None,
        on_failed: Callable[[Exception], None] | None = None,
    ) -> None:
        """Queue bytes; they are typed in order, paced by the pacer.

        on_typed runs on the writer thread once the bytes went out; on_failed,
        instead of it, if they could not be typed (the echo never confirmed a
        line, or the console is dead). Without on_failed, a line the pacer had
        to give up on still counts as typed: whoever typed it recovers by its
        own timer (a reply is typed again).
        """
        if not data:
            return
        with self._cond:
            self._outbox.append(_Item(bytes(data), checked, on_typed, on_failed))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name=f"{self.name}-writer", daemon=True)
                self._writer.start()
            self._cond.notify_all()

    def type_tracked(self, data: bytes) -> None:
        """Queue a command whose failure to be typed ``typing_state()`` reports."""
        with self._cond:
            self._tracked += 1
            self._in_flight += 1
            number = self._tracked
        self.type(data, on_typed=self._tracked_typed, on_failed=lambda error: self._tracked_failed(number, error))

    def typing_state(self) -> tuple[bool, Exception | None]:
        """(a tracked line is still being typed, why the latest one could not be typed).

        A failure is reported once, and only that of the latest tracked line:
        what waits now waits for the effect of the latest one (a boot probe
        typed again, the next step). Both are read at once, so a failure that
        ends the typing is never missed.
        """
        with self._cond:
            failure, self._failure = self._failure, None
            latest, typing = self._tracked, self._in_flight > 0
        return typing, (failure[1] if failure is not None and failure[0] == latest else None)

    def flush(self, timeout: float | None) -> bool:
        """Block until everything queued was typed (True) or timeout (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._outbox and not self._typing, timeout)

    def close(self) -> None:
        """What is queued is still typed, then the writer thread ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _tracked_typed(self) -> None:
        with self._cond:
            self._in_flight -= 1

    def _tracked_failed(self, number: int, error: Exception) -> None:
        with self._cond:
            self._in_flight -= 1
            self._failure = (number, error)

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._outbox or self._closed)
                if not self._outbox:
                    self._writer = None
                    return  # closed, and everything queued was typed
                item = self._outbox.popleft()
                self._typing = True
            on_typed = item.on_typed
            failure: Exception | None = None
            try:
                self.pacer.type(item.data, self._write, checked=item.checked)
            except EchoMismatch as e:
                # The line was erased, not handed over: the board never got it.
                log.warning("%s: could not type a line: %s", self.name, e)
                failure = e
            except Exception as e:  # a dead console: remember it, keep draining
                if self.write_error is None:
                    log.warning("%s: cannot type into the console: %s", self.name, e)
                self.write_error = e
                on_typed = None
                failure = e
            try:
                if failure is not None and item.on_failed is not None:
                    item.on_failed(failure)
                elif on_typed is not None:
                    on_typed()
            finally:
                with self._cond:
                    self._typing = False
                    self._cond.notify_all()
