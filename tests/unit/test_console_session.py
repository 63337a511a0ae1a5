"""ConsoleSession: pexpect over a Transport, its typing done by the watcher."""

from __future__ import annotations

import pytest

from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.errors import TypingFailed
from serialsync.job.board import run_step
from serialsync.keyboard import EchoPacer
from serialsync.transports import MemoryTransport
from serialsync.watcher import Watcher


def silent_board_session() -> tuple[ConsoleSession, MemoryTransport]:
    """A console whose board echoes nothing: echo pacing can confirm no line typed into it."""
    board = MemoryTransport()
    watcher = Watcher(
        "dut", MemoryCoordinator([Member("dut", "solo")]), board.write, pacer=EchoPacer(echo_timeout=0.05, attempts=1)
    )
    return ConsoleSession(board, watcher), board


def test_console_a_wait_for_what_a_line_typed_fails_at_once_when_it_could_not_be_typed():
    session, _ = silent_board_session()
    session.sendline("echo hello")
    with pytest.raises(TypingFailed, match="did not match a typed line"):
        session.expect("hello", timeout=600)  # not the timeout: the typing failure ends the wait
    session.watcher.close()


def test_console_a_step_that_could_not_be_typed_fails_naming_why():
    session, _ = silent_board_session()
    result = run_step(session, 1, "true", timeout=600)
    assert result.result == "fail" and result.exit_status is None
    assert "could not type" in result.reason and "timed out" not in result.reason
    session.watcher.close()


class EchoesFrom(MemoryTransport):
    """A board that echoes nothing until a line holding `word` is typed, then echoes, and prints `done`."""

    def __init__(self, word: bytes) -> None:
        super().__init__()
        self.word = word
        self.echoing = False

    def write(self, data: bytes) -> None:
        super().write(data)
        self.echoing = self.echoing or self.word in data
        if self.echoing:
            self.feed(data.replace(b"\n", b"\r\ndone\r\n"))


def test_console_only_the_latest_line_failing_fails_the_wait():
    """A boot probe typed before the board listened failed; the one after it went in: the wait goes on."""
    board = EchoesFrom(b"second")
    watcher = Watcher(
        "dut", MemoryCoordinator([Member("dut", "solo")]), board.write, pacer=EchoPacer(echo_timeout=0.2, attempts=1)
    )
    session = ConsoleSession(board, watcher)
    session.sendline("echo first")  # never echoed: echo pacing gives up on it
    session.sendline("echo second")
    session.expect("done", timeout=30)
    assert b"echo second" in bytes(session.before)
    watcher.close()
