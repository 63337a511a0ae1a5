"""Properties of the protocol that must hold for any input (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from serialsync.protocol import (
    Dialect,
    LostStarts,
    MarkerParser,
    ReplyAssembler,
    SendRequest,
    WaitComplete,
    WaitRequest,
    encode_reply,
    wire,
)

FRAGMENTS = st.sampled_from(
    [wire.LAVA_PREFIX, wire.SS_PREFIX, b">", b"\r\n", b" ", b"SEND ", b"SYNC ", b"WAIT_ALL ", b"k=v", b"%2", b"<"]
)
STREAMS = st.lists(st.one_of(st.binary(max_size=40), FRAGMENTS), max_size=60).map(b"".join)


def _placed(events):
    return [event for event in events if not isinstance(event, LostStarts)]


@settings(max_examples=300, deadline=None)
@given(stream=STREAMS, cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=30))
def test_property_any_bytes_any_chunking_never_raise_and_agree(stream, cuts):
    whole = MarkerParser(max_marker_bytes=512)
    if stream:
        whole.receive_data(stream)
    whole.receive_data(b"")
    chunked = MarkerParser(max_marker_bytes=512)
    i = 0
    for n in [*cuts, len(stream)]:
        if stream[i : i + n]:  # b"" would mean EOF
            chunked.receive_data(stream[i : i + n])
            assert chunked.buffered <= 512 + 64
        i += n
    chunked.receive_data(b"")
    # Lost starts are reported after the read that revealed them: where depends on the cuts.
    assert _placed(whole.events()) == _placed(chunked.events())


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_]{1,10}", fullmatch=True), st.binary(max_size=300), min_size=1, max_size=5
    ),
    max_line=st.integers(min_value=80, max_value=4095),
)
def test_property_values_round_trip_both_ways(data, max_line):
    # board -> host: a serialsync SEND marker
    args = [f"{k}={wire.encode_value(v)}" for k, v in data.items()]
    head = " ".join([wire.SS_MAGIC.decode(), "t.1", "SEND", "msg", *args]).encode()
    parser = MarkerParser()
    parser.receive_data(b"<" + head + b" " + wire.checksum(head) + b">\r\n")
    (event,) = list(parser.events())
    assert isinstance(event, SendRequest) and dict(event.data) == data
    # host -> board: a WAIT reply, read the way the helper reads it
    typed = encode_reply(
        WaitRequest(dialect=Dialect.SERIALSYNC, token="t.2", message_id="msg"),
        WaitComplete({"dev1": data}),
        max_line=max_line,
    )
    assembler = ReplyAssembler("t.2")
    replies = [assembler.feed(line) for line in typed.splitlines(keepends=True)]
    assert all(len(line) <= max_line for line in typed.splitlines(keepends=True))
    assert replies[-1] == WaitComplete({"dev1": data})
