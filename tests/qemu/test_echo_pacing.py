"""Echo pacing against an emulated board whose shell echoes and edits lines (busybox ash).

With echo on, busybox reads commands through its line editor: it echoes each
key itself, answers DEL with BS + ESC[J, ^U by redrawing prompt and line,
and asks ESC[6n after each prompt; its prompt may come after we started
typing. Replies typed while a helper reads go through the kernel's canonical
echo instead.
"""

from __future__ import annotations

import shlex

import pytest

from serialsync.job import parse_job, run_job
from serialsync.transports.faulty import Faults, FaultyTransport

pytestmark = pytest.mark.qemu

VALUE = "a b>c=d:e 'q' \"dq\" $(reboot) `id`; é"

STEPS = f"""
roles:
  server:
    steps:
      - lava-send from-board {shlex.quote("v=" + VALUE)}
      - lava-wait-all from-peer client
      - |
        grep -qxF {shlex.quote("peer:v=" + VALUE * 20)} "$LAVA_MULTI_NODE_CACHE"
      - for i in 1 2 3; do lava-sync round || exit 1; done
  client:
    steps:
      - lava-wait from-board
      - |
        grep -qxF {shlex.quote("edit:v=" + VALUE)} "$LAVA_MULTI_NODE_CACHE"
      - lava-send from-peer {shlex.quote("v=" + VALUE * 20)}
      - for i in 1 2 3; do lava-sync round || exit 1; done
"""


def run(tmp_path, board, wrap=None):
    text = f"""
timeouts: {{boot: 180, step: 600, call: 600}}  # typing the helpers in over a lossy link takes minutes under load
devices:
  - {{name: edit, role: server, connection: '{board.spec}', install_helpers: true, pacing: echo}}
  - {{name: peer, role: client, connection: 'simulated:dash'}}
{STEPS}"""
    result = run_job(parse_job(text, source="echo.yaml"), tmp_path / "out", wrap_transport=wrap)
    assert result.passed, [
        (d.name, d.reason, [s.output_tail[-800:] for s in d.steps if s.result != "pass"]) for d in result.devices
    ]
    return result


def test_qemu_echo_pacing_through_the_line_editor(tmp_path, qemu_board):
    run(tmp_path, qemu_board("edit"))  # echo on: busybox's line editor


def test_qemu_echo_pacing_repairs_typing_damaged_on_the_way(tmp_path, qemu_board, caplog):
    """Bytes typed into the board dropped and garbled, helpers install included: every line is repaired."""
    hops = []

    def lossy(device, transport):
        if device.name != "edit":
            return transport
        hops.append(FaultyTransport(transport, to_board=Faults(drop=0.001, change=0.001), seed=7))
        return hops[-1]

    caplog.set_level("INFO", logger="serialsync.pacing")
    run(tmp_path, qemu_board("edit"), wrap=lossy)
    assert hops[0].injected["drop"] + hops[0].injected["change"] > 0
    assert "typing them again" in caplog.text or "typing it again" in caplog.text
