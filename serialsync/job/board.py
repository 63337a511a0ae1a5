"""What the host does on a board's shell: wait for it, prepare it, log in, type steps.

Every command typed ends with a printf of a marker built from split quotes
(``'__SS%s_%d__'``), so the echo of the typed line can never match the
output that says the command finished.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence

import pexpect

from .._text import ESCAPES_IN_BYTES
from .._time import Deadline, RunClock, format_seconds
from ..console import ConsoleSession
from ..errors import BoardNotReady, TypingFailed
from ..protocol import wire
from .model import Device, Job, Login, Parse
from .results import StepResult, skipped

READY_PROBE_INTERVAL = 3.0  # seconds between "are you there" probes while a board boots
GROUP_CHECK_INTERVAL = 1.0  # seconds between looks at whether the group has ended, during a step
OUTPUT_TAIL = 4000  # bytes of a step's output kept in the results
MAX_STEP_OUTPUT = 256 * 1024  # bytes of a step's output kept to look for test cases in

Warn = Callable[[str], None]


def _status_words(status: int) -> str:
    if status > 128:
        return f"exit status {status} (killed by signal {status - 128})"
    return f"exit status {status}"


def wait_ready(
    session: ConsoleSession,
    timeout: float,
    *,
    timeout_name: str = "the wait for the shell",
    stop: Callable[[], str | None] | None = None,
) -> None:
    """Until the board's shell answers.

    A booting board may lose or delay what is typed, so the probe is repeated;
    once one answers, a last probe makes sure every earlier one queued in the
    tty has run, so none is left to be read by a helper later. ``stop`` is
    asked between probes: a reason ends the wait (the run was interrupted).
    """
    deadline = Deadline.after(timeout)
    probe = 0
    while True:
        probe += 1
        session.sendline(_probe(probe))
        try:
            session.expect(_ANSWERS, timeout=min(READY_PROBE_INTERVAL, deadline.remaining))
            break
        except (pexpect.TIMEOUT, TypingFailed):  # a booting board may echo nothing yet
            if stop is not None and (why := stop()) is not None:
                raise BoardNotReady(f"stopped waiting for the shell: {why}") from None
            if deadline.expired:
                raise BoardNotReady(_no_shell(session, timeout, timeout_name)) from None
    if probe > 1:
        session.sendline(_probe(0))
        session.expect(_answer(0), timeout=max(1.0, deadline.remaining))


# The answer to probe N is computed by the shell ($(( ))), so a bootloader's echo,
# which prints what it was given, cannot answer it; split quotes keep the echo of
# the typed line from matching too.
def _probe(number: int) -> str:
    return f"echo __SS''READY$(({number} * 7 + 1000))__"


def _answer(number: int) -> re.Pattern[bytes]:
    return re.compile(rb"__SSREADY%d__" % (number * 7 + 1000))


_ANSWERS = re.compile(rb"__SSREADY[0-9]{4,}__")


def _no_shell(session: ConsoleSession, timeout: float, timeout_name: str) -> str:
    """Why a board's shell is taken to be absent, and what to look at."""
    before = session.before if isinstance(session.before, bytes) else b""
    seen = _CONTROLS.sub(b"", ESCAPES_IN_BYTES.sub(b"", before[-4096:] or bytes(session.buffer)))
    lines = [line.strip() for line in seen.decode("utf-8", "replace").splitlines() if line.strip()]
    last = f"the last line it printed was {lines[-1][-120:]!r}" if lines else "nothing was read from it"
    return (
        f"the board's shell did not answer within {timeout_name} ({format_seconds(timeout)}); {last}. "
        "Check that the board is powered and booted to a shell, the baud rate, a login prompt "
        "(boot: auto_login), and the connection spec"
    )


_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def run_command(session: ConsoleSession, command: str, timeout: float) -> tuple[int, str]:
    """A host-side command on the board's shell: (exit status, output)."""
    session.sendline(f"{command}; printf '__SS%s_%d__\\n' HOST \"$?\"")
    session.expect(rb"__SSHOST_(\d+)__", timeout=timeout)
    return int(session.match.group(1)), bytes(session.before).decode("utf-8", "replace")


def prepare_console(session: ConsoleSession, device: Device, warn: Warn) -> None:
    """Make a real board's console predictable: no line editing, wide, no history expansion, kernel quiet."""
    # Short lines first: a line editor still wraps at 80 columns. Without echo,
    # busybox's shell reads plain lines: no editing, no ESC[6n, 4095-byte lines.
    # Echo pacing needs the echo, so then only the terminal is widened.
    run_command(session, "stty cols 4000" if device.pacing == "echo" else "stty -echo", 30)
    # A line editor may swallow what is typed while it changes mode: resynchronise.
    wait_ready(session, 30)
    # `set +H` alone would abort the line on shells without history expansion.
    # The cache path the helpers use by default, named as on simulated boards,
    # so that one job file's steps work on both.
    run_command(
        session,
        "case $- in *H*) set +H ;; esac; PS2=''; "
        "export LAVA_MULTI_NODE_CACHE=${LAVA_MULTI_NODE_CACHE:-/tmp/lava_multi_node_cache.txt}",
        30,
    )
    status, output = run_command(session, "dmesg -n 1 2>/dev/null; cat /proc/sys/kernel/printk", 30)
    levels = output.split()[-4:] if status == 0 else []
    if not levels or not levels[0].isdigit() or int(levels[0]) > 1:
        warn(f"warning: kernel console log level not lowered ({' '.join(levels) or '?'})")
    if device.kmsg:
        run_command(session, "export SERIALSYNC_KMSG=1", 30)


def failure_pattern(job: Job) -> re.Pattern[bytes] | None:
    if not job.failure_patterns:
        return None
    return re.compile(b"|".join(b"(?:%s)" % p.encode() for p in job.failure_patterns), re.MULTILINE)


# --- the lines a definition's subshell prints: its start, each step's end, its end ---------------
#
#   __SSGO_<first>:<check>__             the subshell began (its prelude went through)
#   __SSRC_<index>:<status>:<check>__    step <index> ended with <status>; the subshell waits for the go-ahead
#   __SSEND_<first>:<status>:<check>__   the subshell ended with <status> (printed by the login shell)
#
# <check> is computed by the board's shell with $(( )) from the kind, the index and
# the status, so a damaged digit anywhere fails it; the typed text holds only the
# format ('__SS%s_...'), so its echo can never match a printed line. Each line is
# printed twice: one lost or damaged copy costs nothing.
_KIND_CODES = {"RC": 1, "END": 2, "GO": 3}


def step_check(kind: str, index: int, status: int = 0) -> int:
    """The check a step line carries, as the board's shell computes it."""
    return (index * 40503 + status * 4099 + _KIND_CODES[kind] * 12289 + 7919) % 65521


def _check_text(code: int | str, index: int | str, status: int | str) -> str:
    return f"$(( ({index} * 40503 + {status} * 4099 + {code} * 12289 + 7919) % 65521 ))"


_STEP_LINE = re.compile(rb"__SS(RC|END|GO)_(\d{1,9}):(?:(\d{1,5}):)?(\d{1,5})__")
# What may be a step line at all, damaged or not (an intact one needs no line end yet);
# the rest of its line is the console line before the match (no leading wildcard:
# that would rescan every long line of a chatty step from each of its bytes).
# No typed text, echoed, holds any of these: the format string has '%s' after '__SS'.
_STEPISH = rb"SS(?:RC|END|GO)_|__SS[REG]|_\d{1,9}:\d{1,5}:\d{1,5}__"
_STEP_LINES = re.compile(rb"__SS(?:RC|END|GO)_\d{1,9}:(?:\d{1,5}:)?\d{1,5}__|(?:" + _STEPISH + rb")[^\n]*\n")
# A line that shows a step's end (RC or END) went by damaged: worth asking for again.
_ENDISH = re.compile(rb"SS(?:RC|END)_|_\d{1,9}:\d{1,3}:\d{1,5}__|__SS[RE][^:\n]{0,5}\d{0,9}:\d{0,3}:")
_SHOWN_INDEX = re.compile(rb"_(\d{1,9}):")
_GO_AHEAD = "go"
_RETRY_WORDS = wire.SS_RETRY_LINE.decode().strip()  # the watcher's retry line asks the go-ahead loop too

ASK_FIRST = 2.0  # seconds without an intact line after a step's end showed, before asking for it again
ASK_MOST = 8.0  # seconds: the wait between asks doubles up to this
log = logging.getLogger("serialsync.steps")


def _subshell_helpers() -> list[str]:
    """Two functions the subshell defines first: print a step line, and the go-ahead loop.

    The loop keeps the step's status (``_ss_rc``) and answers a line asking
    for it (the host's ask line, which names ``_ss_end``, or the watcher's
    retry line) by printing the step line again; ``go`` lets the next step
    run; anything else (a late reply, noise) is ignored.
    """
    say = "printf '__SS%s_%d:%d:%d__\\n' \"$1\" \"$3\" \"$4\" " + _check_text("$2", "$3", "$4")
    rc = _KIND_CODES["RC"]
    return [
        f"_ss_say() {{ {say}; }}",
        "_ss_wait() {",
        f'_ss_say RC {rc} "$1" "$_ss_rc"; _ss_say RC {rc} "$1" "$_ss_rc"',
        "while read -r _ss_line; do",
        f"case $_ss_line in {_GO_AHEAD}) return 0 ;; *_ss_end*|'{_RETRY_WORDS}') "
        f'_ss_say RC {rc} "$1" "$_ss_rc" ;; esac',
        "done",
        "return 1",
        "}",
    ]


class _Asker:
    """When to ask the board for a step line again: only once the step is known to be over.

    It is over when a damaged copy of its line showed (or the host let the
    last step end); then, with no intact copy for a while, the host asks,
    waiting twice as long after each ask. A step whose line showed nothing
    at all is never typed into: its command may be what reads the console.
    """

    def __init__(self, timeout: float, clock: RunClock) -> None:
        # Short steps get a shorter first wait, so that asking fits in their timeout.
        self.first = min(ASK_FIRST, max(0.5, timeout / 10))
        self.clock = clock
        self.due: float | None = None
        self.asked = 0

    def over(self) -> None:
        if self.due is None:
            self.due = self.clock.now() + self.first

    def wait(self, longest: float) -> float:
        if self.due is None:
            return longest
        return max(0.0, min(longest, self.due - self.clock.now()))

    def now_due(self) -> bool:
        now = self.clock.now()
        if self.due is None or now < self.due:
            return False
        self.asked += 1
        self.due = now + min(ASK_MOST, self.first * 2**self.asked)
        return True


class DefinitionRun:
    """The steps of one definition, run on the board as LAVA runs them: lines of one script.

    They are typed as one subshell, so ``cd`` and variables of a step hold for
    the next, and ``exit N`` ends the definition, never the login shell. Each
    step prints its exit status, checksummed; after each step the subshell
    waits for the host's go-ahead (a line it reads), so the host still decides
    whether a next step runs at all: ^C instead ends the subshell there. While
    it waits the host may ask for the status again; once the subshell ended,
    the login shell keeps its end status (``_ss_end``) and the same ask line,
    typed at its prompt, prints the end line again.
    """

    def __init__(
        self,
        session: ConsoleSession,
        first_index: int,
        steps: Sequence[tuple[str, str]],  # (command, test case name)
        failure: re.Pattern[bytes] | None = None,
        clock: RunClock | None = None,
        *,
        prelude: Sequence[str] = (),
        parse: Parse | None = None,
    ) -> None:
        self.session = session
        self.first = first_index
        self.steps = list(steps)
        self.failure = failure
        self.clock = clock or RunClock()
        self.parse = parse
        self.test_cases: list[dict] = []  # what the definition's parse pattern found in the steps' output
        self.ended: str | None = None  # why the subshell is over (or the console unusable), once it is
        self.exit_status: int | None = None  # the subshell's, once its end was seen
        self.console_known = True  # False after a timeout, a failed board, a closed console
        self.asks = 0  # how often the board was asked for a step line again
        self._next = 0  # the step whose end is awaited next
        self._stopped = False
        self._began = False  # the subshell printed GO: its prelude (parameters, cd) went through
        self._waiting = False  # the subshell sits in its go-ahead loop
        go_check = _check_text(_KIND_CODES["GO"], first_index, 0)
        # The prelude (parameters, cd, set -e) runs before GO: what fails there fails the definition.
        lines = [
            "(",
            *_subshell_helpers(),
            *prelude,
            f"printf '__SS%s_%d:%d__\\n' GO {first_index} {go_check} GO {first_index} {go_check}",
        ]
        for offset, (command, _) in enumerate(self.steps):
            lines += ["{", command, "}", f"_ss_rc=$?; _ss_wait {first_index + offset} || exit 130"]
        end_check = _check_text(_KIND_CODES["END"], first_index, "$_ss_end")
        lines.append(
            f"); _ss_end=$?; printf '__SS%s_%d:%d:%d__\\n' "
            f'END {first_index} "$_ss_end" {end_check} END {first_index} "$_ss_end" {end_check}'
        )
        self.typed = "\n".join(lines)
        # One line asks for whichever line is due: the go-ahead loop reprints the step's
        # status (the line names _ss_end), the login shell runs it and prints the end.
        self.ask_line = f"printf '__SS%s_%d:%d:%d__\\n' END {first_index} \"$_ss_end\" {end_check}"

    def start(self) -> None:
        self.session.sendline(self.typed)

    def go(self) -> None:
        """Let the next step run."""
        self._waiting = False
        self.session.sendline(_GO_AHEAD)

    def stop(self) -> None:
        """Interrupt what runs (or the wait before the next step): the subshell ends.

        An interactive shell drops the rest of a command line whose job was
        killed by SIGINT, so no end line follows: the shell is at its prompt.
        """
        self.session.send(b"\x03")
        self._stopped = True
        self._waiting = False

    def _ask(self, asker: _Asker, what: str) -> None:
        self.asks += 1
        log.info("%s: %s not seen intact; asking for it again (%d)", self.session.name, what, asker.asked)
        self.session.sendline(self.ask_line)

    def _lines(self, found: bytes) -> tuple[list[tuple[str, int, int, int]], bool]:
        """Step lines in what matched: (kind, index, status, where) of each intact one, and whether one was damaged."""
        intact = []
        damaged = False
        for line in _STEP_LINE.finditer(found):
            kind, index, status = line.group(1).decode(), int(line.group(2)), int(line.group(3) or 0)
            shaped = (line.group(3) is None) == (kind == "GO")
            if shaped and int(line.group(4)) == step_check(kind, index, status):
                intact.append((kind, index, status, line.start()))
            else:
                damaged = True  # never trusted: a changed digit passes for another status
        return intact, damaged

    def _shows_end(self, found: bytes, index: int) -> bool:
        """Does a damaged line show the end of step *index* (or of the definition)?

        A line that shows another step's index is an earlier line printed
        again; echoed text (a '%' of the format) is no step line at all.
        """
        if b"%" in found or _ENDISH.search(found) is None:
            return False
        shown = _SHOWN_INDEX.search(found)
        return shown is None or int(shown.group(1)) in (index, self.first)

    def wait_step(
        self, timeout: float, expelled: Callable[[], str | None] | None = None
    ) -> StepResult:
        """Until the current step ends; its result. Sets ``ended`` when nothing more will run."""
        index = self.first + self._next
        command, name = self.steps[self._next]
        self._next += 1
        started = self.clock.now()
        deadline = Deadline.after(timeout)
        session = self.session
        patterns = [_STEP_LINES, _RAISED] + ([self.failure] if self.failure else [])
        asker = _Asker(timeout, self.clock)
        seen = bytearray()  # the step's output so far, across lines that were not its end

        def result(kind: str, reason: str, tail: bytes, status: int | None = None) -> StepResult:
            ended = self.clock.now()
            text = _step_output(tail)
            return StepResult(
                index, command, kind, status, ended - started, reason, text, name, **self.clock.span(started, ended)
            )

        def keep(data: bytes) -> None:
            seen.extend(data)
            del seen[: max(0, len(seen) - MAX_STEP_OUTPUT)]

        try:
            while True:
                # Wake now and then to see whether another device's failure ended
                # the group: a step that makes no call would not notice otherwise.
                wait = deadline.remaining if expelled is None else min(GROUP_CHECK_INTERVAL, deadline.remaining)
                try:
                    which = session.expect(patterns, timeout=max(asker.wait(wait), 0.0))
                except pexpect.TIMEOUT:
                    why = expelled() if expelled is not None else None
                    if why is not None:
                        self.stop()
                        self.ended = why
                        return result("fail", f"stopped: {why}", bytes(seen) + bytes(session.buffer))
                    if asker.now_due():
                        self._ask(asker, f"the end of step {index}")
                    elif deadline.expired:
                        raise
                    continue
                before, found = bytes(session.before), bytes(session.after)
                head = before.rfind(b"\n") + 1  # where the console line of a step line began
                line = before[head:] + found
                if which == 1:
                    # lava-test-raise: LAVA ends the test job there, failed, with its reason.
                    reason = session.match.group(1).decode("utf-8", "replace").strip()
                    self.stop()
                    self.ended = f"lava-test-raise: {reason}"
                    self._find_cases(bytes(seen) + before)
                    return result("fail", f"lava-test-raise: {reason}", bytes(seen) + before)
                if which == 2:
                    if _echo_of(self.typed, before, found) or _said_by_a_helper(bytes(seen) + before):
                        keep(before + found)
                        continue  # the step's own text echoed back (`grep "Kernel panic" ...`)
                    # The board panicked or rebooted: it is gone, whatever the step does next.
                    self.ended = "the board failed"
                    self.console_known = False
                    reason = f"board failed: {found.decode('utf-8', 'replace')!r}"
                    return result("fail", reason, bytes(seen) + before + found)
                intact, damaged = self._lines(line)
                end = next(
                    (
                        (kind, status, at)
                        for kind, number, status, at in intact
                        if (kind == "RC" and number == index) or (kind == "END" and number == self.first)
                    ),
                    None,
                )
                if end is not None:
                    kind, status, at = end
                    output = bytes(seen) + before[:head] + line[:at]
                    break
                if any(kind == "GO" and number == self.first for kind, number, _, _ in intact):
                    self._began = True
                if intact and not damaged:
                    # GO (the subshell began) or an earlier step's line again: what
                    # came before it is the echo of typed text, not this step's output.
                    seen.clear()
                    continue
                if damaged or not intact:
                    if self._shows_end(line, index):
                        asker.over()  # the step is over: its line came, damaged
                keep(before + found)  # an earlier line again, a GO, or the step's own text
        except pexpect.TIMEOUT:
            tail = bytes(seen) + bytes(session.buffer)
            self.stop()
            self.ended = "a step timed out"
            self.console_known = False
            return result("fail", f"timed out after {format_seconds(timeout)}", tail)
        except pexpect.EOF:
            self.ended = "the console closed"
            self.console_known = False
            return result("fail", "console closed", bytes(seen) + bytes(session.before))
        except TypingFailed as e:
            self.ended = "the definition could not be typed"
            self.console_known = False
            return result("fail", str(e), bytes(seen) + bytes(session.buffer))
        self._find_cases(output)
        if kind == "END" and not self._began:
            # Nothing ran: the text did not parse, or its prelude (cd, a parameter) failed.
            self.ended = "the definition did not start"
            self.exit_status = status
            said = _step_output(output).strip().splitlines()
            why = said[-1] if said else f"exit status {status}"
            return result("fail", f"the definition did not start: {why}", output, status)
        if kind == "END":
            # The subshell ended inside this step: `exit N`, or a text the shell could not parse.
            self.ended = f"{name} ended the definition with exit status {status}"
            self.exit_status = status
            if status == 0:
                return result("pass", "", output, 0)
            return result("fail", f"{_status_words(status)} (exit ended the definition)", output, status)
        self._began = True
        self._waiting = True
        if status == 0:
            return result("pass", "", output, 0)
        return result("fail", _status_words(status), output, status)

    def _find_cases(self, output: bytes) -> None:
        """Test cases the definition's parse pattern finds in a step's output, as LAVA's parser does."""
        if self.parse is None:
            return
        pattern = re.compile(self.parse.pattern, re.M)
        fixup = dict(self.parse.fixupdict)
        text = output.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
        now = self.clock.now()
        for found in pattern.finditer(text):
            groups = found.groupdict()
            name = (groups.get("test_case_id") or "").strip().replace("/", "_")
            result = (groups.get("result") or "").strip()
            result = fixup.get(result, result)
            if not name or " " in name or result not in ("pass", "fail", "skip", "unknown"):
                continue  # LAVA skips these too
            self.test_cases.append(
                {
                    "name": name,
                    "result": result,
                    "measurement": (groups.get("measurement") or None),
                    "units": (groups.get("units") or None),
                    "source": "parse",
                    **self.clock.span(now, now),
                }
            )

    def finish(self, timeout: float = 10.0) -> None:
        """After the last step (or a stop): let the subshell end and wait for its end, so the shell is at its prompt."""
        if not self.console_known or self.exit_status is not None or self._stopped:
            return
        if self._waiting and self._next < len(self.steps):
            self.stop()  # steps are left that must not run: end the subshell in its go-ahead loop
            return
        asker = _Asker(timeout, self.clock)
        if self._waiting:
            self.go()
            asker.over()  # nothing runs any more: the end line is due at once
        deadline = Deadline.after(timeout)
        last = self.first + len(self.steps) - 1
        try:
            while True:
                try:
                    self.session.expect([_STEP_LINES], timeout=asker.wait(deadline.remaining))
                except pexpect.TIMEOUT:
                    if asker.now_due():
                        self._ask(asker, f"the end of definition {self.first}")
                        continue
                    raise
                before = bytes(self.session.before)
                found = before[before.rfind(b"\n") + 1 :] + bytes(self.session.after)
                intact, damaged = self._lines(found)
                for kind, number, status, _ in intact:
                    if kind == "END" and number == self.first:
                        self.exit_status = status
                        return
                    if kind == "RC" and number == last and asker.asked:
                        self.go()  # an ask reached the go-ahead loop: the go-ahead was lost
                if damaged and self._shows_end(found, last):
                    asker.over()
        except (pexpect.TIMEOUT, pexpect.EOF, TypingFailed):
            self.console_known = False

    def not_run(self, reason: str) -> list[StepResult]:
        """The steps that never ran, as skipped results."""
        left = [
            skipped(self.first + offset, command, name, reason)
            for offset, (command, name) in enumerate(self.steps)
            if offset >= self._next
        ]
        self._next = len(self.steps)
        return left


_RAISED = re.compile(rb"<LAVA_SIGNAL_TESTRAISE ([^>\r\n]*)>")
_HELPER_SAYS = re.compile(rb"(?:^|\n)(?:lava-[a-z-]+|serialsync[a-z.-]*): [^\n]*\Z")


def _said_by_a_helper(before: bytes) -> bool:
    """Is the console line so far a helper's message (a nack quoting another board's panic, say)?"""
    return _HELPER_SAYS.search(before[-4096:]) is not None


def _step_output(tail: bytes) -> str:
    """What a step printed, as text: the host's own lines around it dropped.

    Before it: the end of the previous line, the second copy of the previous
    step's line, the go-ahead's echo; after it: damaged copies of its own
    line and the echo of an ask.
    """
    lines = bytes(tail[-OUTPUT_TAIL:]).split(b"\n")
    while lines and _host_line(lines[0]):
        del lines[0]
    while len(lines) > 1 and _host_line(lines[-2]) and not lines[-1].strip():
        del lines[-2:]
        lines.append(b"")
    return b"\n".join(lines).decode("utf-8", "replace")


def _host_line(line: bytes) -> bool:
    """Is this console line one the host made: a step line, the echo of a go-ahead or an ask, a retry?"""
    text = line.strip()
    return (
        not text
        or text == _GO_AHEAD.encode()
        or b"_ss_end" in text
        or text == _RETRY_WORDS.encode()
        or re.search(_STEPISH, text) is not None
    )


def run_step(
    session: ConsoleSession,
    index: int,
    command: str,
    timeout: float,
    failure: re.Pattern[bytes] | None = None,
    expelled: Callable[[], str | None] | None = None,
    name: str = "",
) -> StepResult:
    """One step as a definition of its own: type it, wait for its exit status."""
    run = DefinitionRun(session, index, [(command, name)], failure)
    run.start()
    result = run.wait_step(timeout, expelled)
    run.finish()
    return result


CONSOLE_WATCH_SLICE = 0.1  # seconds: how soon the end of a host-side call stops the console watch


def watch_console(session: ConsoleSession, done: threading.Event, failure: re.Pattern[bytes] | None) -> str | None:
    """Read the console until done is set: the reason if the board failed meanwhile, else None.

    While the host waits in a group call for a device, its console is still
    read: a board that panics is noticed now, not at the call's timeout; a
    chatty console never fills up and stalls the board; markers are served.
    """
    patterns: list = [pexpect.TIMEOUT] + ([failure] if failure else [])
    while not done.is_set():
        try:
            which = session.expect(patterns, timeout=CONSOLE_WATCH_SLICE)
        except pexpect.EOF:
            return "console closed"
        except TypingFailed:
            continue  # a reply the watcher typed: its own recovery retypes it
        if which == 1 and not _said_by_a_helper(bytes(session.before)):
            return f"board failed: {bytes(session.after).decode('utf-8', 'replace')!r}"
    return None


def _echo_of(typed: str, before: bytes, matched: bytes) -> bool:
    """Is a failure pattern's match the board echoing a line we typed?

    It is when the console's line so far (a prompt maybe, then the echo, which
    echo pacing delivers chunk by chunk) ends with a typed line's text up to
    and including the match.
    """
    line_so_far = before[before.rfind(b"\n") + 1 :] + matched
    for line in typed.encode("utf-8", "replace").split(b"\n"):
        at = line.find(matched)
        while at >= 0:
            typed_part = line[: at + len(matched)]
            # A typed line that starts with the match needs a prompt before it on the
            # console line: a failure printed at the start of a line is not an echo.
            # (Inside a step, PS2 is empty: such a line's echo counts as the failure.)
            if line_so_far.endswith(typed_part) and (at > 0 or len(line_so_far) > len(typed_part)):
                return True
            at = line.find(matched, at + 1)
    return False


def log_in(session: ConsoleSession, login: Login, timeout: float) -> None:
    """Answer a login prompt (and a password prompt) as LAVA's auto_login does."""
    deadline = Deadline.after(timeout)
    session.expect(login.login_prompt.encode(), timeout=deadline.remaining)
    session.sendline(login.username)
    if login.password_prompt:
        session.expect(login.password_prompt.encode(), timeout=deadline.remaining)
        session.sendline(login.password)


def wait_prompt(session: ConsoleSession, prompts: tuple[str, ...], timeout: float) -> None:
    """Until one of the boot action's prompts shows (regular expressions)."""
    session.expect([p.encode() for p in prompts], timeout=timeout)


def shell_assignment(name: str, value: bytes, *, export: bool = True) -> str:
    """``export name=value`` for a board's shell, value as inert data whatever its bytes.

    Printable text goes single-quoted. Anything else is rebuilt on the board
    by printf from octal escapes: a control byte typed raw would be acted on
    by the tty (^C, ^U, ^D) before any shell saw it. ``export=False``: a
    plain shell variable (LAVA's test parameters are not exported).
    """
    text = value.decode("utf-8", "replace")
    keyword = "export " if export else ""
    if text.encode() == value and all(c >= " " and c != "\x7f" for c in text):
        return f"{keyword}{name}='" + text.replace("'", "'\\''") + "'"
    escaped = "".join(f"\\{b:03o}" for b in value)
    # $( ) drops trailing newlines; the x keeps them, and is cut off after.
    return f"{name}=\"$(printf '%b' '{escaped}x')\"; {keyword}{name}=\"${{{name}%x}}\""
