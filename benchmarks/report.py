"""Rows of the benchmark table: figures, floors, ratios, targets; printed and saved as JSON.

A figure is only meaningful next to a floor measured in the same run (the
machine is shared, absolute times drift), so every row carries both and the
ratio between them. ``met`` is True/False against the target, None where no
target applies (information only, not applicable, skipped).
"""

from __future__ import annotations

import json
import math
import platform
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Summary:
    """min / median / p95 of repeated samples (p95 by nearest rank)."""

    min: float
    median: float
    p95: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Summary:
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        rank = max(0, math.ceil(0.95 * len(ordered)) - 1)
        return cls(ordered[0], statistics.median(ordered), ordered[rank], len(ordered))


@dataclass
class Row:
    id: str  # stable key: "sync.256", "scan.watcher", ...
    figure: str  # what was measured, for people
    unit: str  # unit of min/median/p95 and floor
    min: float | None = None
    median: float | None = None
    p95: float | None = None
    floor: float | None = None
    floor_label: str = ""  # what the floor is
    ratio: float | None = None  # median / floor (or as the row says)
    target: str = ""
    met: bool | None = None
    status: str = ""  # overrides the verdict cell (skipped, n/a, error); else it follows met
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)  # raw numbers for the JSON

    @classmethod
    def timed(cls, id: str, figure: str, samples: list[float], floor: list[float], **kw: object) -> Row:
        """A latency row from samples in seconds, shown in ms; floor is its median."""
        s, f = Summary.of(samples), Summary.of(floor)
        return cls(
            id=id,
            figure=figure,
            unit="ms",
            min=s.min * 1e3,
            median=s.median * 1e3,
            p95=s.p95 * 1e3,
            floor=f.median * 1e3,
            ratio=s.median / f.median if f.median > 0 else None,
            extra={"samples_s": samples, "floor_samples_s": floor, "n": s.n},
            **kw,  # type: ignore[arg-type]
        )

    @classmethod
    def skipped(cls, id: str, figure: str, why: str, target: str = "") -> Row:
        return cls(id=id, figure=figure, unit="", target=target, status=f"skipped ({why})")

    @classmethod
    def failed(cls, id: str, figure: str, error: BaseException) -> Row:
        return cls(id=id, figure=figure, unit="", status=f"ERROR: {type(error).__name__}: {error}"[:160])

    @property
    def result(self) -> str:
        return self.status or {True: "met", False: "MISSED", None: "info"}[self.met]

    @property
    def errored(self) -> bool:
        return self.status.startswith("ERROR")


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def format_table(rows: list[Row]) -> str:
    header = ("figure", "min", "median", "p95", "floor (same run)", "ratio", "target", "result")
    cells = [header]
    for r in rows:
        floor = _num(r.floor, r.unit) if r.floor is not None else "-"
        if r.floor_label and r.floor is not None:
            floor = f"{floor} ({r.floor_label})"
        cells.append(
            (
                r.figure,
                _num(r.min, r.unit),
                _num(r.median, r.unit),
                _num(r.p95, r.unit),
                floor,
                "-" if r.ratio is None else f"{r.ratio:.2f}x",
                r.target or "-",
                r.result,
            )
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for i, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{r.id}] {r.note}" for r in rows if r.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def write_json(rows: list[Row], path: Path, *, quick: bool, started: str, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": 1,
        "started": started,
        "seconds": round(seconds, 3),
        "quick": quick,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()},
        "rows": [{**asdict(r), "result": r.result} for r in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
