"""Reports of a stuck group, handed from a backend's lock to the caller on a thread of their own.

Both backends decide with rules.stuck_report and say it through a
StuckNotifier: each new report is logged at WARNING and given to
``on_stuck(text)``; ``on_stuck("")`` says the group moves again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from serialsync.coordinator.rules import log

__all__ = ["StuckNotifier"]


class StuckNotifier:
    """Says each change of a group's stuck state once, off the caller's thread.

    A slow reader of the reports (a blocked stdout) must not hold up the
    group's calls, so report() only queues; a daemon thread, started on the
    first report, does the saying.
    """

    def __init__(self, on_stuck: Callable[[str], None] | None, name: str = "serialsync-stuck") -> None:
        self._listeners: list[Callable[[str], None]] = [on_stuck] if on_stuck is not None else []
        self._name = name
        self._reported = ""  # the stuck state last reported, so each is reported once
        self._notices: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def listen(self, on_stuck: Callable[[str], None]) -> None:
        """One more hearer of the reports (a run given a coordinator made elsewhere)."""
        with self._lock:
            self._listeners = [*self._listeners, on_stuck]

    @property
    def reported(self) -> str:
        """The report standing now; "" when the group is not held stuck."""
        return self._reported

    def report(self, text: str) -> None:
        """The group's stuck state is ``text`` now ("" = it moves); said only when it changed."""
        with self._lock:
            if self._closed or text == self._reported:
                return
            self._reported = text
            self._notices.put(text)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def close(self) -> None:
        """The thread ends once it has said what is queued."""
        with self._lock:
            self._closed = True
            if self._thread is not None:
                self._notices.put(None)

    def _loop(self) -> None:
        while (text := self._notices.get()) is not None:
            if text:
                log.warning("%s", text)
            for on_stuck in self._listeners:
                try:
                    on_stuck(text)
                except Exception:  # a reporter's failure is not the group's
                    log.exception("reporting a stuck group failed")
