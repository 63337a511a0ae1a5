"""MarkerParser against real bytes: whole, byte by byte, and in random chunks."""

from __future__ import annotations

import random

import pytest

from serialsync.protocol import (
    NEED_DATA,
    DamagedRequest,
    Dialect,
    Discarded,
    LostStarts,
    MarkerParser,
    RejectedRequest,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitRequest,
    wire,
)

LAVA = Dialect.LAVA
SS = Dialect.SERIALSYNC


def ss_marker(token: str, op: str, *args: str) -> bytes:
    head = " ".join([wire.SS_MAGIC.decode(), token, op, *args]).encode()
    return b"<" + head + b" " + wire.checksum(head) + b">"


def lava_marker(body: str) -> bytes:
    return wire.LAVA_PREFIX + body.encode() + b">"


def parse(stream: bytes, **kw) -> tuple[list, MarkerParser]:
    """Feed whole, byte by byte and in seeded random chunks; all must agree."""
    results = []
    for chunking in ("whole", "bytes", *(f"seed{s}" for s in range(3))):
        parser = MarkerParser(**kw)
        if chunking == "whole":
            chunks = [stream]
        elif chunking == "bytes":
            chunks = [stream[i : i + 1] for i in range(len(stream))]
        else:
            rng = random.Random(chunking)
            chunks, i = [], 0
            while i < len(stream):
                n = rng.randint(1, 40)
                chunks.append(stream[i : i + n])
                i += n
        events = []
        for chunk in chunks:
            parser.receive_data(chunk)
            # Lost starts follow the read that revealed them: their place depends on the cuts.
            events.extend(e for e in parser.events() if not isinstance(e, LostStarts))
        results.append((chunking, events, parser))
    first = results[0][1]
    for chunking, events, _ in results[1:]:
        assert events == first, f"chunking {chunking} gave other events"
    return first, results[0][2]


def test_parser_accepts_lava_helper_markers_exactly():
    stream = (
        b"+ lava-send ready\r\n"
        + lava_marker("SEND ready")
        + b"\r\n"
        + lava_marker("SEND ipv4 ipaddr=10.0.0.2 note=two words here k=a=b")
        + b"\r\n[   12.345678] "
        + lava_marker("SYNC start")
        + b"\r\n"
        + lava_marker("WAIT ipv4")
        + b"\r\n"
        + lava_marker("WAIT_ALL ready")
        + b"\r\n"
        + lava_marker("WAIT_ALL ready client")
        + b"\r\n"
    )
    events, parser = parse(stream)
    assert events == [
        SendRequest(dialect=LAVA, message_id="ready"),
        SendRequest(
            dialect=LAVA,
            message_id="ipv4",
            data=(("ipaddr", b"10.0.0.2"), ("note", b"two words here"), ("k", b"a=b")),
        ),
        SyncRequest(dialect=LAVA, message_id="start"),
        WaitRequest(dialect=LAVA, message_id="ipv4"),
        WaitAllRequest(dialect=LAVA, message_id="ready"),
        WaitAllRequest(dialect=LAVA, message_id="ready", role="client"),
    ]
    assert not parser.stats


def test_parser_serialsync_marker_carries_any_value_bytes():
    nasty = [b"a b", b">", b"=:", b"'\"", b"$(reboot)", b"`id`", b";", b"x\ny\r\n", "é日本".encode(), b"%", b""]
    args = [f"k{i}={wire.encode_value(v)}" for i, v in enumerate(nasty)]
    events, _ = parse(b"noise " + ss_marker("ab12.99", "SEND", "msg", *args) + b"\r\n")
    assert events == [
        SendRequest(
            dialect=SS, token="ab12.99", message_id="msg", data=tuple((f"k{i}", v) for i, v in enumerate(nasty))
        )
    ]


def test_parser_serialsync_requests_of_every_kind():
    stream = b"".join(
        [
            ss_marker("t.1", "SYNC", "go"),
            ss_marker("t.2", "WAIT", "go"),
            ss_marker("t.3", "WAIT_ALL", "go"),
            ss_marker("t.4", "WAIT_ALL", "go", "client"),
        ]
    )
    events, _ = parse(stream)
    assert events == [
        SyncRequest(dialect=SS, token="t.1", message_id="go"),
        WaitRequest(dialect=SS, token="t.2", message_id="go"),
        WaitAllRequest(dialect=SS, token="t.3", message_id="go"),
        WaitAllRequest(dialect=SS, token="t.4", message_id="go", role="client"),
    ]


@pytest.mark.parametrize("damage", ["flip", "drop", "insert"])
def test_parser_damaged_serialsync_marker_is_never_acted_on(damage):
    good = ss_marker("t.7", "SEND", "msg", "k=value")
    for pos in range(1, len(good) - 1):
        if damage == "flip":
            bad = good[:pos] + bytes([good[pos] ^ 0x01]) + good[pos + 1 :]
        elif damage == "drop":
            bad = good[:pos] + good[pos + 1 :]
        else:
            bad = good[:pos] + b"Z" + good[pos:]
        parser = MarkerParser()
        parser.receive_data(bad + b"\r\n")
        events = list(parser.events())
        assert not any(isinstance(e, SendRequest) for e in events), bad


def test_parser_kernel_line_inside_marker_asks_for_retransmission():
    good = ss_marker("t.8", "SYNC", "go")
    torn = good[:20] + b"[   33.1] usb 1-1: new high-speed USB device\r\n" + good[20:]
    events, _ = parse(torn + b"\r\n" + good + b"\r\n")
    assert isinstance(events[0], DamagedRequest)
    assert events[-1] == SyncRequest(dialect=SS, token="t.8", message_id="go")
    assert sum(isinstance(e, SyncRequest) for e in events) == 1


def test_parser_lava_marker_starting_inside_an_unclosed_serialsync_marker_is_not_lost():
    """A serialsync marker cut short, then a LAVA helper's marker on the same line: both are answered."""
    cut = ss_marker("t.9", "SEND", "m", "k=v")[:25]
    events, _ = parse(cut + b" " + lava_marker("SEND x k=v") + b"\r\n")
    assert isinstance(events[0], DamagedRequest)  # its helper is asked to print it again
    assert events[1] == SendRequest(dialect=LAVA, message_id="x", data=(("k", b"v"),))
    assert len(events) == 2


def test_parser_stray_lt_inside_a_serialsync_marker_breaks_it_once():
    """A printk level ("<6>") spliced into a marker: damaged once, and the next marker is read."""
    good = ss_marker("t.10", "SYNC", "go")
    events, _ = parse(good[:22] + b"<6>" + good[22:] + b"\r\n" + good + b"\r\n")
    assert isinstance(events[0], DamagedRequest)
    assert events[-1] == SyncRequest(dialect=SS, token="t.10", message_id="go")
    assert sum(isinstance(e, (DamagedRequest, SyncRequest)) for e in events) == 2


def test_parser_invalid_but_intact_requests_are_rejected_with_reason():
    stream = (
        lava_marker("SYNC a b") + lava_marker("WAIT_ALL id role extra") + ss_marker("t.9", "SEND", "m", "bad-key=1")
    )
    events, _ = parse(stream)
    assert [type(e) for e in events] == [RejectedRequest] * 3
    assert events[0].op == "SYNC" and "one message ID" in events[0].reason
    assert events[2].token == "t.9" and "key" in events[2].reason


def test_parser_unknown_lava_request_is_counted():
    events, parser = parse(lava_marker("REBOOT now") + b"\n")
    assert events == [Discarded("unknown LAVA request 'REBOOT'", len(b"REBOOT now"))]
    assert parser.stats["unknown LAVA request"] == 1
    assert parser.samples == {"unknown LAVA request": ["REBOOT"]}


def test_parser_memory_stays_bounded_on_a_marker_that_never_closes():
    parser = MarkerParser(max_marker_bytes=4096)
    parser.receive_data(wire.LAVA_PREFIX + b"SEND x k=")
    peak = 0
    for _ in range(1000):
        parser.receive_data(b"A" * 1000)
        peak = max(peak, parser.buffered)
    assert peak <= 4096 + 1000
    events = list(parser.events())
    assert events and all(isinstance(e, Discarded) for e in events)
    # The parser still works afterwards.
    parser.receive_data(b"\n" + lava_marker("SYNC after") + b"\n")
    assert list(parser.events()) == [SyncRequest(dialect=LAVA, message_id="after")]


def test_parser_memory_stays_bounded_on_a_megabyte_line_without_markers():
    parser = MarkerParser()
    for _ in range(1024):
        parser.receive_data(b"x" * 1023 + b"<")
        assert parser.buffered <= 64
    assert list(parser.events()) == []


def test_parser_reports_marker_open_at_eof():
    parser = MarkerParser()
    parser.receive_data(wire.LAVA_PREFIX + b"SYNC nev")
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"")
    event = parser.next_event()
    assert isinstance(event, Discarded) and "EOF" in event.reason


def test_parser_random_garbage_never_raises_nor_invents_requests():
    rng = random.Random(1234)
    alphabet = b"<>LAVA_MULTI_NODE SERIALSYNC1 SEND SYNC=\r\n#%0123456789abcdef"
    for _ in range(300):
        blob = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        parser = MarkerParser()
        parser.receive_data(blob)
        parser.receive_data(b"")
        for event in parser.events():
            # A checksummed request cannot come out of random bytes.
            assert getattr(event, "dialect", None) is not SS


def lost_starts(stream: bytes, chunk: int) -> int:
    parser = MarkerParser()
    total = 0
    for i in range(0, len(stream), chunk):
        parser.receive_data(stream[i : i + chunk])
        total += sum(event.count for event in parser.events() if isinstance(event, LostStarts))
    return total


@pytest.mark.parametrize("damage", ["flip", "drop", "add"])
def test_parser_marker_with_a_damaged_start_is_still_noticed(damage):
    good = ss_marker("ab.12", "SYNC", "go")
    # A byte added before the "<" or after the space leaves the start whole.
    for pos in range(1, len(wire.SS_PREFIX)) if damage == "add" else range(len(wire.SS_PREFIX)):
        if damage == "flip":
            bad = good[:pos] + bytes([good[pos] ^ 0x04]) + good[pos + 1 :]
        elif damage == "drop":
            bad = good[:pos] + good[pos + 1 :]
        else:
            bad = good[:pos] + b"Z" + good[pos:]
        stream = b"noise\r\n" + bad + b"\r\nmore noise\r\n"
        for chunk in (1, 3, 7, 1000):
            parser_events, _ = parse(stream)
            assert not any(isinstance(e, SyncRequest) for e in parser_events)
            assert lost_starts(stream, chunk) == 1, (pos, chunk, bad)


def test_parser_marker_start_hit_in_both_halves_and_its_end_garbled_is_still_noticed():
    """Seen in a stress run: a byte added inside "SERIAL", one added after "SYNC1", and '>' changed."""
    good = ss_marker("fed0ba3a.22850", "SEND", "v6", "x=d0")
    bad = b"<SERIIALSYNC1Z" + good[len(wire.SS_PREFIX) - 1 : -1] + b"!"
    stream = b"board$ \r\n" + bad + b"\r\n"
    for chunk in (1, 5, 4096):
        assert lost_starts(stream, chunk) == 1, chunk


def test_parser_marker_whose_whole_start_was_destroyed_is_noticed_by_its_end():
    good = ss_marker("fed0ba3a.578", "SYNC", "r2")
    kernel = b"[ 7939.846740] random: crng init done\r\n"
    # Both pieces of the start hit, and a kernel line printed into the marker:
    # seen on a lossy console (CI), where the helper then waited for ever.
    torn = b"<SCRIALSYNC" + kernel + good[len(wire.SS_PREFIX) :]
    stream = b"board$ ls\r\n" + torn + b"\r\n"
    for chunk in (1, 4, 9, 4096):
        events, _ = parse(stream)
        assert not any(isinstance(e, SyncRequest) for e in events)
        assert lost_starts(stream, chunk) == 1, chunk


def test_parser_lost_start_is_noticed_even_when_the_line_end_before_it_was_hit():
    # Seen in a stress run: the previous marker's line end changed (LF -> VT), then
    # both pieces of the next start hit; the helper behind it waited for ever.
    done = ss_marker("fed0ba3a.21110", "DONE")
    send = ss_marker("fed0ba3a.21114", "SEND", "v5", "x=1")
    broken = send.replace(b"<SERIALSYNC1 ", b"<SRIALkYNC1 ")
    stream = done + b"\r\x0b" + broken + b"\r\n"
    for chunk in (1, 3, 4096):
        assert lost_starts(stream, chunk) == 1, chunk


def test_parser_marker_start_torn_by_two_kernel_lines_and_its_end_hit_is_noticed():
    """Seen on an emulated UART read a few bytes at a time (CI: a helper waited for ever).

    Two kernel lines printed into "<SERIALSYNC1 " leave neither piece of the start
    whole, and a digit of the checksum was lost: only "TOKEN OP " is left to see.
    """
    done = ss_marker("9781fa0b.991", "DONE")
    sync = ss_marker("9781fa0b.992", "SYNC", "r5")
    crc = sync[-11:-3]
    kernel = (b"[35414.404196] random: crng init done\r\n", b"[16683.368464] random: crng init done\r\n")
    torn = b"<SER" + kernel[0] + b"IALSY" + kernel[1] + b"NC1 9781fa0b.992 SYNC r5 " + crc[:5] + crc[6:] + b">\r\n"
    stream = done + torn + done
    for chunk in (1, 3, 7, 4096):
        events, _ = parse(stream)
        assert not any(isinstance(e, SyncRequest) for e in events)
        assert lost_starts(stream, chunk) == 1, chunk


def test_parser_marker_whose_lt_became_a_hash_is_noticed():
    # "#SERIALSYNC1 " is how an echoed reply starts, but a reply has "I/N" after its
    # token, never an operation: this is a request whose '<' was hit.
    sync = ss_marker("9781fa0b.992", "SYNC", "r5")
    stream = b"board# \r\n#" + sync[1:] + b"\r\n"
    for chunk in (1, 5, 4096):
        assert lost_starts(stream, chunk) == 1, chunk


def test_parser_words_of_intact_or_reported_markers_are_not_lost_starts():
    send = ss_marker("9781fa0b.7", "SEND", "v1", "x=1")
    torn = send[:30] + b"[ 7939.846740] random: crng init done\r\n" + send[30:]
    broken_start = send.replace(b"<SERIALSYNC1 ", b"<SERIALSYNX1 ")
    for stream, lost in ((send * 3, 0), (send + torn + send, 0), (send + broken_start + send, 1)):
        for chunk in (1, 4, 4096):
            assert lost_starts(stream, chunk) == lost, (stream, chunk)


def test_parser_marker_torn_by_a_kernel_line_is_reported_once():
    good = ss_marker("fed0ba3a.578", "SYNC", "r2")
    torn = good[:20] + b"[ 7939.846740] random: crng init done\r\n" + good[20:]
    stream = b"board$ ls\r\n" + good + b"\r\n" + torn + b"\r\n" + good + b"\r\n"
    for chunk in (1, 5, 4096):
        events, _ = parse(stream)
        assert sum(isinstance(e, DamagedRequest) for e in events) == 1
        # its second half is the damaged marker's, not a marker whose start was lost
        assert lost_starts(stream, chunk) == 0, chunk


def test_parser_lava_markers_and_text_ending_in_hex_are_not_lost_starts():
    # A LAVA message id can be 8 hex digits; LAVA's dialect has no retry line.
    stream = lava_marker("WAIT deadbeef") + b"\r\n" + b"<SERIALSYNC1 ab.1 WAIT deadbeef 0a1b2c3d>\r\n"
    stream += b"a long line " * 50 + ss_marker("ab.2", "SYNC", "go") + b"\r\n"
    for chunk in (1, 7, 4096):
        assert lost_starts(stream, chunk) == 0, chunk


def test_parser_intact_markers_and_echoed_replies_are_not_lost_starts():
    echo = b"#SERIALSYNC1 ab.12 1/1 0123abcd ok\r\n#SERIALSYNC1 RETRY\r\n"
    stream = (ss_marker("ab.12", "SYNC", "go") + b"\r\n" + echo) * 5 + lava_marker("SYNC x")
    for chunk in (1, 5, 13, 4096):
        assert lost_starts(stream, chunk) == 0
    # Many markers in one read: none of them may look like one whose start was lost.
    many = b"".join(ss_marker(f"ab.{i}", "SYNC", "go") + b"\r\n" + echo for i in range(60))
    for chunk in (1, 64, 4096, 65536):
        assert lost_starts(many, chunk) == 0, chunk


def test_parser_terminal_escapes_inside_markers_are_ignored():
    # colours around and inside a marker, a line editor's cursor query, a redraw
    ss = ss_marker("ab.3", "SYNC", "go")
    stream = (
        b"\x1b[1;32m"
        + lava_marker("SYNC x")[:10]
        + b"\x1b[0m"
        + lava_marker("SYNC x")[10:]
        + b"\r\nboard# \x1b[6n"
        + ss[:15]
        + b"\x1b[K"
        + ss[15:]
        + b"\r\n"
    )
    events, parser = parse(stream)
    assert events == [
        SyncRequest(dialect=LAVA, message_id="x"),
        SyncRequest(dialect=SS, token="ab.3", message_id="go"),
    ]
    assert not parser.stats


def test_parser_counts_stay_bounded_however_many_distinct_names_arrive():
    """20,000 garbled LAVA names (up to 64 KiB each) cost a counter and three samples, not a key each."""
    import random
    import tracemalloc

    rng = random.Random(11)
    parser = MarkerParser()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            name = bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_") for _ in range(rng.randint(1, 40))) * (i % 50 + 1)
            parser.receive_data(b"<LAVA_MULTI_NODE> <LAVA_" + name + b" x>\n")
            for _ in parser.events():
                pass
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert parser.stats["unknown LAVA request"] == 20_000 and len(parser.stats) == 1
    assert len(parser.samples["unknown LAVA request"]) == 3
    assert all(len(sample) <= 64 for sample in parser.samples["unknown LAVA request"])
    assert grown < 256 * 1024, f"the parser grew by {grown} bytes"


def test_parser_a_value_spelling_serialsync_is_no_lost_start():
    """A value holding "SERIAL" or "SYNC1" inside an intact marker must not make the host ask again."""
    send = ss_marker("5.77", "SEND", "msg", "port=SERIAL0", "name=XSYNC1Y")
    sync = ss_marker("5.78", "SYNC", "SERIALSYNC1")
    for chunk in (1, 3, 7, 4096):
        parser = MarkerParser()
        events = []
        stream = send + b"\r\n" + sync
        for i in range(0, len(stream), chunk):
            parser.receive_data(stream[i : i + chunk])
            events.extend(parser.events())
        assert [type(e) for e in events] == [SendRequest, SyncRequest], chunk
