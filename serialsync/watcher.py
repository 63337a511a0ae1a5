"""One watcher per device connection: markers in, coordinator calls, replies out.

The one joint between the rooms: the parser turns bytes into events, the
sans-IO Recovery decides what to type again, serving.py asks the group, and
the Keyboard types. It is fed console bytes (by ConsoleSession, by a tee on someone else's pexpect
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
from collections import deque
from collections.abc import Callable

from ._scheduler import Scheduler, WorkerPool
from ._time import SYSTEM_CLOCK, Clock, Deadline
from .coordinator import Coordinator
from .keyboard import Keyboard, Pacer
from .protocol import (
    DamagedRequest,
    Discarded,
    Event,
    LostStarts,
    MarkerParser,
    Nack,
    Reply,
    ReplyReceived,
    Request,
    ResendRequest,
    encode_reply,
)
from .protocol.recovery import Action, Arm, Note, Recovery, TypeBytes
from .protocol.replies import DEFAULT_MAX_LINE
from .serving import CallRecord, blocks, record_of, serve

__all__ = ["ACK_TIMEOUT", "CallRecord", "Watcher"]

log = logging.getLogger("serialsync.watcher")

MAX_PENDING_CALLS = 64  # blocking calls one console may have waiting at once; more are nacked
MAX_KEPT_CALLS = 1000  # calls a watcher remembers in .calls (on_call sees every one)
ACK_TIMEOUT = 2.0  # seconds a serialsync helper has to confirm a reply (plus 1 s per 4 KiB)


class Watcher:
    """The pump of one console: parser -> recovery -> coordinator -> encode -> keyboard."""

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
        self.parser = MarkerParser() if max_marker_bytes is None else MarkerParser(max_marker_bytes)
        self.keyboard = Keyboard(device, write, pacer)
        # The latest calls served (bounded: a board printing garbage must not grow the host).
        self.calls: deque[CallRecord] = deque(maxlen=MAX_KEPT_CALLS)
        self._on_call = on_call
        self._on_request = on_request
        self._clock = clock
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        # Retry lines are typed only while a step of the board runs (retries=False until then),
        # so that console noise during a boot gets no keystroke: a bootloader stops on any byte.
        self._recovery = Recovery(ack_timeout=ack_timeout, call_timeout=call_timeout, retries_allowed=retries)
        self._scheduler = Scheduler(f"{device}-timers")  # real time: a test's stepped clock moves timestamps only
        # Blocking calls wait on reused threads: starting one per call cost a
        # third of the host's time per served marker (benchmarks/scan).
        self._calls = WorkerPool(f"{device}-call")

    @property
    def pacer(self) -> Pacer:
        return self.keyboard.pacer

    @property
    def write_error(self) -> Exception | None:
        return self.keyboard.write_error

    # --- input ------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Console bytes from the board, in any chunking."""
        self.keyboard.observe(data)
        self.parser.receive_data(data)
        for event in self.parser.events():
            self._handle(event)

    def pending(self) -> int:
        """Calls still waiting on the coordinator."""
        with self._lock:
            return self._pending

    def unconfirmed(self) -> list[str]:
        """Tokens of replies typed but not yet confirmed by their helper."""
        with self._lock:
            return self._recovery.unconfirmed()

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until no call is pending (True) or timeout (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # --- dispatch -----------------------------------------------------------------
    def _handle(self, event: Event) -> None:
        if isinstance(event, Discarded):
            log.debug("%s: dropped %d bytes: %s", self.device, event.size, event.reason)
            return
        if isinstance(event, (DamagedRequest, LostStarts)):
            what = event.reason if isinstance(event, DamagedRequest) else "its start was damaged"
            log.info("%s: damaged marker (%s); asking the board to print it again", self.device, what)
            self._recover(lambda now: self._recovery.damaged(now))
            return
        token = event.token
        if token is None:
            self._serve_request(event)
            return
        if isinstance(event, ReplyReceived):
            with self._lock:
                self._recovery.intact()
                self._recovery.confirmed(token)
            return
        with self._lock:
            self._recovery.intact()
        if isinstance(event, ResendRequest):
            self._recover(lambda now: self._recovery.resend_asked(token, now))
        else:
            with self._lock:
                new, actions = self._recovery.request(token)
            self._apply(actions)
            if new:  # else a retransmission of a call already served or under way
                self._serve_request(event)

    def _serve_request(self, request: Request) -> None:
        if self._on_request is not None:
            self._on_request(self.device, request)
        if not blocks(request):
            started = self._clock.monotonic()
            self._finish(request, self._serve(request), started)
            return
        with self._lock:
            full = self._pending >= MAX_PENDING_CALLS
            if not full:
                self._pending += 1
        if full:
            # Bounded: console noise that forms valid markers must not start a waiting call each.
            why = f"too many calls waiting on this console ({MAX_PENDING_CALLS}); is something printing markers?"
            self._finish(request, (Nack(why), ()), self._clock.monotonic())
            return
        self._calls.submit(lambda: self._serve_blocking(request))

    def _serve(self, request: Request) -> tuple[Reply, tuple[str, ...]]:
        return serve(request, self.coordinator, self.device, Deadline.after(self.call_timeout, self._clock))

    def _serve_blocking(self, request: Request) -> None:
        started = self._clock.monotonic()
        try:
            self._finish(request, self._serve(request), started)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _finish(self, request: Request, served: tuple[Reply, tuple[str, ...]], started: float) -> None:
        reply, missing = served
        record = record_of(self.device, request, reply, missing, started, self._clock.monotonic())
        if isinstance(reply, Nack):
            log.warning("%s: %s %s: nack: %s", self.device, record.api, record.message_id or "", reply.reason)
        # Recorded before its reply is typed: whatever the board does once it has the
        # reply (end its step, say) can only be seen after the record exists.
        with self._lock:
            self.calls.append(record)
        if self._on_call is not None:
            self._on_call(record)
        typed = encode_reply(request, reply, max_line=self.max_line)
        if request.token is not None:
            token = request.token
            self._recover(lambda _now: self._recovery.answered(token, typed))
        elif typed:
            self.type_bytes(typed)  # LAVA's helpers check nothing: the pacer must prove the line

    # --- recovery: the sans-IO Recovery decides, this carries its actions out ---------
    def _recover(self, decide: Callable[[float], list[Action]]) -> None:
        with self._lock:
            actions = decide(self._clock.monotonic())
        self._apply(actions)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, TypeBytes):
                typed = action.typed
                on_typed = (
                    None
                    if typed is None
                    else (lambda typed=typed: self._recover(lambda _now: self._recovery.typed(typed)))
                )
                # Replies and retry lines carry their own checksum: a damaged copy is refused by the helper.
                self.keyboard.type(action.data, checked=False, on_typed=on_typed)
            elif isinstance(action, Arm):
                timer = action.timer
                self._scheduler.after(
                    action.delay, lambda timer=timer: self._recover(lambda now: self._recovery.expired(timer, now))
                )
            elif isinstance(action, Note):
                log.info("%s: %s", self.device, action.text)

    def console_reconnected(self) -> None:
        """The console came back after a gap (a USB adapter re-enumerated): what crossed it is lost."""
        log.info("%s: console back after a gap; asking for lost markers, typing unconfirmed replies", self.device)
        self._recover(lambda _now: self._recovery.reconnected())

    def allow_retries(self, allowed: bool) -> None:
        """Whether the board may be asked to print a damaged marker again (typing a retry line).

        Replies to markers are always typed; a retry line is typed only while
        this is on: a runner turns it on while a step of the board runs, and a
        dispatcher using attach() while it has a test running (it starts on,
        unless the watcher was made with ``retries=False``).
        """
        with self._lock:
            self._recovery.retries_allowed = allowed

    def close(self) -> None:
        """Stop the recovery timers; what is queued is still typed, then the writer thread ends."""
        self._scheduler.close()
        self.keyboard.close()

    # --- output -------------------------------------------------------------------------
    def type_bytes(
        self,
        data: bytes,
        on_typed: Callable[[], None] | None = None,
        on_failed: Callable[[Exception], None] | None = None,
    ) -> None:
        """Queue bytes to type into the board, after what is queued (see Keyboard.type)."""
        self.keyboard.type(data, on_typed=on_typed, on_failed=on_failed)

    def flush(self, timeout: float | None) -> bool:
        """Block until everything queued was typed (True) or timeout (False)."""
        return self.keyboard.flush(timeout)
