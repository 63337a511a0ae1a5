"""Put the board helpers onto a board through its console alone.

For a board with no network and no helpers in its image: each file is typed
as hex lines into a heredoc that one awk decodes, then checked on the board
with POSIX ``cksum`` against the checksum computed here. Hex keeps what is
typed free of anything a shell, a tty or the marker watcher would act on.
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pexpect
from pexpect.spawnbase import SpawnBase

from ._resources import HELPER_NAMES, helper_files
from .errors import SerialsyncError

log = logging.getLogger("serialsync.install")

DEFAULT_DIR = "/tmp/serialsync/bin"
HEX_PER_LINE = 64  # bytes of file per typed line: 128 characters, far below any line limit
ATTEMPTS = 3

# Decodes hex lines from stdin into the file named by $1; awk is on any board
# the helpers can run on, since they need it themselves.
_DECODER = (
    "_ss_put() { LC_ALL=C awk 'BEGIN { for (i = 0; i < 256; i++) v[sprintf(\"%02x\", i)] = i }"
    " { for (i = 1; i < length($0); i += 2) printf \"%c\", v[substr($0, i, 2)] }' > \"$1\"; }"
)


class InstallError(SerialsyncError):
    """The helpers could not be put onto the board; names the file and why."""


@dataclass(frozen=True)
class InstalledFile:
    path: str
    size: int
    cksum: int
    attempts: int


def posix_cksum(data: bytes) -> int:
    """The CRC that POSIX `cksum` prints: CRC-32/CKSUM over the data and its length."""
    crc = 0
    length = len(data)
    tail = bytearray()
    while length:
        tail.append(length & 0xFF)
        length >>= 8
    for byte in data + bytes(tail):
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc ^ 0xFFFFFFFF


def _run(session: SpawnBase, command: str, timeout: float) -> tuple[int, bytes]:
    """Type one command line; return its exit status and output (between split-quote markers)."""
    session.sendline(f"{command}; printf '__SS%s_%d__\\n' DONE \"$?\"")
    session.expect(rb"__SSDONE_(\d+)__", timeout=timeout)
    return int(session.match.group(1)), bytes(session.before)


def install_helpers(
    session: SpawnBase, *, directory: str = DEFAULT_DIR, timeout: float = 120.0
) -> list[InstalledFile]:
    """Type every helper file into *directory* on the board and verify it; returns what was installed."""
    quoted_dir = shlex.quote(directory)
    try:
        status, output = _run(session, f"mkdir -p {quoted_dir} && {_DECODER}", timeout)
        if status != 0:
            raise InstallError(f"cannot create {directory} on the board: {output.decode(errors='replace').strip()}")
        installed = [_install_file(session, path, directory, timeout) for path in helper_files()]
        names = " ".join(shlex.quote(f"{directory}/{name}") for name in HELPER_NAMES)
        status, output = _run(session, f"chmod 755 {names} && unset -f _ss_put", timeout)
        if status != 0:
            raise InstallError(f"cannot make the helpers executable: {output.decode(errors='replace').strip()}")
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        raise InstallError(f"the board stopped answering while the helpers were typed: {type(e).__name__}") from e
    log.info("installed %d files into %s", len(installed), directory)
    return installed


def _install_file(session: SpawnBase, source: Path, directory: str, timeout: float) -> InstalledFile:
    data = source.read_bytes()
    target = f"{directory}/{source.name}"
    expected = posix_cksum(data)
    hex_lines = [data[i : i + HEX_PER_LINE].hex() for i in range(0, len(data), HEX_PER_LINE)]
    got = ""
    for attempt in range(1, ATTEMPTS + 1):
        body = "\n".join(hex_lines)
        session.sendline(f"_ss_put {shlex.quote(target)} <<'_SS_EOF'\n{body}\n_SS_EOF")
        pattern = re.compile(rb"(\d+) (\d+) " + re.escape(target.encode()) + rb"\r?\n")
        status, output = _run(session, f"cksum {shlex.quote(target)}", timeout)
        found = pattern.search(output)
        got = found.group(1).decode() + " " + found.group(2).decode() if found else output.decode(errors="replace")
        if status == 0 and found and int(found.group(1)) == expected and int(found.group(2)) == len(data):
            return InstalledFile(target, len(data), expected, attempt)
        log.warning("%s: checksum on the board %r, expected '%d %d'; typing it again", target, got, expected, len(data))
    raise InstallError(
        f"{target}: the board's copy never matched after {ATTEMPTS} attempts "
        f"(cksum on the board: {got.strip()!r}, expected '{expected} {len(data)}')"
    )
