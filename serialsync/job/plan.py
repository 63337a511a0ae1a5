"""The sync plan of a job, read before any board is touched: who sends, waits and syncs what.

Calls come from two places: the protocol requests of the actions, and the
helper calls written in the shell steps (``lava-wait-all ready client``).
Only message IDs written out in full can be matched; an ID built at run
time (``"round-$i"``) is listed but never judged, and its presence makes
the plan hold back from calling a literal ID of the same kind missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import Job, variable_in

_CALL_RE = re.compile(r"(?<![\w-])lava-(send|sync|wait-all|wait)(?![\w-])[ \t]+([^\s;&|)]+)(?:[ \t]+([^\s;&|)]+))?")
_DYNAMIC = ("$", "`", "(", "*", "?", "[")


@dataclass(frozen=True)
class PlannedCall:
    role: str
    api: str  # lava-send | lava-sync | lava-wait | lava-wait-all
    message_id: str
    line: int | None
    origin: str  # "request" or the step's test case name
    wait_role: str | None = None  # lava-wait-all's role

    @property
    def dynamic(self) -> bool:
        return any(c in self.message_id for c in _DYNAMIC)


@dataclass(frozen=True)
class Finding:
    line: int | None
    text: str
    blocking: bool  # a call that can never complete (else only worth a look)


@dataclass
class SyncPlan:
    job: Job
    calls: dict[str, list[PlannedCall]]  # role -> calls in order
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def render(self) -> str:
        out = [f"sync plan of {self.job.name} ({self.job.source})"]
        for role, calls in self.calls.items():
            devices = ", ".join(d.name for d in self.job.devices if d.role == role)
            out.append(f"role {role} ({devices}):")
            for call in calls:
                where = f"line {call.line}" if call.line else "line ?"
                extra = f" {call.wait_role}" if call.wait_role else ""
                out.append(f"  {where:>9}  {call.api} {call.message_id}{extra}   [{call.origin}]")
            if not calls:
                out.append("  (no multinode calls)")
        for heading, blocking in (("problems", True), ("notes", False)):
            found = [f for f in self.findings if f.blocking == blocking]
            if found:
                out.append(f"{heading}:")
                out.extend(f"  {self.job.source}:{f.line or '?'}: {f.text}" for f in found)
        return "\n".join(out)


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def calls_in_step(
    command: str, first_line: int | None, lines_match: bool = True
) -> list[tuple[str, str, str | None, int | None]]:
    """(api, message ID, wait-all role, line) of each helper call written in a step."""
    found = []
    for match in _CALL_RE.finditer(command):
        api = "lava-" + match.group(1)
        message_id = _unquote(match.group(2))
        third = match.group(3)
        role = _unquote(third) if api == "lava-wait-all" and third and "=" not in third else None
        line = first_line + (command.count("\n", 0, match.start()) if lines_match else 0) if first_line else None
        found.append((api, message_id, role, line))
    return found


def sync_plan(job: Job) -> SyncPlan:
    roles = list(dict.fromkeys(d.role for d in job.devices))
    calls: dict[str, list[PlannedCall]] = {role: [] for role in roles}
    for action in job.actions:
        for role in (r for r in roles if r in action.roles):
            for request in action.requests:
                calls[role].append(
                    PlannedCall(role, request.api, request.message_id, request.line, "request", request.role)
                )
            for step in action.steps:
                for api, message_id, wait_role, line in calls_in_step(step.command, step.line, step.lines_match):
                    calls[role].append(PlannedCall(role, api, message_id, line, step.name, wait_role))
    notes = [Finding(line, text, False) for line, text in job.notes]
    return SyncPlan(job, calls, _judge(job, roles, calls) + _unreceived_values(job, roles) + notes)


def _unreceived_values(job: Job, roles: list[str]) -> list[Finding]:
    """A request that sends $name, in a role where no earlier wait keeps a value as name."""
    findings = []
    for role in roles:
        received: set[str] = set()
        for action in (a for a in job.actions if role in a.roles):
            for request in action.requests:
                names = [(value, variable_in(value)) for _, value in request.message]
                if request.api == "lava-send":
                    for value, name in names:
                        if name is not None and name not in received:
                            head = f"lava-send {request.message_id} (role {role})"
                            text = f"{head}: {value} is not received by an earlier wait"
                            findings.append(Finding(request.line, text, True))
                else:
                    received.update(name for _, name in names if name is not None)
    return findings


def _judge(job: Job, roles: list[str], calls: dict[str, list[PlannedCall]]) -> list[Finding]:
    every = [c for role in roles for c in calls[role]]

    def literal(api: str, message_id: str, role: str | None = None) -> bool:
        return any(c.api == api and c.message_id == message_id and role in (None, c.role) for c in every)

    def dynamic(api: str, role: str | None = None) -> bool:
        return any(c.api == api and c.dynamic and role in (None, c.role) for c in every)

    findings: list[Finding] = []
    seen: set[tuple[str, str, str | None, str]] = set()
    for call in every:
        key = (call.api, call.message_id, call.wait_role, call.role)
        if key in seen:
            continue
        seen.add(key)
        head = f"{call.api} {call.message_id}" + (f" {call.wait_role}" if call.wait_role else "")
        if call.dynamic:
            text = f"{head} (role {call.role}): its ID is only known at run time: not checked"
            findings.append(Finding(call.line, text, False))
            continue
        if call.api == "lava-wait" and not literal("lava-send", call.message_id) and not dynamic("lava-send"):
            findings.append(Finding(call.line, f"{head} (role {call.role}): no device sends it", True))
        elif call.api == "lava-wait-all":
            if call.wait_role is not None and call.wait_role not in roles:
                findings.append(Finding(call.line, f"{head}: no role {call.wait_role!r} in the group", True))
                continue
            required = [call.wait_role] if call.wait_role else roles
            silent = [
                r for r in required if not literal("lava-send", call.message_id, r) and not dynamic("lava-send", r)
            ]
            if silent:
                names = ", ".join(silent)
                findings.append(Finding(call.line, f"{head} (role {call.role}): role {names} never sends it", True))
        elif call.api == "lava-sync":
            absent = [r for r in roles if not literal("lava-sync", call.message_id, r) and not dynamic("lava-sync", r)]
            if absent:
                names = ", ".join(absent)
                findings.append(Finding(call.line, f"{head} (role {call.role}): role {names} never reaches it", True))
        elif call.api == "lava-send":
            waited = literal("lava-wait", call.message_id) or literal("lava-wait-all", call.message_id)
            if not waited and not dynamic("lava-wait") and not dynamic("lava-wait-all"):
                findings.append(Finding(call.line, f"{head} (role {call.role}): nobody waits for it", False))
    return findings
