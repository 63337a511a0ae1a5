"""Every spelling that travels on the console, in one place.

LAVA's spellings are verbatim (its helpers and dispatcher must interoperate
with ours); the SERIALSYNC1 spellings are this project's extension, specified
in docs/PROTOCOL.md. Nothing outside this module writes these literals.
"""

from __future__ import annotations

import re
import zlib

# --- LAVA's markers (board -> host) and replies (host -> board) -------------
LAVA_MULTI_NODE = b"<LAVA_MULTI_NODE>"
LAVA_PREFIX = LAVA_MULTI_NODE + b" <LAVA_"
LAVA_SEND = "SEND"
LAVA_SYNC = "SYNC"
LAVA_WAIT = "WAIT"
LAVA_WAIT_ALL = "WAIT_ALL"
LAVA_SYNC_COMPLETE = "LAVA_SYNC_COMPLETE"
LAVA_WAIT_COMPLETE = "LAVA_WAIT_COMPLETE"
LAVA_WAIT_ALL_COMPLETE = "LAVA_WAIT_ALL_COMPLETE"
LAVA_NACK = "nack"

# --- serialsync's extension ---------------------------------------------------
SS_MAGIC = b"SERIALSYNC1"
SS_PREFIX = b"<" + SS_MAGIC + b" "  # a request marker: <SERIALSYNC1 TOKEN OP ARGS... CRC>
SS_REPLY_PREFIX = b"#" + SS_MAGIC + b" "  # a reply line: #SERIALSYNC1 TOKEN I/N CRC CHUNK
SS_RETRY_LINE = b"#" + SS_MAGIC + b" RETRY\n"  # host -> board: "print your marker again"

OP_SEND = "SEND"
OP_SYNC = "SYNC"
OP_WAIT = "WAIT"
OP_WAIT_ALL = "WAIT_ALL"
OP_GROUP = "GROUP"
OP_RESEND = "RESEND"
OP_DONE = "DONE"
SS_OPS = frozenset({OP_SEND, OP_SYNC, OP_WAIT, OP_WAIT_ALL, OP_GROUP, OP_RESEND, OP_DONE})

STATUS_OK = "ok"
STATUS_NACK = "nack"

# --- identifiers: strictly validated ASCII ------------------------------------
MESSAGE_ID_RE = re.compile(r"[!-;?-~]{1,128}\Z")  # printable ASCII but "<", "=", ">"
KEY_RE = re.compile(r"[A-Za-z0-9_]{1,64}\Z")  # LAVA: keys match \w+
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")  # device names and roles
TOKEN_RE = re.compile(r"[A-Za-z0-9.]{1,40}\Z")

# --- value encoding: percent-escapes over a shell-inert alphabet ----------------
# Bytes in SAFE travel as themselves; every other byte as %XX. None of SAFE is
# special to a POSIX shell, a tty line discipline or the marker syntax.
SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/:@+,")
_ENCODE_TABLE = [chr(b) if b in SAFE else f"%{b:02X}" for b in range(256)]
_PCT_RE = re.compile(rb"%([0-9A-Fa-f]{2})")
_ENCODED_RE = re.compile(rb"(?:[A-Za-z0-9_.\-/:@+,]|%[0-9A-Fa-f]{2})*\Z")


def encode_value(value: bytes) -> str:
    return "".join([_ENCODE_TABLE[b] for b in value])


def decode_value(text: bytes) -> bytes:
    """Inverse of encode_value; ValueError if *text* is not a valid encoding."""
    if not _ENCODED_RE.match(text):
        raise ValueError("not a percent-encoded value")
    return _PCT_RE.sub(lambda m: bytes([int(m.group(1), 16)]), text)


def checksum(data: bytes) -> bytes:
    """Adler-32 as 8 lowercase hex digits: computable in POSIX awk with + and %."""
    return b"%08x" % (zlib.adler32(data) & 0xFFFFFFFF)


# --- the group file the host writes onto a board (docs/PROTOCOL.md section 3) -----
def group_file_text(self_device: str, members: list[tuple[str, str]]) -> bytes:
    """`self DEV` then `member DEV ROLE` lines: what lava-group/-role/-self read."""
    for name in [self_device, *(n for m in members for n in m)]:
        if not NAME_RE.match(name):
            raise ValueError(f"invalid device or role name {name!r}")
    lines = [f"self {self_device}"] + [f"member {device} {role}" for device, role in members]
    return ("\n".join(lines) + "\n").encode("ascii")
