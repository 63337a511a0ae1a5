"""RedisCoordinator: the shared conformance suite against a real redis-server, plus multi-host specifics."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from serialsync._time import Deadline
from serialsync.coordinator import Coordinator, Member
from serialsync.coordinator.testing import ALL_CHECKS, Factory
from serialsync.errors import CoordinatorError, DeviceLeft, GroupTimeout

redis = pytest.importorskip("redis", reason="the redis client is not installed: pip install redis")

from serialsync.coordinator.redis import (  # noqa: E402  (needs the redis client, checked above)
    PASSWORD_ENV,
    RedisCoordinator,
    clear_group,
    list_groups,
    redact_url,
)

SHORT = 0.2  # a deadline that must pass
LONG = 10.0  # a deadline that must not pass
PROMPT = 2.0  # a released waiter must return within this of the event that released it


def _group_name() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


def workers(*devices: str) -> list[Member]:
    return [Member(device, "worker") for device in devices]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=[check.__name__ for check in ALL_CHECKS])
def test_coordinator_redis_conformance(check: Callable[[Factory], None], redis_url: str) -> None:
    def make(members: list[Member]) -> Coordinator:
        # A fresh group per coordinator: no check sees another's state.
        return RedisCoordinator(members, redis_url, group=_group_name())

    check(make)


class Background:
    """One call in its own worker thread; the Future keeps its outcome for the test thread."""

    def __init__(self, fn: Callable[[], object]) -> None:
        executor = ThreadPoolExecutor(max_workers=1)
        self.future = executor.submit(self._timed, fn)
        self.finished_at: float | None = None
        executor.shutdown(wait=False)

    def _timed(self, fn: Callable[[], object]) -> object:
        try:
            return fn()
        finally:
            self.finished_at = time.monotonic()

    def pending_after(self, timeout: float) -> bool:
        wait([self.future], timeout=timeout)
        return not self.future.done()

    def result(self) -> object:
        assert not self.pending_after(LONG), "call still blocked"
        return self.future.result()

    def outcome(self) -> BaseException | None:
        assert not self.pending_after(LONG), "call still blocked"
        return self.future.exception()


class SignalClock:
    """The real clock, but it reports each time a deadline is consulted (see test_coordinator.py)."""

    def __init__(self) -> None:
        self.calls = 0
        self.consulted = threading.Event()

    def monotonic(self) -> float:
        self.calls += 1
        self.consulted.set()
        return time.monotonic()

    def deadline(self, timeout: float) -> Deadline:
        deadline = Deadline.after(timeout, self)
        self.calls = 0
        self.consulted.clear()
        return deadline

    def wait_consulted(self) -> None:
        assert self.consulted.wait(LONG), "the call never consulted its deadline"


@pytest.fixture
def two_hosts(redis_url: str) -> Iterator[tuple[RedisCoordinator, RedisCoordinator]]:
    """Two coordinators of one group, as two dispatcher hosts would have."""
    members = workers("d1", "d2", "d3")
    group = _group_name()
    host_a = RedisCoordinator(members, redis_url, group=group)
    host_b = RedisCoordinator(members, redis_url, group=group)
    try:
        yield host_a, host_b
    finally:
        host_a.close()
        host_b.close()
        clear_group(redis_url, group)


def test_coordinator_redis_sync_across_hosts(two_hosts: tuple[RedisCoordinator, RedisCoordinator]) -> None:
    host_a, host_b = two_hosts
    for _ in range(5):
        first = Background(lambda: host_a.sync("d1", "boot", Deadline.after(LONG)))
        second = Background(lambda: host_b.sync("d2", "boot", Deadline.after(LONG)))
        assert first.pending_after(SHORT) and second.pending_after(0), "sync passed with d3 missing"
        arrived_at = time.monotonic()
        host_b.sync("d3", "boot", Deadline.after(LONG))
        for call in (first, second):
            assert call.outcome() is None
            assert call.finished_at is not None and call.finished_at - arrived_at < PROMPT


def test_coordinator_redis_wait_woken_by_other_host(two_hosts: tuple[RedisCoordinator, RedisCoordinator]) -> None:
    host_a, host_b = two_hosts
    waiter = Background(lambda: host_a.wait_all("d1", "ready", None, Deadline.after(LONG)))
    host_b.send("d2", "ready", {"ip": b"10.0.0.2"})
    host_a.send("d1", "ready", {})
    assert waiter.pending_after(SHORT)
    sent_at = time.monotonic()
    host_b.send("d3", "ready", {"ip": b"\x00\xff"})
    assert waiter.result() == {"d1": {}, "d2": {"ip": b"10.0.0.2"}, "d3": {"ip": b"\x00\xff"}}
    assert waiter.finished_at is not None and waiter.finished_at - sent_at < PROMPT


def test_coordinator_redis_concurrent_sends_of_one_id_lose_nothing(
    two_hosts: tuple[RedisCoordinator, RedisCoordinator],
) -> None:
    host_a, host_b = two_hosts
    keys = 100
    start = threading.Barrier(4)

    def send_all(host: RedisCoordinator, device: str, tag: str) -> None:
        start.wait(LONG)
        for index in range(keys):
            host.send(device, "shared", {f"{tag}{index}": f"{tag}{index}".encode(), "last": tag.encode()})

    # Both hosts send the same ID from the same device, and from different devices, at once.
    calls = [
        Background(lambda: send_all(host_a, "d1", "a")),
        Background(lambda: send_all(host_b, "d1", "b")),
        Background(lambda: send_all(host_a, "d2", "c")),
        Background(lambda: send_all(host_b, "d2", "d")),
    ]
    assert [call.outcome() for call in calls] == [None] * 4
    got = host_b.wait("d3", "shared", Deadline.after(0))
    assert set(got) == {"d1", "d2"}
    for device, tags in (("d1", "ab"), ("d2", "cd")):
        expected = {f"{tag}{index}": f"{tag}{index}".encode() for tag in tags for index in range(keys)}
        last = got[device].pop("last")
        assert last in (tags[0].encode(), tags[1].encode())
        assert got[device] == expected


def test_coordinator_redis_leave_seen_by_other_host(two_hosts: tuple[RedisCoordinator, RedisCoordinator]) -> None:
    host_a, host_b = two_hosts
    waiter = Background(lambda: host_a.sync("d1", "s", Deadline.after(LONG)))
    assert waiter.pending_after(SHORT)
    host_b.leave("d3", "kernel panic")
    error = waiter.outcome()
    assert isinstance(error, DeviceLeft) and "d3 left the group (kernel panic)" in str(error), error
    with pytest.raises(DeviceLeft, match="d3 has left the group"):
        host_a.send("d3", "m", {})


def test_coordinator_redis_close_is_per_host(two_hosts: tuple[RedisCoordinator, RedisCoordinator]) -> None:
    host_a, host_b = two_hosts
    host_a.send("d1", "before", {"k": b"v"})
    host_a.close()
    with pytest.raises(CoordinatorError, match="coordinator closed"):
        host_a.send("d1", "after", {})
    host_a.leave("d1", "quiet after close")
    # The group itself lives on for the other host.
    assert host_b.wait("d2", "before", Deadline.after(0)) == {"d1": {"k": b"v"}}
    host_b.send("d2", "after", {})


def test_coordinator_redis_waiters_do_not_poll(redis_url: str) -> None:
    clock = SignalClock()
    with RedisCoordinator(workers("d1", "d2"), redis_url, group=_group_name()) as group:
        deadline = clock.deadline(LONG)
        waiter = Background(lambda: group.wait("d1", "m", deadline))
        clock.wait_consulted()
        # A polling waiter would consult its deadline every few milliseconds;
        # the only timer is the 1 s lost-notification fallback.
        assert waiter.pending_after(0.5)
        assert clock.calls <= 2, clock.calls
        group.send("d2", "m", {})
        assert waiter.outcome() is None


def test_coordinator_redis_timed_out_sync_arrival_is_withdrawn_across_hosts(
    two_hosts: tuple[RedisCoordinator, RedisCoordinator],
) -> None:
    host_a, host_b = two_hosts
    with pytest.raises(GroupTimeout, match="d2, d3 never reached it"):
        host_a.sync("d1", "late", Deadline.after(SHORT))
    with pytest.raises(GroupTimeout, match="d1, d3 never reached it"):
        host_b.sync("d2", "late", Deadline.after(SHORT))


def test_coordinator_redis_list_and_clear_groups(redis_url: str) -> None:
    name = _group_name()
    other = _group_name()
    with (
        RedisCoordinator(workers("d1", "d2"), redis_url, group=name) as group,
        RedisCoordinator(workers("x"), redis_url, group=other),
    ):
        group.send("d1", "m", {"k": b"v"})
        group.leave("d2", "done")
        assert {name, other} <= set(list_groups(redis_url))
        clear_group(redis_url, name)
        groups = list_groups(redis_url)
        assert name not in groups and other in groups
        client = redis.Redis.from_url(redis_url)
        try:
            assert client.keys(f"serialsync:{name}:*") == []
        finally:
            client.close()
    clear_group(redis_url, other)
    assert other not in list_groups(redis_url)


def test_coordinator_redis_keys_expire_and_writes_refresh(redis_url: str) -> None:
    name = _group_name()
    client = redis.Redis.from_url(redis_url)
    try:
        with RedisCoordinator(workers("d1", "d2"), redis_url, group=name, ttl=60) as group:
            group.send("d1", "m", {"k": b"v"})
            # As if most of the ttl had passed since the group's expiry was last pushed forward.
            for key in client.smembers(f"serialsync:{name}:keys"):
                client.pexpire(key, 1000)
            client.pexpire(f"serialsync:{name}:keys", 1000)
            group.send("d2", "other", {})
            keys = client.keys(f"serialsync:{name}:*")
            assert len(keys) >= 4
            for key in keys:
                assert 55_000 < client.pttl(key) <= 60_000, key
            # A write soon after pushes no expiry forward (a send stays O(1)), but a key
            # it creates expires with the rest of the group, not later.
            group.send("d1", "third", {})
            index_ttl = client.pttl(f"serialsync:{name}:keys")
            assert abs(client.pttl(f"serialsync:{name}:msg:third") - index_ttl) < 1000
    finally:
        client.close()
        clear_group(redis_url, name)


def _keys_of(redis_url: str, group: str) -> set[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return set(client.keys(f"serialsync:{group}:*"))
    finally:
        client.close()


def test_coordinator_redis_syncs_leave_no_keys_behind(redis_url: str) -> None:
    """A barrier is kept only while some device is at it, as in the in-process coordinator."""
    name = _group_name()
    members = workers("d1", "d2")
    with (
        RedisCoordinator(members, redis_url, group=name) as host_a,
        RedisCoordinator(members, redis_url, group=name) as host_b,
    ):
        before = _keys_of(redis_url, name)
        for index in range(100):
            sync_id = f"step{index}" if index % 2 else "loop"  # new IDs, and one ID reused
            other = Background(lambda sync_id=sync_id: host_b.sync("d2", sync_id, Deadline.after(LONG)))
            host_a.sync("d1", sync_id, Deadline.after(LONG))
            assert other.outcome() is None
        for index in range(20):
            # Arrived, then gave up at once: the arrival is withdrawn and the barrier forgotten.
            with pytest.raises(GroupTimeout):
                host_a.sync("d1", f"abandoned{index}", Deadline.after(0))
        after = _keys_of(redis_url, name)
        assert not [key for key in after if b":sync:" in key], sorted(after)
        assert after == before, sorted(after - before)
        client = redis.Redis.from_url(redis_url)
        try:
            assert not [key for key in client.smembers(f"serialsync:{name}:keys") if b":sync:" in key]
        finally:
            client.close()
    clear_group(redis_url, name)


def test_coordinator_redis_rejects_other_members_for_a_group(redis_url: str) -> None:
    name = _group_name()
    with RedisCoordinator(workers("d1", "d2"), redis_url, group=name):
        with pytest.raises(CoordinatorError, match="other members"):
            RedisCoordinator(workers("d1", "d3"), redis_url, group=name)
    clear_group(redis_url, name)


def test_coordinator_redis_rejects_bad_arguments(redis_url: str) -> None:
    with pytest.raises(ValueError, match="group"):
        RedisCoordinator(workers("d1"), redis_url, group="a:b")
    with pytest.raises(ValueError, match="ttl"):
        RedisCoordinator(workers("d1"), redis_url, group=_group_name(), ttl=0)
    with pytest.raises(ValueError, match="redis://"):
        RedisCoordinator(workers("d1"), "http://127.0.0.1/", group=_group_name())


def test_coordinator_redis_redact_url() -> None:
    assert redact_url("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("rediss://:s3cret@host/1") == "rediss://:***@host/1"
    assert redact_url("unix:///run/redis.sock?db=2&password=s3cret") == "unix:///run/redis.sock?db=2&password=***"
    assert redact_url("redis://host:6379") == "redis://host:6379"


@pytest.mark.parametrize("from_env", [False, True], ids=["url", "env"])
def test_coordinator_redis_password_never_shown(
    redis_url: str, from_env: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The test server has no password, so AUTH fails: the error must not quote the password.
    secret = "pa55-" + uuid.uuid4().hex
    url = redis_url.replace("redis://", f"redis://serialsync:{secret}@")
    if from_env:
        monkeypatch.setenv(PASSWORD_ENV, secret)
        url = redis_url.replace("redis://", "redis://serialsync@")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CoordinatorError) as info:
        RedisCoordinator(workers("d1"), url, group=_group_name())
    shown = str(info.value) + repr(info.value) + caplog.text
    assert secret not in shown
    if not from_env:
        assert "***" in str(info.value)


@pytest.mark.parametrize("how", ["acl-user-in-url", "unix-socket-password-from-env"])
def test_coordinator_redis_authenticated_and_unix_socket_urls_work(
    tmp_path, how: str, make_redis_server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that demands an ACL user and password, on TCP and on a unix socket."""
    secret = "pa55-" + uuid.uuid4().hex
    socket_path = tmp_path / "redis.sock"
    server = make_redis_server(
        "--save", "", "--appendonly", "no",
        "--unixsocket", str(socket_path), "--unixsocketperm", "700",
        "--user", "default", "off",
        "--user", "serialsync", "on", f">{secret}", "~*", "&*", "+@all",
        directory=str(tmp_path),
        password=("serialsync", secret),
    )  # fmt: skip
    server.start()
    if how == "acl-user-in-url":
        url = server.url.replace("redis://", f"redis://serialsync:{secret}@")
    else:
        monkeypatch.setenv(PASSWORD_ENV, secret)
        url = f"unix://serialsync@{socket_path}?db=0"
    caplog.set_level(logging.DEBUG)
    group = _group_name()
    with RedisCoordinator(workers("d1", "d2"), url, group=group) as one:
        with RedisCoordinator(workers("d1", "d2"), url, group=group) as other:
            one.send("d1", "m", {"k": b"v"})
            assert other.wait("d2", "m", Deadline.after(10)) == {"d1": {"k": b"v"}}
    assert secret not in caplog.text
