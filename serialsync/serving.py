"""A request from a board, served by the group: the reply it gets, and the record of the call.

Imports protocol and coordinator only; no threads, no typing. A call that has
to wait (sync, wait, wait-all) blocks the caller until the group answers or
the deadline passes, so the watcher runs those on threads of their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ._time import Deadline
from .coordinator import Coordinator, calls
from .errors import CoordinatorError, GroupTimeout
from .protocol import (
    Ack,
    GroupInfo,
    GroupRequest,
    Nack,
    RejectedRequest,
    Reply,
    Request,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitComplete,
    WaitRequest,
    wire,
)

log = logging.getLogger("serialsync.watcher")

API_NAMES: dict[type, str] = {
    SendRequest: calls.SEND,
    SyncRequest: calls.SYNC,
    WaitRequest: calls.WAIT,
    WaitAllRequest: calls.WAIT_ALL,
    GroupRequest: "lava-group",
}


@dataclass(frozen=True)
class CallRecord:
    """One multinode call as the host served it: for results and progress."""

    device: str
    api: str  # "lava-sync", ...
    message_id: str | None
    ok: bool
    reason: str
    waited: float  # seconds between the request and the reply
    role: str | None = None
    finished: float = 0.0  # when the reply was decided, on the watcher's monotonic clock
    dialect: str = "serialsync"  # "lava": made by LAVA's own helpers (which exit 0 on a nack)
    missing: tuple[str, ...] = ()  # a timed-out call: the devices it still waited for


def blocks(request: Request) -> bool:
    """Whether serving the request may wait for other devices."""
    return isinstance(request, (SyncRequest, WaitRequest, WaitAllRequest))


def serve(request: Request, coordinator: Coordinator, device: str, deadline: Deadline) -> tuple[Reply, tuple[str, ...]]:
    """The reply, and for a timed-out call the devices it still waited for. Never raises."""
    try:
        if isinstance(request, (SendRequest, SyncRequest, WaitRequest, WaitAllRequest)):
            data = dict(request.data) if isinstance(request, SendRequest) else None
            role = request.role if isinstance(request, WaitAllRequest) else None
            api = API_NAMES[type(request)]
            received = calls.call(coordinator, api, device, request.message_id, deadline, data=data, role=role)
            return (Ack() if received is None else WaitComplete(received)), ()
        if isinstance(request, GroupRequest):
            members = [(m.device, m.role) for m in coordinator.members]
            return GroupInfo(wire.group_file_text(device, members)), ()
        if isinstance(request, RejectedRequest):
            return Nack(f"invalid request: {request.reason}"), ()
    except GroupTimeout as e:
        return Nack(str(e)), e.missing
    except CoordinatorError as e:
        return Nack(str(e)), ()
    except Exception as e:  # the board must get an answer whatever broke on the host
        log.exception("%s: internal error serving %s", device, request)
        return Nack(f"host error ({e or 'no detail'}); the host's log has the details"), ()
    return Nack("unsupported request"), ()


def record_of(
    device: str, request: Request, reply: Reply, missing: tuple[str, ...], started: float, finished: float
) -> CallRecord:
    """The record of one served call."""
    return CallRecord(
        device=device,
        api=API_NAMES.get(type(request), f"lava-{getattr(request, 'op', '?').lower().replace('_', '-')}"),
        message_id=getattr(request, "message_id", None),
        ok=not isinstance(reply, Nack),
        reason=reply.reason if isinstance(reply, Nack) else "",
        waited=finished - started,
        role=getattr(request, "role", None),
        finished=finished,
        dialect=request.dialect.value,
        missing=missing,
    )
