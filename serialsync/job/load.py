"""Load a job file (YAML) into a validated Job; errors name file, line and field.

The YAML is composed into nodes rather than plain objects so that every
value keeps its position, and every problem is reported at once before any
board is touched.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import replace
from pathlib import Path

import yaml

from ..errors import JobConfigError
from ..protocol import wire
from ..transports import parse_spec
from .model import DEFAULT_FAILURE_PATTERNS, ON_FAILURE, Action, Device, Job, Step, Timeouts, step_title

_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[JobConfigError] = []

    def add(self, node: yaml.Node | None, field: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.items.append(JobConfigError(message, file=self.source, line=line, field=field))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            raise self.items[0]
        first = self.items[0]
        text = "\n".join(str(p) for p in self.items)
        raise JobConfigError(
            f"{len(self.items)} problems:\n{text}", file=first.file, line=first.line, field=first.field
        )


def load_job(path: str | Path) -> Job:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise JobConfigError(f"cannot read job file: {e}", file=str(path)) from e
    return parse_job(text, source=str(path))


def parse_job(text: str, *, source: str = "<job>") -> Job:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise JobConfigError(
            f"not valid YAML: {getattr(e, 'problem', None) or e}",
            file=source,
            line=mark.line + 1 if mark else None,
        ) from e
    problems = _Problems(source)
    from .lava import is_lava_job, parse_lava_job  # LAVA's shape is read by its own module

    if is_lava_job(root):
        job = parse_lava_job(root, source, problems)
        return job if job.name else replace(job, name=Path(source).stem or "job")
    if not isinstance(root, yaml.MappingNode):
        problems.add(root, "(top level)", "a job file is a mapping with 'devices' and 'roles'")
        problems.raise_if_any()
    top = _mapping(
        root,
        "",
        {"name", "timeouts", "devices", "roles", "failure_patterns", "on_failure"},
        {"devices", "roles"},
        problems,
    )
    name = _string(top.get("name"), "name", problems) if "name" in top else Path(source).stem
    timeouts = _timeouts(top.get("timeouts"), problems)
    devices = _devices(top.get("devices"), problems)
    steps = _roles(top.get("roles"), problems)
    patterns = _patterns(top.get("failure_patterns"), problems)
    on_failure = on_failure_of(top.get("on_failure"), problems)
    if devices and steps is not None:
        used = {d.role for d in devices}
        for role, node in steps.items():
            if role not in used:
                problems.add(node[0], f"roles.{role}", f"no device has role {role!r}")
        role_nodes = top["devices"].value if isinstance(top.get("devices"), yaml.SequenceNode) else []
        for index, device in enumerate(devices):
            if device.role not in steps:
                node = role_nodes[index] if index < len(role_nodes) else None
                problems.add(node, f"devices[{index}].role", f"role {device.role!r} has no entry under 'roles'")
    problems.raise_if_any()
    assert steps is not None
    return Job(
        name=name or "job",
        devices=tuple(devices),
        actions=tuple(
            Action("test", frozenset({role}), steps=tuple(role_steps), name=role, line=node.start_mark.line + 1)
            for role, (node, role_steps, _) in steps.items()
        ),
        timeouts=timeouts,
        source=source,
        failure_patterns=patterns,
        on_failure=on_failure,
        essential_roles=frozenset(role for role, (_, _, essential) in steps.items() if essential),
    )


# --- pieces -----------------------------------------------------------------------
def _mapping(
    node: yaml.Node | None,
    field: str,
    allowed: set[str],
    required: set[str],
    problems: _Problems,
    ignored: set[str] | frozenset[str] = frozenset(),
) -> dict[str, yaml.Node]:
    """The fields of a mapping node; unknown keys reported. ``ignored`` keys are accepted and dropped."""
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, field or "(top level)", "expected a mapping")
        return {}
    out: dict[str, yaml.Node] = {}
    misspelt: set[str] = set()  # allowed keys some unknown key looks like a typo of
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        where = f"{field}.{key}" if field else str(key)
        if key in ignored:
            continue
        if key not in allowed:
            meant = closest(key, allowed)
            hint = f" (did you mean {meant!r}?)" if meant else ""
            problems.add(key_node, where, f"unknown field (allowed: {', '.join(sorted(allowed))}){hint}")
            if meant:
                misspelt.add(meant)
        elif key in out:
            problems.add(key_node, where, "given twice")
        else:
            out[key] = value_node
    # A required key written with a typo is one problem, the typo, not also "missing".
    for key in sorted(required - out.keys() - misspelt):
        problems.add(node, f"{field}.{key}" if field else key, "missing")
    return out


def closest(word: object, choices: set[str] | frozenset[str]) -> str | None:
    """The choice that word most likely misspells, if any (for "did you mean ...?")."""
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: object, choices: set[str] | frozenset[str]) -> str:
    """`` (did you mean 'x'?)`` to append to a message, or nothing."""
    meant = closest(word, choices)
    return f" (did you mean {meant!r}?)" if meant else ""


def _named_step(node: yaml.Node, where: str, problems: _Problems) -> Step | None:
    """A step: a shell command, or ``{name: ..., run: ...}`` to give its test case a name."""
    keys = {getattr(key, "value", None) for key, _ in node.value} if isinstance(node, yaml.MappingNode) else set()
    if keys and keys <= {"name", "run"}:
        fields = _mapping(node, where, {"name", "run"}, {"run"}, problems)
        name = _string(fields.get("name"), f"{where}.name", problems) if "name" in fields else ""
        text = _string(fields.get("run"), f"{where}.run", problems) if "run" in fields else ""
        return step_of(fields["run"], text, name or step_title(text)) if text else None
    text = _string(node, where, problems)
    return step_of(node, text, step_title(text)) if text else None


def step_of(node: yaml.Node, text: str, name: str) -> Step:
    """A step from its scalar node: where it starts, and whether its lines are the file's."""
    literal = isinstance(node, yaml.ScalarNode) and (node.style == "|" or "\n" not in text)
    return Step(text, name, first_line(node), literal)


def first_line(node: yaml.Node) -> int:
    """The line of a scalar's first character of content (a block scalar starts below its | or >)."""
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    return node.start_mark.line + 1 + (1 if block else 0)


def _construct(node: yaml.Node) -> object:
    """The plain value of a node, typed as YAML would."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _string(node: yaml.Node | None, field: str, problems: _Problems) -> str:
    if not isinstance(node, yaml.ScalarNode) or not isinstance(_construct(node), str) or not node.value.strip():
        problems.add(node, field, "expected a non-empty string")
        return ""
    return node.value


def _name(node: yaml.Node | None, field: str, problems: _Problems) -> str:
    if not isinstance(node, yaml.ScalarNode) or not wire.NAME_RE.match(str(node.value)):
        problems.add(node, field, "expected a name of 1-64 characters from A-Z a-z 0-9 _ . -")
        return ""
    return str(node.value)


def _seconds(node: yaml.Node | None, field: str, problems: _Problems, *, zero: str = "") -> float | None:
    """Seconds, or {seconds|minutes|hours: N}; more than 0, or also 0 where ``zero`` says what 0 means."""
    value = _construct(node) if node is not None else None
    if isinstance(node, yaml.MappingNode) and isinstance(value, dict) and len(value) == 1:
        ((unit, amount),) = value.items()
        if unit in _UNITS and isinstance(amount, (int, float)) and not isinstance(amount, bool):
            value = amount * _UNITS[unit]
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value < 0 or (value == 0 and not zero):
        expected = f"a number of seconds >= 0 ({zero})" if zero else "a positive number of seconds"
        problems.add(node, field, f"expected {expected}, or {{seconds|minutes|hours: N}}")
        return None
    return float(value)


def on_failure_of(node: yaml.Node | None, problems: _Problems) -> str:
    """The job's on_failure: continue (the default) or end-group."""
    if node is None:
        return "continue"
    value = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
    if value not in ON_FAILURE:
        problems.add(node, "on_failure", f"expected {' or '.join(ON_FAILURE)}")
    return value


def flag_of(node: yaml.Node | None, field: str, problems: _Problems) -> bool:
    """A true/false field; absent (or wrong, which is reported) is false."""
    if node is None:
        return False
    value = _construct(node)
    if not isinstance(value, bool):
        problems.add(node, field, "expected true or false")
        return False
    return value


def regex_list(items: list[yaml.Node], where: str, problems: _Problems) -> tuple[str, ...]:
    """Non-empty regular expressions (matched against console bytes), each checked with its line."""
    patterns = []
    for index, item in enumerate(items):
        text = _string(item, f"{where}[{index}]", problems)
        try:
            re.compile(text.encode())
        except re.error as e:
            problems.add(item, f"{where}[{index}]", f"not a regular expression: {e}")
            continue
        if text:
            patterns.append(text)
    return tuple(patterns)


def _patterns(node: yaml.Node | None, problems: _Problems) -> tuple[str, ...]:
    if node is None:
        return DEFAULT_FAILURE_PATTERNS
    if not isinstance(node, yaml.SequenceNode):
        problems.add(node, "failure_patterns", "expected a list of regular expressions (an empty list: none)")
        return DEFAULT_FAILURE_PATTERNS
    return regex_list(node.value, "failure_patterns", problems)


def _timeouts(node: yaml.Node | None, problems: _Problems) -> Timeouts:
    if node is None:
        return Timeouts()
    fields = _mapping(node, "timeouts", {"job", "boot", "step", "call", "connect"}, set(), problems)
    zero = {"connect": "0: no retry"}
    values = {k: _seconds(v, f"timeouts.{k}", problems, zero=zero.get(k, "")) for k, v in fields.items()}
    return Timeouts(**{k: v for k, v in values.items() if v is not None})


DEVICE_OPTIONS = {"connection", "pacing", "character_delay", "install_helpers", "kmsg"}


def device_options(fields: dict[str, yaml.Node], where: str, problems: _Problems) -> dict[str, object]:
    """A device's console options (connection, pacing, ...) as Device keyword arguments."""
    connection = "simulated"
    if "connection" in fields:
        connection = _string(fields["connection"], f"{where}.connection", problems)
        try:
            parse_spec(connection)
        except ValueError as e:
            problems.add(fields["connection"], f"{where}.connection", str(e))
    delay = 0.0
    if "character_delay" in fields:
        value = _construct(fields["character_delay"])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000:
            problems.add(fields["character_delay"], f"{where}.character_delay", "expected milliseconds, 0-1000")
        else:
            delay = value / 1000.0
    pacing = "fixed" if delay else "none"
    if "pacing" in fields:
        pacing = str(fields["pacing"].value)
        if pacing not in ("none", "fixed", "echo"):
            problems.add(fields["pacing"], f"{where}.pacing", "expected none, fixed or echo")
        elif pacing == "fixed" and not delay:
            problems.add(fields["pacing"], f"{where}.pacing", "fixed pacing needs character_delay (ms)")
    options: dict[str, object] = {"connection": connection, "pacing": pacing, "character_delay": delay}
    for flag in ("install_helpers", "kmsg"):
        if flag in fields:
            value = _construct(fields[flag])
            if not isinstance(value, bool):
                problems.add(fields[flag], f"{where}.{flag}", "expected true or false")
            elif value and connection.startswith("simulated"):
                # a simulated board is a shell on this host: its /dev/kmsg and /tmp are the host's
                problems.add(fields[flag], f"{where}.{flag}", "not for a simulated board, only for a real console")
            else:
                options[flag] = value
    return options


def _devices(node: yaml.Node | None, problems: _Problems) -> list[Device]:
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        problems.add(node, "devices", "expected a non-empty list of devices")
        return []
    devices: list[Device] = []
    seen: set[str] = set()
    for index, item in enumerate(node.value):
        where = f"devices[{index}]"
        fields = _mapping(
            item,
            where,
            {"name", "role"} | DEVICE_OPTIONS,
            {"name", "role"},
            problems,
        )
        name = _name(fields.get("name"), f"{where}.name", problems) if "name" in fields else ""
        role = _name(fields.get("role"), f"{where}.role", problems) if "role" in fields else ""
        if name and name in seen:
            problems.add(fields["name"], f"{where}.name", f"device name {name!r} used twice")
        seen.add(name)
        devices.append(Device(name=name, role=role, **device_options(fields, where, problems)))
    return devices


def _roles(node: yaml.Node | None, problems: _Problems) -> dict[str, tuple[yaml.Node, list[Step], bool]] | None:
    if node is None:
        return None
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, "roles", "expected a mapping of role name to {steps: [...]}")
        return None
    roles: dict[str, tuple[yaml.Node, list[Step], bool]] = {}
    for key_node, value_node in node.value:
        role = _name(key_node, f"roles.{key_node.value}", problems)
        where = f"roles.{role or key_node.value}"
        fields = _mapping(value_node, where, {"steps", "essential"}, {"steps"}, problems)
        essential = flag_of(fields.get("essential"), f"{where}.essential", problems)
        steps: list[Step] = []
        steps_node = fields.get("steps")
        if steps_node is not None:
            if not isinstance(steps_node, yaml.SequenceNode):
                problems.add(steps_node, f"{where}.steps", "expected a list of shell commands")
            else:
                for index, step in enumerate(steps_node.value):
                    if (named := _named_step(step, f"{where}.steps[{index}]", problems)) is not None:
                        steps.append(named)
        if role:
            roles[role] = (key_node, steps, essential)
    return roles
