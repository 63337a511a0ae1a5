"""Emulated boards behind a lossy, noisy hop on their TCP console.

qemu's UART never drops input (it pushes back), so the loss is put between
the host and the board's socket: bytes dropped and garbled both ways, kernel
lines spliced into what the board prints.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from serialsync._time import Deadline
from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.install import install_helpers
from serialsync.job.run import wait_ready
from serialsync.transports import open_transport
from serialsync.transports.faulty import Faults, FaultyTransport
from serialsync.watcher import Watcher

pytestmark = pytest.mark.qemu

VALUE = "a b>c=d:e 'q' \"dq\" $(reboot) `id`; é"


def command(session: ConsoleSession, line: str) -> None:
    session.sendline(f"{line}; echo __SS''OK__")
    session.expect(rb"__SSOK__", timeout=120)


def test_qemu_lossy_hop_both_ways_loses_nothing(tmp_path: Path, qemu_board, keep_reading):
    names = ["q0", "q1"]
    coordinator = MemoryCoordinator([Member(n, "peer") for n in names])
    rounds = 6
    hops, watchers, sessions = [], [], []
    try:
        for i, name in enumerate(names):
            board = qemu_board(name)
            hop = FaultyTransport(open_transport(board.spec, workdir=tmp_path / name), seed=50 + i)
            watcher = Watcher(name, coordinator, hop.write, call_timeout=120, ack_timeout=1.0)
            # The raw console, for a post-mortem if this ever fails.
            log = (tmp_path / f"{name}.console.log").open("wb")
            session = ConsoleSession(hop, watcher, timeout=120, logfile_read=log)
            hops.append(hop)
            watchers.append(watcher)
            sessions.append(session)
            wait_ready(session, 180)
            session.sendline("stty -echo")  # plain line reads: no line editor on the board
            wait_ready(session, 60)
            install_helpers(session, timeout=120)
            command(session, "export PATH=/tmp/serialsync/bin:$PATH")
        script = (
            f"i=0; while [ $i -lt {rounds} ]; do i=$((i+1)); lava-sync r$i; "
            f'lava-send v$i "x=$(lava-self) "{shlex.quote(VALUE)}; '
            "lava-wait-all v$i; done; lava-send finished"
        )
        for session, watcher in zip(sessions, watchers, strict=True):
            session.sendline(script)
            assert watcher.flush(30)
        for hop in hops:  # the loop is typed: now the line gets lossy and noisy
            hop.from_board = Faults(drop=0.001, change=0.001, noise_line=0.03)
            hop.to_board = Faults(drop=0.0005, change=0.0005)
        with keep_reading(sessions):
            coordinator.wait_all("q0", "finished", None, Deadline.after(300))
    finally:
        for watcher, session in zip(watchers, sessions, strict=False):
            watcher.close()
            session.close()
    assert sum(sum(h.injected.values()) for h in hops) > 0
    for i in range(1, rounds + 1):
        assert coordinator.wait("q0", f"v{i}", Deadline.after(1)) == {n: {"x": f"{n} {VALUE}".encode()} for n in names}
    for watcher in watchers:
        served = [(c.api, c.message_id) for c in watcher.calls]
        # three calls a round, the first lava-self asking for the group, the last send
        assert len(served) == len(set(served)) == 3 * rounds + 2
        assert all(c.ok for c in watcher.calls), [c for c in watcher.calls if not c.ok]
