"""Echo pacing against a real tty: the kernel's canonical mode echoes, erases (DEL) and kills (^U).

The console is read one byte at a time, as from a slow UART: a chunk's echo
arrives piece by piece, so a damaged byte shows up while the rest of its
chunk is still on the way.
"""

from __future__ import annotations

import os
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from serialsync.keyboard import KILL, EchoPacer, make_pacer

LINE = b"echo 'the quick brown fox jumps over the lazy dog' 0123456789 abcdefghijklmnop"
IUTF8 = 0o40000  # termios.IUTF8 on Linux (the termios module does not name it)


class TtyBoard:
    """A shell reading one line (or what script says) from a pty, its output fed to a pacer byte by byte."""

    def __init__(
        self,
        tmp_path: Path,
        pacer: EchoPacer,
        byte_time: float = 0.0,
        echo_damage: Callable[[int, int], bytes] | None = None,
        script: str = 'IFS= read -r line; printf "%s" "$line" > "$1"',
        typing_time: float = 0.0,
        iutf8: bool = False,
    ) -> None:
        self.got = tmp_path / "got"
        self.master, slave = os.openpty()
        if iutf8:  # erase a whole UTF-8 character per DEL, as a UTF-8 login sets up (stty iutf8)
            attributes = termios.tcgetattr(slave)
            attributes[0] |= IUTF8
            termios.tcsetattr(slave, termios.TCSANOW, attributes)
        self.proc = subprocess.Popen(
            ["sh", "-c", script, "sh", str(self.got)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.written = bytearray()
        self.byte_time = byte_time  # a slow UART: seconds per byte of output
        self.typing_time = typing_time  # and per byte typed in
        self.echo_damage = echo_damage  # (position, byte) -> what the host reads instead
        self.reader = threading.Thread(target=self._read, args=(pacer,), daemon=True)
        self.reader.start()

    def _read(self, pacer: EchoPacer) -> None:
        position = 0
        while True:
            try:
                byte = os.read(self.master, 1)
            except OSError:  # the shell exited: EIO on Linux
                return
            if not byte:
                return
            if self.byte_time:
                time.sleep(self.byte_time)  # sleep-ok: the slow wire's pace, not synchronisation
            if self.echo_damage is not None:
                byte = self.echo_damage(position, byte[0])
                position += 1
            if byte:
                pacer.observe(byte)

    def write(self, data: bytes) -> None:
        self.written += data
        if not self.typing_time:
            os.write(self.master, data)
            return
        for i in range(len(data)):
            os.write(self.master, data[i : i + 1])
            time.sleep(self.typing_time)  # sleep-ok: the slow wire's pace, not synchronisation

    def line_read(self) -> bytes:
        assert self.proc.wait(10) == 0
        os.close(self.master)
        self.reader.join(10)
        return self.got.read_bytes()


def typed_with_damage(board: TtyBoard, damage: Callable[[int, int], bytes]) -> Callable[[bytes], None]:
    """A write that damages the stream at byte positions, as a noisy line would."""
    position = 0

    def write(data: bytes) -> None:
        nonlocal position
        out = bytearray()
        for byte in data:
            out += damage(position, byte)
            position += 1
        board.write(bytes(out))

    return write


def test_echo_pacing_types_an_undamaged_line_once(tmp_path):
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)
    pacer.type(LINE + b"\n", board.write)
    assert board.line_read() == LINE
    assert pacer.repairs == 0 and bytes(board.written) == LINE + b"\n"


def test_echo_pacing_repairs_a_changed_byte_in_place(tmp_path):
    """One byte changed mid-chunk is erased with DEL (as many as were typed) and retyped; no ^U."""
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)
    pacer.type(LINE + b"\n", typed_with_damage(board, lambda at, byte: b"X" if at == 20 else bytes([byte])))
    assert board.line_read() == LINE
    assert pacer.repairs == 1 and KILL not in board.written


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda at, byte: b"" if at == 37 else bytes([byte]), id="dropped"),
        pytest.param(lambda at, byte: bytes([byte]) + b"Z" if at == 3 else bytes([byte]), id="added"),
    ],
)
def test_echo_pacing_kills_a_line_that_lost_or_gained_a_byte_on_the_way_in(tmp_path, damage):
    """The echo cannot say on which way a byte was lost or added: only the kill puts the line in a known state."""
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)
    pacer.type(LINE + b"\n", typed_with_damage(board, damage))
    assert board.line_read() == LINE
    assert KILL in board.written and board.written.endswith(KILL * 2 + LINE + b"\n")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda at, byte: bytes([byte, byte]) if at == 38 else bytes([byte]), id="doubled"),
        pytest.param(lambda at, byte: bytes([byte]) + b"q" if at == 38 else bytes([byte]), id="added"),
        pytest.param(lambda at, byte: b"" if at == 38 else bytes([byte]), id="dropped"),
        pytest.param(lambda at, byte: b"X" if at == 38 else bytes([byte]), id="changed"),
    ],
)
def test_echo_pacing_never_hands_over_a_line_whose_echo_was_damaged_on_the_way_back(tmp_path, damage):
    """The board got every byte right; only its echo was damaged. The board must still run exactly the line.

    Erasing by the damaged echo (one DEL per echoed byte) erased a byte too many
    and the board ran "ABCEFG...": erasing goes by what was typed.
    """
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer, echo_damage=damage)
    pacer.type(LINE + b"\n", board.write)
    assert board.line_read() == LINE


def test_echo_pacing_a_byte_added_each_way_does_not_cancel_out(tmp_path):
    """A byte doubled on the echo and a DEL doubled on the way in leave the echoed text right, the line not.

    Seen in a fault run: the board erased one confirmed byte too many and ran
    "$(rebot)". The count of erasures echoed gives it away.
    """
    pacer = EchoPacer()
    doubled_echo = lambda at, byte: bytes([byte, byte]) if at == 38 else bytes([byte])  # noqa: E731
    board = TtyBoard(tmp_path, pacer, echo_damage=doubled_echo)
    first_del = []

    def damage(at: int, byte: int) -> bytes:
        if byte == 0x7F and not first_del:
            first_del.append(at)
            return b"\x7f\x7f"
        return bytes([byte])

    pacer.type(LINE + b"\n", typed_with_damage(board, damage))
    assert first_del, "the pacer never erased: the test lost its point"
    assert board.line_read() == LINE


def test_echo_pacing_repairs_changes_in_many_chunks_of_a_long_line_in_place(tmp_path):
    """A line of 60 chunks with a byte changed in every fifth chunk arrives whole, without a kill."""
    long_line = b"printf %s '" + b"0123456789abcdef" * 60 + b"'"
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)

    changed = []

    def damage(at: int, byte: int) -> bytes:
        # Text bytes only: a DEL changed on the way in leaves the line unknown (a kill, tested
        # above), and a changed line end is one more repair (the byte it became is erased).
        if at < 2 * len(long_line) and at % 80 == 41 and byte not in b"\x7f\n" and len(changed) < 12:
            changed.append(at)
            return b"#"
        return bytes([byte])

    write = typed_with_damage(board, damage)
    pacer.type(long_line + b"\n", write)
    assert board.line_read() == long_line
    assert len(changed) == 12 and pacer.repairs == 12 and KILL not in board.written


def test_echo_pacing_a_long_line_with_bytes_lost_and_changed_arrives_whole(tmp_path):
    """Lost bytes cost the line (a kill); it is typed again until its echo proves it."""
    long_line = b"printf %s '" + b"0123456789abcdef" * 60 + b"'"
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)

    def damage(at: int, byte: int) -> bytes:
        if at < 3 * len(long_line) and at % 400 == 41:
            return b"" if at % 800 == 41 else b"#"
        return bytes([byte])

    pacer.type(long_line + b"\n", typed_with_damage(board, damage))
    assert board.line_read() == long_line
    assert KILL in board.written


def test_echo_pacing_kills_and_retypes_a_line_it_cannot_repair_in_place(tmp_path):
    """A burst of stray bytes in one chunk is more than DEL can safely undo: ^U, and the line again."""
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)
    write = typed_with_damage(board, lambda at, byte: bytes([byte]) + b"#####" if at == 20 else bytes([byte]))
    pacer.type(LINE + b"\n", write)
    assert board.line_read() == LINE
    assert KILL in board.written and board.written.endswith(KILL * 2 + LINE + b"\n")


def test_echo_pacing_a_reply_line_is_paced_but_never_repaired_nor_given_up(tmp_path):
    """A line with its own checksum (checked=False) goes as fast as it echoes; damage is left to its reader.

    Its reader (a helper) refuses a damaged copy and asks for it again:
    repairing by an echo that may itself be damaged would only cost time.
    """
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)
    write = typed_with_damage(board, lambda at, byte: bytes([byte]) + b"#####" if at == 20 else bytes([byte]))
    pacer.type(LINE + b"\n", write, checked=False)
    assert board.line_read() == LINE[:21] + b"#####" + LINE[21:]
    assert KILL not in board.written and b"\x7f" not in board.written and pacer.repairs == 0


def test_fixed_pacing_types_one_byte_at_a_time(tmp_path):
    """LAVA's character_delay: one byte per write, the board's line whole."""
    pacer = make_pacer("fixed", 0.001)
    board = TtyBoard(tmp_path, EchoPacer())  # the reader feeds a pacer nobody types with
    sizes = []

    def write(data: bytes) -> None:
        sizes.append(len(data))
        board.write(data)

    pacer.type(LINE + b"\n", write)
    assert board.line_read() == LINE
    assert sizes == [1] * (len(LINE) + 1)


def test_echo_pacing_keeps_a_chunk_whose_echo_is_only_slow(tmp_path):
    """Each echoed byte takes 40 ms: a chunk's echo outlasts the pacer's patience, but nothing was damaged."""
    pacer = EchoPacer(echo_timeout=0.4)
    board = TtyBoard(tmp_path, pacer, byte_time=0.04)
    pacer.type(LINE[:40] + b"\n", board.write)
    assert board.line_read() == LINE[:40]
    assert pacer.repairs == 0 and bytes(board.written) == LINE[:40] + b"\n"


def test_echo_pacing_types_ahead_of_the_echo_but_never_more_than_its_window(tmp_path):
    """Waiting for each chunk's echo before the next left the wire idle for a round trip per chunk.

    Several chunks go before their echo is in, so a line goes at the wire's
    rate; never more than the window, so a board that drops what it cannot take
    in time loses at most that much.
    """
    pacer = EchoPacer(chunk=16, window=4)
    echoed = 0
    observe = pacer.observe

    def counting(data: bytes) -> None:
        nonlocal echoed
        echoed += len(data)
        observe(data)

    pacer.observe = counting  # type: ignore[method-assign]
    board = TtyBoard(tmp_path, pacer, byte_time=0.0002)
    ahead = []

    def write(data: bytes) -> None:
        ahead.append(len(board.written) + len(data) - echoed)
        board.write(data)

    pacer.type(LINE + LINE + b"\n", write)
    assert board.line_read() == LINE + LINE
    assert pacer.repairs == 0
    assert max(ahead) > 16, "the pacer waited for each chunk's echo"
    assert max(ahead) <= 4 * 16


def test_echo_pacing_learns_a_slow_prompt_instead_of_typing_into_it(tmp_path):
    """A board that prints its prompt 5 ms after each line: a line typed before it comes is killed.

    The pacer waits a millisecond of quiet between lines at first; after a
    line killed for the prompt printed into it, it waits longer and learns
    how soon the board answers, so later lines go without a kill.
    """
    pacer = EchoPacer()
    lines = [b"line %02d " % i + b"x" * 40 for i in range(16)]
    script = (
        'while IFS= read -r line && [ "$line" != end ]; do '
        'printf "%s\\n" "$line" >> "$1"; sleep 0.005; printf "> "; done'
    )
    board = TtyBoard(tmp_path, pacer, byte_time=0.0003, typing_time=0.0003, script=script)
    pacer.type(b"".join(line + b"\n" for line in lines) + b"end\n", board.write)
    assert board.line_read().splitlines() == lines
    assert board.written.count(KILL * 2) < len(lines) // 2, "every line was typed into the prompt"


def test_echo_pacing_types_less_ahead_for_a_board_that_drops_what_is_typed_ahead(tmp_path):
    """A board whose input holds 16 bytes that arrive back to back loses the rest of a longer burst.

    Typing four chunks ahead, every line would lose bytes and be killed until
    the pacer gave up; after a line killed, it keeps fewer chunks in flight.
    """
    pacer = EchoPacer(chunk=16, window=4)
    lines = [b"line %02d " % i + b"y" * 50 for i in range(10)]
    script = 'while IFS= read -r line && [ "$line" != end ]; do printf "%s\\n" "$line" >> "$1"; done'
    board = TtyBoard(tmp_path, pacer, script=script)
    bursts_cut = []

    def write(data: bytes) -> None:
        if len(data) > 16:
            bursts_cut.append(len(data))
        board.write(data[:16])

    pacer.type(b"".join(line + b"\n" for line in lines) + b"end\n", write)
    assert board.line_read().splitlines() == lines
    assert bursts_cut, "the pacer never typed more than a chunk ahead: the test lost its point"
    assert len(bursts_cut) <= 6, "the pacer kept typing ahead of what the board takes"


@pytest.mark.parametrize("iutf8", [True, False], ids=["iutf8", "bytes"])
def test_echo_pacing_never_erases_a_utf8_character_by_its_bytes(tmp_path, iutf8):
    """A tty that erases a whole UTF-8 character per DEL erased bytes of the kept line.

    The lead byte of "û" changed on the way in: the pacer kept the line up to
    it and typed a DEL per byte after it. With iutf8 (and busybox's line
    editor) the two bytes of a character go with one DEL, and echo one
    erasure, so the last DELs took kept bytes while the echo, erased byte by
    byte, still showed the kept line: the board ran the line short of them.
    Bytes that are not ASCII are never erased in place: the line is killed
    and typed again.
    """
    line = "echo 'caf\u00e9 au lait, cr\u00e8me br\u00fbl\u00e9e' 0123456789".encode()
    lead = line.index("\u00fb".encode())
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer, iutf8=iutf8)
    write = typed_with_damage(board, lambda at, byte: b"\xc2" if at == lead else bytes([byte]))
    pacer.type(line + b"\n", write)
    assert board.line_read() == line


def test_echo_pacing_a_byte_added_on_the_way_in_and_a_space_lost_from_the_erase_echo(tmp_path):
    """Each erasure echoes BS SP BS; one SP lost leaves the count of BS right and the line's text a byte short.

    With a byte added on the way in, that short text looked exactly like the
    kept line: seen in a fault run, the board ran `[ $iq -lt 5 ]`. The erase
    echo must be that many erasures, each echoed alike.
    """
    pacer = EchoPacer()
    previous = bytearray(b"\0")
    lost = []

    def echo_damage(at: int, byte: int) -> bytes:
        after_bs, previous[0] = previous[0] == 0x08, byte
        if byte == 0x20 and after_bs and not lost:
            lost.append(at)  # the first space of an erase echo is lost, once
            return b""
        return bytes([byte])

    board = TtyBoard(tmp_path, pacer, echo_damage=echo_damage)
    write = typed_with_damage(board, lambda at, byte: bytes([byte]) + b"Z" if at == 20 else bytes([byte]))
    pacer.type(LINE + b"\n", write)
    assert lost, "no erase echo lost its space: the test lost its point"
    assert board.line_read() == LINE


def test_echo_pacing_a_byte_added_and_a_del_lost_on_the_way_in(tmp_path):
    """The line is erased whole, with spare DELs: one DEL lost must not hide the byte added.

    With one DEL more than was typed, the lost DEL and the added byte left
    exactly as many erasures as bytes typed, and the board kept a byte of
    the line it was asked to erase (a fault run ran "wwhile").
    """
    pacer = EchoPacer()
    board = TtyBoard(tmp_path, pacer)
    dropped = []

    def damage(at: int, byte: int) -> bytes:
        if at == 20:
            return bytes([byte]) + b"Z"
        if byte == 0x7F and not dropped:
            dropped.append(at)
            return b""
        return bytes([byte])

    pacer.type(LINE + b"\n", typed_with_damage(board, damage))
    assert dropped, "no DEL was typed: the test lost its point"
    assert board.line_read() == LINE
