"""Recorded consoles of boards running LAVA's own helpers, through the real watcher.

Each fixtures/*.rx is raw console bytes; its *.expect.json sidecar names the
group, what the other devices did, and the exact replies the host must type.
Turning a lab run into a regression test is adding one such pair.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from serialsync._time import Deadline
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.transports import MemoryTransport
from serialsync.watcher import Watcher

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CASES = sorted(FIXTURES.glob("lava-*.rx"))


@pytest.mark.parametrize("rx", CASES, ids=[p.stem for p in CASES])
def test_lava_fixture_replies_match_what_lava_helpers_parse(rx: Path):
    expect = json.loads(rx.with_suffix(".expect.json").read_text())
    coordinator = MemoryCoordinator([Member(device=d, role=r) for d, r in expect["members"]])
    peers = []
    for action in expect["peers"]:
        if "send" in action:
            data = {k: v.encode() for k, v in action.get("data", {}).items()}
            coordinator.send(action["device"], action["send"], data)
        else:
            t = threading.Thread(
                target=coordinator.sync, args=(action["device"], action["sync"], Deadline.after(10)), daemon=True
            )
            t.start()
            peers.append(t)
    board = MemoryTransport(rx.stem)
    watcher = Watcher(expect["device"], coordinator, board.write, call_timeout=10)
    # Play the console back line by line; like the real helper, the board
    # prints nothing more until its pending call has been answered.
    for line in rx.read_bytes().splitlines(keepends=True):
        watcher.feed(line)
        assert watcher.wait_idle(timeout=10), f"no answer to {line!r}"
        assert watcher.flush(timeout=10)
    watcher.feed(b"")
    for t in peers:
        t.join(timeout=10)
        assert not t.is_alive()
    typed = board.tx.decode()
    assert typed.splitlines(keepends=True) == expect["replies"]
    for message_id, data in expect["sent"].items():
        sent = coordinator.wait(expect["device"], message_id, Deadline.after(1))
        assert sent[expect["device"]] == {k: v.encode() for k, v in data.items()}
    assert dict(watcher.parser.stats) == expect["dropped"]
    # Every call the board made is recorded, the failed one with its reason.
    failed = [c for c in watcher.calls if not c.ok]
    assert [c.api for c in failed] == ["lava-wait-all"]
    assert "nosuchrole" in failed[0].reason
