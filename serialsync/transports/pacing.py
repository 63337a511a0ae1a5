"""Typing into a board that may drop what arrives too fast.

A Pacer decides how bytes are written to a console:

* ``Pacer()`` writes at once (ptys, qemu's UART: they push back);
* ``FixedPacer(delay)`` waits ``delay`` seconds after each byte (LAVA's
  ``character_delay``);
* ``EchoPacer()`` writes a few bytes, waits until the board has echoed them,
  then writes the next ones, so a line goes exactly as fast as the board
  takes it; and it checks the echo: a line whose echo does not match is
  erased with the tty's kill character (^U) and typed again, so a damaged
  line never reaches whoever reads the board's tty. Only then is the newline
  typed.

Pacers see the console's output through ``observe()``: whoever reads the
console (the watcher) hands every chunk to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors import TransportError

log = logging.getLogger("serialsync.pacing")

Write = Callable[[bytes], None]
KILL = b"\x15"  # ^U, the default VKILL: erases the line typed so far


class Pacer:
    """Writes at once."""

    def observe(self, data: bytes) -> None:
        """Console output; used by pacers that follow the echo."""

    def type(self, data: bytes, write: Write) -> None:
        write(data)


class FixedPacer(Pacer):
    def __init__(self, delay: float) -> None:
        if not 0 < delay <= 1:
            raise ValueError("character delay must be between 0 and 1 second")
        self.delay = delay

    def type(self, data: bytes, write: Write) -> None:
        for i in range(len(data)):
            write(data[i : i + 1])
            time.sleep(self.delay)  # pacing, not synchronisation: the board needs the gap


def _verifiable(line: bytes) -> bool:
    # Printable text (and UTF-8) echoes as itself; control bytes echo as ^X or
    # move the cursor, so a line holding them cannot be checked by its echo.
    return not any(b < 0x20 or b == 0x7F for b in line)


class EchoPacer(Pacer):
    def __init__(
        self,
        *,
        chunk: int = 16,
        echo_timeout: float = 2.0,
        attempts: int = 5,
        kill: bytes = KILL,
        max_seen: int = 65536,
    ) -> None:
        if chunk < 1:
            raise ValueError("chunk must be at least 1 byte")
        self.chunk = chunk
        self.echo_timeout = echo_timeout
        self.attempts = attempts
        self.kill = kill
        self.max_seen = max_seen
        self.retyped_lines = 0  # lines erased and typed again (for logs and tests)
        self._cond = threading.Condition()
        self._seen = bytearray()
        self._listening = False

    def observe(self, data: bytes) -> None:
        with self._cond:
            if self._listening:
                self._seen += data
                if len(self._seen) > self.max_seen:
                    del self._seen[: len(self._seen) - self.max_seen]
                self._cond.notify_all()

    def type(self, data: bytes, write: Write) -> None:
        for line in data.splitlines(keepends=True):
            body, newline = (line[:-1], line[-1:]) if line.endswith((b"\n", b"\r")) else (line, b"")
            if body and _verifiable(body):
                self._type_checked(body, newline, write)
            else:
                write(line)

    def _echoed(self, found: Callable[[bytes], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: found(bytes(self._seen)), timeout)

    def _type_checked(self, body: bytes, newline: bytes, write: Write) -> None:
        def line_ended(seen: bytes) -> bool:
            at = seen.find(body)
            return at >= 0 and seen.find(b"\n", at + len(body)) >= 0

        for attempt in range(1, self.attempts + 1):
            with self._cond:
                self._seen.clear()
                self._listening = True
            try:
                for end in range(self.chunk, len(body) + self.chunk, self.chunk):
                    write(body[end - self.chunk : end])
                    if not self._echoed(lambda seen, end=end: body[:end] in seen, self.echo_timeout):
                        break
                else:
                    # The line is intact on the board: hand it over. A lost newline is
                    # typed again; if only its echo was lost, the extra empty line is harmless.
                    for _ in range(self.attempts):
                        if not newline:
                            return
                        write(newline)
                        if self._echoed(line_ended, self.echo_timeout):
                            return
                    return
            finally:
                with self._cond:
                    self._listening = False
            # The echo lacks or changed something: the board's line is damaged.
            self.retyped_lines += 1
            log.info("echo of a typed line did not match (attempt %d); erasing it and typing it again", attempt)
            write(self.kill * 2)  # twice: a lost kill must not leave the damage in place
        raise TransportError(
            f"the board's echo did not match a typed line after {self.attempts} attempts "
            "(does it echo? use fixed pacing for a board without echo)"
        )


def make_pacer(mode: str, character_delay: float = 0.0) -> Pacer:
    """The pacer for a device's `pacing` setting: none, fixed (character_delay) or echo."""
    if mode == "echo":
        return EchoPacer()
    if mode == "fixed" or (mode == "none" and character_delay > 0):
        return FixedPacer(character_delay or 0.005)
    if mode == "none":
        return Pacer()
    raise ValueError(f"unknown pacing {mode!r}: expected none, fixed or echo")
