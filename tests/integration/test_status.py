"""What a running job shows: a live status of each device's action and wait; who a timeout waited for."""

from __future__ import annotations

import io

import pytest

from serialsync.job import Device, parse_job, run_job
from serialsync.status import GroupStatus, LiveStatus

pytestmark = pytest.mark.slow

JOB = """
on_failure: end-group
timeouts: {call: 2, step: 60}
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
roles:
  server:
    steps:
      - lava-wait-all ready client
  client:
    steps:
      - echo still-compiling; sleep 50
"""


class Snapshots(GroupStatus):
    """The status table as it was the moment the server began to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: list[str] = []

    def call_started(self, device, api, message_id, role=None) -> None:
        super().call_started(device, api, message_id, role)
        self.taken.append(self.render())


def test_status_shows_what_each_device_waits_for_and_timeouts_name_the_laggards_last_line(tmp_path):
    status = Snapshots()
    result = run_job(parse_job(JOB, source="status.yaml"), tmp_path, reporter=status)
    (table,) = status.taken
    srv_row = next(line for line in table.splitlines() if line.startswith("srv "))
    assert "lava-wait-all ready client" in srv_row
    srv = next(d for d in result.devices if d.name == "srv")
    (call,) = srv.calls
    assert not call["ok"] and "c1 never sent it" in call["reason"]
    # what c1 was doing when the server gave up on it
    assert call["last_console_lines"] == {"c1": "still-compiling"}
    c1 = next(d for d in result.devices if d.name == "c1")
    assert "group ended: srv failed" in c1.reason  # the sleep was cut short, not waited out


def test_live_status_redraws_in_place_on_a_terminal():
    screen = io.StringIO()
    live = LiveStatus(screen)
    live.device_event(Device(name="srv", role="server"), "step-1 (1/1): lava-wait-all ready client")
    live.stop()
    live.call_started(Device(name="srv", role="server"), "lava-wait-all", "ready", "client")
    live.stop()  # a second draw moves up over the first one
    out = screen.getvalue()
    first, second = out.split("\x1b[", 1)
    assert "step-1 (1/1)" in first and "\x1b[J" in out
    assert "lava-wait-all ready client (0s)" in second


def test_live_status_fits_the_terminal_and_says_when_the_group_is_stuck(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    screen = io.StringIO()
    live = LiveStatus(screen)
    live.device_event(Device(name="srv", role="server"), "step-1 (1/1): " + "x" * 200)
    live.group_event("the group is stuck: srv waits in lava-sync 'a'; cli waits in lava-sync 'b'")
    live.stop()
    live.stop()
    first, second = screen.getvalue().split("\x1b[", 1)
    drawn = first.splitlines()
    assert all(len(line) < 60 for line in drawn)
    assert "cli waits in lava-sync 'b'" in " ".join(first.split())  # the note, wrapped, whole
    # The second draw moves up over exactly the lines the first one drew.
    assert second.startswith(f"{len(drawn)}F")
