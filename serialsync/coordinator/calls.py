"""The MultiNode API as coordinator calls: one table, used for a board's markers and the host's requests alike.

A call is named as LAVA's helper and request are (``lava-sync``, ...); the
watcher (serving what a board's helper printed) and the job runner (making a
job's protocol requests) both go through ``call()``, so the two can never
disagree on what a name does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from serialsync._time import Deadline
from serialsync.coordinator.base import Coordinator, GroupData

SEND, SYNC, WAIT, WAIT_ALL = "lava-send", "lava-sync", "lava-wait", "lava-wait-all"
MESSAGE_CALLS = (SEND, SYNC, WAIT, WAIT_ALL)  # the calls a job's protocol requests and step helpers make
BLOCKING_CALLS = frozenset({SYNC, WAIT, WAIT_ALL})

_Call = Callable[[Coordinator, str, str, Mapping[str, bytes], str | None, Deadline], GroupData | None]
_TABLE: dict[str, _Call] = {
    SEND: lambda c, device, mid, data, _role, _deadline: c.send(device, mid, data),
    SYNC: lambda c, device, mid, _data, _role, deadline: c.sync(device, mid, deadline),
    WAIT: lambda c, device, mid, _data, _role, deadline: c.wait(device, mid, deadline),
    WAIT_ALL: lambda c, device, mid, _data, role, deadline: c.wait_all(device, mid, role, deadline),
}


def call(
    coordinator: Coordinator,
    api: str,
    device: str,
    message_id: str,
    deadline: Deadline,
    *,
    data: Mapping[str, bytes] | None = None,
    role: str | None = None,
) -> GroupData | None:
    """Make the call named api for device: the data a wait received, None for a send or a sync."""
    try:
        make = _TABLE[api]
    except KeyError:
        raise ValueError(f"not a MultiNode call: {api!r} (one of {', '.join(MESSAGE_CALLS)})") from None
    return make(coordinator, device, message_id, data or {}, role, deadline)
