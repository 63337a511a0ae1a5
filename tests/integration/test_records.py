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
    # A step is named after its command; a call after its API and message ID.
    assert list(srv) == [
        "lava-send hello k=v",
        "lava-sync round",
        "echo out-of-srv; false",
        "multinode-lava-send-hello",
        "multinode-lava-sync-round",
    ]
    assert srv["lava-send hello k=v"].find("failure") is None
    # Every step's own output is its system-out, a passing step's too.
    assert "SEND hello" in srv["lava-send hello k=v"].find("system-out").text
    failure = srv["echo out-of-srv; false"].find("failure")
    assert failure is not None and failure.get("message") == "exit status 1"
    assert "out-of-srv" in srv["echo out-of-srv; false"].find("system-out").text
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


# A board's colours, a bell and bytes that are not UTF-8, in the output of a failing step;
# a call made twice in a loop; a step after `exit`, which ends the definition, never runs.
HOSTILE = r"""
name: hostile
timeouts: {call: 5}
devices:
  - {name: board, role: solo}
roles:
  solo:
    steps:
      - {name: clean, run: echo clean}
      - for i in 1 2; do lava-sync twice; done
      - printf '\033[1;31mFAILED\033[0m bell\007 \377\376\n'; false
      - exit 3
      - {name: clean, run: echo never-run}
"""


def test_results_xml_is_valid_junit_whatever_the_board_printed(tmp_path, junit_validate):
    result = run_job(parse_job(HOSTILE, source="hostile.yaml"), tmp_path)
    assert not result.passed
    raw = (tmp_path / "board.console.log").read_bytes()
    assert b"\x1b[1;31mFAILED\x1b[0m bell\x07 \xff\xfe" in raw  # the board printed exactly these bytes
    path = tmp_path / "results.xml"
    root = ET.parse(path).getroot()
    assert junit_validate(path) == []
    (suite,) = root.iter("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    # Named steps keep their names, the others are named after their command; a repeated name gets #2.
    assert list(cases) == [
        "clean",
        "for i in 1 2; do lava-sync twice; done",
        r"printf '\033[1;31mFAILED\033[0m bell\007 \377\376\n'; false",
        "exit 3",
        "clean #2",
        "multinode-lava-sync-twice",
        "multinode-lava-sync-twice #2",
    ]
    assert cases["clean"].find("system-out").text.strip() == "clean"
    failed = cases[r"printf '\033[1;31mFAILED\033[0m bell\007 \377\376\n'; false"]
    assert failed.find("failure").get("message") == "exit status 1"
    assert failed.find("failure").text == r"printf '\033[1;31mFAILED\033[0m bell\007 \377\376\n'; false"
    assert failed.find("system-out").text == "FAILED bell \ufffd\ufffd\n"
    assert cases["exit 3"].find("failure").get("message").startswith("exit status 3")
    skipped = cases["clean #2"].find("skipped")
    assert skipped is not None and "ended the definition with exit status 3" in skipped.get("message")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == (
        "7",
        "2",
        "1",
        "0",
    )
