"""Steps run as LAVA runs them: lines of one script per definition, `exit` ends only that script."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from serialsync.job import parse_job, run_job
from serialsync.job.board import step_check

pytestmark = pytest.mark.slow

SHELLS = ["busybox", "dash", "bash"]


def need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (CI installs it: apt-get install busybox-static dash)")


def steps_of(result, name):
    device = next(d for d in result.devices if d.name == name)
    return [(s.result, s.exit_status, s.reason, s.output_tail) for s in device.steps]


@pytest.mark.parametrize("shell", SHELLS)
def test_exit_in_a_step_ends_the_definition_not_the_login_shell(tmp_path: Path, shell: str):
    need(shell)
    job = parse_job(
        f"""
timeouts: {{step: 60, call: 30}}
devices:
  - {{name: a, role: first, connection: "simulated:{shell}"}}
roles:
  first:
    steps:
      - cd /tmp && kept=yes-$$
      - echo "in=$(pwd) kept=$kept"
      - exit 3
      - echo never-runs
""",
        source="exit.yaml",
    )
    result = run_job(job, tmp_path / "out")
    steps = steps_of(result, "a")
    assert steps[0][:2] == ("pass", 0)
    assert steps[1][0] == "pass" and "in=/tmp kept=yes-" in steps[1][3]  # cd and the variable held
    assert steps[2][:2] == ("fail", 3) and "exit ended the definition" in steps[2][2]
    assert steps[3][0] == "skip" and "ended the definition with exit status 3" in steps[3][2]
    device = next(d for d in result.devices if d.name == "a")
    assert "console closed" not in device.reason and "exit status 3" in device.reason
    log = (tmp_path / "out" / "a.console.log").read_bytes()
    assert b"\nnever-runs" not in log  # only the echo of its typed text, never its output
    # The login shell outlived the exit and said how the script ended (with the line's check).
    assert b"__SSEND_1:3:%d__" % step_check("END", 1, 3) in log


@pytest.mark.parametrize("shell", SHELLS)
def test_after_an_exit_the_next_definition_and_the_requests_go_on(tmp_path: Path, shell: str):
    need(shell)
    job = parse_job(
        f"""
job_name: exit-then-more
timeouts:
  job: {{minutes: 2}}
  action: {{seconds: 60}}
protocols:
  lava-multinode:
    roles:
      server: {{count: 1, connection: "simulated:{shell}"}}
      client: {{count: 1, connection: "simulated:{shell}"}}
    timeout: {{seconds: 30}}
actions:
- test:
    role: [server]
    definitions:
    - from: inline
      name: setup
      path: inline/setup.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: setup}}
        run:
          steps:
          - STATE=from-setup; cd /
          - test -d /nonexistent-dir || exit 4
          - echo not-reached
    - from: inline
      name: after
      path: inline/after.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: after}}
        run:
          steps:
          - echo "state=${{STATE:-unset}}"
          - lava-send server-ready
- test:
    role: [client]
    protocols:
      lava-multinode:
      - request: lava-wait
        messageID: server-ready
    definitions:
    - from: inline
      name: client
      path: inline/client.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: client}}
        run:
          steps:
          - echo client-ran
""",
        source="exit-then-more.yaml",
    )
    result = run_job(job, tmp_path / "out")
    names = [d.name for d in result.devices]
    server = steps_of(result, names[0])
    client = steps_of(result, names[1])
    assert server[1][:2] == ("fail", 4)
    assert server[2][0] == "skip"
    # The next definition ran in a fresh script: LAVA's definitions do not share variables.
    assert server[3][0] == "pass" and "state=unset" in server[3][3]
    assert server[4][0] == "pass"  # its lava-send reached the client's request
    assert client == [("pass", 0, "", "client-ran\r\n")]
