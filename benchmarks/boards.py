"""A group of simulated boards, driven the way the job runner drives a real group.

Each board is a real dash on a pty with the real helpers (SimulatedBoard),
read through a ConsoleSession whose every read goes through the board's
Watcher into one MemoryCoordinator, exactly as ``serialsync.job.run`` wires
them; one thread per board types commands and waits in ``expect()``, as the
job runner's device threads do. The watcher's ``on_request`` hook stamps the
moment each marker was parsed, which is where latencies start.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from serialsync.console import ConsoleSession
from serialsync.coordinator import Coordinator, Member, MemoryCoordinator
from serialsync.keyboard import EchoPacer as EchoPacer  # re-exported for the benchmarks
from serialsync.keyboard import Pacer
from serialsync.protocol import Request, wire
from serialsync.transports import SimulatedBoard, Transport
from serialsync.transports.simulated import GROUP_FILE, PROMPT
from serialsync.watcher import Watcher

READY_TIMEOUT = 60.0
WARM_UP = "x" * 400  # 25 chunks of an echo pacer: its echo-time estimate has settled after them
OPENERS = 8  # boards started at once: forks compete with everything else on 2 cores

Wrap = Callable[[str, Transport], Transport]


def with_status(command: str, tag: str, k: int) -> tuple[str, bytes]:
    """command, then a line to wait for: __<tag><k>:<exit status>__ (the typed line's echo cannot match)."""
    return f"{command}; printf '__{tag}%s:%s__\\n' {k} \"$?\"", rb"__%s%d:(\d+)__" % (tag.encode(), k)


@dataclass(frozen=True)
class Seen:
    """One request as the host parsed it."""

    at: float  # time.monotonic()
    device: str
    kind: str  # "SyncRequest", ...
    message_id: str | None


class RequestLog:
    """The watchers' on_request hook: when each request was parsed; wait for one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seen: list[Seen] = []

    def __call__(self, device: str, request: Request) -> None:
        at = time.monotonic()
        with self._cond:
            self._seen.append(Seen(at, device, type(request).__name__, getattr(request, "message_id", None)))
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._seen.clear()

    def find(self, kind: str, message_id: str | None = None, device: str | None = None) -> list[Seen]:
        with self._cond:
            return [
                s
                for s in self._seen
                if s.kind == kind
                and (message_id is None or s.message_id == message_id)
                and (device is None or s.device == device)
            ]

    def wait(self, kind: str, message_id: str, device: str, timeout: float) -> Seen:
        with self._cond:
            if not self._cond.wait_for(lambda: self.find(kind, message_id, device), timeout):
                raise TimeoutError(f"{device} never asked {kind} {message_id!r} within {timeout}s")
            return self.find(kind, message_id, device)[0]


class Board:
    def __init__(self, name: str, transport: Transport, watcher: Watcher, session: ConsoleSession) -> None:
        self.name = name
        self.transport = transport
        self.watcher = watcher
        self.session = session

    def run(self, command: str | None, pattern: re.Pattern[bytes], timeout: float) -> tuple[float, float, re.Match]:
        """Type command (None: nothing), wait for pattern: (when typed, when the host saw it, the match)."""
        typed = time.monotonic()
        if command is not None:
            self.session.sendline(command)
        self.session.expect(pattern, timeout=timeout)
        return typed, time.monotonic(), self.session.match


class BoardGroup:
    """size boards named b000, b001, ... all of role "board"; a context manager."""

    def __init__(
        self,
        size: int,
        root: Path,
        *,
        shell: str = "dash",
        wrap: Wrap | None = None,
        timeout: float = 120.0,
        coordinator_for: Callable[[list[Member]], Coordinator] | None = None,
        local: range | None = None,
        pacer_for: Callable[[], Pacer] | None = None,
    ) -> None:
        """local: the boards this process runs (default all); the rest run elsewhere,
        sharing the group through the coordinator coordinator_for builds. pacer_for: each
        board's pacer (default: typed at once)."""
        self.root = root
        self.shell = shell
        self.wrap = wrap
        self.timeout = timeout
        self.pacer_for = pacer_for
        self.group_members = [Member(f"b{i:03d}", "board") for i in range(size)]
        self.members = [self.group_members[i] for i in (local or range(size))]
        self.size = len(self.members)
        self.coordinator = (coordinator_for or MemoryCoordinator)(self.group_members)
        self.requests = RequestLog()
        self.boards: list[Board] = []
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="board")

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> BoardGroup:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        pairs = [(m.device, m.role) for m in self.group_members]
        with ThreadPoolExecutor(max_workers=OPENERS) as openers:
            futures = [openers.submit(self._open_one, m.device, pairs) for m in self.members]
        # Keep what did open, so that close() ends those shells even if another failed.
        self.boards = [f.result() for f in futures if f.exception() is None]
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise errors[0]
        if self.pacer_for is not None:
            # An echo pacer types nothing before the prompt (its echo would be the shell's
            # to redraw), and learns the echo time on a long line: a run's steady state.
            for future in [self.submit(b, None, re.escape(PROMPT.encode()), READY_TIMEOUT) for b in self.boards]:
                future.result()
            self.run_all(f": {WARM_UP}; echo __SS''WARM__", lambda i: rb"__SSWARM__", READY_TIMEOUT)
        for _, _, match in self.run_all("echo __SS''READY__", lambda i: rb"__SSREADY__", READY_TIMEOUT):
            assert match is not None

    def _open_one(self, name: str, pairs: list[tuple[str, str]]) -> Board:
        transport: Transport = SimulatedBoard(
            workdir=self.root / name, shell=self.shell, files={GROUP_FILE: wire.group_file_text(name, pairs)}
        )
        if self.wrap is not None:
            transport = self.wrap(name, transport)
        pacer = self.pacer_for() if self.pacer_for is not None else None
        watcher = Watcher(
            name, self.coordinator, transport.write, call_timeout=self.timeout, on_request=self.requests, pacer=pacer
        )
        return Board(name, transport, watcher, ConsoleSession(transport, watcher, timeout=self.timeout))

    def close(self) -> None:
        def close_one(board: Board) -> None:
            close_watcher = getattr(board.watcher, "close", None)  # recovery timers, where the watcher has them
            if close_watcher is not None:
                close_watcher()
            board.transport.close()

        # pexpect sleeps 0.1-0.2 s per close; in parallel that is paid once, not 256 times.
        list(self._pool.map(close_one, self.boards))
        self.boards = []
        self.coordinator.close()
        self._pool.shutdown(wait=True)

    # --- driving ---------------------------------------------------------------------
    def submit(self, board: Board, command: str | None, pattern: bytes, timeout: float | None = None) -> Future:
        return self._pool.submit(board.run, command, re.compile(pattern), timeout or self.timeout)

    def run_all(
        self, command: str, pattern_for: Callable[[int], bytes], timeout: float | None = None
    ) -> list[tuple[float, float, re.Match]]:
        """Type command on every board at once; wait until each printed its pattern."""
        futures = [self.submit(b, command, pattern_for(i), timeout) for i, b in enumerate(self.boards)]
        return [f.result() for f in futures]

    def echo_round(self, k: int) -> float:
        """The floor: a trivial command typed into every shell and its output seen, in seconds."""
        seen = self.run_all(f"printf '__F%s__\\n' {k}", lambda i: b"__F%d__" % k)
        return max(s for _, s, _ in seen) - min(t for t, _, _ in seen)

    def sync_round(self, k: int, message_id: str = "r") -> float:
        """One lava-sync round: last marker parsed -> every helper returned and seen, in seconds."""
        self.requests.clear()
        command, pattern = with_status(f"lava-sync {message_id}", "R", k)
        seen = self.run_all(command, lambda i: pattern)
        failed = [b.name for b, (_, _, m) in zip(self.boards, seen, strict=True) if m.group(1) != b"0"]
        if failed:
            raise RuntimeError(f"lava-sync failed on {', '.join(failed)} in round {k}")
        markers = self.requests.find("SyncRequest", message_id)
        if len({s.device for s in markers}) != self.size:
            raise RuntimeError(f"round {k}: {len(markers)} sync markers parsed for {self.size} boards")
        return max(s for _, s, _ in seen) - max(s.at for s in markers)
