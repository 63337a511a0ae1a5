"""Helpers typed onto a board that has none, verified by checksum on the board."""

from __future__ import annotations

import pytest

from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.install import InstallError, install_files, install_helpers
from serialsync.transports import SimulatedBoard, Transport
from serialsync.watcher import Watcher

pytestmark = pytest.mark.slow


def ready(session: ConsoleSession) -> None:
    session.sendline("echo __SS''READY__")
    session.expect(rb"__SSREADY__", timeout=30)


@pytest.mark.parametrize("shell", ["dash", "busybox"])
@pytest.mark.parametrize("deep", [False, True], ids=["short-dir", "long-dir"])
def test_install_types_the_helpers_and_they_work(tmp_path, shell, deep):
    # A long directory: no typed line may grow with it past a line editor's limit (busybox: 1024).
    installed_dir = tmp_path / "b" / ("installed" if not deep else "/".join(["a-rather-long-directory-name"] * 8))
    board = SimulatedBoard(workdir=tmp_path / "b", shell=shell, helpers=False)
    group = MemoryCoordinator([Member("b", "solo")])
    watcher = Watcher("b", group, board.write)
    session = ConsoleSession(board, watcher, timeout=30)
    try:
        ready(session)
        session.sendline("command -v lava-sync || echo NO''PE")
        session.expect(rb"NOPE")
        installed = install_helpers(session, directory=str(installed_dir))
        assert {f.path.rsplit("/", 1)[1] for f in installed} >= {"lava-sync", "serialsync.awk", "serialsync.lib"}
        # The install itself never looked like a request to the watcher.
        assert not watcher.calls and not watcher.parser.stats
        session.sendline(f"PATH={installed_dir}:$PATH; lava-send hi k=v && lava-sync s && echo O''K")
        session.expect(rb"OK")
        assert [(c.api, c.ok) for c in watcher.calls] == [("lava-send", True), ("lava-sync", True)]
    finally:
        watcher.close()
        board.close()


class GarbleHeredocs(Transport):
    """A hop that garbles one hex digit of the first *times* files typed (a line glitch)."""

    def __init__(self, inner: Transport, times: int) -> None:
        self.inner, self.times, self.spec = inner, times, inner.spec

    def read(self, max_bytes, timeout):
        return self.inner.read(max_bytes, timeout)

    def write(self, data: bytes) -> None:
        if self.times and b"<<'_SS_EOF'" in data:
            self.times -= 1
            at = data.index(b"\n") + 5  # inside the first hex line
            data = data[:at] + (b"0" if data[at : at + 1] != b"0" else b"1") + data[at + 1 :]
        self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(("garbled", "succeeds"), [(1, True), (3, False)])
def test_install_detects_a_corrupted_copy(tmp_path, garbled, succeeds):
    board = SimulatedBoard(workdir=tmp_path / "b", shell="dash", helpers=False)
    session = ConsoleSession(GarbleHeredocs(board, garbled), timeout=30)
    try:
        ready(session)
        if succeeds:  # typed again after the checksum on the board disagreed
            installed = install_helpers(session, directory=str(tmp_path / "inst"), timeout=30)
            assert installed[0].attempts == 2 and all(f.attempts == 1 for f in installed[1:])
        else:
            with pytest.raises(InstallError) as info:
                install_helpers(session, directory=str(tmp_path / "inst"), timeout=30)
            assert "never matched" in str(info.value) and "expected" in str(info.value)
    finally:
        board.close()


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_install_files_keeps_every_typed_line_short_however_deep_the_tree(tmp_path, shell):
    """A test definition's files into a long directory with many subdirectories: checksummed, executable kept."""
    board = SimulatedBoard(workdir=tmp_path / "b", shell=shell, helpers=False)
    watcher = Watcher("b", MemoryCoordinator([Member("b", "solo")]), board.write)
    session = ConsoleSession(board, watcher, timeout=30)
    target = tmp_path / "b" / "/".join(["a-rather-long-directory-name"] * 6)
    files = [(f"automated/linux/test-{i:02d}/run.sh", b"#!/bin/sh\necho ran-%d\n" % i, True) for i in range(40)]
    files.append(("automated/lib/sh-test-lib", b"# shared\n" * 50, False))
    try:
        ready(session)
        typed = install_files(session, files, str(target))
        assert len(typed) == 41 and all(f.attempts == 1 for f in typed)
        for path, data, executable in files:
            written = target / path
            assert written.read_bytes() == data and bool(written.stat().st_mode & 0o100) == executable
    finally:
        watcher.close()
        board.close()
