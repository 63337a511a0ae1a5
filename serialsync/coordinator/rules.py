"""Rules every coordinator backend shares: checks of what callers give, and the wording of outcomes.

The interface (base.py) says what a coordinator does; these say how the
backends agree on the details, so a report reads the same whichever backend
made it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from serialsync._time import Deadline, format_seconds
from serialsync.coordinator.base import GroupData, Member
from serialsync.coordinator.calls import SYNC, WAIT
from serialsync.errors import CoordinatorError, GroupTimeout

log = logging.getLogger("serialsync.coordinator")

MAX_MESSAGE_IDS = 4096  # distinct message IDs a group keeps; a send of one more is refused


def too_many_message_ids(message_id: str) -> CoordinatorError:
    """The refusal of a send past MAX_MESSAGE_IDS, worded the same by every backend.

    Bounded: console noise forming valid sends must not grow the group without end.
    """
    return CoordinatorError(
        f"the group already holds {MAX_MESSAGE_IDS} message IDs: {message_id!r} not kept "
        "(is a board printing markers it did not mean?)"
    )


def check_members(members: Iterable[Member]) -> tuple[Member, ...]:
    """Validate a group at construction: non-empty, Member objects, unique devices."""
    group = tuple(members)
    if not group:
        raise ValueError("a group needs at least one member")
    seen: set[str] = set()
    for member in group:
        if not isinstance(member, Member):
            raise TypeError(f"group members must be Member objects, not {member!r}")
        if member.device in seen:
            raise ValueError(f"device {member.device!r} appears twice in the group")
        seen.add(member.device)
    return group


def check_message_id(message_id: object) -> None:
    # Caller misuse of the Python API (the protocol layer validates board input).
    if not isinstance(message_id, str) or not message_id:
        raise ValueError(f"message_id must be a non-empty str, not {message_id!r}")


def check_data(data: Mapping[str, bytes]) -> dict[str, bytes]:
    """Validate and copy send data, so a bad item never leaves a half-merged message."""
    clean: dict[str, bytes] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"data keys must be non-empty str, not {key!r}")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"value of {key!r} must be bytes, not {type(value).__name__}")
        clean[key] = bytes(value)
    return clean


def copy_group_data(data: Mapping[str, Mapping[str, bytes]], order: Iterable[str]) -> GroupData:
    """The senders' data in group order, whatever order they sent in.

    So a reply is the same however the sends raced (a replayed run answers as
    recorded). Callers get their own dicts: the store must not change under them.
    """
    return {sender: dict(data[sender]) for sender in order if sender in data}


def timed_out(deadline: Deadline, scope: str, missing: Iterable[str], verb: str) -> GroupTimeout:
    """The one spelling of a timeout, shared by backends so logs read the same everywhere.

    e.g. "timed out after 2 s waiting for 'ready' from role 'client': dev2, dev3 never sent it";
    the error also carries the devices it names, for reports (what each was last doing).
    """
    missing = tuple(missing)
    names, verb = (", ".join(missing), verb) if missing else ("nobody", verb.replace("never ", ""))
    message = f"timed out after {format_seconds(deadline.timeout)} waiting for {scope}: {names} {verb}"
    return GroupTimeout(message, missing=missing)


def left_reasons(left: Mapping[str, str], devices: Iterable[str]) -> str:
    return "; ".join(f"{device} left the group ({left[device]})" for device in devices)


@dataclass(frozen=True)
class BlockedCall:
    """A call a backend holds blocked: whose, which (calls.py's name), for which ID and role."""

    device: str
    call: str
    message_id: str
    role: str | None = None

    def describe(self) -> str:
        """What the call waits for, as a report names it: ``lava-wait-all 'ready' 'client'``."""
        return f"{self.call} {self.message_id!r}" + ("" if self.role is None else f" {self.role!r}")


STUCK = "the group is stuck"  # how every report of a stuck group begins


def stuck_report(
    members: Sequence[Member],
    left: Mapping[str, str],
    blocked: Iterable[BlockedCall],
    senders: Mapping[str, Collection[str]],
    at_sync: Mapping[str, Collection[str]],
) -> str:
    """The report of a stuck group, or "" when it is not stuck.

    Stuck: every device still in the group waits in a call, and none of those
    calls can end now. ``senders`` holds who sent each message ID waited
    for, ``at_sync`` who is at each barrier waited at, in its current round.
    A call that could end now, answered or failing (woken but not yet
    running, or caught by a departure), proves the group moves. The calls
    still end at their timeouts, not at this report: a call can outlive the
    helper that made it, so a device that looks blocked may in fact be busy.
    """
    calls = list(blocked)
    waiting = {call.device for call in calls}
    present = [member.device for member in members if member.device not in left]
    if not present or any(device not in waiting for device in present):
        return ""
    if any(_can_end(call, members, left, senders, at_sync) for call in calls):
        return ""
    order = {member.device: index for index, member in enumerate(members)}
    calls.sort(key=lambda call: order.get(call.device, len(order)))
    stuck = "; ".join(f"{call.device} waits in {call.describe()}" for call in calls)
    return (
        f"{STUCK}: every device still in it waits, and none can answer another "
        f"(their calls end at their timeouts): {stuck}"
    )


def _can_end(
    call: BlockedCall,
    members: Sequence[Member],
    left: Mapping[str, str],
    senders: Mapping[str, Collection[str]],
    at_sync: Mapping[str, Collection[str]],
) -> bool:
    """Whether ``call`` could end now, answered or failing, as the backends' own tests decide."""
    if call.device in left:
        return True
    if call.call == SYNC:
        arrived = at_sync.get(call.message_id, ())
        # Not at the barrier any more: its round opened. A departed device that never came: it fails.
        return call.device not in arrived or any(device not in arrived for device in left)
    sent = senders.get(call.message_id, ())
    if call.call == WAIT:
        others = [member.device for member in members if member.device != call.device]
        return bool(sent) or (bool(others) and all(other in left for other in others))
    required = [member.device for member in members if call.role is None or member.role == call.role]
    absent = [device for device in required if device not in sent]
    return not absent or any(device in left for device in absent)
