"""Read a recorded console log and find the protocol events in it.

Two forms are read: raw console bytes (what `serialsync run` saves as
DEVICE.console.log, or any capture), and LAVA's YAML job log, one
``- {"dt": ..., "lvl": ..., "msg": ...}`` entry a line, of which the
``target`` and ``feedback`` entries are the board's console output. Each
event comes with the line of the log where it ended.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import SerialsyncError
from .protocol.events import DamagedRequest, Discarded, Event
from .protocol.parser import MarkerParser

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


def console_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(log line, console bytes) of a raw or LAVA YAML log, in order."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReplayError(f"{path}: cannot read: {e}") from e
    lava = is_lava_log(data[:4096])
    for number, line in enumerate(data.splitlines(keepends=True), 1):
        if not lava:
            yield number, line
            continue
        if not line.strip() or line.startswith(b"#"):
            continue
        try:
            (entry,) = yaml.safe_load(line)
        except (yaml.YAMLError, TypeError, ValueError) as e:
            raise ReplayError(f"{path}:{number}: not a LAVA log entry: {e}") from e
        if not isinstance(entry, dict) or "lvl" not in entry or "msg" not in entry:
            raise ReplayError(f"{path}:{number}: a LAVA log entry needs 'lvl' and 'msg'")
        if entry["lvl"] in CONSOLE_LEVELS and isinstance(entry["msg"], str):
            # LAVA logs the console line by line, without the line end.
            yield number, entry["msg"].encode("utf-8", "surrogateescape") + b"\n"


def replay_log(path: Path, parser: MarkerParser | None = None) -> list[Found]:
    """Every protocol event in the log, with its line, damage and discards included."""
    parser = parser or MarkerParser()
    found: list[Found] = []
    for number, data in console_lines(path):
        parser.receive_data(data)
        found.extend(Found(number, event) for event in parser.events())
        for _ in range(parser.take_lost_starts()):
            found.append(Found(number, DamagedRequest(reason="a marker whose start was damaged", size=0)))
    parser.receive_data(b"")
    found.extend(Found(0, event) for event in parser.events())
    return found


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
