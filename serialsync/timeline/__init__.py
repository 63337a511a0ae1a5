"""The timeline of a run: one self-contained HTML page (timeline.html) beside results.json.

model.py turns a run's output (or LAVA job logs, lava_logs.py) into lanes,
bars, sync rounds and links; render.py draws them as inline SVG.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .lava_logs import check_lava_log, from_lava_logs
from .model import Timeline, TimelineError, from_run
from .render import render

__all__ = [
    "TIMELINE_FILE",
    "Timeline",
    "TimelineError",
    "check_lava_log",
    "from_lava_logs",
    "from_run",
    "render",
    "write_run_timeline",
    "write_timeline",
]

TIMELINE_FILE = "timeline.html"
log = logging.getLogger(__name__)


def write_timeline(timeline: Timeline, path: Path) -> Path:
    """Write the page for *timeline* to *path* (atomically: a reader never sees half a page)."""
    part = path.with_name(path.name + ".part")
    part.write_text(render(timeline), encoding="utf-8")
    part.replace(path)
    return path


def write_run_timeline(outdir: Path) -> Path | None:
    """OUTDIR/timeline.html from the run's results.json; None (logged) if it could not be made.

    A run's results must never be lost to its picture, so nothing here raises.
    """
    try:
        return write_timeline(from_run(outdir), outdir / TIMELINE_FILE)
    except Exception:  # the picture is a by-product of the run: log it, never fail the run
        log.exception("%s: the timeline could not be written", outdir)
        return None
