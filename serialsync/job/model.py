"""A validated job: what the loader produces and the runner consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Timeouts:
    job: float = 3600.0  # the whole job
    boot: float = 120.0  # until the board's shell answers
    step: float = 600.0  # one shell step
    call: float = 300.0  # one multinode call (lava-sync, lava-wait, ...)


@dataclass(frozen=True)
class Device:
    name: str
    role: str
    connection: str = "simulated"
    pacing: str = "none"  # none | fixed | echo: how bytes are typed into the board
    character_delay: float = 0.0  # seconds between typed characters (pacing: fixed)
    install_helpers: bool = False  # type the helpers onto a board whose image lacks them
    kmsg: bool = False  # helpers print markers through /dev/kmsg (the console must be the kernel's)


# Console lines that mean the board is gone: it leaves the group at once, so
# the calls of other devices that needed it fail now, not at their timeout.
ON_FAILURE = ("continue", "end-group")

DEFAULT_FAILURE_PATTERNS = (
    r"Kernel panic - not syncing",
    r"Internal error: Oops",
    r"\bOops: [0-9a-fx]+ \[#\d+\]",
    r"reboot: Restarting system",
    r"^U-Boot \d{4}\.\d{2}",
)


@dataclass(frozen=True)
class Job:
    name: str
    devices: tuple[Device, ...]
    steps: dict[str, tuple[str, ...]]  # role -> shell steps
    timeouts: Timeouts = field(default_factory=Timeouts)
    source: str = "<job>"
    failure_patterns: tuple[str, ...] = DEFAULT_FAILURE_PATTERNS
    # What one device's failure does to the others: "continue" fails only the
    # calls that needed it (a server with independent clients keeps serving);
    # "end-group" stops every device. A failed device of an essential role
    # ends the group either way.
    on_failure: str = "continue"
    essential_roles: frozenset[str] = frozenset()

    def ends_group(self, device: Device) -> bool:
        return self.on_failure == "end-group" or device.role in self.essential_roles

    def steps_of(self, device: Device) -> tuple[str, ...]:
        return self.steps.get(device.role, ())
