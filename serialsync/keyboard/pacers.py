"""Typing into a board that may drop what arrives too fast.

A Pacer decides how bytes are written to a console:

* ``Pacer()`` writes at once (ptys, qemu's UART: they push back);
* ``FixedPacer(delay)`` waits ``delay`` seconds after each byte (LAVA's
  ``character_delay``);
* ``EchoPacer()`` writes while following the board's echo, a few chunks
  ahead of it at most, so a line goes as fast as the board takes it; and it
  checks the echo: bytes whose echo does not match are erased and typed
  again, or the line is erased with the tty's kill character (^U) and typed
  again, so a damaged line never reaches whoever reads the board's tty. Only
  then is the newline typed.

Pacers see the console's output through ``observe()``: whoever reads the
console (the watcher) hands every chunk to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from .._time import SYSTEM_CLOCK, Clock
from ..errors import EchoMismatch

log = logging.getLogger("serialsync.pacing")

_QUIET_FLOOR = 0.001  # the least the board must print nothing before a line is typed
_QUIET_CEILING = 0.02  # after lines killed (output printed into them), the quiet grows up to this
_ANSWER_LONGEST = 0.05  # output later than this after a line end is a command's, not the shell's answer
_WIDEN_AFTER = 8  # clean lines in a row before the window grows by a chunk again

Write = Callable[[bytes], None]
KILL = b"\x15"  # ^U, the default VKILL: erases the line typed so far
ERASE = b"\x7f"  # DEL, the default VERASE: erases one byte


class Pacer:
    """Writes at once."""

    def observe(self, data: bytes) -> None:
        """Console output; used by pacers that follow the echo."""

    def type(self, data: bytes, write: Write, *, checked: bool = True) -> None:
        """Type data; checked=False: its lines carry their own checksum, the echo need not prove them."""
        write(data)


class FixedPacer(Pacer):
    def __init__(self, delay: float) -> None:
        if not 0 < delay <= 1:
            raise ValueError("character delay must be between 0 and 1 second")
        self.delay = delay

    def type(self, data: bytes, write: Write, *, checked: bool = True) -> None:
        for i in range(len(data)):
            write(data[i : i + 1])
            time.sleep(self.delay)  # pacing, not synchronisation: the board needs the gap


def _verifiable(line: bytes) -> bool:
    # Printable text (and UTF-8) echoes as itself; control bytes echo as ^X or
    # move the cursor, so a line holding them cannot be checked by its echo.
    return not any(b < 0x20 or b == 0x7F for b in line)


_AFTER_ESC, _IN_CSI = 1, 2
# What one erased character echoes: the kernel with ECHOE (and readline), busybox's
# line editor, a line editor clearing to the end of the line, a bare cursor move.
_ERASE_ECHOES = (b"\x08 \x08", b"\x08\x1b[J", b"\x08\x1b[K", b"\x08")
_CAPTURE_MOST = 64 * 1024
_SPARE_DELS = 3  # DELs beyond the line typed when it is erased whole: they erase nothing


class _EchoLine:
    """What the board's line holds, as far as its echo tells: typed bytes, erased by BS."""

    def __init__(self) -> None:
        self.text = bytearray()
        self.ends = 0  # line ends echoed: the board took a line
        self.returns = 0  # carriage returns echoed (a line end's CR, or a redraw)
        self.received = 0  # bytes echoed in all
        self.backspaces = 0  # BS echoed in all: each erase echoes one (a line editor) or two (BS SP BS)
        self.capture: bytearray | None = None  # the echo as it came, while an erase is judged
        self._escape = 0  # 0, _AFTER_ESC or _IN_CSI

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.capture is not None and len(self.capture) < _CAPTURE_MOST:
            self.capture += data
        for byte in data:
            # Skip terminal escapes (a line editor's redraws): ESC [ ... final byte, or
            # ESC, intermediates (0x20-0x2F), one final byte (ESC 7, ESC 8, ...).
            if self._escape == _AFTER_ESC:
                self._escape = _IN_CSI if byte == ord("[") else _AFTER_ESC if 0x20 <= byte <= 0x2F else 0
            elif self._escape == _IN_CSI:
                self._escape = 0 if 0x40 <= byte <= 0x7E else _IN_CSI
            elif byte == 0x1B:
                self._escape = _AFTER_ESC
            elif byte == 0x08:  # ECHOE erases as BS SP BS: pop, push the space, pop it
                self.backspaces += 1
                if self.text:
                    self.text.pop()
            elif byte >= 0x20 and byte != 0x7F:
                self.text.append(byte)  # (a control byte typed in echoes as "^X": two of these)
            elif byte == 0x0A:
                self.text.clear()  # a line we type holds no line end: what follows is a new line
                self.ends += 1
            elif byte == 0x0D:
                # Back to the first column: a line end (CR LF), or a line editor
                # redrawing prompt and line (busybox after ^U). Not a line end itself.
                self.text.clear()
                self.returns += 1


class EchoPacer(Pacer):
    """Types a window of chunks ahead of the board's echo, checks the echo, repairs damage.

    The echo can be damaged on its way back as well as the typed bytes on
    their way in, and the two cannot be told apart. So a damaged line is
    erased by what was *typed* (DEL, the usual VERASE, once per byte typed,
    and a few spare ones), and typed again when the echo shows exactly that
    many erasures: the board's line held what was typed, and is empty. When
    it does not, the line on the board is unknown: it is erased with the
    kill character (^U) and typed again. The newline goes only once the echo
    proves the board holds exactly what was typed. A line that carries its
    own checksum (a reply) is not checked (``checked=False``): it is only
    paced by its echo, never repaired, killed nor given up, since whoever
    reads it refuses a damaged copy and asks for it again.
    """

    def __init__(
        self,
        *,
        chunk: int = 16,
        window: int = 4,
        echo_timeout: float = 2.0,
        attempts: int = 8,
        line_attempts: int = 64,
        kill: bytes = KILL,
        erase: bytes = ERASE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if chunk < 1:
            raise ValueError("chunk must be at least 1 byte")
        if window < 1:
            raise ValueError("window must be at least 1 chunk")
        self.chunk = chunk
        self.window = window  # most chunks typed ahead of their echo; 1: wait for each chunk's echo
        self._window = window  # as many as the board has taken lately (halved when a line was killed)
        self._clean = 0  # lines typed without a repair since the window last changed
        self.echo_timeout = echo_timeout
        self.attempts = attempts  # erasures and retypes a line may take, per chunk of it
        self.line_attempts = max(attempts, line_attempts)  # whole-line retypes of a checked line
        self.kill = kill
        self.erase = erase
        self.repairs = 0  # chunks or lines erased and typed again
        self._clock = clock
        self._echo_time = echo_timeout / 8  # running estimate of a chunk's echo time
        self._learned = False  # whether the estimates come from a measure yet
        self._byte_time = 0.001  # running estimate of one byte's share of it: 9600 baud to start
        self._quiet = _QUIET_FLOOR  # how long the board must print nothing before a line is typed
        self._answer = 0.0  # how soon the board answers a line end (a prompt), recent worst case
        self._line_ended: float | None = None  # when the last line end was typed, until the answer came
        self._cond = threading.Condition()
        self._line: _EchoLine | None = None  # set while a line is being typed
        self._last_output = 0.0  # when the board last printed anything

    def observe(self, data: bytes) -> None:
        with self._cond:
            self._last_output = now = self._clock.monotonic()
            if self._line_ended is not None and data.strip(b"\r\n"):
                # The first output after a line end but its echo: the shell's answer (a prompt).
                if now - self._line_ended <= _ANSWER_LONGEST:
                    self._answer = max(now - self._line_ended, 0.9 * self._answer)
                self._line_ended = None
            if self._line is not None:
                self._line.feed(data)
            self._cond.notify_all()

    def type(self, data: bytes, write: Write, *, checked: bool = True) -> None:
        for line in data.splitlines(keepends=True):
            body, newline = (line[:-1], line[-1:]) if line.endswith((b"\n", b"\r")) else (line, b"")
            if body and _verifiable(body):
                self._type_line(body, newline, write, checked)
            else:
                write(line)

    def _board_line(self, predicate: Callable[[bytes], bool], timeout: float | None = None) -> bool:
        """Wait until the board's line (from its echo) satisfies predicate."""
        with self._cond:
            assert self._line is not None
            line = self._line
            return self._cond.wait_for(lambda: predicate(bytes(line.text)), timeout or self.echo_timeout)

    def _patience(self) -> float:
        # A byte lost on the way never echoes: waiting the full echo_timeout for
        # each would make a lossy link crawl, so wait a few echo times instead.
        return min(self.echo_timeout, max(0.05, 8 * self._echo_time))

    def _await_quiet(self, limit: float | None = None, after: float | None = None) -> None:
        """Until the board has printed nothing for a little while (at most limit, or echo_timeout).

        And until the board's answer to the last line end (a prompt) has begun,
        or the time it usually takes has passed. With `after`, only a quiet that
        follows output printed after that moment counts: the board's answer to
        what was just typed has come and ended.
        """
        quiet = self._quiet_for()
        deadline = self._clock.monotonic() + (limit or self.echo_timeout)
        with self._cond:
            while (now := self._clock.monotonic()) < deadline:
                answered = after is None or self._last_output > after
                until = self._last_output + quiet if answered else now + quiet
                if self._line_ended is not None:
                    until = max(until, self._line_ended + min(1.5 * self._answer, self.echo_timeout / 4))
                if now >= until:
                    if self._line_ended is not None:
                        self._answer /= 2  # no answer this time (a heredoc's line, PS2 empty): expect less
                    return
                # Pacing the board, as the echo itself does.
                self._cond.wait(min(deadline, until) - now)

    def _line_text(self) -> bytearray:
        assert self._line is not None
        return self._line.text

    def _board_text(self) -> bytes:
        with self._cond:
            return bytes(self._line.text) if self._line is not None else b""

    def _learn(self, sent: float, ahead: int) -> None:
        """An echo came in complete: typed at sent, with ahead bytes (itself included) not yet echoed then."""
        took = self._clock.monotonic() - sent
        weight = 0.2 if self._learned else 1.0  # the first measure replaces the guess
        self._learned = True
        self._echo_time += weight * (took - self._echo_time)
        self._byte_time += weight * (took / max(1, ahead) - self._byte_time)

    def _quiet_for(self) -> float:
        # A few byte times at the link's rate, so a burst of output is not cut in two;
        # longer after lines were killed, as output printed into them may do that.
        return min(self.echo_timeout / 4, max(self._quiet, 4 * self._byte_time))

    def _type_line(self, body: bytes, newline: bytes, write: Write, checked: bool) -> None:
        with self._cond:
            self._line = _EchoLine()
        try:
            if not checked:
                self._pace(body, newline, write)
                return
            after_kill: bytes | None = None  # what the board showed after the last kill (a redrawn prompt)
            silent = 0
            for _ in range(self.line_attempts):
                # Let the board finish printing first (a prompt after the last
                # command's output, a line editor redrawing after ^U), so that
                # what precedes our text on its line is known before we type.
                self._await_quiet()
                with self._cond:
                    self._line_ended = None  # output from now on may be our own echo
                base = len(self._board_text())
                repairs = self.repairs
                outcome = self._type_chunks(body, base, write)
                if outcome == _TYPED and self._hand_over(body, newline, base, write, self.attempts):
                    if self.repairs == repairs:
                        self._went_clean()
                    return
                silent = silent + 1 if outcome == _SILENT else 0
                if silent >= 2:
                    break  # twice no echo at all: this board does not echo
                self._went_wrong()
                after_kill = self._kill(write, after_kill)
            raise EchoMismatch(
                "the board's echo did not match a typed line after "
                f"{self.line_attempts if silent < 2 else 2} attempts "
                "(does it echo? use fixed pacing for a board without echo)"
            )
        finally:
            with self._cond:
                self._line = None

    def _went_clean(self) -> None:
        self._quiet = max(_QUIET_FLOOR, self._quiet * 0.9)
        self._clean += 1
        if self._clean >= _WIDEN_AFTER and self._window < self.window:
            self._window += 1
            self._clean = 0

    def _went_wrong(self) -> None:
        """A line had to be killed: bytes were lost or added on the way, or output was printed into it."""
        # Output printed into the line (a prompt slower than the quiet waited for):
        # wait longer before the next lines. Bytes lost on the way in (a board whose
        # input overruns when typed ahead of): keep fewer in flight.
        self._quiet = min(_QUIET_CEILING, self._quiet * 2)
        self._window = max(1, self._window // 2)
        self._clean = 0

    def _pace(self, body: bytes, newline: bytes, write: Write) -> None:
        """A line with its own checksum: typed as fast as the board echoes it, never repaired.

        Its reader refuses a damaged copy and asks for it again; erasing by the
        echo on a link that damages the echo too would only cost time. Nor does
        it wait for the board to be quiet, and its line end goes with it: the
        board is waiting for this line.
        """
        line = self._line
        assert line is not None
        data = body + newline
        with self._cond:
            self._line_ended = None  # what the board prints next answers this line, not a prompt
        start = line.received
        typed = 0
        in_flight: deque[tuple[int, float, int]] = deque()
        while typed < len(data):
            with self._cond:  # room for a chunk: at most `window` chunks ahead of the echo
                roomy = self._cond.wait_for(
                    lambda typed=typed, start=start: typed + self.chunk - (line.received - start)
                    <= self._window * self.chunk,
                    self._patience(),
                )
                if not roomy:
                    # Echo lost on the way back (or bytes on the way in): count it as come,
                    # or every later chunk would wait for it too.
                    start = line.received - typed
                    in_flight.clear()
            echoed = self._confirm(in_flight, line.received - start)
            piece = data[typed : typed + max(self.chunk, self._window * self.chunk - (typed - echoed))]
            in_flight.append((typed + len(piece), self._clock.monotonic(), typed + len(piece) - echoed))
            write(piece)
            typed += len(piece)

    def _kill(self, write: Write, before: bytes | None) -> bytes:
        """Erase the whole line; returns what the board then shows (normally nothing, or its prompt)."""
        self.repairs += 1
        log.info("echo of a typed line could not prove it; erasing it and typing it again")
        for _ in range(3):
            killed_at = self._clock.monotonic()
            write(self.kill * 2)  # twice: a lost kill must not leave the damage in place
            with self._cond:
                # The kill's echo (BS SP BS per byte) nets to nothing on an empty model.
                self._line = _EchoLine()
            # Its echo must be in before the line is typed again: a line editor
            # redraws its prompt, which then precedes our text on the line.
            self._await_quiet(self._patience(), after=killed_at)
            shown = self._board_text()
            # An empty line, or the same redraw as after the last kill: a byte the kill
            # was damaged into would show here, and would not survive the next kill.
            if not shown or shown == before:
                return shown
            before = shown
        return before or b""

    def _hand_over(self, body: bytes, newline: bytes, base: int, write: Write, attempts: int) -> bool:
        """Type the line end once the line is confirmed; False if the line got damaged."""
        if not newline:
            return True
        for _ in range(attempts):
            line = self._line
            assert line is not None
            ends, returns = line.ends, line.returns
            with self._cond:
                self._line_ended = self._clock.monotonic()
            write(newline)

            # The echo of a line end is CR LF: either one is enough (the other may be damaged
            # on the way back); typing the line end again would run the line twice.
            def took(_text: bytes, line: _EchoLine = line, ends: int = ends, returns: int = returns) -> bool:
                return line.ends > ends or line.returns > returns

            if self._board_line(took, self._patience()):
                return True
            # No line end echoed: the newline was lost, or garbled into a byte now
            # sitting at the end of the line. Erase what is extra, then try again.
            extra = len(self._board_text()) - base - len(body)
            if extra < 0:
                return False
            if extra:
                if not self._board_text()[base + len(body) :].isascii():
                    return False  # erased by the character, not the byte (see _type_chunks)
                self.repairs += 1
                if not self._erase(extra, base + len(body), write) or self._board_text()[base:] != body:
                    return False
        return False

    def _erase(self, count: int, keep: int, write: Write, expect: int | None = None) -> bool:
        """Type count DELs; whether the echo was exactly `expect` (else count) erasures, each echoed alike.

        With expect < count the line is erased to its start, where a DEL erases
        nothing (readline rings the bell for it).

        Not a count of BS alone: a space lost from one "BS SP BS" leaves the
        count right and the line's text one byte short, which an insertion on
        the way in then passes for a proof (seen in a fault run: `$iq` ran).
        """
        line = self._line
        assert line is not None
        before = line.backspaces
        with self._cond:
            line.capture = bytearray()
        write(self.erase * count)
        # Until the line is that short, or as many erasures echoed (when output
        # printed into the line keeps it longer than we typed it).
        self._board_line(lambda text: len(text) <= keep or line.backspaces - before >= count, self._patience())
        self._await_quiet(self._patience())
        with self._cond:
            echoed, line.capture = bytes(line.capture), None
        if expect is not None and expect < count:
            echoed = echoed.rstrip(b"\x07")  # readline rings the bell for a DEL at the line's start
        erasures = count if expect is None else expect
        return any(echoed == unit * erasures for unit in _ERASE_ECHOES)

    def _type_chunks(self, body: bytes, base: int, write: Write) -> str:
        """Type body a window of chunks ahead of its echo; on damage, erase it whole and type it again.

        Returns _TYPED when the echo shows the whole body after base, _SILENT
        when nothing at all echoed, else _DAMAGED: the line must go.
        """
        confirmed = typed = 0  # bytes of body the echo has shown in order; bytes typed
        in_flight: deque[tuple[int, float, int]] = deque()  # chunks not yet echoed: (end, sent, ahead)
        budget = self.attempts * (len(body) // self.chunk + 1)  # chunk writes: a line never loops for ever
        while confirmed < len(body):
            # What the window has room for goes in one write: a chunk at least, unless the last.
            room = self._window * self.chunk - (typed - confirmed)
            if typed < len(body) and room >= min(self.chunk, len(body) - typed):
                if budget <= 0:
                    return _DAMAGED
                budget -= 1
                piece = body[typed : typed + room]
                in_flight.append((typed + len(piece), self._clock.monotonic(), typed + len(piece) - confirmed))
                write(piece)
                typed += len(piece)
            want = body[:typed]
            # Done waiting when the echo has shown more, or shown something wrong.
            self._board_line(
                lambda text, want=want, shown=confirmed: len(text) - base > shown or not want.startswith(text[base:]),
                self._patience(),
            )
            shown = self._board_text()[base:]
            if len(shown) > confirmed and want.startswith(shown):
                confirmed = self._confirm(in_flight, len(shown))
                continue
            # No echo for a while, or a wrong one. A slow console echoes byte by byte:
            # the rest may still be on its way, and the board holds it too. Judge (and
            # erase) only once the echo has stopped, or DELs fall short of it.
            self._await_quiet(self._patience())
            shown = self._board_text()[base:]
            if shown == want:
                confirmed = self._confirm(in_flight, typed)  # only slow, not damaged: keep it
                continue
            if confirmed == 0 and not shown and len(self._board_text()) == base:
                return _SILENT  # nothing echoed at all: this board may not echo
            self.repairs += 1
            log.info("echo of typed bytes did not match; erasing the %d typed and typing them again", typed)
            # Erased whole, by what was typed, and a few DELs more: the erasures echoed then
            # count what the board's line held. Exactly as many as bytes typed, each echoed
            # alike, prove it held that many and holds none now, whichever way bytes were
            # lost, added or changed. Erasing back to the longest prefix the echo showed
            # proved less: a byte lost on the way in and one added on the way back kept the
            # count right (seen in a fault run: "wile" ran for "while"). With one DEL more,
            # a DEL lost and a byte added on the way in did ("wwhile"): it takes as many
            # DELs lost as there are spare ones.
            if not body[:typed].isascii():
                # A tty in iutf8 mode (or a line editor) erases a UTF-8 character per DEL.
                return _DAMAGED
            if not self._erase(typed + _SPARE_DELS, base, write, expect=typed):
                return _DAMAGED
            with self._cond:
                del self._line_text()[base:]
            typed = confirmed = 0
            in_flight.clear()
        return _TYPED if self._board_text()[base:] == body else _DAMAGED

    def _confirm(self, in_flight: deque[tuple[int, float, int]], shown: int) -> int:
        """The echo has shown `shown` bytes: learn from the chunks it completed."""
        while in_flight and in_flight[0][0] <= shown:
            _, sent, ahead = in_flight.popleft()
            self._learn(sent, ahead)
        return shown


_TYPED, _DAMAGED, _SILENT = "typed", "damaged", "silent"


def make_pacer(mode: str, character_delay: float = 0.0) -> Pacer:
    """The pacer for a device's `pacing` setting: none, fixed (character_delay) or echo."""
    if mode == "echo":
        return EchoPacer()
    if mode == "fixed" or (mode == "none" and character_delay > 0):
        return FixedPacer(character_delay or 0.005)
    if mode == "none":
        return Pacer()
    raise ValueError(f"unknown pacing {mode!r}: expected none, fixed or echo")
