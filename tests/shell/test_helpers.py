"""dut-scripts/ under busybox sh, dash and bash, in a real pty, against the real protocol code.

Each test types a command into an interactive shell (see conftest.Board);
the host side parses what the pty prints with MarkerParser and types back
encode_reply's bytes. Parametrised over the three shells by the
``installed`` fixture.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serialsync.protocol import (
    Ack,
    Dialect,
    GroupInfo,
    GroupRequest,
    Nack,
    ResendRequest,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitComplete,
    WaitRequest,
    encode_reply,
    wire,
)

MARKER_RE = re.compile(rb"<SERIALSYNC1 [^\r\n]*>")
TOKEN_RE = re.compile(r"[0-9A-Za-z]{1,8}\.[0-9]+\Z")

GROUP_TEXT = b"self dev2\nmember dev1 server\nmember dev2 client\nmember dev3 client\nmember dev4 backend\n"

# Values that break LAVA's own helpers, each a separate key.
NASTY = [
    b"",
    b"two words",
    b"  lead and trail  ",
    b"a>b<c",
    b"k=v=w",
    b"dev:key=value",
    b"'single' \"double\"",
    b"$(touch CANARY1)",
    b"`touch CANARY2`",
    b"; touch CANARY3 &&",
    b"| touch CANARY4",
    b"line1\nline2\n",
    b"tab\there",
    "é 日本".encode(),
    b"100% %41 %zz",
    b"back\\slash \\n",
    b"#SERIALSYNC1 RETRY",
    b"*?[a-z]~!",
]
CANARIES = ("CANARY1", "CANARY2", "CANARY3", "CANARY4")
# 5000 bytes: printable ASCII, UTF-8 and shell/tty specials; percent-encoded it fills many reply lines.
BIG = (bytes((i * 7) % 95 + 32 for i in range(4000)) + "é日本".encode() * 100 + b"\n\t$`'\"%>\\ " * 20)[:5000]
assert len(BIG) == 5000


def quote(value: bytes) -> bytes:
    """*value* as one single-quoted sh word."""
    return b"'" + value.replace(b"'", b"'\\''") + b"'"


def answer_with(reply):
    return lambda request: reply


def read(path: Path) -> bytes:
    return path.read_bytes()


def done_marker(token: str) -> bytes:
    """The marker a helper prints once it holds the whole, intact reply to *token*."""
    head = b"SERIALSYNC1 %s DONE" % token.encode()
    return b"<%s %s>" % (head, wire.checksum(head))


def assert_confirmed(result, *calls, max_line: int = 1000) -> None:
    """Each call, a (request, reply) pair, ended with exactly one DONE for its token.

    The DONE is the last marker the helper printed for its token (after its
    request, any reprint of it after a RETRY line and any RESEND), and every
    line of the reply, as typed undamaged, was echoed on the console in order
    between the marker before it and the DONE: no DONE before the whole good
    copy had arrived, and only one.
    """
    console = result.console
    assert result.confirmed == [request.token for request, _ in calls]
    for request, reply in calls:
        done = done_marker(request.token)
        assert console.count(done) == 1, console
        prefix = b"<SERIALSYNC1 %s " % request.token.encode()
        ours = [m for m in MARKER_RE.finditer(console) if m.group().startswith(prefix)]
        assert len(ours) >= 2 and ours[-1].group() == done, [m.group() for m in ours]
        at = ours[-2].end()  # the request (or the last RESEND) before it
        for line in encode_reply(request, reply, max_line=max_line).split(b"\n")[:-1]:
            at = console.find(line, at)
            assert at != -1, (line, console)
            at += len(line)
        assert at < ours[-1].start()


def decode_enc(data: bytes) -> list[tuple[str, str, bytes]]:
    """The .enc sidecar: one dev:key=ENCODED line per pair, decoded byte-exact."""
    out = []
    for line in data.split(b"\n")[:-1]:
        dev, _, rest = line.partition(b":")
        key, _, value = rest.partition(b"=")
        out.append((dev.decode(), key.decode(), wire.decode_value(value)))
    return out


# --- normal paths -------------------------------------------------------------------------------


def test_helpers_sync_prints_one_marker_and_exits_0_on_ok(board):
    result = board.run("lava-sync boot-done\n", answer_with(Ack()))
    assert result.rc == 0
    assert len(result.requests) == 1
    request = result.requests[0]
    assert isinstance(request, SyncRequest)
    assert request.message_id == "boot-done"
    assert TOKEN_RE.match(request.token)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text()[:8]
    assert request.token.split(".")[0] == boot
    marker, done = MARKER_RE.findall(result.console)  # the request, then DONE once the reply was in
    head, _, crc = marker[1:-1].rpartition(b" ")
    assert head == b"SERIALSYNC1 " + request.token.encode() + b" SYNC boot-done"
    assert wire.checksum(head) == crc
    assert done == done_marker(request.token)
    assert_confirmed(result, (request, Ack()))


def test_helpers_send_data_arrives_as_given(board):
    result = board.run("lava-send ipv4 ip=10.0.0.2 note='two words' empty=\n", answer_with(Ack()))
    assert result.rc == 0
    [request] = result.requests
    assert isinstance(request, SendRequest)
    assert request.message_id == "ipv4"
    assert request.data == (("ip", b"10.0.0.2"), ("note", b"two words"), ("empty", b""))
    assert_confirmed(result, (request, Ack()))


def test_helpers_send_without_data(board):
    result = board.run("lava-send ready\n", answer_with(Ack()))
    assert result.rc == 0
    [request] = result.requests
    assert (request.message_id, request.data) == ("ready", ())
    assert_confirmed(result, (request, Ack()))


def test_helpers_each_call_has_its_own_token(board):
    first = board.run("lava-sync a\n", answer_with(Ack()))
    second = board.run("lava-sync a\n", answer_with(Ack()))
    assert first.requests[0].token != second.requests[0].token
    assert_confirmed(first, (first.requests[0], Ack()))
    assert_confirmed(second, (second.requests[0], Ack()))


def test_helpers_wait_replaces_cache_and_enc_sidecar(board, tmp_path):
    cache = tmp_path / "cache.txt"
    cache.write_bytes(b"old:stale=1\n")
    (tmp_path / "cache.txt.enc").write_bytes(b"old:stale=1\n")
    reply = WaitComplete({"dev2": {"ip": b"10.0.0.2", "note": b"two words"}, "dev3": {"ip": b"10.0.0.3"}})
    result = board.run("lava-wait ipv4\n", answer_with(reply))
    assert result.rc == 0
    [request] = result.requests
    assert isinstance(request, WaitRequest) and request.message_id == "ipv4"
    assert read(cache) == b"dev2:ip=10.0.0.2\ndev2:note=two words\ndev3:ip=10.0.0.3\n"
    assert read(tmp_path / "cache.txt.enc") == b"dev2:ip=10.0.0.2\ndev2:note=two%20words\ndev3:ip=10.0.0.3\n"
    assert_confirmed(result, (request, reply))


def test_helpers_wait_all_with_and_without_role(board, tmp_path):
    reply = WaitComplete({"dev1": {"ready": b"yes"}, "dev3": {"ready": b"yes"}})
    result = board.run("lava-wait-all ready client\n", answer_with(reply))
    assert result.rc == 0
    [request] = result.requests
    assert isinstance(request, WaitAllRequest)
    assert (request.message_id, request.role) == ("ready", "client")
    assert read(tmp_path / "cache.txt") == b"dev1:ready=yes\ndev3:ready=yes\n"
    assert read(tmp_path / "cache.txt.enc") == b"dev1:ready=yes\ndev3:ready=yes\n"
    assert_confirmed(result, (request, reply))

    result = board.run("lava-wait-all done\n", answer_with(WaitComplete({})))
    assert result.rc == 0
    assert (result.requests[0].message_id, result.requests[0].role) == ("done", None)
    assert_confirmed(result, (result.requests[0], WaitComplete({})))
    assert read(tmp_path / "cache.txt") == b""  # replaced: no pairs
    assert read(tmp_path / "cache.txt.enc") == b""


def test_helpers_message_id_of_every_allowed_character(board):
    message_id = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "<=>")
    result = board.run(b"lava-sync " + quote(message_id.encode()) + b"\n", answer_with(Ack()))
    assert result.rc == 0
    assert result.requests[0].message_id == message_id
    assert_confirmed(result, (result.requests[0], Ack()))
    long_id = "x" * 128
    result = board.run(f"lava-wait {long_id}\n", answer_with(WaitComplete({})))
    assert result.rc == 0
    assert result.requests[0].message_id == long_id
    assert_confirmed(result, (result.requests[0], WaitComplete({})))


# --- nack, EOF, usage ------------------------------------------------------------------------------

REASON = "timed out: dev2, dev3 never sent 'x' (100%)"


@pytest.mark.parametrize("helper", ["lava-send", "lava-sync", "lava-wait", "lava-wait-all"])
def test_helpers_nack_exits_1_with_reason_on_stderr(board, tmp_path, helper):
    cache = tmp_path / "cache.txt"
    cache.write_bytes(b"keep\n")
    result = board.run(f"{helper} x 2>{tmp_path}/err\n", answer_with(Nack(REASON)))
    assert result.rc == 1
    assert len(result.requests) == 1
    assert read(tmp_path / "err") == f"{helper}: {REASON}\n".encode()
    assert read(cache) == b"keep\n"  # a nack does not touch the cache
    assert not (tmp_path / "cache.txt.enc").exists()
    assert_confirmed(result, (result.requests[0], Nack(REASON)))  # a whole reply, if a nack


def test_helpers_console_closed_exits_1(board, tmp_path):
    result = board.run(f"lava-sync x </dev/null 2>{tmp_path}/err\n")
    assert result.rc == 1
    assert read(tmp_path / "err") == b"lava-sync: console closed before the reply arrived\n"
    assert result.confirmed == []  # no reply, no DONE
    assert b" DONE " not in result.console


USAGE_ERRORS = [
    ("lava-sync", "wrong number of arguments"),
    ("lava-sync a b", "wrong number of arguments"),
    ("lava-sync ''", "empty message ID"),
    ("lava-sync 'a b'", "printable ASCII without spaces"),
    ("lava-sync a=b", "must not contain <, = or >"),
    ("lava-sync '<a'", "must not contain <, = or >"),
    ("lava-sync 'a>'", "must not contain <, = or >"),
    ("lava-sync 'é'", "printable ASCII without spaces"),
    ("lava-sync " + "x" * 129, "longer than 128"),
    ("lava-send", "missing message ID"),
    ("lava-send id novalue", "data must be key=value"),
    ("lava-send id bad-key=1", "key must be letters, digits or _"),
    ("lava-send id =v", "key must be letters, digits or _"),
    ("lava-send id 'k y=v'", "key must be letters, digits or _"),
    ("lava-send 'a b' k=v", "printable ASCII without spaces"),
    ("lava-wait", "wrong number of arguments"),
    ("lava-wait a b", "wrong number of arguments"),
    ("lava-wait-all", "wrong number of arguments"),
    ("lava-wait-all id 'bad role'", "role must be"),
    ("lava-wait-all id r extra", "wrong number of arguments"),
    ("lava-group a b", "wrong number of arguments"),
    ("lava-group 'no!'", "role must be"),
    ("lava-role lst", "unknown argument: lst"),
    ("lava-role list x", "wrong number of arguments"),
    ("lava-self me", "wrong number of arguments"),
]


def test_helpers_usage_errors_exit_2_without_a_marker(board, tmp_path):
    script = "".join(
        f"{cmd} 2>{tmp_path}/err{i}; printf '%s\\n' \"$?\" >{tmp_path}/rc{i}\n"
        for i, (cmd, _) in enumerate(USAGE_ERRORS)
    )
    result = board.run(script)
    assert result.requests == []
    assert result.confirmed == []
    assert MARKER_RE.search(result.console) is None
    for i, (cmd, what) in enumerate(USAGE_ERRORS):
        helper = cmd.split()[0]
        err = read(tmp_path / f"err{i}").decode()
        assert read(tmp_path / f"rc{i}") == b"2\n", (cmd, err)
        assert err.startswith(f"{helper}: ") and what in err, (cmd, err)
        assert err.splitlines()[-1].startswith(f"usage: {helper}"), (cmd, err)


# --- group identity ------------------------------------------------------------------------------------


def group_script(tmp_path: Path) -> str:
    cmds = ["lava-self", "lava-role", "lava-role list", "lava-group", "lava-group client", "lava-group server"]
    return (
        "".join(
            f"{cmd} >{tmp_path}/out{i} 2>{tmp_path}/err{i}; printf '%s\\n' \"$?\" >{tmp_path}/rc{i}\n"
            for i, cmd in enumerate(cmds)
        )
        + f"lava-group nosuch >{tmp_path}/out-bad 2>{tmp_path}/err-bad\n"
    )


def check_group_outputs(tmp_path: Path) -> None:
    expected = [
        b"dev2\n",
        b"client\n",
        b"server\nclient\nbackend\n",  # each role once, in order of first appearance
        b"dev1\tserver\ndev2\tclient\ndev3\tclient\ndev4\tbackend\n",
        b"dev2\ndev3\n",
        b"dev1\n",
    ]
    for i, out in enumerate(expected):
        assert read(tmp_path / f"out{i}") == out, i
        assert read(tmp_path / f"err{i}") == b"", i
        assert read(tmp_path / f"rc{i}") == b"0\n", i
    assert read(tmp_path / "out-bad") == b""
    assert read(tmp_path / "err-bad") == b"lava-group: no device in the group has role nosuch\n"


def test_helpers_group_role_self_read_the_group_file(board, tmp_path):
    (tmp_path / "group.txt").write_bytes(GROUP_TEXT)
    result = board.run(group_script(tmp_path))
    assert result.rc == 1  # lava-group nosuch
    assert result.requests == []  # the file is there: nothing asked over the console
    assert result.confirmed == []
    assert MARKER_RE.search(result.console) is None
    check_group_outputs(tmp_path)


def test_helpers_group_file_is_fetched_once_with_group_request(board, tmp_path):
    result = board.run(group_script(tmp_path), answer_with(GroupInfo(GROUP_TEXT)))
    assert result.rc == 1
    assert [type(r) for r in result.requests] == [GroupRequest]
    assert read(tmp_path / "group.txt") == GROUP_TEXT
    assert_confirmed(result, (result.requests[0], GroupInfo(GROUP_TEXT)))  # marker and DONE on /dev/tty
    check_group_outputs(tmp_path)  # stdout and stderr exactly as before: the helpers' own output only


@pytest.mark.parametrize("helper, expected", [("lava-self", b"dev2"), ("lava-role", b"client")])
def test_helpers_group_request_with_stdout_on_the_console(board, tmp_path, helper, expected):
    result = board.run(f"{helper}\n", answer_with(GroupInfo(GROUP_TEXT)))
    assert result.rc == 0
    [request] = result.requests
    assert isinstance(request, GroupRequest)
    assert_confirmed(result, (request, GroupInfo(GROUP_TEXT)))
    # stdout is the console: after the reply's echo come the DONE marker, then the answer, nothing else
    reply_end = result.console.rindex(b"#SERIALSYNC1 ")
    last_line = encode_reply(request, GroupInfo(GROUP_TEXT)).split(b"\n")[-2]
    assert result.console[reply_end:] == last_line + b"\r\n" + done_marker(request.token) + b"\r\n" + expected + b"\r\n"


def test_helpers_group_request_from_command_substitution(board, tmp_path):
    result = board.run(
        f"me=$(lava-self) && printf '%s\\n' \"$me\" >{tmp_path}/me\n", answer_with(GroupInfo(GROUP_TEXT))
    )
    assert result.rc == 0
    assert read(tmp_path / "me") == b"dev2\n"  # marker and DONE went to stderr, the console
    assert_confirmed(result, (result.requests[0], GroupInfo(GROUP_TEXT)))


def test_helpers_group_request_nack(board, tmp_path):
    result = board.run(f"lava-role list 2>{tmp_path}/err\n", answer_with(Nack("no group known for this board")))
    assert result.rc == 1
    assert read(tmp_path / "err") == b"lava-role: no group known for this board\n"
    assert not (tmp_path / "group.txt").exists()
    assert_confirmed(result, (result.requests[0], Nack("no group known for this board")))


def test_helpers_role_of_a_device_not_in_the_group(board, tmp_path):
    (tmp_path / "group.txt").write_bytes(b"self devX\nmember dev1 server\n")
    result = board.run(f"lava-role 2>{tmp_path}/err\n")
    assert result.rc == 1
    assert result.requests == [] and result.confirmed == []
    assert read(tmp_path / "err").startswith(b"lava-role: devX has no role")


# --- byte-exact round trips ------------------------------------------------------------------------


def test_helpers_send_nasty_values_byte_exact(board, tmp_path):
    args = b" ".join(quote(b"k%d=" % i + value) for i, value in enumerate(NASTY))
    result = board.run(b"lava-send nasty " + args + b"\nlava-send big big=" + quote(BIG) + b"\n", answer_with(Ack()))
    assert result.rc == 0
    first, second = result.requests
    assert first.data == tuple((f"k{i}", value) for i, value in enumerate(NASTY))
    assert second.data == (("big", BIG),)
    assert_confirmed(result, (first, Ack()), (second, Ack()))
    for canary in CANARIES:
        assert not (tmp_path / canary).exists()


def wait_nasty(board, tmp_path, *, mangle=None, script="lava-wait nasty\n"):
    data = {
        "dev1": {f"k{i}": value for i, value in enumerate(NASTY)},
        "dev2": {"ctl": bytes(range(1, 32)) + b"\x7f", "high": bytes(range(128, 256)), "big": BIG},
    }
    result = board.run(script, answer_with(WaitComplete(data)), max_line=200, mangle=mangle)
    assert result.rc == 0
    assert_confirmed(result, (result.requests[0], WaitComplete(data)), max_line=200)
    pairs = [(dev, key, value) for dev, items in data.items() for key, value in items.items()]
    assert decode_enc(read(tmp_path / "cache.txt.enc")) == pairs
    assert read(tmp_path / "cache.txt") == b"".join(b"%s:%s=%s\n" % (d.encode(), k.encode(), v) for d, k, v in pairs)
    for canary in CANARIES:
        assert not (tmp_path / canary).exists()  # the helper executed nothing it received
    return result


def test_helpers_wait_nasty_values_byte_exact_in_many_parts(board, tmp_path):
    result = wait_nasty(board, tmp_path)
    token = result.requests[0].token
    parts = re.findall(rb"#SERIALSYNC1 %s (\d+)/(\d+) " % re.escape(token.encode()), result.console)
    assert len(parts) >= 50  # 5000+ bytes at 200 bytes a line
    assert parts[-1][0] == parts[-1][1]


def flip(line_no: int, pos: int):
    """Damage one byte of the typed reply: line *line_no* (0-based, -1 last), byte *pos* (-2: last of chunk)."""

    def mangle(data: bytes) -> bytes:
        lines = data.split(b"\n")[:-1]
        line = bytearray(lines[line_no])
        line[pos] ^= 0x01
        lines[line_no] = bytes(line)
        return b"\n".join(lines) + b"\n"

    return mangle


def drop(line_no: int):
    def mangle(data: bytes) -> bytes:
        lines = data.split(b"\n")[:-1]
        del lines[line_no]
        return b"\n".join(lines) + b"\n"

    return mangle


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(flip(5, -1), id="chunk-of-part-6"),
        pytest.param(flip(0, len(b"#SERIALSYNC1 ") + 2), id="token-of-part-1"),
        pytest.param(flip(2, -10), id="part-3-before-its-end"),
        pytest.param(flip(-1, -1), id="last-part"),
        pytest.param(flip(3, 3), id="prefix-of-part-4"),
        pytest.param(drop(7), id="part-8-lost"),
    ],
)
def test_helpers_damaged_reply_part_is_asked_again(board, tmp_path, mangle):
    result = wait_nasty(board, tmp_path, mangle=mangle)
    wait, *others = result.requests
    assert others and all(isinstance(r, ResendRequest) and r.token == wait.token for r in others)
    markers = MARKER_RE.findall(result.console)
    assert markers[1] == b"<SERIALSYNC1 %s RESEND %s>" % (
        wait.token.encode(),
        wire.checksum(b"SERIALSYNC1 %s RESEND" % wait.token.encode()),
    )
    # the damaged copy got no DONE: only the good copy typed after the last RESEND did (wait_nasty)
    assert markers[-1] == done_marker(wait.token)
    assert set(markers[1:-1]) == {markers[1]}


def test_helpers_ignore_other_lines_and_other_tokens(board, tmp_path):
    def noisy(data: bytes) -> bytes:
        other = encode_reply(
            WaitRequest(dialect=Dialect.SERIALSYNC, token="other.1", message_id="x"), Nack("not yours")
        )
        return b"random text\n#comment\n" + other + b"[  12.3] kernel: hello\nSERIALSYNC1 RETRY\n" + data

    result = board.run("lava-wait w\n", answer_with(WaitComplete({"d": {"k": b"v"}})), mangle=noisy)
    assert result.rc == 0
    assert len(result.requests) == 1
    assert read(tmp_path / "cache.txt") == b"d:k=v\n"
    assert_confirmed(result, (result.requests[0], WaitComplete({"d": {"k": b"v"}})))  # only its own token


def test_helpers_crlf_reply_lines_with_icrnl_off(board, tmp_path):
    crlf = lambda data: data.replace(b"\n", b"\r\n")  # noqa: E731
    script = "stty -icrnl\nlava-wait w\nrc=$?\nstty icrnl\n(exit $rc)\n"
    result = board.run(script, answer_with(WaitComplete({"d": {"k": b"a b"}})), mangle=crlf)
    assert result.rc == 0
    assert read(tmp_path / "cache.txt") == b"d:k=a b\n"
    assert_confirmed(result, (result.requests[0], WaitComplete({"d": {"k": b"a b"}})))


def test_helpers_retry_line_prints_the_same_marker_again(board):
    seen = []

    def answer(request):
        seen.append(request)
        if len(seen) == 1:
            board.type(wire.SS_RETRY_LINE)  # as if the host had received the marker damaged
            return None
        return Ack()

    result = board.run("lava-sync again\n", answer)
    assert result.rc == 0
    assert len(seen) == 2 and seen[0] == seen[1]
    markers = list(MARKER_RE.finditer(result.console))
    first, second, done = (m.group() for m in markers)
    assert first == second
    assert markers[0].end() < result.console.index(wire.SS_RETRY_LINE.rstrip(b"\n")) < markers[1].start()
    assert done == done_marker(seen[0].token)
    assert_confirmed(result, (seen[0], Ack()))


# --- inert when no helper reads -------------------------------------------------------------------


def test_helpers_reply_typed_at_the_prompt_is_inert(board, tmp_path):
    evil = {
        "d": {"a": b"$(touch %s/CANARY1)" % str(tmp_path).encode(), "b": b"`touch %s/CANARY2`" % str(tmp_path).encode()}
    }
    typed = encode_reply(WaitRequest(dialect=Dialect.SERIALSYNC, token="late.1", message_id="w"), WaitComplete(evil))
    typed += encode_reply(
        SyncRequest(dialect=Dialect.SERIALSYNC, token="late.2", message_id="s"),
        Nack(f"$(touch {tmp_path}/CANARY3); `touch {tmp_path}/CANARY4`"),
    )
    typed += wire.SS_RETRY_LINE
    board.type(typed)
    result = board.run("printf 'still here\\n'\n")
    assert result.rc == 0
    assert b"still here" in result.console
    assert result.requests == [] and result.confirmed == []  # nothing read the replies: no DONE
    assert MARKER_RE.search(result.console) is None
    for canary in CANARIES:
        assert not (tmp_path / canary).exists()
