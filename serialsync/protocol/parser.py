"""MarkerParser: console bytes in, request events out. Sans-IO.

Feed it whatever the console produced, in chunks of any size, with
receive_data(); take events with next_event() or events(). Console text that
is not a marker costs one regex search and is then forgotten, so memory stays
bounded by ``max_marker_bytes`` however long the log or a line grows.
Nothing a board prints can make it raise: what it cannot use is reported as a
Discarded or DamagedRequest event and counted in ``stats``.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterator

from ..errors import LocalProtocolError
from . import wire
from .events import (
    DamagedRequest,
    Dialect,
    Discarded,
    Event,
    GroupRequest,
    LostStarts,
    RejectedRequest,
    ReplyReceived,
    ResendRequest,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitRequest,
)


class NEED_DATA:  # noqa: N801 - a sentinel, spelled like h11's
    """next_event() has nothing until more bytes arrive."""


DEFAULT_MAX_MARKER_BYTES = 64 * 1024

_PREFIX_RE = re.compile(re.escape(wire.LAVA_PREFIX) + b"|" + re.escape(wire.SS_PREFIX))
_LONGEST_PREFIX = max(len(wire.LAVA_PREFIX), len(wire.SS_PREFIX))
_END_RE = re.compile(rb"[>\r\n]")
_PRINTABLE_RE = re.compile(rb"[\x21-\x7e]+(?: [\x21-\x7e]+)*\Z")


def _partial_prefix_at(buf: bytes | bytearray) -> int:
    """Where the tail of buf may still grow into a marker prefix; -1 if nowhere.

    The earliest '<' near the end counts ("<LAVA_MULTI_NODE> <" holds two
    candidates; the first one matters).
    """
    start = buf.find(b"<", max(0, len(buf) - _LONGEST_PREFIX + 1))
    while start >= 0:
        tail = bytes(buf[start:])
        if wire.LAVA_PREFIX.startswith(tail) or wire.SS_PREFIX.startswith(tail):
            return start
        start = buf.find(b"<", start + 1)
    return -1


# Terminal escapes (colours, a line editor's cursor moves and queries) carry no
# marker bytes; they are removed before the scan so they cannot break one.
_ESCAPE_RE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_ESCAPE_OPEN_RE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*)?\Z")  # cut off by the end of a read
MAX_ESCAPE = 64  # longer than any real sequence: past this an ESC is just a byte

_WINDOW = len(wire.SS_PREFIX)  # "<SERIALSYNC1 "
# Two pieces of a serialsync marker's start that do not overlap: one byte lost,
# changed or added anywhere in the start leaves at least one of them whole. The
# space after them is left out: a byte added there and one in "SERIAL" (a
# stress run saw it) must not hide the start.
_FRAGMENTS = ((wire.SS_PREFIX[1:7], 1), (wire.SS_PREFIX[7:12], 7))  # (b"SERIAL", 1), (b"SYNC1", 7)
_ECHO_START = wire.SS_REPLY_PREFIX  # "#SERIALSYNC1 ": a reply typed in, echoed back
# Either piece, in one pass: factored on their common first byte, sre searches
# for it at memchr speed (twice as fast as two substring tests; benchmarks/scan).
_FIRST = _FRAGMENTS[0][0][:1]
assert _FRAGMENTS[1][0].startswith(_FIRST)
_PIECE_RE = re.compile(_FIRST + b"(?:" + b"|".join(re.escape(piece[1:]) for piece, _ in _FRAGMENTS) + b")")
# The words after a start, "TOKEN OP ": a third piece, apart from the start. A
# console read a few bytes at a time can get two kernel lines printed into the
# 13 bytes of "<SERIALSYNC1 " (seen on an emulated UART: "<SER[...]\r\nIALS[...]
# \r\nYNC1 tok SYNC r5 ..."), which leaves neither piece of the start whole.
_OPS = (wire.OP_SEND, wire.OP_SYNC, wire.OP_WAIT_ALL, wire.OP_WAIT, wire.OP_GROUP, wire.OP_RESEND, wire.OP_DONE)
# Tokens as the helpers make them, BOOT.PID: from the '.' on (a literal, searched at
# memchr speed), so that a log line saying "job DONE " is not taken for a marker.
_OP_RE = re.compile(rb"\.[0-9]{1,10} (?:S(?:END|YNC)|WAIT(?:_ALL)?|GROUP|RESEND|DONE) ")
assert all(_OP_RE.fullmatch(b".1 " + op.encode() + b" ") for op in _OPS)
_OP_WORD = max(len(op) for op in _OPS) + 13  # ".PID WAIT_ALL "
_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")
_MAX_TOKEN = 40
_MAX_INSIDE = 64 * 1024  # a piece this far behind an intact start is not in its marker any more
_OP_KEEP = 2 * _WINDOW + _MAX_TOKEN + _OP_WORD  # the seam: a start, a token and its op word, cut anywhere


class _LostStarts:
    """Finds serialsync markers whose start was damaged, so the main scan never saw them.

    Without this, a helper whose marker lost a byte of "<SERIALSYNC1 " waits
    for ever. It looks at every byte, keeps a short tail across reads, and
    handles each place once, so how the stream was cut does not matter.
    """

    __slots__ = (
        "_done",
        "_last_before",
        "_last_gt",
        "_last_intact",
        "_op_start",
        "_op_tail",
        "_start",
        "_tail",
        "found",
        "pieces",
    )

    def __init__(self) -> None:
        self._tail = b""
        self._start = 0  # stream offset of _tail[0]
        self._done = -_WINDOW  # stream offset of the last start looked at
        self.found = 0
        # For _LostTails: offsets of the pieces of starts (damaged or not) found in
        # the current read, and the last one found before it. Bounded by the read.
        self.pieces: list[int] = []
        self._last_before = -1
        # For the "TOKEN OP " pieces: the last bytes of the stream, where they start,
        # and where the last '>' (the end of the marker before) was.
        self._op_tail = b""
        self._op_start = 0
        self._last_gt = -1
        self._last_intact = -_MAX_INSIDE - 1  # stream offset of the last intact "<SERIALSYNC1 "

    def piece_between(self, low: int, high: int) -> bool:
        """Was a piece of a start seen at a stream offset strictly between low and high?"""
        if low < self._last_before < high:
            return True
        return any(low < piece < high for piece in self.pieces)

    def scan(self, data: bytes) -> bool:
        """Returns False when data holds no piece of a start (so no serialsync marker starts in it)."""
        if self.pieces:
            self._last_before = max(self._last_before, *self.pieces)
            self.pieces = []
        # Almost every read holds neither piece, not even across the seam with
        # the last read: then only the kept tail moves on. This costs one
        # search a read, about as much as the marker scan itself
        # (benchmarks/scan): the price of never leaving a helper waiting. A
        # piece across the seam starts with an "S" in the kept tail.
        if _PIECE_RE.search(data) is None and (
            b"S" not in (edge := self._tail[-_WINDOW:]) or _PIECE_RE.search(edge + data[:_WINDOW]) is None
        ):
            self._keep(data)
            self._scan_ops(data)
            return False
        # Search the new bytes where they are (no copy of a large read); only the
        # seam with the kept tail is joined, so pieces cut by a read are found.
        seam = self._tail + data[: 2 * _WINDOW]
        pieces = (seam, self._start), (data, self._start + len(self._tail))
        hits: list[tuple[int, bytes, int]] = []  # (stream offset of the start, bytes, index there)
        for buf, origin in pieces:
            for fragment, offset in _FRAGMENTS:
                at = buf.find(fragment)
                while at >= 0:
                    hits.append((origin + at - offset, buf, at - offset))
                    self.pieces.append(origin + at)
                    at = buf.find(fragment, at + 1)
        for where, buf, start in sorted(hits, key=lambda hit: hit[0]):
            if start + _WINDOW > len(buf) or where < self._done + _WINDOW:
                continue  # not all there yet (the tail scans it again), or seen
            self._done = where
            seen = buf[max(start, 0) : start + _WINDOW]
            if seen == wire.SS_PREFIX:
                self._last_intact = where
            elif seen != _ECHO_START and not self._inside_marker(where, buf, start):
                self.found += 1
        self._keep(data)
        self._scan_ops(data)
        return True

    def _inside_marker(self, where: int, buf: bytes, start: int) -> bool:
        """Is the piece at stream offset `where` inside a marker whose start was intact (a value "SERIAL...")?"""
        if where - self._last_intact > _MAX_INSIDE:
            return False
        gt = buf.rfind(b">", 0, max(start, 0))
        last_end = where - start + gt if gt >= 0 else self._last_gt
        return self._last_intact > last_end

    def _scan_ops(self, data: bytes) -> None:
        """Markers whose start is gone but whose "TOKEN OP " words arrived.

        Such words right behind an intact "<SERIALSYNC1 " are the parser's. Behind
        "#SERIALSYNC1 " they are a marker whose '<' was hit (a reply has "I/N" there,
        never an operation). Anywhere else they are a lost start, unless a piece of a
        start came since the '>' before them: that start was reported already.
        """
        tail = self._op_tail
        # The seam with the last read (words cut by it); the rest of a large read where it is.
        seam = tail + data[: 2 * _OP_KEEP]
        whole = len(data) <= 2 * _OP_KEEP
        self._ops_in(seam, self._op_start, len(tail), None if whole else len(tail) + _OP_KEEP)
        if not whole:
            self._ops_in(data, self._op_start + len(tail), _OP_KEEP, None, first=_OP_KEEP)
        gt = data.rfind(b">")
        if gt >= 0:
            self._last_gt = self._op_start + len(tail) + gt
        joined = tail + data if len(data) < _OP_KEEP else data
        keep = min(len(joined), _OP_KEEP)
        self._op_start += len(tail) + len(data) - keep
        self._op_tail = joined[len(joined) - keep :]

    def _ops_in(self, buf: bytes, origin: int, after: int, before: int | None, first: int = 0) -> None:
        """Op words in buf (stream offset origin) that end past ``after`` and start before ``before``."""
        for match in _OP_RE.finditer(buf, max(first, after - _OP_WORD)):
            if match.end() <= after:
                continue
            if before is not None and match.start() >= before:
                break
            at = buf.index(b" ", match.start())  # the space between token and operation
            begin = at
            while begin > 0 and at - begin <= _MAX_TOKEN and buf[begin - 1] in _TOKEN_BYTES:
                begin -= 1
            token = buf[begin:at]
            if not 0 < len(token) <= _MAX_TOKEN or token.startswith(b"."):
                continue  # a longer word, or no BOOT before the '.': not a token a helper makes
            where = origin + begin
            prefix = buf[max(0, begin - _WINDOW) : begin]
            gt = buf.rfind(b">", 0, begin)
            last_gt = origin + gt if gt >= 0 else self._last_gt
            if prefix != wire.SS_PREFIX and (prefix == _ECHO_START or not self.piece_between(last_gt, origin + at)):
                self.found += 1
            self.pieces.append(where)  # for _LostTails: this marker's start is accounted for

    def _keep(self, data: bytes) -> None:
        joined = self._tail + data if len(data) < 2 * _WINDOW else data
        keep = min(len(joined), 2 * _WINDOW)
        self._start += len(self._tail) + len(data) - keep
        self._tail = joined[len(joined) - keep :]


_HEX = frozenset(b"0123456789abcdef")
_TAIL = 10  # " " + 8 hex digits + ">"
_LAVA_HEAD = wire.LAVA_MULTI_NODE[:-1]  # "<LAVA_MULTI_NODE", before its '>'
_LAVA_HEAD_LEN = len(_LAVA_HEAD)
assert _LAVA_HEAD.endswith(b"E")  # the one-byte test before the comparison


class _LostTails:
    """Finds serialsync markers whose whole start was lost, by their end.

    A marker ends with " CRC>" (8 lowercase hex digits). Such an end with no
    piece of a start since the previous end had its start destroyed: hit
    twice, or cut off by a kernel line printed into it (whose first half the
    parser reports damaged). Lines are not trusted: a line end can be lost
    too. The pieces of starts come from _LostStarts, which looks at every
    byte anyway, so a read without a '>' costs one byte search here.
    """

    __slots__ = ("_last_end", "_offset", "_starts", "_tail", "found")

    def __init__(self, starts: _LostStarts) -> None:
        self._starts = starts
        self._tail = b""  # the last bytes of the stream, for ends cut by a read
        self._offset = 0  # stream offset of the next read's first byte
        self._last_end = -1  # stream offset of the last marker end seen
        self.found = 0

    def scan(self, data: bytes, in_lava_marker: bool) -> bool:
        """``in_lava_marker``: a LAVA marker began in an earlier read and is still open.

        Returns whether data holds "<LAVA_MULTI_NODE>", where a LAVA marker may
        start: this loop visits every '>' anyway, so the parser's own search
        for a marker start can be skipped when neither this nor a piece of a
        serialsync start was seen.
        """
        lava_start = False
        joined = b""
        at = data.find(b">")
        while at >= 0:
            # Most '>' end no marker: the byte nine before it is not a space. Only a
            # candidate (or one near the read's start) joins the read to the kept tail.
            if at < _TAIL - 1 or data[at - 9] == 0x20:
                joined = joined or self._tail + data
                self._end(joined, len(self._tail) + at, in_lava_marker)
            if at >= _LAVA_HEAD_LEN and data[at - 1] == 0x45 and data[at - _LAVA_HEAD_LEN : at] == _LAVA_HEAD:
                lava_start = True
            at = data.find(b">", at + 1)
        self._offset += len(data)
        self._tail = data[-_TAIL:] if len(data) >= _TAIL else (self._tail + data)[-_TAIL:]
        return lava_start

    def _end(self, buf: bytes, at: int, in_lava_marker: bool) -> None:
        """The '>' at buf[at] (buf: the kept tail, then the read): a marker's end whose start was lost?"""
        if not (at >= _TAIL - 1 and buf[at - 9] == 0x20 and all(b in _HEX for b in buf[at - 8 : at])):
            return
        origin = self._offset - len(self._tail)
        end = origin + at
        since = max(self._last_end - origin, 0)
        # LAVA's marker ends with this very '>': look back to the '>' before it only,
        # so what a larger read holds does not change the answer.
        lava = b"LAVA_" in buf[max(since, buf.rfind(b">", since, at) + 1) : at]
        lava = lava or (in_lava_marker and since == 0)
        has_start = self._starts.piece_between(self._last_end, end)
        if not has_start and not lava:
            self.found += 1
        self._last_end = end


MAX_SAMPLES = 3  # examples kept per reason a marker was dropped for
SAMPLE_CHARS = 64


class MarkerParser:
    def __init__(self, max_marker_bytes: int = DEFAULT_MAX_MARKER_BYTES) -> None:
        if max_marker_bytes < 256:
            raise ValueError("max_marker_bytes must be at least 256")
        self.max_marker_bytes = max_marker_bytes
        # Counted by reason (a fixed set: bounded whatever arrives), with the first
        # few examples of what a reason was given for, each cut short.
        self.stats: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}
        self._buf = bytearray()
        self._dialect: Dialect | None = None  # set while inside a marker
        self._scanned = 0  # bytes of an open marker already searched for its end
        self._events: deque[Event] = deque()
        self._eof = False
        self._lost = _LostStarts()
        self._lost_tails = _LostTails(self._lost)
        self._lost_taken = 0
        self._escape = b""  # an escape sequence cut off by the end of the last read

    # --- input ---------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Add console bytes; b"" means the console closed (EOF)."""
        self._receive(data)
        total = self._lost.found + self._lost_tails.found
        if total > self._lost_taken:
            found, self._lost_taken = total - self._lost_taken, total
            self.stats["marker start damaged"] += found
            self._events.append(LostStarts(found))

    def _receive(self, data: bytes) -> None:
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if not data:
            self._eof = True
            if self._dialect is not None:
                self._discard("marker still open at EOF", len(self._buf))
                self._close_marker(len(self._buf))
            self._buf.clear()
            return
        if self._escape or b"\x1b" in data:
            data = self._strip_escapes(data)
            if not data:
                return
        maybe_serialsync = self._lost.scan(data)
        maybe_lava = self._lost_tails.scan(data, self._dialect is Dialect.LAVA)
        if self._dialect is None and not self._buf:
            # Between markers nothing is buffered: search the new bytes where they
            # are and copy only from where a marker starts or may start. Most reads
            # of a long log copy nothing (profiled: the copy was a fifth of the scan).
            # A start holds "SERIAL" or "<LAVA_MULTI_NODE>", which the detectors
            # above just looked for: without either, only a partial start at the end
            # of the read is possible.
            found = _PREFIX_RE.search(data) if maybe_serialsync or maybe_lava else None
            start = found.start() if found is not None else _partial_prefix_at(data)
            if start < 0:
                return
            self._buf += data[start:]
            if found is None:
                return
        else:
            self._buf += data
        self._parse()

    # --- output --------------------------------------------------------------
    def next_event(self) -> Event | type[NEED_DATA]:
        if self._events:
            return self._events.popleft()
        return NEED_DATA

    def events(self) -> Iterator[Event]:
        while self._events:
            yield self._events.popleft()

    def _strip_escapes(self, data: bytes) -> bytes:
        data = self._escape + data
        self._escape = b""
        open_ = _ESCAPE_OPEN_RE.search(data, max(0, len(data) - MAX_ESCAPE))
        if open_ is not None:
            data, self._escape = data[: open_.start()], data[open_.start() :]
        return _ESCAPE_RE.sub(b"", data)

    @property
    def buffered(self) -> int:
        """Bytes held for a marker that is not complete yet (bounded)."""
        return len(self._buf)

    # --- the scanner -----------------------------------------------------------
    def _parse(self) -> None:
        buf = self._buf
        while True:
            if self._dialect is None:
                m = _PREFIX_RE.search(buf)
                if m is None:
                    self._keep_partial_prefix()
                    return
                prefix = m.group()  # before del: the match slices the live buffer
                del buf[: m.start()]
                self._dialect = Dialect.LAVA if prefix == wire.LAVA_PREFIX else Dialect.SERIALSYNC
                self._scanned = len(prefix)
            end = _END_RE.search(buf, self._scanned)
            if end is None:
                if len(buf) > self.max_marker_bytes:
                    self._discard(f"marker longer than {self.max_marker_bytes} bytes", len(buf))
                    self._close_marker(1)  # rescan the rest: a real marker may start in it
                    continue
                self._scanned = len(buf)
                return
            stop = end.start()
            # A second marker starting inside this one means this one was cut off.
            # A serialsync marker holds no "<" at all, so any "<" cuts it: the rest is
            # scanned again from there, where a LAVA marker's "<LAVA_MULTI_NODE>" (whose
            # ">" ended this search) may begin.
            if self._dialect is Dialect.SERIALSYNC:
                restart_at = buf.find(b"<", 1, stop)
            else:
                found = _PREFIX_RE.search(buf, 1, stop)
                restart_at = -1 if found is None else found.start()
            if restart_at >= 0:
                self._broken("marker cut off by the start of another", restart_at)
                self._close_marker(restart_at)
                continue
            if buf[stop] != ord(">"):
                self._broken("marker broken by a line end", stop)
                self._close_marker(stop)
                continue
            if self._dialect is Dialect.LAVA:
                body = bytes(buf[len(wire.LAVA_PREFIX) : stop])  # b"SEND id k=v"
                self._close_marker(stop + 1)
                self._lava(body)
            else:
                body = bytes(buf[1:stop])  # b"SERIALSYNC1 TOKEN OP ... CRC"
                self._close_marker(stop + 1)
                self._serialsync(body)

    def _close_marker(self, upto: int) -> None:
        self._dialect = None
        self._scanned = 0
        del self._buf[:upto]

    def _keep_partial_prefix(self) -> None:
        start = _partial_prefix_at(self._buf)
        if start < 0:
            self._buf.clear()
        else:
            del self._buf[:start]

    def _discard(self, reason: str, size: int, *, detail: str = "") -> None:
        self.stats[reason] += 1
        if detail:
            examples = self.samples.setdefault(reason, [])
            if len(examples) < MAX_SAMPLES:
                examples.append(detail[:SAMPLE_CHARS])
            reason = f"{reason} {detail[:SAMPLE_CHARS]!r}"
        self._events.append(Discarded(reason, size))

    def _broken(self, reason: str, size: int) -> None:
        if self._dialect is Dialect.SERIALSYNC:
            # The helper is waiting and can print it again.
            self.stats[reason] += 1
            self._events.append(DamagedRequest(reason, size))
        else:
            self._discard(reason, size)

    # --- LAVA's markers ------------------------------------------------------------
    def _lava(self, body: bytes) -> None:
        words = body.split()
        if not words:
            self._discard("LAVA marker without a request name", len(body))
            return
        name = words[0].decode("ascii", "replace")
        args = words[1:]
        make = {
            wire.LAVA_SEND: self._lava_send,
            wire.LAVA_SYNC: self._lava_simple,
            wire.LAVA_WAIT: self._lava_simple,
            wire.LAVA_WAIT_ALL: self._lava_wait_all,
        }.get(name)
        if make is None:
            self._discard("unknown LAVA request", len(body), detail=name)
            return
        try:
            self._events.append(make(name, args))
        except ValueError as e:
            self.stats["rejected request"] += 1
            self._events.append(RejectedRequest(dialect=Dialect.LAVA, op=name, reason=str(e)))

    @staticmethod
    def _message_id(args: list[bytes], name: str) -> str:
        if not args:
            raise ValueError(f"LAVA_{name} without a message ID")
        return args[0].decode("ascii", "replace")

    def _lava_simple(self, name: str, args: list[bytes]) -> Event:
        message_id = self._message_id(args, name)
        if len(args) != 1:
            raise ValueError(f"LAVA_{name} takes one message ID, got {len(args)} words")
        cls = SyncRequest if name == wire.LAVA_SYNC else WaitRequest
        return cls(dialect=Dialect.LAVA, message_id=message_id)

    def _lava_wait_all(self, name: str, args: list[bytes]) -> Event:
        message_id = self._message_id(args, name)
        if len(args) > 2:
            raise ValueError(f"LAVA_WAIT_ALL takes a message ID and an optional role, got {len(args)} words")
        role = args[1].decode("ascii", "replace") if len(args) == 2 else None
        return WaitAllRequest(dialect=Dialect.LAVA, message_id=message_id, role=role)

    def _lava_send(self, name: str, args: list[bytes]) -> Event:
        message_id = self._message_id(args, name)
        pairs: list[list] = []
        for word in args[1:]:
            key, eq, value = word.partition(b"=")
            if eq and wire.KEY_RE.match(key.decode("ascii", "replace")):
                pairs.append([key.decode("ascii"), value])
            elif pairs:
                # LAVA's helper joins the words of a quoted value with single spaces.
                pairs[-1][1] += b" " + word
            else:
                raise ValueError(f"LAVA_SEND data must be key=value with key matching \\w+, got {word!r}")
        return SendRequest(dialect=Dialect.LAVA, message_id=message_id, data=tuple((k, v) for k, v in pairs))

    # --- serialsync's markers -------------------------------------------------------
    def _serialsync(self, body: bytes) -> None:
        # body: b"SERIALSYNC1 TOKEN OP ARGS... CRC"
        if not _PRINTABLE_RE.match(body):
            self._broken_ss("marker holds bytes outside its alphabet", len(body))
            return
        head, _, crc = body.rpartition(b" ")
        if wire.checksum(head) != crc:
            self._broken_ss("marker checksum mismatch", len(body))
            return
        fields = head.decode("ascii").split(" ")
        if len(fields) < 3 or not wire.TOKEN_RE.match(fields[1]):
            self._broken_ss("marker without a valid token and operation", len(body))
            return
        token, op, args = fields[1], fields[2], fields[3:]
        try:
            self._events.append(self._ss_request(token, op, args))
        except ValueError as e:
            self.stats["rejected request"] += 1
            self._events.append(RejectedRequest(dialect=Dialect.SERIALSYNC, token=token, op=op, reason=str(e)))

    def _broken_ss(self, reason: str, size: int) -> None:
        self.stats[reason] += 1
        self._events.append(DamagedRequest(reason, size))

    @staticmethod
    def _ss_request(token: str, op: str, args: list[str]) -> Event:
        ss = Dialect.SERIALSYNC
        if op in (wire.OP_GROUP, wire.OP_RESEND, wire.OP_DONE):
            if args:
                raise ValueError(f"{op} takes no arguments")
            cls = {wire.OP_GROUP: GroupRequest, wire.OP_RESEND: ResendRequest, wire.OP_DONE: ReplyReceived}[op]
            return cls(dialect=ss, token=token)
        if op not in wire.SS_OPS:
            raise ValueError(f"unknown operation {op!r}")
        if not args:
            raise ValueError(f"{op} without a message ID")
        message_id, rest = args[0], args[1:]
        if op == wire.OP_SEND:
            data = []
            for item in rest:
                key, eq, value = item.partition("=")
                if not eq or not wire.KEY_RE.match(key):
                    raise ValueError(f"data must be key=value with key matching \\w+, got {key!r}")
                data.append((key, wire.decode_value(value.encode("ascii"))))
            return SendRequest(dialect=ss, token=token, message_id=message_id, data=tuple(data))
        if op == wire.OP_WAIT_ALL:
            if len(rest) > 1:
                raise ValueError("WAIT_ALL takes a message ID and an optional role")
            return WaitAllRequest(dialect=ss, token=token, message_id=message_id, role=rest[0] if rest else None)
        if rest:
            raise ValueError(f"{op} takes one message ID")
        cls = SyncRequest if op == wire.OP_SYNC else WaitRequest
        return cls(dialect=ss, token=token, message_id=message_id)
