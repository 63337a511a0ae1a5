"""One watcher per device connection: markers in, coordinator calls, replies out.

The only module that knows both protocol events and coordinator calls. It is
fed console bytes (by ConsoleSession, by a tee on someone else's pexpect
session, or by a test) and never waits for the group while fed: a call that
has to wait (sync, wait, wait-all) runs on its own thread, so the console keeps
being read while it waits and other devices are never stalled. Sends and group
queries are served inline, in the order they were printed (LAVA's lava-send
reads no reply, so its helper may print the next request at once); with Redis
that is one round trip, longer while Redis restarts. Every request that
expects an answer gets one: the reply, or a nack naming the reason.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ._scheduler import Scheduler, WorkerPool
from ._time import SYSTEM_CLOCK, Clock, Deadline
from .coordinator import Coordinator, calls
from .errors import CoordinatorError, EchoMismatch, GroupTimeout
from .protocol import (
    Ack,
    DamagedRequest,
    Discarded,
    Event,
    GroupInfo,
    GroupRequest,
    MarkerParser,
    Nack,
    RejectedRequest,
    Reply,
    ReplyReceived,
    Request,
    ResendRequest,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitComplete,
    WaitRequest,
    encode_reply,
    wire,
)
from .protocol.replies import DEFAULT_MAX_LINE
from .transports.pacing import Pacer

log = logging.getLogger("serialsync.watcher")

API_NAMES = {
    SendRequest: calls.SEND,
    SyncRequest: calls.SYNC,
    WaitRequest: calls.WAIT,
    WaitAllRequest: calls.WAIT_ALL,
    GroupRequest: "lava-group",
}
MAX_REMEMBERED_TOKENS = 256
MAX_PENDING_CALLS = 64  # blocking calls one console may have waiting at once; more are nacked
MAX_KEPT_CALLS = 1000  # calls a watcher remembers in .calls (on_call sees every one)
ACK_TIMEOUT = 2.0  # seconds a serialsync helper has to confirm a reply (plus 1 s per 4 KiB)
MAX_RETYPES = 12  # copies of a reply typed before giving up on its confirmation
MAX_QUEUED_RETRIES = 3  # a slow (paced) console must not pile up retry lines
MAX_BACKOFF = 8.0  # seconds: the wait between copies doubles up to this


@dataclass(frozen=True)
class CallRecord:
    """One multinode call as the host served it: for results and progress."""

    device: str
    api: str  # "lava-sync", ...
    message_id: str | None
    ok: bool
    reason: str
    waited: float  # seconds between the request and the reply
    role: str | None = None
    finished: float = 0.0  # when the reply was decided, on the watcher's monotonic clock
    dialect: str = "serialsync"  # "lava": made by LAVA's own helpers (which exit 0 on a nack)
    missing: tuple[str, ...] = ()  # a timed-out call: the devices it still waited for


def _backoff(first: float, attempt: int) -> float:
    """The wait before copy attempt+1: doubling, so a board that is merely slow is not flooded."""
    return min(MAX_BACKOFF, first * 2 ** (attempt - 1))


class Watcher:
    def __init__(
        self,
        device: str,
        coordinator: Coordinator,
        write: Callable[[bytes], None],
        *,
        call_timeout: float = 300.0,
        max_line: int = DEFAULT_MAX_LINE,
        pacer: Pacer | None = None,
        ack_timeout: float = ACK_TIMEOUT,
        max_marker_bytes: int | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        on_request: Callable[[str, Request], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        retries: bool = True,
    ) -> None:
        self.device = device
        self.coordinator = coordinator
        self.call_timeout = call_timeout
        self.max_line = max_line
        self.pacer = pacer or Pacer()
        self.ack_timeout = ack_timeout
        self.parser = MarkerParser() if max_marker_bytes is None else MarkerParser(max_marker_bytes)
        # The latest calls served (bounded: a board printing garbage must not grow the host).
        self.calls: deque[CallRecord] = deque(maxlen=MAX_KEPT_CALLS)
        self._write = write
        self._on_call = on_call
        self._on_request = on_request
        self._clock = clock
        self._state_lock = threading.Lock()
        self._idle = threading.Condition(self._state_lock)
        # token -> typed reply (None while the call is still pending); bounded.
        self._replies: OrderedDict[str, bytes | None] = OrderedDict()
        self._pending = 0
        # Typing happens on one writer thread: the reader never waits for it,
        # so an echo-paced line can be checked against what the reader sees.
        # (bytes, on_typed, on_failed)
        self._outbox: deque[
            tuple[bytes, Callable[[], None] | None, Callable[[Exception], None] | None]
        ] = deque()
        self._outbox_cond = threading.Condition()
        self._typing = False
        self._writer: threading.Thread | None = None
        self._closed = False
        self.write_error: Exception | None = None
        # Recovery on lossy links: replies not yet confirmed by the helper (token ->
        # copies typed), and retry lines typed since the last intact marker.
        self._unconfirmed: dict[str, int] = {}
        self._retries_since_intact = 0
        self._retrying_since = 0.0
        self._retries_queued = 0  # retry lines waiting to be typed (bounded: bursts of damage)
        # Whether retry lines may be typed now: only while a step of the board runs, so
        # that console noise during a boot (a bootloader stops on any byte) gets no keystroke.
        self._retries_allowed = retries
        self._scheduler = Scheduler(f"{device}-timers")
        # Blocking calls wait on reused threads: starting one per call cost a
        # third of the host's time per served marker (benchmarks/scan).
        self._calls = WorkerPool(f"{device}-call")

    # --- input ------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Console bytes from the board, in any chunking."""
        if data:
            self.pacer.observe(data)
        self.parser.receive_data(data)
        for event in self.parser.events():
            self._handle(event)
        if self.parser.take_lost_starts():
            log.info("%s: a marker's start arrived damaged; asking the board to print it again", self.device)
            self._type_retry()

    def pending(self) -> int:
        """Calls still waiting on the coordinator."""
        with self._state_lock:
            return self._pending

    def unconfirmed(self) -> list[str]:
        """Tokens of replies typed but not yet confirmed by their helper."""
        with self._state_lock:
            return list(self._unconfirmed)

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until no call is pending (True) or timeout (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # --- dispatch -----------------------------------------------------------------
    def _handle(self, event: Event) -> None:
        if isinstance(event, Discarded):
            log.debug("%s: dropped %d bytes: %s", self.device, event.size, event.reason)
            return
        if isinstance(event, DamagedRequest):
            log.info("%s: damaged marker (%s); asking the board to print it again", self.device, event.reason)
            self._type_retry()
            return
        if event.token is not None:
            with self._state_lock:
                self._retries_since_intact = 0
        if isinstance(event, ReplyReceived):
            with self._state_lock:
                self._unconfirmed.pop(event.token or "", None)
            return
        if isinstance(event, ResendRequest):
            self._resend(event)
            return
        if event.token is not None and not self._claim(event.token):
            return  # a retransmission of a call already served or under way
        if event.token is not None:
            # Helpers on one console take turns (they read the same tty): a new
            # request means earlier helpers are done, even if their DONE was
            # lost. Typing their replies again would only flood the new one.
            with self._state_lock:
                self._unconfirmed.clear()
        if self._on_request is not None:
            self._on_request(self.device, event)
        if isinstance(event, (SyncRequest, WaitRequest, WaitAllRequest)):
            with self._state_lock:
                full = self._pending >= MAX_PENDING_CALLS
                if not full:
                    self._pending += 1
            if full:
                # Bounded: console noise that forms valid markers must not start a waiting call each.
                why = f"too many calls waiting on this console ({MAX_PENDING_CALLS}); is something printing markers?"
                self._finish(event, (Nack(why), ()), self._clock.monotonic())
                return
            self._calls.submit(lambda: self._serve_blocking(event))
        else:
            started = self._clock.monotonic()
            self._finish(event, self._serve(event), started)

    def _claim(self, token: str) -> bool:
        """Register a token; False (and re-answer if possible) when seen before."""
        with self._state_lock:
            if token not in self._replies:
                self._replies[token] = None
                while len(self._replies) > MAX_REMEMBERED_TOKENS:
                    self._replies.popitem(last=False)
                return True
            typed = self._replies[token]
        if typed is not None:
            log.info("%s: request %s repeated; typing its reply again", self.device, token)
            self.type_bytes(typed)
        return False

    def _resend(self, event: ResendRequest) -> None:
        with self._state_lock:
            known = (event.token or "") in self._replies
            typed = self._replies.get(event.token or "")
        if not known:
            # We never saw that request (its marker was lost): have it printed again.
            self._type_retry()
        elif typed is None:
            pass  # still pending: its reply goes out when the call completes
        else:
            log.info("%s: board asked for reply %s again", self.device, event.token)
            self.type_bytes(typed)

    def _serve_blocking(self, request: Request) -> None:
        started = self._clock.monotonic()
        try:
            self._finish(request, self._serve(request), started)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _serve(self, request: Request) -> tuple[Reply, tuple[str, ...]]:
        """The reply, and for a timed-out call the devices it still waited for."""
        coordinator = self.coordinator
        deadline = Deadline.after(self.call_timeout, self._clock)
        try:
            if isinstance(request, (SendRequest, SyncRequest, WaitRequest, WaitAllRequest)):
                data = dict(request.data) if isinstance(request, SendRequest) else None
                role = request.role if isinstance(request, WaitAllRequest) else None
                api = API_NAMES[type(request)]
                received = calls.call(coordinator, api, self.device, request.message_id, deadline, data=data, role=role)
                return (Ack() if received is None else WaitComplete(received)), ()
            if isinstance(request, GroupRequest):
                members = [(m.device, m.role) for m in coordinator.members]
                return GroupInfo(wire.group_file_text(self.device, members)), ()
            if isinstance(request, RejectedRequest):
                return Nack(f"invalid request: {request.reason}"), ()
        except GroupTimeout as e:
            return Nack(str(e)), e.missing
        except CoordinatorError as e:
            return Nack(str(e)), ()
        except Exception as e:  # the board must get an answer whatever broke on the host
            log.exception("%s: internal error serving %s", self.device, request)
            return Nack(f"host error ({e or 'no detail'}); the host's log has the details"), ()
        return Nack("unsupported request"), ()

    def _finish(self, request: Request, served: tuple[Reply, tuple[str, ...]], started: float) -> None:
        reply, missing = served
        # The call is recorded before its reply is typed: whatever the board does once it
        # has the reply (end its step, say) can only be seen after the record exists.
        record = CallRecord(
            device=self.device,
            api=API_NAMES.get(type(request), f"lava-{getattr(request, 'op', '?').lower().replace('_', '-')}"),
            message_id=getattr(request, "message_id", None),
            ok=not isinstance(reply, Nack),
            reason=reply.reason if isinstance(reply, Nack) else "",
            waited=self._clock.monotonic() - started,
            role=getattr(request, "role", None),
            finished=self._clock.monotonic(),
            dialect=request.dialect.value,
            missing=missing,
        )
        if isinstance(reply, Nack):
            log.warning("%s: %s %s: nack: %s", self.device, record.api, record.message_id or "", reply.reason)
        with self._state_lock:
            self.calls.append(record)
        if self._on_call is not None:
            self._on_call(record)
        typed = encode_reply(request, reply, max_line=self.max_line)
        if request.token is not None:
            with self._state_lock:
                if request.token in self._replies:
                    self._replies[request.token] = typed
                self._unconfirmed[request.token] = 1
            token = request.token
            self.type_bytes(typed, on_typed=lambda: self._await_confirmation(token, typed))
        elif typed:
            self.type_bytes(typed)

    # --- recovery timers -------------------------------------------------------------------
    def _after(self, delay: float, action: Callable[[], None]) -> None:
        self._scheduler.after(delay, action)

    def _await_confirmation(self, token: str, typed: bytes) -> None:
        """Type the reply again unless the helper confirms it (DONE) in time."""

        def check() -> None:
            with self._state_lock:
                copies = self._unconfirmed.get(token)
                if copies is None:
                    return
                if copies >= MAX_RETYPES:
                    del self._unconfirmed[token]
                    log.warning("%s: reply %s never confirmed after %d copies; giving up", self.device, token, copies)
                    return
                self._unconfirmed[token] = copies + 1
            log.info("%s: reply %s not confirmed; typing it again", self.device, token)
            self.type_bytes(typed, on_typed=lambda: self._await_confirmation(token, typed))

        with self._state_lock:
            copies = self._unconfirmed.get(token, 1)
        self._after(_backoff(self.ack_timeout, copies) + len(typed) / 4096, check)

    def console_reconnected(self) -> None:
        """The console came back after a gap (a USB adapter re-enumerated): what crossed it is lost.

        A marker the board printed meanwhile is asked for again (a retry line,
        when retries are allowed), and every reply not yet confirmed is typed
        again now rather than at its next backoff.
        """
        with self._state_lock:
            replies = [self._replies.get(token) for token in self._unconfirmed]
            ask = self._retries_allowed
        log.info("%s: console back after a gap; asking for lost markers, typing unconfirmed replies", self.device)
        for typed in replies:
            if typed:
                self.type_bytes(typed)
        if ask:
            # One line, not a chain: maybe no helper waits at all (nothing was lost); a
            # helper that does prints its marker again, and damage to that is handled as usual.
            self.type_bytes(wire.SS_RETRY_LINE)

    def allow_retries(self, allowed: bool) -> None:
        """Whether the board may be asked to print a damaged marker again (typing a retry line).

        Replies to markers are always typed; a retry line is typed only while
        this is on: a runner turns it on while a step of the board runs, and a
        dispatcher using attach() while it has a test running (it starts on,
        unless the watcher was made with ``retries=False``).
        """
        with self._state_lock:
            self._retries_allowed = allowed

    def _type_retry(self, *, continuing: bool = False) -> None:
        """Ask the board to print its marker again, and again later if nothing intact comes."""
        with self._state_lock:
            if not self._retries_allowed:
                log.info("%s: no retry line typed: no step of the board is running", self.device)
                return
            now = self._clock.monotonic()
            expired = now - self._retrying_since > self.call_timeout
            if continuing and expired:
                # Keep asking, ever more slowly, as long as a helper's call could
                # still be alive; the chain ends here.
                return
            if self._retries_since_intact == 0 or expired:
                # A new chain: a damaged marker seen after an earlier chain gave
                # up must still be asked for again, or its helper waits for ever.
                self._retries_since_intact = 0
                self._retrying_since = now
            self._retries_since_intact += 1
            if self._retries_queued >= MAX_QUEUED_RETRIES:
                return  # the retry lines still waiting to be typed ask for this one too
            self._retries_queued += 1

        def check(seen: int) -> None:
            with self._state_lock:
                still_nothing = self._retries_since_intact == seen
            if still_nothing:
                self._type_retry(continuing=True)

        def typed() -> None:
            # The count as it is now: damage noticed while the line waited is answered by it.
            with self._state_lock:
                self._retries_queued -= 1
                seen = self._retries_since_intact
            if seen:
                self._after(_backoff(self.ack_timeout, seen), lambda: check(seen))

        self.type_bytes(wire.SS_RETRY_LINE, on_typed=typed)

    def close(self) -> None:
        """Stop the recovery timers; what is queued is still typed, then the writer thread ends."""
        self._scheduler.close()
        with self._outbox_cond:
            self._closed = True
            self._outbox_cond.notify_all()

    # --- output -------------------------------------------------------------------------
    def type_bytes(
        self,
        data: bytes,
        on_typed: Callable[[], None] | None = None,
        on_failed: Callable[[Exception], None] | None = None,
    ) -> None:
        """Queue bytes to type into the board; they go in order, paced by the pacer.

        on_typed runs on the writer thread once the bytes went out; on_failed,
        instead of it, if they could not be typed (the echo never confirmed a
        line, or the console is dead).
        """
        if not data:
            return
        with self._outbox_cond:
            self._outbox.append((bytes(data), on_typed, on_failed))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name=f"{self.device}-writer", daemon=True)
                self._writer.start()
            self._outbox_cond.notify_all()

    def flush(self, timeout: float | None) -> bool:
        """Block until everything queued was typed (True) or timeout (False)."""
        with self._outbox_cond:
            return self._outbox_cond.wait_for(lambda: not self._outbox and not self._typing, timeout)

    def _write_loop(self) -> None:
        while True:
            with self._outbox_cond:
                self._outbox_cond.wait_for(lambda: self._outbox or self._closed)
                if not self._outbox:
                    self._writer = None
                    return  # closed, and everything queued was typed
                data, on_typed, on_failed = self._outbox.popleft()
                self._typing = True
            failure: Exception | None = None
            try:
                self.pacer.type(data, self._write)
            except EchoMismatch as e:
                # The board's echo never confirmed a line (echo pacing): it was erased,
                # not handed over. Its recovery timer still runs, so a reply is typed again.
                log.warning("%s: could not type a line: %s", self.device, e)
                failure = e
            except Exception as e:  # a dead console: remember it, keep draining
                if self.write_error is None:
                    log.warning("%s: cannot type into the console: %s", self.device, e)
                self.write_error = e
                on_typed = None
                failure = e
            try:
                # Exactly one of the two when the caller gave on_failed; without it,
                # a line erased by echo pacing still counts as typed (its recovery
                # timer types a reply again).
                if failure is not None and on_failed is not None:
                    on_failed(failure)
                elif on_typed is not None:
                    on_typed()
            finally:
                with self._outbox_cond:
                    self._typing = False
                    self._outbox_cond.notify_all()
