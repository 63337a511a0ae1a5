"""Groups over a lossy, noisy console: a fault-injecting hop between host and board."""

from __future__ import annotations

import shlex

import pytest

from serialsync._time import Deadline
from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.protocol import wire
from serialsync.transports import SimulatedBoard
from serialsync.transports.faulty import Faults, FaultyTransport
from serialsync.transports.simulated import GROUP_FILE
from serialsync.watcher import Watcher

pytestmark = pytest.mark.slow

NASTY = "a b>c=d:e 'q' \"dq\" $(reboot) `id`; é"


@pytest.mark.parametrize(
    ("seed", "doubled"),
    [(100, False), (200, False), (300, False), (400, False), (500, True), (600, True)],
)
def test_lossy_both_directions_lose_nothing_and_invent_nothing(tmp_path, seed, doubled, keep_reading):
    """Markers torn by printk, replies garbled (bytes doubled and added too): every call completes once, data exact."""
    names = ["d0", "d1", "d2"]
    coordinator = MemoryCoordinator([Member(n, "peer") for n in names])
    rounds = 8
    hops, watchers, sessions = [], [], []
    for i, name in enumerate(names):
        board = SimulatedBoard(
            workdir=tmp_path / name,
            shell="dash",
            files={GROUP_FILE: wire.group_file_text(name, [(n, "peer") for n in names])},
        )
        hop = FaultyTransport(board, seed=seed + i)
        watcher = Watcher(name, coordinator, hop.write, call_timeout=60, ack_timeout=1.0)
        hops.append(hop)
        watchers.append(watcher)
        sessions.append(ConsoleSession(hop, watcher, timeout=5))
    script = (
        f"i=0; while [ $i -lt {rounds} ]; do i=$((i+1)); lava-sync r$i; "
        f'lava-send v$i "x=$(lava-self) "{shlex.quote(NASTY)}; '
        "lava-wait-all v$i; done; lava-send finished"
    )
    for session, watcher in zip(sessions, watchers, strict=True):
        session.sendline(script)
        assert watcher.flush(10)
    for hop in hops:  # the command is typed: now the line gets noisy
        extra = 0.0005 if doubled else 0.0  # a byte received twice, or a stray byte added
        hop.from_board = Faults(drop=0.001, change=0.001, duplicate=extra, insert=extra, noise_line=0.03)
        hop.to_board = Faults(drop=0.0005, change=0.0005, duplicate=extra, insert=extra)
    try:
        with keep_reading(sessions):
            coordinator.wait_all("d0", "finished", None, Deadline.after(240))
    finally:
        for w, s in zip(watchers, sessions, strict=True):
            w.close()
            s.close()
    assert sum(sum(h.injected.values()) for h in hops) > 20
    if doubled:
        assert sum(h.injected["duplicate"] + h.injected["insert"] for h in hops) > 0
    assert sum(sum(w.parser.stats.values()) for w in watchers) > 0  # damage was seen, and survived
    for i in range(1, rounds + 1):
        data = coordinator.wait("d0", f"v{i}", Deadline.after(1))
        assert data == {n: {"x": f"{n} {NASTY}".encode()} for n in names}
    for w in watchers:
        served = [(c.api, c.message_id) for c in w.calls]
        assert len(served) == len(set(served)) == 3 * rounds + 1  # nothing twice, nothing invented
        assert all(c.ok for c in w.calls), [c for c in w.calls if not c.ok]
