"""serialsync.awk alone, over pipes, against the protocol code: property tests.

The pty tests (test_helpers.py) show the helpers work on a console; these
run the wire engine directly under mawk (Debian's awk) and busybox awk with
many generated values, chunkings and damages, which a pty would make slow.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import termios
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from serialsync.protocol import (
    Ack,
    Dialect,
    MarkerParser,
    Nack,
    ReplyReceived,
    ResendRequest,
    SendRequest,
    WaitComplete,
    WaitRequest,
    encode_reply,
    wire,
)

AWK = Path(__file__).resolve().parents[2] / "dut-scripts" / "serialsync.awk"
TOKEN = "fed0ba3a.4242"
AWKS = {"mawk": ["mawk"], "busybox": ["busybox", "awk"]}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Bytes the tty itself acts on rather than deliver (^C ^D ^S ^Z ^\): a damage
# turning into one is a signal, an end of input or stopped output, not a
# damaged line. (The line-editing ones, ^U ^W DEL ^V ..., are damaged lines.)
TTY_ACTS = {0x03, 0x04, 0x13, 0x1A, 0x1C}
keys = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
# Byte 0 cannot be in argv, nor in busybox awk's strings.
values = st.binary(max_size=300).filter(lambda v: b"\0" not in v)
names = st.from_regex(r"[A-Za-z0-9_.-]{1,10}", fullmatch=True)


@pytest.fixture(params=sorted(AWKS))
def awk(request) -> list[str]:
    argv = AWKS[request.param]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    return argv


def engine(awk: list[str], op_args: list[bytes], stdin: bytes, file: str = "") -> subprocess.CompletedProcess:
    argv = [*awk, "-f", str(AWK), "--", "lava-test", TOKEN, file, *op_args]
    env = dict(os.environ, LC_ALL="C")
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=30, check=False)


def requests(stdout: bytes) -> list:
    """Every event the host parses from what the engine printed, DONE included."""
    parser = MarkerParser()
    parser.receive_data(stdout)
    parser.receive_data(b"")
    return list(parser.events())


def marker(*fields: str) -> bytes:
    """The marker line the engine prints for TOKEN and *fields*: ``marker("DONE")`` once it holds its reply."""
    head = " ".join(["SERIALSYNC1", TOKEN, *fields]).encode()
    return b"<%s %s>\n" % (head, wire.checksum(head))


DONE = ReplyReceived(dialect=Dialect.SERIALSYNC, token=TOKEN)


@SETTINGS
@given(pairs=st.lists(st.tuples(keys, values), max_size=6))
def test_engine_send_values_arrive_byte_exact(awk, pairs):
    reply = encode_reply(SendRequest(dialect=Dialect.SERIALSYNC, token=TOKEN, message_id="m"), Ack())
    done = engine(awk, [b"SEND", b"m", *(k.encode() + b"=" + v for k, v in pairs)], reply)
    assert done.returncode == 0, done.stderr
    [request, confirmed] = requests(done.stdout)
    assert isinstance(request, SendRequest)
    assert request.token == TOKEN
    assert request.data == tuple(pairs)
    assert confirmed == DONE
    assert done.stdout == marker("SEND", "m", *(f"{k}={wire.encode_value(v)}" for k, v in pairs)) + marker("DONE")


@SETTINGS
@given(
    data=st.dictionaries(names, st.dictionaries(keys, values, min_size=1, max_size=4), max_size=4),
    max_line=st.integers(80, 400),
)
def test_engine_wait_reply_in_any_chunking_is_saved_byte_exact(awk, tmp_path, data, max_line):
    cache = tmp_path / "cache.txt"
    reply = encode_reply(WaitRequest(dialect=Dialect.SERIALSYNC, token=TOKEN, message_id="w"), WaitComplete(data))
    done = engine(awk, [b"WAIT", b"w"], b"echo noise\n" + reply, str(cache))
    assert done.returncode == 0, done.stderr
    assert done.stdout == marker("WAIT", "w") + marker("DONE")  # one DONE, after the request
    pairs = [(d, k, v) for d, items in data.items() for k, v in items.items()]
    assert cache.read_bytes() == b"".join(b"%s:%s=%s\n" % (d.encode(), k.encode(), v) for d, k, v in pairs)
    enc = b"".join(b"%s:%s=%s\n" % (d.encode(), k.encode(), wire.encode_value(v).encode()) for d, k, v in pairs)
    assert (tmp_path / "cache.txt.enc").read_bytes() == enc


END = b"#END\n"


def serve_tty(awk: list[str], op_args: list[bytes], first: bytes, reply: bytes, file: str) -> tuple[int, list, bytes]:
    """Run the engine as a host serves it: *first* typed, then *reply* again for every RESEND.

    stdin is a pty in canonical mode without echo, as on a console (mawk reads
    a pipe in blocks, a terminal line by line). One extra copy follows *first*
    at once, as a host retyping after a silence: a damaged line end leaves the
    helper waiting for the rest of its line.

    Returns the exit status, the events parsed from the engine's output and
    the bytes it read from the terminal before it exited: everything typed
    but what is still unread behind it, found by typing END once it is gone
    and reading the terminal up to END (a terminal in canonical mode hands a
    reader one line per read, so the engine read no further than the line
    its DONE answered).
    """
    argv = [*awk, "-f", str(AWK), "--", "lava-test", TOKEN, file, *op_args]
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    env = dict(os.environ, LC_ALL="C")
    proc = subprocess.Popen(argv, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    os.set_blocking(master, False)  # (not slave: the engine's stdin shares its file status flags)
    out = proc.stdout.fileno()
    parser, events, pending, typed = MarkerParser(), [], bytearray(first + reply), bytearray()
    deadline = time.monotonic() + 10
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                raise AssertionError(f"engine stuck; asked: {events}")
            readable, writable, _ = select.select([out], [master] if pending else [], [], remaining)
            if writable:
                try:
                    written = os.write(master, pending[:512])
                except BlockingIOError:
                    written = 0
                typed += pending[:written]
                del pending[:written]
            if readable:
                data = os.read(out, 65536)
                if not data:
                    break
                parser.receive_data(data)
                for event in parser.events():
                    events.append(event)
                    if isinstance(event, ResendRequest):
                        pending += reply
        rc = proc.wait(timeout=10)
        os.write(master, END)
        unread = bytearray()
        while not unread.endswith(END):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([slave], [], [], remaining)[0]:
                raise AssertionError(f"END not read back; unread: {bytes(unread)!r}")
            unread += os.read(slave, 65536)
        assert typed.endswith(unread[: -len(END)])
        return rc, events, bytes(typed[: len(typed) - len(unread) + len(END)])
    finally:
        os.close(slave)
        os.close(master)
        proc.stdout.close()
        proc.stderr.close()


@SETTINGS
@given(
    value=st.binary(min_size=200, max_size=1500).filter(lambda v: b"\0" not in v),
    where=st.floats(0, 1, exclude_max=True),
    xor=st.integers(1, 255),
)
def test_engine_any_single_byte_damage_is_caught_and_recovered(awk, tmp_path, value, where, xor):
    cache = tmp_path / "cache.txt"
    reply = encode_reply(
        WaitRequest(dialect=Dialect.SERIALSYNC, token=TOKEN, message_id="w"),
        WaitComplete({"d": {"k": value}}),
        max_line=120,
    )
    pos = int(where * len(reply))
    assume(reply[pos] ^ xor not in TTY_ACTS)
    damaged = reply[:pos] + bytes([reply[pos] ^ xor]) + reply[pos + 1 :]
    rc, events, read = serve_tty(awk, [b"WAIT", b"w"], damaged, reply, str(cache))
    assert rc == 0
    assert cache.read_bytes() == b"d:k=" + value + b"\n"  # never the damaged bytes
    assert isinstance(events[0], WaitRequest)
    assert all(isinstance(e, ResendRequest) and e.token == TOKEN for e in events[1:-1])
    assert events[-1] == DONE  # once, after every RESEND
    # ... and only once a good copy had arrived: the engine read the damaged copy and then
    # whole good copies, the last of them the one it took (with ICRNL, a line end
    # damaged into CR is no damage at all: the terminal delivers that copy intact).
    copies = (len(read) - len(damaged)) // len(reply)
    intact = damaged.replace(b"\r", b"\n") == reply
    assert read == damaged + reply * copies and (copies >= 1 or intact), (copies, read[len(damaged) :])


def test_engine_nack_reason_is_decoded(awk):
    reason = "gave up: dev2 said 'no' (50%)\tafter 3 tries"
    reply = encode_reply(SendRequest(dialect=Dialect.SERIALSYNC, token=TOKEN, message_id="m"), Nack(reason))
    done = engine(awk, [b"SYNC", b"m"], reply)
    assert done.returncode == 1
    assert done.stderr == f"lava-test: {reason}\n".encode()
    assert done.stdout == marker("SYNC", "m") + marker("DONE")  # a nack is a whole reply too


def test_engine_malformed_reply_body_is_refused_and_cache_kept(awk, tmp_path):
    cache = tmp_path / "cache.txt"
    cache.write_bytes(b"keep\n")
    for body in ("ok dev1:k=%zz", "ok dev1:bad-key=1", "ok nodevice", "maybe"):
        head = f"{TOKEN} 1/1"
        line = f"#SERIALSYNC1 {head} {wire.checksum(f'{head} {body}'.encode()).decode()} {body}\n"
        done = engine(awk, [b"WAIT", b"w"], line.encode(), str(cache))
        assert done.returncode == 1, body
        assert done.stderr.startswith(b"lava-test: "), body
        assert done.stdout == marker("WAIT", "w") + marker("DONE"), body  # intact, received, then refused
        assert cache.read_bytes() == b"keep\n"


def test_engine_refuses_a_marker_the_host_would_drop(awk):
    done = engine(awk, [b"SEND", b"m", b"k=" + b"\xff" * 30000], b"")
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.startswith(b"lava-test: data too long")
