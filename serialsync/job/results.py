"""What a run found: per step, per device, for the job. results.json is these, as data."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class StepResult:
    index: int
    command: str
    result: str  # "pass" | "fail" | "skip" (never ran)
    exit_status: int | None
    duration: float
    reason: str = ""
    output_tail: str = ""  # the step's own output (its last OUTPUT_TAIL bytes), not what was typed
    name: str = ""  # the test case's name
    started_at: str = ""  # wall clock, ISO 8601; "" for a step that never ran
    ended_at: str = ""
    start: float | None = None  # seconds since the job started
    end: float | None = None


def skipped(index: int, command: str, name: str, reason: str) -> StepResult:
    return StepResult(index, command, "skip", None, 0.0, reason, name=name)


@dataclass
class DeviceResult:
    name: str
    role: str
    connection: str
    result: str = "fail"
    reason: str = ""
    duration: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    console_log: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    # lava-test-case results the board printed: {name, result, measurement, units, started_at, ...}
    test_cases: list[dict] = field(default_factory=list)
    started_at: str = ""  # wall clock, ISO 8601 with offset
    ended_at: str = ""
    start: float = 0.0  # seconds since the job started
    end: float = 0.0


@dataclass
class JobResult:
    job: str
    result: str  # "pass" | "fail" | "interrupted"
    duration: float
    devices: list[DeviceResult]
    started_at: str = ""
    ended_at: str = ""
    start: float = 0.0
    end: float = 0.0
    interrupted: str = ""  # why the run was stopped before its end (Ctrl-C, SIGTERM); "" if it was not
    hostname: str = ""
    group_events: list[dict] = field(default_factory=list)  # {start, text}: the group is stuck, ...

    @property
    def passed(self) -> bool:
        return self.result == "pass"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)
