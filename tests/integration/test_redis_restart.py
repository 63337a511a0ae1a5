"""A redis-server that crashes and comes back mid-job: nothing is lost, waiters carry on."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from serialsync._time import Deadline
from serialsync.coordinator import Member
from serialsync.coordinator.redis import RedisCoordinator

pytestmark = pytest.mark.slow

MEMBERS = [Member("srv", "server"), Member("c1", "client")]


class Pending:
    """A blocking call on its own thread; its result or error once it ends."""

    def __init__(self, call):
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()

    def _run(self, call):
        try:
            self.result = call()
        except Exception as e:
            self.error = e

    def outcome(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "still blocked"
        if self.error is not None:
            raise self.error
        return self.result


def arrived_before_the_crash(url: str, group: str, sync_id: str, device: str) -> None:
    """Until Redis itself holds device's arrival at the sync (its own state, read back)."""
    probe = redis.Redis.from_url(url)
    try:
        deadline = Deadline.after(10)
        while not probe.hexists(f"serialsync:{group}:sync:{sync_id}", device):
            assert not deadline.expired, f"{device} never reached {sync_id!r}"
            threading.Event().wait(0.01)  # polling Redis for a state it does not announce
    finally:
        probe.close()


def test_redis_restart_mid_job_loses_nothing_and_waiters_carry_on(persistent_redis):
    group = f"t{uuid.uuid4().hex[:10]}"
    # Two hosts: each has its own coordinator object and connection.
    host_a = RedisCoordinator(MEMBERS, persistent_redis.url, group=group)
    host_b = RedisCoordinator(MEMBERS, persistent_redis.url, group=group)
    try:
        host_a.send("srv", "before", {"ip": b"10.0.0.1"})
        waiting = Pending(lambda: host_b.wait_all("c1", "during", "server", Deadline.after(60)))
        at_barrier = Pending(lambda: host_a.sync("srv", "after-restart", Deadline.after(60)))
        arrived_before_the_crash(persistent_redis.url, group, "after-restart", "srv")

        persistent_redis.kill()  # a crash: only what is in the append-only file survives
        # A send while Redis is down keeps trying, and lands once it is back.
        sending = Pending(lambda: host_a.send("srv", "during", {"v": b"sent while redis was down"}))
        persistent_redis.start()

        sending.outcome(30)
        assert waiting.outcome(30) == {"srv": {"v": b"sent while redis was down"}}
        host_b.sync("c1", "after-restart", Deadline.after(30))  # the barrier srv reached before the crash
        at_barrier.outcome(30)
        assert host_b.wait("c1", "before", Deadline.after(5)) == {"srv": {"ip": b"10.0.0.1"}}
        assert host_b.departed() == {}
    finally:
        host_a.close()
        host_b.close()
