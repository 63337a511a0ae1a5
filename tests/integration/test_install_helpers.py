"""Helpers typed onto a board that has none, verified by checksum on the board."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serialsync._resources import HELPER_NAMES, helper_files
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
        self._armed = False

    def read(self, max_bytes, timeout):
        return self.inner.read(max_bytes, timeout)

    def write(self, data: bytes) -> None:
        if self._armed:  # the first hex line of a file (each line is its own write without a watcher)
            self._armed = False
            data = data[:5] + (b"0" if data[5:6] != b"0" else b"1") + data[6:]
        elif self.times and b"_ss_put > " in data:  # a file's first piece: `>` creates the file
            self.times -= 1
            self._armed = True
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


REPO = Path(__file__).resolve().parents[2]
LOADED_RUNS = 4
LOADED_BOUND = 20.0  # seconds a run may take with both cores busy: a few times what it takes, far below the old stall
BUSY = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass"


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Two cores busy (one spinning process each; the stall was seen on a 2-core machine) while the test runs.

    Each spinner ends by itself after the longest the test can take; teardown ends it sooner.
    """
    longest = LOADED_RUNS * LOADED_BOUND + 30
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY, str(longest)]) for _ in range(2)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            spinner.wait(timeout=10)


def test_install_helpers_command_never_stalls_on_a_busy_machine(tmp_path, busy_cores):
    """The stall this guards against: a file typed as one write blocked the host while busybox blocked writing its
    echo (a third of the runs with both cores busy, some for good); each run finishes, every file verified."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    helpers = {path.name: path.read_bytes() for path in helper_files()}
    for run in range(LOADED_RUNS):
        target = tmp_path / f"run{run}"
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "serialsync", "install-helpers", "simulated:busybox", "--dir", str(target)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=LOADED_BOUND,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            written = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
            shown = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
            pytest.fail(f"run {run} still going after {LOADED_BOUND:.0f} s; written: {written}; printed:\n{shown}")
        took = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        # A line per file as soon as the board's copy verified, and the copies are the files.
        printed = [line.split(" ", 1)[0] for line in done.stdout.splitlines() if "checksum verified" in line]
        assert printed == list(helpers), done.stdout
        assert {path.name: path.read_bytes() for path in target.iterdir()} == helpers
        assert all(os.access(target / name, os.X_OK) for name in HELPER_NAMES)
        print(f"run {run}: {took:.1f} s")


def test_install_without_a_watcher_types_a_few_lines_at_a_time_on_a_busy_machine(tmp_path, busy_cores):
    """A session that writes itself (no watcher: a caller's own pexpect) reads only in expect(): what it writes
    between two expects must fit what a tty takes without a reader."""
    board = SimulatedBoard(workdir=tmp_path / "b", shell="busybox", helpers=False)
    session = ConsoleSession(board, timeout=LOADED_BOUND)
    try:
        ready(session)
        started = time.monotonic()
        installed = install_helpers(session, directory=str(tmp_path / "inst"), timeout=LOADED_BOUND)
        assert time.monotonic() - started < LOADED_BOUND
        assert all(f.attempts == 1 for f in installed)
        assert {p.name: p.read_bytes() for p in (tmp_path / "inst").iterdir()} == {
            p.name: p.read_bytes() for p in helper_files()
        }
    finally:
        board.close()
