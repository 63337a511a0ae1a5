"""The group coordinator interface: LAVA MultiNode semantics, with deadlines and reasons.

A coordinator knows devices, roles, message IDs and bytes; it knows nothing of
consoles or markers. Backends (in-process, Redis) implement the ABC and must
pass the conformance suite in ``serialsync.coordinator.testing``.

Semantics shared by every backend:

- Message IDs persist for the group's life. A repeated send with the same ID
  from the same device merges its keys into that sender's data (the new value
  wins); different senders' data is kept apart.
- ``wait_all`` with a role waits for *every* device of the role (LAVA's own
  coordinator only waits for the first one; serialsync does not copy that).
- ``sync`` is a reusable barrier with its own state, apart from the message store.
- When a device leaves, every call that now cannot complete fails at once with
  DeviceLeft, instead of running into its deadline.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from serialsync._time import Deadline
from serialsync.errors import UnknownDevice, UnknownRole

__all__ = ["Coordinator", "GroupData", "Member"]

# sender device -> key -> value; values are arbitrary bytes, kept byte-exact.
GroupData = dict[str, dict[str, bytes]]

# fullmatch, not "^...$": "$" would also accept a trailing newline.
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Member:
    """One device of the group and its role."""

    device: str
    role: str

    def __post_init__(self) -> None:
        for field, value in (("device", self.device), ("role", self.role)):
            if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
                raise ValueError(f"member {field} must be 1-64 characters of A-Z a-z 0-9 _ . -, not {value!r}")


GROUP_ENDED = "group ended: "  # how end_group() words the departure of the devices it sends away


class Coordinator(ABC):
    """A group of devices exchanging messages and meeting at barriers.

    Every method may be called from many threads at once. ``device`` is the
    calling device; a device not in the group raises UnknownDevice, a device
    that has left raises DeviceLeft, and any call after close() raises
    CoordinatorError("coordinator closed").
    """

    @property
    @abstractmethod
    def members(self) -> tuple[Member, ...]:
        """Every device of the group with its role, in group order."""

    def roles(self) -> list[str]:
        """Unique roles, in order of first appearance."""
        return list(dict.fromkeys(member.role for member in self.members))

    def devices_of(self, role: str) -> list[str]:
        """Devices of ``role`` in group order; UnknownRole if no device has it."""
        devices = [member.device for member in self.members if member.role == role]
        if not devices:
            raise UnknownRole(f"unknown role {role!r}; the group's roles are: {', '.join(self.roles())}")
        return devices

    def _check_device(self, device: str) -> None:
        if not any(member.device == device for member in self.members):
            known = ", ".join(member.device for member in self.members)
            raise UnknownDevice(f"device {device!r} is not in the group ({known})")

    @abstractmethod
    def send(self, device: str, message_id: str, data: Mapping[str, bytes]) -> None:
        """Publish ``data`` under ``message_id`` from ``device``; never blocks.

        A repeated send of the same ID from the same device merges its keys
        into that sender's data, the new value winning for the same key.
        """

    @abstractmethod
    def wait(self, device: str, message_id: str, deadline: Deadline) -> GroupData:
        """Block until any device (the caller included) has sent ``message_id``.

        Returns every sender's data for the ID at once if it was already sent.
        DeviceLeft if nothing was sent and every other device has left.
        """

    @abstractmethod
    def wait_all(self, device: str, message_id: str, role: str | None, deadline: Deadline) -> GroupData:
        """Block until every device (``role`` None) or every device of ``role`` has sent ``message_id``.

        UnknownRole at once for a role nobody has. Returns the data of all
        senders of the ID, not only those of the role.
        """

    @abstractmethod
    def sync(self, device: str, message_id: str, deadline: Deadline) -> None:
        """A barrier of every device, reusable with the same ID round after round."""

    @abstractmethod
    def leave(self, device: str, reason: str) -> None:
        """Mark ``device`` gone; calls that now cannot complete fail with DeviceLeft."""

    @abstractmethod
    def departed(self) -> dict[str, str]:
        """Devices that have left the group, each with the first reason given."""

    @abstractmethod
    def blocked(self) -> dict[str, str]:
        """Each device whose call the group holds blocked now, with what it waits for (``lava-sync 'a'``).

        Every host's devices, for a backend shared by hosts.
        """

    @abstractmethod
    def wait_blocked(self, device: str, deadline: Deadline) -> str | None:
        """Block until a call of ``device`` is held blocked: what it waits for, or None at ``deadline``.

        Held blocked means the backend took the call (a sync's arrival
        counts) and found it cannot end yet. "Still waiting" is proven by
        this, not by a call that has not returned yet, which a slow machine
        also produces.
        """

    @abstractmethod
    def report_stuck_to(self, on_stuck: Callable[[str], None]) -> None:
        """Also tell ``on_stuck(text)`` when the group gets stuck (who waits for what), ``on_stuck("")`` when it moves.

        For a runner given a coordinator made elsewhere (Redis, shared by hosts).
        """

    def end_group(self, device: str, reason: str) -> None:
        """End the whole group because ``device`` failed: every device leaves.

        Every pending and later call of every device, on every host, fails at
        once with DeviceLeft naming the failed device; runners see it in
        departed() and stop. The failed device leaves with its own reason.
        """
        self.leave(device, reason)
        for member in self.members:
            self.leave(member.device, f"{GROUP_ENDED}{device} failed: {reason}")

    @abstractmethod
    def close(self) -> None:
        """Release every waiter with CoordinatorError("coordinator closed"); idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
