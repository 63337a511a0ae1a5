"""What the parser hands out: frozen, validated events.

Request events are nouns for what arrived. Each carries the dialect it came
in (so the reply goes back in the form that board's helper parses) and, for
serialsync's own helpers, the token that ties replies and retransmissions to
the request. Identifiers are decoded once, here, as strictly checked ASCII;
values stay bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import wire


class Dialect(enum.Enum):
    LAVA = "lava"  # printed by LAVA's own helpers
    SERIALSYNC = "serialsync"  # printed by serialsync's helpers: checksummed, acknowledged


def _check(pattern, value: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"invalid {what}: {value!r}")


@dataclass(frozen=True, kw_only=True)
class Request:
    """Base of every request a board makes."""

    dialect: Dialect
    token: str | None = None  # present on serialsync requests only

    def __post_init__(self) -> None:
        if self.dialect is Dialect.SERIALSYNC:
            _check(wire.TOKEN_RE, self.token or "", "token")
        elif self.token is not None:
            raise ValueError("LAVA requests carry no token")

    @property
    def wants_reply(self) -> bool:
        return True


@dataclass(frozen=True, kw_only=True)
class _WithMessageId(Request):
    message_id: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(wire.MESSAGE_ID_RE, self.message_id, "message ID")


@dataclass(frozen=True, kw_only=True)
class SendRequest(_WithMessageId):
    data: tuple[tuple[str, bytes], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, value in self.data:
            _check(wire.KEY_RE, key, "key")
            if not isinstance(value, bytes):
                raise ValueError(f"value of {key!r} must be bytes")

    @property
    def wants_reply(self) -> bool:
        # LAVA's lava-send does not read a reply; ours waits for an ack.
        return self.dialect is Dialect.SERIALSYNC


@dataclass(frozen=True, kw_only=True)
class SyncRequest(_WithMessageId):
    pass


@dataclass(frozen=True, kw_only=True)
class WaitRequest(_WithMessageId):
    pass


@dataclass(frozen=True, kw_only=True)
class WaitAllRequest(_WithMessageId):
    role: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.role is not None:
            _check(wire.NAME_RE, self.role, "role")


@dataclass(frozen=True, kw_only=True)
class GroupRequest(Request):
    """The board has no group file and asks who is in the group (serialsync only)."""


@dataclass(frozen=True, kw_only=True)
class ResendRequest(Request):
    """The helper received a damaged reply to request `token`; type it again."""


@dataclass(frozen=True, kw_only=True)
class ReplyReceived(Request):
    """The helper got the whole reply to request `token` (serialsync only); nothing to answer."""

    @property
    def wants_reply(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class RejectedRequest(Request):
    """A well-framed request that cannot be served (bad ID, bad key, unknown op).

    It still expects an answer: the watcher answers it with a nack naming
    `reason`, in the reply form of `op`.
    """

    op: str
    reason: str


@dataclass(frozen=True)
class DamagedRequest:
    """A serialsync marker arrived damaged (checksum or framing); ask for it again."""

    reason: str
    size: int


@dataclass(frozen=True)
class LostStarts:
    """Markers whose start arrived damaged, found by their end: their helpers wait; ask again.

    Reported after the read that revealed them; which read that is depends on
    how the stream was cut, so these follow no fixed place among the other events.
    """

    count: int


@dataclass(frozen=True)
class Discarded:
    """Bytes that looked like a marker but were dropped; counted in parser.stats."""

    reason: str
    size: int


Event = (
    SendRequest
    | SyncRequest
    | WaitRequest
    | WaitAllRequest
    | GroupRequest
    | ResendRequest
    | ReplyReceived
    | RejectedRequest
    | DamagedRequest
    | LostStarts
    | Discarded
)

__all__ = [
    "DamagedRequest",
    "Dialect",
    "Discarded",
    "Event",
    "GroupRequest",
    "LostStarts",
    "RejectedRequest",
    "ReplyReceived",
    "Request",
    "ResendRequest",
    "SendRequest",
    "SyncRequest",
    "WaitAllRequest",
    "WaitRequest",
]
