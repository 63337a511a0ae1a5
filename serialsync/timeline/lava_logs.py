"""A timeline from LAVA MultiNode job logs: one YAML log per sub-job, as LAVA stores them.

Each log is a YAML list of ``- {dt: ..., lvl: ..., msg: ...}`` entries. The
board's console (``lvl: target``) holds the markers LAVA's helpers printed
and the replies the dispatcher typed back; their entries' times give each
call's start and end. The protocol events come from replay.iter_log, the
same reader `serialsync replay LOG` uses; this module adds the times, the
replies, LAVA's actions (``start: 1.2 name`` / ``end: ...``) and results.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from ..protocol import wire
from ..protocol.events import RejectedRequest, SendRequest, SyncRequest, WaitAllRequest, WaitRequest
from ..replay import CONSOLE_LEVELS, ReplayError, is_lava_log, iter_log
from .model import (
    CONSOLE_AFTER,
    CONSOLE_BEFORE,
    CONSOLE_WIDTH,
    Bar,
    Lane,
    Mark,
    Timeline,
    TimelineError,
    call_label,
    clean,
    format_data,
    link_group,
    outcome_of,
)

MAX_ENTRY_LINES = 64  # lines one entry may be wrapped over
END_SLACK = 2.0  # seconds between a sub-job's end and a nack it caused in another
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ACTION = re.compile(r"^(start|end): (\d+(?:\.\d+)*) (\S+)")
_REPLY = re.compile(f"<({wire.LAVA_WAIT_ALL_COMPLETE}|{wire.LAVA_WAIT_COMPLETE}|{wire.LAVA_SYNC_COMPLETE})( [^>]*)?>")
_REPLY_API = {
    wire.LAVA_SYNC_COMPLETE: "lava-sync",
    wire.LAVA_WAIT_COMPLETE: "lava-wait",
    wire.LAVA_WAIT_ALL_COMPLETE: "lava-wait-all",
}
_OP_API = {wire.LAVA_SYNC: "lava-sync", wire.LAVA_WAIT: "lava-wait", wire.LAVA_WAIT_ALL: "lava-wait-all"}
_ROLE = re.compile(r"(?:\brole\b['\"]?\s*[:=]\s*['\"]?|lava-test-shell\b.*\[)([A-Za-z0-9_.-]+)")
_TIMED_OUT = re.compile(r"timed out|timeout", re.IGNORECASE)


def check_lava_log(path: Path) -> None:
    """TimelineError unless *path* is a readable LAVA job log."""
    try:
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError as e:
        raise TimelineError(f"{path}: cannot read: {e.strerror or e}") from e
    if not is_lava_log(head):
        raise TimelineError(
            f"{path}: not a LAVA job log (expected a YAML list of '- {{dt: ..., lvl: ..., msg: ...}}' entries)"
        )


def _time(value: object, where: str) -> float:
    """An entry's dt as seconds since the epoch; LAVA writes UTC without an offset."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as e:
        raise TimelineError(f"{where}: 'dt' is not an ISO 8601 time: {value!r}") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _entries(path: Path) -> Iterator[tuple[int, dict]]:
    """(first line, entry) of each entry, read as it is used; a wrapped entry's lines are joined."""
    first, pending = 0, []

    def load() -> dict:
        text = b"".join(pending)
        try:
            items = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError as e:
            raise TimelineError(f"{path}:{first}: not a LAVA log entry: {e}") from e
        if not (isinstance(items, list) and len(items) == 1 and isinstance(items[0], dict)):
            raise TimelineError(f"{path}:{first}: not a LAVA log entry (one '- {{dt, lvl, msg}}' a line)")
        entry = items[0]
        if not {"dt", "lvl", "msg"} <= entry.keys():
            raise TimelineError(f"{path}:{first}: a LAVA log entry needs 'dt', 'lvl' and 'msg'")
        return entry

    with path.open("rb") as stream:
        for number, line in enumerate(stream, 1):
            if pending and line[:1] in (b" ", b"\t") and len(pending) < MAX_ENTRY_LINES:
                pending.append(line)
                continue
            if pending:
                yield first, load()
                pending = []
            if not line.strip() or line.startswith(b"#"):
                continue
            first, pending = number, [line]
        if pending:
            yield first, load()


@dataclass
class _Open:
    bar: Bar
    after: int = 0  # console lines still to add after its reply


@dataclass
class _SubJob:
    """One log as it is read: absolute times (seconds since the epoch) until the group is known."""

    name: str
    role: str = ""
    result: str = ""
    reason: str = ""
    start: float | None = None
    end: float = 0.0
    bars: list[Bar] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    actions: dict[str, Bar] = field(default_factory=dict)  # open actions by level
    action_results: dict[str, str] = field(default_factory=dict)
    pending: list[Bar] = field(default_factory=list)  # calls awaiting their reply, oldest first
    filling: list[_Open] = field(default_factory=list)  # bars still gathering console lines after them
    before: deque[str] = field(default_factory=lambda: deque(maxlen=CONSOLE_BEFORE))
    timeout_said: float = float("-inf")  # when LAVA last wrote of a timeout (not on the console)


def from_lava_logs(paths: list[Path]) -> Timeline:
    """The timeline of a LAVA MultiNode job from its sub-jobs' logs (one lane each)."""
    if not paths:
        raise TimelineError("no LAVA job log given")
    for path in paths:
        if not path.is_file():
            raise TimelineError(f"{path}: no such file")
        check_lava_log(path)
    subjobs = [_read(path, index) for index, path in enumerate(paths)]
    names = [s.name for s in subjobs]
    if len(set(names)) != len(names):
        raise TimelineError(f"two logs have the same name ({', '.join(names)}): each sub-job needs its own file name")
    zero = min(s.start for s in subjobs if s.start is not None) if any(s.start is not None for s in subjobs) else 0.0
    timeline = Timeline(
        title=f"LAVA MultiNode job: {', '.join(names)}"
        if len(names) <= 4
        else f"LAVA MultiNode job: {len(names)} sub-jobs",
        source=" ".join(str(p) for p in paths),
        result="pass" if all(s.result == "pass" for s in subjobs) else "fail",
        started_at=datetime.fromtimestamp(zero, UTC).isoformat(timespec="milliseconds"),
        duration=0.0,
        lanes=[],
        notes=["reconstructed from LAVA job logs: each call from its marker to the dispatcher's reply on the console"],
    )
    for index, sub in enumerate(subjobs):
        start = (sub.start if sub.start is not None else zero) - zero
        lane = Lane(index, sub.name, sub.role, sub.result, sub.reason, start, sub.end - zero, sub.bars)
        for bar in sub.bars:
            bar.start -= zero
            bar.end -= zero
        for mark in sub.marks:
            mark.at -= zero
        failed = sub.result != "pass"
        text = f"failed: {sub.reason}" if failed and sub.reason else ("failed" if failed else "finished")
        sub.marks.append(
            Mark(f"d{index}", index, "failed" if failed else "left", lane.end, f"{sub.name} {text}",
                 details=[("sub-job", sub.name), ("result", sub.result), ("ended", text)])
        )  # fmt: skip
        timeline.lanes.append(lane)
        timeline.marks.extend(sub.marks)
    timeline.duration = max((lane.end for lane in timeline.lanes), default=0.0)
    _blame_ends(timeline)
    link_group(timeline)
    return timeline


def _blame_ends(timeline: Timeline) -> None:
    """LAVA's nack names no one: a call nacked while it waited, just as another sub-job that
    failed ended (within END_SLACK), is said to have failed because of it."""
    for bar in timeline.calls():
        if bar.outcome != "nack" or bar.end - bar.start < END_SLACK:
            continue
        for lane in timeline.lanes:
            if lane.index != bar.lane and lane.result != "pass" and 0 <= bar.end - lane.end <= END_SLACK:
                bar.reason += f"; {lane.name}'s sub-job ended at {lane.end:.3f} s ({lane.result})"
                bar.details = [(k, bar.reason if k == "reason" else v) for k, v in bar.details]


def _read(path: Path, index: int) -> _SubJob:
    sub = _SubJob(name=clean(path.name.removesuffix(".yaml").removesuffix(".yml"), 80))
    events = iter_log(path)
    calls = 0
    try:
        waiting = next(events, None)
        for number, entry in _entries(path):
            at = _time(entry["dt"], f"{path}:{number}")
            sub.start = at if sub.start is None else sub.start
            sub.end = max(sub.end, at)
            level, msg = entry["lvl"], entry["msg"]
            console = level in CONSOLE_LEVELS and isinstance(msg, str)
            if console:
                _console_line(sub, at, msg)
            elif isinstance(msg, str):
                _dispatcher_line(sub, level, msg, at, index)
            elif level == "results" and isinstance(msg, dict):
                _result(sub, msg, at, index)
            while waiting is not None and 0 < waiting.line <= number:
                if waiting.line == number:
                    calls = _request(sub, waiting.event, at, index, calls)
                waiting = next(events, None)
    except ReplayError as e:
        raise TimelineError(str(e)) from e
    for bar in sub.pending:
        bar.end = sub.end
        bar.reason = "no reply in the log: it ends while the call waits"
        bar.outcome = "timeout"
        bar.details += [("outcome", "timeout"), ("reason", bar.reason)]
    for level, bar in sub.actions.items():
        bar.end = sub.end
        bar.outcome = sub.action_results.get(level, "fail")
        bar.details.append(("result", f"{bar.outcome} (the log ends before the action's end)"))
    if not sub.result:
        sub.result = "incomplete"
        sub.reason = sub.reason or "the log has no job result"
    return sub


def _console_line(sub: _SubJob, at: float, msg: str) -> None:
    line = f"[{at - (sub.start or at):9.3f}] {clean(msg, CONSOLE_WIDTH)}"
    kept = []
    for item in sub.filling:
        item.bar.console.append(line)
        if item.after > 1:
            kept.append(_Open(item.bar, item.after - 1))
    sub.filling = kept
    reply = _REPLY.search(msg)
    if reply is not None:
        api = _REPLY_API[reply.group(1)]
        bar = next((b for b in sub.pending if b.api == api), None)
        if bar is not None:  # else: the same reply again (echo after the dispatcher's own line)
            sub.pending.remove(bar)
            nack = (reply.group(2) or "").strip() == wire.LAVA_NACK
            said = (
                f"; LAVA logged a timeout at {at - sub.timeout_said:.1f} s before"
                if sub.timeout_said >= bar.start
                else ""
            )
            reason = f"the dispatcher answered nack{said}" if nack else ""
            bar.end, bar.reason = at, reason
            bar.outcome = outcome_of(not nack, reason)
            bar.details += [
                ("outcome", bar.outcome),
                ("waited", f"{at - bar.start:.3f} s"),
                ("reply", clean(reply.group(0))),
            ]
            if reason:
                bar.details.append(("reason", reason))
            bar.console = [*sub.before, line, "── ▲ the reply ──"]
            sub.filling.append(_Open(bar, CONSOLE_AFTER))
    sub.before.append(line)


def _dispatcher_line(sub: _SubJob, level: str, msg: str, at: float, index: int) -> None:
    found = _ROLE.search(msg) if not sub.role and level in ("info", "debug") else None
    if found and found.group(1) != "common":  # [common] is LAVA's namespace, not a role
        sub.role = clean(found.group(1), 64)
    if level in ("error", "exception") and not sub.reason:
        sub.reason = clean(msg)
    if level != "target" and _TIMED_OUT.search(msg):
        sub.timeout_said = at
    action = _ACTION.match(msg) if level == "info" else None
    if action is None:
        return
    what, number, name = action.groups()
    if what == "start":
        if number.count(".") == 0:  # top-level actions: deploy, boot, test
            sub.actions[number] = Bar(
                id=f"s{index}.{len(sub.bars)}", lane=index, kind="step", start=at, end=at, label=clean(name, 80),
                outcome="pass", details=[("action", f"{number} {clean(name, 80)}"), ("started", clean(msg))],
            )  # fmt: skip
            sub.bars.append(sub.actions[number])
    elif number in sub.actions:
        bar = sub.actions.pop(number)
        bar.end = at
        bar.outcome = sub.action_results.get(number, "pass")
        bar.details += [("ended", clean(msg)), ("result", bar.outcome)]


def _result(sub: _SubJob, msg: dict, at: float, index: int) -> None:
    definition, case, result = msg.get("definition"), str(msg.get("case", "")), str(msg.get("result", ""))
    if definition == "lava":
        if case == "job":
            sub.result = clean(result, 20)
        elif msg.get("level") is not None:
            level = str(msg["level"])
            sub.action_results[level] = clean(result, 20)
            if level in sub.actions:
                sub.actions[level].outcome = clean(result, 20)
        return
    details = [("test case", clean(case, 128)), ("definition", clean(definition, 128)), ("result", clean(result, 20))]
    if msg.get("measurement") is not None:
        details.append(("measurement", clean(f"{msg['measurement']} {msg.get('units') or ''}", 80)))
    sub.marks.append(
        Mark(f"t{index}.{len(sub.marks)}", index, "testcase", at, clean(case, 80), outcome=clean(result, 20),
             details=details)
    )  # fmt: skip


def _request(sub: _SubJob, event: object, at: float, index: int, calls: int) -> int:
    if isinstance(event, RejectedRequest):
        if event.op not in _OP_API:
            return calls
        api, message_id, role, data = _OP_API[event.op], "", "", None
    elif isinstance(event, SendRequest | SyncRequest | WaitRequest | WaitAllRequest):
        api = {SendRequest: "lava-send", SyncRequest: "lava-sync", WaitRequest: "lava-wait"}.get(
            type(event), "lava-wait-all"
        )
        message_id, role = event.message_id, getattr(event, "role", None) or ""
        data = event.data if isinstance(event, SendRequest) else None
    else:
        return calls
    bar = Bar(
        id=f"c{index}.{calls}", lane=index, kind="call", start=at, end=at, label=call_label(api, message_id, role),
        outcome="ok", api=api, message_id=message_id, role=role,
        details=[("call", call_label(api, message_id, role)), ("made by", "the board (LAVA's helper)")],
    )  # fmt: skip
    if isinstance(event, RejectedRequest):
        bar.details.append(("marker", f"rejected: {clean(event.reason)}"))
    if data is not None:
        bar.details += [("outcome", "ok (LAVA's lava-send reads no reply)"), ("data sent", format_data(data))]
        bar.console = [*sub.before, "── ▲ the marker ──"]
        sub.filling.append(_Open(bar, CONSOLE_AFTER))
    else:
        sub.pending.append(bar)
    sub.bars.append(bar)
    return calls + 1
