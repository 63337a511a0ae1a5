"""What a run writes besides results.json: JUnit XML and timestamped console logs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from serialsync.job import parse_job, run_job

pytestmark = pytest.mark.slow

JOB = """
name: records
timeouts: {call: 5}
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
roles:
  server:
    steps:
      - lava-send hello k=v
      - lava-sync round
      - echo out-of-srv; false
  client:
    steps:
      - lava-wait hello
      - lava-sync round
      - lava-wait never-sent
"""


def test_results_as_junit_with_steps_and_multinode_calls(tmp_path):
    result = run_job(parse_job(JOB, source="records.yaml"), tmp_path)
    assert not result.passed
    root = ET.parse(tmp_path / "results.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"srv", "c1"}
    srv = {c.get("name"): c for c in suites["srv"].iter("testcase")}
    assert list(srv) == ["step-1", "step-2", "step-3", "multinode-lava-send-hello", "multinode-lava-sync-round"]
    assert srv["step-1"].find("failure") is None
    failure = srv["step-3"].find("failure")
    assert failure is not None and failure.get("message") == "exit status 1"
    assert "out-of-srv" in srv["step-3"].find("system-out").text
    c1 = {c.get("name"): c for c in suites["c1"].iter("testcase")}
    never = c1["multinode-lava-wait-never-sent"].find("failure")
    assert never is not None and "srv left the group" in never.get("message")  # failed fast, with the reason
    assert suites["c1"].get("failures") == "2"  # the nacked call and the step that made it
    # How long each call waited is its test case's time.
    waited = {c["message_id"]: c["waited"] for d in result.devices if d.name == "c1" for c in d.calls}
    assert float(c1["multinode-lava-sync-round"].get("time")) == pytest.approx(waited["round"], abs=0.001)


def test_console_logs_raw_and_timestamped(tmp_path):
    run_job(parse_job(JOB, source="records.yaml"), tmp_path)
    raw = (tmp_path / "srv.console.log").read_bytes()
    stamped = (tmp_path / "srv.console.timestamped.log").read_bytes()
    lines = stamped.splitlines()
    stamps = []
    for line in lines:
        match = re.match(rb"\[ *(\d+\.\d{3})\] ", line)
        assert match, line
        stamps.append(float(match.group(1)))
    assert stamps == sorted(stamps) and stamps[-1] > 0
    # The same bytes, only cut into lines with stamps in front.
    unstamped = b"".join(re.sub(rb"^\[ *\d+\.\d{3}\] ", b"", line) for line in stamped.splitlines(keepends=True))
    assert unstamped.rstrip(b"\n") == raw.rstrip(b"\n")
    assert b"out-of-srv" in raw
