"""Reply encoding: LAVA's exact forms, and serialsync's lines through the helper's model."""

from __future__ import annotations

import pytest

from serialsync.errors import RemoteProtocolError
from serialsync.protocol import (
    Ack,
    Dialect,
    GroupInfo,
    GroupRequest,
    Nack,
    RejectedRequest,
    ReplyAssembler,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitComplete,
    WaitRequest,
    encode_reply,
    wire,
)

LAVA = Dialect.LAVA
SS = Dialect.SERIALSYNC


def test_replies_lava_forms_are_what_lava_helpers_parse():
    sync = SyncRequest(dialect=LAVA, message_id="s")
    wait = WaitRequest(dialect=LAVA, message_id="w")
    wait_all = WaitAllRequest(dialect=LAVA, message_id="w", role="client")
    data = WaitComplete({"dev1": {"ip": b"10.0.0.1"}, "dev2": {"ip": b"10.0.0.2", "port": b"80"}})
    assert encode_reply(sync, Ack()) == b"<LAVA_SYNC_COMPLETE>\n"
    assert encode_reply(sync, Nack("timeout")) == b"<LAVA_SYNC_COMPLETE nack>\n"
    assert encode_reply(wait, data) == b"<LAVA_WAIT_COMPLETE dev1:ip=10.0.0.1 dev2:ip=10.0.0.2 dev2:port=80>\n"
    assert encode_reply(wait_all, data).startswith(b"<LAVA_WAIT_ALL_COMPLETE dev1:ip=10.0.0.1 ")
    assert encode_reply(wait_all, Nack("x")) == b"<LAVA_WAIT_ALL_COMPLETE nack>\n"
    # LAVA's lava-send reads no reply.
    assert encode_reply(SendRequest(dialect=LAVA, message_id="m"), Ack()) == b""
    assert encode_reply(RejectedRequest(dialect=LAVA, op="SEND", reason="bad"), Nack("bad")) == b""
    assert encode_reply(RejectedRequest(dialect=LAVA, op="WAIT", reason="bad"), Nack("bad")) == (
        b"<LAVA_WAIT_COMPLETE nack>\n"
    )


def test_replies_lava_form_never_types_control_bytes():
    wait = WaitRequest(dialect=LAVA, message_id="w")
    reply = encode_reply(wait, WaitComplete({"d": {"k": b"a\x03b\x04c>d\x15\n\\"}}))
    assert reply == b"<LAVA_WAIT_COMPLETE d:k=a\\x03b\\x04c\\x3ed\\x15\\x0a\\x5c>\n"
    assert all(b >= 0x20 for b in reply[:-1])


NASTY = [
    b"",
    b"a b",
    b">",
    b"=",
    b":",
    b"'\"",
    b"$(reboot)",
    b"`id`",
    b";",
    b"l1\nl2\r\n",
    "é日本".encode(),
    bytes(range(256)),
]


@pytest.mark.parametrize("max_line", [80, 200, 1000, 4095])
def test_replies_serialsync_round_trip_byte_exact(max_line):
    data = {"dev1": {f"k{i}": v for i, v in enumerate(NASTY)}, "dev2": {"big": bytes(range(256)) * 40}}
    request = WaitRequest(dialect=SS, token="abc.123", message_id="w")
    typed = encode_reply(request, WaitComplete(data), max_line=max_line)
    lines = typed.splitlines(keepends=True)
    assert all(len(line) <= max_line for line in lines)
    assembler = ReplyAssembler("abc.123")
    results = [assembler.feed(line) for line in lines]
    assert results[:-1] == [None] * (len(lines) - 1)
    assert results[-1] == WaitComplete(data)


def test_replies_serialsync_lines_are_shell_inert():
    request = WaitRequest(dialect=SS, token="abc.123", message_id="w")
    typed = encode_reply(request, WaitComplete({"d": {k: v for k, v in zip("abcdefghijkl", NASTY, strict=True)}}))
    allowed = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/:@+,%#= \n")
    assert set(typed) <= allowed
    assert all(line.startswith(b"#") for line in typed.splitlines())


def test_replies_serialsync_damaged_line_is_detected():
    request = SyncRequest(dialect=SS, token="t.1", message_id="s")
    line = encode_reply(request, Ack())
    assert ReplyAssembler("t.1", request_kind=SyncRequest).feed(line) == Ack()
    for pos in range(len(wire.SS_REPLY_PREFIX), len(line) - 1):
        bad = line[:pos] + bytes([line[pos] ^ 0x02]) + line[pos + 1 :]
        try:
            result = ReplyAssembler("t.1", request_kind=SyncRequest).feed(bad)
        except RemoteProtocolError:
            continue
        assert result is None  # changed token: not for this helper at all


def test_replies_serialsync_nack_and_group_info():
    nack = encode_reply(SyncRequest(dialect=SS, token="t.2", message_id="s"), Nack("timed out: dev2 never sent 's'"))
    assert ReplyAssembler("t.2").feed(nack) == Nack("timed out: dev2 never sent 's'")
    text = b"self dev1\nmember dev1 server\n"
    group = encode_reply(GroupRequest(dialect=SS, token="t.3"), GroupInfo(text))
    assert ReplyAssembler("t.3", request_kind=GroupRequest).feed(group) == GroupInfo(text)


def test_replies_assembler_recovers_like_the_helper_after_a_damaged_part():
    request = WaitRequest(dialect=SS, token="t.4", message_id="w")
    data = {"dev1": {"v": bytes(range(256)) * 4}}
    lines = encode_reply(request, WaitComplete(data), max_line=120).splitlines(keepends=True)
    assert len(lines) > 5
    assembler = ReplyAssembler("t.4")
    assert assembler.feed(lines[0]) is None and assembler.feed(lines[1]) is None
    damaged = lines[2][:30] + bytes([lines[2][30] ^ 1]) + lines[2][31:]
    with pytest.raises(RemoteProtocolError):
        assembler.feed(damaged)  # the helper prints RESEND here
    # the rest of the abandoned copy is skipped without asking again ...
    assert [assembler.feed(line) for line in lines[3:]] == [None] * (len(lines) - 3)
    # ... and the host's fresh copy is read whole
    replies = [assembler.feed(line) for line in lines]
    assert replies[-1] == WaitComplete(data)
