"""What `serialsync run` says when a job cannot work: before touching a board, or when a board is silent."""

from __future__ import annotations

import json

import pytest

from serialsync.cli import main
from serialsync.job import parse_job, run_job

pytestmark = pytest.mark.slow

DEADLOCK = """
timeouts: {call: 300}
devices:
  - {name: srv, role: server}
  - {name: cli, role: client}
roles:
  server:
    steps:
      - lava-wait never-sent
  client:
    steps:
      - echo "lava-wait-all returned"
"""


def test_run_stops_before_touching_a_board_when_a_call_can_never_complete(tmp_path, capsys):
    job = tmp_path / "job.yaml"
    job.write_text(DEADLOCK)
    assert main(["run", str(job), "-q", "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"problem: {job}:9: lava-wait never-sent" in err
    assert "not run: 1 call(s) above can never complete" in err and "--force" in err
    assert not (tmp_path / "out").exists()  # no board was touched


def test_run_with_force_runs_a_job_the_plan_flags(tmp_path, capsys):
    job = tmp_path / "job.yaml"
    job.write_text(DEADLOCK.replace("call: 300", "call: 1"))
    assert main(["run", str(job), "-q", "--force", "-o", str(tmp_path / "out")]) == 1
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    (wait,) = results["devices"][0]["calls"]
    assert wait["message_id"] == "never-sent" and not wait["ok"]  # it ran, and the call was answered nack


@pytest.mark.parametrize(
    ("command", "last"),
    [
        ("sleep 60", "nothing was read from it"),
        ("sh -c 'printf \"Starting kernel ...\\r\\n\\033[0m\"; exec sleep 60'", "'Starting kernel ...'"),
    ],
)
def test_a_silent_board_says_which_timeout_ran_out_what_was_read_and_what_to_check(tmp_path, command, last):
    connection = json.dumps(f"cmd:{command}")  # a YAML double-quoted string is a JSON string
    text = f"timeouts: {{boot: 1}}\ndevices: [{{name: dut, role: solo, connection: {connection}}}]\n"
    job = parse_job(text + "roles: {solo: {steps: [lava-self]}}\n", source="silent.yaml")
    (device,) = run_job(job, tmp_path / "out").devices
    assert device.result == "fail"
    assert "the board's shell did not answer within timeouts.boot (1 s)" in device.reason
    assert last in device.reason
    assert "Check that the board is powered" in device.reason and "baud rate" in device.reason
    assert "TIMEOUT" not in device.reason and "0.99" not in device.reason  # no class names, no raw floats
    assert [s.result for s in device.steps] == ["skip"]
