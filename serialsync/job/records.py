"""What a run leaves behind besides results.json: JUnit XML and timestamped console logs."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from .run import JobResult


LAST_LINE_BYTES = 200
_ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


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


def call_case_name(api: str, message_id: str | None) -> str:
    """LAVA's name for a multinode call as a test case: multinode-lava-sync-round."""
    return f"multinode-{api}" + (f"-{message_id}" if message_id else "")


def write_junit(result: JobResult, path: Path) -> None:
    """One <testsuite> per device: its steps, then its multinode calls, as test cases."""
    suites = ET.Element("testsuites", name=result.job, time=f"{result.duration:.3f}")
    for device in result.devices:
        cases: list[ET.Element] = []
        for step in device.steps:
            case = ET.Element(
                "testcase",
                classname=f"{result.job}.{device.name}",
                name=step.name or f"step-{step.index}",
                time=f"{step.duration:.3f}",
            )
            if step.result != "pass":
                failure = ET.SubElement(case, "failure", message=step.reason)
                failure.text = step.command
                if step.output_tail:
                    ET.SubElement(case, "system-out").text = step.output_tail
            cases.append(case)
        for call in device.calls:
            case = ET.Element(
                "testcase",
                classname=f"{result.job}.{device.name}",
                name=call_case_name(call["api"], call["message_id"]),
                time=f"{call['waited']:.3f}",
            )
            if not call["ok"]:
                ET.SubElement(case, "failure", message=call["reason"])
            cases.append(case)
        for reported in device.test_cases:  # lava-test-case on the board
            case = ET.Element("testcase", classname=f"{result.job}.{device.name}", name=reported["name"])
            if reported["result"] == "fail":
                ET.SubElement(case, "failure", message="lava-test-case reported fail")
            elif reported["result"] in ("skip", "unknown"):
                ET.SubElement(case, "skipped", message=f"lava-test-case reported {reported['result']}")
            if reported["measurement"] is not None:
                value = f"{reported['measurement']} {reported['units'] or ''}".strip()
                ET.SubElement(case, "properties").append(ET.Element("property", name="measurement", value=value))
            cases.append(case)
        if device.result != "pass" and not any(c.find("failure") is not None for c in cases):
            # A device that failed before any step (no console, no shell) still shows why.
            case = ET.Element("testcase", classname=f"{result.job}.{device.name}", name="job")
            ET.SubElement(case, "failure", message=device.reason)
            cases.append(case)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=device.name,
            tests=str(len(cases)),
            failures=str(sum(c.find("failure") is not None for c in cases)),
            time=f"{device.duration:.3f}",
        )
        suite.extend(cases)
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
        self.started = time.monotonic() if started is None else started
        self.on_line = on_line  # each complete, non-blank line, as text
        self._line_open = False
        self._after_cr = False  # the last piece ended with CR: its LF may come in the next read
        self._partial = b""

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        now = time.monotonic() - self.started
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
                    text = _ESCAPES.sub(b"", self._partial).strip()
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
