"""What a timeline shows, as data: lanes, bars, sync rounds, links and marks.

A Timeline is built from a run's output directory (results.json and the
console logs beside it, see from_run) or from LAVA job logs (lava_logs.py);
render.py draws it. Times are seconds since the run started, shared by
every lane, so the devices line up.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .._text import ESCAPES
from ..errors import SerialsyncError
from ..protocol.events import SendRequest
from ..replay import ReplayError, iter_log

CONSOLE_BEFORE = 5  # console lines shown before a moment
CONSOLE_AFTER = 2  # and after it
CONSOLE_WIDTH = 160  # characters kept of each console line
TEXT_WIDTH = 600  # characters kept of a reason, a command, a value
BLOCKING = ("lava-sync", "lava-wait", "lava-wait-all")


class TimelineError(SerialsyncError):
    """The input is not a run's output (or a set of LAVA job logs) a timeline can be made of."""


@dataclass
class Bar:
    """A step, a test action or a multinode call, from start to end on its lane."""

    id: str  # unique in the timeline: "s3.2" (lane 3, step 2), "c3.7" (lane 3, call 7)
    lane: int
    kind: str  # "step" | "call" | "request" (a protocol request the host made for the device)
    start: float
    end: float
    label: str  # what the bar says: a step's name, a call's "lava-sync round"
    outcome: str  # step: pass | fail | skip; call: ok | nack | timeout
    api: str = ""
    message_id: str = ""
    role: str = ""  # the role a lava-wait-all waited for
    reason: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)  # shown on hover/click
    console: list[str] = field(default_factory=list)  # console lines around its end


@dataclass
class Mark:
    """A moment: a device failed or left; a test case; the group reported stuck (lane -1)."""

    id: str
    lane: int
    kind: str  # "failed" | "left" | "testcase" | "stuck"
    at: float
    label: str
    outcome: str = ""  # a test case's result
    details: list[tuple[str, str]] = field(default_factory=list)
    caused: list[str] = field(default_factory=list)  # ids of the calls that failed because of it
    console: list[str] = field(default_factory=list)


@dataclass
class Round:
    """One round of a lava-sync ID: the n-th sync of that ID on each device that reached it."""

    id: str
    message_id: str
    number: int  # 1 for the first round of this ID, 2 for its reuse, ...
    at: float  # when the barrier released (or the last of its calls ended, if none passed)
    lanes: list[int]  # the lanes that met there (their call is in the round)
    calls: list[str]  # the calls in it
    ok: bool  # every call in it passed


@dataclass
class Link:
    """The lava-send that released a lava-wait / lava-wait-all."""

    id: str
    source: str  # the send's bar id
    target: str  # the wait's bar id
    message_id: str
    start: float  # the send
    end: float  # the release
    last: bool  # the send the wait waited for last (a wait-all waits for several)


@dataclass
class Lane:
    index: int
    name: str
    role: str
    result: str  # pass | fail | interrupted | ...
    reason: str
    start: float
    end: float
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Timeline:
    title: str
    source: str  # what it was made from, as the user named it
    result: str
    started_at: str  # wall clock of time 0, ISO 8601 ("" when unknown)
    duration: float
    lanes: list[Lane]
    marks: list[Mark] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said above the picture: interrupted, approximate times
    approximate: bool = False  # times laid out from durations (an older results.json)

    @property
    def bars(self) -> Iterator[Bar]:
        for lane in self.lanes:
            yield from lane.bars

    def bar(self, bar_id: str) -> Bar:
        return next(b for b in self.bars if b.id == bar_id)

    def calls(self) -> list[Bar]:
        return [b for b in self.bars if b.kind != "step"]


# --- text from boards: untrusted, made short and printable -----------------------------------
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: object, width: int = TEXT_WIDTH) -> str:
    """Text a board printed, fit to show: no escapes or controls, at most *width* characters."""
    text = _INVISIBLE.sub("", ESCAPES.sub("", "" if text is None else str(text)))
    return text if len(text) <= width else text[: width - 1] + "…"


def outcome_of(ok: bool, reason: str) -> str:
    """A call's outcome: ok, nack, or timeout (a nack because its deadline passed)."""
    if ok:
        return "ok"
    return "timeout" if re.search(r"\btimed out\b|\btimeout\b", reason) else "nack"


def call_label(api: str, message_id: str, role: str = "") -> str:
    return " ".join(x for x in (api, message_id, role) if x)


# --- what is drawn between lanes: rounds, links, who failed whom ------------------------------
def link_group(timeline: Timeline) -> None:
    """Rounds, links and the calls each failure caused, from the lanes' bars (times set)."""
    timeline.rounds = _rounds(timeline)
    timeline.links = _links(timeline)
    _causes(timeline)


def _rounds(timeline: Timeline) -> list[Round]:
    # The n-th lava-sync of an ID on each device met the n-th of every other device: a reused ID
    # (a sync in a loop) makes one round per pass.
    rounds: dict[tuple[str, int], list[Bar]] = defaultdict(list)
    for lane in timeline.lanes:
        seen: dict[str, int] = defaultdict(int)
        for bar in sorted((b for b in lane.bars if b.api == "lava-sync"), key=lambda b: b.start):
            seen[bar.message_id] += 1
            rounds[(bar.message_id, seen[bar.message_id])].append(bar)
    out = []
    for (message_id, number), bars in rounds.items():
        passed = [b.end for b in bars if b.outcome == "ok"]
        at = min(passed) if passed else max(b.end for b in bars)
        out.append(
            Round(
                id=f"r{len(out)}",
                message_id=message_id,
                number=number,
                at=at,
                lanes=sorted({b.lane for b in bars}),
                calls=[b.id for b in bars],
                ok=len(passed) == len(bars),
            )
        )
    out.sort(key=lambda r: (r.at, r.message_id))
    for i, item in enumerate(out):
        item.id = f"r{i}"
    return out


def _links(timeline: Timeline) -> list[Link]:
    """Each passed wait linked to the send(s) that released it: per sender, its last send of the
    ID before the wait ended (a wait-all of a role: every device of the role; a wait: the last send)."""
    # results.json rounds times to the millisecond; with times laid out by durations, order is unknown
    slack = math.inf if timeline.approximate else 0.002
    sends: dict[str, list[Bar]] = defaultdict(list)
    for bar in timeline.bars:
        if bar.api == "lava-send" and bar.outcome == "ok":
            sends[bar.message_id].append(bar)
    for items in sends.values():
        items.sort(key=lambda b: b.end)
    roles = {lane.index: lane.role for lane in timeline.lanes}
    links: list[Link] = []
    for wait in sorted(timeline.bars, key=lambda b: b.end):
        if wait.api not in ("lava-wait", "lava-wait-all") or wait.outcome != "ok":
            continue
        candidates = sends.get(wait.message_id, [])
        ends = [b.end for b in candidates]
        before = candidates[: bisect.bisect_right(ends, wait.end + slack)]
        if wait.api == "lava-wait-all":
            latest: dict[int, Bar] = {}
            for send in before:
                if not wait.role or roles.get(send.lane) == wait.role:
                    latest[send.lane] = send
            chosen = sorted(latest.values(), key=lambda b: b.end)
        else:
            chosen = before[-1:]
        for i, send in enumerate(chosen):
            links.append(
                Link(
                    id=f"l{len(links)}",
                    source=send.id,
                    target=wait.id,
                    message_id=wait.message_id,
                    start=send.end,
                    end=wait.end,
                    last=i == len(chosen) - 1,
                )
            )
    return links


def _causes(timeline: Timeline) -> None:
    """Which failed calls name a device that failed or left before they ended."""
    for mark in timeline.marks:
        if mark.kind not in ("failed", "left") or mark.lane < 0:
            continue
        name = re.escape(timeline.lanes[mark.lane].name)
        named = re.compile(rf"(?<![\w.-]){name}(?![\w.-])")
        gone = re.compile(rf"(?<![\w.-]){name} (?:left|has left)|group ended: {name}(?![\w.-])|{name}'s sub-job ended")
        for bar in timeline.calls():
            if bar.outcome == "ok" or bar.lane == mark.lane or not named.search(bar.reason):
                continue
            if gone.search(bar.reason) or bar.end >= mark.at - 0.002:
                mark.caused.append(bar.id)


# --- console lines around moments -------------------------------------------------------------
def console_around(lines: Iterable[tuple[float, str]], moments: list[float]) -> list[list[str]]:
    """For each moment (sorted or not), the console lines just before and after it.

    *lines* are (time, text) in time order, read once; memory holds only the
    few lines asked for, however long the console.
    """
    order = sorted(range(len(moments)), key=lambda i: moments[i])
    out: list[list[str]] = [[] for _ in moments]
    before: deque[str] = deque(maxlen=CONSOLE_BEFORE)
    filling: list[tuple[int, int]] = []  # (moment index, lines still wanted after it)
    nxt = 0
    for at, text in lines:
        while nxt < len(order) and moments[order[nxt]] < at - 0.0005:  # times are kept to the millisecond
            out[order[nxt]] = [*before, "── ▲ this moment ──"]
            filling.append((order[nxt], CONSOLE_AFTER))
            nxt += 1
        line = f"[{at:9.3f}] {clean(text, CONSOLE_WIDTH)}"
        kept = []
        for index, wanted in filling:
            out[index].append(line)
            if wanted > 1:
                kept.append((index, wanted - 1))
        filling = kept
        before.append(line)
    for index in order[nxt:]:
        out[index] = [*before, "── ▲ this moment ──"]
    return out


_STAMPED = re.compile(r"^\[\s*(\d+(?:\.\d+)?)\] ?(.*)$")


def _stamped_lines(path: Path, offset: float) -> Iterator[tuple[float, str]]:
    """A timestamped console log's lines, their times moved onto the run's axis."""
    last = 0.0
    with path.open(encoding="utf-8", errors="replace") as stream:
        for raw in stream:
            found = _STAMPED.match(raw.rstrip("\r\n"))
            if found:
                last = float(found.group(1)) + offset
                yield last, found.group(2)
            elif raw.strip():
                yield last, raw.rstrip("\r\n")  # a line without its stamp: the last one's time


# --- a run's output directory -------------------------------------------------------------------
def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def load_results(directory: Path) -> dict:
    results = directory / "results.json"
    if not directory.is_dir():
        raise TimelineError(f"{directory}: not a directory")
    if not results.is_file():
        raise TimelineError(f"{directory} has no results.json: is it the output directory of serialsync run?")
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TimelineError(f"{results}: cannot read it: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("devices"), list):
        raise TimelineError(f"{results}: not the results.json of serialsync run (no 'devices' list)")
    return data


def from_run(directory: Path) -> Timeline:
    """The timeline of a run from its output directory: results.json, console logs beside it."""
    data = load_results(directory)
    notes: list[str] = []
    if data.get("interrupted"):
        notes.append(f"the run was interrupted: {clean(data['interrupted'])}")
    timeline = Timeline(
        title=clean(data.get("job") or directory.name, 200),
        source=str(directory),
        result=clean(data.get("result") or "?", 40),
        started_at=clean(data.get("started_at") or "", 40),
        duration=_number(data.get("duration")) or 0.0,
        lanes=[],
        notes=notes,
    )
    approximate = False
    for index, device in enumerate(data["devices"]):
        if not isinstance(device, dict) or not isinstance(device.get("name"), str):
            raise TimelineError(f"{directory / 'results.json'}: device {index + 1} has no name")
        lane, guessed = _lane(index, device)
        approximate |= guessed
        timeline.lanes.append(lane)
        timeline.marks.extend(_device_marks(lane, device))
        _fill_console(lane, timeline.marks, directory)
        _fill_sent_data(lane, directory)
    for i, event in enumerate(data.get("group_events") or []):
        text, at = clean(event.get("text")), _number(event.get("start"))
        if text and at is not None:
            timeline.marks.append(Mark(f"g{i}", -1, "stuck", at, "group stuck", details=[("report", text)]))
    timeline.approximate = approximate
    if approximate:
        notes.append("results.json has no times (an older run): bars are laid end to end by their durations")
    end = max([timeline.duration, *(lane.end for lane in timeline.lanes)])
    timeline.duration = end
    link_group(timeline)
    return timeline


def _lane(index: int, device: dict) -> tuple[Lane, bool]:
    lane = Lane(
        index=index,
        name=clean(device["name"], 80),
        role=clean(device.get("role") or "", 80),
        result=clean(device.get("result") or "?", 40),
        reason=clean(device.get("reason") or ""),
        start=_number(device.get("start")) or 0.0,
        end=0.0,
    )
    guessed = False
    cursor = lane.start
    for n, step in enumerate(device.get("steps") or []):
        start, end = _number(step.get("start")), _number(step.get("end"))
        if step.get("result") == "skip" and start is None:
            continue  # never ran: nothing to draw (the device's reason says why)
        if start is None or end is None:  # results.json of an older run: durations only
            guessed = True
            start, end = cursor, cursor + (_number(step.get("duration")) or 0.0)
        cursor = end
        name = step.get("name") or f"step-{step.get('index', n + 1)}"
        lane.bars.append(
            Bar(
                id=f"s{index}.{n}",
                lane=index,
                kind="step",
                start=start,
                end=end,
                label=clean(name, 80),
                outcome=clean(step.get("result") or "?", 20),
                reason=clean(step.get("reason") or ""),
                details=[
                    ("step", clean(name, 80)),
                    ("command", clean(step.get("command") or "")),
                    ("result", clean(step.get("result") or "")),
                    ("exit status", str(step.get("exit_status", ""))),
                    ("reason", clean(step.get("reason") or "")),
                    ("output (end)", clean(step.get("output_tail") or "")),
                ],
            )
        )
    untimed: list[Bar] = []
    for n, call in enumerate(device.get("calls") or []):
        waited = _number(call.get("waited")) or 0.0
        start, end = _number(call.get("start")), _number(call.get("end"))
        api, message_id = clean(call.get("api") or "?", 40), clean(call.get("message_id") or "", 128)
        role, reason = clean(call.get("role") or "", 64), clean(call.get("reason") or "")
        ok = bool(call.get("ok"))
        by_host = call.get("kind") == "request"
        details = [("call", call_label(api, message_id, role)), ("outcome", outcome_of(ok, reason))]
        if by_host:
            details.append(("made by", "the host: a protocol request of the job"))
        if reason:
            details.append(("reason", reason))
        for name, line in (call.get("last_console_lines") or {}).items():
            details.append((f"{clean(name, 64)} last printed", clean(line, CONSOLE_WIDTH)))
        bar = Bar(
            id=f"c{index}.{n}",
            lane=index,
            kind="request" if by_host else "call",
            start=start if start is not None else 0.0,
            end=end if end is not None else waited,
            label=call_label(api, message_id, role),
            outcome=outcome_of(ok, reason),
            api=api,
            message_id=message_id,
            role=role,
            reason=reason,
            details=details,
        )
        lane.bars.append(bar)
        if start is None or end is None:
            untimed.append(bar)
    if untimed:
        guessed = True
        _place_in_steps(untimed, [(b, dict(b.details).get("command", "")) for b in lane.bars if b.kind == "step"])
    ends = [b.end for b in lane.bars]
    lane.end = _number(device.get("end")) or max([lane.start + (_number(device.get("duration")) or 0.0), *ends])
    return lane, guessed


def _place_in_steps(calls: list[Bar], steps: list[tuple[Bar, str]]) -> None:
    """Times for calls an older results.json gives only durations for: each call goes into the
    first step from the last one used whose command names its helper, spread evenly in it."""
    if not steps:
        return
    placed: dict[int, list[Bar]] = defaultdict(list)
    current = 0
    for call in calls:
        helper = re.compile(rf"{re.escape(call.api)}(?![\w-])")
        found = next((j for j in range(current, len(steps)) if helper.search(steps[j][1])), current)
        current = found
        placed[found].append(call)
    for j, members in placed.items():
        step = steps[j][0]
        share = (step.end - step.start) / len(members)
        for k, call in enumerate(members):
            waited = call.end
            call.end = step.start + (k + 1) * share
            call.start = max(step.start + k * share, call.end - waited)


def _device_marks(lane: Lane, device: dict) -> list[Mark]:
    marks = []
    for n, case in enumerate(device.get("test_cases") or []):
        at = _number(case.get("start"))
        if at is None:
            continue
        details = [("test case", clean(case.get("name"), 128)), ("result", clean(case.get("result"), 20))]
        if case.get("measurement") is not None:
            details.append(("measurement", clean(f"{case.get('measurement')} {case.get('units') or ''}", 80)))
        marks.append(
            Mark(f"t{lane.index}.{n}", lane.index, "testcase", at, clean(case.get("name"), 80),
                 outcome=clean(case.get("result"), 20), details=details)
        )  # fmt: skip
    failed = lane.result not in ("pass", "?")
    kind = "failed" if failed else "left"
    text = f"{'failed' if failed else 'finished'}: {lane.reason}" if lane.reason else "finished its steps"
    # It left the group when its last step or call ended (the console closes a little later).
    left = max((b.end for b in lane.bars), default=lane.end)
    marks.append(
        Mark(f"d{lane.index}", lane.index, kind, left, f"{lane.name} {text}",
             details=[("device", lane.name), ("result", lane.result), ("left the group", text)])
    )  # fmt: skip
    return marks


def _fill_console(lane: Lane, marks: list[Mark], directory: Path) -> None:
    """Console lines around each call's reply, each failed step's end, the device's end."""
    path = directory / f"{lane.name}.console.timestamped.log"
    if not path.is_file():
        return
    items: list[Bar | Mark] = [b for b in lane.bars if b.kind != "step" or b.outcome == "fail"]
    items += [m for m in marks if m.lane == lane.index and m.kind in ("failed", "left")]
    try:
        found = console_around(_stamped_lines(path, lane.start), [i.end if isinstance(i, Bar) else i.at for i in items])
    except OSError:
        return
    for item, lines in zip(items, found, strict=True):
        item.console = lines


def _fill_sent_data(lane: Lane, directory: Path) -> None:
    """The data of each lava-send the board made, from the markers in its raw console log:
    the n-th send marker of an ID is the n-th lava-send call of that ID."""
    path = directory / f"{lane.name}.console.log"
    sends: dict[str, list[Bar]] = defaultdict(list)
    for bar in lane.bars:
        if bar.kind == "call" and bar.api == "lava-send":
            sends[bar.message_id].append(bar)
    if not sends or not path.is_file():
        return
    seen: dict[str, int] = defaultdict(int)
    try:
        for found in iter_log(path):
            event = found.event
            if not isinstance(event, SendRequest) or event.message_id not in sends:
                continue
            n = seen[event.message_id]
            seen[event.message_id] += 1
            if n < len(sends[event.message_id]):
                sends[event.message_id][n].details.append(("data sent", format_data(event.data)))
    except ReplayError:
        return


def format_data(data: Iterable[tuple[str, bytes]]) -> str:
    pairs = [f"{key}={value.decode('utf-8', 'replace')!r}" for key, value in data]
    return clean(" ".join(pairs)) if pairs else "(no data)"
