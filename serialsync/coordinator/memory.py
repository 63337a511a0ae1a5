"""The in-process coordinator: one lock, one condition variable, no polling.

Every state change (send, sync round completed, leave, close) calls
notify_all; each waiter re-checks its own predicate and goes back to sleep
until its deadline. Waiters never poll on a timer.

It also sees the whole group, so it notices when the group is stuck: every
device still in it waits in a call that none of the others can complete (at
two different syncs, say, or each waiting for what the other sends after its
own wait). That is logged at once, naming who waits for what. The calls are
still answered at their timeouts, not earlier: a call can outlive the helper
that made it (`timeout 5 lava-wait x` in a test), so a device whose call is
pending may in fact be busy, and nacking the others would be wrong.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from serialsync._time import SYSTEM_CLOCK, Clock, Deadline
from serialsync.coordinator.base import (
    Coordinator,
    GroupData,
    Member,
)
from serialsync.coordinator.calls import SYNC, WAIT, WAIT_ALL
from serialsync.coordinator.notify import StuckNotifier
from serialsync.coordinator.rules import (
    MAX_MESSAGE_IDS,
    BlockedCall,
    check_data,
    check_members,
    check_message_id,
    copy_group_data,
    left_reasons,
    log,
    stuck_report,
    timed_out,
    too_many_message_ids,
)
from serialsync.errors import CoordinatorError, DeviceLeft, GroupTimeout, UnknownDevice

__all__ = ["MAX_MESSAGE_IDS", "MemoryCoordinator"]

_T = TypeVar("_T")


class _Barrier:
    """One sync ID. ``generation`` counts completed rounds; ``arrived`` is the current round only.

    A waiter remembers the generation it arrived in and is released when it
    changes. A fast device that re-enters after the round completed lands in
    the next, empty round, so it can neither complete that round early nor be
    released by the old one.
    """

    __slots__ = ("arrived", "generation")

    def __init__(self) -> None:
        self.generation = 0
        self.arrived: set[str] = set()


class _Waiter:
    """A call blocked in _block: which call, and how it would know it can go on."""

    __slots__ = ("attempt", "call")

    def __init__(self, call: BlockedCall, attempt: Callable[[], object]) -> None:
        self.call = call
        self.attempt = attempt


class MemoryCoordinator(Coordinator):
    """Group state held in this process; safe to call from many threads at once.

    ``clock`` is kept for callers that build deadlines on the group's clock
    (``Deadline.after(t, coordinator.clock)``); waits always follow each
    Deadline's own clock.
    """

    def __init__(
        self,
        members: Iterable[Member],
        clock: Clock = SYSTEM_CLOCK,
        on_stuck: Callable[[str], None] | None = None,
    ) -> None:
        """``on_stuck(text)`` hears when the group gets stuck, and ``on_stuck("")`` when it is no
        longer; it runs on a thread of its own, never under the group's lock."""
        self._members = check_members(members)
        self._devices = tuple(member.device for member in self._members)
        self._device_set = frozenset(self._devices)
        self.clock = clock
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        # Apart from _cond, so that a call blocking wakes wait_blocked() only, not every waiter.
        self._blocked_cond = threading.Condition(lock)
        # message ID -> sender -> key -> value; sync state lives apart in _barriers.
        self._messages: dict[str, dict[str, dict[str, bytes]]] = {}
        self._barriers: dict[str, _Barrier] = {}
        self._left: dict[str, str] = {}
        self._closed = False
        self._waiters: list[_Waiter] = []  # calls blocked right now, in the order they blocked
        self._stuck = StuckNotifier(on_stuck)

    @property
    def members(self) -> tuple[Member, ...]:
        return self._members

    def _check_device(self, device: str) -> None:
        # A set lookup: this runs on every call from every device.
        if device not in self._device_set:
            raise UnknownDevice(f"device {device!r} is not in the group ({', '.join(self._devices)})")

    def _enter(self, device: str, message_id: str) -> None:
        """Checks common to every call; the caller holds the lock."""
        if self._closed:
            raise CoordinatorError("coordinator closed")
        check_message_id(message_id)
        self._check_device(device)
        try:
            self._check_caller_present(device)
        except DeviceLeft as e:
            log.warning("%s: %s", device, e)
            raise

    def _check_caller_present(self, device: str) -> None:
        if device in self._left:
            raise self._device_left(device, f"{device} has left the group ({self._left[device]})")

    def _device_left(self, device: str, reason: str) -> DeviceLeft:
        # Logged by the call that raises it: attempts are also run to test for a deadlock.
        return DeviceLeft(reason)

    def _block(
        self,
        call: BlockedCall,
        deadline: Deadline,
        attempt: Callable[[], _T | None],
        on_timeout: Callable[[], GroupTimeout],
    ) -> _T:
        """Wait (lock held) until ``attempt`` returns a value; it raises if it never can.

        ``call`` says what the call waits for, for blocked() and the report of a stuck group.
        """
        device = call.device
        waiter = _Waiter(call, attempt)
        try:
            while True:
                if self._closed:
                    raise CoordinatorError("coordinator closed")
                result = attempt()
                if result is not None:
                    return result
                remaining = deadline.remaining
                if remaining <= 0:
                    error = on_timeout()
                    error.doing = {
                        w.call.device: w.call.describe() for w in self._waiters if w.call.device in error.missing
                    }
                    log.warning("%s: %s", device, error)
                    raise error
                if waiter not in self._waiters:
                    self._waiters.append(waiter)
                    self._blocked_cond.notify_all()
                    self._report_stall()
                # Condition.wait raises OverflowError past TIMEOUT_MAX; None means no limit.
                self._cond.wait(None if math.isinf(remaining) else min(remaining, threading.TIMEOUT_MAX))
        except DeviceLeft as e:
            log.warning("%s: %s", device, e)
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                if self._stuck.reported:
                    self._stuck.report("")  # a call of the stuck group ended: it moves again

    def _report_stall(self) -> None:
        """Lock held, a call just blocked: is every device still here blocked for good? Say so.

        rules.stuck_report decides, from the state under the same lock as
        every state change: a call that could go on now (woken, not yet
        running) or would fail at once proves the group is not stuck.
        """
        if len(self._waiters) < len(self._devices) - len(self._left):
            return  # fewer calls waiting than devices here: some device is free (the usual case, O(1))
        calls = [waiter.call for waiter in self._waiters]
        text = stuck_report(
            self._members,
            self._left,
            calls,
            {call.message_id: set(self._messages.get(call.message_id, ())) for call in calls},
            {message_id: set(barrier.arrived) for message_id, barrier in self._barriers.items()},
        )
        if text:
            self._stuck.report(text)

    def report_stuck_to(self, on_stuck: Callable[[str], None]) -> None:
        self._stuck.listen(on_stuck)

    def blocked(self) -> dict[str, str]:
        with self._cond:
            return {waiter.call.device: waiter.call.describe() for waiter in self._waiters}

    def wait_blocked(self, device: str, deadline: Deadline) -> str | None:
        self._check_device(device)
        with self._cond:
            while True:
                if self._closed:
                    raise CoordinatorError("coordinator closed")
                for waiter in self._waiters:
                    if waiter.call.device == device:
                        return waiter.call.describe()
                remaining = deadline.remaining
                if remaining <= 0:
                    return None
                self._blocked_cond.wait(None if math.isinf(remaining) else min(remaining, threading.TIMEOUT_MAX))

    def send(self, device: str, message_id: str, data: Mapping[str, bytes]) -> None:
        clean = check_data(data)
        with self._cond:
            self._enter(device, message_id)
            if message_id not in self._messages and len(self._messages) >= MAX_MESSAGE_IDS:
                raise too_many_message_ids(message_id)
            self._messages.setdefault(message_id, {}).setdefault(device, {}).update(clean)
            self._cond.notify_all()

    def wait(self, device: str, message_id: str, deadline: Deadline) -> GroupData:
        with self._cond:
            self._enter(device, message_id)
            others = [other for other in self._devices if other != device]

            def attempt() -> GroupData | None:
                senders = self._messages.get(message_id)
                if senders:
                    return copy_group_data(senders, self._devices)
                self._check_caller_present(device)
                # Only when nobody is left who could send it (a one-device group just times out).
                if others and all(other in self._left for other in others):
                    raise self._device_left(
                        device,
                        f"{message_id!r} can never arrive: every other device has left the group: "
                        + left_reasons(self._left, others),
                    )
                return None

            return self._block(
                BlockedCall(device, WAIT, message_id),
                deadline,
                attempt,
                # Any other device still here could have sent it: name them, for the report.
                lambda: timed_out(
                    deadline,
                    f"{message_id!r} from any device",
                    [o for o in others if o not in self._left],
                    "never sent it",
                ),
            )

    def wait_all(self, device: str, message_id: str, role: str | None, deadline: Deadline) -> GroupData:
        with self._cond:
            self._enter(device, message_id)
            # Unknown role fails here, before any waiting.
            required = list(self._devices) if role is None else self.devices_of(role)
            scope = f"{message_id!r} from " + ("every device" if role is None else f"role {role!r}")

            def missing() -> list[str]:
                senders = self._messages.get(message_id, {})
                return [member for member in required if member not in senders]

            def attempt() -> GroupData | None:
                absent = missing()
                if not absent:
                    return copy_group_data(self._messages[message_id], self._devices)
                self._check_caller_present(device)
                gone = [member for member in absent if member in self._left]
                if gone:
                    raise self._device_left(device, f"{scope} can never complete: " + left_reasons(self._left, gone))
                return None

            return self._block(
                BlockedCall(device, WAIT_ALL, message_id, role),
                deadline,
                attempt,
                lambda: timed_out(deadline, scope, missing(), "never sent it"),
            )

    def sync(self, device: str, message_id: str, deadline: Deadline) -> None:
        with self._cond:
            self._enter(device, message_id)
            barrier = self._barriers.setdefault(message_id, _Barrier())
            if device in barrier.arrived:
                raise CoordinatorError(
                    f"{device} is already waiting at sync {message_id!r}: an earlier call of it has not "
                    "ended (a helper stopped while it waited?); it ends at its timeout"
                )
            generation = barrier.generation
            barrier.arrived.add(device)
            if len(barrier.arrived) == len(self._devices):
                # Last to arrive: open the barrier. Its waiters hold this object and see the new
                # generation; the next round of the same ID starts a fresh one (kept only while used).
                barrier.generation += 1
                barrier.arrived = set()
                del self._barriers[message_id]
                self._cond.notify_all()
                return

            def attempt() -> bool | None:
                if barrier.generation != generation:
                    return True
                self._check_caller_present(device)
                gone = [other for other in self._left if other not in barrier.arrived]
                if gone:
                    raise self._device_left(
                        device,
                        f"sync {message_id!r} can never complete: " + left_reasons(self._left, gone),
                    )
                return None

            def on_timeout() -> GroupTimeout:
                absent = [other for other in self._devices if other not in barrier.arrived]
                return timed_out(deadline, f"sync {message_id!r}", absent, "never reached it")

            try:
                self._block(BlockedCall(device, SYNC, message_id), deadline, attempt, on_timeout)
            except BaseException:
                # A caller that gave up is no longer at the barrier, unless it left the group:
                # like a sent message, a departed device's arrival still counts.
                if barrier.generation == generation and device not in self._left:
                    barrier.arrived.discard(device)
                    if not barrier.arrived and self._barriers.get(message_id) is barrier:
                        del self._barriers[message_id]  # nobody waits there now: forget it
                raise

    def leave(self, device: str, reason: str) -> None:
        """Mark ``device`` gone. The first reason is kept; leaving after close() is a no-op."""
        self._check_device(device)
        with self._cond:
            if self._closed or device in self._left:
                return
            self._left[device] = reason or "no reason given"
            log.info("%s left the group: %s", device, self._left[device])
            self._cond.notify_all()
            if self._waiters:
                self._report_stall()  # those still waiting may now wait for each other only

    def departed(self) -> dict[str, str]:
        with self._cond:
            return dict(self._left)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._blocked_cond.notify_all()
            self._stuck.close()

    def __repr__(self) -> str:
        return f"MemoryCoordinator(devices={list(self._devices)!r}, left={sorted(self._left)!r})"
