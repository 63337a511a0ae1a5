"""One thread that runs actions at given times: cheaper than a Timer thread each."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable

from ._time import SYSTEM_CLOCK, Clock


class Scheduler:
    def __init__(self, name: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._name = name
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties keep their order; actions are never compared
        self._thread: threading.Thread | None = None
        self._closed = False

    def after(self, delay: float, action: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (self._clock.monotonic() + delay, next(self._order), action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Drop every action not yet run; later ones are ignored."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if self._heap:
                        wait = self._heap[0][0] - self._clock.monotonic()
                        if wait <= 0:
                            _, _, action = heapq.heappop(self._heap)
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            action()


class WorkerPool:
    """Daemon threads reused for blocking jobs; a new one only when none is idle.

    (concurrent.futures' workers are joined at interpreter exit: one call still
    waiting on its group would hold the host program open.)
    """

    def __init__(self, name: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._name = name
        self._clock = clock
        self._cond = threading.Condition()
        self._jobs: list[Callable[[], None]] = []
        self._idle = 0
        self._count = itertools.count(1)

    def submit(self, job: Callable[[], None]) -> None:
        with self._cond:
            self._jobs.append(job)
            if self._idle:
                self._cond.notify()
                return
        threading.Thread(target=self._work, name=f"{self._name}-{next(self._count)}", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                if not self._cond.wait_for(lambda: self._jobs, timeout=60.0):
                    self._idle -= 1
                    return  # idle for a minute: let the thread go
                self._idle -= 1
                job = self._jobs.pop(0)
            job()
