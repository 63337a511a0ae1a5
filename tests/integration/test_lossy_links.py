"""Groups over a lossy, noisy console: a fault-injecting hop between host and board."""

from __future__ import annotations

import shlex

import pytest

from serialsync.job import parse_job, run_job
from serialsync.transports.faulty import Faults, FaultyTransport

pytestmark = pytest.mark.slow

NASTY = "a b>c=d:e 'q' \"dq\" $(reboot) `id`; é"


def test_lossy_echo_pacing_repairs_every_typed_line(tmp_path, caplog):
    """Bytes typed into the board are dropped and garbled; echo pacing erases and retypes."""
    text = f"""
devices:
  - {{name: srv, role: server, pacing: echo}}
  - {{name: c1, role: client, pacing: echo, connection: "simulated:dash"}}
  - {{name: c2, role: client, pacing: echo, connection: "simulated:bash"}}
timeouts: {{step: 120, call: 60}}
roles:
  server:
    steps:
      - for i in 1 2 3 4 5; do lava-sync round || exit 1; done
      - lava-wait-all data client
      - |
        grep -qxF {shlex.quote("c1:v=" + NASTY)} "$LAVA_MULTI_NODE_CACHE"
  client:
    steps:
      - for i in 1 2 3 4 5; do lava-sync round || exit 1; done
      - |
        lava-send data {shlex.quote("v=" + NASTY)}
"""
    hops = []

    def lossy(device, transport):
        hop = FaultyTransport(transport, to_board=Faults(drop=0.002, change=0.002), seed=len(hops) + 1)
        hops.append(hop)
        return hop

    caplog.set_level("INFO", logger="serialsync.pacing")
    result = run_job(parse_job(text, source="lossy.yaml"), tmp_path / "out", wrap_transport=lossy)
    assert result.passed, [(d.name, d.reason) for d in result.devices]
    # How many bytes cross a hop depends on how often lines were retyped, so
    # the count of faults varies from run to run; that some were repaired does not.
    assert sum(h.injected["drop"] + h.injected["change"] for h in hops) > 0
    assert "typing them again" in caplog.text
