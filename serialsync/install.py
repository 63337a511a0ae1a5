"""Put the board helpers onto a board through its console alone.

For a board with no network and no helpers in its image: each file is typed
as hex lines into heredocs that awk decodes, then checked on the board
with an awk checksum against the one computed here. Hex keeps what is
typed free of anything a shell, a tty or the marker watcher would act on.

Everything goes through the session's sendline, one short line at a time,
and a file in pieces of a few lines, each piece a command whose end the
board confirms before the next is typed. So at most a piece (about 2 KiB) is
typed ahead of the board: a tty's input queue holds 4 KiB, and a file typed
as one big write into a pty stalled for good on a busy machine (the host
blocked writing the file, the shell blocked writing its echo, which the
host, still writing, did not read).
"""

from __future__ import annotations

import logging
import re
import shlex
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pexpect
from pexpect.spawnbase import SpawnBase

from ._resources import HELPER_NAMES, helper_files
from .errors import SerialsyncError

log = logging.getLogger("serialsync.install")

DEFAULT_DIR = "/tmp/serialsync/bin"
HEX_PER_LINE = 240  # bytes of file per typed line: 480 characters, under half busybox's line editor limit
PIECE_LINES = 6  # hex lines per command: 2.9 KiB typed ahead of the board, within a tty's 4 KiB input queue
LINE_BUDGET = 512  # characters of paths in one typed line: half of busybox's line editor limit
ATTEMPTS = 3

# Decodes hex lines from stdin to stdout (the call redirects it: > a file's first piece,
# >> the rest), and checksums a file
# (Adler-32 as two halves, and its size: no number over 2^31, which busybox
# awk would print wrongly). awk is on any board the helpers can run on, since
# they need it themselves; cksum and md5sum are not (busybox may lack them).
_SUMMER = (
    "_ss_sum() { LC_ALL=C awk 'BEGIN { for (i = 1; i < 256; i++) o[sprintf(\"%c\", i)] = i; a = 1; b = 0; n = 0 }"
    " { s = $0 \"\\n\"; n += length(s); for (i = 1; i <= length(s); i++) { a = (a + o[substr(s, i, 1)]) % 65521;"
    " b = (b + a) % 65521 } } END { printf \"__SSSUM %d %d %d\\n\", b, a, n }' \"$1\"; }"
)
_DECODER = (
    "_ss_put() { LC_ALL=C awk 'BEGIN { for (i = 0; i < 256; i++) v[sprintf(\"%02x\", i)] = i }"
    " { for (i = 1; i < length($0); i += 2) printf \"%c\", v[substr($0, i, 2)] }'; }"
)


class InstallError(SerialsyncError):
    """The helpers could not be put onto the board; names the file and why."""


@dataclass(frozen=True)
class InstalledFile:
    path: str
    size: int
    checksum: str  # "ADLER_HIGH ADLER_LOW SIZE", as computed on the board
    attempts: int


def board_checksum(data: bytes) -> str:
    """What _SUMMER prints for a file holding data: Adler-32 halves and the size."""
    value = zlib.adler32(data) & 0xFFFFFFFF
    return f"{value >> 16} {value & 0xFFFF} {len(data)}"


def _run(session: SpawnBase, command: str, timeout: float, here_lines: Sequence[str] = ()) -> tuple[int, bytes]:
    """Type one command line (and the here-document lines it reads); return its exit status and output.

    Each line is its own sendline: with a watcher, the keyboard types them in
    order on its own thread (paced as the session says) while expect() here
    reads the echo, so neither side waits on the other.
    """
    session.sendline(f"{command}; printf '__SS%s_%d__\\n' DONE \"$?\"")
    for line in here_lines:
        session.sendline(line)
    session.expect(rb"__SSDONE_(\d+)__", timeout=timeout)
    return int(session.match.group(1)), bytes(session.before)


def install_helpers(
    session: SpawnBase,
    *,
    directory: str = DEFAULT_DIR,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> list[InstalledFile]:
    """Type every helper file into *directory* on the board and verify it; returns what was installed.

    progress gets a line per file once the board's copy is verified (name, bytes, bytes done).
    """
    files = [(path.name, path.read_bytes(), path.name in HELPER_NAMES) for path in helper_files()]
    installed = install_files(session, files, directory, timeout=timeout, progress=progress, what="the helpers")
    log.info("installed %d files into %s", len(installed), directory)
    return installed


def install_files(
    session: SpawnBase,
    files: list[tuple[str, bytes, bool]],
    directory: str,
    *,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
    what: str = "files",
) -> list[InstalledFile]:
    """Type files (path under directory, content, executable) onto the board, each verified by its checksum.

    The same typing as the helpers': hex lines decoded by awk on the board,
    a few lines a command, then an awk checksum compared with the one computed here.
    """
    # Every line names paths relative to the directory: through $_ss_d for a file (no
    # subshell to fork per command), in a subshell that went there for a batch. A long
    # directory repeated would make lines longer than a line editor takes.
    inside = f"cd {shlex.quote(directory)} &&"
    try:
        # The directory once, and the functions on a line of their own: together they could overrun a line editor.
        status, output = _run(session, f'_ss_d={shlex.quote(directory)} && mkdir -p "$_ss_d"', timeout)
        if status != 0:
            raise InstallError(f"cannot create {directory} on the board: {output.decode(errors='replace').strip()}")
        _run(session, f"{_DECODER}; {_SUMMER}", timeout)
        subdirs = sorted({str(PurePosixPath(path).parent) for path, _, _ in files} - {"."})
        for batch in _batches([shlex.quote(d) for d in subdirs], LINE_BUDGET):
            status, output = _run(session, f"({inside} mkdir -p {batch})", timeout)
            if status != 0:
                raise InstallError(f"cannot create directories in {directory}: {output.decode(errors='replace')}")
        installed = []
        total = sum(len(data) for _, data, _ in files)
        done = 0
        for path, data, _ in files:
            installed.append(_put(session, data, path, timeout, shown=f"{directory}/{path}"))
            done += len(data)
            if progress is not None:
                progress(f"{path} ({len(data)} bytes, {done}/{total} bytes, checksum verified)")
        for batch in _batches([shlex.quote(path) for path, _, executable in files if executable], LINE_BUDGET):
            status, output = _run(session, f"({inside} chmod 755 {batch})", timeout)
            if status != 0:
                raise InstallError(f"cannot make {what} executable: {output.decode(errors='replace').strip()}")
        _run(session, "unset -f _ss_put _ss_sum; unset _ss_d", timeout)
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        raise InstallError(
            f"the board stopped answering while {what} were typed into {directory} (check its console log)"
        ) from e
    return installed


def _batches(words: list[str], budget: int) -> list[str]:
    """Words joined by spaces into as few lines as keep each under budget characters."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= budget:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _put(session: SpawnBase, data: bytes, target: str, timeout: float, *, shown: str = "") -> InstalledFile:
    """Type data into the file target (relative to $_ss_d on the board) and check it."""
    if not data.endswith(b"\n") and data:
        data += b"\n"  # the board's checksum reads lines; a text file without a last newline gets one
    expected = board_checksum(data)
    hex_lines = [data[i : i + HEX_PER_LINE].hex() for i in range(0, len(data), HEX_PER_LINE)]
    # An empty file is one piece without lines: the first piece creates the file.
    pieces = [hex_lines[i : i + PIECE_LINES] for i in range(0, max(len(hex_lines), 1), PIECE_LINES)]
    quoted = f'"$_ss_d"/{shlex.quote(target)}'
    got = ""
    for attempt in range(1, ATTEMPTS + 1):
        for number, piece in enumerate(pieces):
            # One command a piece, and the sum with the last: nothing is typed ahead while
            # the board decodes. A shell with a line editor (busybox with echo on) would
            # echo typed-ahead bytes a second time once it reads them, after the tty did.
            command = f"_ss_put {'>' if number == 0 else '>>'} {quoted} <<'_SS_EOF'"
            if number == len(pieces) - 1:
                command += f"; _ss_sum {quoted}"
            status, output = _run(session, command, timeout, [*piece, "_SS_EOF"])
            if status != 0:
                break
        found = re.search(rb"__SSSUM (\d+ \d+ \d+)\r?\n", output)
        got = found.group(1).decode() if found else output.decode(errors="replace").strip()
        if status == 0 and got == expected:
            return InstalledFile(shown or target, len(data), expected, attempt)
        log.warning("%s: checksum on the board %r, expected %r; typing it again", shown or target, got, expected)
    raise InstallError(
        f"{shown or target}: the board's copy never matched after {ATTEMPTS} attempts "
        f"(checksum on the board: {got!r}, expected {expected!r})"
    )
