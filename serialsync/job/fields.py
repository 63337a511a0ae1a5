"""Reading a job file's YAML nodes: each field checked, each problem kept with its file, line and field.

Both job formats (serialsync's own and LAVA's) and test definition files are
read with these, so a problem reads the same whatever file it is in.
"""

from __future__ import annotations

import difflib
import math
import re

import yaml

from ..errors import JobConfigError
from ..protocol import wire
from ..transports import ConnectionSpec, parse_connection
from .model import DEFAULT_FAILURE_PATTERNS, ON_FAILURE, Step

_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}


class Problems:
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


def mapping(
    node: yaml.Node | None,
    field: str,
    allowed: set[str],
    required: set[str],
    problems: Problems,
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


def construct(node: yaml.Node) -> object:
    """The plain value of a node, typed as YAML would."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def string(node: yaml.Node | None, field: str, problems: Problems) -> str:
    if not isinstance(node, yaml.ScalarNode) or not isinstance(construct(node), str) or not node.value.strip():
        problems.add(node, field, "expected a non-empty string")
        return ""
    return node.value


def name_of(node: yaml.Node | None, field: str, problems: Problems) -> str:
    if not isinstance(node, yaml.ScalarNode) or not wire.NAME_RE.match(str(node.value)):
        problems.add(node, field, "expected a name of 1-64 characters from A-Z a-z 0-9 _ . -")
        return ""
    return str(node.value)


def seconds(node: yaml.Node | None, field: str, problems: Problems, *, zero: str = "") -> float | None:
    """Seconds, or {seconds|minutes|hours: N}; more than 0, or also 0 where ``zero`` says what 0 means."""
    value = construct(node) if node is not None else None
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


def flag_of(node: yaml.Node | None, field: str, problems: Problems) -> bool:
    """A true/false field; absent (or wrong, which is reported) is false."""
    if node is None:
        return False
    value = construct(node)
    if not isinstance(value, bool):
        problems.add(node, field, "expected true or false")
        return False
    return value


def on_failure_of(node: yaml.Node | None, problems: Problems) -> str:
    """The job's on_failure: continue (the default) or end-group."""
    if node is None:
        return "continue"
    value = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
    if value not in ON_FAILURE:
        problems.add(node, "on_failure", f"expected {' or '.join(ON_FAILURE)}")
    return value


def regex_list(items: list[yaml.Node], where: str, problems: Problems) -> tuple[str, ...]:
    """Non-empty regular expressions (matched against console bytes), each checked with its line."""
    patterns = []
    for index, item in enumerate(items):
        text = string(item, f"{where}[{index}]", problems)
        try:
            re.compile(text.encode())
        except re.error as e:
            problems.add(item, f"{where}[{index}]", f"not a regular expression: {e}")
            continue
        if text:
            patterns.append(text)
    return tuple(patterns)


def failure_patterns_of(node: yaml.Node | None, problems: Problems) -> tuple[str, ...]:
    if node is None:
        return DEFAULT_FAILURE_PATTERNS
    if not isinstance(node, yaml.SequenceNode):
        problems.add(node, "failure_patterns", "expected a list of regular expressions (an empty list: none)")
        return DEFAULT_FAILURE_PATTERNS
    return regex_list(node.value, "failure_patterns", problems)


def step_of(node: yaml.Node, text: str, name: str) -> Step:
    """A step from its scalar node: where it starts, and whether its lines are the file's."""
    literal = isinstance(node, yaml.ScalarNode) and (node.style == "|" or "\n" not in text)
    return Step(text, name, first_line(node), literal)


def first_line(node: yaml.Node) -> int:
    """The line of a scalar's first character of content (a block scalar starts below its | or >)."""
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    return node.start_mark.line + 1 + (1 if block else 0)


DEVICE_OPTIONS = {"connection", "pacing", "character_delay", "install_helpers", "kmsg"}


def device_options(fields: dict[str, yaml.Node], where: str, problems: Problems) -> dict[str, object]:
    """A device's console options (connection, pacing, ...) as Device keyword arguments."""
    connection: ConnectionSpec | str = "simulated"
    if "connection" in fields:
        connection = string(fields["connection"], f"{where}.connection", problems)
        try:
            connection = parse_connection(connection)  # parsed once, here: the model carries it
        except ValueError as e:
            problems.add(fields["connection"], f"{where}.connection", str(e))
    delay = 0.0
    if "character_delay" in fields:
        value = construct(fields["character_delay"])
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
            value = construct(fields[flag])
            if not isinstance(value, bool):
                problems.add(fields[flag], f"{where}.{flag}", "expected true or false")
            elif value and connection.startswith("simulated"):
                # a simulated board is a shell on this host: its /dev/kmsg and /tmp are the host's
                problems.add(fields[flag], f"{where}.{flag}", "not for a simulated board, only for a real console")
            else:
                options[flag] = value
    return options
