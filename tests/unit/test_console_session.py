"""ConsoleSession: pexpect over a Transport, its typing done by the watcher."""

from __future__ import annotations

import pytest

from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.errors import TypingFailed
from serialsync.job.board import run_step
from serialsync.transports import MemoryTransport
from serialsync.transports.pacing import EchoPacer
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


def test_console_output_still_read_while_typing_is_checked():
    """The periodic check for typing failures does not lose or reorder what the board prints."""
    board = MemoryTransport()
    session = ConsoleSession(board)
    board.feed(b"first ")
    board.feed(b"second\n")
    session.expect("second", timeout=10)
    assert bytes(session.before) == b"first "
