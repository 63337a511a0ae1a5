"""A group of boards driven from Python: the runtime of the pytest plugin and the labgrid driver.

Each board's console is drained by a reader thread of its own (a
ConsolePump) into the board's Watcher, so its markers are answered whatever
the test does meanwhile: boards can sit in ``lava-sync`` at the same time
while the test waits for one of them, or for none. What the reader took is
kept for the test's own reads (``expect``, commands), in order.

Python code joins the group as one more member (HostMember): its calls are
plain coordinator calls with Deadlines, so a test and the boards' helpers
meet at the same barriers and exchange data.

BoardGroup.close() ends it all in the order that leaves no board blocked:
every member of this host leaves the group (pending calls are answered
``nack``), the replies are typed, a command still running is interrupted
with ^C, then the consoles close and the boards' processes end.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pexpect
from pexpect.spawnbase import SpawnBase

from ._text import ESCAPES_IN_BYTES
from ._time import SYSTEM_CLOCK, Deadline, format_seconds
from .coordinator import Coordinator, GroupData, Member, MemoryCoordinator
from .errors import CoordinatorError, SerialsyncError, TransportClosed, TransportTimeout, TypingFailed
from .install import DEFAULT_DIR, install_helpers
from .job.board import log_in, prepare_console, wait_prompt, wait_ready
from .job.model import Device, Job, Timeouts
from .keyboard import make_pacer
from .protocol import wire
from .transports import Transport, open_transport
from .transports.simulated import GROUP_FILE
from .watcher import CallRecord, Watcher

log = logging.getLogger("serialsync.boards")

READ_SLICE = 0.2  # seconds: how soon a reader thread notices that it is asked to stop
MAX_UNREAD = 4 * 1024 * 1024  # bytes read from a console and not yet taken by the test; older ones are dropped
LOG_TAIL = 64 * 1024  # bytes of each console kept in memory for reports
TYPE_TIMEOUT = 120.0  # seconds a line may take to be typed (a slow paced console) before it counts as failed
COMMAND_TIMEOUT = 60.0  # default seconds for a board command
CLOSE_FLUSH = 5.0  # seconds the replies of a closing group get to be typed
CLOSE_COMMAND_WAIT = 2.0  # seconds a command still running when its group closes gets to end, before ^C

#: read(timeout) -> bytes as soon as any arrived, None when none did in time, b"" at the console's end
RawRead = Callable[[float], bytes | None]


class BoardError(SerialsyncError):
    """A board could not be brought up, or was used in a way it cannot serve (names the board)."""


class CommandTimeout(BoardError):
    """A board command did not end in time; it was interrupted with ^C. Carries the output so far."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class ConsolePump:
    """A console drained by a thread of its own: every byte to the watcher first, then kept for take().

    Writes go through the watcher's single writer (type()), so a command and a
    reply being typed never interleave.
    """

    def __init__(
        self,
        name: str,
        read: RawRead,
        watcher: Watcher,
        *,
        log_file: IO[bytes] | None = None,
        close: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.watcher = watcher
        self._read = read
        self._close = close
        self._log_file = log_file
        self._cond = threading.Condition()
        self._unread = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._ended: str | None = None  # why the console ended, once it did
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name=f"{name}-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._read(READ_SLICE)
            except Exception as e:  # a console that broke: its end, with the reason
                why = str(e).splitlines()[0] if str(e) else type(e).__name__
                data, ended = b"", f"the console failed: {why}"
            else:
                if data is None:
                    continue
                ended = "the console closed" if not data else None
            if self._stop.is_set() and not data:
                break
            self.watcher.feed(data)  # b"" tells the parser the console ended
            with self._cond:
                if data:
                    if self._log_file is not None:
                        self._log_file.write(data)
                        self._log_file.flush()
                    self._tail += data
                    del self._tail[:-LOG_TAIL]
                    self._unread += data
                    if len(self._unread) > MAX_UNREAD:
                        excess = len(self._unread) - MAX_UNREAD // 2
                        del self._unread[:excess]
                        self._dropped += excess
                        log.warning("%s: nobody read the console; dropped the oldest %d bytes", self.name, excess)
                else:
                    self._ended = ended
                self._cond.notify_all()
            if not data:
                return
        with self._cond:
            self._ended = self._ended or "the console was closed"
            self._cond.notify_all()

    def take(self, size: int, timeout: float | None) -> bytes:
        """Up to size bytes read from the console; pexpect.TIMEOUT when none came in time, EOF at its end."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._unread or self._ended, timeout):
                raise pexpect.TIMEOUT(f"{self.name}: nothing read in {format_seconds(timeout or 0)}")
            if not self._unread:
                raise pexpect.EOF(f"{self.name}: {self._ended}")
            data = bytes(self._unread[:size])
            del self._unread[:size]
            return data

    def type(self, data: bytes, timeout: float = TYPE_TIMEOUT) -> None:
        """Type data into the board through the watcher's writer; returns once it was typed."""
        done = threading.Event()
        failures: list[Exception] = []

        def failed(error: Exception) -> None:
            failures.append(error)
            done.set()

        self.watcher.type_bytes(data, on_typed=done.set, on_failed=failed)
        if not done.wait(timeout):
            raise TypingFailed(f"could not type into {self.name} within {format_seconds(timeout)}")
        if failures:
            raise TypingFailed(f"could not type into {self.name}: {failures[0]}") from failures[0]

    @property
    def ended(self) -> str | None:
        with self._cond:
            return self._ended

    def tail(self) -> bytes:
        """The console's last LOG_TAIL bytes."""
        with self._cond:
            return bytes(self._tail)

    def close(self) -> None:
        """Stop reading, let the watcher type what it still has queued, close the console."""
        self._stop.set()
        self.watcher.close()
        self.watcher.flush(CLOSE_FLUSH)
        if self._thread is not threading.current_thread():
            self._thread.join(READ_SLICE * 5 + 1)
        self._close()


class PumpSession(SpawnBase):
    """A pexpect session (bytes) over a ConsolePump: expect() as usual, markers served by the pump."""

    def __init__(self, pump: ConsolePump, *, timeout: float = 30, searchwindowsize: int | None = 8192) -> None:
        super().__init__(timeout=timeout, maxread=65536, searchwindowsize=searchwindowsize)
        self.pump = pump
        self.name = pump.name
        self.delaybeforesend = None
        self.delayafterread = None

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> bytes:
        if timeout == -1:
            timeout = self.timeout
        try:
            data = self.pump.take(size, timeout)
        except pexpect.EOF:
            self.flag_eof = True
            raise
        self._log(data, "read")
        return data

    def send(self, s: str | bytes) -> int:
        data = self._coerce_send_string(s)
        self._log(data, "send")
        self.pump.type(data)
        return len(data)

    def sendline(self, s: str | bytes = "") -> int:
        return self.send(self._coerce_send_string(s) + b"\n")

    def close(self) -> None:
        self.pump.close()


def transport_reader(transport: Transport) -> RawRead:
    """A RawRead over a Transport."""

    def read(timeout: float) -> bytes | None:
        try:
            return transport.read(65536, timeout)
        except TransportTimeout:
            return None
        except TransportClosed:
            return b""

    return read


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandResult:
    """A command a test ran on a board: its exit status and what it printed."""

    board: str
    command: str
    status: int | None  # None: it did not end (timed out, console gone)
    output: str
    duration: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0

    def check(self) -> CommandResult:
        """self if the command exited 0; BoardError with its output otherwise."""
        if not self.ok:
            tail = self.output.strip()[-2000:]
            raise BoardError(
                f"{self.board}: {self.command!r} failed: {self.reason or f'exit status {self.status}'}\n{tail}"
            )
        return self


def describe_call(call: CallRecord) -> str:
    """One line for a multinode call: who, what, how it ended, how long it waited."""
    what = " ".join(filter(None, [call.api, call.message_id, call.role]))
    verdict = "ok" if call.ok else f"nack: {call.reason}"
    return f"{call.device}: {what}: {verdict} ({format_seconds(call.waited)})"


def describe_command(result: CommandResult) -> str:
    first = result.command.strip().splitlines()[0] if result.command.strip() else ""
    shown = first if len(first) <= 80 else first[:77] + "..."
    verdict = f"exit {result.status}" if result.status is not None else f"did not end: {result.reason}"
    return f"{result.board}: $ {shown}: {verdict} ({format_seconds(result.duration)})"


_PROTOCOL_LINE_STARTS = (wire.SS_PREFIX, wire.SS_REPLY_PREFIX, wire.LAVA_MULTI_NODE, b"<LAVA_")


def protocol_lines_removed(output: bytes) -> bytes:
    """A command's output without the marker and reply lines its helpers exchanged with the host."""
    lines = output.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line for line in lines if not line.lstrip().startswith(_PROTOCOL_LINE_STARTS))


# --- one board --------------------------------------------------------------------------------



class RunningCommand:
    """A command started on a board and not waited for yet."""

    def __init__(self, board: Board, number: int, command: str) -> None:
        self.board = board
        self.number = number
        self.command = command
        self.started = SYSTEM_CLOCK.monotonic()
        self.result: CommandResult | None = None

    def wait(self, timeout: float = COMMAND_TIMEOUT) -> CommandResult:
        """Until the command ends: its result. On timeout, ^C interrupts it and CommandTimeout is raised."""
        if self.result is None:
            self.result = self.board._finish(self, timeout)
        return self.result

    @property
    def done(self) -> bool:
        return self.result is not None


class Board:
    """One board of the group: run commands on its shell, expect on its console.

    Commands run in the board's login shell (as ``{ COMMAND }``): ``cd`` and
    variables hold for the next command, and ``exit`` ends the shell. One
    command at a time on a board; boards run theirs at the same time.
    """

    def __init__(
        self,
        name: str,
        role: str,
        session: SpawnBase,
        watcher: Watcher,
        *,
        on_command: Callable[[CommandResult], None] = lambda result: None,
        tail: Callable[[], bytes] = lambda: b"",
    ) -> None:
        self.name = name
        self.role = role
        self.session = session
        self.watcher = watcher
        self._on_command = on_command
        self._tail = tail
        self._numbers = 0
        self._running: RunningCommand | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Board {self.name} ({self.role})>"

    # --- commands -----------------------------------------------------------------------------
    def run(self, command: str, timeout: float = COMMAND_TIMEOUT) -> CommandResult:
        """Run a command on the board's shell and wait for it: its exit status and output."""
        return self.start(command).wait(timeout)

    def start(self, command: str, timeout: float = COMMAND_TIMEOUT) -> RunningCommand:
        """Type a command and return once the board began it; .wait() on what it returns for its result."""
        with self._lock:
            if self._running is not None and not self._running.done:
                raise BoardError(
                    f"{self.name}: {self._running.command!r} is still running; wait for it before starting another"
                )
            self._numbers += 1
            running = RunningCommand(self, self._numbers, command)
            self._running = running
        # Split quotes: the echo of the typed text can never match the printed markers.
        self.session.sendline(
            f"printf '__SS%s_%d__\\n' PYGO {running.number}; {{ {command}\n}}; "
            f"printf '__SS%s_%d:%d__\\n' PYRC {running.number} \"$?\""
        )
        try:
            # From here on, what the board prints is the command's own output.
            self.session.expect([re.compile(rb"__SSPYGO_%d__\r?\n" % running.number)], timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF, TypingFailed) as e:
            running.result = self._ended(
                running, None, bytes(self.session.buffer), f"did not start: {e}".splitlines()[0]
            )
            raise BoardError(f"{self.name}: {command!r} did not start: {str(e).splitlines()[0]}") from e
        return running

    def _finish(self, running: RunningCommand, timeout: float) -> CommandResult:
        session = self.session
        deadline = Deadline.after(timeout)
        end = re.compile(rb"__SSPYRC_%d:(\d+)__" % running.number)
        status: int | None = None
        output = b""
        reason = ""
        try:
            session.expect([end], timeout=max(deadline.remaining, 0.0))
            status = int(session.match.group(1))
            output = bytes(session.before)
        except pexpect.TIMEOUT:
            output = bytes(session.buffer)
            reason = f"timed out after {format_seconds(timeout)}"
            with contextlib.suppress(SerialsyncError, pexpect.ExceptionPexpect, OSError):
                session.send(b"\x03")  # the shell drops the rest of the line: no end marker follows
        except pexpect.EOF:
            output = bytes(session.before or b"")
            reason = "the console closed"
        except TypingFailed as e:
            reason = str(e)
        result = self._ended(running, status, output, reason)
        text = result.output
        if status is None:
            if reason.startswith("timed out"):
                raise CommandTimeout(f"{self.name}: {running.command!r} {reason}; interrupted with ^C", text)
            raise BoardError(f"{self.name}: {running.command!r}: {reason}")
        return result

    def _ended(self, running: RunningCommand, status: int | None, output: bytes, reason: str) -> CommandResult:
        text = ESCAPES_IN_BYTES.sub(b"", protocol_lines_removed(output)).decode("utf-8", "replace")
        took = SYSTEM_CLOCK.monotonic() - running.started
        result = CommandResult(self.name, running.command, status, text, took, reason)
        self._on_command(result)
        return result

    @property
    def busy(self) -> bool:
        """Whether a started command has not been waited for."""
        return self._running is not None and not self._running.done

    def finish_running(self, timeout: float = CLOSE_COMMAND_WAIT) -> None:
        """A started command not waited for: give it timeout to end, else ^C (its result is recorded)."""
        if self._running is not None and not self._running.done:
            with contextlib.suppress(SerialsyncError, pexpect.ExceptionPexpect, OSError):
                self._running.wait(timeout)

    # --- the console ----------------------------------------------------------------------------
    def expect(self, pattern: Any, timeout: float = 30) -> int:
        """pexpect's expect() on the board's console (markers are served meanwhile); see .match, .before."""
        return self.session.expect(pattern, timeout=timeout)

    def sendline(self, text: str | bytes = "") -> None:
        self.session.sendline(text)

    @property
    def match(self) -> Any:
        return self.session.match

    @property
    def before(self) -> bytes:
        return bytes(self.session.before or b"")

    @property
    def calls(self) -> list[CallRecord]:
        """The multinode calls this board's helpers made, as served."""
        return list(self.watcher.calls)

    def console_log(self) -> bytes:
        """The end of what the board printed (at most 64 KiB)."""
        return self._tail()


# --- the host in the group ----------------------------------------------------------------------


def _as_bytes(key: str, value: object) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (int, float)):
        return str(value).encode()
    raise TypeError(f"value of {key!r} must be bytes or str, not {type(value).__name__}")


class HostMember:
    """This Python process as a member of the group: the same calls the boards' helpers make.

    Values sent may be str (sent as UTF-8) or bytes; data received is bytes,
    byte-exact, per sender: ``{device: {key: value}}``.
    """

    def __init__(
        self,
        name: str,
        role: str,
        coordinator: Coordinator,
        *,
        call_timeout: float = 300.0,
        on_call: Callable[[CallRecord], None] = lambda call: None,
    ) -> None:
        self.name = name
        self.role = role
        self.coordinator = coordinator
        self.call_timeout = call_timeout
        self.calls: list[CallRecord] = []
        self._on_call = on_call

    def __repr__(self) -> str:
        return f"<HostMember {self.name} ({self.role})>"

    def _call(self, api: str, message_id: str, role: str | None, call: Callable[[], Any]) -> Any:
        started = SYSTEM_CLOCK.monotonic()
        reason = ""
        try:
            return call()
        except CoordinatorError as e:
            reason = str(e)
            raise
        finally:
            ended = SYSTEM_CLOCK.monotonic()
            record = CallRecord(self.name, api, message_id, not reason, reason, ended - started, role, ended)
            self.calls.append(record)
            self._on_call(record)

    def _deadline(self, timeout: float | None) -> Deadline:
        return Deadline.after(self.call_timeout if timeout is None else timeout)

    def send(self, message_id: str, data: Mapping[str, object] | None = None, **values: object) -> None:
        """lava-send: publish key=value pairs under message_id (never blocks)."""
        items = {**(data or {}), **values}
        clean = {key: _as_bytes(key, value) for key, value in items.items()}
        self._call("lava-send", message_id, None, lambda: self.coordinator.send(self.name, message_id, clean))

    def wait(self, message_id: str, timeout: float | None = None) -> GroupData:
        """lava-wait: until any member has sent message_id; every sender's data."""
        deadline = self._deadline(timeout)
        return self._call("lava-wait", message_id, None, lambda: self.coordinator.wait(self.name, message_id, deadline))

    def wait_all(self, message_id: str, role: str | None = None, timeout: float | None = None) -> GroupData:
        """lava-wait-all: until every member (of role) has sent message_id; every sender's data."""
        deadline = self._deadline(timeout)
        return self._call(
            "lava-wait-all", message_id, role, lambda: self.coordinator.wait_all(self.name, message_id, role, deadline)
        )

    def sync(self, message_id: str, timeout: float | None = None) -> None:
        """lava-sync: a barrier of every member of the group."""
        deadline = self._deadline(timeout)
        self._call("lava-sync", message_id, None, lambda: self.coordinator.sync(self.name, message_id, deadline))


def values(data: GroupData, key: str) -> dict[str, str]:
    """{sender: value of key as text} for the senders that sent key."""
    return {sender: pairs[key].decode("utf-8", "replace") for sender, pairs in data.items() if key in pairs}


# --- the group ------------------------------------------------------------------------------------

DeviceLike = Device | Sequence[str] | Mapping[str, Any]


def as_device(item: DeviceLike) -> Device:
    """A Device from a Device, a (name, role[, connection]) tuple or a mapping of Device fields."""
    if isinstance(item, Device):
        return item
    if isinstance(item, Mapping):
        unknown = set(item) - set(Device.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"unknown device fields {sorted(unknown)}; known: {', '.join(Device.__dataclass_fields__)}"
            )
        return Device(**item)
    if isinstance(item, Sequence) and not isinstance(item, str) and 2 <= len(item) <= 3:
        return Device(*item)
    raise ValueError(f"a device is a Device, (name, role[, connection]) or a mapping; not {item!r}")


@dataclass
class GroupLog:
    """Everything the group did, in order: multinode calls and board commands."""

    calls: list[CallRecord] = field(default_factory=list)
    commands: list[CommandResult] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    listeners: list[Callable[[str, str], None]] = field(default_factory=list)  # (kind, line)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, record: CallRecord) -> None:
        line = describe_call(record)
        with self.lock:
            self.calls.append(record)
            self.lines.append(line)
            listeners = list(self.listeners)
        for listener in listeners:
            listener("call", line)

    def command(self, result: CommandResult) -> None:
        line = describe_command(result)
        with self.lock:
            self.commands.append(result)
            self.lines.append(line)
            listeners = list(self.listeners)
        for listener in listeners:
            listener("command", line)


class BoardGroup:
    """Boards of one group on this host, and the host itself if it joined; close() ends them cleanly."""

    def __init__(
        self,
        coordinator: Coordinator,
        boards: Iterable[Board],
        host: HostMember | None = None,
        *,
        group_log: GroupLog | None = None,
        closers: Iterable[Callable[[], None]] = (),
        own_coordinator: bool = True,
    ) -> None:
        self.coordinator = coordinator
        self.boards: dict[str, Board] = {board.name: board for board in boards}
        self.host = host
        self.log = group_log or GroupLog()
        self._closers = list(closers)
        self._own_coordinator = own_coordinator
        self._closed = False

    def __getitem__(self, name: str) -> Board:
        try:
            return self.boards[name]
        except KeyError:
            raise KeyError(f"no board {name!r} in the group (boards here: {', '.join(self.boards)})") from None

    def __iter__(self):
        return iter(self.boards.values())

    def __len__(self) -> int:
        return len(self.boards)

    def of_role(self, role: str) -> list[Board]:
        return [board for board in self.boards.values() if board.role == role]

    def run_all(
        self, command: str, timeout: float = COMMAND_TIMEOUT, boards: Iterable[Board] | None = None
    ) -> dict[str, CommandResult]:
        """One command on several boards at once (all by default): {name: result}."""
        chosen = list(self.boards.values() if boards is None else boards)
        started = [board.start(command) for board in chosen]
        deadline = Deadline.after(timeout)
        return {
            board.name: running.wait(max(deadline.remaining, 0.0))
            for board, running in zip(chosen, started, strict=True)
        }

    @property
    def calls(self) -> list[CallRecord]:
        return list(self.log.calls)

    def close(self, reason: str = "the test ended") -> None:
        """Every local member leaves (pending calls nacked), replies typed, commands interrupted, consoles closed."""
        if self._closed:
            return
        self._closed = True
        names = [board.name for board in self.boards.values()] + ([self.host.name] if self.host else [])
        for name in names:
            try:
                self.coordinator.leave(name, reason)
            except CoordinatorError as e:
                log.warning("%s could not leave the group: %s", name, e)
        for board in self.boards.values():
            board.watcher.wait_idle(CLOSE_FLUSH)  # each pending call answered (nack) ...
            board.watcher.flush(CLOSE_FLUSH)  # ... and its reply typed
        for board in self.boards.values():
            board.finish_running()  # a helper answered nack ends its command; anything else gets ^C
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as e:  # closing the others must go on
                log.warning("closing the group: %s", e)
        if self._own_coordinator:
            self.coordinator.close()

    def __enter__(self) -> BoardGroup:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close("the group's block ended" if exc is None else f"the group's block failed: {exc!r}"[:200])


def host_member_of(name: str, role: str) -> Member:
    return Member(device=name, role=role)


def group_coordinator(
    members: list[Member], coordinator: Coordinator | str | None, group: str | None
) -> tuple[Coordinator, bool]:
    """The group's coordinator: the one given, one in Redis at a URL, or one in this process.

    Also whether it is ours to close (we made it).
    """
    if isinstance(coordinator, Coordinator):
        return coordinator, False
    if isinstance(coordinator, str):
        from .coordinator.redis import RedisCoordinator  # redis-py only when asked for

        return RedisCoordinator(members, coordinator, group=group), True
    return MemoryCoordinator(members), True


def start_group(
    devices: Iterable[DeviceLike],
    workdir: Path,
    *,
    coordinator: Coordinator | str | None = None,
    group: str = "serialsync",
    host: tuple[str, str] | None = None,
    local: Iterable[str] | None = None,
    timeouts: Timeouts | None = None,
    job: Job | None = None,
) -> BoardGroup:
    """Bring up a group: open every local board's console, wait for its shell, answer its markers.

    devices are the whole group's (name, role, connection); local names those
    this host brings up (default: all). host=(name, role) makes this process a
    member too. coordinator is a Coordinator, a ``redis://`` URL (group names
    the group in Redis) or None for one in this process. Boards come up at
    the same time; a failure closes what was opened and raises BoardError.
    """
    every = [as_device(item) for item in devices]
    timeouts = timeouts or (job.timeouts if job is not None else Timeouts())
    members = [Member(device=d.name, role=d.role) for d in every]
    if host is not None:
        members.append(host_member_of(*host))
    coordinator, own = group_coordinator(members, coordinator, group)
    wanted = set(local) if local is not None else {d.name for d in every}
    unknown = wanted - {d.name for d in every}
    if unknown:
        raise ValueError(
            f"no device named {', '.join(sorted(unknown))} in the group ({', '.join(d.name for d in every)})"
        )
    chosen = [d for d in every if d.name in wanted]
    group_log = GroupLog()
    closers: list[Callable[[], None]] = []
    closers_lock = threading.Lock()
    pairs = [(m.device, m.role) for m in members]

    def bring_up(device: Device) -> Board:
        return _bring_up(device, coordinator, workdir, pairs, timeouts, job, group_log, closers, closers_lock)

    host_member = None
    if host is not None:
        host_member = HostMember(host[0], host[1], coordinator, call_timeout=timeouts.call, on_call=group_log.call)
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(chosen)), thread_name_prefix="bring-up") as pool:
            futures = [pool.submit(bring_up, device) for device in chosen]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        boards = [f.result() for f in futures]
    except BaseException as e:
        partial = BoardGroup(coordinator, [], host_member, group_log=group_log, closers=closers, own_coordinator=own)
        for device in chosen:
            with contextlib.suppress(CoordinatorError):
                coordinator.leave(device.name, f"could not be brought up: {e}"[:300])
        partial.close(f"the group could not be brought up: {e}"[:300])
        raise
    return BoardGroup(coordinator, boards, host_member, group_log=group_log, closers=closers, own_coordinator=own)


def _bring_up(
    device: Device,
    coordinator: Coordinator,
    workdir: Path,
    members: list[tuple[str, str]],
    timeouts: Timeouts,
    job: Job | None,
    group_log: GroupLog,
    closers: list[Callable[[], None]],
    closers_lock: threading.Lock,
) -> Board:
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        transport = open_transport(
            device.connection,
            workdir=workdir / device.name,
            files={GROUP_FILE: wire.group_file_text(device.name, members)},  # where a simulated board reads it
            connect_timeout=timeouts.connect,
        )
    except SerialsyncError as e:
        raise BoardError(f"{device.name}: cannot open {device.connection}: {e}") from e
    log_file = open(workdir / f"{device.name}.console.log", "wb")
    watcher = Watcher(
        device.name,
        coordinator,
        transport.write,
        call_timeout=timeouts.call,
        pacer=make_pacer(device.pacing, device.character_delay),
        on_call=group_log.call,
    )

    def close() -> None:
        transport.close()
        log_file.close()

    pump = ConsolePump(device.name, transport_reader(transport), watcher, log_file=log_file, close=close)
    with closers_lock:
        closers.append(pump.close)
    session = PumpSession(pump)
    try:
        ready(session, device, timeouts, job)
    except (SerialsyncError, pexpect.ExceptionPexpect) as e:
        seen = ESCAPES_IN_BYTES.sub(b"", pump.tail()[-600:]).decode("utf-8", "replace")
        raise BoardError(
            f"{device.name} ({device.connection}) did not come up: {str(e).splitlines()[0]}\n{seen}"
        ) from e
    return Board(device.name, device.role, session, watcher, on_command=group_log.command, tail=pump.tail)


def ready(session: SpawnBase, device: Device, timeouts: Timeouts, job: Job | None = None) -> None:
    """The board's shell answers (after its job's login and prompts), console prepared, helpers there."""
    boot = next((a for a in job.actions_of(device) if a.kind == "boot"), None) if job is not None else None
    deadline = Deadline.after(timeouts.boot)
    if boot is not None and boot.login is not None:
        log_in(session, boot.login, deadline.remaining)  # type: ignore[arg-type]
    if boot is not None and boot.prompts:
        wait_prompt(session, boot.prompts, deadline.remaining)  # type: ignore[arg-type]
    wait_ready(session, max(deadline.remaining, 0.0), timeout_name="timeouts.boot")  # type: ignore[arg-type]
    if not device.connection.startswith("simulated"):
        prepare_console(session, device, lambda text: log.warning("%s: %s", device.name, text))  # type: ignore[arg-type]
    if device.install_helpers:
        install_helpers(session, timeout=timeouts.step)
        Board(device.name, device.role, session, None).run(f"export PATH={DEFAULT_DIR}:$PATH", 30).check()  # type: ignore[arg-type]


__all__ = [
    "Board",
    "BoardError",
    "BoardGroup",
    "CommandResult",
    "CommandTimeout",
    "ConsolePump",
    "HostMember",
    "PumpSession",
    "RunningCommand",
    "start_group",
    "values",
]
