"""results.xml: well-formed and valid for Jenkins' xUnit schema whatever the boards printed.

junit-10.xsd beside this file is the schema of the Jenkins xUnit plugin
(jenkinsci/xunit-plugin: src/main/resources/org/jenkinsci/plugins/xunit/types/
model/xsd/junit-10.xsd), kept as published with its MIT licence header.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from serialsync.job.records import write_junit, xml_text
from serialsync.job.results import DeviceResult, JobResult, StepResult, skipped

EVERY_CONTROL = "".join(map(chr, range(0x20))) + "\x7f"
NOT_XML = "\ufffe\uffff\ud800"  # never allowed in XML 1.0; the last a lone surrogate (surrogateescape'd byte)


def _call(api: str, message_id: str, ok: bool = True, reason: str = "", waited: float = 0.25) -> dict:
    return {
        "api": api,
        "message_id": message_id,
        "ok": ok,
        "reason": reason,
        "waited": waited,
        "role": None,
        "device": None,
        "started_at": "2025-03-04T10:00:01.000+02:00",
        "ended_at": "2025-03-04T10:00:01.250+02:00",
        "start": 1.0,
        "end": 1.25,
    }


def _step(
    index: int, name: str, result: str = "pass", output: str = "", reason: str = "", command: str = ""
) -> StepResult:
    return StepResult(
        index,
        command or f"echo {index}",
        result,
        0 if result == "pass" else 1,
        0.5,
        reason,
        output_tail=output,
        name=name,
        started_at="2025-03-04T10:00:00.000+02:00",
        ended_at="2025-03-04T10:00:00.500+02:00",
        start=0.0,
        end=0.5,
    )


def _hostile_job() -> JobResult:
    """Every byte a console can carry, in every field the writer puts in the file; names that repeat."""
    board = DeviceResult(
        name="board",
        role="server",
        connection="simulated",
        result="fail",
        reason=f"step-2 failed: {EVERY_CONTROL}{NOT_XML}",
        duration=3.0,
        steps=[
            _step(1, "check", output=f"{EVERY_CONTROL}ok {NOT_XML} \x1b[1;31mred\x1b[0m\r\n"),
            _step(
                2,
                "check",
                "fail",
                output="\x1b]0;title\x07\x1b[2KFAILED bell\x07 \ufffd\ufffd\r\n",
                reason=f"exit status 1 {EVERY_CONTROL}",
                command=f"printf 'x\\007'; false {NOT_XML}",
            ),
            skipped(
                3, "echo after", f"bad{EVERY_CONTROL}name", "not run: step-2 ended the definition with exit status 3"
            ),
        ],
        calls=[
            _call("lava-sync", "round"),
            _call("lava-sync", "round"),
            _call("lava-sync", "round", ok=False, reason=f"srv left the group\x07{NOT_XML}"),
        ],
        test_cases=[
            {"name": "check", "result": "pass", "measurement": "12.5", "units": "MB/s", "start": 2.0, "end": 2.0},
            {"name": "lost", "result": "unknown", "measurement": None, "units": None, "start": 2.1, "end": 2.1},
        ],
        started_at="2025-03-04T10:00:00.000+02:00",
        ended_at="2025-03-04T10:00:03.000+02:00",
    )
    return JobResult(
        job=f"job{EVERY_CONTROL}",
        result="fail",
        duration=3.5,
        devices=[board],
        started_at="2025-03-04T09:59:59.500+02:00",
        hostname="lab-host",
    )


def test_every_character_a_board_can_print_is_cleaned_from_every_field(tmp_path, junit_validate):
    path = tmp_path / "results.xml"
    write_junit(_hostile_job(), path)
    root = ET.parse(path).getroot()
    assert junit_validate(path) == []
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "check",
        "check #2",
        "bad name",
        "multinode-lava-sync-round",
        "multinode-lava-sync-round #2",
        "multinode-lava-sync-round #3",
        "check #3",
        "lost",
    ]
    # Escapes and invisible controls go; tab and line ends stay (CR as LF); what XML cannot hold is U+FFFD.
    assert cases[0].find("system-out").text == "\t\n\nok \ufffd\ufffd\ufffd red\n"
    assert cases[1].find("system-out").text == "FAILED bell \ufffd\ufffd\n"
    failure = cases[1].find("failure")
    assert failure.get("message") == "exit status 1 \t\n\n"
    assert failure.text == "printf 'x\\007'; false \ufffd\ufffd\ufffd"
    assert cases[5].find("failure").get("message") == "srv left the group\ufffd\ufffd\ufffd"
    # A name is on one line: whitespace runs are one space.
    assert root.get("name") == "job"
    assert {c.get("classname") for c in cases} == {"job .board"}
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["reason"] == "step-2 failed: \t\n\n\ufffd\ufffd\ufffd"


def test_a_suite_says_what_ci_servers_count_and_when(tmp_path):
    path = tmp_path / "results.xml"
    write_junit(_hostile_job(), path)
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time", "hostname")} == {
        "name": "board",
        "tests": "8",
        "failures": "2",
        "errors": "0",
        "skipped": "2",
        "time": "3.000",
        "hostname": "lab-host",
    }
    assert suite.get("timestamp") == "2025-03-04T08:00:00"  # UTC, no offset: Ant's and Gradle's form
    assert next(child.tag for child in suite) == "properties"
    assert {k: root.get(k) for k in ("tests", "failures", "errors")} == {"tests": "8", "failures": "2", "errors": "0"}
    cases = suite.findall("testcase")
    # Every step that ran has its own output; a skipped one says why it never ran.
    assert [c.find("system-out") is not None for c in cases[:3]] == [True, True, False]
    assert cases[2].find("skipped").get("message") == "not run: step-2 ended the definition with exit status 3"
    assert cases[7].find("skipped").get("message") == "lava-test-case reported unknown"
    assert [c.get("time") for c in cases[:4]] == ["0.500", "0.500", "0.000", "0.250"]
    # A measurement is the case's output: junit-10.xsd allows no properties in a testcase.
    assert cases[6].find("properties") is None
    assert cases[6].find("system-out").text == "measurement: 12.5 MB/s\n"


def test_a_device_that_never_started_and_an_interrupted_one_still_show_why(tmp_path, junit_validate):
    dead = DeviceResult(
        name="dead",
        role="client",
        connection="serial:///dev/ttyUSB9",
        result="fail",
        reason="the console closed",
        steps=[skipped(1, "echo hi", "step-1", "not run: the console closed")],
    )
    stopped = DeviceResult(
        name="stopped",
        role="client",
        connection="simulated",
        result="interrupted",
        steps=[
            _step(1, "step-1", output="hi\r\n"),
            skipped(2, "sleep 100", "step-2", "not finished: interrupted by Ctrl-C"),
        ],
    )
    result = JobResult(
        job="j", result="interrupted", duration=1.0, devices=[dead, stopped], interrupted="interrupted by Ctrl-C"
    )
    path = tmp_path / "results.xml"
    write_junit(result, path)
    assert junit_validate(path) == []
    suites = {s.get("name"): s for s in ET.parse(path).getroot().iter("testsuite")}
    dead_cases = {c.get("name"): c for c in suites["dead"].iter("testcase")}
    assert list(dead_cases) == ["step-1", "job"]
    assert dead_cases["job"].find("failure").get("message") == "the console closed"
    stopped_cases = {c.get("name"): c for c in suites["stopped"].iter("testcase")}
    assert stopped_cases["step-2"].find("skipped").get("message") == "not finished: interrupted by Ctrl-C"
    assert stopped_cases["job"].find("failure").get("message") == "interrupted: interrupted by Ctrl-C"
    assert {p.get("name"): p.get("value") for p in suites["stopped"].find("properties")}["interrupted"] == (
        "interrupted by Ctrl-C"
    )
    assert suites["stopped"].get("timestamp")  # no time known: the time of writing


def test_xml_text_keeps_what_a_reader_sees():
    assert xml_text("\x1b[1;31mFAILED\x1b[0m bell\x07") == "FAILED bell"
    assert xml_text("a\r\nb\rc\td") == "a\nb\nc\td"
    assert xml_text("\x1b]0;a title\x07shown") == "shown"
    assert xml_text("\x1b]0;cut off\nnext line") == "\nnext line"  # an unterminated title ends at the line
    assert xml_text("caf\u00e9 \U0001f600 \x85") == "caf\u00e9 \U0001f600 \x85"  # XML 1.0 holds these
    assert xml_text(None) == ""
