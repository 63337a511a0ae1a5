"""The retransmission rules, sans-IO: events and the time in, actions out; no threads, no clock."""

from __future__ import annotations

import itertools

import pytest

from serialsync.protocol import wire
from serialsync.protocol.recovery import (
    MAX_QUEUED_RETRIES,
    MAX_RETYPES,
    REPLY_TRANSITIONS,
    Arm,
    Note,
    Recovery,
    ReplyState,
    TypeBytes,
    backoff,
)

REPLY = b"#SERIALSYNC1 t.1 1/1 0badc0de ok\n"


def typed_bytes(actions) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, TypeBytes)]


def timers(actions) -> list[Arm]:
    return [a for a in actions if isinstance(a, Arm)]


class Driver:
    """Carries actions out the way the watcher does, on a fake clock: typing is instant."""

    def __init__(self, recovery: Recovery) -> None:
        self.recovery = recovery
        self.now = 0.0
        self.typed: list[tuple[float, bytes]] = []
        self.armed: list[tuple[float, object]] = []  # (due, timer)

    def apply(self, actions) -> None:
        for action in actions:
            if isinstance(action, TypeBytes):
                self.typed.append((self.now, action.data))
                if action.typed is not None:
                    self.apply(self.recovery.typed(action.typed))
            elif isinstance(action, Arm):
                self.armed.append((self.now + action.delay, action.timer))

    def advance(self, seconds: float) -> None:
        """Let fake time pass, firing due timers in order."""
        end = self.now + seconds
        while self.armed:
            self.armed.sort(key=lambda item: item[0])
            due, timer = self.armed[0]
            if due > end:
                break
            self.armed.pop(0)
            self.now = due
            self.apply(self.recovery.expired(timer, self.now))
        self.now = end


def test_recovery_first_request_is_served_and_a_repeat_is_answered_from_the_reply():
    recovery = Recovery(ack_timeout=2.0, call_timeout=60.0)
    assert recovery.request("t.1") == (True, [])
    assert recovery.request("t.1") == (False, [])  # still being served: its reply will come
    recovery.answered("t.1", REPLY)
    new, actions = recovery.request("t.1")
    assert not new and typed_bytes(actions) == [REPLY]


def test_recovery_retypes_an_unconfirmed_reply_with_doubling_waits_then_gives_up():
    driver = Driver(Recovery(ack_timeout=1.0, call_timeout=600.0))
    driver.recovery.request("t.1")
    driver.apply(driver.recovery.answered("t.1", REPLY))
    driver.advance(3600)
    times = [t for t, data in driver.typed if data == REPLY]
    assert len(times) == MAX_RETYPES
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    extra = len(REPLY) / 4096
    assert gaps == [round(backoff(1.0, n) + extra, 3) for n in range(1, MAX_RETYPES)]
    assert gaps[-1] == round(8.0 + extra, 3)  # the wait stops doubling
    assert driver.recovery.unconfirmed() == []  # given up: nothing left owed


def test_recovery_a_confirmation_stops_the_copies():
    driver = Driver(Recovery(ack_timeout=1.0, call_timeout=600.0))
    driver.recovery.request("t.1")
    driver.apply(driver.recovery.answered("t.1", REPLY))
    driver.advance(1.5)  # one copy more went out
    driver.recovery.confirmed("t.1")
    driver.advance(600)
    assert len(driver.typed) == 2
    assert driver.recovery.unconfirmed() == []


def test_recovery_a_new_request_settles_the_earlier_unconfirmed_replies():
    driver = Driver(Recovery(ack_timeout=1.0, call_timeout=600.0))
    driver.recovery.request("t.1")
    driver.apply(driver.recovery.answered("t.1", REPLY))
    assert driver.recovery.unconfirmed() == ["t.1"]
    assert driver.recovery.request("t.2") == (True, [])
    driver.advance(600)
    assert len(driver.typed) == 1  # helpers take turns: t.1's helper is done
    # ... but a repeat of t.1 is still answered with its reply.
    assert typed_bytes(driver.recovery.request("t.1")[1]) == [REPLY]


def test_recovery_asks_again_ever_more_slowly_until_something_intact_arrives():
    driver = Driver(Recovery(ack_timeout=1.0, call_timeout=600.0))
    driver.apply(driver.recovery.damaged(driver.now))
    driver.advance(20)
    times = [t for t, data in driver.typed if data == wire.SS_RETRY_LINE]
    assert times[:5] == [0.0, 1.0, 3.0, 7.0, 15.0]
    driver.recovery.intact()
    count = len(driver.typed)
    driver.advance(600)
    assert len(driver.typed) == count


def test_recovery_stops_asking_once_no_call_can_still_wait():
    driver = Driver(Recovery(ack_timeout=1.0, call_timeout=30.0))
    driver.apply(driver.recovery.damaged(driver.now))
    driver.advance(3600)
    last = driver.typed[-1][0]
    assert 30.0 - 8.0 <= last <= 30.0 and len(driver.typed) < 10  # the next one would come after 30 s
    # Damage seen after that chain ended starts a new one at once.
    driver.apply(driver.recovery.damaged(driver.now))
    assert driver.typed[-1] == (driver.now, wire.SS_RETRY_LINE)


def test_recovery_queues_at_most_a_few_retry_lines_while_typing_is_slow():
    recovery = Recovery(ack_timeout=1.0, call_timeout=60.0)
    lines = [typed_bytes(recovery.damaged(0.0)) for _ in range(10)]  # none reported typed yet
    assert sum(len(found) for found in lines) == MAX_QUEUED_RETRIES


def test_recovery_types_no_retry_line_while_retries_are_off():
    recovery = Recovery(ack_timeout=1.0, call_timeout=60.0, retries_allowed=False)
    actions = recovery.damaged(0.0)
    assert typed_bytes(actions) == [] and any(isinstance(a, Note) for a in actions)
    recovery.request("t.1")
    recovery.answered("t.1", REPLY)
    assert typed_bytes(recovery.reconnected()) == [REPLY]  # replies still go; no retry line


def test_recovery_after_a_gap_retypes_every_unconfirmed_reply_and_asks_once():
    recovery = Recovery(ack_timeout=1.0, call_timeout=60.0)
    recovery.request("t.1")
    recovery.answered("t.1", REPLY)
    assert typed_bytes(recovery.reconnected()) == [REPLY, wire.SS_RETRY_LINE]
    recovery.confirmed("t.1")
    assert typed_bytes(recovery.reconnected()) == [wire.SS_RETRY_LINE]


def test_recovery_a_resend_of_an_unknown_request_asks_for_the_marker():
    recovery = Recovery(ack_timeout=1.0, call_timeout=60.0)
    assert typed_bytes(recovery.resend_asked("t.9", 0.0)) == [wire.SS_RETRY_LINE]
    recovery.request("t.1")
    assert typed_bytes(recovery.resend_asked("t.1", 0.0)) == []  # pending: the reply will come
    recovery.answered("t.1", REPLY)
    assert typed_bytes(recovery.resend_asked("t.1", 0.0)) == [REPLY]


@pytest.mark.parametrize(("state", "happened"), sorted(REPLY_TRANSITIONS, key=str))
def test_recovery_reply_transitions_are_data(state, happened):
    nxt = REPLY_TRANSITIONS[(state, happened)]
    assert isinstance(nxt, ReplyState)
    assert (ReplyState.SETTLED, happened) not in REPLY_TRANSITIONS  # settled is final
