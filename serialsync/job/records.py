"""What a run leaves behind besides results.json: JUnit XML and timestamped console logs.

results.xml is written with the standard library's ElementTree, hardened
here, rather than with a JUnit library from PyPI: junit-xml and junitparser
would add a dependency yet leave the board's ANSI escapes to us (and, at most,
drop the characters XML forbids), while a few lines below clean every string
and shape the file as Jenkins' xUnit schema (junit-10.xsd) wants.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .._text import ESCAPES, ESCAPES_IN_BYTES
from .._time import SYSTEM_CLOCK
from .results import DeviceResult, JobResult

LAST_LINE_BYTES = 200


_TEST_CASE_RE = re.compile(
    r"<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=([A-Za-z0-9_.-]+) RESULT=(pass|fail|skip|unknown)"
    r"(?: MEASUREMENT=([^\s>]+))?(?: UNITS=([^\s>]+))?>"
)


def parse_test_case(line: str) -> dict | None:
    """A test case the board reported (lava-test-case's signal) in a console line, if any."""
    found = _TEST_CASE_RE.search(line)
    if found is None:
        return None
    name, result, measurement, units = found.groups()
    return {"name": name, "result": result, "measurement": measurement, "units": units}


_TEST_SET_RE = re.compile(r"<LAVA_SIGNAL_TESTSET (?:START ([A-Za-z0-9_.-]+)|(STOP))>")
_REFERENCE_RE = re.compile(r"<LAVA_SIGNAL_TESTREFERENCE ([A-Za-z0-9_.-]+) (pass|fail|skip|unknown) ([^\s>]+)>")


class TestSignals:
    """LAVA's test signals in a device's console lines, in order: test cases, in their test set, and references.

    lava-test-set start NAME puts the test cases that follow into set NAME
    until lava-test-set stop, as LAVA groups them.
    """

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.current_set: str | None = None

    def feed(self, line: str) -> dict | None:
        """The test case a console line reports, if it reports one."""
        if "<LAVA_SIGNAL_" not in line:
            return None
        if (found := _TEST_SET_RE.search(line)) is not None:
            self.current_set = None if found.group(2) else found.group(1)
            return None
        case = parse_test_case(line)
        if case is None and (found := _REFERENCE_RE.search(line)) is not None:
            name, result, url = found.groups()
            case = {"name": name, "result": result, "measurement": None, "units": None, "reference": url}
        if case is not None and self.current_set is not None:
            case["set"] = self.current_set
        return case


def call_case_name(api: str, message_id: str | None) -> str:
    """LAVA's name for a multinode call as a test case: multinode-lava-sync-round."""
    return f"multinode-{api}" + (f"-{message_id}" if message_id else "")


# What a terminal does not show: C0 controls but tab, newline and CR; DEL; a lone ESC left over.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What XML 1.0 cannot hold at all that is left: lone surrogates, U+FFFE, U+FFFF.
_NOT_XML = re.compile(r"[\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str | None) -> str:
    """*text* as a board printed it, made fit for any XML 1.0 document and a reader's eyes.

    Escape sequences and invisible controls go; what XML cannot hold and is
    not a control (a lone surrogate, U+FFFE, U+FFFF) becomes U+FFFD, as an
    undecodable byte already is; line ends become LF.
    """
    if not text:
        return ""
    text = ESCAPES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    return _NOT_XML.sub("\ufffd", text)


def _name(text: str | None) -> str:
    """A name (a case's, a suite's) as xml_text, on one line: each run of whitespace one space."""
    return " ".join(xml_text(text).split())


def _seconds(value: float | None) -> str:
    """A duration as JUnit's time attribute: plain decimal seconds, never negative."""
    if value is None or not math.isfinite(value) or value < 0:
        return "0.000"
    return f"{value:.3f}"


def _timestamp(*iso: str) -> str:
    """The first known of *iso* (ISO 8601 with offset) as JUnit's timestamp: UTC, no offset, seconds.

    That is the form Ant's JUnit schema requires and Gradle writes; with no
    time known, the time of writing.
    """
    for value in iso:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.astimezone()
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _element(tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.Element(tag, {key: xml_text(value) for key, value in attributes.items()})
    if text:
        element.text = xml_text(text)
    return element


def _unique_names(cases: Iterable[ET.Element]) -> None:
    """A name repeated in a suite gets " #2", " #3", ... in order of appearance: each case is its own."""
    seen: set[str] = set()
    repeats: dict[str, int] = {}
    for case in cases:
        name = case.get("name", "")
        unique = name
        while unique in seen:
            repeats[name] = repeats.get(name, 1) + 1
            unique = f"{name} #{repeats[name]}"
        seen.add(unique)
        case.set("name", unique)


def _device_cases(result: JobResult, device: DeviceResult) -> list[ET.Element]:
    classname = _name(f"{result.job}.{device.name}")
    cases: list[ET.Element] = []
    for step in device.steps:
        case = _element(
            "testcase",
            name=_name(step.name) or f"step-{step.index}",
            classname=classname,
            time=_seconds(step.duration),
        )
        if step.result == "skip":
            case.append(_element("skipped", message=step.reason or "not run"))
        elif step.result != "pass":
            case.append(_element("failure", step.command, message=step.reason or "failed"))
        if output := xml_text(step.output_tail):
            case.append(_element("system-out", output))
        cases.append(case)
    for call in device.calls:
        case = _element(
            "testcase",
            name=_name(call_case_name(call["api"], call["message_id"])),
            classname=classname,
            time=_seconds(call.get("waited")),
        )
        if not call["ok"]:
            case.append(_element("failure", message=call.get("reason") or "the call failed"))
        cases.append(case)
    for reported in device.test_cases:  # lava-test-case on the board
        start, end = reported.get("start"), reported.get("end")
        took = end - start if isinstance(start, int | float) and isinstance(end, int | float) else None
        name = f"{reported['set']}/{reported['name']}" if reported.get("set") else reported["name"]
        case = _element("testcase", name=_name(name), classname=classname, time=_seconds(took))
        said = "the parse pattern found" if reported.get("source") == "parse" else "lava-test-case reported"
        if reported["result"] == "fail":
            case.append(_element("failure", message=f"{said} fail"))
        elif reported["result"] in ("skip", "unknown"):
            case.append(_element("skipped", message=f"{said} {reported['result']}"))
        if reported.get("measurement") is not None:
            # junit-10.xsd has no properties in a testcase: the measurement is its output.
            value = f"{reported['measurement']} {reported.get('units') or ''}".strip()
            case.append(_element("system-out", f"measurement: {value}\n"))
        elif reported.get("reference"):
            case.append(_element("system-out", f"reference: {reported['reference']}\n"))
        cases.append(case)
    if device.result != "pass" and not any(c.find("failure") is not None for c in cases):
        # A device that failed before any step (no console, no shell), or was interrupted, still shows why.
        why = device.reason or (f"interrupted: {result.interrupted}" if result.interrupted else device.result)
        case = _element("testcase", name="job", classname=classname, time=_seconds(device.duration))
        case.append(_element("failure", message=why))
        cases.append(case)
    _unique_names(cases)
    return cases


def _properties(result: JobResult, device: DeviceResult) -> ET.Element:
    known = {
        "role": device.role,
        "connection": device.connection,
        "result": device.result,
        "reason": device.reason,
        "started_at": device.started_at,
        "ended_at": device.ended_at,
        "console_log": device.console_log,
        "interrupted": result.interrupted,
    }
    properties = ET.Element("properties")
    for name, value in known.items():
        if value:
            properties.append(_element("property", name=name, value=value))
    return properties


def write_junit(result: JobResult, path: Path) -> None:
    """One <testsuite> per device: its steps, its multinode calls, then lava-test-case's cases.

    Whatever the boards printed, the file is well-formed XML and valid for
    Jenkins' xUnit schema (junit-10.xsd): every string is cleaned (xml_text),
    no two cases of a suite share a name, and a suite's children come in the
    order Ant's schema wants (properties, testcases).
    """
    hostname = xml_text(result.hostname) or "localhost"
    suites = _element("testsuites", name=_name(result.job), time=_seconds(result.duration))
    totals = dict.fromkeys(("tests", "failures", "errors"), 0)
    for device in result.devices:
        cases = _device_cases(result, device)
        counts = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        for key in totals:
            totals[key] += counts[key]
        suite = _element(
            "testsuite",
            name=_name(device.name),
            **{key: str(value) for key, value in counts.items()},
            time=_seconds(device.duration),
            timestamp=_timestamp(device.started_at, result.started_at),
            hostname=hostname,
        )
        suite.append(_properties(result, device))
        suite.extend(cases)
        suites.append(suite)
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


class ConsoleLogs:
    """A pexpect logfile: the console raw to one file, and by line with timestamps to another.

    Each line of the timestamped log starts with the seconds since the device
    started, taken when the line's first byte arrived: "[   12.345] text".
    Bytes are kept as they came (undecodable ones escaped), a partial last
    line is written out at close.
    """

    def __init__(
        self,
        raw: IO[bytes],
        stamped: IO[bytes],
        started: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.raw = raw
        self.stamped = stamped
        self.started = SYSTEM_CLOCK.monotonic() if started is None else started
        self.on_line = on_line  # each complete, non-blank line, as text
        self._line_open = False
        self._after_cr = False  # the last piece ended with CR: its LF may come in the next read
        self._partial = b""

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        now = SYSTEM_CLOCK.monotonic() - self.started
        for piece in data.splitlines(keepends=True):
            if piece == b"\n" and self._after_cr:
                self.stamped.write(piece)  # the LF of a CR LF cut in two by a read
                self._after_cr = False
                continue
            self._after_cr = piece.endswith(b"\r")
            if not self._line_open:
                self.stamped.write(b"[%9.3f] " % now)
            self.stamped.write(piece)
            self._line_open = not piece.endswith((b"\n", b"\r"))
            if self.on_line is not None:
                self._partial = (self._partial + piece)[-LAST_LINE_BYTES:]
                if not self._line_open:
                    text = ESCAPES_IN_BYTES.sub(b"", self._partial).strip()
                    self._partial = b""
                    if text:
                        self.on_line(text.decode("utf-8", "replace"))

    def flush(self) -> None:
        self.raw.flush()
        self.stamped.flush()

    def close(self) -> None:
        if self._line_open:
            self.stamped.write(b"\n")
            self._line_open = False
        self.flush()
