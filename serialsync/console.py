"""pexpect at the edge: expect() over any Transport, and markers serviced on every read.

ConsoleSession is a pexpect session whose reads come from a Transport and
are teed into a Watcher first, so a caller waiting for its own patterns (a
prompt, a step's end) never stops marker service. ``attach()`` does the same
for a pexpect session someone else owns: its reads are teed through
``logfile_read``, and markers are answered while the owner calls expect().
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

import pexpect
from pexpect.spawnbase import SpawnBase

from ._time import SYSTEM_CLOCK, Clock, format_seconds
from .coordinator import Coordinator
from .errors import TransportClosed, TransportTimeout, TypingFailed
from .transports import Transport
from .watcher import Watcher

MAX_BEFORE = 256 * 1024  # bytes of unmatched console output a session keeps
TYPING_CHECK = 0.5  # seconds: how soon a wait notices that what it typed never arrived


class ConsoleSession(SpawnBase):
    def __init__(
        self,
        transport: Transport,
        watcher: Watcher | None = None,
        *,
        timeout: float = 30,
        maxread: int = 65536,
        searchwindowsize: int | None = 8192,
        logfile_read: IO[bytes] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(timeout=timeout, maxread=maxread, searchwindowsize=searchwindowsize)
        self.transport = transport
        self._clock = clock
        self.watcher = watcher
        self.logfile_read = logfile_read
        self.delaybeforesend = None
        self.delayafterread = None  # pexpect sleeps after every read otherwise
        self.name = transport.spec

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> bytes:
        if timeout == -1:
            timeout = self.timeout
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        while True:
            # A line that could not be typed (echo pacing gave up on it) will
            # never show its effect: say so now instead of waiting out the timeout.
            # Only while a line is still being typed is the wait cut into slices
            # to look; otherwise it blocks (an idle console costs no CPU).
            typing = self._still_typing()
            left = None if deadline is None else max(0.0, deadline - self._clock.monotonic())
            wait = left if not typing else TYPING_CHECK if left is None else min(left, TYPING_CHECK)
            try:
                data = self.transport.read(size, wait)
                break
            except TransportTimeout:
                if left is not None and wait == left:
                    raise pexpect.TIMEOUT(f"{self.transport.spec}: nothing read in {format_seconds(timeout)}") from None
            except TransportClosed as e:
                self.flag_eof = True
                raise pexpect.EOF(str(e)) from None
        if self.watcher is not None:
            self.watcher.feed(data)  # b"" tells the parser the console closed
        if not data:
            self.flag_eof = True
            raise pexpect.EOF(f"{self.transport.spec}: console closed")
        self._log(data, "read")
        self._bound_before()
        return data

    def _bound_before(self) -> None:
        # pexpect keeps every byte since the last match in `before`; a step that
        # prints megabytes would hold them all. Keep a tail well over the search window.
        if self._before.tell() > MAX_BEFORE:
            tail = self._before.getvalue()[-MAX_BEFORE // 2 :]
            self._before = self.buffer_type()
            self._before.write(tail)

    def send(self, s: str | bytes) -> int:
        data = self._coerce_send_string(s)
        self._log(data, "send")
        if self.watcher is not None:
            self.watcher.keyboard.type_tracked(data)  # one keyboard: replies and commands never interleave
        else:
            self.transport.write(data)
        return len(data)

    def _still_typing(self) -> bool:
        """Whether a send is still being typed; raises TypingFailed if the latest one could not be."""
        if self.watcher is None:
            return False
        typing, failure = self.watcher.keyboard.typing_state()
        if failure is not None:
            raise TypingFailed(f"could not type into {self.transport.spec}: {failure}")
        return typing

    def sendline(self, s: str | bytes = "") -> int:
        return self.send(self._coerce_send_string(s) + b"\n")

    def close(self) -> None:
        self.transport.close()


class _Tee:
    """A logfile_read stand-in that feeds a Watcher and passes data on."""

    def __init__(self, watcher: Watcher, downstream: Any, encoding: str | None) -> None:
        self.watcher = watcher
        self.downstream = downstream
        self.encoding = encoding

    def write(self, data: str | bytes) -> None:
        raw = data.encode(self.encoding or "utf-8") if isinstance(data, str) else data
        if raw:
            self.watcher.feed(raw)
        if self.downstream is not None:
            self.downstream.write(data)

    def flush(self) -> None:
        if self.downstream is not None:
            self.downstream.flush()


def attach(spawn: SpawnBase, device: str, coordinator: Coordinator, **watcher_options: Any) -> Watcher:
    """A Watcher for a pexpect session owned by someone else; use with serviced()."""

    def write(data: bytes) -> None:
        spawn.send(data.decode(spawn.encoding) if spawn.encoding else data)

    return Watcher(device, coordinator, write, **watcher_options)


@contextlib.contextmanager
def serviced(spawn: SpawnBase, watcher: Watcher) -> Iterator[SpawnBase]:
    """While inside, every read of *spawn* (its expect() calls) services markers."""
    previous = spawn.logfile_read
    spawn.logfile_read = _Tee(watcher, previous, getattr(spawn, "encoding", None))
    try:
        yield spawn
    finally:
        spawn.logfile_read = previous


def expect_serviced(spawn: SpawnBase, watcher: Watcher, pattern: Any, timeout: float = -1, **kw: Any) -> int:
    """spawn.expect(pattern) that answers markers while it waits."""
    with serviced(spawn, watcher):
        return spawn.expect(pattern, timeout=timeout, **kw)
