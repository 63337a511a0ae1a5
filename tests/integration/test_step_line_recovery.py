"""The end of a step survives a lossy console: a damaged or lost step line costs seconds, not the step timeout.

A hop between the host and a simulated board damages or drops the lines the
board prints at the end of a step (``__SSRC_...`` and ``__SSEND_...``), the
way one bad byte or a short burst on a UART would. The host must notice,
trust no damaged line, get the line again and report the step's real status.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import deque
from pathlib import Path

import pytest

from serialsync.errors import TransportTimeout
from serialsync.job import parse_job, run_job
from serialsync.job.board import step_check
from serialsync.transports import Transport

pytestmark = pytest.mark.slow

STEP_TIMEOUT = 40  # the old code waited this long for a damaged step line; the new one must not
QUICK = 15.0  # seconds: a recovered step ends well within this (the first ask goes after 2 s)
HOLD_RELEASE = 0.2  # seconds a possible start of a step line is held back before it goes on as it is


class StepLineHop(Transport):
    """Damages or drops whole step lines from the board, in the order the board prints them.

    ``plan`` maps a line start (``b"__SSRC_"``, ``b"__SSEND_"``) to what
    happens to the first lines that start so, one action each: ``"drop"``
    (the line and its newline are lost), ``"letter"`` (the byte after
    ``__SS`` is changed), ``"digit"`` (the last digit before the closing
    ``__`` is changed), ``"pass"``. Later lines pass untouched. A possible
    start that a read cut in two is held back until the rest arrives.
    """

    def __init__(self, inner: Transport, plan: dict[bytes, list[str]]) -> None:
        self.inner = inner
        self.spec = f"step-line-hop({inner.spec})"
        self.plan = {start: deque(actions) for start, actions in plan.items()}
        self.done: list[tuple[bytes, str, bytes]] = []  # (start, action, the line as the board printed it)
        self._held = b""
        self._out: deque[bytes] = deque()
        self._lock = threading.Lock()

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        while not self._out:
            pending = any(self._held.startswith(s) for s in self.plan)  # a whole line start: wait for its end
            wait = timeout if pending or not self._held else min(HOLD_RELEASE, timeout or HOLD_RELEASE)
            try:
                data = self.inner.read(4096, wait)
            except TransportTimeout:
                if not self._held or pending:
                    raise
                data, self._held = self._held, b""  # nothing more came: it was not a step line
                self._out.append(data)
                break
            if not data:
                return data
            self._filter(self._held + data)
        chunk = self._out.popleft()
        if len(chunk) > max_bytes:
            self._out.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        return chunk

    def _filter(self, data: bytes) -> None:
        out = bytearray()
        at = 0
        self._held = b""
        while at < len(data):
            starts = [(data.find(s, at), s) for s, actions in self.plan.items() if actions]
            starts = [(i, s) for i, s in starts if i >= 0]
            if not starts:
                keep = self._partial_start(data[at:])
                out += data[at : len(data) - keep]
                self._held = data[len(data) - keep :] if keep else b""
                break
            i, start = min(starts)
            out += data[at:i]
            end = data.find(b"\n", i)
            if end < 0:
                self._held = data[i:]  # the rest of this line is still to come
                break
            line = data[i : end + 1]
            action = self.plan[start].popleft()
            self.done.append((start, action, line))
            out += _apply(action, line)
            at = end + 1
        if out:
            self._out.append(bytes(out))

    def _partial_start(self, tail: bytes) -> int:
        """How many bytes at the end of tail may begin a planned line start."""
        for size in range(min(len(tail), max(len(s) for s in self.plan)), 0, -1):
            if any(s.startswith(tail[-size:]) for s, actions in self.plan.items() if actions):
                return size
        return 0

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


def _apply(action: str, line: bytes) -> bytes:
    if action == "drop":
        return b""
    if action == "letter":
        return line[:4] + (b"Q" if line[4:5] != b"Q" else b"X") + line[5:]
    if action == "digit":
        end = line.rfind(b"__")
        digit = line[end - 1 : end]
        return line[: end - 1] + (b"7" if digit != b"7" else b"3") + line[end:]
    return line


def need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (CI installs it: apt-get install busybox-static dash)")


def run_through(tmp_path: Path, shell: str, steps: str, plan: dict[bytes, list[str]]):
    job = parse_job(
        f"""
timeouts: {{step: {STEP_TIMEOUT}, call: 30}}
devices:
  - {{name: a, role: solo, connection: "simulated:{shell}"}}
roles:
  solo:
    steps:
{steps}
""",
        source="step-lines.yaml",
    )
    hops: list[StepLineHop] = []

    def hop(device, transport: Transport) -> Transport:
        hops.append(StepLineHop(transport, plan))
        return hops[-1]

    result = run_job(job, tmp_path / "out", wrap_transport=hop)
    device = result.devices[0]
    return device, hops[0]


def outcome(device) -> list[tuple[str, int | None]]:
    return [(s.result, s.exit_status) for s in device.steps]


@pytest.mark.parametrize("shell", ["busybox", "dash", "bash"])
def test_step_line_damaged_is_asked_for_again_and_the_status_is_right(tmp_path: Path, shell: str):
    """Every copy of the first step line arrives with a changed byte: none is trusted, the step ends in seconds."""
    need(shell)
    # Enough damaged lines for every copy the board prints of step 1's line (one, on old code).
    plan = {b"__SSRC_": ["letter", "letter"]}
    steps = "      - cd /tmp && kept=yes; false\n      - echo \"in=$(pwd) kept=$kept\"\n"
    device, hop = run_through(tmp_path, shell, steps, plan)
    assert outcome(device) == [("fail", 1), ("pass", 0)], [(s.result, s.reason) for s in device.steps]
    assert device.steps[0].duration < QUICK, device.steps[0]
    assert len(hop.done) == 2, hop.done
    assert "in=/tmp kept=yes" in device.steps[1].output_tail  # the subshell's state held across the ask
    assert "__SS" not in device.steps[1].output_tail  # the host's step lines are not the step's output
    log = (tmp_path / "out" / "a.console.log").read_bytes()
    assert log.count(b"__SSRC_1:1:%d__" % step_check("RC", 1, 1)) >= 1  # printed again, when asked


def test_step_line_with_a_changed_status_digit_is_never_trusted(tmp_path: Path):
    """A damaged digit still looks like a step line: its check says it is not one."""
    need("dash")
    plan = {b"__SSRC_": ["digit", "digit"]}
    device, hop = run_through(tmp_path, "dash", "      - exit_with() { return $1; }; exit_with 3\n", plan)
    assert outcome(device) == [("fail", 3)], [(s.result, s.reason) for s in device.steps]
    assert device.steps[0].duration < QUICK
    assert len(hop.done) == 2, hop.done


def test_step_line_lost_entirely_costs_no_step_timeout(tmp_path: Path):
    """The board's first step line never arrives at all: the status still comes, in seconds."""
    need("dash")
    plan = {b"__SSRC_": ["drop"]}
    device, hop = run_through(tmp_path, "dash", "      - 'true'\n      - sh -c 'exit 5'\n", plan)
    assert outcome(device) == [("pass", 0), ("fail", 5)], [(s.result, s.reason) for s in device.steps]
    assert device.steps[0].duration < QUICK
    assert [action for _, action, _ in hop.done] == ["drop"]


def test_step_line_lost_then_damaged_is_asked_for_again(tmp_path: Path):
    """One copy lost, the other damaged: the damage says the step is over, so the host asks."""
    need("dash")
    plan = {b"__SSRC_": ["drop", "digit"]}
    device, hop = run_through(tmp_path, "dash", "      - echo one\n      - echo two\n", plan)
    assert outcome(device) == [("pass", 0), ("pass", 0)], [(s.result, s.reason) for s in device.steps]
    assert device.steps[0].duration < QUICK
    assert [action for _, action, _ in hop.done] == ["drop", "digit"]


@pytest.mark.parametrize("shell", ["busybox", "dash", "bash"])
def test_step_end_line_of_an_exit_damaged_is_asked_for_at_the_prompt(tmp_path: Path, shell: str):
    """`exit 3` ends the definition; the line saying so arrives damaged: the login shell prints it again."""
    need(shell)
    plan = {b"__SSEND_": ["letter", "letter"]}
    steps = "      - echo first\n      - exit 3\n      - echo never-runs\n"
    device, hop = run_through(tmp_path, shell, steps, plan)
    assert outcome(device) == [("pass", 0), ("fail", 3), ("skip", None)], [(s.result, s.reason) for s in device.steps]
    assert "exit ended the definition" in device.steps[1].reason
    assert device.steps[1].duration < QUICK
    assert len(hop.done) == 2, hop.done


LAVA_TWO_DEFINITIONS = """
job_name: two-definitions
timeouts:
  job: {{minutes: 2}}
  action: {{seconds: {timeout}}}
protocols:
  lava-multinode:
    roles:
      solo: {{count: 1, connection: "simulated:{shell}"}}
    timeout: {{seconds: 30}}
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
          - echo one
    - from: inline
      name: second
      path: inline/second.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: second}}
        run:
          steps:
          - echo two
"""


def test_step_end_line_lost_after_the_last_step_is_asked_for(tmp_path: Path):
    """Both copies of a definition's end line are lost: the host asks at the prompt, the next definition runs."""
    need("dash")
    hops: list[StepLineHop] = []

    def hop(device, transport: Transport) -> Transport:
        hops.append(StepLineHop(transport, {b"__SSEND_": ["drop", "drop"]}))
        return hops[-1]

    job = parse_job(LAVA_TWO_DEFINITIONS.format(shell="dash", timeout=STEP_TIMEOUT), source="two-definitions.yaml")
    started = time.monotonic()
    result = run_job(job, tmp_path / "out", wrap_transport=hop)
    took = time.monotonic() - started
    device = result.devices[0]
    assert result.passed, (device.reason, [(s.result, s.reason) for s in device.steps])
    assert outcome(device) == [("pass", 0), ("pass", 0)]
    assert [action for _, action, _ in hops[0].done][:1] == ["drop"]
    assert took < STEP_TIMEOUT, took
