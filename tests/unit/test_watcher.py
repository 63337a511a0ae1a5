"""The watcher between a console and the coordinator, fed real marker bytes."""

from __future__ import annotations

import threading

from serialsync._time import Deadline
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.protocol import Ack, Nack, ReplyAssembler, SendRequest, SyncRequest, WaitComplete, WaitRequest, wire
from serialsync.protocol.events import GroupRequest
from serialsync.protocol.replies import GroupInfo
from serialsync.transports import MemoryTransport
from serialsync.watcher import Watcher


def marker(token: str, op: str, *args: str) -> bytes:
    head = " ".join([wire.SS_MAGIC.decode(), token, op, *args]).encode()
    return b"<" + head + b" " + wire.checksum(head) + b">\r\n"


def group(*names: str) -> MemoryCoordinator:
    return MemoryCoordinator([Member(device=n, role="server" if i == 0 else "client") for i, n in enumerate(names)])


def reply_for(board: MemoryTransport, token: str, kind=SyncRequest, timeout: float = 5.0):
    """Wait until the board was typed a complete reply for token; decode it as the helper would."""
    result = {}

    def complete(tx: bytes) -> bool:
        assembler = ReplyAssembler(token, request_kind=kind)
        for line in tx.splitlines(keepends=True):
            reply = assembler.feed(line)
            if reply is not None:
                result["reply"] = reply
                return True
        return False

    assert board.wait_written(complete, timeout), f"no reply for {token}; typed: {bytes(board.tx)!r}"
    return result["reply"]


def coordinator_data(watcher: Watcher, message_id: str):
    return watcher.coordinator.wait(watcher.device, message_id, Deadline.after(1))


def test_watcher_timed_out_wait_types_a_nack_naming_the_missing_devices():
    coordinator = group("dev1", "dev2", "dev3")
    board = MemoryTransport()
    watcher = Watcher("dev1", coordinator, board.write, call_timeout=0.2)
    watcher.feed(marker("t.1", "WAIT_ALL", "ready"))
    reply = reply_for(board, "t.1")
    assert isinstance(reply, Nack)
    assert "dev2" in reply.reason and "dev3" in reply.reason and "ready" in reply.reason
    assert watcher.wait_idle(5)
    assert [(c.api, c.message_id, c.ok) for c in watcher.calls] == [("lava-wait-all", "ready", False)]


def test_watcher_keeps_reading_while_a_call_is_pending():
    coordinator = group("dev1", "dev2")
    board = MemoryTransport()
    watcher = Watcher("dev1", coordinator, board.write, call_timeout=10, ack_timeout=60)
    watcher.feed(marker("t.1", "WAIT", "later"))
    assert watcher.pending() == 1
    # The same console keeps being serviced while the wait blocks.
    watcher.feed(marker("t.2", "SEND", "mine", "k=v"))
    assert reply_for(board, "t.2", kind=SendRequest) == Ack()
    assert watcher.pending() == 1
    coordinator.send("dev2", "later", {"x": b"1"})
    assert reply_for(board, "t.1", kind=WaitRequest) == WaitComplete({"dev2": {"x": b"1"}})
    assert watcher.wait_idle(5)


def test_watcher_retransmitted_request_is_served_once_and_answered_again():
    coordinator = group("dev1", "dev2")
    board = MemoryTransport()
    watcher = Watcher("dev1", coordinator, board.write, call_timeout=10, ack_timeout=60)
    watcher.feed(marker("t.5", "SYNC", "go"))
    watcher.feed(marker("t.5", "SYNC", "go"))  # printed again after a RETRY: still one arrival
    other = threading.Thread(target=coordinator.sync, args=("dev2", "go", Deadline.after(10)))
    other.start()
    other.join(10)
    assert reply_for(board, "t.5") == Ack()
    assert watcher.wait_idle(5)
    typed_once = bytes(board.tx)
    watcher.feed(marker("t.5", "SYNC", "go"))
    assert board.wait_written(lambda tx: tx == typed_once * 2, 5)
    # A second round of the same sync ID still needs dev2: dev1 did not join it twice.
    watcher.feed(marker("t.6", "SYNC", "go"))
    assert watcher.pending() == 1
    coordinator.sync("dev2", "go", Deadline.after(10))
    assert reply_for(board, "t.6") == Ack()


def test_watcher_damaged_marker_asks_the_board_to_print_it_again():
    board = MemoryTransport()
    watcher = Watcher("dev1", group("dev1", "dev2"), board.write, ack_timeout=60)
    good = marker("t.7", "SEND", "m", "k=v")
    watcher.feed(good[:15] + b"[ 5.1] kernel says hi\r\n" + good[15:])
    assert watcher.flush(5)
    assert bytes(board.tx) == wire.SS_RETRY_LINE
    watcher.feed(good)
    assert reply_for(board, "t.7", kind=SendRequest) == Ack()
    assert coordinator_data(watcher, "m") == {"dev1": {"k": b"v"}}


def test_watcher_resend_types_the_same_reply_again():
    board = MemoryTransport()
    watcher = Watcher("dev1", group("dev1", "dev2"), board.write, ack_timeout=60)
    watcher.feed(marker("t.8", "GROUP"))
    assert watcher.flush(5)
    first = bytes(board.tx)
    watcher.feed(marker("t.8", "RESEND"))
    assert watcher.flush(5)
    assert bytes(board.tx) == first * 2
    reply = ReplyAssembler("t.8", request_kind=GroupRequest).feed(first)
    assert reply == GroupInfo(b"self dev1\nmember dev1 server\nmember dev2 client\n")


def test_watcher_invalid_request_gets_a_nack_with_the_reason():
    board = MemoryTransport()
    watcher = Watcher("dev1", group("dev1", "dev2"), board.write, ack_timeout=60)
    watcher.feed(marker("t.9", "WAIT_ALL", "m", "no/such/role"))
    reply = reply_for(board, "t.9")
    assert isinstance(reply, Nack) and "role" in reply.reason
    watcher.feed(marker("t.10", "WAIT_ALL", "m", "nosuchrole"))
    reply = reply_for(board, "t.10")
    assert isinstance(reply, Nack) and "nosuchrole" in reply.reason


def test_watcher_retypes_a_reply_until_the_helper_confirms_it():
    coordinator = group("dev1", "dev2")
    board = MemoryTransport()
    watcher = Watcher("dev1", coordinator, board.write, ack_timeout=0.05)
    coordinator.send("dev2", "m", {"k": b"v"})
    watcher.feed(marker("t.20", "WAIT", "m"))
    assert watcher.wait_idle(5)
    first = reply_for(board, "t.20", kind=WaitRequest)
    assert first == WaitComplete({"dev2": {"k": b"v"}})
    copy = bytes(board.tx)
    # The helper never said DONE (its reply was lost): the same reply is typed again.
    assert board.wait_written(lambda tx: tx.count(copy) >= 2, 5)
    assert watcher.unconfirmed() == ["t.20"]
    watcher.feed(marker("t.20", "DONE"))
    assert watcher.unconfirmed() == []
    watcher.close()


def test_watcher_repeats_the_retry_line_until_an_intact_marker_arrives():
    board = MemoryTransport()
    watcher = Watcher("dev1", group("dev1", "dev2"), board.write, ack_timeout=0.05)
    good = marker("t.21", "SYNC", "go")
    watcher.feed(good[:20] + b"XX" + good[22:])
    # The retry line itself may be lost on the wire: it is typed again, a bounded number of times.
    assert board.wait_written(lambda tx: tx.count(wire.SS_RETRY_LINE) >= 3, 5)
    # The board prints it again, intact: it is served.
    other = threading.Thread(target=watcher.coordinator.sync, args=("dev2", "go", Deadline.after(10)))
    other.start()
    watcher.feed(good)
    other.join(10)
    assert reply_for(board, "t.21") == Ack()
    watcher.close()


def test_watcher_a_new_request_ends_the_retyping_of_earlier_replies():
    coordinator = group("dev1", "dev2")
    board = MemoryTransport()
    watcher = Watcher("dev1", coordinator, board.write, ack_timeout=60)
    watcher.feed(marker("t.30", "SEND", "a"))
    assert reply_for(board, "t.30", kind=SendRequest) == Ack()
    assert watcher.unconfirmed() == ["t.30"]  # its DONE was lost on the way
    watcher.feed(marker("t.31", "SEND", "b"))  # the helper after it is running: t.30's is over
    assert reply_for(board, "t.31", kind=SendRequest) == Ack()
    assert watcher.unconfirmed() == ["t.31"]
    watcher.close()


class SteppedClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_watcher_asks_again_for_a_marker_damaged_after_an_earlier_retry_chain_gave_up():
    clock = SteppedClock()
    board = MemoryTransport()
    # Long ack timeout: the chain's own timers stay quiet, only the feeds type.
    watcher = Watcher("dev1", group("dev1", "dev2"), board.write, call_timeout=10, ack_timeout=60, clock=clock)
    good = marker("t.40", "SEND", "a")
    watcher.feed(good[:20] + b"XX" + good[22:])
    assert watcher.flush(5)
    assert bytes(board.tx).count(wire.SS_RETRY_LINE) == 1
    clock.now += 60  # the helper behind it is long gone; its chain has given up
    later = marker("t.41", "SEND", "b")
    watcher.feed(later[:20] + b"XX" + later[22:])  # a new helper's marker, damaged
    assert watcher.flush(5)
    assert bytes(board.tx).count(wire.SS_RETRY_LINE) == 2
    watcher.close()


def test_watcher_a_reply_the_echo_never_confirmed_is_typed_again_later():
    from serialsync.keyboard import EchoPacer

    board = MemoryTransport()  # echoes nothing: every paced line fails its check
    pacer = EchoPacer(echo_timeout=0.05, attempts=1)
    watcher = Watcher("dev1", group("dev1", "dev2"), board.write, pacer=pacer, ack_timeout=0.05)
    watcher.feed(marker("t.50", "SEND", "m"))
    first_chunk = b"#SERIALSYNC1 t.5"
    # Erased on the board, not handed over: the recovery timer types it again.
    assert board.wait_written(lambda tx: tx.count(first_chunk) >= 2, 10)
    watcher.close()
    assert watcher.flush(10)  # what was queued is typed (and fails) before the test ends


def test_echo_pacing_reads_short_escapes_in_the_echo():
    """A board echoing ESC 7 / ESC 8 (save and restore the cursor) around a line: the line is still confirmed."""
    from serialsync.keyboard import EchoPacer

    board = MemoryTransport()
    pacer = EchoPacer(echo_timeout=2.0)

    def write(data: bytes) -> None:
        board.write(data)
        pacer.observe(b"\x1b7" + data.replace(b"\n", b"\r\n") + b"\x1b8")  # the board's echo

    pacer.type(b"echo hello\n", write)
    assert bytes(board.tx) == b"echo hello\n" and pacer.repairs == 0


def test_watcher_a_burst_of_damage_on_a_slow_console_queues_few_retry_lines():
    board = MemoryTransport()
    release = threading.Event()

    def slow_write(data: bytes) -> None:
        release.wait(10)  # the console takes its time (a paced, slow link)
        board.write(data)

    watcher = Watcher("dev1", group("dev1", "dev2"), slow_write, ack_timeout=60)
    good = marker("t.60", "SYNC", "go")
    for _ in range(20):
        watcher.feed(good[:20] + b"XX" + good[22:])
    release.set()
    assert watcher.flush(10)
    assert bytes(board.tx).count(wire.SS_RETRY_LINE) == 3  # not 20
    watcher.close()


def test_watcher_caps_the_calls_one_console_has_waiting_and_nacks_the_rest_with_why():
    """Noise that forms valid markers (LAVA's, no checksum) must not start a waiting call each."""
    from serialsync.watcher import MAX_PENDING_CALLS

    board = MemoryTransport()
    coordinator = group("dev1", "dev2")
    watcher = Watcher("dev1", coordinator, board.write, call_timeout=60)
    try:
        noise = b"".join(b"<LAVA_MULTI_NODE> <LAVA_SYNC noise-%d>\r\n" % i for i in range(MAX_PENDING_CALLS + 5))
        watcher.feed(noise)
        assert watcher.pending() == MAX_PENDING_CALLS  # dev2 never syncs: these wait
        nacked = [c for c in watcher.calls if not c.ok]
        assert len(nacked) == 5 and all("too many calls waiting" in c.reason for c in nacked)
        assert board.wait_written(lambda tx: tx.count(b"nack") >= 5, 5)  # each answered on the board
    finally:
        coordinator.close()  # releases the waiting calls
        watcher.close()


def test_watcher_after_a_console_gap_asks_for_lost_markers_and_retypes_unconfirmed_replies():
    """A USB adapter that vanished for a while: a marker printed then, and a reply typed then, are lost."""
    board = MemoryTransport()
    watcher = Watcher("dev1", group("dev1"), board.write, ack_timeout=60.0)  # no retype by the timer here
    try:
        watcher.feed(marker("4f2a.1", "SYNC", "solo"))
        reply_for(board, "4f2a.1")
        assert watcher.unconfirmed() == ["4f2a.1"]  # the helper's DONE never came
        typed_before = bytes(board.tx)
        watcher.console_reconnected()
        assert board.wait_written(lambda tx: tx.count(b"4f2a.1") > typed_before.count(b"4f2a.1"), 5)
        assert board.wait_written(lambda tx: wire.SS_RETRY_LINE in tx[len(typed_before) :], 5)
        # Not while no step of the board runs (a runner's rule): then only the reply goes again.
        watcher.allow_retries(False)
        typed_before = bytes(board.tx)
        watcher.console_reconnected()
        assert board.wait_written(lambda tx: tx.count(b"4f2a.1") > typed_before.count(b"4f2a.1"), 5)
        watcher.flush(5)
        assert wire.SS_RETRY_LINE not in bytes(board.tx)[len(typed_before) :]
    finally:
        watcher.close()
