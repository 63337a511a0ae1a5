"""A stuck group whose devices wait on different hosts: every host's RedisCoordinator reports it.

Two coordinators on one redis-server stand for two dispatcher hosts. What
is asserted is the report each coordinator gives its ``on_stuck`` (queued in
order), never a call that timed out.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from serialsync._time import Deadline
from serialsync.coordinator import Member
from serialsync.coordinator.rules import STUCK
from serialsync.errors import DeviceLeft

pytest.importorskip("redis", reason="the redis client is not installed: pip install redis")

from serialsync.coordinator.redis import RedisCoordinator, clear_group  # after importorskip: needs the redis client

LONG = 10.0  # a deadline that must not pass, even on a loaded machine


@dataclass
class Host:
    """One host's coordinator and the reports it gave, in order."""

    coordinator: RedisCoordinator
    reports: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)

    def next_report(self) -> str:
        try:
            return self.reports.get(timeout=LONG)
        except queue.Empty:
            raise AssertionError(f"{self.coordinator!r} reported nothing within {LONG}s") from None


def _hosts(redis_url: str, devices: list[str], count: int = 2) -> tuple[list[Host], str]:
    group = f"stuck-{uuid.uuid4().hex[:12]}"
    members = [Member(device, "worker") for device in devices]
    hosts: list[Host] = []
    for _ in range(count):
        reports: queue.SimpleQueue[str] = queue.SimpleQueue()
        coordinator = RedisCoordinator(members, redis_url, group=group, on_stuck=reports.put)
        hosts.append(Host(coordinator, reports))
    return hosts, group


@pytest.fixture
def two_hosts(redis_url: str) -> Iterator[tuple[Host, Host]]:
    hosts, group = _hosts(redis_url, ["d1", "d2"])
    try:
        yield hosts[0], hosts[1]
    finally:
        for host in hosts:
            host.coordinator.close()
        clear_group(redis_url, group)


def background(fn: Callable[[], object]) -> Future[object]:
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(fn)
    executor.shutdown(wait=False)
    return future


def blocked(host: Host, device: str, fn: Callable[[], object]) -> Future[object]:
    """Start a call in a worker thread; return once the group holds it blocked."""
    future = background(fn)
    assert host.coordinator.wait_blocked(device, Deadline.after(LONG)) is not None, f"{device} never blocked"
    assert not future.done(), future
    return future


def test_redis_stuck_group_across_hosts_is_reported_on_every_host_and_withdrawn(
    two_hosts: tuple[Host, Host],
) -> None:
    host_a, host_b = two_hosts
    first = blocked(host_a, "d1", lambda: host_a.coordinator.sync("d1", "a", Deadline.after(LONG)))
    second = blocked(host_b, "d2", lambda: host_b.coordinator.sync("d2", "b", Deadline.after(LONG)))
    for host in (host_a, host_b):
        report = host.next_report()
        assert report.startswith(STUCK), report
        assert "d1 waits in lava-sync 'a'" in report and "d2 waits in lava-sync 'b'" in report, report
    # Both hosts see who waits for what, wherever the call was made.
    assert (
        host_a.coordinator.blocked() == host_b.coordinator.blocked() == {"d1": "lava-sync 'a'", "d2": "lava-sync 'b'"}
    )
    host_b.coordinator.leave("d2", "stopped by hand")  # d1's sync can never complete now: the group moves
    for host in (host_a, host_b):
        assert host.next_report() == "", "the report was not withdrawn when the group moved"
    for call in (first, second):
        assert isinstance(call.exception(timeout=LONG), DeviceLeft)


def test_redis_a_wait_another_host_answered_keeps_the_group_from_being_stuck(
    two_hosts: tuple[Host, Host],
) -> None:
    """d2 sends what d1 waits for, then waits itself, before d1's host has seen the send: not stuck.

    Then a real stuck state: the first report each host gives must be that one,
    so no false report came before it.
    """
    host_a, host_b = two_hosts
    for index in range(20):
        waiter = blocked(
            host_a, "d1", lambda index=index: host_a.coordinator.wait("d1", f"m{index}", Deadline.after(LONG))
        )

        def send_then_wait(index: int = index) -> object:
            host_b.coordinator.send("d2", f"m{index}", {})
            return host_b.coordinator.wait("d2", f"n{index}", Deadline.after(LONG))

        other = background(send_then_wait)
        assert waiter.exception(timeout=LONG) is None, index
        host_a.coordinator.send("d1", f"n{index}", {})
        assert other.exception(timeout=LONG) is None, index
    first = blocked(host_a, "d1", lambda: host_a.coordinator.wait_all("d1", "from-d2", None, Deadline.after(LONG)))
    second = blocked(host_b, "d2", lambda: host_b.coordinator.wait("d2", "from-d1", Deadline.after(LONG)))
    for host in (host_a, host_b):
        report = host.next_report()
        assert "d1 waits in lava-wait-all 'from-d2'" in report and "d2 waits in lava-wait 'from-d1'" in report, report
    host_a.coordinator.leave("d1", "done")
    for call in (first, second):
        assert isinstance(call.exception(timeout=LONG), DeviceLeft)


def test_redis_a_group_left_waiting_on_each_other_by_a_departure_is_reported(redis_url: str) -> None:
    """d3 fails and leaves on a third host; d1 and d2 wait for each other's messages only."""
    hosts, group = _hosts(redis_url, ["d1", "d2", "d3"], count=3)
    host_a, host_b, host_c = hosts
    try:
        first = blocked(host_a, "d1", lambda: host_a.coordinator.wait("d1", "from-d2", Deadline.after(LONG)))
        second = blocked(host_b, "d2", lambda: host_b.coordinator.sync("d2", "never", Deadline.after(LONG)))
        host_c.coordinator.leave("d3", "board failed")
        # The sync needs d3, which left: it fails, so the group is not stuck but moves.
        assert isinstance(second.exception(timeout=LONG), DeviceLeft)
        second = blocked(host_b, "d2", lambda: host_b.coordinator.wait("d2", "from-d1", Deadline.after(LONG)))
        for host in hosts:
            report = host.next_report()
            assert report.startswith(STUCK), report
            assert "d1 waits in lava-wait 'from-d2'" in report and "d2 waits in lava-wait 'from-d1'" in report
            assert "d3" not in report, report
        host_a.coordinator.send("d1", "from-d1", {})  # d2 is answered: the group moves
        assert second.exception(timeout=LONG) is None
        for host in hosts:
            assert host.next_report() == ""
    finally:
        for host in hosts:
            host.coordinator.close()
        assert first.exception(timeout=LONG) is not None
        clear_group(redis_url, group)
