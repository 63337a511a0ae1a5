"""Helpers typed onto a board that has none, verified by checksum on the board."""

from __future__ import annotations

import pytest

from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.install import DEFAULT_DIR, InstallError, install_helpers, posix_cksum
from serialsync.transports import SimulatedBoard
from serialsync.transports.faulty import Faults, FaultyTransport
from serialsync.watcher import Watcher

pytestmark = pytest.mark.slow


def ready(session: ConsoleSession) -> None:
    session.sendline("echo __SS''READY__")
    session.expect(rb"__SSREADY__", timeout=30)


def test_install_posix_cksum_matches_known_values():
    assert posix_cksum(b"") == 4294967295
    assert posix_cksum(b"hello world\n") == 3733384285


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_install_types_the_helpers_and_they_work(tmp_path, shell):
    board = SimulatedBoard(workdir=tmp_path / "b", shell=shell, helpers=False)
    group = MemoryCoordinator([Member("b", "solo")])
    watcher = Watcher("b", group, board.write)
    session = ConsoleSession(board, watcher, timeout=30)
    try:
        ready(session)
        session.sendline("command -v lava-sync || echo NO''PE")
        session.expect(rb"NOPE")
        installed = install_helpers(session, directory=str(tmp_path / "b" / "installed"))
        assert {f.path.rsplit("/", 1)[1] for f in installed} >= {"lava-sync", "serialsync.awk", "serialsync.lib"}
        # The install itself never looked like a request to the watcher.
        assert watcher.calls == [] and not watcher.parser.stats
        session.sendline(f"PATH={tmp_path / 'b' / 'installed'}:$PATH; lava-send hi k=v && lava-sync s && echo O''K")
        session.expect(rb"OK")
        assert [(c.api, c.ok) for c in watcher.calls] == [("lava-send", True), ("lava-sync", True)]
    finally:
        watcher.close()
        board.close()


def test_install_detects_a_corrupted_copy(tmp_path):
    board = SimulatedBoard(workdir=tmp_path / "b", shell="dash", helpers=False)
    hop = FaultyTransport(board, seed=7)
    session = ConsoleSession(hop, timeout=30)
    try:
        ready(session)
        hop.to_board = Faults(change=0.01)  # no echo pacing: the garbled hex reaches the file
        with pytest.raises(InstallError) as info:
            install_helpers(session, directory=DEFAULT_DIR.replace("/tmp", str(tmp_path)), timeout=30)
        assert "never matched" in str(info.value) and "expected" in str(info.value)
    finally:
        board.close()
