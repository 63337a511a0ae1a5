"""Load a job file (YAML) into a validated Job; errors name file, line and field.

The YAML is composed into nodes rather than plain objects so that every
value keeps its position, and every problem is reported at once before any
board is touched.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from ..errors import JobConfigError
from .fields import (
    DEVICE_OPTIONS,
    Problems,
    device_options,
    failure_patterns_of,
    flag_of,
    mapping,
    name_of,
    on_failure_of,
    seconds,
    step_of,
    string,
)
from .lava import is_lava_job, parse_lava_job
from .model import Action, Device, Job, Step, Timeouts, step_title


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
    problems = Problems(source)
    if is_lava_job(root):  # LAVA's shape is read by its own module
        job = parse_lava_job(root, source, problems)
        return job if job.name else replace(job, name=Path(source).stem or "job")
    if not isinstance(root, yaml.MappingNode):
        problems.add(root, "(top level)", "a job file is a mapping with 'devices' and 'roles'")
        problems.raise_if_any()
    top = mapping(
        root,
        "",
        {"name", "timeouts", "devices", "roles", "failure_patterns", "on_failure"},
        {"devices", "roles"},
        problems,
    )
    name = string(top.get("name"), "name", problems) if "name" in top else Path(source).stem
    timeouts = _timeouts(top.get("timeouts"), problems)
    devices = _devices(top.get("devices"), problems)
    steps = _roles(top.get("roles"), problems)
    patterns = failure_patterns_of(top.get("failure_patterns"), problems)
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


def _named_step(node: yaml.Node, where: str, problems: Problems) -> Step | None:
    """A step: a shell command, or ``{name: ..., run: ...}`` to give its test case a name."""
    keys = {getattr(key, "value", None) for key, _ in node.value} if isinstance(node, yaml.MappingNode) else set()
    if keys and keys <= {"name", "run"}:
        fields = mapping(node, where, {"name", "run"}, {"run"}, problems)
        name = string(fields.get("name"), f"{where}.name", problems) if "name" in fields else ""
        text = string(fields.get("run"), f"{where}.run", problems) if "run" in fields else ""
        return step_of(fields["run"], text, name or step_title(text)) if text else None
    text = string(node, where, problems)
    return step_of(node, text, step_title(text)) if text else None


def _timeouts(node: yaml.Node | None, problems: Problems) -> Timeouts:
    if node is None:
        return Timeouts()
    fields = mapping(node, "timeouts", {"job", "boot", "step", "call", "connect"}, set(), problems)
    zero = {"connect": "0: no retry"}
    values = {k: seconds(v, f"timeouts.{k}", problems, zero=zero.get(k, "")) for k, v in fields.items()}
    return Timeouts(**{k: v for k, v in values.items() if v is not None})


def _devices(node: yaml.Node | None, problems: Problems) -> list[Device]:
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        problems.add(node, "devices", "expected a non-empty list of devices")
        return []
    devices: list[Device] = []
    seen: set[str] = set()
    for index, item in enumerate(node.value):
        where = f"devices[{index}]"
        fields = mapping(
            item,
            where,
            {"name", "role"} | DEVICE_OPTIONS,
            {"name", "role"},
            problems,
        )
        name = name_of(fields.get("name"), f"{where}.name", problems) if "name" in fields else ""
        role = name_of(fields.get("role"), f"{where}.role", problems) if "role" in fields else ""
        if name and name in seen:
            problems.add(fields["name"], f"{where}.name", f"device name {name!r} used twice")
        seen.add(name)
        devices.append(Device(name=name, role=role, **device_options(fields, where, problems)))
    return devices


def _roles(node: yaml.Node | None, problems: Problems) -> dict[str, tuple[yaml.Node, list[Step], bool]] | None:
    if node is None:
        return None
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, "roles", "expected a mapping of role name to {steps: [...]}")
        return None
    roles: dict[str, tuple[yaml.Node, list[Step], bool]] = {}
    for key_node, value_node in node.value:
        role = name_of(key_node, f"roles.{key_node.value}", problems)
        where = f"roles.{role or key_node.value}"
        fields = mapping(value_node, where, {"steps", "essential"}, {"steps"}, problems)
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
