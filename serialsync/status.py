"""The live status of a running group: each device's action and what it waits for.

``GroupStatus`` is a Reporter that keeps the state; ``LiveStatus`` redraws it
in place on a terminal twice a second (the command line uses one line per
event instead where there is no terminal: a CI log has no cursor to move).
"""

from __future__ import annotations

import shutil
import textwrap
import threading
import time
from typing import TextIO

from .job import Reporter
from .job.model import Device
from .watcher import CallRecord

REDRAW_INTERVAL = 0.5  # seconds


class GroupStatus(Reporter):
    """Per device: its latest action line, the call it waits in (and since when), its calls so far."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, dict] = {}
        self._group_note = ""  # the latest word on the whole group (it is stuck)
        self.started = clock()

    def _row(self, device: Device) -> dict:
        return self._rows.setdefault(
            device.name, {"role": device.role, "doing": "", "waiting": "", "since": 0.0, "calls": 0, "failed": 0}
        )

    def device_event(self, device: Device, text: str) -> None:
        with self._lock:
            self._row(device)["doing"] = text

    def call_started(self, device: Device, api: str, message_id: str | None, role: str | None = None) -> None:
        with self._lock:
            row = self._row(device)
            row["waiting"] = " ".join(x for x in (api, message_id, role) if x)
            row["since"] = self._clock()

    def call_done(self, device: Device, record: CallRecord) -> None:
        with self._lock:
            row = self._row(device)
            row["waiting"] = ""
            row["calls"] += 1
            row["failed"] += not record.ok

    def group_event(self, text: str) -> None:
        with self._lock:
            self._group_note = text  # "" once the group moves again

    def render(self) -> str:
        now = self._clock()
        with self._lock:
            rows = [("device", "role", "calls", "waiting for", "doing")]
            for name, row in self._rows.items():
                waiting = f"{row['waiting']} ({now - row['since']:.0f}s)" if row["waiting"] else "-"
                calls = f"{row['calls']}" + (f" ({row['failed']} nack)" if row["failed"] else "")
                rows.append((name, row["role"], calls, waiting, row["doing"][:60]))
            note = self._group_note
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = ["  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip() for r in rows]
        return "\n".join([f"serialsync: {now - self.started:.0f}s", *lines, *([note] if note else [])])


def _fit(line: str, width: int) -> list[str]:
    """line in pieces of at most width characters, the later ones indented."""
    return textwrap.wrap(line, width, subsequent_indent="    ", drop_whitespace=False) or [""]


class LiveStatus(GroupStatus):
    """Redraws the status table in place on a terminal until stop()."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._drawn = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="serialsync-status", daemon=True)
        self._thread.start()

    def _draw(self) -> None:
        # A line wider than the terminal would wrap on its own and throw off the
        # count of lines to move up over: wrap it here, and count what was drawn.
        width = max(20, shutil.get_terminal_size().columns - 1)
        lines = [part for line in self.render().split("\n") for part in _fit(line, width)]
        # Up to the first line drawn last time, clear to the end, draw again.
        up = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
        self.stream.write(up + "\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def _loop(self) -> None:
        while not self._stop.wait(REDRAW_INTERVAL):
            self._draw()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._draw()
