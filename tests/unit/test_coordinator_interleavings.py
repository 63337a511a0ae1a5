"""Random interleavings of calls from several devices keep the group semantics (hypothesis).

A model of the semantics (messages per ID and sender, barriers with their
arrivals, who has left) runs beside a real coordinator: every non-blocking
answer must match the model, every sync the model says has opened or can
never open must end that way, and one the model says is still waiting must
not have returned.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from serialsync._time import Deadline
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.errors import DeviceLeft, GroupTimeout

DEVICES = ["a", "b", "c"]
ROLES = {"a": "server", "b": "client", "c": "client"}
IDS = ["m1", "m2", "m3"]
SETTLE = 10.0  # seconds a call the model says has ended may take to return


class PendingSync:
    def __init__(self, call) -> None:
        self.outcome: object = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()

    def _run(self, call) -> None:
        try:
            call()
            self.outcome = "opened"
        except Exception as e:
            self.outcome = e

    def ended(self) -> object:
        self.thread.join(SETTLE)
        assert not self.thread.is_alive(), "a sync the model says has ended is still waiting"
        return self.outcome


class GroupModel(RuleBasedStateMachine):
    def __init__(self, make, arrived) -> None:
        super().__init__()
        self.group = make([Member(d, ROLES[d]) for d in DEVICES])
        self.arrived = arrived  # (group, sync ID) -> the devices the backend holds as at that barrier
        self.messages: dict[str, dict[str, dict[str, bytes]]] = {}
        self.left: set[str] = set()
        self.barriers: dict[str, dict[str, PendingSync]] = {}  # id -> device -> its pending call

    # --- rules ------------------------------------------------------------------
    @rule(device=st.sampled_from(DEVICES), mid=st.sampled_from(IDS), key=st.sampled_from(["k", "j"]), value=st.binary())
    def send(self, device, mid, key, value):
        if device in self.left:
            with pytest.raises(DeviceLeft):
                self.group.send(device, mid, {key: value})
            return
        self.group.send(device, mid, {key: value})
        self.messages.setdefault(mid, {}).setdefault(device, {})[key] = value

    @rule(device=st.sampled_from(DEVICES), mid=st.sampled_from(IDS))
    def wait_now(self, device, mid):
        others = [d for d in DEVICES if d != device]
        if device in self.left or (mid not in self.messages and all(o in self.left for o in others)):
            with pytest.raises(DeviceLeft):
                self.group.wait(device, mid, Deadline.after(0))
        elif mid in self.messages:
            assert self.group.wait(device, mid, Deadline.after(0)) == self.messages[mid]
        else:
            with pytest.raises(GroupTimeout):
                self.group.wait(device, mid, Deadline.after(0))

    @rule(device=st.sampled_from(DEVICES), mid=st.sampled_from(IDS), role=st.sampled_from([None, "server", "client"]))
    def wait_all_now(self, device, mid, role):
        required = [d for d in DEVICES if role is None or ROLES[d] == role]
        absent = [d for d in required if d not in self.messages.get(mid, {})]
        if device in self.left or any(d in self.left for d in absent):
            with pytest.raises(DeviceLeft):
                self.group.wait_all(device, mid, role, Deadline.after(0))
        elif not absent:
            assert self.group.wait_all(device, mid, role, Deadline.after(0)) == self.messages[mid]
        else:
            with pytest.raises(GroupTimeout):
                self.group.wait_all(device, mid, role, Deadline.after(0))

    @rule(device=st.sampled_from(DEVICES), sid=st.sampled_from(["s1", "s2"]))
    def sync(self, device, sid):
        waiting = self.barriers.setdefault(sid, {})
        if device in waiting:
            return  # one call per device at a barrier; the model's helpers take turns
        if device in self.left:
            with pytest.raises(DeviceLeft):
                self.group.sync(device, sid, Deadline.after(60))
            return
        call = PendingSync(lambda: self.group.sync(device, sid, Deadline.after(60)))
        # The model moves on only once the backend holds the arrival (or the call ended, the
        # barrier having opened): a call thread still starting must not race the next rule.
        deadline = Deadline.after(SETTLE)
        while call.thread.is_alive() and device not in self.arrived(self.group, sid):
            assert not deadline.expired, f"{device}'s sync never arrived at {sid}"
            call.thread.join(0.005)
        waiting[device] = call
        self._settle(sid)

    @rule(device=st.sampled_from(DEVICES))
    def leave(self, device):
        if device in self.left:
            return
        self.group.leave(device, "test says so")
        self.left.add(device)
        for sid in list(self.barriers):
            call = self.barriers[sid].get(device)
            if call is not None:
                # Its own call fails, but its arrival still counts for the others.
                assert isinstance(call.ended(), DeviceLeft)
            self._settle(sid)

    # --- the model's barrier ------------------------------------------------------------
    def _settle(self, sid):
        waiting = self.barriers[sid]
        arrived = set(waiting)
        if arrived == set(DEVICES):
            for device, call in waiting.items():
                if device not in self.left:
                    assert call.ended() == "opened", call.outcome
            self.barriers[sid] = {}
            return
        if any(d in self.left for d in DEVICES if d not in arrived):
            for device, call in waiting.items():
                if device not in self.left:
                    assert isinstance(call.ended(), DeviceLeft), call.outcome
            # Everyone gave up: the departed ones' arrivals stay, the others withdrew.
            self.barriers[sid] = {d: c for d, c in waiting.items() if d in self.left}

    @invariant()
    def waiting_syncs_have_not_returned(self):
        for waiting in self.barriers.values():
            for device, call in waiting.items():
                if device not in self.left:
                    assert call.thread.is_alive(), f"{device}'s sync returned early: {call.outcome!r}"

    def teardown(self):
        self.group.close()


SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def memory_arrivals(group, sid) -> set[str]:
    with group._cond:
        barrier = group._barriers.get(sid)
        return set(barrier.arrived) if barrier is not None else set()


def test_interleavings_memory_coordinator():
    run_state_machine_as_test(lambda: GroupModel(MemoryCoordinator, memory_arrivals), settings=SETTINGS)


@pytest.mark.slow
def test_interleavings_redis_coordinator(redis_url):
    from serialsync.coordinator.redis import RedisCoordinator

    def make(members):
        return RedisCoordinator(members, redis_url, group=f"h{uuid.uuid4().hex[:12]}", ttl=600)

    def arrivals(group, sid) -> set[str]:
        raw, _ = group._read(group._sync_key(sid))
        return {field.decode() for field in raw if field != b"#gen"}

    run_state_machine_as_test(
        lambda: GroupModel(make, arrivals), settings=settings(SETTINGS, max_examples=15, stateful_step_count=20)
    )
