"""Getting every request and reply across a lossy console, sans-IO.

The host side of SERIALSYNC1's retransmission (docs/PROTOCOL.md): replies
are typed again until their helper confirms them (DONE), and a damaged or
lost marker is asked for again with a retry line, ever more slowly, while a
helper may still be waiting for it.

``Recovery`` is told what happened — a request, a confirmation, damage,
that a line was typed, that a timer expired, each with the current time —
and answers with actions: bytes to type, timers to arm, notes to log. It
does no I/O, reads no clock and starts no thread: the watcher is its only
driver and calls it under one lock. Timers are never cancelled: an expired
timer whose reason has gone (the reply was confirmed) does nothing.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from . import wire

MAX_REMEMBERED_TOKENS = 256  # requests whose reply is kept, to answer a repeat
MAX_RETYPES = 12  # copies of a reply typed before giving up on its confirmation
MAX_QUEUED_RETRIES = 3  # a slow (paced) console must not pile up retry lines
MAX_BACKOFF = 8.0  # seconds: the wait between copies doubles up to this
BYTES_PER_SECOND_ALLOWED = 4096  # a long reply gets one more second per 4 KiB


# --- actions --------------------------------------------------------------------
@dataclass(frozen=True)
class TypeBytes:
    """Type these bytes. They carry their own checksum: the pacer need not prove them."""

    data: bytes
    typed: Hashable | None = None  # when set, report typed(this) once the bytes went out


@dataclass(frozen=True)
class Arm:
    """Call expired(timer) after delay seconds."""

    timer: Hashable
    delay: float


@dataclass(frozen=True)
class Note:
    """Something the host's log should say."""

    text: str


Action = TypeBytes | Arm | Note


# --- a reply's life, as data ------------------------------------------------------
class ReplyState(enum.Enum):
    AWAITED = "the call is being served"
    UNCONFIRMED = "typed, not confirmed by its helper"
    SETTLED = "confirmed, superseded or given up"


#: (state, what happened) -> next state; what is not listed changes nothing.
REPLY_TRANSITIONS: dict[tuple[ReplyState, str], ReplyState] = {
    (ReplyState.AWAITED, "answered"): ReplyState.UNCONFIRMED,
    (ReplyState.UNCONFIRMED, "retyped"): ReplyState.UNCONFIRMED,
    (ReplyState.UNCONFIRMED, "confirmed"): ReplyState.SETTLED,
    # Helpers on one console take turns (they read the same tty): a new request
    # means earlier helpers are done, even if their DONE was lost.
    (ReplyState.UNCONFIRMED, "superseded"): ReplyState.SETTLED,
    (ReplyState.UNCONFIRMED, "exhausted"): ReplyState.SETTLED,
}


@dataclass
class _Reply:
    state: ReplyState = ReplyState.AWAITED
    typed: bytes = b""
    copies: int = 0

    def move(self, happened: str) -> None:
        self.state = REPLY_TRANSITIONS.get((self.state, happened), self.state)


def backoff(first: float, attempt: int) -> float:
    """The wait before copy attempt+1: doubling, so a board that is merely slow is not flooded."""
    return min(MAX_BACKOFF, first * 2 ** (attempt - 1))


class Recovery:
    def __init__(self, *, ack_timeout: float, call_timeout: float, retries_allowed: bool = True) -> None:
        self.ack_timeout = ack_timeout
        self.call_timeout = call_timeout
        self.retries_allowed = retries_allowed
        self._replies: OrderedDict[str, _Reply] = OrderedDict()  # bounded by MAX_REMEMBERED_TOKENS
        # The retry chain: lines typed since the last intact marker, since when, how many wait to be typed.
        self._asked = 0
        self._asking_since = 0.0
        self._queued = 0

    # --- what the board printed ---------------------------------------------------
    def intact(self) -> None:
        """A marker with a token arrived intact: the board is heard again."""
        self._asked = 0

    def request(self, token: str) -> tuple[bool, list[Action]]:
        """A request marker: (True, []) the first time; (False, actions) for a repeat."""
        reply = self._replies.get(token)
        if reply is None:
            for earlier in self._replies.values():
                earlier.move("superseded")
            self._replies[token] = _Reply()
            while len(self._replies) > MAX_REMEMBERED_TOKENS:
                self._replies.popitem(last=False)
            return True, []
        if reply.state is ReplyState.AWAITED:
            return False, []  # under way: its reply goes out when the call completes
        return False, [Note(f"request {token} repeated; typing its reply again"), TypeBytes(reply.typed)]

    def confirmed(self, token: str) -> None:
        """The helper said DONE: its reply arrived whole."""
        reply = self._replies.get(token)
        if reply is not None:
            reply.move("confirmed")

    def resend_asked(self, token: str, now: float) -> list[Action]:
        """A helper asks for a reply again (its copy arrived damaged)."""
        reply = self._replies.get(token)
        if reply is None:
            # We never saw that request (its marker was lost): have it printed again.
            return self.damaged(now)
        if reply.state is ReplyState.AWAITED:
            return []
        return [Note(f"board asked for reply {token} again"), TypeBytes(reply.typed)]

    def damaged(self, now: float, *, continuing: bool = False) -> list[Action]:
        """A marker arrived damaged, or only its start did: ask the board to print it again."""
        if not self.retries_allowed:
            return [Note("no retry line typed: no step of the board is running")]
        expired = now - self._asking_since > self.call_timeout
        if continuing and expired:
            # Kept asking, ever more slowly, as long as a helper's call could be alive: done.
            return []
        if self._asked == 0 or expired:
            # A new chain: damage seen after an earlier chain gave up must still
            # be asked for again, or its helper waits for ever.
            self._asked = 0
            self._asking_since = now
        self._asked += 1
        if self._queued >= MAX_QUEUED_RETRIES:
            return []  # the retry lines still waiting to be typed ask for this one too
        self._queued += 1
        return [TypeBytes(wire.SS_RETRY_LINE, typed=("retry",))]

    # --- what the host did ----------------------------------------------------------
    def answered(self, token: str, typed: bytes) -> list[Action]:
        """The call's reply is decided: type it, and expect its confirmation."""
        reply = self._replies.get(token)
        if reply is None:  # forgotten meanwhile (a flood of requests): still owed
            reply = self._replies[token] = _Reply()
        reply.typed = typed
        reply.copies = 1
        reply.move("answered")
        return [TypeBytes(typed, typed=("reply", token))]

    def typed(self, what: Hashable) -> list[Action]:
        """A line asked for with TypeBytes(typed=what) went out: arm its timer."""
        if what == ("retry",):
            # The count as it is now: damage noticed while the line waited is answered by it.
            self._queued -= 1
            if not self._asked:
                return []
            return [Arm(("retry", self._asked), backoff(self.ack_timeout, self._asked))]
        _, token = what  # ("reply", token)
        reply = self._replies.get(token)
        if reply is None or reply.state is not ReplyState.UNCONFIRMED:
            return []
        delay = backoff(self.ack_timeout, reply.copies) + len(reply.typed) / BYTES_PER_SECOND_ALLOWED
        return [Arm(("reply", token), delay)]

    def expired(self, timer: Hashable, now: float) -> list[Action]:
        kind, key = timer  # type: ignore[misc]
        if kind == "retry":
            if self._asked != key:
                return []  # something intact came (or another chain runs)
            return self.damaged(now, continuing=True)
        reply = self._replies.get(key)
        if reply is None or reply.state is not ReplyState.UNCONFIRMED:
            return []
        if reply.copies >= MAX_RETYPES:
            reply.move("exhausted")
            return [Note(f"reply {key} never confirmed after {reply.copies} copies; giving up")]
        reply.copies += 1
        reply.move("retyped")
        return [Note(f"reply {key} not confirmed; typing it again"), TypeBytes(reply.typed, typed=("reply", key))]

    def reconnected(self) -> list[Action]:
        """The console came back after a gap: what crossed it is lost.

        Every unconfirmed reply is typed again now rather than at its next
        backoff, and the board is asked once for a marker it may have printed
        meanwhile — one line, not a chain: maybe nothing was lost; a helper
        that waits prints its marker again, and damage to that is handled as usual.
        """
        actions: list[Action] = [
            TypeBytes(reply.typed) for reply in self._replies.values() if reply.state is ReplyState.UNCONFIRMED
        ]
        if self.retries_allowed:
            actions.append(TypeBytes(wire.SS_RETRY_LINE))
        return actions

    def unconfirmed(self) -> list[str]:
        """Tokens of replies typed but not yet confirmed."""
        return [token for token, reply in self._replies.items() if reply.state is ReplyState.UNCONFIRMED]
