"""The Redis coordinator: one group shared by several host processes.

Same semantics as MemoryCoordinator (the conformance suite runs against
both); the group state lives in Redis so boards on different dispatcher hosts
can form one group.

Keys (every key of a group starts with ``serialsync:{group}:``):

- ``members``: the group's devices and roles (JSON), written by the first
  host; a host with a different member list is refused.
- ``msg:{message_id}``: a hash per message ID. Field ``sender\\x00key`` holds
  one value; field ``sender\\x00`` (empty key) marks that ``sender`` sent the
  ID, so an empty send is still a send. Device names never contain NUL.
- ``ids``: a set naming every ``msg:`` key, so a group keeps at most
  MAX_MESSAGE_IDS of them (rules.py), as the in-process one does.
- ``sync:{message_id}``: a hash per barrier, only while some device is at it
  (deleted when the round opens or its last waiter gives up). Field ``#gen``
  names the round (a token never reused); every other field is a device
  arrived in it.
- ``left``: a hash device -> reason.
- ``waits``: a hash device -> the call it is blocked in (redis_scripts.py
  gives the form), written when a call blocks and removed when it ends, so
  every host sees who waits for what and reports a stuck group the way
  the in-process coordinator does (rules.stuck_report).
- ``keys``: a set naming every key above, so each write can refresh the
  expiry of the whole group and ``clear_group`` can delete it.
- ``events`` (a pub/sub channel, not a key): every write script publishes on it.

Every update is one Lua script (redis_scripts.py), so two hosts writing the
same ID at once merge rather than overwrite, and "last arrival opens the
barrier" cannot be decided twice. The scripts touch keys not passed in KEYS (the ``keys``
index), so this backend needs a standalone Redis (or Sentinel), not Cluster.

Blocking calls wake on change: one listener thread per coordinator holds a
pub/sub subscription to the group's channel and bumps a local version counter
on each message; waiters re-check their predicate whenever the version moves.
The same listener re-runs the stuck check when a call blocks or ends, or a
device leaves, on any host.

URLs, clients and the admin operations (list_groups, clear_group) live in
redis_admin.py; they are re-exported here, where the rest of serialsync
imports them from.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from serialsync._time import SYSTEM_CLOCK, Clock, Deadline
from serialsync.coordinator.base import (
    GROUP_ENDED,
    Coordinator,
    GroupData,
    Member,
)
from serialsync.coordinator.calls import SYNC, WAIT, WAIT_ALL
from serialsync.coordinator.notify import StuckNotifier
from serialsync.coordinator.redis_admin import (
    PASSWORD_ENV,
    check_group,
    clear_group,
    group_prefix,
    list_groups,
    make_client,
    redact_url,
)
from serialsync.coordinator.redis_scripts import GEN_FIELD, Scripts
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

__all__ = ["PASSWORD_ENV", "RedisCoordinator", "clear_group", "list_groups", "redact_url"]

_T = TypeVar("_T")

# Fallback only: pub/sub wakes waiters on every change. This slow re-check
# covers a notification lost while the subscription was reconnecting.
_SAFETY_RECHECK = 1.0
# How long the listener waits for one message before looking at its closed flag.
_LISTEN_TICK = 1.0
_SUBSCRIBE_TIMEOUT = 10.0

# How long a group ended by a failure is kept as it is for hosts still joining it.
ENDED_GROUP_GRACE = 30.0


class RedisCoordinator(Coordinator):
    """Group state held in Redis; safe to call from many threads and from many hosts at once.

    Every host builds its own RedisCoordinator with the same ``members``,
    ``url`` and ``group``. ``ttl`` (seconds) is the expiry of the group's keys,
    pushed forward by every write. close() ends this host's coordinator only:
    it releases the waiters of this object, the group's state stays in Redis
    for the other hosts. ``clock`` is kept for callers that build deadlines on
    the group's clock; waits follow each Deadline's own clock.

    ``on_stuck(text)`` hears when the group gets stuck, whichever hosts its
    devices wait on, and ``on_stuck("")`` when it moves again; it runs on a
    thread of its own. Every host's coordinator reports it.
    """

    def __init__(
        self,
        members: Iterable[Member],
        url: str,
        *,
        group: str,
        ttl: float = 86400,
        reconnect_timeout: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
        on_stuck: Callable[[str], None] | None = None,
    ) -> None:
        self._members = check_members(members)
        self._devices = tuple(member.device for member in self._members)
        self._device_set = frozenset(self._devices)
        self.group = check_group(group)
        if not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl):
            raise ValueError(f"ttl must be a finite number of seconds > 0, not {ttl!r}")
        self._ttl_ms = max(1, int(ttl * 1000))
        # How long a send or leave keeps trying while Redis restarts; waits use their own deadline.
        self.reconnect_timeout = reconnect_timeout
        self.clock = clock
        self._url = url
        self.url = redact_url(url)  # the only form of the URL ever logged or shown
        prefix = group_prefix(self.group)
        self._prefix = prefix
        self._k_members = prefix + "members"
        self._k_left = prefix + "left"
        self._k_index = prefix + "keys"
        self._k_ids = prefix + "ids"
        self._k_waits = prefix + "waits"
        self._entries: dict[str, bytes] = {}  # device -> its entry in waits, for the calls blocked here
        self._stuck = StuckNotifier(on_stuck, name=f"serialsync-stuck-{self.group}")
        self._channel = prefix + "events"

        self._cond = threading.Condition()
        self._version = 0
        self._closed = False

        self._redis = make_client(url)
        self._scripts = Scripts(self._redis)
        try:
            with self._errors("connect"):
                stored = self._scripts.init(
                    keys=[self._k_members, self._k_left, self._k_index],
                    args=[
                        self._members_json(),
                        self._ttl_ms,
                        len(self._members),
                        int(ENDED_GROUP_GRACE * 1000),
                        GROUP_ENDED,
                    ],
                )
                if stored is not None:
                    raise CoordinatorError(
                        f"group {self.group!r} at {self.url} has other members: {stored.decode('utf-8', 'replace')}"
                    )
                # Subscribed before the first call can wait: no change can slip by unseen.
                pubsub = self._subscribe()
        except BaseException:
            self._redis.close()
            raise
        self._listener = threading.Thread(
            target=self._listen, args=(pubsub,), name=f"serialsync-redis-{self.group}", daemon=True
        )
        self._listener.start()
        log.debug("joined group %r at %s as %s", self.group, self.url, ", ".join(self._devices))

    # ------------------------------------------------------------ plumbing

    def _members_json(self) -> str:
        return json.dumps([[member.device, member.role] for member in self._members], separators=(",", ":"))

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            if self._closed:
                raise CoordinatorError("coordinator closed") from exc
            raise CoordinatorError(f"redis {self.url}: {what} failed: {exc}") from exc
        except (AttributeError, OSError) as exc:
            # What redis-py raises when the listener closed the client under a call in flight.
            if self._closed:
                raise CoordinatorError("coordinator closed") from exc
            raise

    def _riding_out_restarts(self, what: str, call: Callable[[], _T], deadline: Deadline) -> _T:
        """Run ``call``, trying again while Redis is unreachable, until ``deadline``.

        A refused connection ran nothing, so trying again loses and doubles
        nothing; the data itself survives in Redis's persistence (AOF/RDB).
        """
        delay = 0.05
        while True:
            try:
                with self._errors(what):
                    return call()
            except CoordinatorError as exc:
                if self._closed or not isinstance(exc.__cause__, (redis.ConnectionError, redis.TimeoutError)):
                    raise
                if deadline.remaining <= delay:
                    raise
                log.warning("%s; trying again", exc)
                with self._cond:
                    if not self._closed:
                        self._cond.wait(delay)  # close() cuts this short
                delay = min(delay * 2, _SAFETY_RECHECK)

    def _write(self, what: str, script: Any, keys: list[bytes], args: list[Any], deadline: Deadline) -> Any:
        return self._riding_out_restarts(what, lambda: script(keys=keys, args=args), deadline)

    def _subscribe(self) -> redis.client.PubSub:
        pubsub = self._redis.pubsub()
        try:
            pubsub.subscribe(self._channel)
            # The confirmation means the server now delivers every later publish to us.
            deadline = Deadline.after(_SUBSCRIBE_TIMEOUT)
            while True:
                message = pubsub.get_message(timeout=deadline.remaining)
                if message is not None and message["type"] == "subscribe":
                    return pubsub
                if deadline.expired:
                    raise CoordinatorError(f"redis {self.url}: no confirmation of subscribing to {self._channel}")
        except BaseException:
            pubsub.close()
            raise

    def _bump(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def _listen(self, pubsub: redis.client.PubSub | None) -> None:
        """Turn every message on the group's channel into a wake-up of this object's waiters."""
        try:
            while not self._closed:
                try:
                    if pubsub is None:
                        pubsub = self._subscribe()
                        log.info("resubscribed to group %r at %s", self.group, self.url)
                        self._bump()  # re-check after subscribing: changes made meanwhile sent no message to us
                        self._check_stuck()
                    # If redis-py reconnects and resubscribes inside get_message, messages of
                    # the gap are lost: the waiters' slow safety re-check covers that case.
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=_LISTEN_TICK)
                    if message is not None:
                        self._bump()
                        # A send or an opened barrier cannot make a group stuck, and what they
                        # release ends its calls, which says 'unwait': no check for those two.
                        if message["data"] not in (b"send", b"sync"):
                            self._check_stuck()
                except (redis.RedisError, CoordinatorError) as exc:
                    if self._closed:
                        return
                    log.warning("group %r: subscription to %s lost: %s", self.group, self.url, exc)
                    if pubsub is not None:
                        pubsub.close()
                        pubsub = None
                    self._bump()
                    with self._cond:
                        # Back off before reconnecting; close() cuts this short.
                        if not self._closed:
                            self._cond.wait(_SAFETY_RECHECK)
        finally:
            if pubsub is not None:
                pubsub.close()
            self._redis.close()

    @property
    def members(self) -> tuple[Member, ...]:
        return self._members

    def _check_device(self, device: str) -> None:
        if device not in self._device_set:
            raise UnknownDevice(f"device {device!r} is not in the group ({', '.join(self._devices)})")

    def _check_open(self) -> None:
        if self._closed:
            raise CoordinatorError("coordinator closed")

    def _enter(self, device: str, message_id: str) -> None:
        """Checks common to every call that needs no Redis round trip."""
        self._check_open()
        check_message_id(message_id)
        self._check_device(device)

    def _device_left(self, device: str, reason: str) -> DeviceLeft:
        log.warning("%s: %s", device, reason)
        return DeviceLeft(reason)

    def _caller_left(self, device: str, reason: str) -> DeviceLeft:
        return self._device_left(device, f"{device} has left the group ({reason})")

    def _check_caller_present(self, device: str, left: Mapping[str, str]) -> None:
        if device in left:
            raise self._caller_left(device, left[device])

    def _msg_key(self, message_id: str) -> bytes:
        return (self._prefix + "msg:").encode() + message_id.encode("utf-8", "surrogatepass")

    def _sync_key(self, message_id: str) -> bytes:
        return (self._prefix + "sync:").encode() + message_id.encode("utf-8", "surrogatepass")

    @staticmethod
    def _decode_left(raw: Mapping[bytes, bytes]) -> dict[str, str]:
        return {device.decode(): reason.decode("utf-8", "replace") for device, reason in raw.items()}

    def _read(self, key: bytes) -> tuple[dict[bytes, bytes], dict[str, str]]:
        """One hash and the departed devices, as one consistent snapshot."""
        with self._errors("read"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hgetall(key)
            pipe.hgetall(self._k_left)
            raw, left = pipe.execute()
        return raw, self._decode_left(left)

    def _read_left(self) -> dict[str, str]:
        with self._errors("read"):
            return self._decode_left(self._redis.hgetall(self._k_left))

    def _read_message(self, message_id: str) -> tuple[GroupData, dict[str, str]]:
        raw, left = self._read(self._msg_key(message_id))
        data: GroupData = {}
        for field in raw:
            sender, _, key = field.partition(b"\x00")
            if not key:
                data[sender.decode()] = {}
        for field, value in raw.items():
            sender, _, key = field.partition(b"\x00")
            if key:
                data.setdefault(sender.decode(), {})[key.decode("utf-8", "surrogatepass")] = value
        return copy_group_data(data, self._devices), left

    def _block(
        self,
        call: BlockedCall,
        deadline: Deadline,
        attempt: Callable[[], _T | None],
        on_timeout: Callable[[], GroupTimeout | None],
    ) -> _T:
        """Wait until ``attempt`` returns a value; it raises if it never can.

        ``on_timeout`` gives the timeout reason, or None when the call turned
        out to be complete after all (then ``attempt`` runs once more).
        While it waits, ``call`` is in the group's ``waits`` for every host to see.
        """
        device = call.device
        entry: bytes | None = None
        try:
            while True:
                with self._cond:
                    self._check_open()
                    seen = self._version
                # Any change after reading ``seen`` moves the version, so the wait below cannot miss it.
                try:
                    result = attempt()
                except CoordinatorError as exc:
                    # Redis unreachable (restarting, failing over): keep waiting until the deadline.
                    if self._closed or not isinstance(exc.__cause__, (redis.ConnectionError, redis.TimeoutError)):
                        raise
                    log.warning("%s: %s; retrying until the deadline", device, exc)
                    result = None
                if result is not None:
                    return result
                remaining = deadline.remaining
                if remaining <= 0:
                    error = on_timeout()
                    if error is None:
                        continue
                    error.doing = self._doing(error.missing)
                    log.warning("%s: %s", device, error)
                    raise error
                if entry is None:
                    entry = self._enter_waits(call)
                with self._cond:
                    if not self._closed and self._version == seen:
                        # Woken by the listener on any change; the cap is the lost-notification fallback.
                        self._cond.wait(min(remaining, _SAFETY_RECHECK))
        finally:
            if entry is not None:
                self._leave_waits(device, entry)

    # ------------------------------------------------------------ who waits for what, on every host

    def _enter_waits(self, call: BlockedCall) -> bytes | None:
        """Put ``call`` in the group's ``waits``: its entry, or None when Redis is away (tried again later)."""
        entry = f"{call.call}\n{call.role or ''}\n{uuid.uuid4().hex}\n".encode() + call.message_id.encode(
            "utf-8", "surrogatepass"
        )
        try:
            with self._errors("note a blocked call"):
                self._scripts.waiting(
                    keys=[self._k_waits, self._k_index], args=[call.device, entry, self._ttl_ms, self._channel]
                )
        except CoordinatorError as exc:
            log.debug("%s: %s", call.device, exc)
            return None
        with self._cond:
            self._entries[call.device] = entry
        return entry

    def _leave_waits(self, device: str, entry: bytes) -> None:
        with self._cond:
            if self._entries.get(device) != entry:
                return  # close() took it out already, while the client was still open
            del self._entries[device]
            if self._closed:
                return  # blocked as close() ran: the client may be gone; the entry expires with the group
        try:
            with self._errors("note a call ended"):
                self._scripts.unwaiting(keys=[self._k_waits], args=[device, entry, self._channel])
        except CoordinatorError as exc:
            # Redis away or this host closing: the entry goes with the group's keys.
            log.debug("%s: %s", device, exc)

    @staticmethod
    def _decode_entry(device: bytes, entry: bytes) -> BlockedCall:
        call, role, _token, message_id = entry.split(b"\n", 3)
        return BlockedCall(
            device.decode(), call.decode(), message_id.decode("utf-8", "surrogatepass"), role.decode() or None
        )

    def _check_stuck(self) -> None:
        """The listener's: is the group stuck, counting every host's devices? Reported when that changes."""
        try:
            with self._errors("check for a stuck group"):
                snapshot = self._scripts.stuck(
                    keys=[self._k_waits, self._k_left], args=[len(self._devices), self._prefix]
                )
        except CoordinatorError as exc:
            # Redis away is the listener's news already; anything else is a fault worth seeing.
            away = isinstance(exc.__cause__, (redis.ConnectionError, redis.TimeoutError)) or self._closed
            log.log(logging.DEBUG if away else logging.WARNING, "group %r: %s", self.group, exc)
            return
        if snapshot is None:
            self._stuck.report("")
            return
        waits, left_flat, fields = snapshot
        left = self._decode_left(dict(zip(left_flat[::2], left_flat[1::2], strict=True)))
        calls: list[BlockedCall] = []
        senders: dict[str, set[str]] = {}
        at_sync: dict[str, set[str]] = {}
        for device, entry, held in zip(waits[::2], waits[1::2], fields, strict=True):
            call = self._decode_entry(device, entry)
            calls.append(call)
            if call.call == SYNC:
                at_sync[call.message_id] = {field.decode() for field in held if field != GEN_FIELD}
            else:
                senders[call.message_id] = {field.partition(b"\x00")[0].decode() for field in held}
        self._stuck.report(stuck_report(self._members, left, calls, senders, at_sync))

    def _doing(self, devices: tuple[str, ...]) -> dict[str, str]:
        """What each of these devices waits in now, on any host (nothing when Redis is away)."""
        try:
            return {device: what for device, what in self.blocked().items() if device in devices}
        except CoordinatorError:
            return {}

    def report_stuck_to(self, on_stuck: Callable[[str], None]) -> None:
        self._stuck.listen(on_stuck)

    def blocked(self) -> dict[str, str]:
        self._check_open()
        with self._errors("read"):
            raw = self._redis.hgetall(self._k_waits)
        return {call.device: call.describe() for call in (self._decode_entry(d, e) for d, e in raw.items())}

    def wait_blocked(self, device: str, deadline: Deadline) -> str | None:
        self._check_device(device)
        while True:
            with self._cond:
                self._check_open()
                seen = self._version
            with self._errors("read"):
                entry = self._redis.hget(self._k_waits, device)
            if entry is not None:
                return self._decode_entry(device.encode(), entry).describe()
            remaining = deadline.remaining
            if remaining <= 0:
                return None
            with self._cond:
                if not self._closed and self._version == seen:
                    self._cond.wait(min(remaining, _SAFETY_RECHECK))  # 'wait' on the channel moves the version

    # ------------------------------------------------------------ the Coordinator API

    def send(self, device: str, message_id: str, data: Mapping[str, bytes]) -> None:
        clean = check_data(data)
        self._enter(device, message_id)
        args: list[bytes | str | int] = [device, self._ttl_ms, self._channel, MAX_MESSAGE_IDS]
        sender = device.encode() + b"\x00"
        for key, value in clean.items():
            args += [sender + key.encode("utf-8", "surrogatepass"), value]
        refused = self._write(
            f"send {message_id!r}",
            self._scripts.send,
            [self._msg_key(message_id), self._k_left, self._k_index, self._k_ids],
            args,
            Deadline.after(self.reconnect_timeout),
        )
        if refused is None:
            return
        if refused[0] == b"full":
            error = too_many_message_ids(message_id)
            log.warning("%s: %s", device, error)
            raise error
        raise self._caller_left(device, refused[1].decode("utf-8", "replace"))

    def wait(self, device: str, message_id: str, deadline: Deadline) -> GroupData:
        self._enter(device, message_id)
        self._check_caller_present(device, self._riding_out_restarts("read", self._read_left, deadline))
        others = [other for other in self._devices if other != device]

        def attempt() -> GroupData | None:
            senders, left = self._read_message(message_id)
            if senders:
                return senders
            self._check_caller_present(device, left)
            # Only when nobody is left who could send it (a one-device group just times out).
            if others and all(other in left for other in others):
                raise self._device_left(
                    device,
                    f"{message_id!r} can never arrive: every other device has left the group: "
                    + left_reasons(left, others),
                )
            return None

        return self._block(
            BlockedCall(device, WAIT, message_id),
            deadline,
            attempt,
            lambda: timed_out(
                deadline, f"{message_id!r} from any device", self._others_present(device), "never sent it"
            ),
        )

    def _others_present(self, device: str) -> list[str]:
        """The other devices still in the group (who could have sent a message), for a timeout's report."""
        try:
            left = self._read_left()
        except CoordinatorError:
            return []  # Redis away: the timeout is still the news
        return [other for other in self._devices if other != device and other not in left]

    def wait_all(self, device: str, message_id: str, role: str | None, deadline: Deadline) -> GroupData:
        self._enter(device, message_id)
        self._check_caller_present(device, self._riding_out_restarts("read", self._read_left, deadline))
        # Unknown role fails here, before any waiting.
        required = list(self._devices) if role is None else self.devices_of(role)
        scope = f"{message_id!r} from " + ("every device" if role is None else f"role {role!r}")

        def attempt() -> GroupData | None:
            senders, left = self._read_message(message_id)
            absent = [member for member in required if member not in senders]
            if not absent:
                return senders
            self._check_caller_present(device, left)
            gone = [member for member in absent if member in left]
            if gone:
                raise self._device_left(device, f"{scope} can never complete: " + left_reasons(left, gone))
            return None

        def on_timeout() -> GroupTimeout:
            senders, _ = self._read_message(message_id)
            return timed_out(deadline, scope, [m for m in required if m not in senders], "never sent it")

        return self._block(BlockedCall(device, WAIT_ALL, message_id, role), deadline, attempt, on_timeout)

    def sync(self, device: str, message_id: str, deadline: Deadline) -> None:
        self._enter(device, message_id)
        key = self._sync_key(message_id)
        status, generation = self._write(
            f"sync {message_id!r}",
            self._scripts.arrive,
            [key, self._k_left, self._k_index],
            # The token names the round should this arrival start one: unique across hosts.
            [device, len(self._devices), self._ttl_ms, self._channel, uuid.uuid4().hex],
            deadline,
        )
        if status == b"left":
            raise self._caller_left(device, generation.decode("utf-8", "replace"))
        if status == b"already":
            raise CoordinatorError(
                f"{device} is already waiting at sync {message_id!r}: an earlier call of it has not "
                "ended (a helper stopped while it waited?); it ends at its timeout"
            )
        if status == b"done":
            return

        def attempt() -> bool | None:
            raw, left = self._read(key)
            if raw.get(GEN_FIELD) != generation:
                return True
            self._check_caller_present(device, left)
            gone = [other for other in left if other.encode() not in raw]
            if gone:
                raise self._device_left(
                    device,
                    f"sync {message_id!r} can never complete: " + left_reasons(left, gone),
                )
            return None

        def abandon() -> list[bytes]:
            with self._errors(f"sync {message_id!r}"):
                return self._scripts.abandon(keys=[key, self._k_left, self._k_index], args=[device, generation])

        def on_timeout() -> GroupTimeout | None:
            status, *arrived = abandon()
            if status == b"completed":
                return None  # the round opened just now, with this device in it
            absent = [other for other in self._devices if other != device and other.encode() not in arrived]
            return timed_out(deadline, f"sync {message_id!r}", absent, "never reached it")

        try:
            self._block(BlockedCall(device, SYNC, message_id), deadline, attempt, on_timeout)
        except BaseException:
            # A caller that gave up is no longer at the barrier (idempotent after on_timeout).
            try:
                abandon()
            except CoordinatorError as exc:
                if not self._closed:
                    log.warning("%s: could not withdraw from sync %r: %s", device, message_id, exc)
            raise

    def leave(self, device: str, reason: str) -> None:
        """Mark ``device`` gone, on every host. The first reason is kept; leaving after close() is a no-op."""
        self._check_device(device)
        if self._closed:
            return
        reason = reason or "no reason given"
        first = self._write(
            f"leave {device!r}",
            self._scripts.leave,
            [self._k_left, self._k_index],
            [device, reason, self._ttl_ms, self._channel],
            Deadline.after(self.reconnect_timeout),
        )
        if first:
            log.info("%s left the group: %s", device, reason)

    def departed(self) -> dict[str, str]:
        self._check_open()
        return self._read_left()

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            entries = list(self._entries.items())
        # Before the listener closes the client: other hosts must not go on seeing these calls wait.
        for device, entry in entries:
            self._leave_waits(device, entry)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stuck.close()

    def __repr__(self) -> str:
        return f"RedisCoordinator(group={self.group!r}, url={self.url!r}, devices={list(self._devices)!r})"
