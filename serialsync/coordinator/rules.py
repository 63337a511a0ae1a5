"""Rules every coordinator backend shares: checks of what callers give, and the wording of outcomes.

The interface (base.py) says what a coordinator does; these say how the
backends agree on the details, so a report reads the same whichever backend
made it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from serialsync._time import Deadline, format_seconds
from serialsync.coordinator.base import GroupData, Member
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
