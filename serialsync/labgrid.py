"""labgrid integration: a driver that serves markers on any labgrid console, and groups of targets.

``SerialsyncDriver`` is itself a ConsoleProtocol that sits between a
console driver (SerialDriver, ExternalConsoleDriver, QEMUDriver, ...) and
whatever uses the console (ShellDriver, a strategy, the test). A reader
thread drains the console below it into a Watcher, so serialsync and LAVA
markers are answered whenever the board prints them, including while
nobody reads (another board's command, the test waiting); everything read
is then handed up, unchanged, to labgrid's read() and expect(). What is
written goes through the watcher's single writer, so a command typed by
ShellDriver and a reply never interleave.

The console below is read and written through its ``_read``/``_write``
(labgrid's ConsoleExpectMixin drivers have them), not through the step-
logged read()/write(): those keep one process-wide step stack that threads
must not touch. Pacing is serialsync's (``pacing``, ``character_delay``).

``labgrid_group(env)`` forms one group of every target of an environment
that has a SerialsyncDriver (each with its ``role``): the drivers join it,
then are activated (a ShellDriver above logs in), and the helpers are
typed in where ``install_helpers: true``. It returns a BoardGroup.

Environment file::

    targets:
      server1:
        resources:
          RawSerialPort: {port: /dev/ttyUSB0, speed: 115200}
        drivers:
          SerialDriver: {}
          SerialsyncDriver: {role: server}
          ShellDriver: {prompt: 'root@\\w+:~# ', login_prompt: ' login: ', username: root}
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attr
import pexpect
from labgrid.driver.common import Driver
from labgrid.driver.consoleexpectmixin import ConsoleExpectMixin
from labgrid.factory import target_factory
from labgrid.protocol import ConsoleProtocol

from .boards import Board, BoardGroup, ConsolePump, GroupLog, HostMember, group_coordinator, host_member_of
from .coordinator import Coordinator, Member
from .errors import BoardNotReady, CoordinatorError, SerialsyncError
from .install import DEFAULT_DIR, InstalledFile, install_helpers
from .job.board import wait_ready
from .keyboard import make_pacer
from .watcher import CallRecord, Watcher

__all__ = ["SerialsyncDriver", "labgrid_group"]

READ_MAX = 65536


class NotInGroup(SerialsyncError):
    """A SerialsyncDriver was activated before it joined a group."""


@target_factory.reg_driver
@attr.s(eq=False)
class SerialsyncDriver(ConsoleExpectMixin, Driver, ConsoleProtocol):
    """Serves serialsync and LAVA markers in everything read from the console it binds to.

    Args:
        role (str): the board's role in the group
        device (str): its name in the group (default: the target's name)
        pacing (str): none, fixed or echo: how replies and commands are typed
        character_delay (float): seconds between typed characters (pacing: fixed)
        call_timeout (float): longest a helper's call waits for the group
        install_helpers (bool): type the helpers onto the board when the group forms
        helpers_directory (str): where on the board they go (first on PATH)
    """

    bindings: ClassVar[dict[str, Any]] = {"console": ConsoleProtocol}
    # Chosen over the console below it by ShellDriver and get_driver(ConsoleProtocol).
    priorities: ClassVar[dict[Any, int]] = {ConsoleProtocol: 10}

    role = attr.ib(default="", validator=attr.validators.instance_of(str))
    device = attr.ib(default="", validator=attr.validators.instance_of(str))
    pacing = attr.ib(default="none", validator=attr.validators.in_(("none", "fixed", "echo")))
    character_delay = attr.ib(default=0.0, validator=attr.validators.instance_of(float))
    call_timeout = attr.ib(default=300.0, validator=attr.validators.instance_of(float))
    install_helpers = attr.ib(default=False, validator=attr.validators.instance_of(bool))
    helpers_directory = attr.ib(default=DEFAULT_DIR, validator=attr.validators.instance_of(str))
    # ConsoleExpectMixin's; serialsync paces by its own pacer instead
    txdelay = attr.ib(default=0.0, validator=attr.validators.instance_of(float))
    txchunk = attr.ib(default=1, validator=attr.validators.instance_of(int))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.coordinator: Coordinator | None = None
        self.watcher: Watcher | None = None
        self._pump: ConsolePump | None = None
        self._on_call: Callable[[CallRecord], None] | None = None

    @property
    def device_name(self) -> str:
        return self.device or self.target.name

    def join(self, coordinator: Coordinator, on_call: Callable[[CallRecord], None] | None = None) -> None:
        """Join a group (before activation): the board's calls go to coordinator."""
        if self._pump is not None:
            raise NotInGroup(f"{self}: already active in a group; deactivate it first")
        self.coordinator = coordinator
        self._on_call = on_call

    def on_activate(self) -> None:
        if self.coordinator is None:
            raise NotInGroup(
                f"{self} is in no group: form one first with serialsync.labgrid.labgrid_group(env) "
                "(or the serialsync_group fixture with --lg-env)"
            )
        console = self.console
        read = getattr(console, "_read", None) or console.read
        write = getattr(console, "_write", None) or console.write

        def read_slice(timeout: float) -> bytes | None:
            try:
                return read(size=1, timeout=timeout, max_size=READ_MAX)
            except pexpect.TIMEOUT:
                return None

        self.watcher = Watcher(
            self.device_name,
            self.coordinator,
            write,
            call_timeout=self.call_timeout,
            pacer=make_pacer(self.pacing, self.character_delay),
            on_call=self._on_call,
        )
        self._pump = ConsolePump(self.device_name, read_slice, self.watcher)

    def on_deactivate(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.close()

    def _read(self, size: int = 1, timeout: float = 0.0, max_size: int | None = None) -> bytes:
        if self._pump is None:
            raise NotInGroup(f"{self} is not active")
        return self._pump.take(max(size, max_size or READ_MAX), timeout)

    def _write(self, data: bytes) -> int:
        if self._pump is None:
            raise NotInGroup(f"{self} is not active")
        self._pump.type(bytes(data))
        return len(data)

    @Driver.check_active
    def put_helpers(self, directory: str | None = None, timeout: float = 120.0) -> list[InstalledFile]:
        """Type the helpers into directory on the board (checksummed) and put it first on PATH."""
        directory = directory or self.helpers_directory
        installed = install_helpers(self._expect, directory=directory, timeout=timeout)
        board = Board(self.device_name, self.role, self._expect, self.watcher)  # type: ignore[arg-type]
        board.run(f"export PATH={directory}:$PATH", 30).check()
        return installed

    def tail(self) -> bytes:
        """The console's last bytes (for reports)."""
        return self._pump.tail() if self._pump is not None else b""

    def __str__(self) -> str:
        return f"SerialsyncDriver({self.target.name})"


def _drivers_of(targets: Iterable[Any]) -> list[tuple[Any, SerialsyncDriver]]:
    found = []
    for target in targets:
        try:
            found.append((target, target.get_driver(SerialsyncDriver, activate=False)))
        except Exception:  # labgrid's NoDriverFoundError: a target that takes no part
            continue
    return found


def _targets_of(env_or_targets: Any) -> list[Any]:
    if hasattr(env_or_targets, "config") and hasattr(env_or_targets, "get_target"):
        return [env_or_targets.get_target(name) for name in env_or_targets.config.get_targets()]
    return list(env_or_targets)


def labgrid_group(
    env_or_targets: Any,
    *,
    coordinator: Coordinator | str | None = None,
    group: str = "labgrid",
    host: tuple[str, str] | None = None,
    local: Iterable[str] | None = None,
    boot_timeout: float = 120.0,
    call_timeout: float | None = None,
) -> BoardGroup:
    """One group of every target (of a labgrid Environment, or a list of Targets) with a SerialsyncDriver.

    host=(name, role) makes this process a member; coordinator is a
    Coordinator, a ``redis://`` URL (group names it there) or None (in this
    process); local names the boards brought up here (default: all). Each
    driver joins, then is activated; a ShellDriver bound to it is activated
    too (it logs in). Board handles run commands on the console through the
    driver, and ShellDriver keeps working beside them.
    """
    pairs = _drivers_of(_targets_of(env_or_targets))
    if not pairs:
        raise SerialsyncError("no target with a SerialsyncDriver: give each board's target one, with its role")
    members = []
    for _target, driver in pairs:
        if not driver.role:
            raise SerialsyncError(f"{driver}: no role (drivers: SerialsyncDriver: {{role: ...}})")
        if call_timeout is not None:
            driver.call_timeout = float(call_timeout)
        members.append(Member(driver.device_name, driver.role))
    if host is not None:
        members.append(host_member_of(*host))
    coordinator, own = group_coordinator(members, coordinator, group)
    wanted = set(local) if local is not None else {m.device for m in members}
    group_log = GroupLog()
    host_member = None
    if host is not None:
        host_member = HostMember(
            host[0], host[1], coordinator, call_timeout=call_timeout or 300.0, on_call=group_log.call
        )
    boards: list[Board] = []
    closers: list[Callable[[], None]] = []
    lock = threading.Lock()

    def bring_up(target: Any, driver: SerialsyncDriver) -> None:
        driver.join(coordinator, group_log.call)
        with lock:
            closers.append(lambda: target.deactivate(driver))
        target.activate(driver)
        shell = next((c for c in driver.clients if type(c).__name__ == "ShellDriver"), None)
        if shell is not None:
            target.activate(shell)  # it logs in, through the driver
        else:
            wait_ready(driver._expect, boot_timeout)  # type: ignore[arg-type]
        if driver.install_helpers:
            driver.put_helpers()
        session = driver._expect  # labgrid's own pexpect session over the driver: one buffer with ShellDriver
        boards.append(
            Board(
                driver.device_name, driver.role, session, driver.watcher, on_command=group_log.command, tail=driver.tail
            )
        )

    try:
        # One after the other: labgrid's activation and step log are not made for threads.
        for target, driver in pairs:
            if driver.device_name in wanted:
                bring_up(target, driver)
    except BaseException as e:
        partial = BoardGroup(
            coordinator, boards, host_member, group_log=group_log, closers=closers, own_coordinator=own
        )
        for _target, driver in pairs:
            try:
                coordinator.leave(driver.device_name, f"could not be brought up: {e}"[:300])
            except CoordinatorError:
                pass
        partial.close(f"the group could not be brought up: {e}"[:300])
        if isinstance(e, (BoardNotReady, pexpect.ExceptionPexpect)):
            raise SerialsyncError(f"a labgrid board did not come up: {str(e).splitlines()[0]}") from e
        raise
    return BoardGroup(coordinator, boards, host_member, group_log=group_log, closers=closers, own_coordinator=own)
