"""Recorded console logs: the protocol events in them, and boards played back from them.

Two forms are read: raw console bytes (what `serialsync run` saves as
DEVICE.console.log, or any capture), and LAVA's YAML job log, one
``- {"dt": ..., "lvl": ..., "msg": ...}`` entry a line, of which the
``target`` and ``feedback`` entries are the board's console output. Each
event comes with the line of the log where it ended, counted as ``grep -n``
counts (only LF ends a line). Logs are read as they are used, a chunk or a
line at a time, so a log of any size is replayed in flat memory.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pexpect
import yaml

from ._time import Deadline, format_seconds
from .console import ConsoleSession
from .coordinator import Member, MemoryCoordinator
from .errors import SerialsyncError, TransportClosed, TransportTimeout
from .protocol import wire
from .protocol.events import (
    DamagedRequest,
    Dialect,
    Discarded,
    Event,
    GroupRequest,
    LostStarts,
    RejectedRequest,
    Request,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitRequest,
)
from .protocol.parser import MarkerParser
from .transports.base import Transport
from .watcher import CallRecord, Watcher

# LAVA's levels that carry what the board printed (feedback: a secondary console).
CONSOLE_LEVELS = frozenset({"target", "feedback"})
_LAVA_ENTRY = re.compile(rb'^- \{\s*"?dt"?\s*:')


class ReplayError(SerialsyncError):
    """A log that cannot be read as either form."""


@dataclass(frozen=True)
class Found:
    line: int  # 1-based line of the log where the event's last byte was
    event: Event


def is_lava_log(head: bytes) -> bool:
    first = next((line for line in head.splitlines() if line.strip() and not line.startswith(b"#")), b"")
    return bool(_LAVA_ENTRY.match(first))


CHUNK = 64 * 1024  # bytes read at a time: memory stays flat however long the log
MAX_ENTRY_LINES = 64  # lines one LAVA entry may be wrapped over
# libyaml's loader where PyYAML has it: the same entries, several times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def console_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(log line, console bytes) of a raw or LAVA YAML log, in order, read as it is used.

    Lines are counted as ``grep -n`` and editors count them: only LF ends a
    line (a lone CR is no break; CR LF is one). A raw log comes in pieces of at
    most CHUNK bytes, a line longer than that in several pieces with the same
    number, so no line is ever held whole.
    """
    try:
        with path.open("rb") as stream:
            # Peeked, not read: a pipe (`replay <(zcat job.log.gz)`) cannot seek back.
            lava = is_lava_log(stream.peek(4096)[:4096])
            yield from (_lava_lines(path, stream) if lava else _raw_lines(stream))
    except OSError as e:
        raise ReplayError(f"{path}: cannot read: {e}") from e


def _raw_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    number = 1
    while data := stream.read(CHUNK):
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            yield number, data[start : end + 1]
            number += 1
            start = end + 1
        if start < len(data):
            yield number, data[start:]  # the line goes on in the next read


def _lava_lines(path: Path, stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """The board's output in a LAVA job log: one entry a line, read line by line.

    An entry that does not parse alone is joined with the indented lines after
    it (a YAML dumper may wrap a long entry); its events get its first line.
    """
    first, pending = 0, []
    for number, line in enumerate(stream, 1):
        if pending:
            if line[:1] in (b" ", b"\t") and len(pending) < MAX_ENTRY_LINES:
                pending.append(line)
                entry = _lava_entry(path, first, b"".join(pending), final=False)
                if entry is not None:
                    pending = []
                    yield from _console_of(entry, first)
                continue
            _lava_entry(path, first, b"".join(pending), final=True)  # raises: the entry never ended
        if not line.strip() or line.startswith(b"#"):
            continue
        entry = _lava_entry(path, number, line, final=False)
        if entry is None:
            first, pending = number, [line]
            continue
        yield from _console_of(entry, number)
    if pending:
        _lava_entry(path, first, b"".join(pending), final=True)


def _lava_entry(path: Path, number: int, text: bytes, *, final: bool) -> dict | None:
    """The entry in *text*; None if it does not parse (yet), or ReplayError when *final*."""
    try:
        (entry,) = yaml.load(text, Loader=_YAML_LOADER)  # a safe loader: plain data only
    except (yaml.YAMLError, TypeError, ValueError) as e:
        if final:
            raise ReplayError(f"{path}:{number}: not a LAVA log entry: {e}") from e
        return None
    if not isinstance(entry, dict) or "lvl" not in entry or "msg" not in entry:
        raise ReplayError(f"{path}:{number}: a LAVA log entry needs 'lvl' and 'msg'")
    return entry


def _console_of(entry: dict, number: int) -> Iterator[tuple[int, bytes]]:
    if entry["lvl"] in CONSOLE_LEVELS and isinstance(entry["msg"], str):
        # LAVA logs the console line by line, without the line end.
        yield number, entry["msg"].encode("utf-8", "surrogateescape") + b"\n"


def iter_log(path: Path, parser: MarkerParser | None = None) -> Iterator[Found]:
    """Every protocol event in the log, with its line, damage and discards included, as it is read.

    Events still open when the log ends come last, with line 0.
    """
    parser = parser or MarkerParser()
    for number, data in console_lines(path):
        parser.receive_data(data)
        lost = 0
        for event in parser.events():
            if isinstance(event, LostStarts):
                lost += event.count  # shown as damage, after the read's other events
            else:
                yield Found(number, event)
        for _ in range(lost):
            yield Found(number, DamagedRequest(reason="a marker whose start was damaged", size=0))
    parser.receive_data(b"")
    for event in parser.events():
        yield Found(0, event)


def replay_log(path: Path, parser: MarkerParser | None = None) -> list[Found]:
    """Every protocol event in the log, with its line, damage and discards included."""
    return list(iter_log(path, parser))


def event_fields(event: Event) -> dict:
    """An event as JSON-ready fields: its name, each field, and describe()'s line as "text".

    A sent value is ``{"key", "value"}``, the value as text; bytes that are not
    UTF-8 are replaced in "value" and given exactly in "base64".
    """
    out: dict = {"event": type(event).__name__}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif item.name == "data":
            value = [_pair(key, raw) for key, raw in value]
        out[item.name] = value
    out["text"] = describe(event)
    return out


def _pair(key: str, raw: bytes) -> dict:
    try:
        return {"key": key, "value": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"key": key, "value": raw.decode("utf-8", "replace"), "base64": base64.b64encode(raw).decode()}


def describe(event: Event) -> str:
    """One line a person can read: the request and its arguments, or what was wrong."""
    if isinstance(event, Discarded):
        return f"discarded {event.size} bytes: {event.reason}"
    if isinstance(event, DamagedRequest):
        return f"damaged marker: {event.reason}"
    name = type(event).__name__
    fields = {k: v for k, v in vars(event).items() if v not in (None, (), "")}
    dialect = fields.pop("dialect", None)
    parts = [f"{k}={v!r}" for k, v in fields.items()]
    return f"{name}[{getattr(dialect, 'value', dialect)}] " + " ".join(parts)


# --- a recorded console played back as a board ------------------------------------------
MAX_TYPED = 1 << 20  # bytes of what the host typed kept while a reply is awaited
_REPLY_KINDS = (SendRequest, SyncRequest, WaitRequest, WaitAllRequest, GroupRequest, RejectedRequest)


@dataclass(frozen=True)
class _Pause:
    """Where the recording stops until the host answers a request."""

    at: int  # offset in the recording just after the request's line
    request: Request
    recorded: tuple[bytes, ...]  # the reply lines as the board echoed them (empty: no echo recorded)


_PART_RE = re.compile(rb"#SERIALSYNC1 \S+ \d{1,6}/(\d{1,6}) ")


def _parts_of(line: bytes) -> int | None:
    """N of a reply line's I/N, or None when the line is too damaged to say."""
    found = _PART_RE.match(line)
    return int(found.group(1)) if found else None


def _reply_lines(request: Request, text: bytes) -> tuple[bytes, ...]:
    """The recorded echo of the reply to *request* at the start of *text* (the lines after its marker)."""
    lines = [line.rstrip(b"\r") for line in text.split(b"\n")[:64]]
    if request.dialect is Dialect.SERIALSYNC:
        prefix = wire.SS_REPLY_PREFIX + (request.token or "").encode() + b" "
        parts = [line[line.index(prefix) :] for line in lines if prefix in line]
        # One whole copy: parts 1/N .. N/N (a copy typed again later is not compared).
        total = _parts_of(parts[0]) if parts else None
        if total is None or not parts[0].startswith(prefix + b"1/"):
            return ()
        return tuple(parts[:total]) if len(parts) >= total else ()
    for line in lines:
        if b"<LAVA_" in line and b"_COMPLETE" in line:
            return (line[line.index(b"<LAVA_") :],)
    return ()


def _pauses(recording: bytes) -> list[_Pause]:
    parser = MarkerParser()
    pauses: list[_Pause] = []
    seen: set[str] = set()
    offset = 0
    for line in recording.splitlines(keepends=True):
        offset += len(line)
        parser.receive_data(line)
        for event in parser.events():
            if not isinstance(event, _REPLY_KINDS) or not event.wants_reply:
                continue
            if event.token is not None:
                if event.token in seen:
                    continue  # printed again after a retry: answered once
                seen.add(event.token)
            pauses.append(_Pause(offset, event, _reply_lines(event, recording[offset : offset + 65536])))
    return pauses


class ReplayBoard(Transport):
    """A board played back from its recorded console: it stops after each request marker
    until the host has typed the whole reply, and notes any reply that differs from the
    recorded one. What else the host types (steps, retry lines) is taken and ignored.
    """

    def __init__(self, recording: bytes, spec: str = "replay") -> None:
        self.spec = spec
        self.recording = recording
        self.mismatches: list[str] = []
        self.answered = 0
        self._pauses = _pauses(recording)
        self._position = 0
        self._next = 0  # the next pause
        self._typed = bytearray()  # what the host typed since the current pause began
        self._cond = threading.Condition()
        self._closed = False

    @classmethod
    def from_file(cls, path: Path) -> ReplayBoard:
        data = b"".join(line for _, line in console_lines(path))
        return cls(data, spec=f"replay:{path}")

    @property
    def pauses(self) -> int:
        return len(self._pauses)

    def _stop_at(self) -> int:
        return self._pauses[self._next].at if self._next < len(self._pauses) else len(self.recording)

    def _answered(self) -> bool:
        """Has the host typed the whole reply for the current pause? Compares it when it has."""
        pause = self._pauses[self._next]
        lines = [line.rstrip(b"\r") for line in bytes(self._typed).split(b"\n")[:-1]]
        wanted = len(pause.recorded) or 1
        if pause.request.dialect is Dialect.SERIALSYNC:
            prefix = wire.SS_REPLY_PREFIX + (pause.request.token or "").encode() + b" "
            reply = [line for line in lines if line.startswith(prefix)]
            if not reply:
                return False
            wanted = max(wanted, _parts_of(reply[0]) or 1)
        else:
            reply = [line for line in lines if line.startswith(b"<LAVA_")]
        if len(reply) < wanted:
            return False
        if pause.recorded and tuple(reply[:wanted]) != pause.recorded:
            self.mismatches.append(
                f"{self.spec}: reply to {describe(pause.request)}: typed {b' / '.join(reply[:wanted])!r}, "
                f"recorded {b' / '.join(pause.recorded)!r}"
            )
        return True

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        deadline = Deadline.after(timeout)
        with self._cond:
            while True:
                if self._closed:
                    raise TransportClosed(f"{self.spec}: closed")
                stop = self._stop_at()
                if self._position < stop:
                    chunk = self.recording[self._position : min(stop, self._position + max_bytes)]
                    self._position += len(chunk)
                    if self._position == stop and self._next < len(self._pauses):
                        self._typed.clear()  # the reply starts now
                    return chunk
                if self._next >= len(self._pauses):
                    return b""  # the end of the recording: EOF
                if self._answered():
                    self.answered += 1
                    self._next += 1
                    continue
                if deadline.expired:
                    raise TransportTimeout(f"{self.spec}: no reply typed in {format_seconds(timeout)}")
                self._cond.wait(None if timeout is None else deadline.remaining)

    def write(self, data: bytes) -> None:
        with self._cond:
            if self._closed:
                raise TransportClosed(f"{self.spec}: closed")
            self._typed += data
            del self._typed[: max(0, len(self._typed) - MAX_TYPED)]  # bounded: a host gone wild
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


# --- a recorded run of a group played back -------------------------------------------------
@dataclass
class ReplayedDevice:
    name: str
    role: str
    board: ReplayBoard
    calls: list[CallRecord]
    finished: bool  # the whole recording was played

    @property
    def passed(self) -> bool:
        return self.finished and not self.board.mismatches and self.board.answered == self.board.pauses


def replay_group(
    members: list[tuple[str, str, Path]], *, call_timeout: float = 30.0, timeout: float = 300.0
) -> list[ReplayedDevice]:
    """Play the recorded consoles of a group's devices (name, role, log) together.

    Each board stops at its requests until the host, through a fresh group
    coordinator, answers them; a board whose recording ends leaves the group,
    as its device did when its job ended.
    """
    coordinator = MemoryCoordinator([Member(name, role) for name, role, _ in members])
    deadline = Deadline.after(timeout)
    played: list[ReplayedDevice] = []
    sessions: list[ConsoleSession] = []
    watchers: list[Watcher] = []
    for name, role, path in members:
        board = ReplayBoard.from_file(path)
        watcher = Watcher(name, coordinator, board.write, call_timeout=call_timeout)
        watchers.append(watcher)
        sessions.append(ConsoleSession(board, watcher, timeout=timeout))
        played.append(ReplayedDevice(name, role, board, list(watcher.calls), False))

    def pump(index: int) -> None:
        session, device = sessions[index], played[index]
        while not deadline.expired:
            try:
                session.read_nonblocking(4096, min(1.0, max(deadline.remaining, 0.01)))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                device.finished = True
                break
        coordinator.leave(device.name, "its recording ended" if device.finished else "replay timed out")

    threads = [threading.Thread(target=pump, args=(i,), daemon=True) for i in range(len(members))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for watcher, session in zip(watchers, sessions, strict=True):
        watcher.wait_idle(5)
        watcher.close()
        session.close()
    coordinator.close()
    return played
