"""MemoryCoordinator: the shared conformance suite plus in-process specifics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from serialsync._time import Deadline
from serialsync.coordinator import Coordinator, Member, MemoryCoordinator
from serialsync.coordinator.testing import ALL_CHECKS, Factory
from serialsync.errors import CoordinatorError, DeviceLeft, GroupTimeout

SHORT = 0.2  # a deadline that must pass
LONG = 10.0  # a deadline that must not pass


def make_memory(members: list[Member]) -> Coordinator:
    return MemoryCoordinator(members)


@pytest.mark.parametrize("check", ALL_CHECKS, ids=[check.__name__ for check in ALL_CHECKS])
def test_coordinator_memory_conformance(check: Callable[[Factory], None]) -> None:
    check(make_memory)


def workers(*devices: str) -> list[Member]:
    return [Member(device, "worker") for device in devices]


class SignalClock:
    """The real clock, but it reports each time a deadline is consulted.

    MemoryCoordinator consults a waiter's deadline only after registering the
    call (arrival at a barrier included), so the first consultation tells the
    test thread "it is waiting now" without any sleep.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.consulted = threading.Event()

    def monotonic(self) -> float:
        self.calls += 1
        self.consulted.set()
        return time.monotonic()

    def deadline(self, timeout: float) -> Deadline:
        """Make a deadline, then reset the signal; call before starting the waiter."""
        deadline = Deadline.after(timeout, self)
        self.calls = 0
        self.consulted.clear()
        return deadline

    def wait_consulted(self) -> None:
        assert self.consulted.wait(LONG), "the call never consulted its deadline"


class Background:
    """One call in its own worker thread; the Future keeps its outcome for the test thread."""

    def __init__(self, fn: Callable[[], object]) -> None:
        executor = ThreadPoolExecutor(max_workers=1)
        self.future = executor.submit(fn)
        executor.shutdown(wait=False)

    def pending_after(self, timeout: float) -> bool:
        wait([self.future], timeout=timeout)
        return not self.future.done()

    def outcome(self) -> BaseException | None:
        """Wait for the call to end; its exception, or None when it returned."""
        assert not self.pending_after(LONG), "call still blocked"
        return self.future.exception()


def test_memory_rejects_bad_groups() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MemoryCoordinator([])
    with pytest.raises(ValueError, match="'d1' appears twice"):
        MemoryCoordinator([Member("d1", "a"), Member("d1", "b")])
    with pytest.raises(TypeError):
        MemoryCoordinator([("d1", "a")])  # type: ignore[list-item]


def test_memory_send_validates_data_before_storing() -> None:
    with MemoryCoordinator(workers("d1", "d2")) as group:
        with pytest.raises(TypeError, match="'text' must be bytes"):
            group.send("d1", "m", {"ok": b"1", "text": "not bytes"})  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="keys"):
            group.send("d1", "m", {"": b"1"})
        # Nothing of a rejected send was stored.
        with pytest.raises(GroupTimeout):
            group.wait("d2", "m", Deadline.after(0))
        group.send("d1", "m", {"ba": bytearray(b"\x00x"), "mv": memoryview(b"yz")})  # type: ignore[dict-item]
        data = group.wait("d2", "m", Deadline.after(0))["d1"]
        assert data == {"ba": b"\x00x", "mv": b"yz"}
        assert all(type(value) is bytes for value in data.values())


def test_memory_many_threads_many_sync_rounds() -> None:
    devices = [f"dut{index:02d}" for index in range(64)]
    rounds = 20
    lock = threading.Lock()
    entered = [0] * rounds
    released = [[] for _ in range(rounds)]  # type: list[list[str]]
    early: list[str] = []

    def run(device: str) -> None:
        for r in range(rounds):
            with lock:
                entered[r] += 1
            group.sync(device, "tick", Deadline.after(LONG * 3))
            with lock:
                if entered[r] != len(devices):
                    early.append(f"{device} round {r}")
                released[r].append(device)

    with MemoryCoordinator(workers(*devices)) as group:
        calls = [Background(lambda d=d: run(d)) for d in devices]
        wait([call.future for call in calls], timeout=LONG * 6)
        errors = [call.outcome() for call in calls]
        assert errors == [None] * len(calls), [error for error in errors if error is not None][:3]
    assert not early, early[:5]
    for r in range(rounds):
        assert sorted(released[r]) == devices, f"round {r}"


def test_memory_deadline_never_blocks_without_limit_until_woken() -> None:
    with MemoryCoordinator(workers("d1", "d2")) as group:
        waiter = Background(lambda: group.wait("d1", "m", Deadline.never()))
        assert waiter.pending_after(SHORT)
        group.send("d2", "m", {"k": b"v"})
        assert waiter.outcome() is None
        assert waiter.future.result() == {"d2": {"k": b"v"}}


def test_memory_huge_finite_deadline_does_not_overflow() -> None:
    # threading's TIMEOUT_MAX is far below 1e15 s; the wait must clamp, not raise OverflowError.
    with MemoryCoordinator(workers("d1", "d2")) as group:
        waiter = Background(lambda: group.wait_all("d1", "m", None, Deadline.after(1e15)))
        assert waiter.pending_after(SHORT)
        group.send("d1", "m", {})
        group.send("d2", "m", {})
        assert waiter.outcome() is None


def test_memory_waiters_do_not_poll() -> None:
    clock = SignalClock()
    with MemoryCoordinator(workers("d1", "d2")) as group:
        deadline = clock.deadline(LONG)
        waiter = Background(lambda: group.wait("d1", "m", deadline))
        clock.wait_consulted()
        # A polling waiter would consult its deadline every few milliseconds.
        assert waiter.pending_after(0.5)
        assert clock.calls <= 2, clock.calls
        group.send("d2", "m", {})
        assert waiter.outcome() is None
        assert clock.calls <= 4, clock.calls


def test_memory_departed_devices_arrival_still_counts() -> None:
    clock = SignalClock()
    with MemoryCoordinator(workers("d1", "d2", "d3")) as group:
        deadline = clock.deadline(LONG)
        departing = Background(lambda: group.sync("d3", "s", deadline))
        clock.wait_consulted()  # d3 is at the barrier
        group.leave("d3", "console died")
        error = departing.outcome()
        assert isinstance(error, DeviceLeft) and "d3" in str(error), error
        # d3 arrived before leaving, like a message sent before leaving: the round can complete.
        other = Background(lambda: group.sync("d1", "s", Deadline.after(LONG)))
        group.sync("d2", "s", Deadline.after(LONG))
        assert other.outcome() is None
        # The next round needs d3 again, which can never come.
        with pytest.raises(DeviceLeft, match="d3 left the group \\(console died\\)"):
            group.sync("d1", "s", Deadline.after(LONG))


def test_memory_same_device_twice_at_one_barrier_is_misuse() -> None:
    clock = SignalClock()
    with MemoryCoordinator(workers("d1", "d2")) as group:
        deadline = clock.deadline(LONG)
        first = Background(lambda: group.sync("d1", "s", deadline))
        clock.wait_consulted()
        with pytest.raises(CoordinatorError, match="already waiting"):
            group.sync("d1", "s", Deadline.after(LONG))
        group.sync("d2", "s", Deadline.after(LONG))
        assert first.outcome() is None


def test_memory_single_device_group() -> None:
    with MemoryCoordinator(workers("solo")) as group:
        group.sync("solo", "s", Deadline.after(0))
        # Nobody else exists, so nobody "left": an unsent ID simply times out.
        with pytest.raises(GroupTimeout, match="nobody sent it"):
            group.wait("solo", "m", Deadline.after(SHORT))
        group.send("solo", "m", {})
        assert group.wait_all("solo", "m", None, Deadline.after(0)) == {"solo": {}}


def test_memory_a_timed_out_wait_names_the_devices_that_could_have_sent_it() -> None:
    members = [Member("dev1", "server"), Member("dev2", "client"), Member("dev3", "client")]
    with MemoryCoordinator(members) as group:
        group.leave("dev3", "finished its steps")
        with pytest.raises(GroupTimeout) as info:
            group.wait("dev1", "ready", Deadline.after(SHORT))
    assert str(info.value) == "timed out after 0.2 s waiting for 'ready' from any device: dev2 never sent it"


def test_memory_timeout_message_format() -> None:
    members = [Member("dev1", "server"), Member("dev2", "client"), Member("dev3", "client")]
    with MemoryCoordinator(members) as group, pytest.raises(GroupTimeout) as info:
        group.wait_all("dev1", "ready", "client", Deadline.after(SHORT))
    assert str(info.value) == "timed out after 0.2 s waiting for 'ready' from role 'client': dev2, dev3 never sent it"


def test_memory_close_is_idempotent_and_leave_after_close_is_quiet() -> None:
    group = MemoryCoordinator(workers("d1", "d2"))
    group.close()
    group.close()
    group.leave("d1", "cleanup after close")
    with pytest.raises(CoordinatorError, match="coordinator closed"):
        group.sync("d1", "s", Deadline.after(LONG))


def test_memory_keeps_clock_for_callers() -> None:
    clock = SignalClock()
    group = MemoryCoordinator(workers("d1"), clock=clock)
    assert group.clock is clock
    assert "d1" in repr(group)


class StuckReports(logging.Handler):
    """The coordinator's "group is stuck" warnings, with an event for the test thread to wait on."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.arrived = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "the group is stuck" in record.getMessage():
            self.messages.append(record.getMessage())
            self.arrived.set()

    def __enter__(self) -> StuckReports:
        logging.getLogger("serialsync.coordinator").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("serialsync.coordinator").removeHandler(self)


def blocked_call(clock: SignalClock, call: Callable[[Deadline], object]) -> Background:
    """Start a call in a worker thread and return once it waits (its lock released)."""
    deadline = clock.deadline(LONG)
    background = Background(lambda: call(deadline))
    clock.wait_consulted()
    return background


def test_memory_a_stuck_group_is_reported_naming_who_waits_for_what() -> None:
    """Devices at two different syncs and a wait nobody can answer: the log says so at once."""
    group = MemoryCoordinator(workers("dev1", "dev2", "dev3"))
    clock = SignalClock()
    with StuckReports() as reports:
        first = blocked_call(clock, lambda deadline: group.sync("dev1", "a", deadline))
        second = blocked_call(clock, lambda deadline: group.sync("dev2", "b", deadline))
        third = blocked_call(clock, lambda deadline: group.wait("dev3", "never-sent", deadline))
        assert reports.arrived.wait(LONG)
        group.close()
        for call in (first, second, third):
            assert isinstance(call.outcome(), CoordinatorError)  # released by close(), not stuck until LONG
    # Once, and not before dev3 waited too: while it was free it could have reached either sync.
    (report,) = reports.messages
    assert "dev1 waits in lava-sync 'a'" in report and "dev2 waits in lava-sync 'b'" in report
    assert "dev3 waits in lava-wait 'never-sent'" in report


def test_memory_a_device_that_left_does_not_keep_a_group_from_being_stuck() -> None:
    group = MemoryCoordinator(workers("server", "client1", "client2"))
    group.leave("client2", "finished its steps")
    clock = SignalClock()
    with StuckReports() as reports:
        waiting = blocked_call(clock, lambda deadline: group.wait("server", "go", deadline))
        other = blocked_call(clock, lambda deadline: group.wait("client1", "start", deadline))
        assert reports.arrived.wait(LONG)
        group.close()
        assert waiting.outcome() is not None and other.outcome() is not None
    (report,) = reports.messages
    assert "server waits in lava-wait 'go'" in report and "client1 waits in lava-wait 'start'" in report


def test_memory_a_device_woken_but_not_yet_running_keeps_the_group_from_being_stuck() -> None:
    """d2 sends what d1 waits for, then waits itself before d1's thread runs again: not stuck."""
    group = MemoryCoordinator(workers("d1", "d2"))
    clock = SignalClock()
    with StuckReports() as reports:
        for i in range(50):
            first = blocked_call(clock, lambda deadline, i=i: group.wait("d1", f"m{i}", deadline))

            def send_then_wait(i: int = i) -> None:
                group.send("d2", f"m{i}", {})
                group.wait("d2", f"n{i}", Deadline.after(LONG))

            second = Background(send_then_wait)
            assert first.outcome() is None, i
            group.send("d1", f"n{i}", {})
            assert second.outcome() is None, i
    assert reports.messages == []


def test_memory_a_group_left_waiting_on_each_other_by_a_failure_is_reported_stuck() -> None:
    """d3 fails and leaves; d1 and d2 wait for each other's messages only: reported when d3 leaves."""
    group = MemoryCoordinator(workers("d1", "d2", "d3"))
    clock = SignalClock()
    with StuckReports() as reports:
        first = blocked_call(clock, lambda deadline: group.wait("d1", "from-d2", deadline))
        second = blocked_call(clock, lambda deadline: group.wait("d2", "from-d1", deadline))
        assert reports.messages == []  # d3 could still send either
        group.leave("d3", "board failed")
        assert reports.arrived.wait(LONG)
        group.close()
        assert first.outcome() is not None and second.outcome() is not None
    assert len(reports.messages) == 1 and "d1 waits in lava-wait 'from-d2'" in reports.messages[0]


def test_memory_the_stuck_report_is_withdrawn_when_the_group_moves_again() -> None:
    heard: list[str] = []
    moved = threading.Event()

    def on_stuck(text: str) -> None:
        heard.append(text)
        if not text:
            moved.set()

    group = MemoryCoordinator(workers("d1", "d2"), on_stuck=on_stuck)
    clock = SignalClock()
    first = blocked_call(clock, lambda deadline: group.sync("d1", "a", deadline))
    second = blocked_call(clock, lambda deadline: group.sync("d2", "b", deadline))
    group.leave("d2", "stopped by hand")  # d1's sync can never complete now: it fails, the group moves
    assert moved.wait(LONG)
    assert heard[0].startswith("the group is stuck") and heard[-1] == ""
    assert isinstance(first.outcome(), DeviceLeft) and isinstance(second.outcome(), DeviceLeft)
    group.close()
