"""Groups of emulated boards (qemu, busybox, console on the UART) attached like real ones.

Each board is reached through its TCP console (`socket://`), has no helpers in
its image (the host types them in and verifies them), and has no group file
(the helpers ask the host over the console).
"""

from __future__ import annotations

import json
import re

import pytest

from serialsync.job import parse_job, run_job

pytestmark = pytest.mark.qemu

STEPS = """
roles:
  server:
    steps:
      - lava-send server-up ip=10.0.0.1 "motd=hello > all"
      - lava-wait-all client-ready client
      - grep -q '^client1:who=client1 ' "$LAVA_MULTI_NODE_CACHE"
      - for i in 1 2 3; do lava-sync round || exit 1; done
      - lava-send all-up && lava-wait-all all-up
  client:
    steps:
      - lava-wait server-up
      - grep -qxF 'server1:motd=hello > all' "$LAVA_MULTI_NODE_CACHE"
      - lava-send client-ready "who=$(lava-self) $(lava-role)"
      - for i in 1 2 3; do lava-sync round || exit 1; done
      - lava-send all-up && lava-wait-all all-up
"""


def run(tmp_path, devices: str, steps: str = STEPS):
    text = f"timeouts: {{boot: 180, step: 180, call: 120}}\ndevices:\n{devices}\n{steps}"
    result = run_job(parse_job(text, source="qemu.yaml"), tmp_path / "out")
    assert result.passed, [
        (d.name, d.reason, [s.reason for s in d.steps if s.result != "pass"]) for d in result.devices
    ]
    return result


def test_qemu_group_of_three_emulated_boards(tmp_path, qemu_board):
    boards = {name: qemu_board(name) for name in ("server1", "client1", "client2")}
    devices = "\n".join(
        f"  - {{name: {name}, role: {'server' if name == 'server1' else 'client'}, "
        f"connection: '{board.spec}', install_helpers: true}}"
        for name, board in boards.items()
    )
    result = run(tmp_path, devices)
    for name in boards:
        log = (tmp_path / "out" / f"{name}.console.log").read_bytes()
        # console hygiene: the kernel's console log level was lowered, and checked
        assert re.search(rb"(?:\n|# )1\t\d+\t\d+\t\d+\r?\n", log), log[-2000:]  # /proc/sys/kernel/printk
    for device in result.devices:
        assert all(c["ok"] for c in device.calls)
        if device.role == "client":  # lava-self with no group file: asked over the console
            assert any(c["api"] == "lava-group" for c in device.calls)


def test_qemu_mixed_group_of_emulated_and_simulated_boards(tmp_path, qemu_board):
    board = qemu_board("server1")
    devices = (
        f"  - {{name: server1, role: server, connection: '{board.spec}', install_helpers: true}}\n"
        "  - {name: client1, role: client, connection: 'simulated:busybox'}\n"
        "  - {name: client2, role: client, connection: 'simulated:dash'}"
    )
    run(tmp_path, devices)


@pytest.mark.parametrize("kmsg", [False, True], ids=["stdout-markers", "kmsg-markers"])
def test_qemu_noisy_console_group_still_syncs(tmp_path, qemu_board, kmsg):
    """A background writer sprays kernel lines onto each board's console while the group syncs."""
    boards = {name: qemu_board(name) for name in ("server1", "client1")}
    devices = "\n".join(
        f"  - {{name: {name}, role: {'server' if name == 'server1' else 'client'}, "
        f"connection: '{board.spec}', install_helpers: true, kmsg: {'true' if kmsg else 'false'}}}"
        for name, board in boards.items()
    )
    noisy = """
roles:
  server:
    steps:
      - |
        (i=0; while [ $i -lt 4000 ]; do i=$((i+1)); echo "<0>usb 1-1: noise line $i" > /dev/kmsg; done) &
      - for i in 1 2 3 4 5 6 7 8 9 10; do lava-sync round || exit 1; lava-send v$i "x=$i > $(lava-self)" || exit 1; done
      - lava-wait-all v10 client && grep -qxF 'client1:x=10 > client1' "$LAVA_MULTI_NODE_CACHE"
  client:
    steps:
      - |
        (i=0; while [ $i -lt 4000 ]; do i=$((i+1)); echo "<0>usb 1-1: noise line $i" > /dev/kmsg; done) &
      - for i in 1 2 3 4 5 6 7 8 9 10; do lava-sync round || exit 1; lava-send v$i "x=$i > $(lava-self)" || exit 1; done
      - lava-wait-all v10 server && grep -qxF 'server1:x=10 > server1' "$LAVA_MULTI_NODE_CACHE"
"""
    result = run(tmp_path, devices, noisy)
    logs = b"".join((tmp_path / "out" / f"{name}.console.log").read_bytes() for name in boards)
    assert logs.count(b"noise line") > 100  # the noise really was on the console
    for device in result.devices:
        assert [c["api"] for c in device.calls].count("lava-sync") == 10


def test_qemu_exit_in_a_step_ends_the_definition_and_the_board_goes_on(tmp_path, qemu_board):
    """On a real console `exit` in a step would log the board's shell out: it ends only its definition."""
    board = qemu_board("dut1")
    text = f"""
job_name: exit-on-a-board
timeouts: {{job: {{minutes: 5}}, action: {{minutes: 3}}}}
protocols:
  lava-multinode:
    roles:
      solo: {{devices: [{{name: dut1, connection: '{board.spec}', install_helpers: true}}]}}
    timeout: {{minutes: 2}}
actions:
- test:
    role: [solo]
    definitions:
    - from: inline
      name: first
      path: inline/first.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: first}}
        run:
          steps:
          - cd /proc && here=kept
          - echo "at=$(pwd) here=$here"
          - exit 3
          - echo never-runs
    - from: inline
      name: second
      path: inline/second.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: second}}
        run:
          steps:
          - echo "second at=$(pwd) here=${{here:-unset}}"
          - lava-self
"""
    result = run_job(parse_job(text, source="exit.yaml"), tmp_path / "out")
    (device,) = result.devices
    steps = [(s.name, s.result, s.exit_status) for s in device.steps]
    assert steps == [
        ("first: cd /proc && here=kept", "pass", 0),
        ('first: echo "at=$(pwd) here=$here"', "pass", 0),
        ("first: exit 3", "fail", 3),
        ("first: echo never-runs", "skip", None),
        ('second: echo "second at=$(pwd) here=${here:-unset}"', "pass", 0),
        ("second: lava-self", "pass", 0),
    ], [(s.name, s.reason, s.output_tail[-300:]) for s in device.steps]
    assert "at=/proc here=kept" in device.steps[1].output_tail
    assert "here=unset" in device.steps[4].output_tail  # a fresh script: its own state
    assert "dut1" in device.steps[5].output_tail


# A parameter with spaces, both quotes, a $( ), a backslash and a glob: it arrives as data.
NASTY_PARAMETER = """it's "quoted" $(touch /tmp/never) \\ *"""


def test_qemu_a_definition_from_git_is_typed_onto_the_board_and_runs_there(tmp_path, qemu_board, make_git_repository):
    """Linaro-style test-definitions from a git repository, its files typed over the UART and checksummed."""
    repository = make_git_repository(tmp_path / "test-definitions")
    board = qemu_board("dut1")
    text = f"""
job_name: git-on-a-board
timeouts: {{job: {{minutes: 6}}, action: {{minutes: 4}}}}
protocols:
  lava-multinode:
    roles:
      solo: {{devices: [{{name: dut1, connection: '{board.spec}', install_helpers: true}}]}}
    timeout: {{minutes: 2}}
actions:
- test:
    role: [solo]
    definitions:
    - from: git
      repository: {repository}
      path: automated/linux/smoke/smoke.yaml
      name: smoke-tests
      parameters:
        TESTS: "pwd, uname -r, true"
        GREETING: {json.dumps(NASTY_PARAMETER)}
"""
    result = run_job(parse_job(text, source="git.yaml"), tmp_path / "out")
    (device,) = result.devices
    assert result.passed, [(s.name, s.reason, s.output_tail[-300:]) for s in device.steps]
    cases = {c["name"]: c["result"] for c in device.test_cases}
    assert cases == {"pwd": "pass", "uname": "pass", "true": "pass"}
    greeting = next(s for s in device.steps if "greeting" in s.name)
    assert f"greeting=[{NASTY_PARAMETER}]" in greeting.output_tail
    assert "/tmp/serialsync/tests/" in (tmp_path / "out" / "dut1.console.log").read_text(errors="replace")
