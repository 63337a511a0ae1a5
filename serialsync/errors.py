"""The exception hierarchy. Imports nothing from serialsync.

Every error the package raises on purpose derives from SerialsyncError, so a
caller can catch one class; the subclasses say whose fault it was.
"""

from __future__ import annotations


class SerialsyncError(Exception):
    """Root of every serialsync error."""


class ProtocolError(SerialsyncError):
    """Something about the marker protocol went wrong."""


class RemoteProtocolError(ProtocolError):
    """The board sent something the protocol does not allow."""


class LocalProtocolError(ProtocolError):
    """Our own caller misused the protocol API."""


class TransportError(SerialsyncError):
    """A console connection failed."""


class EchoMismatch(TransportError):
    """Echo pacing could not confirm a typed line: it was erased on the board, not handed over."""


class TypingFailed(TransportError):
    """Something a session typed never reached the board intact; waiting for its effect is pointless."""


class BoardNotReady(TransportError):
    """The board's shell never answered: the message says which timeout ran out and what was read."""


class TransportClosed(TransportError):
    """The connection is closed: by the other end, or used after close()."""


class TransportTimeout(TransportError):
    """Nothing arrived before the deadline."""


class CoordinatorError(SerialsyncError):
    """A group call cannot be answered; the message says why."""


class GroupTimeout(CoordinatorError):
    """A blocking group call reached its deadline.

    ``missing`` names the devices it still waited for; ``doing`` says, for
    each of them that was itself waiting in a call then, which call
    (``lava-sync 'b'``); one not in ``doing`` was in no group call.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...] = (), doing: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing
        self.doing = dict(doing or {})


class UnknownRole(CoordinatorError):
    """A call named a role no device of the group has."""


class UnknownDevice(CoordinatorError):
    """A call came from, or named, a device that is not in the group."""


class DeviceLeft(CoordinatorError):
    """A device the call depends on has left the group (failed or finished)."""


class JobConfigError(SerialsyncError):
    """A job file is invalid; names the file, the line and the field."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None, field: str = "") -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        where = file or "<job>"
        if line is not None:
            where += f":{line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {message}")
