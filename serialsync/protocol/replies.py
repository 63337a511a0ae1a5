"""Replies to the board, as the bytes to type into its console.

A reply goes back in the dialect of its request: LAVA's exact forms for
LAVA's helpers, serialsync's checksummed, split, shell-inert lines for ours
(docs/PROTOCOL.md). ReplyAssembler is the reading side of serialsync's form,
a model of what dut-scripts/ do, used by tests and by log replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import LocalProtocolError, RemoteProtocolError
from . import wire
from .events import (
    Dialect,
    GroupRequest,
    RejectedRequest,
    Request,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitRequest,
)

DEFAULT_MAX_LINE = 1000  # below busybox's 1022-byte edit line and every tty's canonical limit
MIN_MAX_LINE = 80


@dataclass(frozen=True)
class Ack:
    """The request succeeded and carries no data (send, sync)."""


@dataclass(frozen=True)
class WaitComplete:
    """Data of every sender of the message ID: device -> key -> value."""

    data: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupInfo:
    """The group identity file, for a board that has none."""

    text: bytes


@dataclass(frozen=True)
class Nack:
    reason: str


Reply = Ack | WaitComplete | GroupInfo | Nack


def encode_reply(request: Request, reply: Reply, *, max_line: int = DEFAULT_MAX_LINE) -> bytes:
    """The keystrokes that answer *request*; b"" when its helper reads no reply."""
    if not request.wants_reply:
        return b""
    if request.dialect is Dialect.LAVA:
        return _encode_lava(request, reply)
    assert request.token is not None
    return encode_serialsync(request.token, reply, max_line=max_line)


# --- LAVA's forms ----------------------------------------------------------------
_LAVA_REPLY_NAME = {
    wire.LAVA_SYNC: wire.LAVA_SYNC_COMPLETE,
    wire.LAVA_WAIT: wire.LAVA_WAIT_COMPLETE,
    wire.LAVA_WAIT_ALL: wire.LAVA_WAIT_ALL_COMPLETE,
}


def _lava_reply_name(request: Request) -> str:
    if isinstance(request, SyncRequest):
        return wire.LAVA_SYNC_COMPLETE
    if isinstance(request, WaitAllRequest):
        return wire.LAVA_WAIT_ALL_COMPLETE
    if isinstance(request, WaitRequest):
        return wire.LAVA_WAIT_COMPLETE
    if isinstance(request, RejectedRequest) and request.op in _LAVA_REPLY_NAME:
        return _LAVA_REPLY_NAME[request.op]
    raise LocalProtocolError(f"no LAVA reply form for {type(request).__name__}")


def lava_safe(value: bytes) -> bytes:
    """A value as LAVA's form can carry it: control bytes, '>' and '\\' as \\xHH.

    LAVA's helpers cannot take these at all; escaping keeps the value
    recoverable and never types a byte the tty would act on.
    """
    if not any(b < 0x20 or b in (0x3E, 0x5C, 0x7F) for b in value):
        return value
    return b"".join(b"\\x%02x" % b if (b < 0x20 or b in (0x3E, 0x5C, 0x7F)) else bytes([b]) for b in value)


def _encode_lava(request: Request, reply: Reply) -> bytes:
    if isinstance(request, RejectedRequest) and request.op not in _LAVA_REPLY_NAME:
        return b""  # LAVA's lava-send reads no reply
    name = _lava_reply_name(request).encode()
    if isinstance(reply, Nack):
        return b"<" + name + b" " + wire.LAVA_NACK.encode() + b">\n"
    parts = [b"<" + name]
    if isinstance(reply, WaitComplete):
        for device, pairs in reply.data.items():
            for key, value in pairs.items():
                parts.append(b"%s:%s=%s" % (device.encode(), key.encode(), lava_safe(value)))
    return b" ".join(parts) + b">\n"


# --- serialsync's form ---------------------------------------------------------------
def reply_body(reply: Reply) -> str:
    if isinstance(reply, Nack):
        return f"{wire.STATUS_NACK} {wire.encode_value(reply.reason.encode())}"
    if isinstance(reply, GroupInfo):
        return f"{wire.STATUS_OK} {wire.encode_value(reply.text)}"
    items = [wire.STATUS_OK]
    if isinstance(reply, WaitComplete):
        for device, pairs in reply.data.items():
            for key, value in pairs.items():
                items.append(f"{device}:{key}={wire.encode_value(value)}")
    return " ".join(items)


def encode_serialsync(token: str, reply: Reply, *, max_line: int = DEFAULT_MAX_LINE) -> bytes:
    if max_line < MIN_MAX_LINE:
        raise ValueError(f"max_line must be at least {MIN_MAX_LINE}")
    if not wire.TOKEN_RE.match(token):
        raise LocalProtocolError(f"invalid token {token!r}")
    body = reply_body(reply)
    # "#SERIALSYNC1 TOKEN I/N CRC CHUNK\n": find N such that every chunk fits.
    total = 1
    while True:
        overhead = len(wire.SS_REPLY_PREFIX) + len(token) + 2 * len(str(total)) + 1 + 8 + 3 + 1
        room = max_line - overhead
        needed = max(1, -(-len(body) // room))
        if needed <= total:
            break
        total = needed
    out = []
    for i in range(total):
        chunk = body[i * room : (i + 1) * room]
        head = f"{token} {i + 1}/{total}"
        crc = wire.checksum(f"{head} {chunk}".encode("ascii")).decode()
        out.append(f"{wire.SS_REPLY_PREFIX.decode()}{head} {crc} {chunk}\n")
    return "".join(out).encode("ascii")


class ReplyAssembler:
    """Reads reply lines the way dut-scripts/serialsync.awk does: a model for tests and replay.

    feed() returns the decoded Reply once every part arrived intact and None
    while parts are missing. It raises RemoteProtocolError where the helper
    would print RESEND: a reply line failing its checksum (its token may be
    what was hit), a line holding our token with a damaged prefix, or a part
    out of order. After that, a valid part 1 starts a fresh copy, and the
    remaining parts of the abandoned copy are skipped quietly.
    """

    def __init__(self, token: str, *, request_kind: type[Request] = WaitRequest) -> None:
        self.token = token
        self.request_kind = request_kind
        self._parts: list[str] = []
        self._total = 0
        self._resync = False  # after a RESEND: skip the tail of the abandoned copy
        self._last_skipped = 0

    def _damaged(self, index: int, why: str) -> RemoteProtocolError:
        self._parts, self._total = [], 0
        self._resync, self._last_skipped = True, index
        return RemoteProtocolError(why)

    def feed(self, line: bytes) -> Reply | None:
        text = line.rstrip(b"\n").removesuffix(b"\r").decode("ascii", "replace")
        prefix = wire.SS_REPLY_PREFIX.decode()
        if text == wire.SS_RETRY_LINE.decode().rstrip("\n"):
            return None  # the helper prints its marker again; nothing to assemble
        if not text.startswith(prefix):
            if f"{self.token} " in text:
                raise self._damaged(0, "reply line for this token with a damaged prefix")
            return None
        fields = text[len(prefix) :].split(" ", 3)
        if len(fields) < 3:
            raise self._damaged(0, "reply line without its fields")
        token, part, crc = fields[0], fields[1], fields[2]
        chunk = fields[3] if len(fields) == 4 else ""
        index_text, _, total_text = part.partition("/")
        if (
            not (index_text.isdigit() and total_text.isdigit() and len(part) <= 13)
            or wire.checksum(f"{token} {part} {chunk}".encode()).decode() != crc
        ):
            raise self._damaged(0, "reply line checksum mismatch")
        if token != self.token:
            return None
        index, total = int(index_text), int(total_text)
        if not 1 <= index <= total:
            raise self._damaged(0, f"reply part {part} impossible")
        if index == 1:  # a copy starts: always take it
            self._parts, self._total, self._resync = [chunk], total, False
        elif self._resync and not self._parts and index > self._last_skipped:
            self._last_skipped = index
            return None
        elif index != len(self._parts) + 1 or total != self._total:
            raise self._damaged(index, f"reply part {part} out of order")
        else:
            self._parts.append(chunk)
        if len(self._parts) < self._total:
            return None
        body, self._parts, self._total = "".join(self._parts), [], 0
        return decode_body(body, self.request_kind)


def decode_body(body: str, request_kind: type[Request] = WaitRequest) -> Reply:
    status, _, rest = body.partition(" ")
    if status == wire.STATUS_NACK:
        return Nack(wire.decode_value(rest.encode()).decode("utf-8", "replace"))
    if status != wire.STATUS_OK:
        raise RemoteProtocolError(f"unknown reply status {status!r}")
    if request_kind is GroupRequest:
        return GroupInfo(wire.decode_value(rest.encode()))
    if request_kind in (SendRequest, SyncRequest) and not rest:
        return Ack()
    data: dict[str, dict[str, bytes]] = {}
    for item in rest.split(" ") if rest else []:
        device, _, pair = item.partition(":")
        key, _, value = pair.partition("=")
        data.setdefault(device, {})[key] = wire.decode_value(value.encode())
    return WaitComplete(data)
