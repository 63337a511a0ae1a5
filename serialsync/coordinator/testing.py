"""Conformance suite for Coordinator backends, in the style of trio's ``check_*`` helpers.

Each check is a plain function taking a factory ``make(members) -> Coordinator``
and asserting user-visible behaviour only, so every backend (memory, Redis)
runs the same tests::

    @pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda check: check.__name__)
    def test_conformance(check):
        check(lambda members: MyCoordinator(members))

Timing rules: a deadline that must pass is SHORT (0.2 s); one that must not
is LONG (10 s); nothing synchronises with sleep. Threads meet on Events, and
"still blocked" is proven by the backend itself: ``wait_blocked`` returns
once it holds the call blocked (taken, and found unable to end yet), and the
call must not have returned then. A call that wrongly returns never gets
there, however slow the machine. So a "not yet" state (two of three sent)
is set up before the call starts, not while it waits: a wake-up the call
had not yet acted on would prove nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from serialsync._time import SYSTEM_CLOCK, Deadline, format_seconds
from serialsync.coordinator.base import Coordinator, Member
from serialsync.coordinator.rules import MAX_MESSAGE_IDS
from serialsync.errors import (
    CoordinatorError,
    DeviceLeft,
    GroupTimeout,
    UnknownDevice,
    UnknownRole,
)

Factory = Callable[[list[Member]], Coordinator]

SHORT = 0.2  # a deadline that must pass
LONG = 10.0  # a deadline that must not pass, even on a loaded machine
PROMPT = 2.0  # a released waiter must return within this of the event that released it
CLOCK = SYSTEM_CLOCK  # every duration here is measured on the clock deadlines use

_T = TypeVar("_T")
_E = TypeVar("_E", bound=BaseException)

# Names chosen so none is a substring of another: a message naming board-b never names board-a by accident.
SERVER, CLIENT1, CLIENT2 = "board-a", "board-b", "board-c"


def _trio() -> list[Member]:
    return [Member(SERVER, "server"), Member(CLIENT1, "client"), Member(CLIENT2, "client")]


def _group(size: int) -> list[Member]:
    return [Member(f"dut{index:02d}", "worker") for index in range(size)]


def _long() -> Deadline:
    return Deadline.after(LONG)


def _short() -> Deadline:
    return Deadline.after(SHORT)


class _Call(Generic[_T]):
    """Run one blocking call in its own worker thread; the Future keeps its outcome for the test thread."""

    def __init__(self, fn: Callable[[], _T], name: str = "call") -> None:
        self.name = name
        self.finished_at: float | None = None
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._future: Future[_T] = executor.submit(self._timed, fn)
        executor.shutdown(wait=False)  # the submitted call still runs; no more work comes

    def _timed(self, fn: Callable[[], _T]) -> _T:
        # Stamped in the worker before the Future completes, so it is set once a join returns.
        try:
            return fn()
        finally:
            self.finished_at = CLOCK.monotonic()

    def done(self) -> bool:
        return self._future.done()

    def _join(self, timeout: float) -> None:
        wait([self._future], timeout=timeout)
        if not self._future.done():
            raise AssertionError(f"{self.name} still blocked after {timeout}s")

    def result(self, timeout: float = LONG) -> _T:
        self._join(timeout)
        error = self._future.exception()
        if error is not None:
            raise AssertionError(f"{self.name} failed: {error!r}") from error
        return self._future.result()

    def failure(self, expected: type[_E], timeout: float = LONG) -> _E:
        self._join(timeout)
        error = self._future.exception()
        outcome = repr(error) if error is not None else f"it returned {self._future.result()!r}"
        assert isinstance(error, expected), f"{self.name}: expected {expected.__name__}, got {outcome}"
        return error


def _blocked(group: Coordinator, device: str, fn: Callable[[], _T], name: str) -> _Call[_T]:
    """Start ``fn`` (a call of ``device``) in its own thread; return once the backend holds it blocked."""
    call = _Call(fn, name)
    what = group.wait_blocked(device, Deadline.after(LONG))
    if what is None:
        ended = f": it ended with {call._future.exception()!r}" if call.done() else ""
        raise AssertionError(f"{name}: the backend never held it blocked{ended}")
    assert not call.done(), f"{name} returned although the backend held it blocked ({what})"
    return call


def _raises(expected: type[_E], fn: Callable[[], object]) -> _E:
    try:
        fn()
    except expected as exc:
        return exc
    raise AssertionError(f"expected {expected.__name__}")


@contextmanager
def _coordinator(make: Factory, members: list[Member]) -> Iterator[Coordinator]:
    # close() in every outcome releases threads of a failed check instead of leaving them blocked.
    coordinator = make(members)
    try:
        yield coordinator
    finally:
        coordinator.close()


def _assert_prompt(call: _Call[Any], since: float, what: str) -> None:
    assert call.finished_at is not None
    took = call.finished_at - since
    assert took < PROMPT, f"{what} took {took:.3f}s to release the waiter"


def _assert_names(message: str, present: list[str], absent: list[str]) -> None:
    for device in present:
        assert device in message, f"{device} missing from {message!r}"
    for device in absent:
        assert device not in message, f"{device} wrongly named in {message!r}"


# ---------------------------------------------------------------- group queries


def check_member_validation(make: Factory) -> None:
    Member("a-Z_0.9", "role_1")
    Member("x" * 64, "r")
    for device, role in [("", "r"), ("d", ""), ("x" * 65, "r"), ("dev\n", "r"), ("a b", "r"), ("d", "r:1")]:
        _raises(ValueError, lambda device=device, role=role: Member(device, role))


def check_group_queries(make: Factory) -> None:
    members = [
        Member("c1", "client"),
        Member("s1", "server"),
        Member("c2", "client"),
        Member("b1", "backend"),
    ]
    with _coordinator(make, members) as group:
        assert group.members == tuple(members)
        assert group.roles() == ["client", "server", "backend"]
        assert group.devices_of("client") == ["c1", "c2"]
        assert group.devices_of("backend") == ["b1"]
        error = _raises(UnknownRole, lambda: group.devices_of("router"))
        for word in ("router", "client", "server", "backend"):
            assert word in str(error), str(error)


def check_unknown_device_rejected(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        _raises(UnknownDevice, lambda: group.send("ghost", "m", {}))
        _raises(UnknownDevice, lambda: group.wait("ghost", "m", _long()))
        _raises(UnknownDevice, lambda: group.wait_all("ghost", "m", None, _long()))
        _raises(UnknownDevice, lambda: group.sync("ghost", "m", _long()))
        _raises(UnknownDevice, lambda: group.leave("ghost", "gone"))


def check_bad_message_id_rejected(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        for bad in ("", None, 7):
            _raises(ValueError, lambda bad=bad: group.send(SERVER, bad, {}))  # type: ignore[arg-type]
            _raises(ValueError, lambda bad=bad: group.wait(SERVER, bad, _long()))  # type: ignore[arg-type]
            _raises(ValueError, lambda bad=bad: group.wait_all(SERVER, bad, None, _long()))  # type: ignore[arg-type]
            _raises(ValueError, lambda bad=bad: group.sync(SERVER, bad, _long()))  # type: ignore[arg-type]


# ---------------------------------------------------------------- send / wait


def check_send_then_wait_returns_at_once(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "ready", {"ip": b"10.0.0.1"})
        # Already sent: no waiting at all, so even an expired deadline succeeds.
        assert group.wait(CLIENT1, "ready", Deadline.after(0)) == {SERVER: {"ip": b"10.0.0.1"}}
        prompt = Deadline.after(PROMPT, CLOCK)
        assert group.wait(CLIENT2, "ready", _long()) == {SERVER: {"ip": b"10.0.0.1"}}
        assert not prompt.expired


def check_wait_sees_callers_own_send(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(CLIENT1, "mine", {})
        assert group.wait(CLIENT1, "mine", Deadline.after(0)) == {CLIENT1: {}}


def check_message_ids_persist(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "ipv4", {"ipaddr": b"192.168.0.3"})
        expected = {SERVER: {"ipaddr": b"192.168.0.3"}}
        group.send(CLIENT1, "other", {"k": b"v"})
        for device in (CLIENT1, CLIENT2, CLIENT1, SERVER):
            assert group.wait(device, "ipv4", Deadline.after(0)) == expected
        group.send(CLIENT2, "ipv4", {})
        assert group.wait_all(CLIENT1, "ipv4", "server", Deadline.after(0)) == {**expected, CLIENT2: {}}


def check_repeated_send_merges_per_sender(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "cfg", {"a": b"1", "b": b"2"})
        group.send(SERVER, "cfg", {"b": b"two", "c": b"3"})
        group.send(CLIENT1, "cfg", {"a": b"client"})
        group.send(CLIENT2, "cfg", {})
        assert group.wait(CLIENT1, "cfg", _long()) == {
            SERVER: {"a": b"1", "b": b"two", "c": b"3"},
            CLIENT1: {"a": b"client"},
            CLIENT2: {},
        }


def check_returned_data_is_a_copy(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        data = {"k": b"v"}
        group.send(SERVER, "m", data)
        data["k"] = b"changed by caller"
        first = group.wait(CLIENT1, "m", _long())
        first[SERVER]["k"] = b"mutated"
        first["intruder"] = {}
        assert group.wait(CLIENT2, "m", _long()) == {SERVER: {"k": b"v"}}


def check_wait_blocks_until_later_send(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        waiter = _blocked(group, CLIENT1, lambda: group.wait(CLIENT1, "go", _long()), "wait(go)")
        sent_at = CLOCK.monotonic()
        sender = threading.Thread(target=group.send, args=(SERVER, "go", {"n": b"1"}))
        sender.start()
        sender.join(LONG)
        assert waiter.result() == {SERVER: {"n": b"1"}}
        _assert_prompt(waiter, sent_at, "send")


def check_values_are_byte_exact(make: Factory) -> None:
    values = {
        "nul_ff": b"\x00\xff",
        "markup": b"a b>c=d:e",
        "newlines": b"line1\nline2\r\n\r",
        "utf8": "h\u00e9llo \u2713 \u65e5\u672c".encode(),
        "shell": b"$(reboot) `id` 'single' \"double\" ; | & \\",
        "empty": b"",
        "every_byte": bytes(range(256)) * 64,
    }
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "bytes", values)
        got = group.wait(CLIENT1, "bytes", _long())[SERVER]
        assert got == values
        assert all(type(value) is bytes for value in got.values())
        group.send(CLIENT1, "bytes", values)
        assert group.wait_all(CLIENT2, "bytes", "server", Deadline.after(0)) == {
            SERVER: values,
            CLIENT1: values,
        }


def check_message_ids_are_bounded(make: Factory) -> None:
    """A group keeps MAX_MESSAGE_IDS message IDs; a send of one more is refused, saying what to check."""
    with _coordinator(make, [Member(SERVER, "server"), Member(CLIENT1, "client")]) as group:
        for index in range(MAX_MESSAGE_IDS):
            group.send(SERVER if index % 2 else CLIENT1, f"id{index}", {"n": str(index).encode()})
        error = _raises(CoordinatorError, lambda: group.send(SERVER, "one-too-many", {"k": b"v"}))
        _assert_names(str(error), [str(MAX_MESSAGE_IDS), "'one-too-many'", "printing markers"], [])
        # Nothing of the refused send was kept; IDs already held still take sends.
        _raises(GroupTimeout, lambda: group.wait(CLIENT1, "one-too-many", Deadline.after(0)))
        group.send(SERVER, "id0", {"more": b"1"})
        assert group.wait(CLIENT1, "id0", Deadline.after(0)) == {SERVER: {"more": b"1"}, CLIENT1: {"n": b"0"}}


# ---------------------------------------------------------------- wait_all


def check_wait_all_without_role_waits_for_every_device(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "up", {"who": b"s"})
        group.send(CLIENT1, "up", {"who": b"c1"})
        # Held blocked with two of three sent: proven by the backend, not by a call not yet returned.
        waiter = _blocked(group, SERVER, lambda: group.wait_all(SERVER, "up", None, _long()), "wait_all(up)")
        sent_at = CLOCK.monotonic()
        group.send(CLIENT2, "up", {"who": b"c2"})
        assert waiter.result() == {SERVER: {"who": b"s"}, CLIENT1: {"who": b"c1"}, CLIENT2: {"who": b"c2"}}
        _assert_prompt(waiter, sent_at, "the last send")


def check_wait_all_with_role_waits_for_every_device_of_role(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(CLIENT1, "joined", {"id": b"1"})
        # LAVA's coordinator would return here (first client sent); serialsync needs both.
        error = _raises(GroupTimeout, lambda: group.wait_all(SERVER, "joined", "client", _short()))
        _assert_names(str(error), [CLIENT2, "joined", "client"], [CLIENT1, SERVER])
        group.send(SERVER, "joined", {"id": b"s"})
        group.send(CLIENT2, "joined", {"id": b"2"})
        # Returns every sender of the ID, not only the role's.
        assert group.wait_all(SERVER, "joined", "client", Deadline.after(0)) == {
            CLIENT1: {"id": b"1"},
            SERVER: {"id": b"s"},
            CLIENT2: {"id": b"2"},
        }


def check_wait_all_role_ignores_other_roles(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "srv", {})
        assert group.wait_all(CLIENT1, "srv", "server", Deadline.after(0)) == {SERVER: {}}
        group.send(CLIENT1, "cli", {})  # one client of two
        waiter = _blocked(
            group, SERVER, lambda: group.wait_all(SERVER, "cli", "client", _long()), "wait_all(cli, client)"
        )
        group.send(CLIENT2, "cli", {})
        assert set(waiter.result()) == {CLIENT1, CLIENT2}


def check_wait_all_unknown_role_fails_at_once(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        prompt = Deadline.after(PROMPT, CLOCK)
        error = _raises(UnknownRole, lambda: group.wait_all(SERVER, "m", "router", _long()))
        assert not prompt.expired, "UnknownRole must not wait for the deadline"
        _assert_names(str(error), ["router", "server", "client"], [])


# ---------------------------------------------------------------- sync


def check_sync_releases_all_devices_together(make: Factory) -> None:
    members = _group(5)
    events: list[tuple[str, str]] = []

    def device(name: str) -> None:
        events.append(("enter", name))  # list.append is atomic
        group.sync(name, "start", _long())
        events.append(("exit", name))

    with _coordinator(make, members) as group:
        calls = [_Call(lambda name=m.device: device(name), m.device) for m in members]
        for call in calls:
            call.result()
    kinds = [kind for kind, _ in events]
    assert kinds.count("exit") == len(members)
    # Nobody may leave the barrier before everybody has entered it.
    assert kinds.index("exit") > max(i for i, kind in enumerate(kinds) if kind == "enter"), events


def check_sync_timeout_names_missing_devices(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        error = _raises(GroupTimeout, lambda: group.sync(CLIENT1, "barrier", _short()))
        _assert_names(str(error), ["'barrier'", format_seconds(SHORT), SERVER, CLIENT2], [CLIENT1])


def check_sync_timed_out_device_must_arrive_again(make: Factory) -> None:
    with _coordinator(make, [Member(SERVER, "server"), Member(CLIENT1, "client")]) as group:
        _raises(GroupTimeout, lambda: group.sync(CLIENT1, "barrier", _short()))
        # board-b gave up, so it is no longer at the barrier: board-a alone cannot pass.
        error = _raises(GroupTimeout, lambda: group.sync(SERVER, "barrier", _short()))
        _assert_names(str(error), [CLIENT1], [SERVER])
        # Arriving again works, and the barrier is reusable afterwards.
        for _ in range(2):
            waiter = _Call(lambda: group.sync(SERVER, "barrier", _long()), "sync server")
            group.sync(CLIENT1, "barrier", _long())
            waiter.result()


def check_sync_id_reused_in_loop(make: Factory) -> None:
    """50 rounds of one sync ID; one slow device alternately arrives last and first.

    Even rounds: the slow device enters only after every fast one has (it
    arrives last). Odd rounds: the fast ones enter only after the slow one
    (it is a waiter, woken when the last fast device arrives, while the fast
    ones race into the next round before it has run). A device returning
    from round r before all devices entered round r was let through early.
    """
    rounds = 50
    members = _group(4)
    devices = [member.device for member in members]
    slow = devices[0]
    lock = threading.Lock()
    entered = [0] * rounds
    released = [0] * rounds
    fast_entered = [0] * rounds
    all_fast_in = [threading.Event() for _ in range(rounds)]
    slow_in = [threading.Event() for _ in range(rounds)]
    early: list[str] = []

    def gate(event: threading.Event) -> None:
        if not event.wait(LONG):
            raise AssertionError("gate never opened")

    def run(device: str) -> None:
        try:
            for r in range(rounds):
                if device == slow and r % 2 == 0:
                    gate(all_fast_in[r])
                if device != slow and r % 2 == 1:
                    gate(slow_in[r])
                with lock:
                    entered[r] += 1
                    if device == slow:
                        slow_in[r].set()
                    else:
                        fast_entered[r] += 1
                        if fast_entered[r] == len(devices) - 1:
                            all_fast_in[r].set()
                group.sync(device, "step", _long())
                with lock:
                    if entered[r] != len(devices):
                        early.append(f"{device} left round {r} with {entered[r]}/{len(devices)} entered")
                    released[r] += 1
        except BaseException as exc:
            with lock:
                first_failure.append(f"{device}: {exc!r}")
            # Unblock everybody else so a failure is reported now, not after every deadline.
            for event in all_fast_in + slow_in:
                event.set()
            group.close()
            raise

    first_failure: list[str] = []
    with _coordinator(make, members) as group:
        calls = [_Call(lambda name=name: run(name), name) for name in devices]
        for call in calls:
            call._join(LONG * 3)
    # The earliest failure is the cause; later ones are mostly "coordinator closed" from the cleanup.
    assert not early, early
    assert not first_failure, first_failure[0]
    assert released == [len(devices)] * rounds, released


def check_sync_state_separate_from_messages(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        for device in (SERVER, CLIENT1, CLIENT2):
            group.send(device, "phase", {"k": b"v"})
        # Every device sent "phase", but nobody is at the "phase" barrier yet.
        error = _raises(GroupTimeout, lambda: group.sync(SERVER, "phase", _short()))
        _assert_names(str(error), [CLIENT1, CLIENT2], [SERVER])
        calls = [_Call(lambda d=d: group.sync(d, "only-sync", _long()), d) for d in (SERVER, CLIENT1, CLIENT2)]
        for call in calls:
            call.result()
        # A completed sync publishes no message.
        _raises(GroupTimeout, lambda: group.wait(SERVER, "only-sync", _short()))
        assert group.wait(CLIENT1, "phase", Deadline.after(0))[SERVER] == {"k": b"v"}


# ---------------------------------------------------------------- timeouts


def check_wait_timeout_names_message(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        deadline = _short()
        error = _raises(GroupTimeout, lambda: group.wait(CLIENT1, "never", deadline))
        assert deadline.expired, "the wait gave up before its deadline"
        _assert_names(str(error), ["'never'", format_seconds(SHORT)], [])


def check_timeout_says_what_each_missing_device_waits_in(make: Factory) -> None:
    """A timed-out call carries, for each device it waited for, the call that device waits in (if any)."""
    with _coordinator(make, _trio()) as group:
        waiter = _Call(lambda: group.wait(SERVER, "never-sent", _long()), "wait server")
        assert group.wait_blocked(SERVER, _long()) == "lava-wait 'never-sent'"
        error = _raises(GroupTimeout, lambda: group.sync(CLIENT1, "barrier", _short()))
        assert set(error.missing) == {SERVER, CLIENT2}, error.missing
        assert error.doing == {SERVER: "lava-wait 'never-sent'"}, error.doing  # CLIENT2 is in no call
        group.send(CLIENT2, "never-sent", {})
        waiter.result()


def check_wait_all_timeout_names_missing_devices(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "ready", {})
        error = _raises(GroupTimeout, lambda: group.wait_all(SERVER, "ready", None, _short()))
        _assert_names(str(error), ["'ready'", format_seconds(SHORT), CLIENT1, CLIENT2], [SERVER])


def check_timeout_is_logged_at_warning(make: Factory) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("serialsync.coordinator")
    handler = Collect(logging.WARNING)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        with _coordinator(make, _trio()) as group:
            error = _raises(GroupTimeout, lambda: group.wait_all(SERVER, "logged", "client", _short()))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    messages = [record.getMessage() for record in records if record.levelno == logging.WARNING]
    assert any(str(error) in message for message in messages), (str(error), messages)


# ---------------------------------------------------------------- leave / close


def check_leave_releases_pending_wait_all(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "x", {})
        group.send(CLIENT1, "x", {})
        everyone = _blocked(group, SERVER, lambda: group.wait_all(SERVER, "x", None, _long()), "wait_all(x)")
        clients = _blocked(
            group, CLIENT1, lambda: group.wait_all(CLIENT1, "x", "client", _long()), "wait_all(x, client)"
        )
        left_at = CLOCK.monotonic()
        group.leave(CLIENT2, "console died")
        for call in (everyone, clients):
            error = call.failure(DeviceLeft)
            _assert_names(str(error), [CLIENT2, "console died"], [])
            _assert_prompt(call, left_at, "leave")


def check_leave_releases_pending_sync(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        calls = [_blocked(group, d, lambda d=d: group.sync(d, "s", _long()), f"sync {d}") for d in (SERVER, CLIENT1)]
        left_at = CLOCK.monotonic()
        group.leave(CLIENT2, "job ended")
        for call in calls:
            error = call.failure(DeviceLeft)
            _assert_names(str(error), [CLIENT2, "job ended"], [])
            _assert_prompt(call, left_at, "leave")


def check_leave_after_sending_does_not_fail_wait_all(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(CLIENT2, "data", {"k": b"v"})
        group.leave(CLIENT2, "job ended")
        group.send(CLIENT1, "data", {})
        assert group.wait_all(CLIENT1, "data", "client", Deadline.after(0)) == {
            CLIENT2: {"k": b"v"},
            CLIENT1: {},
        }
        group.send(SERVER, "data", {})
        assert set(group.wait_all(SERVER, "data", None, _long())) == {SERVER, CLIENT1, CLIENT2}
        # The server's role never included the departed device.
        group.send(SERVER, "solo", {})
        assert group.wait_all(CLIENT1, "solo", "server", Deadline.after(0)) == {SERVER: {}}


def check_calls_after_leaving_raise_device_left(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "m", {})
        group.leave(CLIENT2, "console died")
        for call in (
            lambda: group.send(CLIENT2, "m", {}),
            lambda: group.wait(CLIENT2, "m", _long()),
            lambda: group.wait_all(CLIENT2, "m", "server", _long()),
            lambda: group.sync(CLIENT2, "s", _long()),
        ):
            error = _raises(DeviceLeft, call)
            _assert_names(str(error), [CLIENT2, "console died"], [])
        # A future barrier that needs the departed device fails at once too.
        prompt = Deadline.after(PROMPT, CLOCK)
        _raises(DeviceLeft, lambda: group.sync(SERVER, "later", _long()))
        _raises(DeviceLeft, lambda: group.wait_all(SERVER, "later", None, _long()))
        assert not prompt.expired
        group.leave(CLIENT2, "a second leave is harmless")


def check_pending_call_of_departing_device_fails(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        waiter = _blocked(group, CLIENT1, lambda: group.wait(CLIENT1, "nothing", _long()), "wait(nothing)")
        group.leave(CLIENT1, "console died")
        _assert_names(str(waiter.failure(DeviceLeft)), [CLIENT1, "console died"], [])


def check_wait_fails_when_every_other_device_left(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(SERVER, "sent", {"k": b"v"})
        group.leave(SERVER, "job ended")
        # board-c could still send it: the backend holds the wait blocked.
        waiter = _blocked(group, CLIENT1, lambda: group.wait(CLIENT1, "unsent", _long()), "wait(unsent)")
        group.leave(CLIENT2, "console died")
        error = waiter.failure(DeviceLeft)
        _assert_names(str(error), ["'unsent'", SERVER, CLIENT2], [])
        # What was sent before leaving stays readable.
        assert group.wait(CLIENT1, "sent", Deadline.after(0)) == {SERVER: {"k": b"v"}}


def check_senders_come_in_group_order_whatever_order_they_sent_in(make: Factory) -> None:
    # A reply must not depend on how the sends raced: a replayed run answers as recorded.
    with _coordinator(make, _trio()) as group:
        for device in (CLIENT2, SERVER, CLIENT1):
            group.send(device, "m", {"k": device.encode()})
        assert list(group.wait_all(SERVER, "m", None, Deadline.after(0))) == [SERVER, CLIENT1, CLIENT2]
        assert list(group.wait(CLIENT1, "m", Deadline.after(0))) == [SERVER, CLIENT1, CLIENT2]


def check_departed_lists_who_left_with_the_first_reason(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        assert group.departed() == {}
        group.leave(CLIENT2, "console died")
        group.leave(CLIENT2, "finished its steps")
        assert group.departed() == {CLIENT2: "console died"}


def check_end_group_fails_every_call_of_every_device(make: Factory) -> None:
    with _coordinator(make, _trio()) as group:
        group.send(CLIENT1, "ready", {})
        # Calls that do not depend on the failed device: without end_group they would wait on.
        syncer = _blocked(group, SERVER, lambda: group.wait(SERVER, "never-sent", _long()), "wait(never-sent)")
        prompt = Deadline.after(PROMPT, CLOCK)
        group.end_group(CLIENT2, "kernel panic")
        _assert_names(str(syncer.failure(DeviceLeft)), ["group ended", CLIENT2, "kernel panic"], [])
        error = _raises(DeviceLeft, lambda: group.wait(CLIENT1, "ready", Deadline.after(0)))
        _assert_names(str(error), ["group ended", CLIENT2, "kernel panic"], [])
        assert not prompt.expired
        departed = group.departed()
        assert departed[CLIENT2] == "kernel panic"
        assert set(departed) == {SERVER, CLIENT1, CLIENT2}
        assert all("group ended: " + CLIENT2 in departed[d] for d in (SERVER, CLIENT1))


def check_close_releases_waiters(make: Factory) -> None:
    group = make(_trio())
    try:
        calls = [
            _blocked(group, SERVER, lambda: group.wait(SERVER, "w", _long()), "wait"),
            _blocked(group, CLIENT1, lambda: group.wait_all(CLIENT1, "w", None, _long()), "wait_all"),
            _blocked(group, CLIENT2, lambda: group.sync(CLIENT2, "s", _long()), "sync"),
        ]
        closed_at = CLOCK.monotonic()
        group.close()
        for call in calls:
            error = call.failure(CoordinatorError)
            assert type(error) is CoordinatorError and "closed" in str(error), repr(error)
            _assert_prompt(call, closed_at, "close")
        error = _raises(CoordinatorError, lambda: group.send(SERVER, "after", {}))
        assert "closed" in str(error)
        group.close()
    finally:
        group.close()


ALL_CHECKS: list[Callable[[Factory], None]] = [
    check_timeout_says_what_each_missing_device_waits_in,
    check_member_validation,
    check_group_queries,
    check_unknown_device_rejected,
    check_bad_message_id_rejected,
    check_send_then_wait_returns_at_once,
    check_wait_sees_callers_own_send,
    check_message_ids_persist,
    check_repeated_send_merges_per_sender,
    check_returned_data_is_a_copy,
    check_wait_blocks_until_later_send,
    check_values_are_byte_exact,
    check_message_ids_are_bounded,
    check_wait_all_without_role_waits_for_every_device,
    check_wait_all_with_role_waits_for_every_device_of_role,
    check_wait_all_role_ignores_other_roles,
    check_wait_all_unknown_role_fails_at_once,
    check_sync_releases_all_devices_together,
    check_sync_timeout_names_missing_devices,
    check_sync_timed_out_device_must_arrive_again,
    check_sync_id_reused_in_loop,
    check_sync_state_separate_from_messages,
    check_wait_timeout_names_message,
    check_wait_all_timeout_names_missing_devices,
    check_timeout_is_logged_at_warning,
    check_leave_releases_pending_wait_all,
    check_leave_releases_pending_sync,
    check_leave_after_sending_does_not_fail_wait_all,
    check_calls_after_leaving_raise_device_left,
    check_pending_call_of_departing_device_fails,
    check_wait_fails_when_every_other_device_left,
    check_senders_come_in_group_order_whatever_order_they_sent_in,
    check_departed_lists_who_left_with_the_first_reason,
    check_end_group_fails_every_call_of_every_device,
    check_close_releases_waiters,
]

__all__ = [
    "ALL_CHECKS",
    "Factory",
    "check_bad_message_id_rejected",
    "check_calls_after_leaving_raise_device_left",
    "check_close_releases_waiters",
    "check_group_queries",
    "check_leave_after_sending_does_not_fail_wait_all",
    "check_leave_releases_pending_sync",
    "check_leave_releases_pending_wait_all",
    "check_member_validation",
    "check_message_ids_are_bounded",
    "check_message_ids_persist",
    "check_pending_call_of_departing_device_fails",
    "check_repeated_send_merges_per_sender",
    "check_returned_data_is_a_copy",
    "check_send_then_wait_returns_at_once",
    "check_sync_id_reused_in_loop",
    "check_sync_releases_all_devices_together",
    "check_sync_state_separate_from_messages",
    "check_sync_timed_out_device_must_arrive_again",
    "check_sync_timeout_names_missing_devices",
    "check_timeout_is_logged_at_warning",
    "check_unknown_device_rejected",
    "check_values_are_byte_exact",
    "check_wait_all_role_ignores_other_roles",
    "check_wait_all_timeout_names_missing_devices",
    "check_wait_all_unknown_role_fails_at_once",
    "check_wait_all_with_role_waits_for_every_device_of_role",
    "check_wait_all_without_role_waits_for_every_device",
    "check_wait_blocks_until_later_send",
    "check_wait_fails_when_every_other_device_left",
    "check_wait_sees_callers_own_send",
    "check_wait_timeout_names_message",
]
