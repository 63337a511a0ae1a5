"""The sync plan of a job, read before any board is touched: who sends, waits and syncs what.

Calls come from two places: the protocol requests of the actions, and the
helper calls written in the shell steps (``lava-wait-all ready client``).
Only message IDs written out in full can be matched; an ID built at run
time (``"round-$i"``) is listed but never judged, and its presence makes
the plan hold back from calling a literal ID of the same kind missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..coordinator.calls import MESSAGE_CALLS
from .model import Job, variable_in

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


# --- reading a step the way a shell would ------------------------------------------
# Only a helper name where the shell looks for a command is a call: at the start
# of a simple command. Quoted text, comments, here-documents and the arguments of
# other commands (echo "lava-wait-all returned") are not.

HELPERS = MESSAGE_CALLS
_OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&", "(", ")")  # longest first
_REDIRECTIONS = ("<<-", "<<", "<>", "<&", ">>", ">&", ">|", "<", ">")  # longest first
# Words after which the next word is still in command position.
_KEEP_COMMAND_POSITION = {
    "{", "}", "then", "do", "else", "elif", "if", "while", "until", "!", "fi", "done", "esac",
    "exec", "nohup", "time",
}  # fmt: skip
_ASSIGNMENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_TIMEOUT_OPTIONS_WITH_VALUE = {"-s", "-k", "--signal", "--kill-after"}


@dataclass
class _Token:
    kind: str  # word | op | redirection
    text: str  # a word after quote removal (expansions kept as written); the operator
    start: int  # offset in the step's text
    quoted: bool = False


@dataclass
class _Scanner:
    """Splits a step into token streams: the step itself, and each command substitution in it."""

    text: str
    streams: list[list[_Token]] = field(default_factory=list)

    def scan(self, start: int, end: int) -> None:
        text, tokens = self.text, []
        self.streams.append(tokens)
        heredocs: list[tuple[str, bool]] = []
        word: list[str] = []
        word_start: int | None = None
        quoted = False
        i = start

        def finish() -> None:
            nonlocal word, word_start, quoted
            if word_start is not None:
                tokens.append(_Token("word", "".join(word), word_start, quoted))
            word, word_start, quoted = [], None, False

        def begin(at: int) -> None:
            nonlocal word_start
            if word_start is None:
                word_start = at

        while i < end:
            c = text[i]
            if c in " \t":
                finish()
                i += 1
            elif c == "\n":
                finish()
                tokens.append(_Token("op", "\n", i))
                i = self._skip_heredocs(i + 1, end, heredocs)
                heredocs = []
            elif c == "#" and word_start is None:
                newline = text.find("\n", i, end)
                i = end if newline < 0 else newline
            elif c == "\\":
                if text.startswith("\n", i + 1):
                    i += 2  # a continued line: the word goes on
                else:
                    begin(i)
                    word.append(text[i + 1 : i + 2])
                    quoted = True
                    i += 2
            elif c == "'":
                begin(i)
                close = text.find("'", i + 1, end)
                close = end if close < 0 else close
                word.append(text[i + 1 : close])
                quoted = True
                i = close + 1
            elif c == '"':
                begin(i)
                quoted = True
                i = self._double_quoted(i + 1, end, word)
            elif c == "$" and text.startswith("(", i + 1):
                begin(i)
                close = self._matching(i + 2, end)
                if not text.startswith("(", i + 2):  # $(( )) is arithmetic, $( ) runs commands
                    self.scan(i + 2, close)
                word.append(text[i : close + 1])
                i = close + 1
            elif c == "$" and text.startswith("{", i + 1):
                begin(i)
                close = text.find("}", i, end)
                close = end if close < 0 else close
                word.append(text[i : close + 1])
                i = close + 1
            elif c == "`":
                begin(i)
                close = self._backquoted(i + 1, end)
                word.append(text[i : close + 1])
                i = close + 1
            elif c in "<>":
                if word_start is not None and "".join(word).isdigit() and not quoted:
                    word, word_start = [], None  # 2>&1: the digits belong to the redirection
                finish()
                op = next(r for r in _REDIRECTIONS if text.startswith(r, i))
                tokens.append(_Token("redirection", op, i))
                i += len(op)
                if op in ("<<", "<<-"):
                    i, delimiter = self._heredoc_delimiter(i, end)
                    heredocs.append((delimiter, op == "<<-"))
            elif c in ";&|()":
                finish()
                op = next(o for o in _OPERATORS if text.startswith(o, i))
                tokens.append(_Token("op", op, i))
                i += len(op)
            else:
                begin(i)
                word.append(c)
                i += 1
        finish()

    def _double_quoted(self, i: int, end: int, word: list[str]) -> int:
        """Reads up to the closing quote; returns the offset after it."""
        text = self.text
        while i < end and text[i] != '"':
            c = text[i]
            if c == "\\" and i + 1 < end:
                following = text[i + 1]
                if following != "\n":
                    word.append(following if following in '$`"\\' else c + following)
                i += 2
            elif c == "$" and text.startswith("(", i + 1):
                close = self._matching(i + 2, end)
                if not text.startswith("(", i + 2):
                    self.scan(i + 2, close)
                word.append(text[i : close + 1])
                i = close + 1
            elif c == "`":
                close = self._backquoted(i + 1, end)
                word.append(text[i : close + 1])
                i = close + 1
            else:
                word.append(c)
                i += 1
        return i + 1

    def _backquoted(self, i: int, end: int) -> int:
        """The offset of the closing backquote (end when there is none); its commands are scanned."""
        text, j = self.text, i
        while j < end and text[j] != "`":
            j += 2 if text[j] == "\\" else 1
        close = min(j, end)
        self.scan(i, close)
        return close

    def _matching(self, i: int, end: int) -> int:
        """The offset of the ) closing a $( opened just before i (end when there is none)."""
        text, depth = self.text, 1
        while i < end:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c in "'\"":
                close = text.find(c, i + 1, end)
                i = end if close < 0 else close + 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return end

    def _heredoc_delimiter(self, i: int, end: int) -> tuple[int, str]:
        text = self.text
        while i < end and text[i] in " \t":
            i += 1
        j = i
        while j < end and text[j] not in " \t\n;&|()<>":
            j += 1
        return j, text[i:j].replace("'", "").replace('"', "").replace("\\", "")

    def _skip_heredocs(self, i: int, end: int, heredocs: list[tuple[str, bool]]) -> int:
        """Past the bodies of the here-documents begun on the line that just ended."""
        text = self.text
        for delimiter, strip_tabs in heredocs:
            while i < end:
                newline = text.find("\n", i, end)
                stop = end if newline < 0 else newline
                line = text[i:stop]
                i = stop + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        return min(i, end)


def _calls_in_tokens(tokens: list[_Token]) -> list[tuple[str, list[_Token], int]]:
    """(helper, its argument words, offset) of each helper named in command position."""
    found = []
    command_position = True
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "op":
            command_position = True
            i += 1
            continue
        if token.kind == "redirection":
            i += 2 if i + 1 < len(tokens) and tokens[i + 1].kind == "word" else 1
            continue
        word = token.text
        if not command_position:
            i += 1
        elif (word in _KEEP_COMMAND_POSITION and not token.quoted) or _ASSIGNMENT_RE.match(word):
            i += 1
        elif word == "timeout":  # timeout [OPTIONS] DURATION COMMAND
            i += 1
            while i < len(tokens) and tokens[i].kind == "word" and tokens[i].text.startswith("-"):
                i += 2 if tokens[i].text in _TIMEOUT_OPTIONS_WITH_VALUE else 1
            i += 1
        elif word in HELPERS:
            arguments = []
            i += 1
            while i < len(tokens) and tokens[i].kind != "op":
                if tokens[i].kind == "redirection":
                    i += 2
                    continue
                arguments.append(tokens[i])
                i += 1
            found.append((word, arguments, token.start))
            command_position = False
        else:
            command_position = False
            i += 1
    return found


def calls_in_step(
    command: str, first_line: int | None, lines_match: bool = True
) -> list[tuple[str, str, str | None, int | None]]:
    """(api, message ID, wait-all role, line) of each helper call written in a step.

    Read as a shell reads it: a helper name counts only in command position,
    so quoted text, comments and arguments of other commands are not calls.
    """
    scanner = _Scanner(command)
    scanner.scan(0, len(command))
    calls = [call for stream in scanner.streams for call in _calls_in_tokens(stream)]
    found = []
    for api, arguments, start in sorted(calls, key=lambda call: call[2]):
        if not arguments:
            continue  # a usage error on the board, not a call
        message_id = arguments[0].text
        third = arguments[1].text if len(arguments) > 1 else None
        role = third if api == "lava-wait-all" and third and "=" not in third else None
        line = first_line + (command.count("\n", 0, start) if lines_match else 0) if first_line else None
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
