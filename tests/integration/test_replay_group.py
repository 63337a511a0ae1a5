"""Recorded runs played back as a group: boards pause at each request until the host answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from serialsync.cli import main
from serialsync.replay import ReplayBoard, replay_group

pytestmark = pytest.mark.slow

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded"
GROUP = [("server1", "server"), ("client1", "client"), ("client2", "client")]


@pytest.mark.parametrize("recording", ["simulated", "qemu"])
def test_recorded_group_replays_and_the_host_answers_as_recorded(recording):
    directory = RECORDED / recording
    played = replay_group([(name, role, directory / f"{name}.console.log") for name, role in GROUP])
    for device in played:
        assert device.board.pauses >= 7, device.name  # send, waits, three syncs, ...
        assert device.passed, (device.name, device.board.mismatches, device.board.answered, device.finished)
        assert all(call.ok for call in device.calls)


def test_a_host_answering_differently_from_the_recording_is_reported(tmp_path, capsys):
    directory = tmp_path / "run"
    shutil.copytree(RECORDED / "simulated", directory)
    log = directory / "server1.console.log"
    recorded = log.read_bytes()
    # What the server's board once received from client1, changed in the recording only:
    # the host, answering from what client1 sends now, types the real value.
    assert recorded.count(b"who=client1") >= 1
    log.write_bytes(recorded.replace(b"who=client1%20", b"who=clientX%20"))
    assert main(["replay", str(directory)]) == 1
    out = capsys.readouterr().out
    assert "server1: " in out and "DIFFERS" in out and "clientX" in out


def test_a_replayed_board_waits_for_the_reply_before_playing_on():
    marker = b"<LAVA_MULTI_NODE> <LAVA_SYNC go>\r\n"
    board = ReplayBoard(b"before\r\n" + marker + b"<LAVA_SYNC_COMPLETE>\r\nafter\r\n")
    assert board.read(4096, 1) == b"before\r\n" + marker
    with pytest.raises(Exception, match="no reply typed"):
        board.read(4096, 0.05)  # stopped at the request: nothing more without an answer
    board.write(b"<LAVA_SYNC_COMPLETE>\n")
    assert board.read(4096, 1) == b"<LAVA_SYNC_COMPLETE>\r\nafter\r\n"
    assert board.read(4096, 1) == b""  # the end of the recording
    assert board.answered == 1 and board.mismatches == []


def test_a_damaged_recorded_reply_is_not_compared_and_breaks_nothing():
    from serialsync.protocol import wire

    head = b"SERIALSYNC1 ab.1 SYNC go"
    marker = b"<" + head + b" " + wire.checksum(head) + b">\r\n"
    board = ReplayBoard(marker + b"#SERIALSYNC1 ab.1 1/?2 0000 ok\r\nafter\r\n")  # its I/N hit on the wire
    assert board.read(4096, 1) == marker
    board.write(b"#SERIALSYNC1 ab.1 1/1 01234567 ok\n")
    assert board.read(4096, 1).endswith(b"after\r\n")
    assert board.answered == 1 and board.mismatches == []
