"""A Timeline as one self-contained HTML page: inline SVG, CSS and a little JavaScript.

Everything is drawn in the page for the whole run, so it reads without
JavaScript; page.js moves the drawing to a chosen window of time (zoom),
redraws the axis ticks and shows each element's details. Nothing is
fetched: no fonts, no scripts, no images.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources

from .model import Bar, Mark, Timeline

LABEL = 230  # px: the lane names' column
PLOT = 1100  # px: the time axis' width before the page fits it to the window
LANE = 36  # px: one lane's height
AXIS = 30  # px
TICK_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300,
              600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)  # fmt: skip
LEGEND = (
    ("step pass", "#b9dcc5"), ("step fail", "#f2a7a7"), ("call ok", "#2e8b57"), ("nack", "#ef8c00"),
    ("timed out", "#c62828"), ("sync round", "#3b5bdb"), ("send → wait it released", "#6a4c93"),
    ("device failed", "#c62828"), ("group stuck", "#9c27b0"),
)  # fmt: skip


# Nothing may be fetched: the page's own inline style and script only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _n(value: float) -> str:
    """A time or coordinate, short: 12.345, 7, 0.001."""
    return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


def tick_step(span: float, width: float = PLOT) -> float:
    raw = span / max(2.0, width / 110)
    return next((step for step in TICK_STEPS if step >= raw), TICK_STEPS[-1])


def tick_label(t: float, step: float, end: float) -> str:
    """An axis label: '2.5 s' below a second, '42 s' in a short window, else 'm:ss', or 'h:mm:ss' past an hour."""
    if step < 1:
        return f"{t:.{min(3, math.ceil(-math.log10(step) - 1e-9))}f} s"
    if end < 60:
        return f"{round(t)} s"
    s = round(t)
    h, m, r = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{r:02d}" if end >= 3600 else f"{m}:{r:02d}"


def ticks(start: float, end: float, width: float = PLOT) -> list[tuple[float, str]]:
    step = tick_step(end - start, width)
    first = math.ceil(start / step - 1e-9)
    out, n = [], first
    while n * step <= end + 1e-9:
        out.append((n * step, tick_label(n * step, step, end)))
        n += 1
    return out


class _Page:
    def __init__(self, timeline: Timeline) -> None:
        self.t = timeline
        self.total = max(timeline.duration, 1e-3)
        # The page opens on the devices' activity: from a little before the first bar (a board's
        # boot before it, when the devices took a while to connect, is empty).
        first = min((b.start for b in timeline.bars), default=0.0)
        self.first = max(0.0, first - 0.03 * (self.total - first)) if first > 0.1 * self.total else 0.0
        self.details: dict[str, dict] = {}
        # Console lines, each kept once per lane: the lines around one call are those around the next.
        self.lines: dict[int, dict[str, int]] = {}
        self.out: list[str] = []

    def x(self, t: float) -> float:
        return LABEL + (t - self.first) / (self.total - self.first) * PLOT

    def y(self, lane: int) -> int:
        return lane * LANE

    def detail(
        self, item_id: str, title: str, rows: list[tuple[str, str]], console: list[str] | None = None, lane: int = -1
    ) -> None:
        entry: dict = {"title": title, "rows": [[k, v] for k, v in rows if v]}
        if console:
            pool = self.lines.setdefault(lane, {})
            entry["console"] = [lane, [pool.setdefault(line, len(pool)) for line in console]]
        self.details[item_id] = entry

    def rect(self, cls: str, item_id: str, start: float, end: float, y: float, h: float) -> None:
        x = self.x(start)
        w = max(2.0, self.x(end) - x)
        self.out.append(
            f'<rect class="{cls}" data-i="{item_id}" data-s="{_n(start)}" data-e="{_n(end)}" '
            f'x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}"/>'
        )

    def text(self, cls: str, start: float, end: float | None, y: float, text: str, dx: float = 3) -> None:
        x = self.x(start) + dx
        fits = end is None or self.x(end) - self.x(start) >= len(text) * 6 + 4
        hide = "" if fits else ' style="display:none"'
        span = f' data-e="{_n(end)}"' if end is not None else ""
        self.out.append(
            f'<text class="{cls}" data-s="{_n(start)}"{span} data-dx="{dx}" x="{x:.1f}" y="{y}"{hide}>{_e(text)}</text>'
        )

    def line(
        self, cls: str, start: float, end: float, y1: float, y2: float, item_id: str = "", extra: str = ""
    ) -> None:
        data = f' data-i="{item_id}"' if item_id else ""
        self.out.append(
            f'<line class="{cls}"{data} data-s="{_n(start)}" data-e="{_n(end)}" x1="{self.x(start):.1f}" '
            f'x2="{self.x(end):.1f}" y1="{y1}" y2="{y2}"{extra}/>'
        )

    def circle(self, cls: str, item_id: str, at: float, y: float, r: float) -> None:
        self.out.append(
            f'<circle class="{cls}" data-i="{item_id}" data-s="{_n(at)}" cx="{self.x(at):.1f}" cy="{y}" r="{r}"/>'
        )

    # --- the drawing -------------------------------------------------------------------------
    def lanes(self) -> str:
        height = max(1, len(self.t.lanes)) * LANE
        bars = {b.id: b for b in self.t.bars}
        self.out = []
        for lane in self.t.lanes:
            y = self.y(lane.index)
            self.out.append(
                f'<rect class="lane-{"odd" if lane.index % 2 else "even"}" x="0" y="{y}" width="100%" height="{LANE}"/>'
                f'<text class="name" x="6" y="{y + 15}">{_e(lane.name[:30])}<title>{_e(lane.name)}</title></text>'
                f'<text class="sub {_e(lane.result)}" x="6" y="{y + 29}">{_e(lane.role[:18])} · {_e(lane.result)}'
                f"<title>{_e(lane.reason or lane.result)}</title></text>"
            )
        self.out.append('<g clip-path="url(#clip)"><g id="grid"></g>')
        for bar in self.t.bars:
            self.bar(bar)
        for item in self.t.rounds:
            self.round(item, bars)
        for link in self.t.links:
            source, target = bars[link.source], bars[link.target]
            self.line(
                "link" if link.last else "link other", link.start, link.end,
                self.y(source.lane) + 22, self.y(target.lane) + 22, extra=' marker-end="url(#arrow)"',
            )  # fmt: skip
        for mark in self.t.marks:
            self.mark(mark, bars, height)
        self.out.append("</g>")
        return (
            f'<svg id="lanes" xmlns="http://www.w3.org/2000/svg" width="{LABEL + PLOT + 10}" height="{height}">'
            f'<defs><clipPath id="clip"><rect id="plotclip" x="{LABEL}" y="0" width="{PLOT}" height="{height}"/>'
            '</clipPath><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" '
            'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#6a4c93"/></marker></defs>' + "".join(self.out) + "</svg>"
        )

    def bar(self, bar: Bar) -> None:
        y = self.y(bar.lane)
        title = f"{self.t.lanes[bar.lane].name}: {bar.label}"
        timing = ("time", f"{bar.start:.3f} → {bar.end:.3f} s ({bar.end - bar.start:.3f} s)")
        self.detail(bar.id, title, [*bar.details, timing], bar.console, bar.lane)
        if bar.kind == "step":
            self.rect(f"bar step {_e(bar.outcome)}", bar.id, bar.start, bar.end, y + 3, 11)
            self.text("step-l", bar.start, bar.end, y + 12, bar.label)
        else:
            self.rect(f"bar {bar.kind} {_e(bar.outcome)}", bar.id, bar.start, bar.end, y + 16, 15)
            self.text("bl", bar.start, bar.end, y + 27, bar.label)

    def round(self, item, bars: dict[str, Bar]) -> None:
        cls = "" if item.ok else " fail"
        names = [self.t.lanes[i].name for i in item.lanes]
        waited = [f"{bars[c].end - bars[c].start:.3f} s" for c in item.calls]
        self.detail(
            item.id,
            f"lava-sync {item.message_id} (round {item.number})",
            [
                ("met", ", ".join(names)),
                ("released at", f"{item.at:.3f} s"),
                ("outcome", "every device passed" if item.ok else "a call in it failed"),
                ("waited", ", ".join(f"{n}: {w}" for n, w in zip(names, waited, strict=False))),
            ],
        )
        top, bottom = self.y(min(item.lanes)) + 14, self.y(max(item.lanes)) + 32
        self.line(f"round{cls}", item.at, item.at, top, bottom, item.id)
        for lane in item.lanes:
            self.circle(f"meet{cls}", item.id, item.at, self.y(lane) + 23, 4)
        self.text("rl", item.at, None, top - 2 if top > 14 else top + 8, f"{item.message_id} #{item.number}", dx=3)

    def mark(self, mark: Mark, bars: dict[str, Bar], height: int) -> None:
        rows = list(mark.details)
        if mark.caused:
            rows.append(
                (
                    "calls it failed",
                    "; ".join(f"{self.t.lanes[bars[c].lane].name}: {bars[c].label}" for c in mark.caused),
                )
            )
        rows.append(("at", f"{mark.at:.3f} s"))
        self.detail(mark.id, mark.label, rows, mark.console, mark.lane)
        if mark.kind == "testcase":
            self.circle(f"tc {_e(mark.outcome)}", mark.id, mark.at, self.y(mark.lane) + 8, 4)
        elif mark.kind == "stuck":
            self.line("stuck", mark.at, mark.at, 0, height, mark.id)
            self.text("stuck-l", mark.at, None, 10, "stuck", dx=3)
        else:
            y = self.y(mark.lane)
            left = mark.kind == "left"
            self.line("gone left" if left else "gone", mark.at, mark.at, y + 2, y + LANE - 2, mark.id)
            if not left:
                self.text("gone-x", mark.at, None, y + 13, "✕", dx=3)
            for call in mark.caused:
                bar = bars[call]
                self.line("cause", mark.at, bar.end, y + 20, self.y(bar.lane) + 23)

    def axis(self) -> str:
        out = [f'<rect id="sel" class="sel" x="0" y="0" width="0" height="{AXIS}"/>', '<g id="ticks">']
        for t, text in ticks(self.first, self.total):
            x = f"{self.x(t):.1f}"
            out.append(f'<line class="grid" x1="{x}" x2="{x}" y1="20" y2="28"/>')
            out.append(f'<text class="tick" x="{x}" y="15" text-anchor="middle">{_e(text)}</text>')
        out.append("</g>")
        return (
            f'<svg id="axis" xmlns="http://www.w3.org/2000/svg" width="{LABEL + PLOT + 10}" height="{AXIS}">'
            f'<text class="sub" x="6" y="18">time since the start</text>{"".join(out)}</svg>'
        )


def render(timeline: Timeline) -> str:
    """The page, as text (UTF-8 when written)."""
    page = _Page(timeline)
    lanes = page.lanes()
    axis = page.axis()
    css = resources.files(__package__).joinpath("page.css").read_text(encoding="utf-8")
    script = resources.files(__package__).joinpath("page.js").read_text(encoding="utf-8")
    lines = {str(lane): list(pool) for lane, pool in page.lines.items()}
    data = {
        "label": LABEL, "plot": PLOT, "duration": page.total, "first": page.first, "details": page.details,
        "lines": lines,
    }  # fmt: skip
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    t = timeline
    calls = sum(1 for b in t.bars if b.kind != "step")
    failed = sum(1 for lane in t.lanes if lane.result != "pass")
    notes = "".join(f"<li>{_e(n)}</li>" for n in t.notes)
    legend = "".join(f'<span><i style="background:{colour}"></i>{_e(text)}</span>' for text, colour in LEGEND)
    stuck = [m for m in t.marks if m.kind == "stuck"]
    reports = ""
    if stuck:
        items = "".join(
            f'<li><a href="#" data-goto="{_n(m.at)}">{m.at:.3f} s</a>: {_e(dict(m.details).get("report", ""))}</li>'
            for m in stuck
        )
        reports = f'<section class="reports"><h2>Group reports</h2><ul id="reports">{items}</ul></section>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{_e(t.title)}: timeline</title>
<style>{css}</style></head>
<body>
<header>
<h1>{_e(t.title)}</h1>
<div class="meta"><span class="result-{_e(t.result)}">{_e(t.result.upper())}</span>
<span>{len(t.lanes)} devices, {failed} not passed</span><span>{calls} calls, {len(t.rounds)} sync rounds</span>
<span>{t.duration:.3f} s</span><span>started {_e(t.started_at or "(time unknown)")}</span>
<span>from {_e(t.source)}</span></div>
{f'<ul class="notes">{notes}</ul>' if notes else ""}
<div class="controls">window: <input id="from" type="number" step="any" min="0"> to
<input id="to" type="number" step="any" min="0"> s <button id="apply">show</button>
<button id="zin">zoom in</button><button id="zout">zoom out</button><button id="left">◀</button>
<button id="right">▶</button><button id="all">whole run</button>
<span class="sub">drag or scroll on the time axis to zoom; hover or click an element for details</span></div>
<div class="legend">{legend}</div>
</header>
<div id="axisbox">{axis}</div>
<div id="lanebox">{lanes}</div>
{reports}
<aside id="details" hidden></aside>
<script type="application/json" id="data">{payload}</script>
<script>{script}</script>
</body></html>
"""
